"""SPARQL 1.1 Protocol at /sparql over a read-only build: every request form, every format,
negotiation, datasets, limits, caching, CORS, and every negative case of the W3C suite —
over the embedded store and over Virtuoso (`client` is parametrised by backend)."""
from __future__ import annotations

import csv
import io
import json
from urllib.parse import quote, urlencode

import pyoxigraph
import pytest
from pyoxigraph import QueryResultsFormat, RdfFormat

from bjkg.server.app import create_app
from tests.server.backends import BACKENDS, backend_app
from tests.server.conftest import BASE, close_app

TONGZHOU = f"{BASE}id/place/tongzhou"
REFERENCE = f"{BASE}graph/reference"
LABEL_QUERY = (f"SELECT ?label WHERE {{ <{TONGZHOU}> <http://www.w3.org/2000/01/rdf-schema#label> ?label "
               "FILTER(LANGMATCHES(LANG(?label), 'zh-Hans')) }")
FORM = "application/x-www-form-urlencoded"


@pytest.fixture(scope="module", params=BACKENDS)
def protocol_app(request, tiny_build):
    """The endpoint over each store backend: the embedded store and Virtuoso."""
    application = backend_app(request, tiny_build, QUERY_TIMEOUT=20)
    yield application
    close_app(application)


@pytest.fixture
def client(protocol_app):
    return protocol_app.test_client()


def labels(response) -> list[str]:
    results = pyoxigraph.parse_query_results(response.data, QueryResultsFormat.JSON)
    return [row["label"].value for row in results]


# --------------------------------------------------------------------------- three request forms

def test_query_via_get(client):
    response = client.get("/sparql", query_string={"query": LABEL_QUERY})
    assert response.status_code == 200
    assert response.mimetype == "application/sparql-results+json"
    assert labels(response) == ["通州区"]


def test_query_via_post_form(client):
    response = client.post("/sparql", data=urlencode({"query": LABEL_QUERY}), content_type=FORM)
    assert response.status_code == 200
    assert labels(response) == ["通州区"]


def test_query_via_post_direct(client):
    response = client.post("/sparql", data=LABEL_QUERY.encode("utf-8"),
                           content_type="application/sparql-query")
    assert response.status_code == 200
    assert labels(response) == ["通州区"]


def test_query_via_post_direct_with_charset_and_version(client):
    response = client.post("/sparql", data=LABEL_QUERY.encode("utf-8"),
                           content_type="application/sparql-query; charset=UTF-8; version=1.2")
    assert response.status_code == 200


def test_head_is_answered_like_get(client):
    response = client.head("/sparql", query_string={"query": "ASK {}"})
    assert response.status_code == 200
    assert response.data == b""


# --------------------------------------------------------------------------- formats

SELECT_ALL_LABELS = f"SELECT ?p ?o WHERE {{ <{TONGZHOU}> ?p ?o }}"


@pytest.mark.parametrize("accept, fmt", [
    ("application/sparql-results+json", QueryResultsFormat.JSON),
    ("application/json", QueryResultsFormat.JSON),
    ("application/sparql-results+xml", QueryResultsFormat.XML),
    ("text/csv", QueryResultsFormat.CSV),
    ("text/tab-separated-values", QueryResultsFormat.TSV),
])
def test_select_in_every_results_format(client, accept, fmt):
    response = client.get("/sparql", query_string={"query": SELECT_ALL_LABELS}, headers={"Accept": accept})
    assert response.status_code == 200
    assert response.mimetype == fmt.media_type.split(";")[0]
    assert "Accept" in response.headers["Vary"]
    if fmt == QueryResultsFormat.CSV:  # lossy: pyoxigraph does not read it back
        rows = response.data.decode("utf-8").strip().splitlines()[1:]
    else:
        rows = list(pyoxigraph.parse_query_results(response.data, fmt))
    assert len(rows) > 5


@pytest.mark.parametrize("accept, fmt", [
    ("application/sparql-results+json", QueryResultsFormat.JSON),
    ("application/sparql-results+xml", QueryResultsFormat.XML),
    ("text/csv", QueryResultsFormat.CSV),
    ("text/tab-separated-values", QueryResultsFormat.TSV),
])
@pytest.mark.parametrize("form", ["SELECT *", "SELECT DISTINCT *", "select reduced*"])
def test_select_star_columns_come_in_the_order_of_the_query(client, accept, fmt, form):
    """pyoxigraph sorts the variables of `SELECT *` (`?s ?p ?o` came back as o, p, s);
    Jena, Virtuoso and Wikidata keep the order they appear in, as a table reader expects."""
    query = f"{form} WHERE {{ ?subject ?predicate ?an_object }} LIMIT 2"
    response = client.get("/sparql", query_string={"query": query}, headers={"Accept": accept})
    assert response.status_code == 200
    if fmt == QueryResultsFormat.CSV:  # pyoxigraph does not read CSV (lossy)
        header, *rows = csv.reader(io.StringIO(response.get_data(as_text=True)))
        assert header == ["subject", "predicate", "an_object"] and len(rows) == 2
        return
    results = pyoxigraph.parse_query_results(response.data, fmt)
    assert [v.value for v in results.variables] == ["subject", "predicate", "an_object"]
    assert len(list(results)) == 2


