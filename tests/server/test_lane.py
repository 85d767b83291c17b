"""The HTTP front's query lane (bjkg.server.runtime.lane) answers exactly as the Flask view.

The same request goes through the front twice — with the lane, and without it (the threaded
way through Flask) — and must give the same status, headers and body: answers in several
formats, conditional-GET validators, CORS, an error the engine reports (rendered as JSON
and as an HTML page), a query past its deadline, a query waiting for a slot. Requests the
lane leaves to Flask (an update, the editor page, a protocol error) are checked to be left.
"""
from __future__ import annotations

import asyncio
import threading
import time
import urllib.parse

import pytest

from bjkg.server.app import create_app
from bjkg.server.runtime.front import Front
from bjkg.server.runtime.lane import QueryLane

RUNAWAY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l . ?m ?n2 ?o }"
SELECT = "SELECT ?s ?p ?o WHERE { ?s ?p ?o } ORDER BY ?s ?p ?o LIMIT 7"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture(scope="module")
def served(tiny_build):
    app = create_app({"BUILD_DIR": str(tiny_build), "QUERY_TIMEOUT": 2, "CORS_ORIGIN": "https://example.org",
                      "CACHE_MAX_AGE": 60})
    lane = QueryLane(app)
    taken: list = []
    answer = lane.answer

    async def recorded(*args):
        result = await answer(*args)
        taken.append(result)
        return result

    lane.answer = recorded
    options = dict(query_threads=8, page_threads=2, body_timeout=5, max_body=1 << 20)
    yield Front(app, lane=lane, **options), Front(app, **options), taken
    app.extensions["bjkg"].store.close()


