"""Real clients against a real server: `bjkg serve` (granian) on 127.0.0.1, a random port.

SPARQLWrapper and rdflib's SPARQLStore are what people point at SPARQL endpoints; if they
work, the protocol is right in practice. The concurrency test repeats the runaway-query
check over real HTTP, and `serve --get` is exercised as a subprocess.
"""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from rdflib import Graph, URIRef
from rdflib.plugins.stores.sparqlstore import SPARQLStore, SPARQLUpdateStore
from SPARQLWrapper import JSON, N3, POST, RDFXML, TURTLE, XML, SPARQLWrapper

from tests.server.conftest import BASE, ROOT, TOKEN

TONGZHOU = f"{BASE}id/place/tongzhou"
RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"


def wrapper(live_server, query, fmt=JSON, method=None) -> SPARQLWrapper:
    sparql = SPARQLWrapper(live_server.sparql)
    sparql.setQuery(query)
    sparql.setReturnFormat(fmt)
    if method:
        sparql.setMethod(method)
    return sparql


def test_sparqlwrapper_select_json_get_and_post(live_server):
    query = f"SELECT ?label WHERE {{ <{TONGZHOU}> <{RDFS_LABEL}> ?label }}"
    for method in (None, POST):
        result = wrapper(live_server, query, JSON, method).queryAndConvert()
        values = {b["label"]["value"] for b in result["results"]["bindings"]}
        assert "通州区" in values and "Tongzhou District" in values


def test_sparqlwrapper_select_xml_and_ask(live_server):
    document = wrapper(live_server, f"SELECT ?p WHERE {{ <{TONGZHOU}> ?p ?o }}", XML).queryAndConvert()
    assert document.getElementsByTagName("result")
    assert wrapper(live_server, f"ASK {{ <{TONGZHOU}> ?p ?o }}", JSON).queryAndConvert()["boolean"] is True


@pytest.mark.parametrize("fmt", [TURTLE, RDFXML, N3])
def test_sparqlwrapper_construct(live_server, fmt):
    graph = wrapper(live_server, f"CONSTRUCT WHERE {{ <{TONGZHOU}> ?p ?o }}", fmt).queryAndConvert()
    if not isinstance(graph, Graph):
        graph = Graph().parse(data=graph, format="turtle" if fmt != RDFXML else "xml")
    assert (URIRef(TONGZHOU), None, None) in graph


def test_sparqlwrapper_reports_syntax_errors(live_server):
    from SPARQLWrapper.SPARQLExceptions import QueryBadFormed

    with pytest.raises(QueryBadFormed):
        wrapper(live_server, "SELECT * WHERE { ?s ?p ").queryAndConvert()


def test_rdflib_sparqlstore(live_server):
    graph = Graph(store=SPARQLStore(live_server.sparql))
    rows = list(graph.query(f"SELECT ?label WHERE {{ <{TONGZHOU}> <{RDFS_LABEL}> ?label }}"))
    assert any(str(row[0]) == "通州区" for row in rows)
    assert (URIRef(TONGZHOU), URIRef(RDFS_LABEL), None) in graph


def test_rdflib_sparqlupdatestore_against_the_writable_server(live_writable_server):
    store = SPARQLUpdateStore(live_writable_server.sparql, live_writable_server.sparql,
                              headers={"Authorization": f"Bearer {TOKEN}"})
    graph = Graph(store=store, identifier=URIRef("http://example.org/g"))
    graph.update("INSERT DATA { <http://example.org/a> <http://example.org/b> 'c' }")  # rdflib adds GRAPH <g>
    graph.add((URIRef("http://example.org/a"), URIRef("http://example.org/b"), URIRef("http://example.org/d")))
    # rdflib sends default-graph-uri=<g>, so the protocol dataset is that one graph
    rows = list(graph.query("SELECT ?o WHERE { ?s ?p ?o }"))
    assert {str(o) for (o,) in rows} == {"c", "http://example.org/d"}
    assert len(graph) == 2
    store.close()


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, float]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read(), time.monotonic()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), time.monotonic()


def test_live_runaway_query_is_stopped_while_others_are_answered(live_server):
    runaway = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l . ?m ?n2 ?o }"
    outcome: dict[str, tuple[int, bytes, float]] = {}
    started = time.monotonic()
    thread = threading.Thread(target=lambda: outcome.__setitem__(
        "runaway", get(f"{live_server.sparql}?{urllib.parse.urlencode({'query': runaway})}")))
    thread.start()
    time.sleep(0.3)
    simple = [get(f"{live_server.sparql}?query=ASK%7B%3Fs%20%3Fp%20%3Fo%7D") for _ in range(3)]
    page = get(f"{live_server.url}/sparql", {"Accept": "text/turtle"})
    thread.join(timeout=60)
    status, body, finished = outcome["runaway"]
    assert status == 503
    assert "QUERY_TIMEOUT" in json.loads(body)["error"]["message"]
    assert all(s == 200 for s, _, _ in simple) and page[0] == 200
    assert max(t for _, _, t in simple) < finished  # answered while the runaway was still running
    assert finished - started >= 1.5


def test_serve_get_prints_one_response(tiny_build):
    args = [sys.executable, "-m", "bjkg.server.cli", "serve", "--build", str(tiny_build), "--get",
            "/sparql?query=" + urllib.parse.quote("ASK { ?s ?p ?o }")]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["boolean"] is True
    bad = subprocess.run(args[:-1] + ["/sparql?query=ASK%20%7B"], cwd=ROOT, capture_output=True, timeout=120)
    assert bad.returncode == 1
    assert b"400" in bad.stderr


def test_serve_refuses_a_missing_build(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bjkg.server.cli", "serve", "--build", str(tmp_path / "nope"),
                           "--get", "/sparql"], cwd=ROOT, capture_output=True, timeout=120)
    assert done.returncode != 0
    assert b"bjkg build" in done.stderr
