"""gunicorn's threaded worker, made to share clients fairly with the other workers.

`bjkg serve` limits the connections each HTTP worker holds (CONNECTIONS, gunicorn's
worker_connections) so that keep-alive clients spread over the workers instead of piling
onto the one that accepted first (bjkg.server.runtime.serve). A plain gthread worker at its limit stops
accepting and keeps its connections for as long as their clients keep sending: with more
clients than places, the ones left in the kernel's queue waited seconds (measured, 32
clients on 2 workers × 4 places: p99 1.2 s; 128 clients: timeouts).

This worker gives the place up when someone is waiting: while it is at its limit and a
client waits to be accepted, it closes the connection it has just answered, with
`Connection: close` in that answer (the client reconnects and queues like everyone else;
measured: 32 clients p99 65–98 ms, 128 clients ≈ 250 ms, no errors). An idle connection
is not closed early: its client may be sending on it at that moment (tried: wrk saw read
errors); it goes at the end of the keep-alive time (2 s).

And it takes no new client while every one of its threads has been answering one request
for more than LONG_REQUEST_SECONDS (a query running for seconds, not a page): with one
thread per worker, a client accepted then would wait behind that query (the runaway-query
test in tests/server/test_clients.py fails without this); another worker takes it, or it
waits in the queue until a thread here is free. Below its limit, with nobody waiting and
no thread held, it is gunicorn's gthread worker unchanged.

It extends gunicorn 27's ThreadWorker through `handle_request`, `accept`,
`set_accept_enabled` and the attributes `max_keepalived` (read for each answer),
`worker_connections` (read before each turn of the event loop), `nr_conns` and `sockets`;
hence the version range pinned in pyproject.toml.
"""
from __future__ import annotations

import select
import threading
import time

from gunicorn.workers.gthread import ThreadWorker

# A request answered for longer than this holds its thread "for long": a query, not a page.
LONG_REQUEST_SECONDS = 0.25


class BalancedThreadWorker(ThreadWorker):
    """gthread that lets a waiting client in when it is at its connection limit, and takes
    no new client while every one of its threads is held by a long request."""

    def __init__(self, *args, **kwargs) -> None:
        self._answering: dict[int, float] = {}  # thread → when it began its request
        super().__init__(*args, **kwargs)

    def handle_request(self, req, conn):
        """gunicorn's, noting when this thread started answering (see `_held_for_long`)."""
        self._answering[threading.get_ident()] = time.monotonic()
        try:
            return super().handle_request(req, conn)
        finally:
            self._answering.pop(threading.get_ident(), None)

    def accept(self, listener):
        """Accept, unless every thread is held by a long request: the client is better
        off with another worker, or in the queue until a thread here is free."""
        if self._held_for_long():
            self.set_accept_enabled(False)  # the loop enables it again once a thread is free
            return
        super().accept(listener)

    @property
    def worker_connections(self) -> int:
        """The limit gunicorn's loop compares the connections with before it accepts:
        reached, for now, while every thread is held by a long request."""
        if self._held_for_long():
            return min(self._worker_connections, getattr(self, "nr_conns", 0))
        return self._worker_connections

    @worker_connections.setter
    def worker_connections(self, value: int) -> None:
        self._worker_connections = value

    def _held_for_long(self) -> bool:
        """Every thread answering one request for more than LONG_REQUEST_SECONDS."""
        started = list(self._answering.values())  # one C call: safe beside the threads
        if len(started) < self.cfg.threads:
            return False
        now = time.monotonic()
        return all(now - at > LONG_REQUEST_SECONDS for at in started)

    @property
    def max_keepalived(self) -> int:
        """Idle keep-alive connections this worker may keep after an answer: none while
        it is full and a client waits (gunicorn then closes the answered connection)."""
        if self._full_and_wanted():
            return 0
        return self._max_keepalived

    @max_keepalived.setter
    def max_keepalived(self, value: int) -> None:
        self._max_keepalived = value

    def _full_and_wanted(self) -> bool:
        """At the connection limit, with a connection waiting on a listening socket."""
        if getattr(self, "nr_conns", 0) < getattr(self, "_worker_connections", 1 << 30):
            return False
        try:
            readable, _, _ = select.select(self.sockets, [], [], 0)
        except (OSError, ValueError):  # a socket closed while the worker stops
            return False
        return bool(readable)
