"""Entity pages read from the store's indexes (bjkg.server.stores.page_reads) say exactly what the queries say."""
from __future__ import annotations

import pytest
from pyoxigraph import BlankNode as BlankNode_, DefaultGraph, Literal, NamedNode, Quad, Store

from bjkg.server.app import create_app
from bjkg.server.pages import describe as describe_module
from bjkg.server.stores import label_table
from bjkg.server.pages.describe import describe
from bjkg.server.stores.page_reads import IndexSource, term_key
from bjkg.server.runtime.prepare import prepare
from bjkg.server.views import pages
from tests.server.conftest import BASE, TOKEN, close_app

HTML = {"Accept": "text/html"}
EX = "https://example.org/"
LABEL = NamedNode("http://www.w3.org/2000/01/rdf-schema#label")


def _iris(store) -> list[str]:
    rows = store.query("SELECT DISTINCT ?s WHERE { { ?s ?p ?o } UNION { ?o ?p ?s } FILTER(isIRI(?s)) }",
                       max_rows=0).bindings()
    return sorted(row["s"].value for row in rows)


def _both(app, indexes, iri: str, **kwargs) -> tuple[dict | None, dict | None]:
    store = app.extensions["bjkg"].store
    with app.test_request_context("/"):
        by_query = describe(store, iri, base=BASE, locator=pages._locator, **kwargs)
        by_index = describe(store, iri, base=BASE, locator=pages._locator, indexes=indexes, **kwargs)
    return by_query, by_index


@pytest.fixture(scope="module", params=["store labels", "label table"])
def tiny(tiny_build, request):
    """The tiny build, and its index reads with the labels read from the store or from
    the table `bjkg serve` prepares (bjkg.server.stores.label_table)."""
    app = create_app({"BUILD_DIR": str(tiny_build), "TESTING": True})
    local = app.extensions["bjkg"].store.local_store()
    labels = label_table.compute(local) if request.param == "label table" else None
    yield app, IndexSource(local, labels=labels)
    close_app(app)


def test_terms_sort_by_kind_then_text():
    terms = [Literal("5.2", datatype=NamedNode("http://www.w3.org/2001/XMLSchema#decimal")),
             Literal("通州区", language="zh-hans"), Literal("b"), Literal("a"),
             NamedNode(EX + "b"), NamedNode(EX + "a")]
    assert sorted(terms, key=term_key) == [NamedNode(EX + "a"), NamedNode(EX + "b"),
                                           Literal("通州区", language="zh-hans"), Literal("a"),
                                           Literal("b"), terms[0]]


def test_union_graph_reads_deduplicate_like_the_queries():
    """A triple in two graphs (and the default graph) is one label, one inbound subject,
    but one outbound row per graph, since the page shows where it comes from."""
    store = Store()
    a, b, link = NamedNode(EX + "a"), NamedNode(EX + "b"), NamedNode(EX + "link")
    g1, g2 = NamedNode(EX + "g1"), NamedNode(EX + "g2")
    for graph in (g1, g2, DefaultGraph()):
        store.add(Quad(a, link, b, graph))
        store.add(Quad(a, LABEL, Literal("A", language="en"), graph))
    store.add(Quad(a, LABEL, NamedNode(EX + "not-a-literal"), g1))
    reads = IndexSource(store)
    assert reads.labels_of([EX + "a", EX + "a", EX + "b"], pref=True) == {EX + "a": (("A", "en"),)}
    rows = [r for r in reads.outbound(a) if r["p"] == link]
    assert sorted(r.get("g", NamedNode(EX)).value for r in rows) == [EX, EX + "g1", EX + "g2"]
    assert reads.inbound_counts(b) == {link.value: 1}
    assert reads.inbound_subjects(b, link.value, 5) == [EX + "a"]
    assert reads.subjects(EX + "b", link.value) == [EX + "a"]
    assert reads.objects([EX + "a", EX + "b"], link.value) == {EX + "a": [b]}
    assert reads.graphs_of(EX + "a", link.value, EX + "b") == [EX + "g1", EX + "g2"]
    table = label_table.compute(store)
    assert IndexSource(store, labels=table).labels_of([EX + "a", EX + "b"], pref=True) == {
        EX + "a": (("A", "en"),)}


