"""Queries evaluated in the HTTP worker process itself, with a hard time limit all the same.

Handing each query to a separate query worker process (`bjkg.server.sparql.workers`) costs a process
hop per query — on a small virtual machine two wake-ups and about half a millisecond,
more than a typical lookup takes to evaluate. When the server runs under gunicorn
(`bjkg serve`), the HTTP worker process can be the sandbox instead: gunicorn runs several of
them over the one read-only store, and restarts any that exits. So with QUERY_MODE=inline a
query is evaluated in the thread that received the request, and a watchdog thread holds
the time limit:

* every inline evaluation registers its deadline and how to answer its client (the request's
  socket, which gunicorn puts in the WSGI environ, and a pre-rendered 503);
* at the deadline the watchdog writes the 503 on that socket and closes it, so the client
  gets the same answer as from the query worker pool;
* pyoxigraph cannot interrupt a running query, so the process is then retired: it stops
  accepting connections, lets its other requests finish (up to the graceful timeout) and
  exits; gunicorn starts a fresh worker while the other workers go on serving.

Where there is no gunicorn worker to retire (the Flask test client, `--get`), `bjkg`
uses the query worker pool instead (QUERY_MODE=auto), so a runaway query is always ended.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("bjkg.inline")

_TICK = 0.05  # how often the watchdog looks at the deadlines


@dataclass
class _Guarded:
    deadline: float
    expire: Callable[[], None] | None
    thread: int = field(default_factory=threading.get_ident)
    expired: bool = False


class Watchdog:
    """The deadlines of the inline evaluations of one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._guarded: dict[int, _Guarded] = {}
        self._next = 0
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self.retiring = False
        self.requests_in_flight = 0  # counted by the app (bjkg.server.web.extension), for draining

    def request_started(self) -> None:
        with self._lock:
            self.requests_in_flight += 1

    def request_finished(self) -> None:
        with self._lock:
            self.requests_in_flight -= 1

    def watch(self, timeout: float, expire: Callable[[], None] | None) -> int:
        """Register an evaluation; `expire` answers its client when the deadline passes."""
        with self._lock:
            self._next += 1
            token = self._next
            self._guarded[token] = _Guarded(time.monotonic() + timeout, expire)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="bjkg-watchdog", daemon=True)
                self._thread.start()
        return token

    def status_sent(self, token: int) -> None:
        """The evaluation's answer has started (a streamed answer): at the deadline the
        watchdog may no longer write a 503 on its socket, only retire the process."""
        with self._lock:
            entry = self._guarded.get(token)
            if entry is not None:
                entry.expire = None

    def done(self, token: int) -> bool:
        """Unregister; True if the evaluation had already been answered with a 503."""
        with self._lock:
            entry = self._guarded.pop(token, None)
        return bool(entry and entry.expired)

    def _run(self) -> None:
        while True:
            time.sleep(_TICK)
            now = time.monotonic()
            with self._lock:
                overdue = [e for e in self._guarded.values() if not e.expired and e.deadline <= now]
                for entry in overdue:
                    entry.expired = True
            for entry in overdue:
                if entry.expire is not None:
                    try:
                        entry.expire()
                    except Exception:  # noqa: BLE001 - the client may be gone; retiring matters more
                        log.exception("could not answer a timed-out query")
            if overdue:
                self._retire()

    def _retire(self) -> None:
        """Stop taking requests, let the others finish, and exit (gunicorn starts a new worker)."""
        if self.retiring:
            return
        self.retiring = True
        worker = _gunicorn_worker
        if worker is None:
            log.error("a query ran past QUERY_TIMEOUT in QUERY_MODE=inline outside gunicorn; "
                      "it cannot be stopped and keeps running")
            return
        log.warning("a query ran past QUERY_TIMEOUT: retiring HTTP worker %s", os.getpid())
        worker.alive = False
        grace = float(getattr(getattr(worker, "cfg", None), "graceful_timeout", 10) or 10)
        limit = time.monotonic() + grace
        while time.monotonic() < limit:
            with self._lock:
                overdue = sum(1 for e in self._guarded.values() if e.expired)
                others = self.requests_in_flight - overdue  # requests still being answered
            if others <= 0:
                break
            time.sleep(_TICK)
        time.sleep(0.2)  # let the last responses leave
        os._exit(0)


_watchdog: Watchdog | None = None
_gunicorn_worker = None  # set by the gunicorn post_worker_init hook (bjkg.server.runtime.serve)


def watchdog() -> Watchdog:
    """This process's watchdog (a forked child gets its own)."""
    global _watchdog
    if _watchdog is None or _watchdog._pid != os.getpid():
        _watchdog = Watchdog()
    return _watchdog


def set_gunicorn_worker(worker) -> None:
    global _gunicorn_worker
    _gunicorn_worker = worker


def under_gunicorn() -> bool:
    return _gunicorn_worker is not None


# ---------------------------------------------------------------- answering a timed-out client

_local = threading.local()


def set_responder(responder: Callable[[], None] | None) -> None:
    """The current request's way to answer 503 from the watchdog (None: cannot)."""
    _local.responder = responder


def current_responder() -> Callable[[], None] | None:
    return getattr(_local, "responder", None)


def socket_responder(sock: socket.socket, render: Callable[[], bytes]) -> Callable[[], None]:
    """Write the bytes `render()` makes on `sock` (a complete HTTP response), then close it."""

    def respond() -> None:
        data = render()
        try:
            sock.sendall(data)
        finally:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    return respond
