"""Query evaluation in processes of its own, with admission control, a deadline counted from
the request's arrival, cancellation when the client hangs up, and a memory cap.

pyoxigraph evaluates a query in native code that Python cannot interrupt, and a query may
never yield a row, or allocate without bound. So no query of a client is evaluated in a
process that holds client connections or data that must survive:

* one **data process** (``python -m bjkg.server.sparql.workers SPEC``, a fresh
  single-threaded interpreter) opens the store once — the build's quads in memory when the
  build is small, else the on-disk store read-only, or, for ``--empty``, the writable
  in-memory dataset — and *forks* an **evaluator process** (`_EvaluatorProcess`). A pool's
  request for an evaluator gets a **lane** of it: a connection of the pool's own and a
  thread answering on it, so the queries of every pool share one copy of the store's
  caches (pyoxigraph evaluates without the GIL). Forking a single-threaded process that
  holds the store costs milliseconds and shares its memory copy-on-write, so an evaluator
  process that ended is replaced at once. Under ``bjkg serve`` there is one for the whole
  server (`bjkg.server.sparql.data_process.SharedDataProcess`): started before the HTTP
  workers, it listens on a Unix socket in the server's private folder, which DATA_ENV
  names, and the `QueryWorkerPool` of every HTTP process connects to it — one copy of the
  data, however many HTTP processes, and the data of ``--empty`` outlives any of them. Elsewhere (tests,
  `create_app`, ``serve --get``) each pool starts one of its own;
* the data process serves its control connections one message at a time (a lane, a
  write: both short) and never evaluates a query. A query can only be stopped by ending
  its process, so a pool gives up on one (its deadline; its client gone; its HTTP process
  ended, even by SIGKILL: the kernel closes its lanes) by closing its lane, and the
  evaluator process then ends as soon as its other lanes allow (`_EvaluatorProcess`): a
  query whose process ended before any of its answer came is sent again, once. If the
  data process itself dies, the pools answer 503 (StoreUnavailable) and connect again on
  their next use, and `bjkg serve` starts a new one (for ``--empty`` the data is then
  lost, and logged so);
* an evaluator process closes every descriptor of the data process it inherited, caps its
  address space (``RLIMIT_AS`` = what it holds after the fork + QUERY_MEMORY_MB for its
  lanes together, with room for their stacks: an allocation beyond fails and the process
  ends), dies with the data process (``PR_SET_PDEATHSIG``), ends itself at any query's
  deadline + _TIMER_GRACE (so it never outlives a deadline by much, even if nobody gives
  up on the query) and answers on its lanes until they close. A lane runs at the priority
  of the HTTP processes; the pool lowers its thread to EVALUATOR_NICE once its query has
  used half a second of CPU (`_look_at_priority`), so short queries, pages and the HTTP
  front win the CPU over a long one;
* with ``--empty`` the data process applies the writes of authorised clients (SPARQL
  Update, Graph Store) and counts them in shared memory that every pool maps
  (`_Generation`): an evaluator forked before a write — by whichever pool, through
  whichever connection — is never used after it, so every query sees the writes that
  were answered before it arrived, and no query, crash or kill of an HTTP process can
  lose written data.

`QueryWorkerPool.run` admits a query before it takes an evaluator
(bjkg.server.sparql.admission: slots, a bounded queue and a per-client share, shared by
every HTTP worker process of the server), with its deadline at the request's arrival +
QUERY_TIMEOUT (`RequestContext`, set by the HTTP front, bjkg.server.runtime.front), so time
spent queueing counts; at the deadline its lane is closed (its query ended) and the client
gets 503. When the front reports that the client hung up, the query leaves the queue, or
its lane is closed, at once. Its slot is free at once; lanes are opened as the load needs
them, up to the slots. A long serialised answer is sent by the
evaluator in chunks as the engine writes it and passed on to the client as it comes
(`bjkg.server.sparql.evaluate.stream_from`): no process holds it whole.

When no SERVICE endpoint is allow-listed the data process moves into an empty network
namespace where the kernel permits it (inherited by every evaluator; its Unix socket is
bound before): a second guarantee, after the SERVICE check in `bjkg.server.sparql.text`,
that a query makes no outbound connection.

The data process runs this module, and every evaluator starts with the data process's memory:
what the modules it imports (admission, data_process, evaluate) import at the top is what the
data process and its evaluators use; what only the HTTP side or a rare path needs (logging,
OpenSSL's hashes, typing) is imported where it is used (tests/server/test_data_process_imports.py).
"""
from __future__ import annotations

import collections
import contextlib
import ctypes
import json
import mmap
import os
import pickle
import re
import select
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler

from bjkg.server.sparql.admission import (ENV as ADMISSION_ENV, ClientGone, ClientShareExceeded,  # noqa: F401
                                          QueueFull, QueueTimeout, Refused, SharedAdmission, local_admission)
from bjkg.server.sparql.data_process import (_PRIVATE_ENV, DATA_ENV, StoreUnavailable,  # noqa: F401
                                             _log, _recv, _send, data_spec)
from bjkg.server.sparql.evaluate import (QueryAnswer, QueryFailed, QueryRequest, QueryTimedOut, RowLimitExceeded, Sink,
                                         _Cancelled, evaluate, stream_from, streamed)

TYPE_CHECKING = False  # typing is not imported: 0.5 MB in the data process and in each evaluator
if TYPE_CHECKING:
    from typing import Any  # for annotations only, which are never evaluated (`annotations`)

_CLONE_NEWNET = 0x40000000
_CLONE_NEWUSER = 0x10000000
_PR_SET_PDEATHSIG = 1
_TICK = 0.02  # how often a waiting request looks at its deadline and its client
_CHUNK = 256 * 1024  # bytes of a streamed answer sent at a time
_WHOLE_UP_TO = 1 << 20  # an answer up to this size is sent whole, in one message
_SOCKET_BUFFER = 4 << 20
_REMAINING = struct.Struct("!d")  # before each query: the seconds left to its deadline
_TIMER_GRACE = 2.0  # an evaluator ends itself this long after its query's deadline
_LANES = 4  # queries one evaluator process answers at once (`_EvaluatorProcess`); then another is forked
_ABANDON_WAIT = 1.0  # seconds the other lanes of a process whose query was given up on may still finish in
_WATCH = 0.05  # seconds between two looks of an evaluator process's watchdog, at most
_LANE_STACK = 8 << 20  # bytes of stack of a lane's thread (as the main thread's: deep queries recurse)
_M_ARENA_MAX = -8  # mallopt's parameter
_ARENAS = 2  # malloc arenas of an evaluator process: more cost memory (at 1M triples 101 → 87 MB) and
# address space (64 MB each), not speed; one made its lanes wait on each other (a join family 2.5× slower)
_TRIM_EVERY = 1.0  # seconds between two trims of an evaluator process's heap
_ASK_TIMEOUT = 30.0  # seconds the data process waits for an evaluator process to open a lane
_START_EVALUATORS = 2  # forked at start without a core gate; with one, one per core (`QueryWorkerPool.keep`)
_RETIRE_AFTER = 10.0  # seconds an evaluator beyond the pool's `keep` stays idle before it ends
EVALUATOR_NICE = 10  # a query that has used _DEMOTE_AFTER of CPU yields the CPU to the rest
_DEMOTE_AFTER = 0.5  # seconds of CPU time
_CORE_HOLD = 0.1  # seconds a query holds its core (`_Cores`) before it runs on without one
_DRAIN_GRACE = 0.2  # seconds a hung-up query may still finish in, its evaluator kept (`_drain`)
_FORK_AFTER = 0.1  # seconds a query waits for a busy evaluator before one beyond `keep` is forked (`_take`)
_FORK_CPU = 0.1  # … if a busy one's query has used this much CPU (`_held_long`)
_FORK_WALL = 1.0  # … or has gone on for this long, whatever its CPU
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class WouldWait(Exception):
    """`QueryWorkerPool.run_async` cannot start the query at once (no free slot, no idle
    evaluator, no data process yet): nothing has happened, and the caller takes the threaded
    path (`run`), which waits, queues or refuses by the same rules. A store that planned
    the query first passes on `resume`: a function that answers it that way, in the
    calling thread, without planning it again."""

    def __init__(self, resume=None) -> None:
        super().__init__()
        self.resume = resume


