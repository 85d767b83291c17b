"""Safety, proven: no outbound request on a client's behalf, and a hard query time limit.

A loopback listener stands in for "the network": SERVICE, FROM, dataset parameters, LOAD,
JSON-LD contexts and Graph Store IRIs all point at it, and it must receive no connection —
in build mode (query worker processes) and in the in-process writable mode. A positive
control shows the same listener *is* reached once its IRI is allow-listed, so silence means
refusal, not a broken listener.
"""
from __future__ import annotations

import socket
import threading
import time

import pytest

from bjkg.server.app import create_app
from tests.server.conftest import TOKEN, close_app

AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Listener:
    """A TCP listener on 127.0.0.1 that counts connection attempts."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(50)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def settle(self) -> int:
        time.sleep(0.3)
        return self.connections

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def listener():
    probe = Listener()
    yield probe
    probe.close()


def service_queries(url: str) -> list[str]:
    return [
        f"SELECT * WHERE {{ SERVICE <{url}sparql> {{ ?s ?p ?o }} }}",
        f"SELECT * WHERE {{ SERVICE SILENT <{url}sparql> {{ ?s ?p ?o }} }}",
        f"PREFIX : <{url}> SELECT * WHERE {{ SERVICE:sparql {{ ?s ?p ?o }} }}",
        f"SELECT * WHERE {{ SERVICESILENT <{url}sparql> {{ ?s ?p ?o }} }}",
        f"BASE <{url}> SELECT * WHERE {{ SERVICE <sparql> {{ ?s ?p ?o }} }}",
        f"ASK {{ ?s ?p ?o FILTER EXISTS {{ SERVICE <{url}sparql> {{ ?s ?p ?o }} }} }}",
        f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ SERVICE <{url}sparql> {{ ?s ?p ?o }} }}",
        f"SELECT * WHERE {{ VALUES ?e {{ <{url}sparql> }} SERVICE ?e {{ ?s ?p ?o }} }}",
        "SELECT * WHERE { SERVICE <http://127.0.0.1\\u003A" + url.split(":")[2].rstrip("/") + "/sparql> { ?s ?p ?o } }",
    ]


def dataset_requests(url: str) -> list[dict[str, str]]:
    return [
        {"query": f"SELECT * FROM <{url}data.ttl> WHERE {{ ?s ?p ?o }}"},
        {"query": f"SELECT * FROM NAMED <{url}data.ttl> WHERE {{ GRAPH ?g {{ ?s ?p ?o }} }}"},
        {"query": "SELECT * WHERE { ?s ?p ?o }", "default-graph-uri": f"{url}data.ttl"},
        {"query": "SELECT * WHERE { GRAPH ?g { ?s ?p ?o } }", "named-graph-uri": f"{url}data.ttl"},
    ]


@pytest.mark.parametrize("mode", ["build", "memory"])
def test_no_outbound_request_for_service_or_datasets(mode, listener, app, writable_client):
    client = app.test_client() if mode == "build" else writable_client
    for query in service_queries(listener.url):
        response = client.get("/sparql", query_string={"query": query})
        assert response.status_code == 400, query
        assert "SERVICE_ALLOWLIST" in response.get_json()["error"]["message"]
    for params in dataset_requests(listener.url):
        response = client.get("/sparql", query_string=params)
        assert response.status_code == 200, params
        assert response.get_json()["results"]["bindings"] == []
    assert listener.settle() == 0


def test_no_outbound_request_for_load_service_in_updates_jsonld_contexts_or_gsp(listener, writable_client):
    url = listener.url
    for text in (f"LOAD <{url}data.ttl>", f"LOAD SILENT <{url}data.ttl> INTO GRAPH <http://g>",
                 f"INSERT {{ ?s ?p ?o }} WHERE {{ SERVICE <{url}sparql> {{ ?s ?p ?o }} }}"):
        response = writable_client.post("/sparql", data=text, content_type="application/sparql-update", headers=AUTH)
        assert response.status_code == 400, text
    context = f'{{"@context": "{url}context.jsonld", "@id": "http://example.org/a", "name": "x"}}'
    response = writable_client.put("/graph-store?graph=http://example.org/g", data=context,
                                   content_type="application/ld+json", headers=AUTH)
    assert response.status_code == 400
    assert writable_client.get(f"/graph-store?graph={url}graph").status_code == 404
    assert listener.settle() == 0


def test_positive_control_the_allow_list_opens_exactly_that_door(listener):
    app = create_app({"EMPTY": True, "SERVICE_ALLOWLIST": f"{listener.url}sparql", "TESTING": True})
    try:
        client = app.test_client()
        refused = client.get("/sparql", query_string={"query": "SELECT * { SERVICE <http://127.0.0.1:9/x> { ?s ?p ?o } }"})
        assert refused.status_code == 400 and "does not list it" in refused.get_json()["error"]["message"]
        assert listener.settle() == 0
        response = client.get("/sparql", query_string={
            "query": f"SELECT * WHERE {{ SERVICE SILENT <{listener.url}sparql> {{ ?s ?p ?o }} }}"})
        assert response.status_code == 200
        assert listener.settle() >= 1
        description = client.get("/sparql")
        assert b"BasicFederatedQuery" in description.data
    finally:
        close_app(app)


def test_query_workers_have_no_network_where_the_kernel_allows(app):
    store = app.extensions["bjkg"].store
    store.pool.start()
    if not store.pool.network_isolated:
        pytest.skip("this kernel does not allow an unprivileged network namespace")
    assert store.pool.network_isolated is True


# --------------------------------------------------------------------------- time limit

RUNAWAY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l . ?m ?n2 ?o }"
SIMPLE = "ASK { ?s ?p ?o }"


@pytest.fixture(scope="module")
def short_limit_app(tiny_build):
    application = create_app({"BUILD_DIR": str(tiny_build), "QUERY_TIMEOUT": 2, "QUERY_WORKERS": 2,
                              "QUERY_CLIENT_SLOTS": 2,  # one client (the test client) uses both
                              "TESTING": True})
    application.extensions["bjkg"].store.pool.start()
    yield application
    close_app(application)


def test_a_runaway_query_is_stopped_while_other_requests_are_answered(short_limit_app):
    """The runaway never yields a row; it must end with 503 at the limit, and a simple query
    sent after it must be answered first (the server stays responsive meanwhile)."""
    finished: dict[str, float] = {}
    results: dict[str, object] = {}

    def run(name: str, query: str) -> None:
        response = short_limit_app.test_client().get("/sparql", query_string={"query": query})
        finished[name] = time.monotonic()
        results[name] = response

    started = time.monotonic()
    runaway = threading.Thread(target=run, args=("runaway", RUNAWAY))
    runaway.start()
    time.sleep(0.3)  # the runaway is now evaluating in a worker
    run("simple", SIMPLE)
    runaway.join(timeout=60)
    assert not runaway.is_alive()

    assert results["simple"].status_code == 200
    assert results["runaway"].status_code == 503
    assert "QUERY_TIMEOUT" in results["runaway"].get_json()["error"]["message"]
    assert finished["simple"] < finished["runaway"]
    assert finished["runaway"] - started >= 1.5  # it really ran until the limit …
    assert finished["runaway"] - started < 2 + 30  # … and was stopped there, not left to finish

    # the killed worker is replaced: the pool keeps serving, repeatedly
    for _ in range(4):
        assert short_limit_app.test_client().get("/sparql", query_string={"query": SIMPLE}).status_code == 200


def test_two_runaways_at_once_do_not_wedge_the_pool(short_limit_app):
    threads = [threading.Thread(target=lambda: short_limit_app.test_client().get(
        "/sparql", query_string={"query": RUNAWAY})) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        response = short_limit_app.test_client().get("/sparql", query_string={"query": SIMPLE})
        if response.status_code == 200:
            break
    assert response.status_code == 200


def test_a_prefix_that_reads_as_service_is_refused_with_the_word_named(client):
    """``service:a`` is a prefixed name to SPARQL but SERVICE followed by ``:a`` to the engine
    (no space needed after a keyword): refused like any SERVICE, and the message names the
    word and says to rename it, instead of an unexplained SERVICE."""
    response = client.get("/sparql", query_string={
        "query": "PREFIX service: <http://example.org/> SELECT ?x WHERE { BIND(service:a AS ?x) }"})
    assert response.status_code == 400
    message = response.get_json()["error"]["message"]
    assert "`service:a`" in message and "rename" in message and "SERVICE_ALLOWLIST" in message
    long = client.get("/sparql", query_string={"query": "SELECT * WHERE { BIND(x" + "a" * 5000 + "service AS ?x) }"})
    assert long.status_code == 400 and len(long.get_json()["error"]["message"]) < 500
    plain = client.get("/sparql", query_string={"query": "SELECT * WHERE { SERVICE <http://example.org/s> { ?s ?p ?o } }"})
    assert plain.status_code == 400 and "written" not in plain.get_json()["error"]["message"]


@pytest.mark.parametrize("path, params, headers", [
    ("/sparql", {"query": "ASK {}", "default-graph-uri": "not an iri " + "x" * 20000}, {}),
    ("/sparql", {"query": "ASK {}", "format": "x" * 20000}, {}),
    ("/sparql", {"query": "ASK {}"}, {"Accept": "foo/" + "x" * 20000}),
    ("/class", {"iri": "http://example.org/" + "x" * 20000}, {}),
    ("/graph-store", {"graph": "http://example.org/" + "x" * 20000}, {"Accept": "text/turtle"}),
    ("/id/" + "x" * 20000, {}, {}),
    ("/id/place/tongzhou", {"page": "x" * 20000}, {}),
])
def test_an_error_repeats_a_long_value_of_the_client_shortened(client, path, params, headers):
    """A 4xx names the value it refuses, but a 20,000-character value is shown by its start
    and end, not echoed whole (in JSON, HTML or text alike)."""
    response = client.get(path, query_string=params, headers={"Accept": "application/json", **headers})
    assert 400 <= response.status_code < 500
    message = response.get_json()["error"]["message"]
    assert "xxxxxxxxxx…xxxxxxxxxx" in message and len(message) < 1000, message[:300]


def test_the_404_page_of_a_long_iri_repeats_it_only_in_its_links(client):
    """The page for a missing resource links the same URL in each language (it must, whole),
    but shows the IRI shortened and suggests a search for at most what search reads."""
    path = "/id/" + "x" * 20000
    response = client.get(path, headers={"Accept": "text/html"})
    assert response.status_code == 404
    body = response.get_data(as_text=True)
    assert body.count("x" * 20000) == body.count(f'href="{path}?lang=')  # the language links only
    assert 'href="/search?q=' + "x" * 200 + '"' in body