@pytest.mark.parametrize("accept, fmt", [
    ("application/sparql-results+json", QueryResultsFormat.JSON),
    ("application/sparql-results+xml", QueryResultsFormat.XML),
])
def test_ask_in_json_and_xml(client, accept, fmt):
    response = client.get("/sparql", query_string={"query": f"ASK {{ <{TONGZHOU}> ?p ?o }}"},
                          headers={"Accept": accept})
    assert response.status_code == 200
    assert bool(pyoxigraph.parse_query_results(response.data, fmt)) is True


@pytest.mark.parametrize("accept, fmt", [
    ("text/turtle", RdfFormat.TURTLE),
    ("application/n-triples", RdfFormat.N_TRIPLES),
    ("application/ld+json", RdfFormat.JSON_LD),
    ("application/rdf+xml", RdfFormat.RDF_XML),
    ("application/trig", RdfFormat.TRIG),
    ("application/n-quads", RdfFormat.N_QUADS),
])
@pytest.mark.parametrize("form", ["CONSTRUCT WHERE {{ <{0}> ?p ?o }}", "DESCRIBE <{0}>"])
def test_construct_and_describe_in_every_rdf_format(client, accept, fmt, form):
    response = client.get("/sparql", query_string={"query": form.format(TONGZHOU)}, headers={"Accept": accept})
    assert response.status_code == 200
    assert response.mimetype == fmt.media_type
    quads = list(pyoxigraph.parse(response.data, format=fmt))
    assert len(quads) > 5
    assert {q.subject.value for q in quads} == {TONGZHOU}


def test_a_graph_asked_for_as_json_is_json_ld(client):
    """`Accept: application/json` on a CONSTRUCT was a 406; JSON-LD is JSON (as `format=json`
    already gave it). SELECT and ASK keep SPARQL JSON results for it."""
    response = client.get("/sparql", query_string={"query": f"CONSTRUCT WHERE {{ <{TONGZHOU}> ?p ?o }}"},
                          headers={"Accept": "application/json"})
    assert response.status_code == 200 and response.mimetype == "application/ld+json"
    assert {q.subject.value for q in pyoxigraph.parse(response.data, format=RdfFormat.JSON_LD)} == {TONGZHOU}
    response = client.get("/sparql", query_string={"query": "ASK {}"}, headers={"Accept": "application/json"})
    assert response.mimetype == "application/sparql-results+json"


def test_jsonld_output_has_no_remote_context(client):
    response = client.get("/sparql", query_string={"query": f"CONSTRUCT WHERE {{ <{TONGZHOU}> ?p ?o }}"},
                          headers={"Accept": "application/ld+json"})
    assert b"@context" not in response.data or b"http" not in json.dumps(
        json.loads(response.data).get("@context", {})).encode()


def test_format_parameter_wins_over_accept(client):
    response = client.get("/sparql", query_string={"query": SELECT_ALL_LABELS, "format": "csv"},
                          headers={"Accept": "application/sparql-results+xml"})
    assert response.mimetype == "text/csv"
    response = client.get("/sparql", query_string={"query": f"DESCRIBE <{TONGZHOU}>", "output": "nt"})
    assert response.mimetype == "application/n-triples"


def test_q_values_choose_the_format(client):
    accept = "application/sparql-results+json;q=0.5, text/csv;q=0.9, */*;q=0.1"
    response = client.get("/sparql", query_string={"query": SELECT_ALL_LABELS}, headers={"Accept": accept})
    assert response.mimetype == "text/csv"


def test_browser_accept_gets_a_page_and_html_below_an_answer_format_gets_the_answer(client):
    """A browser's navigation prefers text/html: the answer as a page (test_results_page.py).
    HTML accepted below an answer format, or only through */*, gets the answer itself —
    JSON for SELECT/ASK, Turtle for CONSTRUCT/DESCRIBE."""
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    assert client.get("/sparql", query_string={"query": "ASK {}"},
                      headers={"Accept": browser}).mimetype == "text/html"
    assert client.get("/sparql", query_string={"query": f"DESCRIBE <{TONGZHOU}>"},
                      headers={"Accept": browser}).mimetype == "text/html"
    lower = "text/html;q=0.5,*/*;q=0.8"
    assert client.get("/sparql", query_string={"query": "ASK {}"},
                      headers={"Accept": lower}).mimetype == "application/sparql-results+json"
    assert client.get("/sparql", query_string={"query": f"DESCRIBE <{TONGZHOU}>"},
                      headers={"Accept": lower}).mimetype == "text/turtle"