def test_the_label_table_keeps_every_label_once_and_pref_labels_apart():
    store = Store()
    a, b = NamedNode(EX + "a"), NamedNode(EX + "b")
    pref = NamedNode("http://www.w3.org/2004/02/skos/core#prefLabel")
    store.add(Quad(a, LABEL, Literal("通州", language="zh-Hans"), NamedNode(EX + "g1")))
    store.add(Quad(a, LABEL, Literal("通州", language="zh-Hans"), NamedNode(EX + "g2")))
    store.add(Quad(a, LABEL, Literal("Tongzhou"), DefaultGraph()))
    store.add(Quad(a, pref, Literal("通州区", language="zh-Hans"), DefaultGraph()))
    store.add(Quad(a, pref, Literal("Tongzhou"), DefaultGraph()))
    store.add(Quad(BlankNode_(), LABEL, Literal("blank"), DefaultGraph()))
    store.add(Quad(b, pref, Literal("only preferred", language="en"), DefaultGraph()))
    table = label_table.compute(store)
    assert sorted(table.labels(a.value, pref=False)) == [("Tongzhou", ""), ("通州", "zh-hans")]
    assert sorted(table.labels(a.value, pref=True)) == [("Tongzhou", ""), ("通州", "zh-hans"),
                                                        ("通州区", "zh-hans")]
    assert table.labels(b.value, pref=False) == ()
    assert table.labels(b.value, pref=True) == (("only preferred", "en"),)
    assert table.labels(EX + "nothing", pref=True) == ()
    assert set(table.rdfs) == {a.value}  # blank nodes are never linked to, so never labelled


def test_the_label_table_keeps_its_labels_in_columns_as_prepared():
    """What a worker loads (the pickle `bjkg serve` writes) keeps the labels in columns —
    the texts in one string, each language tag once — not a tuple per label (at 1M triples
    ≈ 6 MB of each HTTP process instead of ≈ 19 MB), and answers as the store would."""
    import pickle

    store = Store()
    for n in range(50):
        store.add(Quad(NamedNode(f"{EX}r{n}"), LABEL, Literal(f"标签{n}", language="zh-Hans"), DefaultGraph()))
        store.add(Quad(NamedNode(f"{EX}r{n}"), LABEL, Literal(f"label {n}", language="en"), DefaultGraph()))
    store.add(Quad(NamedNode(f"{EX}plain"), LABEL, Literal("no tag"), DefaultGraph()))
    loaded = pickle.loads(pickle.dumps(label_table.compute(store), protocol=pickle.HIGHEST_PROTOCOL))
    assert sorted(loaded.rdfs.tags) == ["", "en", "zh-hans"] and len(loaded.rdfs.texts) == 101
    assert isinstance(loaded.rdfs.texts.text, str)  # one string for every label's text
    for n in (0, 7, 49):
        assert sorted(loaded.labels(f"{EX}r{n}", pref=False)) == [(f"label {n}", "en"), (f"标签{n}", "zh-hans")]
    assert loaded.labels(f"{EX}plain", pref=True) == (("no tag", ""),)
    assert loaded.labels(f"{EX}r50", pref=True) == ()


def test_the_label_tables_recent_answers_are_bounded(monkeypatch):
    """The labels of the last IRIs asked for are kept as tuples, a bounded number of them,
    and an answer is the same whether it was kept or built again from the columns."""
    monkeypatch.setattr(label_table, "_RECENT", 8)
    store = Store()
    for n in range(40):
        store.add(Quad(NamedNode(f"{EX}r{n}"), LABEL, Literal(f"标签{n}", language="zh-Hans"), DefaultGraph()))
    table = label_table.compute(store)
    first = [table.labels(f"{EX}r{n}", pref=True) for n in range(40)]
    assert table._recent.cache_info().currsize == 8
    assert [table.labels(f"{EX}r{n}", pref=True) for n in range(40)] == first
    assert first[3] == (("标签3", "zh-hans"),)


@pytest.mark.parametrize("lang", ["zh-Hans", "en"])
def test_every_description_of_the_tiny_build_is_the_same(tiny, lang):
    app, indexes = tiny
    iris = _iris(app.extensions["bjkg"].store)
    assert len(iris) > 20
    for iri in iris + [BASE + "id/place/atlantis"]:
        by_query, by_index = _both(app, indexes, iri, lang=lang)
        assert by_index == by_query, iri


