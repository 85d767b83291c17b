"""The fast paths of issue 5 give the same answers as the general ones.

* inline evaluation (QUERY_MODE=inline) with the engine writing bounded SELECT answers;
* the server's own queries with their substituted variables written as constants;
* facet counts prepared once per build (bjkg.server.sparql.aggregates) instead of evaluated
  (its differential tests: tests/server/test_aggregates.py).
"""
from __future__ import annotations

import json

import pyoxigraph
import pytest

from bjkg.server.app import create_app
from bjkg.server.sparql import aggregates
from bjkg.server.sparql.text import analyse

ACCEPT = {"Accept": "application/sparql-results+json"}


def rows(response) -> list[str]:
    assert response.status_code == 200, response.data
    return sorted(json.dumps(b, sort_keys=True) for b in response.get_json()["results"]["bindings"])


@pytest.fixture(scope="module")
def inline_app(tiny_build, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    # the in-memory copy of the dump, as the pool's data process reads a build this small:
    # rows of a query without ORDER BY come in the order of the store's indexes, which
    # differs on disk (compared below, sorted)
    application = create_app({"BUILD_DIR": str(tiny_build), "QUERY_MODE": "inline", "TESTING": True,
                              "CACHE_DIR": str(cache)})
    yield application
    application.extensions["bjkg"].store.close()


@pytest.mark.parametrize("query", [
    "SELECT ?s ?p ?o WHERE { ?s ?p ?o }",
    "SELECT ?s ?p ?o WHERE { ?s ?p ?o } LIMIT 3",
    "SELECT ?s WHERE { ?s ?p ?o } ORDER BY ?s OFFSET 2",
    "SELECT ?s WHERE { ?s ?p ?o } VALUES ?p { <http://www.w3.org/2000/01/rdf-schema#label> }",
    "SELECT * WHERE { { SELECT ?s WHERE { ?s ?p ?o } LIMIT 2 } } # LIMIT 1",
])
def test_inline_answers_equal_the_pool(app, inline_app, query):
    pooled = app.test_client().post("/sparql", data={"query": query}, headers=ACCEPT)
    inline = inline_app.test_client().post("/sparql", data={"query": query}, headers=ACCEPT)
    assert rows(inline) == rows(pooled)


def test_a_long_answer_is_refused_inline_under_a_row_limit(tiny_build):
    application = create_app({"BUILD_DIR": str(tiny_build), "QUERY_MODE": "inline", "MAX_ROWS": 5,
                              "TESTING": True})
    try:
        response = application.test_client().post(
            "/sparql", data={"query": "SELECT * WHERE { ?s ?p ?o }"}, headers=ACCEPT)
        assert response.status_code == 400
        assert "MAX_ROWS" in response.get_data(as_text=True)
        within = application.test_client().post(
            "/sparql", data={"query": "SELECT * WHERE { ?s ?p ?o } LIMIT 5"}, headers=ACCEPT)
        assert len(within.get_json()["results"]["bindings"]) == 5
    finally:
        application.extensions["bjkg"].store.close()


def test_the_lexer_reports_the_top_level_limit():
    assert (analyse("SELECT * WHERE { ?s ?p ?o } LIMIT 7").row_bound, analyse("SELECT * { ?s ?p ?o }").limit_appendable) == (7, True)
    sub = analyse("SELECT * WHERE { { SELECT * WHERE { ?s ?p ?o } LIMIT 2 } }")
    assert sub.row_bound is None and sub.limit_appendable
    assert not analyse("SELECT * WHERE { ?s ?p ?o } VALUES ?s { <x:a> }").limit_appendable


def test_entity_pages_are_the_same_inline(client, inline_app):
    for path in ("/id/place/tongzhou.json", "/id/initiative/wuzi-liandong.json"):
        pooled = client.get(path)
        inline = inline_app.test_client().get(path)
        if pooled.status_code == 404:
            continue
        assert inline.get_json() == pooled.get_json()


FACET = "SELECT ?c (COUNT(?s) AS ?n) WHERE { ?s a ?c } GROUP BY ?c"


def test_facet_shapes():
    assert aggregates.match(FACET).patterns[0].predicate.endswith("#type")
    star = aggregates.match("PREFIX x: <http://e/> SELECT ?o (COUNT(*) AS ?k) WHERE { ?s x:p ?o . } GROUP BY ?o")
    assert (star.patterns, star.names, star.is_facet) == ((aggregates.Pattern("http://e/p", "var", "o"),), ("o", "k"), True)
    for other in ("SELECT ?c (COUNT(?x) AS ?n) WHERE { ?s a ?c } GROUP BY ?c",
                  "SELECT ?c (COUNT(?s) AS ?n) FROM <http://g> WHERE { ?s a ?c } GROUP BY ?c"):
        assert aggregates.match(other) is None, other


def test_facet_counts_equal_the_engine_row_for_row(tiny_build, tmp_path):
    store = pyoxigraph.Store.read_only(str(tiny_build / "store"))
    table = aggregates.compute(store, min_triples=1)
    body = table.answer(aggregates.match(FACET))
    assert body is not None
    engine = store.query(FACET, use_default_graph_as_union=True).serialize(format=pyoxigraph.QueryResultsFormat.JSON)
    # the same bytes as the engine's answer written by json.dumps (the facet path's form), rows in its order
    assert body == json.dumps(json.loads(engine), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def test_a_warmed_worker_has_done_its_setup_and_exempts_it_from_the_cycle_collector(tiny_build, tmp_path):
    """`bjkg serve` warms each HTTP worker — prepared data loaded, locator map drawn,
    templates compiled — then freezes what it holds: a full collection then walks only
    what requests allocate."""
    import gc

    from bjkg.server.pages.locator_map import EXTENSION_KEY
    from bjkg.server.runtime.prepare import prepare
    from bjkg.server.runtime.serve import _warm

    settings = {"BUILD_DIR": str(tiny_build), "CACHE_DIR": str(tmp_path), "QUERY_MODE": "inline",
                "TESTING": True}
    prepare(settings)
    application = create_app(settings)
    try:
        compiled = []
        application.jinja_env.compile = (lambda original: lambda *a, **k: compiled.append(a[1:2])
                                         or original(*a, **k))(application.jinja_env.compile)
        _warm(application)
        store = application.extensions["bjkg"].store
        assert store.label_table() is not None
        assert all(value is not None for value in store._prepared.values()) and len(store._prepared) == 3
        assert EXTENSION_KEY in application.extensions  # the locator map (None: no points)
        assert len(compiled) >= 10  # every template, compiled once
        assert gc.get_freeze_count() > 1000
        compiled.clear()
        response = application.test_client().get("/id/place/tongzhou", headers={"Accept": "text/html"})
        assert response.status_code == 200 and compiled == []  # nothing left for a request
    finally:
        gc.unfreeze()
        application.extensions["bjkg"].store.close()


# ---------------------------------------------------------------- small builds read from memory

def _all_quads(store) -> set[str]:
    return {str(q) for q in store.quads_for_pattern(None, None, None, None)}


def _inline(build_dir, **settings):
    return create_app({"BUILD_DIR": str(build_dir), "QUERY_MODE": "inline", "TESTING": True,
                       **settings})


def test_a_small_build_is_read_from_memory_with_the_same_quads_and_pages(tiny_build):
    memory, disk = _inline(tiny_build), _inline(tiny_build, IN_MEMORY_MAX_TRIPLES=0)
    try:
        memory_store, disk_store = (a.extensions["bjkg"].store for a in (memory, disk))
        assert _all_quads(memory_store.local_store()) == _all_quads(disk_store.local_store())
        assert (memory_store.reads_from, disk_store.reads_from) == ("memory", "disk")
        paths = [row["s"].value.replace("https://w3id.org/bjkg", "") for row in
                 disk_store.local_store().query("SELECT DISTINCT ?s WHERE { GRAPH ?g { ?s ?p ?o } "
                                                "FILTER(STRSTARTS(STR(?s), 'https://w3id.org/bjkg/id/')) }")]
        assert paths
        for path in paths:
            for accept in ("text/html", "application/json", "text/turtle"):
                answers = [a.test_client().get(path, headers={"Accept": accept}) for a in (memory, disk)]
                assert answers[0].status_code == answers[1].status_code == 200, path
                assert answers[0].data == answers[1].data, (path, accept)
        query = {"query": "SELECT ?s (COUNT(*) AS ?n) WHERE { ?s ?p ?o } GROUP BY ?s ORDER BY ?s"}
        assert rows(memory.test_client().get("/sparql", query_string=query, headers=ACCEPT)) == \
            rows(disk.test_client().get("/sparql", query_string=query, headers=ACCEPT))
    finally:
        memory.extensions["bjkg"].store.close()
        disk.extensions["bjkg"].store.close()


def test_a_build_above_the_limit_is_read_from_disk(tiny_build):
    triples = json.loads((tiny_build / "build.json").read_text(encoding="utf-8"))["triples"]
    app = _inline(tiny_build, IN_MEMORY_MAX_TRIPLES=triples - 1)
    try:
        app.extensions["bjkg"].store.local_store()
        assert app.extensions["bjkg"].store.reads_from == "disk"
    finally:
        app.extensions["bjkg"].store.close()


@pytest.mark.parametrize("damage", ["not N-Quads", "a quad missing"])
def test_a_damaged_dump_falls_back_to_the_store_on_disk(tiny_build, tmp_path, caplog, damage):
    import shutil

    build = tmp_path / "build"
    shutil.copytree(tiny_build, build)
    dump = build / "bjkg.nq"
    lines = dump.read_text(encoding="utf-8").splitlines(keepends=True)
    dump.write_text("".join(lines[:-1]) + ("<broken\n" if damage == "not N-Quads" else ""),
                    encoding="utf-8")
    app = _inline(build)
    try:
        with caplog.at_level("WARNING", logger="bjkg.store"):
            store = app.extensions["bjkg"].store.local_store()
        assert app.extensions["bjkg"].store.reads_from == "disk"
        assert "bjkg.nq" in caplog.text and "from disk" in caplog.text
        assert len(store) == len(lines)
        response = app.test_client().get("/sparql", query_string={"query": "ASK { ?s ?p ?o }"},
                                         headers=ACCEPT)
        assert response.status_code == 200 and response.get_json()["boolean"] is True
    finally:
        app.extensions["bjkg"].store.close()