def test_406_when_nothing_fits_names_the_acceptable_types(client):
    response = client.get("/sparql", query_string={"query": SELECT_ALL_LABELS},
                          headers={"Accept": "text/turtle"})
    assert response.status_code == 406
    message = response.get_json()["error"]["message"]
    assert "application/sparql-results+json" in message and "text/csv" in message
    response = client.get("/sparql", query_string={"query": f"DESCRIBE <{TONGZHOU}>"},
                          headers={"Accept": "text/csv"})
    assert response.status_code == 406
    assert "text/turtle" in response.get_json()["error"]["message"]


def test_unknown_format_parameter_is_406(client):
    response = client.get("/sparql", query_string={"query": "ASK {}", "format": "yaml"})
    assert response.status_code == 406


# --------------------------------------------------------------------------- dataset

def count(client, query, **params) -> int:
    response = client.get("/sparql", query_string={"query": query, **params})
    assert response.status_code == 200, response.data
    return int(next(iter(pyoxigraph.parse_query_results(response.data, QueryResultsFormat.JSON)))["n"].value)


def test_default_graph_is_the_union_of_all_graphs(client, tiny_build):
    manifest = json.loads((tiny_build / "build.json").read_text())
    assert count(client, "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }") == manifest["triples"]


def test_graph_reaches_each_named_graph(client, tiny_build):
    manifest = json.loads((tiny_build / "build.json").read_text())
    for graph, n in manifest["graphs"].items():
        assert count(client, f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}") == n


def test_from_in_the_query_selects_local_graphs(client, tiny_build):
    manifest = json.loads((tiny_build / "build.json").read_text())
    assert count(client, f"SELECT (COUNT(*) AS ?n) FROM <{REFERENCE}> WHERE {{ ?s ?p ?o }}") == \
        manifest["graphs"][REFERENCE]
    assert count(client, "SELECT (COUNT(*) AS ?n) FROM <http://example.org/not-here> WHERE { ?s ?p ?o }") == 0


def test_default_graph_uri_parameter(client, tiny_build):
    manifest = json.loads((tiny_build / "build.json").read_text())
    assert count(client, "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }",
                 **{"default-graph-uri": REFERENCE}) == manifest["graphs"][REFERENCE]
    graphs = list(manifest["graphs"])[:2]
    response = client.get("/sparql?" + urlencode(
        [("query", "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")] + [("default-graph-uri", g) for g in graphs]))
    n = int(next(iter(pyoxigraph.parse_query_results(response.data, QueryResultsFormat.JSON)))["n"].value)
    assert n == sum(manifest["graphs"][g] for g in graphs)


def test_named_graph_uri_parameter_limits_graph(client):
    response = client.get("/sparql?" + urlencode([
        ("query", "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }"), ("named-graph-uri", REFERENCE)]))
    graphs = [row["g"].value for row in pyoxigraph.parse_query_results(response.data, QueryResultsFormat.JSON)]
    assert graphs == [REFERENCE]


def test_protocol_dataset_overrides_from(client, tiny_build):
    """W3C query-multiple-dataset: the protocol's dataset wins over FROM in the query."""
    manifest = json.loads((tiny_build / "build.json").read_text())
    ontology = f"{BASE}graph/ontology"
    n = count(client, f"SELECT (COUNT(*) AS ?n) FROM <{ontology}> WHERE {{ ?s ?p ?o }}",
              **{"default-graph-uri": REFERENCE})
    assert n == manifest["graphs"][REFERENCE]


def test_dataset_parameters_in_a_form_post(client, tiny_build):
    manifest = json.loads((tiny_build / "build.json").read_text())
    body = urlencode({"query": "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }", "default-graph-uri": REFERENCE})
    response = client.post("/sparql", data=body, content_type=FORM)
    n = int(next(iter(pyoxigraph.parse_query_results(response.data, QueryResultsFormat.JSON)))["n"].value)
    assert n == manifest["graphs"][REFERENCE]


def test_relative_iris_resolve_against_the_base(client):
    response = client.get("/sparql", query_string={"query": "SELECT ?x WHERE { BIND(<id/place/tongzhou> AS ?x) }"})
    rows = list(pyoxigraph.parse_query_results(response.data, QueryResultsFormat.JSON))
    assert rows[0]["x"].value == TONGZHOU


