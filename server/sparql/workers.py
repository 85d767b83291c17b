"""Query evaluation in processes of its own, with admission control, a deadline counted from
the request's arrival, cancellation when the client hangs up, and a memory cap.

pyoxigraph evaluates a query in native code that Python cannot interrupt, and a query may
never yield a row, or allocate without bound. So no query of a client is evaluated in a
process that holds client connections or data that must survive:

* one **data process** per pool (``python -m bjkg.server.sparql.workers SPEC``, a fresh
  single-threaded interpreter) opens the store once — the build's quads in memory when the
  build is small, else the on-disk store read-only, or, for ``--empty``, the writable
  in-memory dataset — and *forks* an **evaluator** on request. Forking a single-threaded
  process that holds the store costs milliseconds and shares its memory copy-on-write, so a
  killed evaluator is replaced at once;
* an evaluator lowers its scheduling priority (pages and the HTTP front win the CPU),
  caps its address space (``RLIMIT_AS`` = what it holds after the fork + QUERY_MEMORY_MB:
  an allocation beyond fails and the evaluator dies, alone), dies with the data process
  (``PR_SET_PDEATHSIG``) and answers requests until its socket closes;
* the data process never evaluates a client's query. With ``--empty`` it applies the
  writes of authorised clients (SPARQL Update, Graph Store), and every evaluator forked
  after a write sees the data as of its fork (evaluators forked before are replaced), so
  no query, crash or kill can lose written data.

`QueryWorkerPool.run` admits a query before it takes an evaluator (`Admission`): at most
`slots` evaluate at once, at most `queue` wait, and one client (its address) runs at most
`client_slots` at once and waits in at most half the queue; beyond, `QueueFull` (503) or
`ClientShareExceeded` (429) at once, both with Retry-After. The deadline is the request's
arrival + QUERY_TIMEOUT (`RequestContext`, set by the HTTP front, bjkg.server.runtime.front),
so time spent queueing counts; at the deadline the evaluator is killed and the client gets
503. When the front reports that the client hung up, the query leaves the queue, or its
evaluator is killed, at once.

When no SERVICE endpoint is allow-listed the data process moves into an empty network
namespace where the kernel permits it (inherited by every evaluator): a second guarantee,
after the SERVICE check in `bjkg.server.sparql.text`, that a query makes no outbound
connection.
"""
from __future__ import annotations

import collections
import ctypes
import json
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler

from bjkg.server.sparql.evaluate import QueryAnswer, QueryFailed, QueryRequest, QueryTimedOut, evaluate

log = logging.getLogger("bjkg.workers")

_CLONE_NEWNET = 0x40000000
_CLONE_NEWUSER = 0x10000000
_PR_SET_PDEATHSIG = 1
_TICK = 0.02  # how often a waiting request looks at its deadline and its client
EVALUATOR_NICE = 10  # evaluators yield the CPU to pages and to the HTTP front


class PoolBusy(Exception):
    """No query slot became free before the request's deadline."""

    retry_after = 5


class QueueFull(PoolBusy):
    """Every query slot is taken and the queue is full: refused at once."""


class ClientShareExceeded(Exception):
    """This client already uses its share of the query slots and of the queue."""

    retry_after = 10


class ClientGone(Exception):
    """The client hung up; its query was cancelled. Nothing can be answered."""


class WorkerCrashed(Exception):
    """The evaluator died while answering (e.g. past QUERY_MEMORY_MB); it has been replaced."""


class StoreUnavailable(Exception):
    """The data process could not open the store; the message says why."""


# ------------------------------------------------------------------ the request's context

@dataclass
class RequestContext:
    """What the HTTP front knows of the request a thread is answering."""

    arrived: float = field(default_factory=time.monotonic)  # time.monotonic() at arrival
    client: str = ""  # the client's address: the key of its share
    gone: threading.Event | None = None  # set when the client hangs up


_local = threading.local()


def set_context(context: RequestContext | None) -> None:
    """Set by the HTTP front around each request (None: no front, e.g. the test client)."""
    _local.context = context


