"""A pool of query worker processes over the read-only store, with a hard time limit.

pyoxigraph evaluates a query in native code that Python cannot interrupt, and some queries
never yield a first row. So every query of a build runs in a child process that opened the
read-only store once; the server waits for the answer until the deadline and otherwise
kills that child (SIGKILL) and starts a replacement in the background. The HTTP thread is
free at once, and the other workers keep answering meanwhile.

Children are fresh interpreters (``python -m bjkg.server.sparql.workers STORE``), not forks of a
threaded server, and talk to the server over their stdin/stdout with pickled frames.
A child ends itself when its parent goes away (a watchdog thread; pyoxigraph releases the
GIL while it evaluates). When no SERVICE endpoint is allow-listed, a child also moves into
an empty network namespace where the kernel permits it: a second, independent guarantee
that a query can make no outbound connection (the first is the SERVICE check in
`bjkg.server.sparql.text`).
"""
from __future__ import annotations

import ctypes
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler

from bjkg.server.sparql.evaluate import QueryAnswer, QueryFailed, QueryRequest, QueryTimedOut, evaluate

log = logging.getLogger("bjkg.workers")

_CLONE_NEWNET = 0x40000000
_CLONE_NEWUSER = 0x10000000


class PoolBusy(Exception):
    """Every worker stayed busy until the request's deadline."""


class WorkerCrashed(Exception):
    """A worker died while answering (e.g. killed for memory); it has been replaced."""


class StoreUnavailable(Exception):
    """A worker could not open the store; the message says why."""


# --------------------------------------------------------------------------- child side

