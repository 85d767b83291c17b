"""The remote backend's own rules, against a scripted store (no Virtuoso needed).

What reaches the store (only parsed, standard SPARQL; the dataset restricted to the
publication's graphs; bound variables as terms; DESCRIBE as CONSTRUCT; a BASE), and how
its answers are read (limits, deadlines, partial answers, Virtuoso's term quirks).
"""
from __future__ import annotations

import socket
import threading
import time

import pyoxigraph
import pytest
from pyoxigraph import Literal, NamedNode, QueryResultsFormat

from bjkg.server.sparql.evaluate import QueryFailed, QueryTimedOut
from bjkg.server.stores.remote import EMPTY_GRAPH, PROBE_SECONDS, Endpoints, RemoteStore, parse_only
from bjkg.server.sparql.workers import StoreUnavailable
from tests.server.fake_store import FakeStore, Reply, json_results

G1, G2 = "https://w3id.org/bjkg/graph/a", "https://w3id.org/bjkg/graph/b"
JSON = {"Content-Type": "application/sparql-results+json"}
XSD = "http://www.w3.org/2001/XMLSchema#"


ASK_TRUE = Reply(headers=JSON, chunks=[b'{"head":{},"boolean":true}'])


def rows_reply(n: int, **extra) -> Reply:
    rows = [{"x": ("uri", f"http://example.org/{i}", {})} for i in range(n)]
    return Reply(headers={**JSON, **extra.pop("headers", {})}, chunks=[json_results(["x"], rows)], **extra)


@pytest.fixture
def fake():
    stores = []

    def make(reply) -> FakeStore:
        store = FakeStore(reply)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


def remote(fake_store: FakeStore, **options) -> RemoteStore:
    return RemoteStore(Endpoints(fake_store.url), timeout=options.pop("timeout", 5),
                       max_rows=options.pop("max_rows", 100), graphs=options.pop("graphs", (G1, G2)),
                       **options)


# --------------------------------------------------------------------------- what is sent

def test_the_dataset_is_restricted_to_the_published_graphs(fake):
    store = fake(lambda seen: rows_reply(1))
    backend = remote(store)
    backend.query("SELECT ?x WHERE { ?x ?p ?o }")
    union = store.requests[-1].form
    assert union["default-graph-uri"] == [G1, G2] and union["named-graph-uri"] == [G1, G2]
    backend.query("SELECT ?x FROM <http://elsewhere/g> FROM NAMED <%s> WHERE { ?x ?p ?o }" % G2)
    sent = store.requests[-1].form
    assert sent["default-graph-uri"] == [EMPTY_GRAPH] and sent["named-graph-uri"] == [G2]
    assert "FROM" not in sent["query"][0]  # the store gets the dataset once, as parameters
    backend.query("SELECT ?x WHERE { ?x ?p ?o }", use_union=False)
    assert store.requests[-1].form["default-graph-uri"] == [EMPTY_GRAPH]


def test_bound_variables_base_and_describe(fake):
    store = fake(lambda seen: rows_reply(1) if "SELECT" in seen.form["query"][0].split("WHERE")[0]
                 else Reply(headers={"Content-Type": "application/n-triples"}, chunks=[b""]))
    backend = remote(store)
    backend.query("SELECT ?s ?o WHERE { ?s ?p ?o }", substitutions={"s": NamedNode("http://example.org/a\u00e9")},
                  base_iri="https://w3id.org/bjkg/")
    text = store.requests[-1].form["query"][0]
    assert text.startswith("BASE <https://w3id.org/bjkg/>")
    assert "<http://example.org/a\u00e9> ?p ?o" in text and "VALUES (?s)" in text
    backend.query("DESCRIBE <http://example.org/a>")
    sent = store.requests[-1].form["query"][0]
    assert "CONSTRUCT" in sent and "DESCRIBE" not in sent


