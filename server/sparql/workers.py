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

`QueryWorkerPool.run` admits a query before it takes an evaluator
(bjkg.server.sparql.admission: slots, a bounded queue and a per-client share, shared by
every HTTP worker process of the server), with its deadline at the request's arrival +
QUERY_TIMEOUT (`RequestContext`, set by the HTTP front, bjkg.server.runtime.front), so time
spent queueing counts; at the deadline the evaluator is killed and the client gets 503.
When the front reports that the client hung up, the query leaves the queue, or its
evaluator is killed, at once. A killed evaluator's slot is free at once; evaluators are
forked as the load needs them, up to the slots. A long serialised answer is sent by the
evaluator in chunks as the engine writes it and passed on to the client as it comes
(`bjkg.server.sparql.evaluate.stream_from`): no process holds it whole.

When no SERVICE endpoint is allow-listed the data process moves into an empty network
namespace where the kernel permits it (inherited by every evaluator): a second guarantee,
after the SERVICE check in `bjkg.server.sparql.text`, that a query makes no outbound
connection.
"""
from __future__ import annotations

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

from bjkg.server.sparql.admission import (ENV as ADMISSION_ENV, ClientGone, ClientShareExceeded,  # noqa: F401
                                          QueueFull, QueueTimeout, Refused, SharedAdmission, local_admission)
from bjkg.server.sparql.evaluate import (QueryAnswer, QueryFailed, QueryRequest, QueryTimedOut, Sink, _Cancelled,
                                         evaluate, stream_from, streamed)

log = logging.getLogger("bjkg.workers")

_CLONE_NEWNET = 0x40000000
_CLONE_NEWUSER = 0x10000000
_PR_SET_PDEATHSIG = 1
_TICK = 0.02  # how often a waiting request looks at its deadline and its client
_CHUNK = 256 * 1024  # bytes of a streamed answer sent at a time
_WHOLE_UP_TO = 1 << 20  # an answer up to this size is sent whole, in one message
_SOCKET_BUFFER = 4 << 20
_START_EVALUATORS = 2  # forked at start; more as queries need them, up to the slots
_PRIVATE_ENV = ("BJKG_UPDATE_TOKEN", "BJKG_SERVE_OVERRIDES")  # never seen by the data process
EVALUATOR_NICE = 10  # a query running longer than _DEMOTE_AFTER yields the CPU to the rest
_DEMOTE_AFTER = 0.5  # seconds


class WorkerCrashed(Exception):
    """The evaluator died while answering (e.g. past QUERY_MEMORY_MB); it has been replaced."""


def _demote(evaluator: _Evaluator) -> None:
    """A query that has run for _DEMOTE_AFTER seconds is probably long: its evaluator gives
    the CPU to short queries, pages and the HTTP front from now on (and is replaced after)."""
    evaluator.demoted = True
    try:
        os.setpriority(os.PRIO_PROCESS, evaluator.pid, EVALUATOR_NICE)
    except OSError:
        pass


class _Answered(Exception):
    """The evaluator answered with an error and is ready for the next query."""

    def __init__(self, error: Exception) -> None:
        self.error = error


def admission_for(slots: int, queue: int, client_slots: int):
    """The server's shared admission when `bjkg serve` made one for its HTTP workers
    (bjkg.server.sparql.admission), else this process's own."""
    path = os.environ.get(ADMISSION_ENV)
    if path:
        try:
            return SharedAdmission(path, slots, queue, client_slots)
        except (OSError, ValueError) as exc:
            log.warning("query admission per process: %s could not be used (%s)", path, exc)
    return local_admission(slots, queue, client_slots)


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
    memory (`dump`, if it still has its SHA-256 and holds the expected quad count; parsed
    strictly), or None for the on-disk store, which each evaluator opens after its fork."""
    import hashlib

    import pyoxigraph

    if spec.get("writable"):
        return pyoxigraph.Store()
    dump = spec.get("dump")
    if dump:
        try:
            digest = hashlib.sha256()
            with open(dump, "rb") as file:
                while block := file.read(1 << 20):
                    digest.update(block)
            if digest.hexdigest() == spec.get("sha256"):
                store = pyoxigraph.Store()
                store.bulk_load(path=dump, format=pyoxigraph.RdfFormat.N_QUADS)
                if len(store) == spec.get("triples"):
                    return store
        except (OSError, SyntaxError, ValueError):
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
            if streamed(request):
                sink = _ConnectionSink(conn)
                answer = evaluate(store, request, sink=sink)
                reply = ("end",) if sink.streaming else ("ok", sink.whole(answer))
            else:
                reply = ("ok", evaluate(store, request))
        except QueryFailed as exc:
            reply = ("failed", exc.status, exc.message)
        except QueryTimedOut:
            reply = ("failed", 503, "timed out")
        except MemoryError:
            reply = ("memory",)
        except (OSError, EOFError):
            os._exit(0)  # the pool went away while the answer was sent
        try:
            conn.send(reply)
        except MemoryError:
            conn.send(("memory",))


class _ConnectionSink(Sink):
    """In an evaluator: an answer of at most _WHOLE_UP_TO bytes goes back whole, as ("ok",
    QueryAnswer); a longer one goes as the engine writes it — ("answer", QueryAnswer), then
    ("bytes", chunk)s, then ("end",) — and the socket's buffer is the flow control (a slow
    client's answer waits in the engine, not in memory)."""

    def __init__(self, conn: Connection) -> None:
        super().__init__(None)
        self.conn = conn
        self.buffer = bytearray()
        self.answer: QueryAnswer | None = None
        self.streaming = False

    def begin(self, answer: QueryAnswer) -> None:
        self.answer = answer

    def write(self, data) -> int:
        self.buffer += data
        if len(self.buffer) >= (_CHUNK if self.streaming else _WHOLE_UP_TO):
            if not self.streaming:
                self.conn.send(("answer", self.answer))
                self.streaming = True
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self.streaming and self.buffer:
            self.conn.send(("bytes", bytes(self.buffer)))
            self.buffer.clear()

    def finish(self) -> None:
        self.flush()

    def whole(self, returned: QueryAnswer) -> QueryAnswer:
        """The answer of a query that never streamed, with its bytes as `body`."""
        if self.answer is None:  # answered without the sink
            return returned
        self.answer.body = bytes(self.buffer)
        return self.answer


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
            for end in (ours, theirs):  # an answer of a few MB passes in a few wake-ups, not hundreds
                end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SOCKET_BUFFER)
                end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _SOCKET_BUFFER)
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
    busy_since: float = 0.0  # when its current query was sent
    demoted: bool = False  # reniced to EVALUATOR_NICE (which only a new process can undo)


