"""Where Virtuoso's answers differed from the embedded store's, and how the server keeps them apart.

Each test runs against a real Virtuoso (the behaviour is Virtuoso's): a GRAPH pattern
naming a graph outside the dataset, geo:wktLiteral's type and precision, paging past
Virtuoso's sort cap, errors caused by the query, and a store that stops answering. The
module has an instance of its own, holding the tiny build plus a graph of WKT points,
since one test freezes it (SIGSTOP) for a while.
"""
from __future__ import annotations

import os
import signal
import time

import pytest
from pyoxigraph import Literal, NamedNode, Triple

from bench import virtuoso as launcher
from bjkg.server.sparql.client import SparqlClient
from bjkg.server.stores.publish import PublishError, publish, read_build, verify_contents
from tests.conftest import make_tiny_build
from tests.server.backends import PublishedStore, remote_app, require_virtuoso
from tests.server.conftest import BASE, ROOT, close_app

GEO = f"{BASE}graph/geo"
WKT = "http://www.opengis.net/ont/geosparql#wktLiteral"
AS_WKT = "http://www.opengis.net/ont/geosparql#asWKT"
# the second point loses digits in Virtuoso (32-bit coordinates): 40.1415 → 40.141498565674
POINTS = {f"{BASE}id/g1": "POINT(116.407394 39.904211)", f"{BASE}id/g2": "POINT(118.314715 40.1415)"}
NOPE = f"{BASE}graph/nope"
SYSTEM = "http://www.openlinksw.com/schemas/virtrdf#"  # one of Virtuoso's own graphs


@pytest.fixture(scope="module")
def geo(tmp_path_factory):
    """An instance of this module's own, holding the tiny build and the graph GEO."""
    require_virtuoso()
    folder = tmp_path_factory.mktemp("geo")
    trig = folder / "geo.trig"
    points = "\n".join(f'<{s}> <{AS_WKT}> "{wkt}"^^<{WKT}> .' for s, wkt in POINTS.items())
    trig.write_text((ROOT / "tests" / "data" / "tiny.trig").read_text(encoding="utf-8")
                    + f"\n<{GEO}> {{\n{points}\n}}\n", encoding="utf-8")
    build = make_tiny_build(folder / "build", trig=trig)
    instance = launcher.start(folder / "virtuoso")
    try:
        store = PublishedStore(instance, build)
        publish(build, store.writer())
        yield store
    finally:
        instance.stop()


@pytest.fixture(scope="module")
def app(geo):
    app = remote_app(geo)
    try:
        yield app
    finally:
        close_app(app)


def sparql(app, query: str):
    return app.test_client().get("/sparql", query_string={"query": query},
                                 headers={"Accept": "application/sparql-results+json"})


# --------------------------------------------------------------------------- GRAPH outside the dataset

@pytest.mark.parametrize("graph", [NOPE, SYSTEM, "urn:x-bjkg:no-graph"])
def test_a_graph_outside_the_dataset_matches_nothing(app, graph):
    """Virtuoso gave one empty solution for a GRAPH pattern whose IRI is not a named graph
    of the protocol dataset: ASK was true, COUNT 1, NOT EXISTS removed every row."""
    assert sparql(app, f"ASK {{ GRAPH <{graph}> {{ <http://x/a> <http://x/b> <http://x/c> }} }}"
                  ).get_json()["boolean"] is False
    count = sparql(app, f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}").get_json()
    assert count["results"]["bindings"][0]["n"]["value"] == "0"
    kept = sparql(app, f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{GEO}> {{ ?s ?p ?o }} "
                       f"FILTER NOT EXISTS {{ GRAPH <{graph}> {{ ?s ?p ?o }} }} }}").get_json()
    assert kept["results"]["bindings"][0]["n"]["value"] == str(len(POINTS))


def test_a_published_graph_outside_the_querys_from_named_matches_nothing(app):
    prefixed = (f"PREFIX g: <{BASE}graph/>\nSELECT (COUNT(*) AS ?n) FROM NAMED <{BASE}graph/reference> "
                "WHERE { GRAPH g:geo { ?s ?p ?o } }")
    assert sparql(app, prefixed).get_json()["results"]["bindings"][0]["n"]["value"] == "0"
    inside = f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{GEO}> {{ ?s ?p ?o }} }}"
    assert sparql(app, inside).get_json()["results"]["bindings"][0]["n"]["value"] == str(len(POINTS))