def test_version_parameter(client):
    assert client.get("/sparql", query_string={"query": "ASK {}", "version": "1.2"}).status_code == 200
    assert client.get("/sparql", query_string={"query": "ASK {}", "version": "1.1"}).status_code == 200
    response = client.get("/sparql", query_string={"query": "ASK {}", "version": "9.9"})
    assert response.status_code == 400
    assert "9.9" in response.get_json()["error"]["message"]


def test_sparql_12_triple_terms_are_accepted(client, protocol_app):
    response = client.get("/sparql", query_string={
        "query": 'VERSION "1.2" SELECT ?t WHERE { BIND(<<( <http://a> <http://b> <http://c> )>> AS ?t) }'})
    if not protocol_app.extensions["bjkg"].store.evaluates_locally:
        # Virtuoso 7 implements SPARQL 1.1: the query is valid, the store refuses it, and says so
        assert response.status_code == 400
        assert message(response).startswith("The store behind this server does not support or accept this request")
        return
    assert response.status_code == 200
    assert response.get_json()["results"]["bindings"][0]["t"]["type"] == "triple"


# --------------------------------------------------------------------------- negative cases (W3C)

def message(response) -> str:
    return response.get_json()["error"]["message"]


def test_bad_query_method(client):
    response = client.put("/sparql?query=ASK%20%7B%7D")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]


def test_bad_multiple_queries(client):
    response = client.get("/sparql?query=ASK%20%7B%7D&query=SELECT%20%2A%20%7B%7D")
    assert response.status_code == 400
    assert "query" in message(response)


def test_bad_query_wrong_media_type(client):
    assert client.post("/sparql", data="ASK {}", content_type="text/plain").status_code == 415


def test_bad_query_missing_form_type(client):
    response = client.post("/sparql", data=b"query=ASK%20%7B%7D", headers={"Content-Type": ""})
    assert response.status_code == 415
    assert "Content-Type" in message(response)


def test_bad_query_missing_direct_type(client):
    assert client.post("/sparql", data=b"ASK {}", headers={"Content-Type": ""}).status_code == 415


def test_bad_query_non_utf8(client):
    body = "ASK { ?s ?p '北京' }".encode("utf-16")
    assert client.post("/sparql", data=body,
                       content_type="application/sparql-query; charset=UTF-16").status_code in (400, 415)
    assert client.post("/sparql", data=body, content_type="application/sparql-query").status_code == 400
    assert client.post("/sparql", data=b"query=ASK%20%7B%27%FF%27%7D", content_type=FORM).status_code == 400


@pytest.mark.parametrize("target", [
    "/sparql?query=ASK%7B%3Fs%20%3Fp%20%22%B1%B1%BE%A9%22%7D",  # 北京 percent-encoded in GBK
    "/sparql?query=ASK%7B%7D&default-graph-uri=https%3A%2F%2Fexample.org%2F%FF",
    "/search?q=%B1%B1%BE%A9",
    "/search.json?q=%CD%A8%D6%DD",  # 通州 in GBK: %CD%A8 alone would be UTF-8 (U+0368), %D6%DD is not
    "/id?iri=https%3A%2F%2Fw3id.org%2Fbjkg%2Fid%2Fplace%2F%B1",
])
def test_a_query_string_that_is_not_utf8_is_refused_not_read_as_percent_signs(client, target):
    """Werkzeug keeps an escape that is not UTF-8 as written: `?q=%B1%B1` searched for the
    text "%B1%B1", and a GBK-encoded SPARQL query was answered false. Now 400, saying how."""
    response = client.get(target, headers={"Accept": "application/json"})
    assert response.status_code == 400, (target, response.status_code)
    assert "not UTF-8" in message(response) and "%E5%8C%97" in message(response)


def test_query_strings_in_utf8_or_with_a_bare_percent_sign_are_read_as_before(client):
    assert client.get("/sparql?query=ASK%7B%3Fs%20%3Fp%20%22%E5%8C%97%E4%BA%AC%22%7D").status_code == 200
    assert client.get("/search.json?q=%E9%80%9A%E5%B7%9E").status_code == 200
    assert client.get("/search.json?q=100%").get_json()["q"] == "100%"  # not an escape: kept, as before
    assert client.get("/search.json?q=通州").status_code == 200  # raw UTF-8 bytes in the URL


def test_bad_query_syntax_gives_the_parsers_message(client):
    response = client.get("/sparql?query=ASK%20%7B")
    assert response.status_code == 400
    assert "syntax error" in message(response).lower()
    assert "1:" in message(response)  # the position from the parser


