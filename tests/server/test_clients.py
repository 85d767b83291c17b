"""Real clients against a real server: `bjkg serve` (gunicorn) on 127.0.0.1, a random port.

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


def _keep_alive_get(sock, path: str) -> bytes:
    """One HTTP/1.1 request on an open socket; the response's status line and headers."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: text/turtle\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next((line.split(b":", 1)[1] for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), b"0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head


def test_idle_keep_alive_connections_do_not_lock_out_new_clients(tiny_build):
    """A worker holds at most CONNECTIONS connections: clients holding them idle must not
    keep a new client waiting for longer than the keep-alive idle time."""
    import socket

    from tests.server.conftest import start_server, stop_server

    server = start_server(["--build", str(tiny_build), "--workers", "1", "-s", "THREADS", "1",
                           "-s", "CONNECTIONS", "2"])
    try:
        host, port = urllib.parse.urlsplit(server.url).netloc.split(":")
        idle = [socket.create_connection((host, int(port)), timeout=30) for _ in range(2)]
        for sock in idle:
            assert _keep_alive_get(sock, "/id/place/tongzhou").startswith(b"HTTP/1.1 200")
        status, _, _ = get(f"{server.url}/sparql?query=ASK%7B%3Fs%20%3Fp%20%3Fo%7D")
        assert status == 200
        # the server let the idle connections go (after the keep-alive time) to make room
        for sock in idle:
            sock.settimeout(30)
            assert sock.recv(1) == b""
            sock.close()
    finally:
        stop_server(server)


def test_clients_beyond_the_connection_limit_take_turns(tiny_build):
    """With more keep-alive clients than the worker holds, every client is answered while
    the others keep sending: a full worker gives its place to a waiting client."""
    import http.client

    from tests.server.conftest import start_server, stop_server

    server = start_server(["--build", str(tiny_build), "--workers", "1", "-s", "THREADS", "2",
                           "-s", "CONNECTIONS", "4"])
    host, port = urllib.parse.urlsplit(server.url).netloc.split(":")
    answered = [0] * 12
    stop = threading.Event()

    def client(number: int) -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        try:
            while not stop.is_set():
                connection.request("GET", "/sparql?query=ASK%7B%3Fs%20%3Fp%20%3Fo%7D",
                                   headers={"Accept": "application/sparql-results+json"})
                response = connection.getresponse()
                assert response.status == 200
                response.read()
                answered[number] += 1
                if response.getheader("Connection", "").lower() == "close":
                    connection.close()  # reconnects on the next request
        finally:
            connection.close()

    try:
        threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(len(answered))]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while min(answered) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        assert min(answered) >= 3, answered  # nobody was left waiting behind the others
    finally:
        stop_server(server)
