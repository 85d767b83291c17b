"""The HTTP worker's rule for giving its place to a waiting client (bjkg.server.runtime.balanced_worker)."""
from __future__ import annotations

import socket

import pytest

from bjkg.server.runtime.balanced_worker import BalancedThreadWorker


@pytest.fixture
def listener():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock
    sock.close()


def _worker(listener, *, connections: int, limit: int = 4, keep: int = 2) -> BalancedThreadWorker:
    worker = object.__new__(BalancedThreadWorker)  # the rule only, without a gunicorn arbiter
    worker._answering = {}
    worker.sockets = [listener]
    worker.worker_connections = limit
    worker.nr_conns = connections
    worker.max_keepalived = keep
    return worker


def test_keeps_its_idle_connections_when_nobody_waits(listener):
    assert _worker(listener, connections=4).max_keepalived == 2
    assert _worker(listener, connections=1).max_keepalived == 2


def test_gives_a_place_up_only_when_full_and_a_client_waits(listener):
    waiting = socket.create_connection(listener.getsockname())
    try:
        assert _worker(listener, connections=4).max_keepalived == 0  # full: close after answering
        assert _worker(listener, connections=3).max_keepalived == 2  # room: it will accept it
        accepted, _ = listener.accept()
        accepted.close()
        assert _worker(listener, connections=4).max_keepalived == 2  # nobody waits any more
    finally:
        waiting.close()


def test_a_closed_listener_counts_as_nobody_waiting(listener):
    worker = _worker(listener, connections=4)
    listener.close()
    assert worker.max_keepalived == 2


class _Config:
    threads = 1


def test_takes_no_new_client_while_its_thread_is_held_by_a_long_request(listener, monkeypatch):
    import threading

    from bjkg.server.runtime import balanced_worker

    worker = _worker(listener, connections=1)
    worker.cfg = _Config()
    assert worker.worker_connections == 4  # idle: room for four
    now = [1000.0]
    monkeypatch.setattr(balanced_worker.time, "monotonic", lambda: now[0])
    worker._answering = {threading.get_ident(): now[0]}
    assert worker.worker_connections == 4  # a request just started: a page, most likely
    now[0] += balanced_worker.LONG_REQUEST_SECONDS + 0.01
    assert worker.worker_connections == 1  # held for long: full for now, accepts nothing
    worker.cfg.threads = 2
    assert worker.worker_connections == 4  # another thread is free
    worker._answering = {}
    assert worker.worker_connections == 4
