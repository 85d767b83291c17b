"""Home, class pages, ontology, shapes, VoID/DCAT, dumps, settings, the query editor page."""
from __future__ import annotations

import hashlib
import json

import pyoxigraph
import pytest

from bjkg.server.pages import i18n
from bjkg.server.pages.examples import load_examples
from tests.server.html_app import client, html_app  # noqa: F401  (fixtures)

HTML = {"Accept": "text/html"}
VOID = "http://rdfs.org/ns/void#"
DCAT = "http://www.w3.org/ns/dcat#"
SPDX = "http://spdx.org/rdf/terms#"


def test_home_counts_examples_search_box(client, tiny_build):
    manifest = json.loads((tiny_build / "build.json").read_text())
    data = client.get("/index.json").get_json()
    assert data["triples"] == manifest["triples"]
    assert {c["iri"]: c["count"] for c in data["classes"]} == manifest["classes"]
    assert {g["iri"] for g in data["graphs"]} == set(manifest["graphs"])
    assert len(data["examples"]) >= 8
    page = client.get("/", headers=HTML).get_data(as_text=True)
    assert 'action="/search"' in page and "/sparql#query=" in page
    assert "/dumps/bjkg.trig" in page
    assert client.get("/", headers={"Accept": "application/json"}).get_json()["triples"] == manifest["triples"]


def test_every_example_query_runs_and_the_policy_ones_find_rows(html_app):
    from bjkg.server.web.extension import get_store

    store = get_store(html_app)
    rows = {ex.slug: store.query(ex.query).bindings() for ex in load_examples()}
    assert len(rows) >= 8
    for slug in ("wuzi-pillars-tasks", "gdp-2023-actual-vs-2024-target", "tongzhou-observations",
                 "zhongguancun-initiatives", "people-and-posts", "quotes-for-a-figure",
                 "counts-per-source", "places-within-xiongan"):
        assert rows[slug], slug
    statuses = {r["status"].value.rsplit("#", 1)[1] for r in rows["gdp-2023-actual-vs-2024-target"]}
    assert statuses == {"Actual", "Target"}


def test_examples_have_titles_in_three_scripts():
    for ex in load_examples():
        assert {tag for tag, _ in ex.titles} == {"zh-Hans", "zh-Hant", "en"}, ex.slug


def test_ui_strings_exist_in_three_scripts():
    for key in i18n.ui_keys():
        assert all(i18n.text(key, lang) for lang in ("zh-Hans", "zh-Hant", "en")), key


def test_class_page_lists_instances_paged(client, monkeypatch):
    import bjkg.server.views.meta as meta

    monkeypatch.setattr(meta, "CLASS_PAGE_SIZE", 3)
    url = "/class.json?iri=https%3A%2F%2Fw3id.org%2Fbjkg%2Fontology%23Place"
    first = client.get(url).get_json()
    assert first["total"] >= 8 and len(first["items"]) == 3 and first["has_next"]
    second = client.get(url + "&page=2").get_json()
    assert not {i["iri"] for i in first["items"]} & {i["iri"] for i in second["items"]}
    assert client.get("/class?iri=https%3A%2F%2Fexample.org%2FNothing").status_code == 404