@pytest.mark.parametrize("text, accept, fault", [
    ('SELECT ?x WHERE { BIND("a\\u0001b" AS ?x) }', "application/sparql-results+xml", "U+0001"),
    ('CONSTRUCT { <http://example.org/s> <http://example.org/p> "a\\u0008b" } WHERE {}',
     "application/rdf+xml", "U+0008"),
    ('CONSTRUCT { <http://example.org/s> <http://example.org/1> "x" } WHERE {}', "application/rdf+xml", "local name"),
    ('CONSTRUCT { <http://example.org/s> <http://example.org/p#> "x" } WHERE {}', "application/rdf+xml", "local name")])
def test_an_answer_xml_cannot_carry_is_a_406_not_malformed_xml(client, text, accept, fault):
    """XML 1.0 has no U+0001, and RDF/XML no element for a predicate without a local name:
    pyoxigraph wrote them anyway (raw, or as an element named `prefix:`), a 200 no XML parser
    reads. A 406 names the fault and the formats that carry it; they still answer."""
    response = client.post("/sparql", data=text, content_type="application/sparql-query", headers={"Accept": accept})
    assert response.status_code == 406, response.data[:300]
    assert fault in message(response) and ("JSON" in message(response) or "Turtle" in message(response))
    other = "application/sparql-results+json" if "SELECT" in text else "application/n-triples"
    response = client.post("/sparql", data=text, content_type="application/sparql-query", headers={"Accept": other})
    assert response.status_code == 200 and response.data.strip()


@pytest.mark.parametrize("text", [
    "SELECT (<urn:x-unknown:f>(?s) AS ?x) WHERE { ?s ?p ?o } LIMIT 1",
    "ASK { FILTER(<urn:x-unknown:f>('a') = 'A') }",
    "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o FILTER(<urn:x-unknown:f>(?o)) }"])
def test_a_function_the_engine_does_not_know_is_a_400_naming_it(client, text):
    """A store refuses, before evaluating, a function it does not know: the query's fault (it
    was a 500 from pyoxigraph, a 502 from Virtuoso's 500 "SR185 Undefined procedure")."""
    response = client.post("/sparql", data=text, content_type="application/sparql-query")
    assert response.status_code == 400, response.data
    assert "x-unknown:f" in message(response)  # named, whatever the store


def test_bad_update_get(client):
    response = client.get("/sparql?update=CLEAR%20ALL")
    assert response.status_code == 400
    assert "POST" in message(response)


def test_bad_multiple_updates(client):
    response = client.post("/sparql", data="update=CLEAR%20NAMED&update=CLEAR%20DEFAULT", content_type=FORM)
    assert response.status_code in (400, 403)


def test_query_and_update_together(client):
    response = client.post("/sparql", data="query=ASK%7B%7D&update=CLEAR%20ALL", content_type=FORM)
    assert response.status_code == 400


def test_get_with_a_body(client):
    response = client.get("/sparql?query=ASK%20%7B%7D", data=b"ASK {}",
                          headers={"Content-Type": "application/sparql-query"})
    assert response.status_code == 400
    assert "body" in message(response)


def test_multiple_versions(client):
    response = client.get("/sparql?query=ASK%7B%7D&version=1.1&version=1.2")
    assert response.status_code == 400
    response = client.post("/sparql?version=1.1", data=b"ASK {}",
                           content_type="application/sparql-query; version=1.2")
    assert response.status_code == 400


def test_query_in_the_url_of_a_post(client):
    response = client.post("/sparql?query=ASK%7B%7D", data=b"ASK {}", content_type="application/sparql-query")
    assert response.status_code == 400


def test_empty_body_and_empty_form(client):
    assert client.post("/sparql", data=b"", content_type="application/sparql-query").status_code == 400
    assert client.post("/sparql", data=b"format=json", content_type=FORM).status_code == 400


def test_dataset_parameters_must_be_iris(client):
    response = client.get("/sparql", query_string={"query": "ASK {}", "default-graph-uri": "not an iri"})
    assert response.status_code == 400
    assert "default-graph-uri" in message(response)


def test_update_sent_as_query(client):
    response = client.get("/sparql", query_string={"query": "CLEAR ALL"})
    assert response.status_code == 400
    assert "update" in message(response).lower()


def test_dataset_parameters_without_query(client):
    assert client.get("/sparql", query_string={"default-graph-uri": REFERENCE}).status_code == 400


# --------------------------------------------------------------------------- service description