def current_context() -> RequestContext:
    context = getattr(_local, "context", None)
    return context if context is not None else RequestContext()


# ------------------------------------------------------------------------- admission

class Admission:
    """Query slots, a bounded FIFO queue, and a per-client share of both."""

    def __init__(self, slots: int, queue: int, client_slots: int) -> None:
        self.slots = slots
        self.queue = queue
        self.client_slots = max(1, min(client_slots, slots))
        self.client_queue = max(1, queue // 2)
        self._cond = threading.Condition()
        self._running: collections.Counter[str] = collections.Counter()
        self._waiting: collections.deque[tuple[int, str]] = collections.deque()
        self._next = 0

    @property
    def running(self) -> int:
        return sum(self._running.values())

    def enter(self, client: str, deadline: float, gone: threading.Event | None) -> None:
        """Take a slot for `client`, waiting in the queue until `deadline` at most.
        Raises QueueFull, ClientShareExceeded, PoolBusy (deadline), ClientGone."""
        with self._cond:
            if not self._waiting and self.running < self.slots and self._running[client] < self.client_slots:
                self._running[client] += 1
                return
            if len(self._waiting) >= self.queue:
                raise QueueFull()
            queued = sum(1 for _, c in self._waiting if c == client)
            if self._running[client] >= self.client_slots and queued >= self.client_queue:
                raise ClientShareExceeded()
            self._next += 1
            ticket = (self._next, client)
            self._waiting.append(ticket)
            try:
                while True:
                    if self._my_turn(ticket):
                        self._running[client] += 1
                        return
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise PoolBusy()
                    if gone is not None and gone.is_set():
                        raise ClientGone()
                    self._cond.wait(min(_TICK * 5, remaining) if gone is not None else remaining)
            finally:
                self._waiting.remove(ticket)
                self._cond.notify_all()

    def _my_turn(self, ticket: tuple[int, str]) -> bool:
        """A free slot, and no one ahead in the queue who may take it (a client at its share
        is passed over, so one client's backlog never blocks the others)."""
        if self.running >= self.slots:
            return False
        for waiting in self._waiting:
            if self._running[waiting[1]] < self.client_slots:
                return waiting == ticket
        return False

    def leave(self, client: str) -> None:
        with self._cond:
            self._running[client] -= 1
            if self._running[client] <= 0:
                del self._running[client]
            self._cond.notify_all()


# ------------------------------------------------------------------ data process (child side)

def _isolate_network() -> bool:
    """Enter a fresh network namespace (no interface up). True if the kernel allowed it."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return False
    if libc.unshare(_CLONE_NEWNET) == 0:
        return True
    return libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) == 0


def open_store(spec: dict):
    """The store the spec names: writable in memory (`--empty`), a build's dump read into
    memory (`dump` with its expected quad count), or the on-disk store read-only."""
    import pyoxigraph

    if spec.get("writable"):
        return pyoxigraph.Store()
    dump = spec.get("dump")
    if dump:
        store = pyoxigraph.Store()
        try:
            store.bulk_load(path=dump, format=pyoxigraph.RdfFormat.N_QUADS, lenient=True)
            if len(store) == spec.get("triples"):
                return store
        except (OSError, SyntaxError):
            pass
    return None  # on disk: each evaluator opens it after its fork (RocksDB's threads do not fork)


def _address_space() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _evaluator(sock: socket.socket, store, spec: dict) -> None:
    """Forked child: cap memory, answer requests on `sock` until it closes, then exit."""
    import resource

    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    try:
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        os.nice(EVALUATOR_NICE)
    except (OSError, AttributeError):
        pass
    if store is None:
        import pyoxigraph

        store = pyoxigraph.Store.read_only(spec["store"])
    cap = int(spec.get("memory_mb") or 0) * 1024 * 1024
    if cap:
        limit = _address_space() + cap
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    conn = Connection(sock.detach())
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            os._exit(0)
        try:
            reply = ("ok", evaluate(store, request))
        except QueryFailed as exc:
            reply = ("failed", exc.status, exc.message)
        except QueryTimedOut:
            reply = ("failed", 503, "timed out")
        except MemoryError:
            reply = ("memory",)
        try:
            conn.send(reply)
        except MemoryError:
            conn.send(("memory",))


def data_main(spec: dict) -> None:
    """The data process: open the store, then serve the pool's requests on fd 0 (a Unix
    socket): fork an evaluator, or (writable) apply a write, until the pool goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the server, which ends us
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # evaluators are reaped by the kernel
    control = socket.socket(fileno=os.dup(0))
    os.dup2(2, 1)  # stray prints go to stderr
    isolated = _isolate_network() if spec.get("isolate") else False
    try:
        store = open_store(spec)
        if store is None:
            import pyoxigraph

            pyoxigraph.Store.read_only(spec["store"])  # fail here, not in every evaluator
    except OSError as exc:
        _send(control, ("fatal", f"cannot open the store at {spec.get('store')}: {exc}"))
        return
    generation = 0
    _send(control, ("ready", {"pid": os.getpid(), "network_isolated": isolated}))
    while True:
        message = _recv(control)
        if message is None:
            os._exit(0)
        if message[0] == "fork":
            ours, theirs = socket.socketpair()
            pid = os.fork()
            if pid == 0:
                control.close()
                theirs.close()
                try:
                    _evaluator(ours, store, spec)
                finally:
                    os._exit(1)
            ours.close()
            _send(control, ("forked", pid, generation), fds=[theirs.fileno()])
            theirs.close()
        else:
            try:
                result = _write(store, message)
            except QueryFailed as exc:
                _send(control, ("failed", exc.status, exc.message, generation))
                continue
            if message[0] not in ("graphs", "exists"):
                generation += 1
            _send(control, ("done", result, generation))