@pytest.mark.parametrize("query", [
    "SELECT (<bif:http_get>('http://127.0.0.1:9/') AS ?x) {}",
    "PREFIX b: <bif:> SELECT (b:http_get('x') AS ?x) {}",
    "SELECT * WHERE { SERVICE <http://127.0.0.1:9/sparql> { ?s ?p ?o } }",
    "DEFINE input:grab-all \"yes\" SELECT * WHERE { ?s ?p ?o }",  # engine pragmas are not SPARQL
    "SELECT * WHERE { ?s ?p ",
])
def test_unsafe_or_invalid_queries_never_reach_the_store(fake, query):
    store = fake(lambda seen: rows_reply(1))
    with pytest.raises(QueryFailed) as refused:
        remote(store).query(query)
    assert refused.value.status == 400
    assert store.requests == []


def test_parse_only_evaluates_nothing():
    """Pins the pyoxigraph behaviour `parse_only` relies on: options are checked after parsing."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    parser = pyoxigraph.Store()
    started = time.monotonic()
    parse_only(parser, f"ASK {{ SERVICE <http://127.0.0.1:{port}/sparql> {{ ?s ?p ?o }} }}", None)
    values = " ".join(str(i) for i in range(300))
    parse_only(parser, "ASK { " + " ".join(f"VALUES ?v{k} {{ {values} }}" for k in range(6))
               + " FILTER(false) }", None)  # 300^6 rows if it were evaluated
    assert time.monotonic() - started < 2
    with pytest.raises(socket.timeout):
        listener.accept()
    listener.close()
    with pytest.raises(QueryFailed, match="syntax error"):
        parse_only(parser, "ASK {", None)


# --------------------------------------------------------------------------- what comes back

def test_rows_beyond_max_rows_are_an_error_not_a_cut_answer(fake):
    store = fake(lambda seen: rows_reply(500))
    with pytest.raises(QueryFailed, match="MAX_ROWS") as raised:
        remote(store, max_rows=10).query("SELECT ?x WHERE { ?x ?p ?o }",
                                         results_format="application/sparql-results+json")
    assert raised.value.status == 400
    del raised  # its traceback holds the engine's objects: free them in this thread
    whole = remote(fake(lambda seen: rows_reply(500)), max_rows=0).query(
        "SELECT ?x WHERE { ?x ?p ?o }", results_format="application/sparql-results+json")
    assert len(list(pyoxigraph.parse_query_results(whole.body, QueryResultsFormat.JSON))) == 500


@pytest.mark.parametrize("media_type, parse", [
    ("application/sparql-results+json", QueryResultsFormat.JSON),
    ("application/sparql-results+xml", QueryResultsFormat.XML),
    ("text/tab-separated-values", QueryResultsFormat.TSV),
    ("text/csv", None)])
def test_a_long_answer_without_a_row_limit_is_passed_on_whole_as_it_arrives(fake, media_type, parse):
    store = fake(lambda seen: rows_reply(20_000))
    answer = remote(store, max_rows=0).query("SELECT ?x WHERE { ?x ?p ?o }", results_format=media_type)
    assert answer.chunks is not None  # streamed: more than one chunk
    body = b"".join(answer.chunks)
    if parse is None:
        lines = body.decode().splitlines()
        assert lines[0] == "x" and len(lines) == 20_001 and lines[-1] == "http://example.org/19999"
    else:
        values = [row["x"].value for row in pyoxigraph.parse_query_results(body, parse)]
        assert values == [f"http://example.org/{i}" for i in range(20_000)]


def test_a_streamed_answer_the_store_cut_ends_in_an_error(fake):
    store = fake(lambda seen: rows_reply(20_000, headers={"X-SPARQL-MaxRows": "20000"}))
    answer = remote(store, max_rows=0).query("SELECT ?x WHERE { ?x ?p ?o }",
                                             results_format="application/sparql-results+json")
    with pytest.raises(QueryFailed, match="own row limit"):
        b"".join(answer.chunks)


def test_a_store_that_cut_its_answer_is_an_error(fake):
    store = fake(lambda seen: rows_reply(5, headers={"X-SPARQL-MaxRows": "5"}))
    with pytest.raises(QueryFailed, match="own row limit") as raised:
        remote(store).query("SELECT ?x WHERE { ?x ?p ?o }", results_format="application/sparql-results+json")
    assert raised.value.status == 502
    del raised  # its traceback holds the engine's objects: free them in this thread


def test_a_partial_anytime_answer_is_a_timeout(fake):
    store = fake(lambda seen: rows_reply(3, headers={"X-SQL-State": "S1TAT"}))
    with pytest.raises(QueryTimedOut):
        remote(store).query("SELECT ?x WHERE { ?x ?p ?o }")


@pytest.mark.parametrize("reply", [
    rows_reply(1, delay=3),  # silent until after the deadline
    Reply(headers=JSON, chunks=[b'{"head":{"vars":["x"]},"results":{"bindings":[']
          + [b'{"x":{"type":"uri","value":"http://a"}},'] * 20 + [b"]}}"], gap=0.3),  # trickles
])
def test_the_time_limit_is_an_overall_deadline(fake, reply):
    store = fake(lambda seen: ASK_TRUE if seen.form["query"] == ["ASK {}"] else reply)  # alive, the query slow
    started = time.monotonic()
    with pytest.raises(QueryTimedOut):
        remote(store, timeout=1).query("SELECT ?x WHERE { ?x ?p ?o }")
    assert time.monotonic() - started < 2.5


def test_a_store_that_does_not_respond_is_not_the_querys_fault(fake):
    """A frozen store (every request silent) is told apart from a slow query by a probe
    (``ASK {}``): a 503 saying the store does not respond, not "make your query more
    selective"; and for a while later queries find out at once instead of waiting."""
    store = fake(lambda seen: rows_reply(1, delay=8))
    backend = remote(store, timeout=1)
    with pytest.raises(StoreUnavailable, match="does not respond") as down:
        backend.query("ASK {}")
    assert "selective" not in str(down.value)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="does not respond"):
        backend.query("SELECT ?x WHERE { ?x ?p ?o }")
    assert time.monotonic() - started < PROBE_SECONDS + 0.5  # the probe's time, not the query's


