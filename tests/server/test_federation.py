"""Federation, opt-in: SERVICE reaches allow-listed endpoints only, with a timeout and a row limit.

The federated endpoint is a second bjkg instance on loopback (`live_server`, serving the
tiny build); a `Listener` stands for any other host and must see no connection. The
embedded engine's calls go through the relay (`bjkg.server.sparql.federation`), in build mode (query
worker processes) and in memory mode (in the server process) alike.
"""
from __future__ import annotations

import time
import urllib.error
import urllib.request

import pytest

from bjkg.server.app import create_app
from tests.server.conftest import BASE, close_app
from tests.server.fake_store import FakeStore, Reply
from tests.server.test_safety import Listener

TONGZHOU = f"{BASE}id/place/tongzhou"
LABEL = "http://www.w3.org/2000/01/rdf-schema#label"


def federating_app(mode: str, tiny_build, allowlist: str, **settings):
    base = {"BUILD_DIR": str(tiny_build), "QUERY_WORKERS": 1} if mode == "build" else {"EMPTY": True}
    return create_app({**base, "SERVICE_ALLOWLIST": allowlist, "TESTING": True, **settings})


def rows(response) -> list[dict]:
    assert response.status_code == 200, response.data
    return response.get_json()["results"]["bindings"]


@pytest.fixture
def listener():
    probe = Listener()
    yield probe
    probe.close()


@pytest.mark.parametrize("mode", ["build", "memory"])
def test_an_allow_listed_endpoint_answers(mode, live_server, tiny_build):
    app = federating_app(mode, tiny_build, live_server.sparql)
    try:
        query = f"SELECT ?label WHERE {{ SERVICE <{live_server.sparql}> {{ <{TONGZHOU}> <{LABEL}> ?label }} }}"
        labels = {row["label"]["value"] for row in rows(app.test_client().get("/sparql", query_string={"query": query}))}
        assert {"通州区", "通州區", "Tongzhou District"} <= labels
        assert app.extensions["bjkg"].relay.calls == 1
    finally:
        close_app(app)


@pytest.mark.parametrize("mode", ["build", "memory"])
def test_a_denied_endpoint_is_400_and_never_contacted(mode, live_server, tiny_build, listener):
    app = federating_app(mode, tiny_build, live_server.sparql)
    try:
        client = app.test_client()
        for query in (f"SELECT * WHERE {{ SERVICE <{listener.url}sparql> {{ ?s ?p ?o }} }}",
                      f"SELECT * WHERE {{ SERVICE <{live_server.sparql}> {{ ?s ?p ?o }} "
                      f"SERVICE SILENT <{listener.url}sparql> {{ ?s ?p ?o }} }}",
                      f"SELECT * WHERE {{ VALUES ?e {{ <{listener.url}> }} SERVICE ?e {{ ?s ?p ?o }} }}"):
            response = client.get("/sparql", query_string={"query": query})
            assert response.status_code == 400, query
            message = response.get_json()["error"]["message"]
            assert "SERVICE_ALLOWLIST" in message and "does not list it" in message
        assert listener.settle() == 0
        assert app.extensions["bjkg"].relay.calls == 0
    finally:
        close_app(app)


def test_rows_from_a_service_beyond_its_limit_fail_the_call(live_server, tiny_build):
    app = federating_app("build", tiny_build, live_server.sparql, SERVICE_MAX_ROWS=3)
    try:
        client = app.test_client()
        query = f"SELECT * WHERE {{ SERVICE <{live_server.sparql}> {{ ?s ?p ?o }} }}"
        failed = client.get("/sparql", query_string={"query": query})
        assert failed.status_code >= 400 and "SERVICE_MAX_ROWS" in failed.get_json()["error"]["message"]
        bounded = f"SELECT * WHERE {{ SERVICE <{live_server.sparql}> {{ SELECT * WHERE {{ ?s ?p ?o }} LIMIT 3 }} }}"
        assert len(rows(client.get("/sparql", query_string={"query": bounded}))) == 3
    finally:
        close_app(app)


@pytest.mark.parametrize("mode", ["build", "memory"])
def test_a_slow_service_is_cut_at_its_timeout(mode, tiny_build):
    slow = FakeStore(lambda seen: Reply(delay=5, headers={"Content-Type": "application/sparql-results+json"},
                                        chunks=[b'{"head":{"vars":[]},"results":{"bindings":[{}]}}']))
    app = federating_app(mode, tiny_build, slow.url, SERVICE_TIMEOUT=1)
    try:
        client = app.test_client()
        started = time.monotonic()
        failed = client.get("/sparql", query_string={"query": f"SELECT * WHERE {{ SERVICE <{slow.url}> {{ ?s ?p ?o }} }}"})
        assert failed.status_code >= 500
        assert "SERVICE_TIMEOUT" in failed.get_json()["error"]["message"]
        silent = client.get("/sparql", query_string={
            "query": f"SELECT * WHERE {{ SERVICE SILENT <{slow.url}> {{ ?s ?p ?o }} }}"})
        assert rows(silent) == [{}]  # SILENT: the failed call contributes one empty solution
        assert time.monotonic() - started < 4.5  # two calls, each cut at 1 s, not 5
    finally:
        close_app(app)
        slow.close()


def test_the_relay_serves_no_one_without_its_secret(live_server, tiny_build):
    app = federating_app("memory", tiny_build, live_server.sparql)
    try:
        relay = app.extensions["bjkg"].relay
        route = relay.route(live_server.sparql)
        wrong = route.rsplit("/", 2)[0] + "/not-the-secret/0?query=ASK%7B%7D"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(wrong, timeout=10)
        assert refused.value.code == 404
        assert relay.calls == 0
        with pytest.raises(ValueError):
            relay.route("http://127.0.0.1:9/sparql")  # never a route to an endpoint not listed
    finally:
        close_app(app)


def test_the_service_description_announces_federation(live_server, tiny_build):
    app = federating_app("build", tiny_build, live_server.sparql)
    try:
        assert b"BasicFederatedQuery" in app.test_client().get("/sparql", headers={"Accept": "text/turtle"}).data
    finally:
        close_app(app)