class QueryWorkerPool:
    """The evaluators of one HTTP worker process, forked from its data process.

    Thread-safe: HTTP threads call `run` concurrently. At most `size` evaluators (the query
    slots: admission may give all of them to this process); `queue`, `client_slots` as in
    bjkg.server.sparql.admission.
    """

    def __init__(self, spec: dict | str, size: int, *, isolate_network: bool = True,
                 start_timeout: float = 60.0, queue: int | None = None,
                 client_slots: int | None = None, memory_mb: int = 0) -> None:
        if isinstance(spec, str):  # a store path, as before
            spec = {"store": spec}
        self.spec = {**spec, "isolate": isolate_network, "memory_mb": memory_mb}
        self.size = size
        self.admission = admission_for(size, queue if queue is not None else 4 * size,
                                       client_slots if client_slots is not None else max(1, (size + 1) // 2))
        self._evaluators = 0  # forked and not ended: idle, or answering
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
            env = {k: v for k, v in os.environ.items() if k not in _PRIVATE_ENV}  # it never writes
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
            fresh = [self._fork() for _ in range(min(self.size, _START_EVALUATORS))]
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
        with self._idle_cond:
            self._evaluators += 1
        return _Evaluator(pid, Connection(fds[0]), generation)

    def _end(self, evaluator: _Evaluator) -> None:
        try:
            os.kill(evaluator.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        evaluator.conn.close()
        with self._idle_cond:
            self._evaluators -= 1

    def _replace(self, evaluator: _Evaluator) -> None:
        """End `evaluator`; the next query that finds no idle one forks a fresh one (`_take`),
        so a cancelled query's slot is free at once."""
        self._end(evaluator)
        with self._idle_cond:
            self._idle_cond.notify()

    def _put_back(self, evaluator: _Evaluator) -> None:
        if evaluator.demoted or evaluator.generation != self._generation:  # lower priority, or data from before a write
            self._replace(evaluator)
            return
        with self._idle_cond:
            self._idle.append(evaluator)
            self._idle_cond.notify()

    def _take(self, deadline: float, gone: threading.Event | None) -> _Evaluator:
        """An idle evaluator, or a new one while fewer than `size` exist (they are forked
        as the load needs them: most servers never need every slot)."""
        with self._idle_cond:
            while not self._idle:
                if self._evaluators < self.size:
                    self._evaluators += 1  # reserved: _fork counts it again
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise QueryTimedOut()
                if gone is not None and gone.is_set():
                    raise ClientGone()
                self._idle_cond.wait(min(_TICK * 5, remaining))
            else:
                return self._idle.pop()
        try:
            return self._fork()
        finally:
            with self._idle_cond:
                self._evaluators -= 1

    # queries -------------------------------------------------------------------------
    def run(self, request: QueryRequest, timeout: float) -> QueryAnswer:
        """Evaluate `request` in an evaluator, within `timeout` seconds of the request's
        arrival. A long serialised answer (`streamed`) comes back with `chunks` that the
        evaluator writes as the client reads. Raises QueryTimedOut (and ends that
        evaluator), Refused (QueueFull, QueueTimeout, ClientShareExceeded), ClientGone,
        WorkerCrashed, QueryFailed."""
        if not self._started:
            self.start()
        payload = bytes(ForkingPickler.dumps(request))  # fail on bad input before taking a slot
        context = current_context()
        deadline = context.arrived + timeout
        if deadline <= time.monotonic():
            raise QueryTimedOut()
        token = self.admission.enter(context.client, deadline, context.gone)
        released = threading.Lock()

        def release() -> None:
            if released.acquire(blocking=False):
                self.admission.leave(token)

        handed = False  # to the thread of a streamed answer, which releases the slot
        try:
            evaluator = self._take(deadline, context.gone)
            message = self._first(evaluator, payload, deadline, context.gone)
            if message[0] == "ok":
                return message[1]
            handed = True  # ("answer", QueryAnswer): a long answer, sent as the engine writes it
            return self._stream(evaluator, message[1], deadline, context.gone, release)
        finally:
            if not handed:
                release()

    def _wait(self, evaluator: _Evaluator, deadline: float, gone: threading.Event | None,
              cancelled: threading.Event | None = None):
        """The evaluator's next message; ends it and raises at the deadline (QueryTimedOut),
        when the client hangs up (ClientGone) or the reader stops (_Cancelled)."""
        while not evaluator.conn.poll(min(_TICK, max(0.0, deadline - time.monotonic()))):
            if not evaluator.demoted and time.monotonic() - evaluator.busy_since > _DEMOTE_AFTER:
                _demote(evaluator)
            if time.monotonic() >= deadline:
                raise QueryTimedOut()
            if gone is not None and gone.is_set():
                raise ClientGone()
            if cancelled is not None and cancelled.is_set():
                raise _Cancelled()
        message = evaluator.conn.recv()
        if message[0] == "memory":
            raise WorkerCrashed()
        if message[0] == "failed":
            raise QueryTimedOut() if message[1] == 503 else _Answered(QueryFailed(message[1], message[2]))
        return message

    def _first(self, evaluator: _Evaluator, payload: bytes, deadline: float,
               gone: threading.Event | None):
        """Send the query; its answer whole (("ok", answer): the evaluator is given back), or
        the start of a long one (("answer", answer): the evaluator is still answering)."""
        try:
            evaluator.busy_since = time.monotonic()
            evaluator.conn.send_bytes(payload)
            message = self._wait(evaluator, deadline, gone)
        except _Answered as answered:
            self._put_back(evaluator)  # it ended its answer cleanly and waits for the next
            raise answered.error from None
        except (EOFError, OSError):
            self._replace(evaluator)
            raise WorkerCrashed() from None
        except BaseException:
            self._replace(evaluator)  # mid-answer, or the socket's state is unknown: never reuse it
            raise
        if message[0] == "ok":
            self._put_back(evaluator)
        return message

    def _stream(self, evaluator: _Evaluator, answer: QueryAnswer, deadline: float,
                gone: threading.Event | None, release) -> QueryAnswer:
        """The rest of a long answer: a thread passes the evaluator's chunks to the HTTP
        response (bjkg.server.sparql.evaluate.stream_from) and gives the evaluator and the
        slot back when the answer ends, the client goes or the deadline passes."""

        def produce(sink: Sink) -> None:
            clean = False
            try:
                sink.begin(answer)
                while True:
                    message = self._wait(evaluator, deadline, gone, sink.cancelled)
                    if message[0] == "bytes":
                        sink.write(message[1])
                    else:  # ("end",)
                        sink.finish()
                        clean = True
                        return
            except _Answered as answered:
                clean = True
                raise answered.error from None
            except (EOFError, OSError):
                raise WorkerCrashed() from None
            finally:
                if clean:
                    self._put_back(evaluator)
                else:
                    self._replace(evaluator)
                release()

        return stream_from(produce, deadline=deadline)

    # writes (--empty) ----------------------------------------------------------------
    def _data_request(self, message):
        """One request to the data process (started if need be); its reply, or QueryFailed."""
        if not self._started:
            self.start()
        reply = self._call(message)
        if reply[0] == "failed":
            raise QueryFailed(reply[1], reply[2])
        return reply

    def write(self, *message):
        """Apply a write in the data process; evaluators forked before it are replaced."""
        _, result, generation = self._data_request(message)
        if generation != self._generation:
            self._generation = generation
            with self._idle_cond:
                stale, self._idle = self._idle, []
            for evaluator in stale:
                self._replace(evaluator)
        return result

    def read(self, *message):
        """A read of the data process's own bookkeeping (graph names), never a query."""
        return self._data_request(message)[1]


if __name__ == "__main__":
    data_main(json.loads(sys.argv[1]))