class _Cores:
    """This HTTP process's share of QUERY_CPUS: at most `cores` of its queries evaluate at
    once; the others wait in turn (their time counts against the deadline, a hang-up ends
    the wait), each woken alone when a core is handed to it — on the event loop
    (`take_async`) or in a thread (`take`). A query gives its core back when it is answered,
    when its answer starts to stream, or after _CORE_HOLD seconds (it then runs on beside
    the next: a long, stopped or slow-read query never holds a core for long).

    Why: evaluating more queries at once than there are cores costs each more CPU (their
    caches, the CPU's and RocksDB's, thrash): at 1M triples on 2 cores, a two-hop join
    took 4.1 ms of CPU two at a time and 6.3 ms eight at a time (bench/README, ninth
    session); this gate gave the join family +15–20 % at 8 connections."""

    def __init__(self, cores: int) -> None:
        self.free = cores
        self._lock = threading.Lock()
        self._waiters: collections.deque = collections.deque()

    def release(self) -> None:
        """A core given back: handed to the first waiter still waiting, else freed."""
        with self._lock:
            while self._waiters:
                handed = self._waiters.popleft()
                if handed():
                    return
            self.free += 1

    def _join(self, signal) -> dict | None:
        """Take a core at once (None), or wait in turn: `signal()`, called under the lock
        when a core is handed over, wakes the waiter (False: it cannot be woken, the core
        goes on). Returns the waiter's state for `_leave`."""
        state = {"waiting": True}

        def hand() -> bool:  # under the lock
            if not state["waiting"] or not signal():
                return False
            state["waiting"] = False
            return True

        with self._lock:
            if self.free > 0 and not self._waiters:
                self.free -= 1
                return None
            self._waiters.append(hand)
        return state

    def _leave(self, state: dict) -> None:
        """A waiter gives up (deadline, hang-up, cancelled): out of the queue, and a core
        handed to it meanwhile goes on to the next."""
        with self._lock:
            handed = not state["waiting"]
            state["waiting"] = False
        if handed:
            self.release()

    async def take_async(self, deadline: float, gone: threading.Event | None, hung_up) -> None:
        import asyncio

        loop = asyncio.get_running_loop()
        granted = loop.create_future()

        def signal() -> bool:
            try:
                loop.call_soon_threadsafe(lambda: granted.done() or granted.set_result(None))
            except RuntimeError:  # its loop has closed (the process is ending)
                return False
            return True

        state = self._join(signal)
        if state is None:
            return
        try:
            while not granted.done():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise QueryTimedOut()
                if (gone is not None and gone.is_set()) or hung_up.done():
                    raise ClientGone()
                await asyncio.wait({granted, hung_up}, timeout=min(remaining, _TICK * 5),
                                   return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            self._leave(state)
            raise

    def take(self, deadline: float, gone: threading.Event | None) -> None:
        granted = threading.Event()
        state = self._join(lambda: granted.set() or True)
        if state is None:
            return
        try:
            while not granted.wait(min(_TICK, max(0.0, deadline - time.monotonic()))):
                if time.monotonic() >= deadline:
                    raise QueryTimedOut()
                if gone is not None and gone.is_set():
                    raise ClientGone()
        except BaseException:
            self._leave(state)
            raise


class WorkerCrashed(Exception):
    """The evaluator died while answering (e.g. past QUERY_MEMORY_MB); it has been replaced."""


def _demote(evaluator: _Evaluator) -> None:
    """A query that has used _DEMOTE_AFTER seconds of CPU is long: its evaluator gives the
    CPU to short queries, pages and the HTTP front from now on (and is replaced after)."""
    evaluator.demoted = True
    evaluator.look_at = float("inf")
    if evaluator.release_core is not None:
        evaluator.release_core()
    try:
        os.setpriority(os.PRIO_PROCESS, evaluator.tid or evaluator.pid, EVALUATOR_NICE)  # a thread's own
    except OSError:
        pass


def _cpu_seconds(pid: int, tid: int = 0) -> float | None:
    """The CPU time (user + system) thread `tid` of process `pid` (the process, without
    one) has used, from /proc; None where it cannot be read (not Linux, or it has ended)."""
    try:
        with open(f"/proc/{pid}/task/{tid}/stat" if tid else f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    except (OSError, ValueError, IndexError):
        return None


def _look_at_priority(evaluator: _Evaluator, now: float) -> None:
    """At `evaluator.look_at` (set when its query was sent): demote it if its query has
    used _DEMOTE_AFTER seconds of CPU, else set when to look again (at the soonest it
    could have). CPU time, not time since the query was sent: on a busy machine a short
    query waits for a core too, and a demoted evaluator is replaced after its answer by
    one that must open the store and warm its caches again — measured at 1M triples, a
    two-hop join family at 8 connections replaced two evaluators a second that way. Where
    the CPU time cannot be read, the time since sending counts."""
    if now < evaluator.look_at:
        return
    if evaluator.release_core is not None and now >= evaluator.core_until:
        evaluator.release_core()  # long for a core: the next query starts beside it
        evaluator.release_core = None
    if evaluator.demoted:
        return
    used = now - evaluator.busy_since
    if evaluator.cpu_at_start is not None:
        cpu = _cpu_seconds(evaluator.pid, evaluator.tid)
        if cpu is not None:
            used = cpu - evaluator.cpu_at_start
    if used >= _DEMOTE_AFTER:
        _demote(evaluator)
    else:
        evaluator.look_at = now + (_DEMOTE_AFTER - used)
    if evaluator.release_core is not None:
        evaluator.look_at = min(evaluator.look_at, evaluator.core_until)


def _closed(evaluator: _Evaluator) -> bool:
    """Whether an idle lane's process has ended (it retired after a query given up on, or
    died): an idle lane never writes, so anything readable is its end."""
    try:
        return evaluator.conn.poll(0)
    except (OSError, EOFError, ValueError):
        return True


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
            _log().warning("query admission per process: %s could not be used (%s)", path, exc)
    return local_admission(slots, queue, client_slots)




# ------------------------------------------------------------------ the request's context

@dataclass
class RequestContext:
    """What the HTTP front knows of the request a thread is answering."""

    arrived: float = field(default_factory=time.monotonic)  # time.monotonic() at arrival
    client: str = ""  # the client's address: the key of its share
    gone: threading.Event | None = None  # set when the client hangs up
    crashes: int = 0  # evaluator processes that ended under its query (it is sent again once)


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
    import pyoxigraph

    if spec.get("writable"):
        return pyoxigraph.Store()
    dump = spec.get("dump")
    if dump:
        import hashlib  # for a dump only: OpenSSL, 3.8 MB in the data process (0.6 MB in each evaluator)

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


def _cap_memory(memory_mb) -> None:
    """In a forked child: at most what it holds now plus `memory_mb` of address space
    (RLIMIT_AS; nothing for 0), and no core file — past the cap it aborts (the engine's
    allocation fails), and a host with core dumps on would get its whole address space."""
    import resource

    cap = int(memory_mb or 0) * 1024 * 1024
    if not cap:
        return
    limit = _address_space() + cap
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError):
        pass


class _MemoryCap:
    """An evaluator process's address space (RLIMIT_AS): what it holds once the store is
    open, room for its lanes' stacks (`_LANE_STACK` each: reserved, hardly resident), and
    QUERY_MEMORY_MB for each query it is answering (one at least) — the one more malloc
    arena its lanes share (`_ARENAS`, 64 MB reserved) counts in it, so that no process
    is ever resident past what it held plus the cap. So a query alone may take
    QUERY_MEMORY_MB, as in a process of its own, and queries answered at once share as
    much as they would in as many processes; past it an allocation fails and the process ends (its lanes' queries are
    sent again once: `QueryWorkerPool._again`). No core file either: a host with core
    dumps on would get the whole address space."""

    def __init__(self, memory_mb) -> None:
        import resource

        self.resource = resource
        self.cap = int(memory_mb or 0) << 20
        self.base = _address_space() + (_LANES + 1) * _LANE_STACK
        if self.cap:
            hard = self.base + _LANES * self.cap
            resource.setrlimit(resource.RLIMIT_AS, (self.base + self.cap, hard))
            try:
                resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            except (ValueError, OSError):
                pass

    def answering(self, queries: int) -> None:
        """Set the cap for `queries` answered at once (called under the process's lock)."""
        if self.cap:
            soft = self.base + max(1, queries) * self.cap
            try:
                self.resource.setrlimit(self.resource.RLIMIT_AS, (soft, self.base + _LANES * self.cap))
            except (ValueError, OSError):
                pass


@dataclass(eq=False)
class _Lane:
    """One lane of an evaluator process: a connection to a pool, and the thread answering on it."""

    conn: Connection
    tid: int = 0  # the thread's id (/proc/PID/task/TID): its CPU time and priority
    running: bool = False  # a query is being answered
    deadline: float = float("inf")  # the running query's (time.monotonic())
    abandoned: float | None = None  # when its pool closed it mid-query (time.monotonic())


class _EvaluatorProcess:
    """An evaluator process: it answers on up to _LANES lanes at once, each a connection to
    a pool and a thread of its own, over one copy of the store and its caches.

    Why threads: the store's caches (RocksDB's block caches, ≈ 50 MB at 1M triples) are per
    process, and pyoxigraph evaluates without the GIL; two queries in two threads of one
    process took 86–101 MB at 1M triples, in two processes 146–166 MB (issue #17). What a
    process per query gave is kept: a query can only be stopped by ending its process, so

    * a pool that gives up on a query (its deadline, its client gone past _DRAIN_GRACE)
      closes its lane; the watchdog (`_watch`) sees it, the process takes no new lane
      (it tells the data process "retiring") and ends as soon as no other lane is running,
      or _ABANDON_WAIT seconds later at most: the other lanes' queries are sent again by
      their pools (`QueryWorkerPool.run`), once, if none of their answer had been sent;
    * a lane's query past its deadline + _TIMER_GRACE ends the process, should nobody
      close the lane (its HTTP process stopped);
    * past its memory cap (`_MemoryCap`: QUERY_MEMORY_MB for each query it is answering)
      the engine aborts and the process ends: its lanes' queries are sent again once,
      elsewhere;
    * it dies with the data process (PR_SET_PDEATHSIG); told to drain (it is no longer the
      one new lanes go to), or its control connection closed, it takes no new lane and
      ends once its pools have closed every lane.
    """

    def __init__(self, control: socket.socket, store, spec: dict) -> None:
        self.control = control
        self.store = store
        self.memory = _MemoryCap(spec.get("memory_mb"))
        self.tables = None  # the literal index of the build (`literal_index.PreparedTables`)
        if spec.get("prepared"):  # imported only then: its tokenizer brings typing and more
            from bjkg.server.sparql.literal_index import PreparedTables

            self.tables = PreparedTables(spec["prepared"])
        self.lanes: set[_Lane] = set()
        self.lock = threading.Lock()  # lanes, their state, and `retiring`
        self.send_lock = threading.Lock()  # the control connection's writes
        self.retiring = False  # a query was given up on: end once no lane runs
        self.draining = False  # no longer the data process's current one: end once no lane is left
        self.wake_read, self.wake_write = os.pipe()

    def serve(self) -> None:
        """The main thread: the data process's requests for a lane, until it goes."""
        threading.stack_size(_LANE_STACK)
        threading.Thread(target=self._watch, name="bjkg-evaluator-watch", daemon=True).start()
        while True:
            try:
                message, fds = _recv(self.control, with_fds=True) or (None, [])
            except (OSError, EOFError, pickle.UnpicklingError):
                message, fds = None, []
            if message is None:  # the data process ended: end once no lane is left
                self._drain_out()
                threading.Event().wait()  # the watchdog ends the process
            if message[0] == "lane" and len(fds) == 1:
                tid = self._open_lane(fds[0])
                with self.send_lock:
                    _send(self.control, ("lane", tid))
            else:
                for fd in fds:
                    os.close(fd)
                if message[0] == "drain":
                    self._drain_out()

    def _open_lane(self, fd: int) -> int:
        """A thread answering on the connection `fd`; its thread id, or 0 (refused: retiring, full)."""
        with self.lock:
            if self.retiring or self.draining or len(self.lanes) >= _LANES:
                os.close(fd)
                return 0
            lane = _Lane(Connection(fd))
            self.lanes.add(lane)
        started = threading.Event()
        try:
            threading.Thread(target=self._answer_on, args=(lane, started), name="bjkg-lane", daemon=True).start()
        except RuntimeError:  # no thread could be started (memory, limits)
            with self.lock:
                self.lanes.discard(lane)
            lane.conn.close()
            return 0
        started.wait()
        return lane.tid

    def _answer_on(self, lane: _Lane, started: threading.Event) -> None:
        """A lane's thread: answer the queries that come on its connection until it closes.
        Each comes with the seconds left to its deadline (the watchdog's)."""
        lane.tid = threading.get_native_id()
        started.set()
        conn = lane.conn
        try:
            while True:
                try:
                    data = conn.recv_bytes()
                except (EOFError, OSError):
                    return
                (seconds,) = _REMAINING.unpack_from(data)
                with self.lock:
                    lane.deadline = time.monotonic() + max(seconds, 0.0)
                    lane.running = True
                    self.memory.answering(self._running())
                self._wake()
                reply = self._answer(conn, data)
                if reply is None:
                    return
                try:
                    conn.send(reply)
                except MemoryError:
                    conn.send(("memory",))
                with self.lock:
                    lane.running = False
                    lane.deadline = float("inf")
                    self.memory.answering(self._running())
        except (OSError, EOFError):
            return  # the pool went away while the answer was sent
        finally:
            with self.lock:
                lane.running = False
                self.lanes.discard(lane)
                conn.close()
                self.memory.answering(self._running())
            self._wake()

    def _answer(self, conn: Connection, data: bytes):
        """The reply to one query (None: the pool went away while it streamed)."""
        try:
            request = pickle.loads(memoryview(data)[_REMAINING.size:])
            rewritten = self.tables.rewrite(request) if self.tables is not None else None  # string filters
            if rewritten is not None:
                try:
                    return self._evaluate(conn, rewritten)
                except QueryFailed as exc:
                    if exc.status != 400:  # a rewrite the engine refuses: the text as sent
                        raise
            return self._evaluate(conn, request)
        except QueryFailed as exc:  # a row limit's with the limit: the caller may tell it apart
            return ("failed", exc.status, exc.message, getattr(exc, "limit", None))
        except QueryTimedOut:
            return ("failed", 503, "timed out")
        except MemoryError:
            return ("memory",)
        except (OSError, EOFError):
            return None

    def _running(self) -> int:
        """How many lanes are answering a query (under the lock)."""
        return sum(1 for lane in self.lanes if lane.running)

    def _evaluate(self, conn: Connection, request: QueryRequest):
        if streamed(request):
            sink = _ConnectionSink(conn)
            answer = evaluate(self.store, request, sink=sink)
            return ("end",) if sink.streaming else ("ok", sink.whole(answer))
        return ("ok", evaluate(self.store, request))

    def _wake(self) -> None:
        try:
            os.write(self.wake_write, b".")
        except OSError:
            pass

    def _retire(self) -> None:
        """Take no new lane from now on (telling the data process), and end once none runs."""
        with self.lock:
            already, self.retiring = self.retiring, True
        if not already:
            try:
                with self.send_lock:
                    _send(self.control, ("retiring",))
            except OSError:
                pass
        self._wake()

    def _drain_out(self) -> None:
        """Take no new lane, and end once the pools have closed every lane."""
        with self.lock:
            self.draining = True
        self._wake()

    def _watch(self) -> None:
        """The watchdog: a lane closed mid-query, a deadline past, or retiring and idle.
        It also trims the heap once a second (_TRIM_EVERY): its queries' rows and
        hash tables, freed, would stay counted in its resident memory."""
        try:
            trim = ctypes.CDLL(None).malloc_trim
        except (OSError, AttributeError):
            trim = None
        trimmed = time.monotonic()
        while True:
            with self.lock:
                watched = [lane.conn.fileno() for lane in self.lanes if lane.running and lane.abandoned is None]
                deadline = min((lane.deadline for lane in self.lanes if lane.running), default=float("inf"))
            wait = max(0.0, min(_WATCH, deadline + _TIMER_GRACE - time.monotonic()))
            try:
                readable, _, _ = select.select([self.wake_read, *watched], [], [], wait)
            except (OSError, ValueError):  # a lane closed meanwhile: look again
                readable = []
            if self.wake_read in readable:
                os.read(self.wake_read, 4096)
            now = time.monotonic()
            if trim is not None and now - trimmed >= _TRIM_EVERY:
                trim(0)
                trimmed = now
            abandon = False
            with self.lock:
                for lane in self.lanes:
                    if lane.running and lane.abandoned is None and lane.conn.fileno() in readable:
                        if _hung_up(lane.conn):
                            lane.abandoned = now
                running = [lane for lane in self.lanes if lane.running]
                abandoned = [lane.abandoned for lane in running if lane.abandoned is not None]
                if any(now >= lane.deadline + _TIMER_GRACE for lane in running):
                    os._exit(0)  # nobody stopped a query past its deadline
                if abandoned and (len(abandoned) == len(running) or now - min(abandoned) >= _ABANDON_WAIT):
                    os._exit(0)  # its abandoned queries run no longer than the others need
                if (self.retiring and not running) or (self.draining and not self.lanes):
                    os._exit(0)
                abandon = bool(abandoned) and not self.retiring
            if abandon:
                self._retire()


def _hung_up(conn: Connection) -> bool:
    """Whether a lane's pool has closed it (during a query it never writes: anything
    readable is its end)."""
    try:
        with socket.fromfd(conn.fileno(), socket.AF_UNIX, socket.SOCK_STREAM) as sock:  # a duplicate
            return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def _evaluator_process(control: socket.socket, store, spec: dict) -> None:
    """Forked child: open the store, cap memory, then open lanes as the data process asks."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    libc = ctypes.CDLL(None)
    try:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    try:  # before the store starts its threads: each would take an arena of its own
        libc.mallopt(_M_ARENA_MAX, _ARENAS)
    except (OSError, AttributeError):
        pass
    if store is None:
        import pyoxigraph

        store = pyoxigraph.Store.read_only(spec["store"])
    _EvaluatorProcess(control, store, spec).serve()


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
    """The data process: open the store, then serve control connections — fork an
    evaluator, or (writable) apply a write — one message at a time.

    Its first control connection is fd 0 (a Unix socket to whoever started it): a pool's
    own data process serves that pool there and ends when it closes. With ``spec["listen"]``
    (the server's one data process, `SharedDataProcess`) it also accepts connections on
    that Unix socket path, one per pool of each HTTP process, and fd 0 only tells its
    starter "listening", then "ready" or "fatal"; it ends when its starter does
    (PR_SET_PDEATHSIG, or fd 0 closing). Each connection gets ("ready", info) with the
    descriptor of the write generation (`_Generation`); the evaluators forked for a
    connection are killed when it closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the server, which ends us
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # evaluators are reaped by the kernel
    owner = socket.socket(fileno=os.dup(0))
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)  # no evaluator inherits the owner's connection
    os.close(null)
    os.dup2(2, 1)  # stray prints go to stderr
    listener = None
    if spec.get("listen"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a process group's TERM: the server ends us itself
        _die_with_parent(spec.get("parent"))
        listener = _listen(spec["listen"])  # before the network namespace: bound in the server's
        _send(owner, ("listening",))
    isolated = _isolate_network() if spec.get("isolate") else False
    failure = None
    try:
        store = open_store(spec)
        if store is None:
            import pyoxigraph

            pyoxigraph.Store.read_only(spec["store"])  # fail here, not in every evaluator
    except OSError as exc:
        store, failure = None, f"cannot open the store at {spec.get('store')}: {exc}"
    info = {"pid": os.getpid(), "network_isolated": isolated,
            "serves": {key: spec.get(key) for key in _SERVES}}
    server = _DataServer(store, spec, owner, listener, info, failure)  # says "ready" or "fatal" on fd 0
    if failure is None or listener is not None:  # a listener that failed says why to each pool
        server.serve()


_SERVES = ("writable", "store", "dump")  # what a pool checks its shared data process serves


def _die_with_parent(parent: int | None) -> None:
    """Be killed when the process that started us ends, even by SIGKILL."""
    try:
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if parent and os.getppid() != parent:  # it ended before the line above
        os._exit(0)


def _listen(path: str) -> socket.socket:
    try:
        os.unlink(path)  # left by a data process that was killed
    except FileNotFoundError:
        pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    os.chmod(path, 0o600)
    listener.listen(64)
    return listener


class _Generation:
    """The count of writes applied, in 8 bytes of shared memory (a memfd) that the data
    process writes before it answers a write and every pool maps read-only: an idle
    evaluator forked at an older count has data from before a write, whichever
    connection made it, and is never used again."""

    def __init__(self, fd: int, writable: bool) -> None:
        self.fd = fd
        self.map = mmap.mmap(fd, 8, prot=mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0))
        self.word = memoryview(self.map).cast("Q")  # one aligned 8-byte load or store

    @classmethod
    def create(cls) -> _Generation:
        fd = os.memfd_create("bjkg-generation", os.MFD_CLOEXEC)
        os.ftruncate(fd, 8)
        return cls(fd, writable=True)

    @classmethod
    def attach(cls, fd: int) -> _Generation:
        try:
            return cls(fd, writable=False)
        finally:
            os.close(fd)

    @property
    def value(self) -> int:
        return self.word[0]

    @value.setter
    def value(self, count: int) -> None:
        self.word[0] = count

    def close(self) -> None:
        self.word.release()
        self.map.close()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _next_message(conn: socket.socket):
    """The next message on a control connection, or None: it closed, or failed."""
    try:
        return _recv(conn)
    except (OSError, EOFError, pickle.UnpicklingError):
        return None


@dataclass(eq=False)
class _ProcessRecord:
    """The data process's view of an evaluator process it forked."""

    pid: int
    control: socket.socket  # its control connection: lanes asked for, "retiring" told
    generation: int  # the data process's count of writes when it was forked
    retiring: bool = False  # it takes no new lane


class _DataServer:
    """The data process's loop over its control connections (selectors), the listener and
    the evaluator processes it forked (`_EvaluatorProcess`): a pool's request for an
    evaluator gets a lane of the current one, which is forked when there is none (or it
    is full, retiring, or holds data from before a write)."""

    def __init__(self, store, spec: dict, owner: socket.socket, listener: socket.socket | None,
                 info: dict, failure: str | None) -> None:
        self.store = store
        self.spec = spec
        self.owner = owner
        self.listener = listener
        self.info = info
        self.failure = failure
        self.generation = _Generation.create()
        self.selector = selectors.DefaultSelector()
        self.pools: set[socket.socket] = set()  # the control connections of pools
        self.processes: dict[socket.socket, _ProcessRecord] = {}  # by control connection
        self.current: _ProcessRecord | None = None  # the one new lanes go to
        self.retiring = False  # told to end once no pool is connected
        if listener is not None:
            self.selector.register(listener, selectors.EVENT_READ, ("accept", None))
        self._add(owner)

    def serve(self) -> None:
        while True:
            for key, _ in self.selector.select():
                kind, conn = key.data
                if kind == "accept":
                    self._accept()
                elif kind == "control" and conn in self.pools:  # else closed earlier in this round
                    self._message(conn)
                elif kind == "process" and conn in self.processes:
                    self._from_process(conn)

    def _add(self, conn: socket.socket) -> None:
        """Greet a control connection — ("ready", info) with the generation's descriptor, or
        ("fatal", why) — and serve it."""
        try:
            if self.failure is not None:  # answers why, and stays so
                _send(conn, ("fatal", self.failure))
                if conn is not self.owner:
                    conn.close()
                return
            _send(conn, ("ready", self.info), fds=[self.generation.fd])
        except OSError:
            if conn is self.owner:
                os._exit(0)
            conn.close()
            return
        self.pools.add(conn)
        self.selector.register(conn, selectors.EVENT_READ, ("control", conn))

    def _accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        conn.setblocking(True)
        self._add(conn)

    def _close(self, conn: socket.socket) -> None:
        """A control connection closed (its pool or HTTP process ended). Its lanes closed with
        its process: an evaluator process ends a query given up on by itself."""
        if conn is self.owner:
            os._exit(0)  # our starter ended: evaluators die with us (PR_SET_PDEATHSIG)
        self.selector.unregister(conn)
        conn.close()
        self.pools.discard(conn)
        self._end_if_retired()

    def _end_if_retired(self) -> None:
        if self.retiring and all(conn is self.owner for conn in self.pools):
            os._exit(0)

    def _message(self, conn: socket.socket) -> None:
        message = _next_message(conn)
        if message is None:
            self._close(conn)
            return
        try:
            if message[0] == "fork":
                self._fork(conn)
                return
            if message[0] == "retire" and conn is self.owner:  # a reload: end with the last pool
                self.retiring = True
                self._end_if_retired()
                return
            try:
                if message[0] == "update" and _evaluates(message[1]):
                    self._trial(message)  # raises QueryFailed: nothing is written
                result = _write(self.store, message)
            except QueryFailed as exc:
                _send(conn, ("failed", exc.status, exc.message, self.generation.value))
                return
            except Exception as exc:  # noqa: BLE001 - the data process holds --empty's data: it stays
                _send(conn, ("failed", 500, f"The write could not be applied: {exc}", self.generation.value))
                return
            if message[0] not in ("graphs", "exists"):
                self.generation.value += 1  # before the answer: a query after the write never sees older data
            _send(conn, ("done", result, self.generation.value))
        except OSError:
            self._close(conn)

    def _fork(self, conn: socket.socket) -> None:
        """A pool asks for an evaluator: one end of a new lane's connection, with its
        process's pid and the lane's thread id."""
        generation = self.generation.value
        ours = theirs = None
        try:
            ours, theirs = socket.socketpair()
            for end in (ours, theirs):  # an answer of a few MB passes in a few wake-ups, not hundreds
                end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SOCKET_BUFFER)
                end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _SOCKET_BUFFER)
            record, tid = self._lane(ours, generation, (ours, theirs))
        except OSError as exc:  # out of processes, threads or descriptors: this query gets 503, the rest goes on
            for end in (ours, theirs):
                if end is not None:
                    end.close()
            _send(conn, ("failed", 503, f"no evaluator could be started ({exc})", generation))
            return
        ours.close()
        try:
            _send(conn, ("forked", record.pid, generation, tid), fds=[theirs.fileno()])
        finally:
            theirs.close()

    def _lane(self, end: socket.socket, generation: int, pending) -> tuple[_ProcessRecord, int]:
        """A lane on `end` in the current evaluator process (forked if need be): (process, tid)."""
        for _ in range(3):
            record = self.current
            if record is not None and (record.retiring or record.generation != generation):
                self._drain(record)
                record = None
            if record is None:
                record = self._start_process(generation, pending)
            tid = self._ask_lane(record, end)
            if tid:
                return record, tid
            if record in self.processes.values():  # full or retiring: new lanes go to a new one
                self._drain(record)
        raise OSError("no evaluator process took the query")

    def _start_process(self, generation: int, pending) -> _ProcessRecord:
        ours, theirs = socket.socketpair()
        try:
            pid = os.fork()
        except OSError:
            ours.close()
            theirs.close()
            raise
        if pid == 0:
            try:
                ours.close()
                for end in pending:  # the lane being made: its pool's end is not ours to hold
                    end.close()
                self._close_inherited()
                _evaluator_process(theirs, self.store, self.spec)
            finally:
                os._exit(1)
        theirs.close()
        record = _ProcessRecord(pid, ours, generation)
        self.processes[ours] = record
        self.selector.register(ours, selectors.EVENT_READ, ("process", ours))
        self.current = record
        return record

    def _ask_lane(self, record: _ProcessRecord, end: socket.socket) -> int:
        """Ask `record` for a lane on `end`: its thread id, or 0 (it refused, or it is gone)."""
        control = record.control
        try:
            control.settimeout(_ASK_TIMEOUT)
            _send(control, ("lane",), fds=[end.fileno()])
            while True:
                message = _recv(control)
                if message is None:
                    raise EOFError
                if message[0] == "retiring":
                    record.retiring = True
                elif message[0] == "lane":
                    return int(message[1])
        except (OSError, EOFError, pickle.UnpicklingError, ValueError, IndexError):
            self._forget(record)
            return 0
        finally:
            if record.control.fileno() >= 0:
                control.settimeout(None)

    def _drain(self, record: _ProcessRecord) -> None:
        """No new lane goes to `record`; it ends once its lanes are closed (or, retiring, idle)."""
        if self.current is record:
            self.current = None
        try:
            _send(record.control, ("drain",))
        except OSError:
            self._forget(record)

    def _from_process(self, control: socket.socket) -> None:
        """An evaluator process said it is retiring, or ended."""
        record = self.processes[control]
        message = _next_message(control)
        if message is None:
            self._forget(record)
        elif message[0] == "retiring":
            record.retiring = True
            if self.current is record:
                self.current = None

    def _forget(self, record: _ProcessRecord) -> None:
        if self.current is record:
            self.current = None
        if self.processes.pop(record.control, None) is not None:
            self.selector.unregister(record.control)
            record.control.close()

    def _trial(self, message) -> None:
        """Apply an update to a forked copy of the data first, under the memory cap
        (`memory_mb`, as an evaluator) and the time limit the message carries (QUERY_TIMEOUT):
        an update that evaluates patterns (``INSERT … WHERE``, ``DELETE WHERE``, ``COPY`` …)
        may ask for any amount of time and memory (a cross join of 2,000 triples with itself
        grew this process by 11 GB in 25 s), and this process holds ``--empty``'s data. Raises
        QueryFailed (503 past a limit, the update's own error otherwise); the copy is
        discarded either way, and the caller applies the update to the data only after."""
        timeout = float(message[3])  # ("update", sparql, base_iri, seconds)
        read, write = os.pipe()
        try:
            pid = os.fork()
        except OSError as exc:
            os.close(read)
            os.close(write)
            raise QueryFailed(503, f"The update could not be tried ({exc}); nothing was written.") from None
        if pid == 0:  # the copy
            try:
                os.close(read)
                self._close_inherited()
                signal.signal(signal.SIGALRM, signal.SIG_DFL)
                signal.setitimer(signal.ITIMER_REAL, timeout + _TIMER_GRACE)  # should nobody kill it
                _cap_memory(self.spec.get("memory_mb"))
                try:
                    _write(self.store, message[:3])
                    outcome = ("ok",)
                except QueryFailed as exc:
                    outcome = ("failed", exc.status, exc.message)
                os.write(write, pickle.dumps(outcome))
            finally:
                os._exit(0)  # past the memory cap it dies first (an abort): nothing written
        os.close(write)
        try:
            pidfd = os.pidfd_open(pid)  # not the pid: the kernel reaps it, and pids are reused
        except OSError:
            pidfd = None  # it has already ended
        data = b""
        try:
            deadline = time.monotonic() + timeout
            while True:
                ready, _, _ = select.select([read], [], [], max(0.0, deadline - time.monotonic()))
                if not ready:
                    raise QueryFailed(503, _update_past("its time limit", f"QUERY_TIMEOUT, {timeout:g} s"))
                chunk = os.read(read, 65536)
                if not chunk:
                    break
                data += chunk
        finally:
            os.close(read)
            if pidfd is not None:
                try:
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)  # ended, or past its deadline
                except OSError:
                    pass
                os.close(pidfd)
        try:
            outcome = pickle.loads(data)
        except Exception:  # noqa: BLE001 - it died without an answer
            raise QueryFailed(503, _update_past("the memory one update may take",
                                                f"QUERY_MEMORY_MB, {self.spec.get('memory_mb')} MB")) from None
        if outcome[0] == "failed":
            raise QueryFailed(outcome[1], outcome[2])

    def _close_inherited(self) -> None:
        """In a forked evaluator: close every descriptor of the data process — the listener,
        the control connections, the pidfds, the selector, the generation — so that no
        evaluator holds a connection open after its pool, or the data process, ended."""
        for conn in (*self.pools, *self.processes):
            conn.close()
        if self.listener is not None:
            self.listener.close()
        self.selector.close()
        self.generation.close()