def test_class_pages_are_the_same_whether_sorted_here_or_by_the_store(client, monkeypatch):
    """Instances are read unsorted and sorted in Python (the store's ORDER BY on IRIs was ten
    times slower); past _SORTED_HERE_UP_TO the store sorts. Both give every page the same,
    pages in IRI order, each item with its label, however many labels one query asks for."""
    import bjkg.server.pages.describe as describe
    import bjkg.server.pages.overview as overview
    import bjkg.server.views.meta as meta

    monkeypatch.setattr(meta, "CLASS_PAGE_SIZE", 3)
    url = "/class.json?iri=https%3A%2F%2Fw3id.org%2Fbjkg%2Fontology%23Place"

    def pages() -> list[list[tuple[str, str]]]:
        total = client.get(url).get_json()["total"]
        return [[(item["iri"], item["label"]) for item in client.get(f"{url}&page={page}").get_json()["items"]]
                for page in range(1, (total + 2) // 3 + 1)]

    here = pages()
    listed = [iri for page in here for iri, _ in page]
    assert len(listed) == len(set(listed)) >= 8
    for before, after in zip(here, here[1:]):  # pages in IRI order (a page sorts by label)
        assert max(iri for iri, _ in before) < min(iri for iri, _ in after)
    assert all(label != iri for page in here for iri, label in page)  # labelled, not bare IRIs
    monkeypatch.setattr(describe, "_SORTED_HERE_UP_TO", 2)
    monkeypatch.setattr(overview, "LABELS_PER_QUERY", 2)
    assert pages() == here


def test_ontology_page_documents_every_term_in_three_scripts(client):
    data = client.get("/ontology.json").get_json()
    terms = {t["curie"]: t for s in data["sections"] for t in s["terms"]}
    assert {"bjkg:Place", "bjkg:Initiative", "bjkg:involvesPlace", "bjkg:quote"} <= set(terms)
    place = terms["bjkg:involvesPlace"]
    assert set(place["labels"]) >= {"zh-Hans", "zh-Hant", "en"}
    assert [d["curie"] for d in place["domain"]] == ["bjkg:Initiative"]
    assert [r["curie"] for r in place["range"]] == ["bjkg:Place"]
    page = client.get("/ontology", headers=HTML).get_data(as_text=True)
    assert 'id="Place"' in page and "涉及地點" in page and "involves place" in page
    ttl = client.get("/ontology", headers={"Accept": "text/turtle"})
    assert ttl.mimetype == "text/turtle"
    assert len(list(pyoxigraph.parse(ttl.data, format=pyoxigraph.RdfFormat.TURTLE))) > 500


def test_shapes_and_validation_report_are_viewable(client, tiny_build):
    data = client.get("/shapes.json").get_json()
    assert data["conforms"] is True
    report = client.get("/validation.ttl")
    assert report.status_code == 200 and report.headers["Content-Type"] == "text/turtle; charset=utf-8"
    page = client.get("/shapes", headers=HTML).get_data(as_text=True)
    assert "sh:ValidationReport" in page or "ValidationReport" in page
    if (tiny_build / "shapes.ttl").is_file():
        shapes = client.get("/shapes.ttl")
        assert shapes.status_code == 200 and shapes.headers["Content-Type"] == "text/turtle; charset=utf-8"


def test_void_dcat_description(client, tiny_build):
    manifest = json.loads((tiny_build / "build.json").read_text())
    base = manifest["base"]  # PUBLIC_URL unset and no bind address: links are under BASE_IRI
    r = client.get("/.well-known/void", headers={"Accept": "text/turtle"})
    assert r.status_code == 200 and r.mimetype == "text/turtle"
    triples = list(pyoxigraph.parse(r.data, format=pyoxigraph.RdfFormat.TURTLE))
    dataset = base + "dataset"
    by_pred = {}
    for t in triples:
        if t.subject.value == dataset or t.predicate.value.startswith(SPDX) or t.predicate.value.endswith("type"):
            by_pred.setdefault(t.predicate.value, []).append(t)
    assert by_pred[VOID + "sparqlEndpoint"][0].object.value == base + "sparql"
    distinct = client.get("/sparql", query_string={
        "query": "SELECT (COUNT(*) AS ?n) WHERE { SELECT DISTINCT ?s ?p ?o WHERE { ?s ?p ?o } }"})
    assert int(by_pred[VOID + "triples"][0].object.value) == \
        int(distinct.get_json()["results"]["bindings"][0]["n"]["value"])
    dumps = {t.object.value for t in by_pred[VOID + "dataDump"]}
    assert dumps == {f"{base}dumps/{n}" for n in ("bjkg.trig", "bjkg.nq", "bjkg.jsonld")}
    assert any(t.object.value == DCAT + "DataService" for t in by_pred["http://www.w3.org/1999/02/22-rdf-syntax-ns#type"])
    checksums = {t.object.value for t in by_pred[SPDX + "checksumValue"]}
    assert checksums == {d["sha256"] for d in manifest["dumps"].values()}
    assert not any(isinstance(t.subject, pyoxigraph.BlankNode) for t in triples)
    jsonld = client.get("/.well-known/void", headers={"Accept": "application/ld+json"})
    assert jsonld.mimetype == "application/ld+json"
    html = client.get("/.well-known/void", headers=HTML)
    # a page for people (tables), not the Turtle: that is one link away
    page = html.get_data(as_text=True)
    assert html.mimetype == "text/html" and "@prefix" not in page
    assert f"{base}sparql" in page and 'table class="graphs"' in page
    assert f"{int(by_pred[VOID + 'triples'][0].object.value):,}" in page


def test_a_dump_replaced_by_a_newer_build_says_so_and_how_to_serve_it(tiny_build, tmp_path):
    """`bjkg load` (or build) into the folder a server serves swaps a new build in; the
    server keeps the one it opened until reloaded. Its dumps no longer match: that is said
    (reload with SIGHUP), not that the folder is damaged; a damaged dump still says damaged."""
    import shutil

    from tests.server.html_app import make_app

    build = tmp_path / "build"
    shutil.copytree(tiny_build, build)
    app = make_app(build)
    try:
        client = app.test_client()
        assert client.get("/dumps/bjkg.nq").status_code == 200
        with (build / "bjkg.nq").open("ab") as dump:
            dump.write(b"<http://example.org/a> <http://example.org/b> <http://example.org/c> .\n")
        damaged = client.get("/dumps/bjkg.nq")
        assert damaged.status_code == 503 and "damaged" in damaged.get_json()["error"]["message"]
        manifest = json.loads((build / "build.json").read_text())
        manifest["hash"] = "f" * 64  # a newer build in place
        (build / "build.json").write_text(json.dumps(manifest))
        replaced = client.get("/dumps/bjkg.nq")
        message = replaced.get_json()["error"]["message"]
        assert replaced.status_code == 503 and "SIGHUP" in message and "damaged" not in message
        assert replaced.headers["Retry-After"] == "30"
    finally:
        app.extensions["bjkg"].store.close()


@pytest.mark.parametrize("name", ["bjkg.trig", "bjkg.nq", "bjkg.jsonld"])
def test_dumps_with_checksums(client, tiny_build, name):
    r = client.get(f"/dumps/{name}")
    assert r.status_code == 200
    assert hashlib.sha256(r.data).hexdigest() == json.loads(
        (tiny_build / "build.json").read_text())["dumps"][name]["sha256"]
    assert r.headers["Digest"].startswith("sha-256=")
    sums = client.get("/dumps/SHA256SUMS").get_data(as_text=True)
    assert f"{hashlib.sha256(r.data).hexdigest()}  {name}" in sums


@pytest.mark.parametrize("header, status", [
    ("bytes=0-99", 206), ("bytes=-50", 206), ("bytes=99999999-", 416),
    ("bytes=5-2", 200), ("bytes=abc", 200), ("bytes=0-9,20-29", 200), ("lines=1-2", 200),
    ("bytes=-0", 416)])  # the last zero bytes: a valid range no file can satisfy
def test_a_dump_honours_one_valid_range_and_ignores_an_invalid_one(client, header, status):
    """RFC 9110 §14.2: one valid byte range gets 206 with those bytes, one past the end
    416; a syntactically invalid range or an unknown unit is ignored (the whole dump, 200),
    and so are several ranges (allowed), never a 416 for a request that can be met."""
    whole = client.get("/dumps/bjkg.nq").data
    r = client.get("/dumps/bjkg.nq", headers={"Range": header})
    assert r.status_code == status
    if status == 200:
        assert r.data == whole and "Content-Range" not in r.headers
    elif status == 206:
        assert r.data == (whole[:100] if header == "bytes=0-99" else whole[-50:])
        assert r.headers["Content-Range"].endswith(f"/{len(whole)}")
    else:
        assert r.headers["Content-Range"] == f"bytes */{len(whole)}"


def test_a_dump_is_revalidated_by_date_only_against_a_date_in_the_past(client):
    """If-Modified-Since after the file's date: 304; later than the server's clock: invalid
    (RFC 9110 13.1.3), ignored: the whole dump (werkzeug answered 304)."""
    modified = client.get("/dumps/bjkg.nq").headers["Last-Modified"]
    assert client.get("/dumps/bjkg.nq", headers={"If-Modified-Since": modified}).status_code == 304
    future = "Fri, 01 Jan 2100 00:00:00 GMT"
    assert client.get("/dumps/bjkg.nq", headers={"If-Modified-Since": future}).status_code == 200
    assert client.get("/dumps/bjkg.nq", headers={"If-Modified-Since": "garbage"}).status_code == 200


def test_a_dumps_preconditions_come_before_its_range_and_a_412_carries_nothing(client):
    """RFC 9110 §13.2.2: If-Match, then If-Unmodified-Since, are evaluated before Range; a
    412 sends no representation (werkzeug sent the whole dump with it, and a Range skipped
    the check)."""
    first = client.get("/dumps/bjkg.nq")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    for headers in ({"If-Match": '"not-this-one"'}, {"If-Match": '"not-this-one"', "Range": "bytes=0-9"},
                    {"If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"},
                    {"If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT", "Range": "bytes=0-9"}):
        failed = client.get("/dumps/bjkg.nq", headers=headers)
        assert failed.status_code == 412 and failed.data == b"", headers
    assert client.get("/dumps/bjkg.nq", headers={"If-Match": etag}).data == first.data
    assert client.get("/dumps/bjkg.nq", headers={"If-Match": "*", "Range": "bytes=0-9"}).data == first.data[:10]
    assert client.get("/dumps/bjkg.nq", headers={"If-Unmodified-Since": modified}).status_code == 200


def test_only_listed_files_are_served(client):
    assert client.get("/dumps/build.json").status_code == 404
    assert client.get("/dumps/..%2Fbuild.json").status_code == 404


def test_settings_page_hides_secrets(tiny_build):
    from tests.server.html_app import make_app

    app = make_app(tiny_build, UPDATE_TOKEN="s3cret")
    try:
        data = app.test_client().get("/-/settings.json").get_json()
        assert "s3cret" not in json.dumps(data)
    finally:
        from bjkg.server.web.extension import get_store

        get_store(app).close()


def test_query_editor_page_is_local_and_prefilled(client):
    r = client.get("/sparql", headers=HTML)
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and 'id="yasgui"' in page
    assert "/static/vendor/yasgui/yasgui.min.js" in page and "/static/js/editor.js" in page
    assert "PREFIX bjkg:" in page
    assert page.count("data-example=") >= 8
    assert "//cdn" not in page and "unpkg" not in page and "jsdelivr" not in page
    assert client.get("/static/vendor/yasgui/yasgui.min.js").status_code == 200
    assert client.get("/static/vendor/yasgui/LICENSE").status_code == 200


def test_dumps_served_from_a_relative_build_dir(tiny_build, monkeypatch):
    """`bjkg serve --build _build` passes a relative path; files must still be found."""
    from bjkg.server.web.extension import get_store
    from tests.server.html_app import make_app

    monkeypatch.chdir(tiny_build.parent)
    app = make_app(tiny_build.name)
    try:
        r = app.test_client().get("/dumps/bjkg.nq")
        assert r.status_code == 200 and r.data == (tiny_build / "bjkg.nq").read_bytes()
    finally:
        get_store(app).close()


def test_the_home_page_rows_are_made_once_per_build_and_kept_in_the_cache_dir(tiny_build, tmp_path, monkeypatch):
    """The home page's queries (seconds at 1M triples) run once per build: a second process
    over the same build and CACHE_DIR (as `bjkg serve`'s preparation leaves it) answers the
    same page without running them."""
    from bjkg.server.views import meta
    from bjkg.server.web.extension import get_store
    from tests.server.html_app import make_app

    answers = []
    for _ in range(2):
        app = make_app(tiny_build, CACHE_DIR=str(tmp_path))
        try:
            answers.append(app.test_client().get("/index.json").get_json())
        finally:
            get_store(app).close()
        assert len(list(tmp_path.glob("overview-rows-*.pickle"))) == 1
        monkeypatch.setattr(meta, "overview_rows", lambda *a: pytest.fail("the home page's queries ran again"))
    assert answers[0] == answers[1] and answers[0]["figures"]["rows"]


def test_han_in_english_example_titles_is_marked(client):
    """An English page names its examples in English, with the Chinese they quote marked
    as Chinese (WCAG 3.1.2), as the editor page does."""
    page = client.get("/?lang=en").get_data(as_text=True)
    examples = page[page.index('id="examples"'):]
    examples = examples[:examples.index("</ol>")]
    assert '<span lang="zh-Hans">五子联动</span>' in examples