def test_service_description_in_turtle_by_default(client, tiny_build):
    response = client.get("/sparql")
    assert response.status_code == 200
    assert response.mimetype == "text/turtle"
    graph = list(pyoxigraph.parse(response.data, format=RdfFormat.TURTLE))
    sd = "http://www.w3.org/ns/sparql-service-description#"
    service = next(t.subject for t in graph if t.object.value == sd + "Service")
    assert service.value == client.application.config["BASE_IRI"] + "sparql"  # PUBLIC_URL unset: BASE_IRI
    objects = {t.object.value for t in graph}
    assert sd + "SPARQL11Query" in objects and sd + "UnionDefaultGraph" in objects
    assert sd + "SPARQL11Update" not in objects  # read-only
    assert sd + "BasicFederatedQuery" not in objects  # no allow-list
    manifest = json.loads((tiny_build / "build.json").read_text())
    names = {t.object.value for t in graph if t.predicate.value == sd + "name"}
    assert names == set(manifest["graphs"])


def test_service_description_in_other_rdf_formats(client):
    response = client.get("/sparql", headers={"Accept": "application/ld+json"})
    assert response.mimetype == "application/ld+json"
    assert list(pyoxigraph.parse(response.data, format=RdfFormat.JSON_LD))


def test_browsers_get_the_query_editor(client):
    response = client.get("/sparql", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert b"<form" in response.data or b"yasgui" in response.data.lower()


# --------------------------------------------------------------------------- limits

def test_an_answer_over_max_rows_is_an_error_never_a_cut_answer(tiny_build):
    """With an operator's row limit, one row more is a 400 naming the setting, in every
    format and query form; answers within the limit are whole."""
    app = create_app({"BUILD_DIR": str(tiny_build), "MAX_ROWS": 7, "QUERY_WORKERS": 1, "TESTING": True})
    try:
        client = app.test_client()
        for query, fmt in [("SELECT * WHERE { ?s ?p ?o }", fmt) for fmt in ("json", "xml", "csv", "tsv")] + \
                          [("CONSTRUCT WHERE { ?s ?p ?o }", fmt) for fmt in ("nt", "ttl", "jsonld", "rdf")] + \
                          [("DESCRIBE ?s WHERE { ?s ?p ?o }", "nt")]:
            response = client.get("/sparql", query_string={"query": query, "format": fmt},
                                  headers={"Accept": "application/json"})
            assert response.status_code == 400, (query, fmt, response.data[:200])
            assert "MAX_ROWS" in response.get_json()["error"]["message"]
            assert "X-BJKG-Truncated" not in response.headers
        small = client.get("/sparql", query_string={"query": "SELECT * WHERE { ?s ?p ?o } LIMIT 7"})
        assert small.status_code == 200 and len(small.get_json()["results"]["bindings"]) == 7
        assert "truncated" not in small.get_json()
        csv = client.get("/sparql", query_string={"query": "SELECT * WHERE { ?s ?p ?o } LIMIT 7", "format": "csv"})
        assert len(csv.data.decode().strip().splitlines()) == 8  # header + 7 rows
    finally:
        close_app(app)


def test_no_row_limit_by_default_every_format_is_whole(tiny_build):
    app = create_app({"BUILD_DIR": str(tiny_build), "QUERY_WORKERS": 1, "TESTING": True})
    try:
        client = app.test_client()
        assert app.config["MAX_ROWS"] == 0
        count = client.get("/sparql", query_string={"query": "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"})
        total = int(count.get_json()["results"]["bindings"][0]["n"]["value"])
        assert total > 7
        query = "SELECT ?s ?p ?o WHERE { ?s ?p ?o }"
        for fmt, parser in (("json", QueryResultsFormat.JSON), ("xml", QueryResultsFormat.XML),
                            ("tsv", QueryResultsFormat.TSV)):
            response = client.get("/sparql", query_string={"query": query, "format": fmt})
            assert response.status_code == 200
            assert len(list(pyoxigraph.parse_query_results(response.data, parser))) == total, fmt
        csv_answer = client.get("/sparql", query_string={"query": query, "format": "csv"})
        assert len(list(csv.reader(io.StringIO(csv_answer.get_data(as_text=True), newline="")))) == total + 1
        graph = client.get("/sparql", query_string={"query": "CONSTRUCT WHERE { ?s ?p ?o }", "format": "nt"})
        distinct = client.get("/sparql", query_string={
            "query": "SELECT (COUNT(*) AS ?n) WHERE { SELECT DISTINCT ?s ?p ?o WHERE { ?s ?p ?o } }"})
        assert len(list(pyoxigraph.parse(graph.data, pyoxigraph.RdfFormat.N_TRIPLES))) == \
            int(distinct.get_json()["results"]["bindings"][0]["n"]["value"])
    finally:
        close_app(app)


def test_query_length_and_body_size_limits(tiny_build):
    app = create_app({"BUILD_DIR": str(tiny_build), "MAX_QUERY_LENGTH": 100, "MAX_BODY_BYTES": 1000,
                      "QUERY_WORKERS": 1, "TESTING": True})
    try:
        client = app.test_client()
        long_query = "ASK { " + " ".join(f"?s{i} ?p ?o ." for i in range(20)) + " }"
        response = client.get("/sparql", query_string={"query": long_query})
        assert response.status_code == 414
        assert "MAX_QUERY_LENGTH" in message(response)
        response = client.post("/sparql", data=long_query, content_type="application/sparql-query")
        assert response.status_code == 413
        huge = "ASK {} #" + "x" * 5000
        response = client.post("/sparql", data=huge, content_type="application/sparql-query")
        assert response.status_code == 413
        assert "MAX_BODY_BYTES" in message(response)
        assert client.get("/sparql", query_string={"query": "ASK {}"}).status_code == 200
    finally:
        close_app(app)


# --------------------------------------------------------------------------- caching, CORS, errors

def test_etag_and_304_from_the_build_hash(client, tiny_build):
    build_hash = json.loads((tiny_build / "build.json").read_text())["hash"]
    url = "/sparql?query=" + quote("ASK {}")
    first = client.get(url)
    etag = first.headers["ETag"]
    assert build_hash[:16] in etag
    assert "max-age" in first.headers["Cache-Control"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    other_format = client.get(url, headers={"If-None-Match": etag, "Accept": "application/sparql-results+xml"})
    assert other_format.status_code == 200
    assert other_format.headers["ETag"] != etag


def test_a_graph_named_twice_counts_once(client):
    """The default graph is the merge of the graphs named, the named graphs a set (SPARQL
    1.1 Query §13.2): naming one twice, by the protocol or by FROM, changes nothing."""
    graph = "https://w3id.org/bjkg/graph/ontology"
    every = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
    in_graphs = "SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }"

    def count(query, params=""):
        r = client.get("/sparql?query=" + quote(query) + params, headers={"Accept": "application/sparql-results+json"})
        assert r.status_code == 200, r.data
        return int(r.get_json()["results"]["bindings"][0]["n"]["value"])

    once = count(every, "&default-graph-uri=" + quote(graph))
    assert once > 0
    assert count(every, ("&default-graph-uri=" + quote(graph)) * 2) == once
    assert count(f"SELECT (COUNT(*) AS ?n) FROM <{graph}> FROM <{graph}> WHERE {{ ?s ?p ?o }}") == once
    assert count(in_graphs, ("&named-graph-uri=" + quote(graph)) * 2) == once
    assert count(f"SELECT (COUNT(*) AS ?n) FROM NAMED <{graph}> FROM NAMED <{graph}> "
                 "WHERE { GRAPH ?g { ?s ?p ?o } }") == once


def test_ask_in_csv_and_tsv_is_a_table(client):
    """SPARQL 1.1 CSV/TSV define tables only: an ASK answer is Jena's one-column table, which
    CSV and TSV readers read (a bare `true` is refused by rdflib's TSV reader)."""
    import io

    from rdflib.query import Result

    for query, value in (("ASK {}", "true"), ("ASK { <urn:x:nothing> ?p ?o }", "false")):
        url = "/sparql?query=" + quote(query)
        csv = client.get(url, headers={"Accept": "text/csv"})
        tsv = client.get(url, headers={"Accept": "text/tab-separated-values"})
        assert csv.data.decode() == f"_askResult\r\n{value}\r\n"
        assert tsv.data.decode() == f"?_askResult\n{value}\n"
        rows = list(Result.parse(io.BytesIO(tsv.data), format="tsv"))
        assert [str(row[0]) for row in rows] == [value]


def test_a_304_names_the_vary_of_its_200(client):
    """RFC 9110 §15.4.5: a cache that stored the 200 under its Vary must see it again."""
    for url, headers in (("/sparql?query=" + quote("ASK {}"), {}),
                         ("/id/place/tongzhou", {"Accept": "text/html"})):
        first = client.get(url, headers=headers)
        again = client.get(url, headers={**headers, "If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304
        assert set(first.vary) <= set(again.vary), (url, first.vary, again.vary)


def test_the_service_description_as_json_is_json_ld_by_either_means(client):
    by_accept = client.get("/sparql", headers={"Accept": "application/json"})
    by_name = client.get("/sparql?format=json")
    assert by_accept.status_code == by_name.status_code == 200
    assert by_accept.mimetype == by_name.mimetype == "application/ld+json"
    assert by_accept.data == by_name.data


def test_the_query_editor_varies_with_the_readers_language(client):
    pages = {lang: client.get("/sparql", headers={"Accept": "text/html", "Accept-Language": lang})
             for lang in ("en", "zh-CN")}
    assert pages["en"].data != pages["zh-CN"].data
    for page in pages.values():
        assert {"Accept", "Accept-Language", "Cookie"} <= set(page.vary)


def test_if_none_match_star_matches_only_a_representation(client):
    """`If-None-Match: *` is false only when the URL has a current representation (RFC 9110
    §13.1.2): an answer becomes a 304, an error stays the error."""
    star = {"If-None-Match": "*"}
    assert client.get("/sparql?query=" + quote("ASK {}"), headers=star).status_code == 304
    assert client.get("/id/place/tongzhou", headers={**star, "Accept": "text/html"}).status_code == 304
    assert client.get("/id/place/nowhere-at-all", headers=star).status_code == 404
    assert client.get("/sparql?query=" + quote("ASK {"), headers=star).status_code == 400
    assert client.get("/id/place/tongzhou?format=bogus", headers=star).status_code == 406


@pytest.mark.parametrize("query", [
    "SELECT (NOW() AS ?t) {}", "SELECT (rand () AS ?r) {}", "SELECT (UUID() AS ?u) {}",
    "SELECT (STRUUID() AS ?u) {}",  # (BNODE() too, but Virtuoso refuses it without an argument)
])
def test_an_answer_that_differs_at_each_asking_is_never_revalidated(client, query):
    """NOW(), RAND(), UUID() … answer anew at each evaluation: a validator of the build and
    the URL would give a client a 304 and its stale answer for up to CACHE_MAX_AGE."""
    answer = client.get("/sparql?query=" + quote(query))
    assert answer.status_code == 200
    assert "ETag" not in answer.headers
    assert answer.headers["Cache-Control"] == "no-store"
    assert client.get("/sparql?query=" + quote(query), headers={"If-None-Match": "*"}).status_code == 200


def test_no_etag_on_posts_or_errors(client):
    assert "ETag" not in client.post("/sparql", data="ASK {}", content_type="application/sparql-query").headers
    assert "ETag" not in client.get("/sparql?query=ASK%20%7B").headers


def test_cors_on_answers_errors_and_preflight(client):
    assert client.get("/sparql?query=ASK%7B%7D").headers["Access-Control-Allow-Origin"] == "*"
    assert client.get("/sparql?query=ASK%20%7B").headers["Access-Control-Allow-Origin"] == "*"
    preflight = client.options("/sparql", headers={"Origin": "https://example.org",
                                                   "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 200
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in preflight.headers["Access-Control-Allow-Headers"]
    assert {"If-Match", "If-None-Match"} <= {h.strip() for h in preflight.headers["Access-Control-Allow-Headers"].split(",")}
    assert "ETag" in preflight.headers["Access-Control-Expose-Headers"]
    # a browser script reads when to come back after a 429 or 503
    assert "Retry-After" in preflight.headers["Access-Control-Expose-Headers"]
    # the methods the URL allows, as its Allow header says: no PUT on the read-only endpoint
    assert ({m.strip() for m in preflight.headers["Access-Control-Allow-Methods"].split(",")}
            == {m.strip() for m in preflight.headers["Allow"].split(",")})
    assert "PUT" not in preflight.headers["Access-Control-Allow-Methods"]


def test_errors_are_json_html_or_text_as_asked(client):
    url = "/sparql?query=ASK%20%7B"
    assert client.get(url).get_json()["error"]["status"] == 400
    html = client.get(url, headers={"Accept": "text/html, */*;q=0.1"})
    assert html.mimetype == "text/html" and b"400" in html.data
    text = client.get(url, headers={"Accept": "text/plain, */*;q=0.1"})
    assert text.mimetype == "text/plain" and text.data.startswith(b"400 Bad Request")
    assert client.get("/no/such/page").status_code == 404


def test_error_pages_escape_what_the_client_sent(client):
    response = client.get("/sparql", query_string={"query": "ASK {}", "version": "<script>x</script>"},
                          headers={"Accept": "text/html"})
    assert response.status_code == 400
    assert b"<script>x</script>" not in response.data


@pytest.mark.parametrize("how", ["get", "form", "body"])
def test_a_query_that_opens_with_a_byte_order_mark_is_read_without_it(client, how):
    """A .rq file saved with a BOM (many editors do) and sent as it is: the mark is no part
    of the query, whether it comes in the URL, a form field or the body."""
    text = "\ufeffASK { ?s ?p ?o }"
    accept = {"Accept": "application/sparql-results+json"}
    if how == "get":
        response = client.get("/sparql", query_string={"query": text}, headers=accept)
    elif how == "form":
        response = client.post("/sparql", data={"query": text}, headers=accept)
    else:
        response = client.post("/sparql", data=text.encode("utf-8"),
                               headers={**accept, "Content-Type": "application/sparql-query"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["boolean"] is True
