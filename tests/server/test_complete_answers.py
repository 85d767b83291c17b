"""Complete answers (issue 15): no row cap by default, long answers streamed whole by the
engine, and an operator's MAX_ROWS an error rather than a cut answer — over a real build
served by `bjkg serve` (gunicorn, queries inline, so long answers stream), read by real clients."""
from __future__ import annotations

import csv
import io
import threading
import urllib.error
import urllib.parse
import urllib.request

import pyoxigraph
import pytest
from pyoxigraph import QueryResultsFormat

from bjkg.server.sparql import evaluate as evaluation
from bjkg.server.sparql.evaluate import QueryRequest, stream
from tests.server.conftest import start_server, stop_server

ALL = "SELECT ?s ?p ?o WHERE { ?s ?p ?o }"


@pytest.fixture(scope="module")
def real_server(real_build):
    server = start_server(["--build", str(real_build)])
    yield server
    stop_server(server)


def _get(url: str, query: str, accept: str) -> tuple[bytes, dict]:
    request = urllib.request.Request(url + "?" + urllib.parse.urlencode({"query": query}),
                                     headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.read(), {k.lower(): v for k, v in response.headers.items()}  # names are case-insensitive


def _count(url: str, query: str) -> int:
    body, _ = _get(url, query, "application/sparql-results+json")
    return int(next(iter(pyoxigraph.parse_query_results(body, QueryResultsFormat.JSON)))["n"].value)


def test_every_triple_in_json_and_csv(real_server):
    """SPARQLWrapper reads every row of `SELECT ?s ?p ?o` (JSON and CSV) — as many as COUNT(*) says."""
    from SPARQLWrapper import CSV, JSON, SPARQLWrapper

    total = _count(real_server.sparql, "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")
    assert total > 50_000  # the seed build with its external dataset
    client = SPARQLWrapper(real_server.sparql)
    client.setQuery(ALL)
    client.setReturnFormat(JSON)
    assert len(client.query().convert()["results"]["bindings"]) == total
    client.setReturnFormat(CSV)
    rows = list(csv.reader(io.StringIO(client.query().convert().decode("utf-8"), newline="")))
    assert rows[0] == ["s", "p", "o"] and len(rows) == total + 1


def test_a_long_answer_is_streamed(real_server):
    """No Content-Length: the answer leaves as the engine writes it (chunked)."""
    _, headers = _get(real_server.sparql, ALL, "text/tab-separated-values")
    assert headers.get("transfer-encoding") == "chunked" and "content-length" not in headers


def test_sparqlstore_triples_and_construct_get_everything(real_server):
    """rdflib's SPARQLStore: `triples()` and a CONSTRUCT both return every distinct triple."""
    from rdflib import Graph
    from rdflib.plugins.stores.sparqlstore import SPARQLStore

    distinct = _count(real_server.sparql,
                      "SELECT (COUNT(*) AS ?n) WHERE { SELECT DISTINCT ?s ?p ?o WHERE { ?s ?p ?o } }")
    total = _count(real_server.sparql, "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")
    store = SPARQLStore(real_server.sparql, returnFormat="json")
    assert sum(1 for _ in store.triples((None, None, None))) == total
    graph = Graph(SPARQLStore(real_server.sparql))  # rdflib asks for RDF/XML for a CONSTRUCT
    assert len(graph.query("CONSTRUCT WHERE { ?s ?p ?o }")) == distinct
    body, _ = _get(real_server.sparql, "CONSTRUCT WHERE { ?s ?p ?o }", "application/n-triples")
    assert len(list(pyoxigraph.parse(body, pyoxigraph.RdfFormat.N_TRIPLES))) == distinct


def test_an_operators_row_limit_is_an_error_over_http(real_build):
    server = start_server(["--build", str(real_build), "-s", "MAX_ROWS", "1000"])
    try:
        for accept in ("text/csv", "application/sparql-results+json", "application/sparql-results+xml"):
            with pytest.raises(urllib.error.HTTPError) as raised:
                _get(server.sparql, ALL, accept)
            assert raised.value.code == 400
            assert b"MAX_ROWS" in raised.value.read()
        with pytest.raises(urllib.error.HTTPError) as raised:
            _get(server.sparql, "CONSTRUCT WHERE { ?s ?p ?o }", "text/turtle")
        assert raised.value.code == 400
        body, _ = _get(server.sparql, ALL + " LIMIT 1000", "text/csv")
        assert len(body.decode().strip().splitlines()) == 1001
    finally:
        stop_server(server)


def test_a_streamed_answer_holds_only_a_few_chunks_for_a_slow_reader():
    """Constant memory: while the client does not read, the engine waits; it has written at
    most the queue's few chunks beyond what was read."""
    store = pyoxigraph.Store()
    store.extend(pyoxigraph.Quad(pyoxigraph.NamedNode(f"http://example.org/s{i}"),
                                 pyoxigraph.NamedNode("http://example.org/p"),
                                 pyoxigraph.Literal("x" * 200), pyoxigraph.DefaultGraph())
                 for i in range(20_000))
    written = []
    original = evaluation._QueueSink.put

    def counting_put(self, item):
        if isinstance(item, bytes):
            written.append(len(item))
        return original(self, item)

    evaluation._QueueSink.put = counting_put
    try:
        request = QueryRequest(sparql=ALL, results_format="text/tab-separated-values")
        import time

        answer = stream(store, request, deadline=time.monotonic() + 60)
        assert answer.chunks is not None  # ≈ 5 MB: streamed
        first = next(answer.chunks)
        done = threading.Event()
        threading.Timer(0.5, done.set).start()
        done.wait()
        assert len(written) <= evaluation._QUEUED_CHUNKS + 3  # blocked, not buffering the answer
        rest = b"".join(answer.chunks)
        lines = (first + rest).decode().splitlines()
        assert len(lines) == 20_001
    finally:
        evaluation._QueueSink.put = original


def _empty_app(**settings):
    from bjkg.server.app import create_app

    return create_app({"EMPTY": True, "UPDATE_TOKEN": "t0k3n", "TESTING": True, **settings})


def _fill(client, n: int) -> None:
    body = "".join(f"<http://example.org/s{i}> <http://example.org/p> \"{'y' * 50} {i}\" .\n" for i in range(n))
    response = client.put("/graph-store?default", data=body.encode(),
                          headers={"Content-Type": "application/n-triples", "Authorization": "Bearer t0k3n"})
    assert response.status_code in (201, 204)


def test_the_empty_dataset_streams_whole_answers_and_refuses_past_max_rows():
    from tests.server.conftest import close_app

    app = _empty_app()
    limited = _empty_app(MAX_ROWS=100)
    try:
        for application in (app, limited):
            _fill(application.test_client(), 20_000)
        response = app.test_client().get("/sparql", query_string={"query": ALL, "format": "tsv"})
        assert response.status_code == 200 and response.is_streamed
        assert len(response.get_data().decode().splitlines()) == 20_001
        graph = app.test_client().get("/sparql", query_string={"query": "CONSTRUCT WHERE { ?s ?p ?o }"},
                                      headers={"Accept": "application/n-triples"})
        assert len(list(pyoxigraph.parse(graph.get_data(), pyoxigraph.RdfFormat.N_TRIPLES))) == 20_000
        refused = limited.test_client().get("/sparql", query_string={"query": ALL, "format": "csv"},
                                            headers={"Accept": "text/csv, application/json;q=0.5"})
        assert refused.status_code == 400 and b"MAX_ROWS" in refused.data
    finally:
        close_app(app)
        close_app(limited)


def test_a_stream_past_its_deadline_ends_with_an_error_not_quietly():
    """A reader that is still reading when the time limit passes gets QueryTimedOut from the
    stream (the server then drops the connection before the last chunk)."""
    import time

    from bjkg.server.sparql.evaluate import QueryTimedOut

    store = pyoxigraph.Store()
    store.extend(pyoxigraph.Quad(pyoxigraph.NamedNode(f"http://example.org/s{i}"),
                                 pyoxigraph.NamedNode("http://example.org/p"),
                                 pyoxigraph.Literal("z" * 200), pyoxigraph.DefaultGraph())
                 for i in range(20_000))
    answer = stream(store, QueryRequest(sparql=ALL, results_format="application/sparql-results+json"),
                    deadline=time.monotonic() + 2)
    assert answer.chunks is not None
    next(answer.chunks)
    answer_deadline_passed = threading.Event()
    threading.Timer(2.2, answer_deadline_passed.set).start()
    answer_deadline_passed.wait()
    with pytest.raises(QueryTimedOut):
        for _ in answer.chunks:
            pass


def test_an_answer_still_streaming_at_the_time_limit_is_broken_off_not_ended(real_build):
    """Over HTTP: past QUERY_TIMEOUT a streamed answer loses its last chunk, so the client
    sees an incomplete answer (http.client: IncompleteRead), never a clean end."""
    import http.client

    server = start_server(["--build", str(real_build), "-s", "QUERY_TIMEOUT", "2"])
    try:
        host, port = server.url.rsplit("/", 1)[-1].split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        endless = "SELECT * WHERE { ?a ?b ?c . ?d ?e ?f }"  # billions of rows
        connection.request("GET", "/sparql?" + urllib.parse.urlencode({"query": endless}),
                           headers={"Accept": "text/tab-separated-values"})
        response = connection.getresponse()
        assert response.status == 200 and response.getheader("Transfer-Encoding") == "chunked"
        with pytest.raises(http.client.IncompleteRead):
            while response.read(1 << 16):
                pass
        connection.close()
    finally:
        stop_server(server)
