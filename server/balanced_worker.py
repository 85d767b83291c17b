"""gunicorn's threaded worker, made to share clients fairly with the other workers.

`bjkg serve` limits the connections each HTTP worker holds (CONNECTIONS, gunicorn's
worker_connections) so that keep-alive clients spread over the workers instead of piling
onto the one that accepted first (server.serve). A plain gthread worker at its limit stops
accepting and keeps its connections for as long as their clients keep sending: with more
clients than places, the ones left in the kernel's queue waited seconds (measured, 32
clients on 2 workers × 4 places: p99 1.2 s; 128 clients: timeouts).

This worker gives the place up when someone is waiting: while it is at its limit and a
client waits to be accepted, it closes the connection it has just answered, with
`Connection: close` in that answer (the client reconnects and queues like everyone else;
measured: 32 clients p99 65–98 ms, 128 clients ≈ 250 ms, no errors). Below the limit, or
with nobody waiting, it is gunicorn's gthread worker unchanged. An idle connection is not
closed early: its client may be sending on it at that moment (tried: wrk saw read
errors); it goes at the end of the keep-alive time (2 s).

It uses attributes of gunicorn 27's ThreadWorker (`max_keepalived`, read for each answer;
`nr_conns`, `worker_connections`, `sockets`), hence the version range pinned in
pyproject.toml.
"""
from __future__ import annotations

import select

from gunicorn.workers.gthread import ThreadWorker


class BalancedThreadWorker(ThreadWorker):
    """gthread that lets a waiting client in when it is at its connection limit."""

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
        if getattr(self, "nr_conns", 0) < getattr(self, "worker_connections", 1 << 30):
            return False
        try:
            readable, _, _ = select.select(self.sockets, [], [], 0)
        except (OSError, ValueError):  # a socket closed while the worker stops
            return False
        return bool(readable)