def call(front, method: str, target: str, body: bytes = b"", headers: dict | None = None):
    """(status, sorted headers, body) of one request through `front`."""
    path, _, query_string = target.partition("?")
    raw = [(b"host", b"localhost")] + [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    if body:
        raw.append((b"content-length", str(len(body)).encode()))
    scope = {"type": "http", "method": method, "path": path, "query_string": query_string.encode(),
             "root_path": "", "scheme": "http", "http_version": "1.1", "headers": raw,
             "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000)}
    sent: list = []

    async def run():
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive():
            if messages:
                return messages.pop()
            await asyncio.sleep(3600)

        async def send(message):
            sent.append(message)

        await front(scope, receive, send)

    asyncio.run(run())
    start = sent[0]
    content = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], sorted((k.decode(), v.decode()) for k, v in start["headers"]), content


def both(served, method, target, body=b"", headers=None):
    lane_front, flask_front, taken = served
    taken.clear()
    via_lane = call(lane_front, method, target, body, headers)
    lane_result = taken[-1] if taken else None
    via_flask = call(flask_front, method, target, body, headers)
    return via_lane, via_flask, lane_result


def get(query: str, **params) -> str:
    return "/sparql?" + urllib.parse.urlencode({"query": query, **params})


def form(query: str, **params) -> bytes:
    return urllib.parse.urlencode({"query": query, **params}).encode()


@pytest.mark.parametrize("method,target,body,headers", [
    ("POST", "/sparql", form(SELECT), {"Content-Type": FORM, "Accept": "application/sparql-results+json"}),
    ("GET", get(SELECT), b"", {"Accept": "text/csv"}),
    ("GET", get(SELECT, format="xml"), b"", {}),
    ("GET", get("CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o } LIMIT 5"), b"", {"Accept": "text/turtle"}),
    ("POST", "/sparql", b"ASK { ?s ?p ?o }", {"Content-Type": "application/sparql-query",
                                              "Accept": "application/sparql-results+xml"}),
    ("POST", "/sparql", form("SELECT (COUNT(*) AS ?n) WHERE { ?s a ?c }"), {"Content-Type": FORM}),
    ("GET", get(SELECT, **{"default-graph-uri": "https://w3id.org/bjkg/graph/ontology"}), b"",
     {"Accept": "application/sparql-results+json", "Origin": "https://example.org"}),
    # the engine refuses it (the lexer cannot): its error, as JSON
    ("GET", get("SELECT * WHERE { ?s ?p }"), b"", {"Accept": "application/json"}),
    # HTML accepted, but below the answer's format: the answer
    ("GET", get(SELECT), b"", {"Accept": "text/html;q=0.5, application/sparql-results+json"}),
])
def test_the_lane_answers_as_flask_does(served, method, target, body, headers):
    via_lane, via_flask, taken = both(served, method, target, body, headers)
    assert taken is not None, "the lane left this query to Flask"
    assert via_lane == via_flask
    assert via_lane[0] in (200, 400)


def test_a_query_past_its_deadline_gets_the_same_503(served):
    started = time.monotonic()
    via_lane, via_flask, taken = both(served, "GET", get(RUNAWAY), b"", {"Accept": "application/json"})
    assert taken is not None
    assert via_lane == via_flask
    assert via_lane[0] == 503 and ("retry-after", "5") in via_lane[1]
    assert time.monotonic() - started < 2 * 2 + 4  # each stopped at its deadline (2 s)


@pytest.mark.parametrize("method,target,body,headers", [
    ("GET", "/sparql", b"", {"Accept": "text/html"}),  # the editor
    # a browser opening a query's URL: its answer as a page (views/sparql.py, results_page) …
    ("GET", get(SELECT), b"", {"Accept": "text/html, application/sparql-results+json;q=0.9"}),
    ("GET", get(SELECT, format="html"), b"", {}),
    # … and the engine's refusal of a query as an HTML error page
    ("GET", get("SELECT * WHERE { ?s ?p }"), b"", {"Accept": "text/html, application/sparql-results+json;q=0.9"}),
    ("GET", "/sparql", b"", {"Accept": "text/turtle"}),  # the service description
    ("POST", "/sparql", urllib.parse.urlencode({"update": "INSERT DATA { <x:a> <x:b> <x:c> }"}).encode(),
     {"Content-Type": FORM}),
    ("GET", get(SELECT) + "&query=ASK%7B%7D", b"", {}),  # two queries: a protocol error
    ("GET", "/sparql?query=ASK%7B%3Fs%20%3Fp%20%22%B1%B1%22%7D", b"", {}),  # 北 in GBK: not UTF-8, 400
    ("POST", "/sparql", form(SELECT), {"Content-Type": "text/plain"}),
])
def test_what_the_lane_leaves_to_flask_is_answered_by_flask(served, method, target, body, headers):
    via_lane, via_flask, taken = both(served, method, target, body, headers)
    assert taken is None
    assert via_lane == via_flask


def test_a_refused_engine_function_is_a_400_and_no_fault_of_the_lane(served, caplog):
    """A bif: IRI is refused by the protocol's checks (as SERVICE is): the lane leaves it
    to Flask like any protocol error — it used to raise, log a traceback per request and
    then be answered again by Flask."""
    query = 'SELECT * WHERE { BIND(<bif:http_get>("http://example.org/") AS ?x) }'
    via_lane, via_flask, taken = both(served, "GET", get(query), b"", {"Accept": "application/json"})
    assert via_lane == via_flask and via_lane[0] == 400
    assert b"bif:" in via_lane[2]
    assert "query lane failed" not in caplog.text


def test_a_conditional_get_is_left_to_flask_and_gets_its_304(served):
    lane_front, _, taken = served
    status, headers, _ = call(lane_front, "GET", get(SELECT), headers={"Accept": "text/csv"})
    etag = dict(headers)["etag"]
    taken.clear()
    status, headers, body = call(lane_front, "GET", get(SELECT), headers={"Accept": "text/csv",
                                                                        "If-None-Match": etag})
    assert status == 304 and body == b"" and not taken


def test_a_query_that_must_wait_for_a_slot_waits_in_a_thread_and_answers_the_same(served, monkeypatch):
    """Every slot the client may take held: the lane hands the planned query to a thread,
    which queues it by the admission rules without planning it again (the string filters'
    rewrite can cost milliseconds); the answer is the one Flask gives."""
    lane_front, flask_front, taken = served
    store = lane_front.lane.store
    plans = []
    plan = store._plan
    monkeypatch.setattr(store, "_plan", lambda *a, **k: plans.append(1) or plan(*a, **k))
    holds = []
    while (held := store.pool.admission.enter_now("127.0.0.1")) is not None:
        holds.append(held)  # its share, and the idle slots it may borrow beyond it
    assert len(holds) >= store.pool.admission.client_slots
    release = threading.Timer(0.5, lambda: [store.pool.admission.leave(t) for t in holds])
    release.start()
    taken.clear()
    via_lane = call(lane_front, "POST", "/sparql", form(SELECT), {"Content-Type": FORM})
    assert taken and callable(taken[-1]) and not hasattr(taken[-1], "status_code")
    assert len(plans) == 1
    assert via_lane == call(flask_front, "POST", "/sparql", form(SELECT), {"Content-Type": FORM})
    assert via_lane[0] == 200


def test_the_fronts_own_errors_carry_the_security_headers_and_the_apps_origin(served):
    """A 413 (or 408, 415, 400, the queue's 503) answered by the front before the app: the
    same security headers and CORS origin as every answer of the app."""
    lane_front, _, _ = served
    status, headers, body = call(lane_front, "POST", "/sparql", b"x" * ((1 << 20) + 1),
                                 {"Content-Type": "application/sparql-query"})
    headers = dict(headers)
    assert status == 413 and b"larger than" in body
    assert headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["access-control-allow-origin"] == "https://example.org"  # CORS_ORIGIN, not "*"