# --------------------------------------------------------------------------- geo:wktLiteral

def test_wkt_literals_keep_their_type(app):
    """Virtuoso turns every wktLiteral into its own virtrdf:Geometry; the server reads it back."""
    rows = sparql(app, f"SELECT ?s ?w WHERE {{ ?s <{AS_WKT}> ?w }}").get_json()["results"]["bindings"]
    assert len(rows) == len(POINTS) and {row["w"]["datatype"] for row in rows} == {WKT}
    turtle = app.test_client().get("/sparql", query_string={"query": f"CONSTRUCT WHERE {{ ?s <{AS_WKT}> ?w }}"},
                                   headers={"Accept": "application/n-triples"}).data.decode()
    assert turtle.count(f"^^<{WKT}>") == len(POINTS) and "virtrdf" not in turtle


def test_publish_reads_every_graph_back_and_fails_on_a_difference(geo):
    """Same counts, different content: counts alone let this pass."""
    writer = geo.writer(graph_store=False)
    _, graphs = read_build(geo.build)
    verify_contents(SparqlClient(geo.sparql), graphs, time.monotonic() + 60)  # 32-bit WKT tolerated
    subject = next(iter(POINTS))
    writer.update(f'DELETE DATA {{ GRAPH <{GEO}> {{ <{subject}> <{AS_WKT}> "{POINTS[subject]}"^^<{WKT}> }} }} ;'
                  f'INSERT DATA {{ GRAPH <{GEO}> {{ <{subject}> <{AS_WKT}> "POINT(1 2)"^^<{WKT}> }} }}',
                  deadline=time.monotonic() + 60)
    try:
        with pytest.raises(PublishError, match=f"<{GEO}>"):
            verify_contents(SparqlClient(geo.sparql), graphs, time.monotonic() + 60)
    finally:
        publish(geo.build, geo.writer())  # and publish itself verifies the repaired store
    assert Triple(NamedNode(subject), NamedNode(AS_WKT), Literal(POINTS[subject], datatype=NamedNode(WKT))) \
        in graphs[GEO]


# --------------------------------------------------------------------------- paging and errors

def test_paging_past_ten_thousand_sorted_rows(app):
    """bench/virtuoso.py raises MaxSortedTopRows; past the store's cap the error names it (400)."""
    ok = sparql(app, "SELECT ?s WHERE { ?s ?p ?o } ORDER BY ?s LIMIT 10 OFFSET 20000")
    assert ok.status_code == 200 and ok.get_json()["results"]["bindings"] == []
    too_far = sparql(app, f"SELECT ?s WHERE {{ ?s ?p ?o }} ORDER BY ?s LIMIT 10 OFFSET {launcher.MAX_SORTED_TOP_ROWS}")
    assert too_far.status_code == 400 and "MaxSortedTopRows" in too_far.get_json()["error"]["message"]


@pytest.mark.parametrize("query", ['SELECT (STRLANG("a", "zh-Hans") AS ?x) WHERE {}',
                                   "SELECT (BNODE() AS ?x) WHERE {}"])
def test_a_query_virtuoso_refuses_is_a_client_error_without_our_rewrites(app, query):
    answer = sparql(app, query)
    message = answer.get_json()["error"]["message"]
    assert answer.status_code == 400 and "does not support or accept" in message
    assert "define" not in message and "input:" not in message and "SPARQL query" not in message


# --------------------------------------------------------------------------- a frozen store

def test_a_frozen_store_is_named_as_the_cause(geo):
    """SIGSTOPped, Virtuoso accepts connections and never answers: a 503 that says the
    store does not respond, not that the query should be more selective."""
    app = remote_app(geo, QUERY_TIMEOUT=2)
    os.kill(geo.instance.process.pid, signal.SIGSTOP)
    try:
        answers = [app.test_client().get("/sparql", query_string={"query": "ASK {}"}) for _ in range(2)]
    finally:
        os.kill(geo.instance.process.pid, signal.SIGCONT)
        close_app(app)
    for answer in answers:
        message = answer.get_json()["error"]["message"]
        assert answer.status_code == 503 and "does not respond" in message and "selective" not in message