_EVALUATES = re.compile(r"\b(?:WHERE|USING|WITH|ADD|COPY|MOVE)\b", re.IGNORECASE)


def _evaluates(sparql: str) -> bool:
    """Whether an update may evaluate patterns or copy graphs, i.e. take time and memory
    beyond its own text (anything but INSERT DATA, DELETE DATA, CLEAR, DROP, CREATE): read
    from the words alone, so a string that contains "where" only costs a needless trial."""
    return bool(_EVALUATES.search(sparql))


def _update_past(what: str, setting: str) -> str:
    return (f"The update needed more than {what} (setting {setting}) and was stopped; nothing "
            "was written. Split it into smaller updates, or make its WHERE clause more selective.")


def _write(store, message):
    """Apply one write of an authorised client to the writable dataset (`--empty`)."""
    from pyoxigraph import DefaultGraph, NamedNode, Quad

    operation, args = message[0], message[1:]
    graph_term = (lambda g: DefaultGraph() if g == "" else NamedNode(g))
    if operation == "update":
        sparql, base_iri = args[:2]
        try:
            store.update(sparql, base_iri=base_iri)
        except SyntaxError as exc:
            raise QueryFailed(400, f"SPARQL Update syntax error: {exc}") from None
        except (ValueError, RuntimeError) as exc:
            # the update's fault: DROP or CLEAR of a graph that does not exist, CREATE of one
            # that does (without SILENT), a function the engine does not know; pyoxigraph
            # applies an update whole or not at all
            raise QueryFailed(400, f"The update could not be applied, and nothing was written: {exc}") from None
        except OSError as exc:
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




