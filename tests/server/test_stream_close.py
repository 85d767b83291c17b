"""A streamed answer that is never read — a HEAD request, a client gone before the body —
still ends: the engine is stopped and the inline watchdog released, once.

Found by `bench/fuzz.py`: a HEAD on a long answer left its watchdog entry behind (a
generator that never started runs no `finally`), so QUERY_TIMEOUT later the HTTP worker was
retired as if a query had run away — any client could recycle the workers at will.
"""
from __future__ import annotations

import time

import pyoxigraph

from bjkg.server.sparql.evaluate import QueryRequest, stream

ALL = "SELECT * WHERE { ?s ?p ?o }"


def _store(n: int = 5000) -> pyoxigraph.Store:
    store = pyoxigraph.Store()
    store.extend(pyoxigraph.Quad(pyoxigraph.NamedNode(f"http://example.org/s{i}"),
                                 pyoxigraph.NamedNode("http://example.org/p"),
                                 pyoxigraph.Literal("x" * 100), pyoxigraph.DefaultGraph())
                 for i in range(n))
    return store


def _streamed(ends: list) -> object:
    request = QueryRequest(sparql=ALL, results_format="text/tab-separated-values")
    answer = stream(_store(), request, deadline=time.monotonic() + 60,
                    on_end=lambda: ends.append(time.monotonic()))
    assert answer.chunks is not None  # ≈ 0.6 MB: streamed
    return answer


def test_closing_an_unread_stream_ends_it_once():
    ends: list = []
    answer = _streamed(ends)
    answer.chunks.close()  # what the HTTP response does after a HEAD
    answer.chunks.close()
    assert len(ends) == 1


def test_closing_a_stream_read_in_part_or_in_full_ends_it_once():
    ends: list = []
    answer = _streamed(ends)
    next(answer.chunks)
    answer.chunks.close()
    assert len(ends) == 1
    ends.clear()
    answer = _streamed(ends)
    assert b"".join(answer.chunks).count(b"\n") == 5001
    answer.chunks.close()
    assert len(ends) == 1


def test_a_head_request_over_flask_closes_the_stream(tmp_path):
    """Through Werkzeug's response, as gunicorn drives it: HEAD sends no body, yet the
    answer is closed."""
    from flask import Flask, Response

    ends: list = []
    app = Flask(__name__)

    @app.route("/", methods=["GET"])
    def view():
        return Response(_streamed(ends).content(), mimetype="text/plain")

    client = app.test_client()
    answer = client.head("/")
    answer.close()
    assert answer.status_code == 200 and answer.get_data() == b""
    assert len(ends) == 1