def _write(store, message):
    """Apply one write of an authorised client to the writable dataset (`--empty`)."""
    from pyoxigraph import DefaultGraph, NamedNode, Quad

    operation, args = message[0], message[1:]
    graph_term = (lambda g: DefaultGraph() if g == "" else NamedNode(g))
    if operation == "update":
        sparql, base_iri = args
        try:
            store.update(sparql, base_iri=base_iri)
        except SyntaxError as exc:
            raise QueryFailed(400, f"SPARQL Update syntax error: {exc}") from None
        except (ValueError, RuntimeError, OSError) as exc:
            raise QueryFailed(500, f"The update could not be applied: {exc}") from None
        return None
    if operation == "graphs":
        return [g.value for g in store.named_graphs() if isinstance(g, NamedNode)]
    graph = args[0]
    exists = graph == "" or store.contains_named_graph(NamedNode(graph))
    if operation == "exists":
        return exists
    if operation == "drop":
        if graph == "":
            store.clear_graph(DefaultGraph())
            return True
        if exists:
            store.remove_graph(NamedNode(graph))
        return exists
    if operation in ("replace", "add"):
        triples = args[1]
        target = graph_term(graph)
        if operation == "replace":
            store.clear_graph(target)
        if graph != "":
            store.add_graph(NamedNode(graph))  # an empty PUT still creates the graph
        store.extend([Quad(t.subject, t.predicate, t.object, target) for t in triples])
        return not exists
    raise QueryFailed(500, f"unknown operation {operation!r}")


def _send(sock: socket.socket, message, fds: list[int] | None = None) -> None:
    data = pickle.dumps(message)
    header = len(data).to_bytes(8, "big")
    if fds:
        socket.send_fds(sock, [header], fds)
        sock.sendall(data)
    else:
        sock.sendall(header + data)


def _recv(sock: socket.socket, with_fds: bool = False):
    """One message (None at end of stream); with `with_fds`, (message, fds)."""
    fds: list[int] = []
    if with_fds:
        header, fds, _, _ = socket.recv_fds(sock, 8, 4)
    else:
        header = sock.recv(8, socket.MSG_WAITALL)
    while header and len(header) < 8:
        more = sock.recv(8 - len(header), socket.MSG_WAITALL)
        if not more:
            return None
        header += more
    if not header:
        return None
    size = int.from_bytes(header, "big")
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(min(size - len(data), 1 << 20))
        if not chunk:
            return None
        data += chunk
    message = pickle.loads(data)
    return (message, fds) if with_fds else message