def _isolate_network() -> bool:
    """Enter a fresh network namespace (no interface up). True if the kernel allowed it."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return False
    if libc.unshare(_CLONE_NEWNET) == 0:
        return True
    return libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) == 0


def _watch_parent(parent_pid: int) -> None:
    """End this process as soon as the server that started it is gone."""
    while True:
        if os.getppid() != parent_pid:
            os._exit(3)
        time.sleep(0.5)


def worker_main(store_path: str, parent_pid: int, isolate: bool) -> None:
    """Child process: open the store once, then answer requests until stdin closes."""
    import signal

    import pyoxigraph

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the server, which ends us
    reader = Connection(os.dup(0), writable=False)
    writer = Connection(os.dup(1), readable=False)
    os.dup2(2, 1)  # stray prints go to stderr, never into the protocol stream
    isolated = _isolate_network() if isolate else False  # while still single-threaded
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    try:
        store = pyoxigraph.Store.read_only(store_path)
    except OSError as exc:
        writer.send(("fatal", f"cannot open the store at {store_path}: {exc}"))
        return
    writer.send(("ready", {"pid": os.getpid(), "network_isolated": isolated}))
    while True:
        try:
            request = reader.recv()
        except (EOFError, OSError):
            return
        try:
            writer.send(("ok", evaluate(store, request)))
        except QueryFailed as exc:
            writer.send(("failed", exc.status, exc.message))
        except QueryTimedOut:
            writer.send(("failed", 503, "timed out"))


# --------------------------------------------------------------------------- parent side

@dataclass
class _Worker:
    process: subprocess.Popen
    reader: Connection
    writer: Connection


class QueryWorkerPool:
    """`size` child processes over the read-only store at `store_path`.

    Thread-safe: HTTP threads call `run` concurrently; each takes an idle worker, or waits
    for one until its own deadline.
    """

    def __init__(self, store_path: str, size: int, *, isolate_network: bool = True,
                 start_timeout: float = 60.0) -> None:
        self.store_path = store_path
        self.size = size
        self.isolate_network = isolate_network
        self.start_timeout = start_timeout
        self.network_isolated: bool | None = None
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._workers: dict[int, _Worker] = {}
        self._lock = threading.RLock()
        self._started = False
        self._closed = False
        self._owner_pid = os.getpid()

    # lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        """Start the workers now (otherwise the first query does). Raises StoreUnavailable."""
        with self._lock:
            if self._started:
                return
            if self._closed:
                raise StoreUnavailable("the query worker pool is closed")
            processes = [self._launch() for _ in range(self.size)]
            try:
                workers = [self._handshake(p) for p in processes]
            except StoreUnavailable:
                for process in processes:
                    if process.poll() is None:
                        process.kill()
                    process.wait()
                raise
            self._started = True
        for worker in workers:
            self._idle.put(worker)

    def close(self) -> None:
        """End every worker. Safe to call more than once, and a no-op in a forked child."""
        if os.getpid() != self._owner_pid:
            return
        with self._lock:
            self._closed = True
            workers = list(self._workers.values())
            self._workers.clear()
        for worker in workers:
            self._end(worker)

    def _launch(self) -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if k != "BJKG_UPDATE_TOKEN"}  # workers never write
        args = [sys.executable, "-m", "bjkg.server.sparql.workers", self.store_path, str(os.getpid()),
                "isolate" if self.isolate_network else "network"]
        return subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                                close_fds=True)

    def _handshake(self, process: subprocess.Popen) -> _Worker:
        # the connections own duplicates of the pipe ends; Popen's file objects are closed
        reader = Connection(os.dup(process.stdout.fileno()), writable=False)
        writer = Connection(os.dup(process.stdin.fileno()), readable=False)
        process.stdout.close()
        process.stdin.close()
        worker = _Worker(process, reader, writer)
        try:
            ready = reader.poll(self.start_timeout)
            message = reader.recv() if ready else None
        except (EOFError, OSError):
            message = ("fatal", f"a query worker exited while starting (status {process.poll()})")
        if message is None:
            self._end(worker)
            raise StoreUnavailable(f"a query worker did not start within {self.start_timeout:.0f} s")
        if message[0] != "ready":
            self._end(worker)
            raise StoreUnavailable(message[1])
        self.network_isolated = message[1]["network_isolated"]
        with self._lock:
            self._workers[process.pid] = worker
        return worker

    def _end(self, worker: _Worker) -> None:
        with self._lock:
            self._workers.pop(worker.process.pid, None)
        if worker.process.poll() is None:
            worker.process.kill()
        worker.process.wait()
        worker.reader.close()
        worker.writer.close()

    def _replace(self, worker: _Worker) -> None:
        """End `worker` and start its replacement in a background thread."""
        self._end(worker)

        def respawn() -> None:
            if self._closed:
                return
            try:
                fresh = self._handshake(self._launch())
            except (StoreUnavailable, OSError) as exc:
                log.error("could not replace a query worker: %s", exc)
                return
            if self._closed:
                self._end(fresh)
            else:
                self._idle.put(fresh)

        threading.Thread(target=respawn, name="bjkg-respawn", daemon=True).start()

    # queries -------------------------------------------------------------------------
    def run(self, request: QueryRequest, timeout: float) -> QueryAnswer:
        """Evaluate `request` in a worker within `timeout` seconds.

        Raises QueryTimedOut (and ends that worker), PoolBusy, WorkerCrashed, QueryFailed.
        """
        if not self._started:
            self.start()
        payload = bytes(ForkingPickler.dumps(request))  # fail on bad input before taking a worker
        deadline = time.monotonic() + timeout
        try:
            worker = self._idle.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise PoolBusy() from None
        if deadline - time.monotonic() < 0.05:
            self._idle.put(worker)
            raise PoolBusy()
        try:
            worker.writer.send_bytes(payload)
            if not worker.reader.poll(max(0.0, deadline - time.monotonic())):
                self._replace(worker)
                raise QueryTimedOut()
            message = worker.reader.recv()
        except (EOFError, OSError):
            self._replace(worker)
            raise WorkerCrashed() from None
        except QueryTimedOut:
            raise
        except BaseException:
            self._replace(worker)  # the state of the pipe is unknown: never reuse it
            raise
        self._idle.put(worker)
        if message[0] == "ok":
            return message[1]
        status, text = message[1], message[2]
        if status == 503:
            raise QueryTimedOut()
        raise QueryFailed(status, text)


if __name__ == "__main__":
    worker_main(sys.argv[1], int(sys.argv[2]), sys.argv[3] == "isolate")