def test_inbound_paging_is_the_same(tiny, monkeypatch):
    app, indexes = tiny
    monkeypatch.setattr(describe_module, "INBOUND_PAGE_SIZE", 1)
    seen_pages = 0
    for iri in _iris(app.extensions["bjkg"].store):
        by_query, by_index = _both(app, indexes, iri, lang="en")
        assert by_index == by_query, iri
        for group in (by_query or {}).get("inbound", []):
            if group["has_next"]:
                focus = group["predicate"]["iri"]
                for page in (2, group["total"], group["total"] + 5):
                    q, d = _both(app, indexes, iri, lang="en", inbound_predicate=focus, inbound_page=page)
                    assert d == q, (iri, focus, page)
                    seen_pages += 1
    assert seen_pages  # the tiny build has groups of more than one subject


def test_pages_are_read_from_the_indexes_without_queries(tiny, monkeypatch):
    app, _ = tiny
    client = app.test_client()
    store = app.extensions["bjkg"].store
    with monkeypatch.context() as m:
        m.setattr(pages, "_indexes", lambda store: None)  # the queries' page
        expected = client.get("/id/place/tongzhou?lang=zh-Hans", headers=HTML).get_data()
    assert b"tongzhou" in expected

    def no_queries(*args, **kwargs):
        raise AssertionError("an entity page asked the store a query")

    monkeypatch.setattr(store, "query", no_queries)
    assert client.get("/id/place/tongzhou?lang=zh-Hans", headers=HTML).get_data() == expected
    for path in ("/id/place/tongzhou", "/id/place/beijing?lang=en", "/id/place/beijing.json"):
        assert client.get(path, headers=HTML).status_code == 200, path
    assert client.get("/id/place/atlantis", headers=HTML).status_code == 404


def test_a_writable_store_keeps_the_queries():
    app = create_app({"EMPTY": True, "UPDATE_TOKEN": TOKEN, "TESTING": True})
    try:
        store = app.extensions["bjkg"].store
        assert pages._indexes(store) is None
        store.update(f"INSERT DATA {{ <{BASE}id/place/x> <{LABEL.value}> \"X\"@en }}")
        response = app.test_client().get("/id/place/x?lang=en", headers=HTML)
        assert response.status_code == 200 and b"X" in response.get_data()
    finally:
        close_app(app)


def test_real_build_places_and_hubs_are_the_same(real_build):
    app = create_app({"BUILD_DIR": str(real_build), "TESTING": True})
    try:
        local = app.extensions["bjkg"].store.local_store()
        table = label_table.compute(local)
        iris = _iris(app.extensions["bjkg"].store)
        chosen = [i for i in iris if "/id/place/" in i or "/id/document/" in i or "/id/indicator/" in i
                  or "/id/report/" in i] + iris[::97]
        for iri in chosen:
            for lang in ("zh-Hans", "en"):
                by_query, by_index = _both(app, IndexSource(local), iri, lang=lang)
                assert by_index == by_query, (iri, lang)
                assert _both(app, IndexSource(local, labels=table), iri, lang=lang)[1] == by_query, (iri, lang)
    finally:
        close_app(app)


def test_the_server_reads_labels_from_the_table_it_prepared(real_build, tmp_path, monkeypatch):
    """`bjkg serve` prepares the label table; pages use it (no label is read from the
    store) and are byte for byte the pages read without it."""
    settings = {"BUILD_DIR": str(real_build), "CACHE_DIR": str(tmp_path), "QUERY_MODE": "inline",
                "TESTING": True}
    paths = ["/id/place/tongzhou", "/id/place/tongzhou?lang=en", "/id/place/beijing.json",
             "/id/indicator/gdp?lang=zh-Hant"]
    app = create_app(settings)  # nothing prepared yet: labels come from the store
    try:
        assert app.extensions["bjkg"].store.label_table() is None
        expected = [app.test_client().get(p, headers=HTML).get_data() for p in paths]
    finally:
        close_app(app)
    prepare(settings)
    assert list(tmp_path.glob("labels-*.pickle"))
    app = create_app(settings)
    try:
        assert app.extensions["bjkg"].store.label_table() is not None
        read = IndexSource.labels_of

        def only_from_the_table(self, iris, *, pref):
            assert self.labels is not None, "a page read its labels from the store"
            return read(self, iris, pref=pref)

        monkeypatch.setattr(IndexSource, "labels_of", only_from_the_table)
        got = [app.test_client().get(p, headers=HTML).get_data() for p in paths]
    finally:
        close_app(app)
    assert got == expected and all(b"<" in body or b"{" in body for body in got)