# --------------------------------------------------------------------------- parent side

@dataclass
class _Evaluator:
    """A pool's lane of an evaluator process (`_EvaluatorProcess`)."""

    pid: int  # its process
    conn: Connection
    generation: int  # the data process's count of writes when it was forked
    link: int  # which connection to a data process forked it (`QueryWorkerPool._link`)
    tid: int = 0  # the lane's thread in that process: its CPU time and priority
    busy_since: float = 0.0  # when its current query was sent
    cpu_at_start: float | None = None  # its CPU seconds then (`_cpu_seconds`)
    look_at: float = float("inf")  # when to look whether its query is long (`_look_at_priority`)
    idle_since: float = 0.0  # when it was last given back
    demoted: bool = False  # reniced to EVALUATOR_NICE (which only a new process can undo)
    release_core: Any = None  # gives back the core its query holds (`_Cores`)
    core_until: float = 0.0  # when its query gives its core back at the latest (_CORE_HOLD)
    streaming: bool = False  # its answer goes at its reader's pace (`_stream`)


class QueryWorkerPool:
    """The evaluators of one HTTP worker process, forked from a data process.

    The data process is the server's (`bjkg serve` names its socket in DATA_ENV, or
    `shared` names it): the pool connects to it; else the pool starts one of its own.
    Thread-safe: HTTP threads call `run` concurrently. At most `size` evaluators (the query
    slots: admission may give all of them to this process); `queue`, `client_slots` as in
    bjkg.server.sparql.admission. If the data process ends, the queries of the moment and
    the next get StoreUnavailable (503) and the pool connects again (or starts its own
    again) on the next use.
    """

    def __init__(self, spec: dict | str, size: int, *, isolate_network: bool = True,
                 start_timeout: float = 60.0, queue: int | None = None,
                 client_slots: int | None = None, memory_mb: int = 0,
                 shared: str | None = None, cores: int = 0) -> None:
        if isinstance(spec, str):  # a store path, as before
            spec = {"store": spec}
        self.spec = data_spec(spec, isolate_network=isolate_network, memory_mb=memory_mb)
        self.shared = shared if shared is not None else (os.environ.get(DATA_ENV) or None)
        self.size = size
        self.admission = admission_for(size, queue if queue is not None else 4 * size,
                                       client_slots if client_slots is not None else max(1, (size + 1) // 2))
        self._evaluators = 0  # forked and not ended: idle, or answering
        self.cores = _Cores(cores) if 0 < cores < size else None  # QUERY_CPUS of this process
        # evaluators forked at start and kept when idle: with a core gate, one per core (at most
        # that many queries evaluate at once, longer than _CORE_HOLD, for long); each more
        # holds its own copy of the store's caches (≈50–85 MB at 1M triples)
        self.keep = min(size, cores if self.cores is not None else _START_EVALUATORS)
        self.start_timeout = start_timeout
        self.network_isolated: bool | None = None
        self._idle: list[_Evaluator] = []
        self._held: dict[int, _Evaluator] = {}  # the evaluators queries hold, by id (`_held_long`)
        self._idle_cond = threading.Condition()
        self._idle_waiters: list = []  # wake-ups of queries on event loops waiting for an evaluator
        self._control: socket.socket | None = None
        self._process: subprocess.Popen | None = None  # our own data process (not shared)
        self._generation: _Generation | None = None
        self._link = 0  # counts the connections made to a data process
        self._control_lock = threading.Lock()
        self._lock = threading.RLock()
        self._started = False
        self._closed = False
        self._closing = threading.Event()
        self._reaper: threading.Thread | None = None
        self._owner_pid = os.getpid()

    # lifecycle -----------------------------------------------------------------------
    def start(self, timeout: float | None = None) -> None:
        """Connect to the data process — the server's, or one started now — and fork the
        first evaluators (otherwise the first query does). Raises StoreUnavailable."""
        with self._lock:
            if self._started:
                return
            if self._closed:
                raise StoreUnavailable("the query worker pool is closed")
            timeout = self.start_timeout if timeout is None else max(0.1, min(timeout, self.start_timeout))
            control = self._connect(timeout) if self.shared else self._spawn()
            control.settimeout(timeout)
            try:
                message, fds = _recv(control, with_fds=True) or (None, [])
            except (OSError, EOFError) as exc:
                message, fds = ("fatal", f"the data process did not answer: {exc}"), []
            if message is None or message[0] != "ready" or len(fds) != 1:
                for fd in fds:
                    os.close(fd)
                control.close()
                self._kill_data_process()
                raise StoreUnavailable(message[1] if message and message[0] == "fatal" else
                                       "the data process ended while starting")
            generation = _Generation.attach(fds[0])
            if self.shared and message[1]["serves"] != {key: self.spec.get(key) for key in _SERVES}:
                generation.close()
                control.close()
                raise StoreUnavailable(f"the data process at {self.shared} serves another store "
                                       f"({message[1]['serves']}) than this pool ({self.spec})")
            control.settimeout(None)
            self._control, self._generation = control, generation
            self._link += 1
            self.network_isolated = message[1]["network_isolated"]
            self._started = True
            fresh = [self._fork() for _ in range(self.keep)]
            if self._reaper is None:
                self._reaper = threading.Thread(target=self._reap, name="bjkg-evaluator-reaper", daemon=True)
                self._reaper.start()
        now = time.monotonic()
        for evaluator in fresh:
            evaluator.idle_since = now
        with self._idle_cond:
            self._idle.extend(fresh)
            self._idle_cond.notify_all()

    def _connect(self, timeout: float) -> socket.socket:
        """A control connection to the server's data process."""
        control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        control.settimeout(timeout)
        try:
            control.connect(self.shared)
        except OSError as exc:
            control.close()
            raise StoreUnavailable(f"the server's data process is not running ({exc.strerror}); "
                                   "it is being restarted, try again shortly") from None
        return control

    def _spawn(self) -> socket.socket:
        """Start a data process of this pool's own; its control connection."""
        ours, theirs = socket.socketpair()
        env = {k: v for k, v in os.environ.items() if k not in _PRIVATE_ENV}  # it never writes
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bjkg.server.sparql.workers", json.dumps(self.spec)],
            stdin=theirs.fileno(), env=env, close_fds=True)
        theirs.close()
        return ours

    def close(self) -> None:
        """End the evaluators (and our own data process). Safe to call more than once, and a
        no-op in a forked child."""
        if os.getpid() != self._owner_pid:
            return
        with self._lock:
            self._closed = True
        self._closing.set()
        with self._idle_cond:
            idle, self._idle = self._idle, []
        for evaluator in idle:
            self._end(evaluator)
        if self._control is not None:
            try:
                self._control.close()  # the data process kills what it forked for us
            except OSError:
                pass
        self._kill_data_process()

    def _kill_data_process(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def _lost(self, control: socket.socket | None) -> None:
        """The connection `control` to the data process failed: forget it and its idle
        evaluators (they died with their data process, or are killed by it); the next use
        connects again."""
        with self._lock:
            if control is None or control is not self._control:
                return  # already forgotten
            self._started = False
            self._control = None
            try:
                control.close()
            except OSError:
                pass
            self._kill_data_process()
            with self._idle_cond:
                idle, self._idle = self._idle, []
            for evaluator in idle:
                self._end(evaluator)

    def _data_gone(self) -> bool:
        """Whether the data process has closed our control connection (it only ever writes
        a reply to a request, so anything but "nothing to read" is its end)."""
        control = self._control
        if control is None:
            return True
        try:
            return control.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    def _crashed(self) -> Exception:
        """What an evaluator's end means: its own death (WorkerCrashed), or its data
        process's (StoreUnavailable; the pool connects again on the next use)."""
        if self._data_gone():
            self._lost(self._control)
            return StoreUnavailable("the data process ended while answering; the server starts a new "
                                    "one: try again shortly")
        return WorkerCrashed()

    def _call(self, message, with_fds: bool = False):
        """One request to the data process and its reply."""
        failure = None
        with self._control_lock:
            control = self._control
            if control is None:
                raise StoreUnavailable("the data process is not running")
            try:
                _send(control, message)
                reply = _recv(control, with_fds)
            except OSError as exc:
                reply, failure = None, f"the data process failed ({exc})"
        if reply is None:
            self._lost(control)
            raise StoreUnavailable(failure or "the data process ended; the server starts a new one: "
                                   "try again shortly")
        return reply

    def _fork(self) -> _Evaluator:
        reply, fds = self._call(("fork",), with_fds=True)
        if reply[0] != "forked":
            raise StoreUnavailable(reply[2])
        _, pid, generation, tid = reply
        with self._idle_cond:
            self._evaluators += 1
        return _Evaluator(pid, Connection(fds[0]), generation, self._link, tid)

    def _end(self, evaluator: _Evaluator) -> None:
        """Close the lane: idle, its thread ends; mid-query, its process ends the query (by
        ending itself, once its other lanes allow: `_EvaluatorProcess._watch`)."""
        evaluator.conn.close()
        with self._idle_cond:
            self._evaluators -= 1
            self._held.pop(id(evaluator), None)

    def _replace(self, evaluator: _Evaluator) -> None:
        """End `evaluator`; the next query that finds no idle one forks a fresh one (`_take`),
        so a cancelled query's slot is free at once."""
        self._end(evaluator)
        with self._idle_cond:
            self._idle_cond.notify()
        self._wake_idle_waiters()  # fewer than `keep` now, perhaps: they fork at once

    def _end_lanes_of(self, pid: int) -> None:
        """End the idle lanes of the evaluator process `pid`, which has ended: its sockets
        close one by one as it exits, so an idle one may not read as closed yet."""
        with self._idle_cond:
            dead = [e for e in self._idle if e.pid == pid]
            self._idle = [e for e in self._idle if e.pid != pid]
        for evaluator in dead:
            self._end(evaluator)

    def _drain(self, evaluator: _Evaluator) -> None:
        """For a query whose client hung up: let it finish for up to _DRAIN_GRACE seconds,
        drop its answer and keep the evaluator, else end it (`_replace`). A client that
        leaves mid-query is common (a timeout, a page left, a load generator stopping), and
        ending the evaluator of a query a few milliseconds from its answer cost a fresh one
        that must open the store and warm its caches (at 1M triples ≈ 30 ms of CPU, then
        joins at 9 ms instead of 3 ms for a while). Capacity is not held: the caller gives
        the slot and the core back at once, and a heavy query ends within the grace. In a
        thread of its own: hang-ups are few, each drain short."""
        def drain() -> None:
            try:
                if evaluator.conn.poll(_DRAIN_GRACE):
                    message = evaluator.conn.recv()
                    # as after `_received`: a whole answer, or an error the evaluator
                    # answered cleanly (not its own time limit), and it waits for the next
                    clean = message[0] == "ok" or (message[0] == "failed" and message[1] != 503)
                    if clean and not self._closed:
                        self._put_back(evaluator)
                        return
            except (EOFError, OSError):
                pass
            self._replace(evaluator)

        threading.Thread(target=drain, name="bjkg-drain", daemon=True).start()

    def _stale(self, evaluator: _Evaluator) -> bool:
        """Forked before the last write (by any pool of the server), or from a data process
        we are no longer connected to."""
        generation = self._generation
        return (evaluator.link != self._link or generation is None
                or evaluator.generation != generation.value)

    def _put_back(self, evaluator: _Evaluator) -> None:
        if evaluator.demoted or self._stale(evaluator):  # lower priority, or data from before a write
            self._replace(evaluator)
            return
        evaluator.idle_since = time.monotonic()
        evaluator.cpu_at_start, evaluator.streaming = None, False
        with self._idle_cond:
            self._held.pop(id(evaluator), None)
            self._idle.append(evaluator)
            retired = self._retired(evaluator.idle_since)
            self._idle_cond.notify()
        self._wake_idle_waiters()
        for old in retired:
            self._end(old)

    def _wake_idle_waiters(self) -> None:
        """Wake the queries waiting on event loops for an evaluator (`_given_back`): one was
        given back, or one ended. Each looks again; those that find none wait on."""
        with self._idle_cond:
            waiters, self._idle_waiters = self._idle_waiters, []
        for wake in waiters:
            wake()

    def _retired(self, now: float) -> list[_Evaluator]:
        """Take out of the idle list (held under `_idle_cond`) the evaluators beyond the
        first `keep` that have been idle for _RETIRE_AFTER seconds, for the caller
        to end. An evaluator holds its own copy of the store's caches (≈50–85 MB at 1M
        triples), so a burst's evaluators are not kept for good. The list is a stack (the
        last one given back is taken first), so its bottom has been idle longest."""
        retired = []
        while len(self._idle) > self.keep and now - self._idle[0].idle_since > _RETIRE_AFTER:
            retired.append(self._idle.pop(0))
        return retired

    def _reap(self) -> None:
        """Retire idle evaluators while no query comes to do it (`_put_back` does it too)."""
        while not self._closing.wait(_RETIRE_AFTER / 2):
            with self._idle_cond:
                retired = self._retired(time.monotonic())
            for old in retired:
                self._end(old)

    def _take_now(self) -> _Evaluator | None:
        """An idle evaluator that is not stale, at once, or None."""
        while True:
            with self._idle_cond:
                if not self._idle:
                    return None
                evaluator = self._idle.pop()
                if not self._stale(evaluator) and not _closed(evaluator):
                    self._held[id(evaluator)] = evaluator
                    return evaluator
            self._end(evaluator)  # from before a write, or its process ended: look again

    def _take(self, deadline: float, gone: threading.Event | None) -> _Evaluator:
        """An idle evaluator that is not stale, or a new one while fewer than `size` exist
        (they are forked as the load needs them: most servers never need every slot) —
        beyond the pool's `keep`, only once none has been given back for _FORK_AFTER
        seconds (as `_given_back` waits on the event loop), and while a query holds one
        for long (`_held_long`)."""
        fork_at = time.monotonic() + _FORK_AFTER
        while True:
            evaluator = self._take_now()
            if evaluator is not None:
                return evaluator
            with self._idle_cond:
                if self._idle:
                    continue  # put back meanwhile
                now = time.monotonic()
                if self._evaluators < self.size and (self._evaluators < self.keep
                                                     or (now >= fork_at and self._held_long(now))):
                    self._evaluators += 1  # reserved: _fork counts it again
                    break
                remaining = deadline - now
                if remaining <= 0:
                    raise QueryTimedOut()
                if gone is not None and gone.is_set():
                    raise ClientGone()
                wait = min(_TICK * 5, remaining)
                if self._evaluators < self.size:
                    wait = min(wait, fork_at - now)
                self._idle_cond.wait(wait)
        try:
            return self._hold(self._fork())
        finally:
            with self._idle_cond:
                self._evaluators -= 1

    def _hold(self, evaluator: _Evaluator) -> _Evaluator:
        """`evaluator`, counted as held by a query (`_held_long`)."""
        with self._idle_cond:
            self._held[id(evaluator)] = evaluator
        return evaluator

    def _held_long(self, now: float) -> bool:
        """Whether a query holds one of this pool's evaluators for long: its query has used
        _FORK_CPU seconds of CPU, streams its answer at its reader's pace, or has gone on
        for _FORK_WALL seconds (the disk, a stopped process); or its CPU time is unknown.
        Only then does one more evaluator let the next query through: a query slow because
        the CPU is shared (more queries than cores, a busy host) ends as soon with one more
        evaluator beside it, which would hold its own copy of the store's caches — on a
        busy host the benchmark's families at 1M triples forked up to five evaluators, 705 MB
        in all (issue #17)."""
        with self._idle_cond:
            held = list(self._held.values())
        for evaluator in held:
            if evaluator.streaming or evaluator.cpu_at_start is None or now - evaluator.busy_since >= _FORK_WALL:
                return True
            cpu = _cpu_seconds(evaluator.pid, evaluator.tid)
            if cpu is None or cpu - evaluator.cpu_at_start >= _FORK_CPU:
                return True
        return False

    # queries -------------------------------------------------------------------------
    def run(self, request: QueryRequest, timeout: float) -> QueryAnswer:
        """Evaluate `request` in an evaluator, within `timeout` seconds of the request's
        arrival. A long serialised answer (`streamed`) comes back with `chunks` that the
        evaluator writes as the client reads. Raises QueryTimedOut (and ends that
        evaluator), Refused (QueueFull, QueueTimeout, ClientShareExceeded), ClientGone,
        WorkerCrashed, QueryFailed, StoreUnavailable (the data process is not running)."""
        payload = bytes(ForkingPickler.dumps(request))  # fail on bad input before taking a slot
        context = current_context()
        deadline = context.arrived + timeout
        if deadline <= time.monotonic():
            raise QueryTimedOut()
        if self._started and self._data_gone():  # it died since the last query: connect again
            self._lost(self._control)
        if not self._started:
            self.start(timeout=deadline - time.monotonic())
        token = self.admission.enter(context.client, deadline, context.gone)
        release_core = None
        if self.cores is not None:
            try:
                self.cores.take(deadline, context.gone)
            except BaseException:
                self.admission.leave(token)
                raise
            release_core = self._once(self.cores.release)
        release = self._releaser(token, release_core)
        handed = False  # to the thread of a streamed answer, which releases the slot
        try:
            while True:
                evaluator = self._take(deadline, context.gone)
                evaluator.release_core = release_core
                try:
                    message = self._first(evaluator, payload, deadline, context.gone)
                    break
                except WorkerCrashed:
                    if not self._again(context, deadline):
                        raise
            if message[0] == "ok":
                return message[1]
            if release_core is not None:
                release_core()  # a long answer goes at its reader's pace: not on a core
            handed = True  # ("answer", QueryAnswer): a long answer, sent as the engine writes it
            return self._stream(evaluator, message[1], deadline, context.gone, release)
        finally:
            if not handed:
                release()

    async def run_async(self, request: QueryRequest, timeout: float, context: RequestContext,
                        hung_up) -> QueryAnswer:
        """`run` on the HTTP front's event loop, for a query that can start at once: a free
        slot and an idle evaluator now, else WouldWait before anything happened (the caller
        then calls `run` in a thread). The wait for the evaluator's answer holds no thread:
        the loop watches its socket, the deadline and `hung_up` (a future the front sets
        when the client hangs up) — the same rules as `_wait`. A long answer that the
        evaluator starts to stream is passed on by a thread, as `run` does."""
        if not self._started or self._closed:
            raise WouldWait()
        payload = bytes(ForkingPickler.dumps(request))
        deadline = context.arrived + timeout
        if deadline <= time.monotonic():
            raise QueryTimedOut()
        if self._data_gone():
            raise WouldWait()  # `run` connects again
        token = self.admission.enter_now(context.client)
        if token is None:
            raise WouldWait()
        release_core = None
        if self.cores is not None:
            try:
                await self.cores.take_async(deadline, context.gone, hung_up)
            except BaseException:
                self.admission.leave(token)
                raise
            release_core = self._once(self.cores.release)
        evaluator = self._take_now()
        if evaluator is None:
            try:
                evaluator = await self._given_back(deadline, context.gone, hung_up)
                if evaluator is None and time.monotonic() >= deadline:
                    raise QueryTimedOut()
                if evaluator is None and not hung_up.done() and (self._evaluators < self.keep
                                                                 or self._held_long(time.monotonic())):
                    evaluator = await self._fork_now()  # in a thread: the data process answers in a few ms
            finally:
                if evaluator is None:  # none to be had, or cancelled meanwhile: keep no slot, no core
                    if release_core is not None:
                        release_core()
                    self.admission.leave(token)
            if evaluator is None:
                if hung_up.done():
                    raise ClientGone()
                raise WouldWait()
        release = self._releaser(token, release_core)
        evaluator.release_core = release_core
        handed = False
        try:
            try:
                with self._answering(evaluator):
                    self._send_query(evaluator, payload, deadline)
                    message = await self._wait_async(evaluator, deadline, context.gone, hung_up)
            except WorkerCrashed:
                if self._again(context, deadline):
                    raise WouldWait() from None  # sent again by `run`, in a thread
                raise
            if message[0] == "ok":
                self._put_back(evaluator)
                return message[1]
            if release_core is not None:
                release_core()  # a long answer goes at its reader's pace: not on a core
            handed = True  # ("answer", QueryAnswer): the rest comes as the engine writes it
            import asyncio

            return await asyncio.get_running_loop().run_in_executor(
                None, self._stream, evaluator, message[1], deadline, context.gone, release)
        finally:
            if not handed:
                release()

    @staticmethod
    def _again(context: RequestContext, deadline: float) -> bool:
        """Whether a query whose evaluator process ended before any of its answer came is
        sent again: once, while it has time. The process may have ended for another lane's
        query (given up on, or past the memory cap) as well as for its own; a query that
        ends its process again is answered 503 the second time."""
        context.crashes += 1
        return context.crashes == 1 and time.monotonic() < deadline

    async def _given_back(self, deadline: float, gone: threading.Event | None, hung_up) -> _Evaluator | None:
        """`_take`'s wait before a fork beyond `keep`, on the event loop: an evaluator given
        back within _FORK_AFTER seconds (None: fork one, or the client hung up). Why: a
        query past its core hold (`_Cores`) lets the next one start, and most such queries
        end a few milliseconds later — forking for each cost a fresh evaluator, ≈ 30 ms of CPU
        to open the store and tens of MB of caches to warm again (at 1M triples the join
        family kept five evaluators instead of two), while a long one is waited for only once."""
        import asyncio

        loop = asyncio.get_running_loop()
        until = min(time.monotonic() + _FORK_AFTER, deadline)
        while True:
            with self._idle_cond:
                if self._evaluators < self.keep:
                    return None
                woken = loop.create_future()

                def wake(woken=woken) -> None:
                    try:
                        loop.call_soon_threadsafe(lambda: woken.done() or woken.set_result(None))
                    except RuntimeError:  # its loop has closed (the process is ending)
                        pass

                self._idle_waiters.append(wake)
            evaluator = self._take_now()  # given back before the wake-up was registered
            left = until - time.monotonic()
            ended = left <= 0 or hung_up.done() or (gone is not None and gone.is_set())
            if evaluator is None and not ended:
                await asyncio.wait({woken, hung_up}, timeout=left, return_when=asyncio.FIRST_COMPLETED)
                evaluator = self._take_now()
            with self._idle_cond:
                if wake in self._idle_waiters:
                    self._idle_waiters.remove(wake)
            if evaluator is not None or ended:
                return evaluator

    async def _fork_now(self) -> _Evaluator | None:
        """A new evaluator while fewer than `size` exist (as `_take` forks them), or None."""
        import asyncio

        with self._idle_cond:
            if self._evaluators >= self.size:
                return None
            self._evaluators += 1  # reserved: _fork counts it again
        forked = asyncio.get_running_loop().run_in_executor(None, lambda: self._hold(self._fork()))
        try:
            return await asyncio.shield(forked)
        except asyncio.CancelledError:  # the request is gone: the evaluator goes to the idle ones
            forked.add_done_callback(lambda done: done.exception() or self._put_back(done.result()))
            raise
        except Exception:  # noqa: BLE001 - no data process: `run` reports it
            return None
        finally:
            with self._idle_cond:
                self._evaluators -= 1

    async def _wait_async(self, evaluator: _Evaluator, deadline: float, gone: threading.Event | None,
                          hung_up):
        """`_wait` on the event loop: the evaluator's next message, or QueryTimedOut at the
        deadline, ClientGone when the client hangs up (both end the evaluator: the caller
        replaces it); the evaluator is demoted after _DEMOTE_AFTER seconds of CPU. One future is
        woken by whichever comes first: the socket readable, a timer, the hang-up."""
        import asyncio

        loop = asyncio.get_running_loop()
        fd = evaluator.conn.fileno()
        readable = False
        woken = None

        def wake(*_) -> None:
            if woken is not None and not woken.done():
                woken.set_result(None)

        def ready() -> None:
            nonlocal readable
            readable = True
            wake()

        loop.add_reader(fd, ready)
        hung_up.add_done_callback(wake)
        try:
            while not readable:
                now = time.monotonic()
                if now >= deadline:
                    raise QueryTimedOut()
                if (gone is not None and gone.is_set()) or hung_up.done():
                    raise ClientGone()
                wake_at = min(deadline, evaluator.look_at)
                woken = loop.create_future()
                timer = loop.call_later(max(0.0, wake_at - now), wake)
                try:
                    await woken
                finally:
                    timer.cancel()
                _look_at_priority(evaluator, time.monotonic())
        finally:
            hung_up.remove_done_callback(wake)
            loop.remove_reader(fd)
            os.set_blocking(fd, True)  # a loop may have made it non-blocking; the message is read whole
        return self._received(evaluator)

    def _wait(self, evaluator: _Evaluator, deadline: float, gone: threading.Event | None,
              cancelled: threading.Event | None = None):
        """The evaluator's next message; ends it and raises at the deadline (QueryTimedOut),
        when the client hangs up (ClientGone) or the reader stops (_Cancelled)."""
        while not evaluator.conn.poll(min(_TICK, max(0.0, deadline - time.monotonic()))):
            _look_at_priority(evaluator, time.monotonic())
            if time.monotonic() >= deadline:
                raise QueryTimedOut()
            if gone is not None and gone.is_set():
                raise ClientGone()
            if cancelled is not None and cancelled.is_set():
                raise _Cancelled()
        return self._received(evaluator)

    @staticmethod
    def _received(evaluator: _Evaluator):
        """The message the evaluator has sent (it writes each in one piece): an error
        message raised as what it means, else the message."""
        message = evaluator.conn.recv()
        if message[0] == "memory":
            raise WorkerCrashed()
        if message[0] == "failed":
            if message[1] == 503:
                raise QueryTimedOut()
            limit = message[3] if len(message) > 3 else None
            raise _Answered(RowLimitExceeded(limit) if limit else QueryFailed(message[1], message[2]))
        return message

    def _first(self, evaluator: _Evaluator, payload: bytes, deadline: float,
               gone: threading.Event | None):
        """Send the query, with the seconds left to its deadline (the evaluator's own timer);
        its answer whole (("ok", answer): the evaluator is given back), or the start of a
        long one (("answer", answer): the evaluator is still answering)."""
        with self._answering(evaluator):
            self._send_query(evaluator, payload, deadline)
            message = self._wait(evaluator, deadline, gone)
        if message[0] == "ok":
            self._put_back(evaluator)
        return message

    @staticmethod
    def _send_query(evaluator: _Evaluator, payload: bytes, deadline: float) -> None:
        evaluator.busy_since = time.monotonic()
        if not evaluator.demoted:
            evaluator.cpu_at_start = _cpu_seconds(evaluator.pid, evaluator.tid)
            evaluator.look_at = evaluator.busy_since + _DEMOTE_AFTER
        if evaluator.release_core is not None:
            evaluator.core_until = evaluator.busy_since + _CORE_HOLD
            evaluator.look_at = min(evaluator.look_at, evaluator.core_until)
        evaluator.conn.send_bytes(_REMAINING.pack(deadline - evaluator.busy_since) + payload)

    @contextlib.contextmanager
    def _answering(self, evaluator: _Evaluator):
        """Around sending a query and waiting for its first message: the evaluator is given
        back after a whole answer or a clean error, and replaced after anything else."""
        try:
            yield
        except _Answered as answered:
            self._put_back(evaluator)  # it ended its answer cleanly and waits for the next
            raise answered.error from None
        except (EOFError, OSError):
            self._replace(evaluator)
            self._end_lanes_of(evaluator.pid)
            raise self._crashed() from None
        except ClientGone:
            self._drain(evaluator)  # the slot is free at once; the evaluator may be kept
            raise
        except BaseException:
            self._replace(evaluator)  # mid-answer, or the socket's state is unknown: never reuse it
            raise

    def _releaser(self, token: int, release_core=None):
        """Give the admission slot `token` back, once, whoever calls first (the request, or
        the thread of its streamed answer), and the query's core if it still holds it."""
        def release() -> None:
            if release_core is not None:
                release_core()
            self.admission.leave(token)

        return self._once(release)

    @staticmethod
    def _once(function):
        """`function`, called once, whoever calls first."""
        done = threading.Lock()

        def once() -> None:
            if done.acquire(blocking=False):
                function()

        return once

    def _stream(self, evaluator: _Evaluator, answer: QueryAnswer, deadline: float,
                gone: threading.Event | None, release) -> QueryAnswer:
        """The rest of a long answer: a thread passes the evaluator's chunks to the HTTP
        response (bjkg.server.sparql.evaluate.stream_from) and gives the evaluator and the
        slot back when the answer ends, the client goes or the deadline passes."""

        evaluator.streaming = True

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
                self._end_lanes_of(evaluator.pid)
                raise self._crashed() from None
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
        """Apply a write in the data process. Evaluators forked before it, this pool's and
        every other pool's of the data process, are never used again (`_stale`); this
        pool's idle ones are ended now."""
        result = self._data_request(message)[1]
        with self._idle_cond:
            stale = [e for e in self._idle if self._stale(e)]
            self._idle = [e for e in self._idle if not self._stale(e)]
        for evaluator in stale:
            self._replace(evaluator)
        return result

    def read(self, *message):
        """A read of the data process's own bookkeeping (graph names), never a query."""
        return self._data_request(message)[1]


if __name__ == "__main__":
    data_main(json.loads(sys.argv[1]))