# --------------------------------------------------------------------------- parent side

@dataclass
class _Evaluator:
    pid: int
    conn: Connection
    generation: int


class QueryWorkerPool:
    """The evaluators of one HTTP worker process, forked from its data process.

    Thread-safe: HTTP threads call `run` concurrently. `size` evaluators (query slots);
    `queue`, `client_slots` as described in the module's doc.
    """

    def __init__(self, spec: dict | str, size: int, *, isolate_network: bool = True,
                 start_timeout: float = 60.0, queue: int | None = None,
                 client_slots: int | None = None, memory_mb: int = 0) -> None:
        if isinstance(spec, str):  # a store path, as before
            spec = {"store": spec}
        self.spec = {**spec, "isolate": isolate_network, "memory_mb": memory_mb}
        self.size = size
        self.admission = Admission(size, queue if queue is not None else 4 * size,
                                   client_slots if client_slots is not None else max(1, (size + 1) // 2))
        self.start_timeout = start_timeout
        self.network_isolated: bool | None = None
        self._idle: list[_Evaluator] = []
        self._idle_cond = threading.Condition()
        self._control: socket.socket | None = None
        self._process: subprocess.Popen | None = None
        self._control_lock = threading.Lock()
        self._generation = 0
        self._lock = threading.RLock()
        self._started = False
        self._closed = False
        self._owner_pid = os.getpid()

    # lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        """Start the data process and the evaluators now (otherwise the first query does).
        Raises StoreUnavailable."""
        with self._lock:
            if self._started:
                return
            if self._closed:
                raise StoreUnavailable("the query worker pool is closed")
            ours, theirs = socket.socketpair()
            env = {k: v for k, v in os.environ.items() if k != "BJKG_UPDATE_TOKEN"}  # never write
            self._process = subprocess.Popen(
                [sys.executable, "-m", "bjkg.server.sparql.workers", json.dumps(self.spec)],
                stdin=theirs.fileno(), env=env, close_fds=True)
            theirs.close()
            ours.settimeout(self.start_timeout)
            try:
                message = _recv(ours)
            except (OSError, EOFError) as exc:
                message = ("fatal", f"the data process did not start: {exc}")
            if message is None or message[0] != "ready":
                ours.close()
                self._kill_data_process()
                raise StoreUnavailable(message[1] if message else
                                       f"the data process exited while starting (status {self._process.poll()})")
            ours.settimeout(None)
            self._control = ours
            self.network_isolated = message[1]["network_isolated"]
            self._started = True
            fresh = [self._fork() for _ in range(self.size)]
        with self._idle_cond:
            self._idle.extend(fresh)
            self._idle_cond.notify_all()

    def close(self) -> None:
        """End every process. Safe to call more than once, and a no-op in a forked child."""
        if os.getpid() != self._owner_pid:
            return
        with self._lock:
            self._closed = True
        with self._idle_cond:
            idle, self._idle = self._idle, []
        for evaluator in idle:
            self._end(evaluator)
        if self._control is not None:
            try:
                self._control.close()
            except OSError:
                pass
        self._kill_data_process()

    def _kill_data_process(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def _call(self, message, with_fds: bool = False):
        """One request to the data process and its reply."""
        with self._control_lock:
            if self._control is None:
                raise StoreUnavailable("the data process is not running")
            try:
                _send(self._control, message)
                reply = _recv(self._control, with_fds)
            except OSError as exc:
                raise StoreUnavailable(f"the data process failed: {exc}") from None
        if reply is None:
            raise StoreUnavailable("the data process exited; restart the server")
        return reply

    def _fork(self) -> _Evaluator:
        (_, pid, generation), fds = self._call(("fork",), with_fds=True)
        return _Evaluator(pid, Connection(fds[0]), generation)

    def _end(self, evaluator: _Evaluator) -> None:
        try:
            os.kill(evaluator.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        evaluator.conn.close()

    def _replace(self, evaluator: _Evaluator | None) -> None:
        """End `evaluator` (if any) and put a fresh one in the idle list."""
        if evaluator is not None:
            self._end(evaluator)
        if self._closed:
            return
        try:
            fresh = self._fork()
        except StoreUnavailable as exc:
            log.error("could not replace a query evaluator: %s", exc)
            return
        self._put_back(fresh)

    def _put_back(self, evaluator: _Evaluator) -> None:
        if evaluator.generation != self._generation:  # it holds data from before a write
            self._replace(evaluator)
            return
        with self._idle_cond:
            self._idle.append(evaluator)
            self._idle_cond.notify()

    def _take(self, deadline: float, gone: threading.Event | None) -> _Evaluator:
        with self._idle_cond:
            while not self._idle:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise PoolBusy()
                if gone is not None and gone.is_set():
                    raise ClientGone()
                self._idle_cond.wait(min(_TICK * 5, remaining))
            return self._idle.pop()

    # queries -------------------------------------------------------------------------
    def run(self, request: QueryRequest, timeout: float) -> QueryAnswer:
        """Evaluate `request` in an evaluator, within `timeout` seconds of the request's
        arrival. Raises QueryTimedOut (and ends that evaluator), QueueFull, PoolBusy,
        ClientShareExceeded, ClientGone, WorkerCrashed, QueryFailed."""
        if not self._started:
            self.start()
        payload = bytes(ForkingPickler.dumps(request))  # fail on bad input before taking a slot
        context = current_context()
        deadline = context.arrived + timeout
        if deadline <= time.monotonic():
            raise QueryTimedOut()
        self.admission.enter(context.client, deadline, context.gone)
        try:
            try:
                evaluator = self._take(deadline, context.gone)
            except PoolBusy:
                raise QueryTimedOut() from None
            return self._evaluate(evaluator, payload, deadline, context.gone)
        finally:
            self.admission.leave(context.client)

    def _evaluate(self, evaluator: _Evaluator, payload: bytes, deadline: float,
                  gone: threading.Event | None) -> QueryAnswer:
        try:
            evaluator.conn.send_bytes(payload)
            while not evaluator.conn.poll(min(_TICK, max(0.0, deadline - time.monotonic()))):
                if time.monotonic() >= deadline:
                    self._replace(evaluator)
                    raise QueryTimedOut()
                if gone is not None and gone.is_set():
                    self._replace(evaluator)
                    raise ClientGone()
            message = evaluator.conn.recv()
        except (EOFError, OSError):
            self._replace(evaluator)
            raise WorkerCrashed() from None
        except (QueryTimedOut, ClientGone):
            raise
        except BaseException:
            self._replace(evaluator)  # the state of the socket is unknown: never reuse it
            raise
        if message[0] == "memory":
            self._replace(evaluator)
            raise WorkerCrashed()
        self._put_back(evaluator)
        if message[0] == "ok":
            return message[1]
        status, text = message[1], message[2]
        if status == 503:
            raise QueryTimedOut()
        raise QueryFailed(status, text)

    # writes (--empty) ----------------------------------------------------------------
    def write(self, *message):
        """Apply a write in the data process; evaluators forked before it are replaced."""
        if not self._started:
            self.start()
        reply = self._call(message)
        if reply[0] == "failed":
            raise QueryFailed(reply[1], reply[2])
        _, result, generation = reply
        if generation != self._generation:
            self._generation = generation
            with self._idle_cond:
                stale, self._idle = self._idle, []
            for evaluator in stale:
                self._replace(evaluator)
        return result

    def read(self, *message):
        """A read of the data process's own bookkeeping (graph names), never a query."""
        if not self._started:
            self.start()
        reply = self._call(message)
        if reply[0] == "failed":
            raise QueryFailed(reply[1], reply[2])
        return reply[1]


if __name__ == "__main__":
    data_main(json.loads(sys.argv[1]))