def test_store_failures_are_ours_to_explain(fake):
    store = fake(lambda seen: Reply(status=500, headers={"Content-Type": "text/plain"},
                                    chunks=[b"Virtuoso 42000 Error SR186: out of memory"]))
    with pytest.raises(QueryFailed) as failed:
        remote(store).query("ASK { ?s ?p ?o }")
    assert failed.value.status == 502 and "out of memory" in failed.value.message
    store = fake(lambda seen: Reply(status=500, headers={"Content-Type": "text/plain"},
                                    chunks=[b"Virtuoso 42001 Error SR185: Undefined procedure DB.DBA.urn:f."]))
    with pytest.raises(QueryFailed) as failed:  # a query it cannot compile: the client's fault
        remote(store).query("ASK { FILTER(<urn:f>()) }")
    assert failed.value.status == 400 and "SR185" in failed.value.message
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now
    closed = RemoteStore(Endpoints(f"http://127.0.0.1:{port}/sparql"), timeout=2, max_rows=10, graphs=(G1,))
    with pytest.raises(StoreUnavailable):
        closed.query("ASK { ?s ?p ?o }")


def test_virtuoso_terms_read_as_the_embedded_store_gives_them(fake):
    rows = [{"b": ("literal", "1", {"datatype": XSD + "boolean"}),
             "n": ("literal", "42", {"datatype": XSD + "integer"}),
             "l": ("literal", "通州区", {"xml:lang": "zh-Hans"})}]
    store = fake(lambda seen: Reply(headers=JSON, chunks=[json_results(["b", "n", "l"], rows, typed=True)]))
    row = remote(store).query("SELECT ?b ?n ?l WHERE { ?s ?p ?o }").bindings()[0]
    assert row["b"] == Literal("true", datatype=NamedNode(XSD + "boolean"))
    assert row["n"] == Literal("42", datatype=NamedNode(XSD + "integer"))
    assert row["l"] == Literal("通州区", language="zh-hans")


def test_queries_run_concurrently(fake):
    store = fake(lambda seen: rows_reply(1, delay=0.5))
    backend = remote(store)
    threads = [threading.Thread(target=backend.query, args=("SELECT ?x WHERE { ?x ?p ?o }",)) for _ in range(4)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.monotonic() - started < 1.5 and len(store.requests) == 4
