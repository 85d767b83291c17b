"""Admission control for queries: a number of slots, a bounded FIFO queue, and a per-client
share of both — for the whole server, not for one of its HTTP worker processes.

A query is admitted before it takes an evaluator (bjkg.server.sparql.workers): at most
`slots` evaluate at once, at most `queue` wait; one client (its address) holds at most
`client_slots` slots — more only while at least half the slots stay free, so a lone client's
parallel requests do not queue on an idle server, and a busy server holds everyone to their
share — and when it already holds its share and as many of its queries wait (at most half
the queue), its next query is refused at once (`ClientShareExceeded`, 429) — like the
per-IP limits of Wikidata's query service. A full queue is refused at once too (`QueueFull`, 503). Both carry
the Retry-After to send. A waiting query leaves the queue at its deadline (`QueueTimeout`)
or when its client hangs up (`ClientGone`); a client at its share is passed over, so one
client's backlog never blocks the others.

`SharedAdmission` keeps the counts of every HTTP worker process of one ``bjkg serve`` in a
small file that `bjkg serve` creates before it starts them (`create_shared`, named by the
environment variable `ENV`) and that each maps; a change is made under `fcntl.flock`, and a
waiting query sleeps on a futex in the file until room may have been made. An entry belongs
to a process, and entries of a process that died (a worker killed with its queries) are
given back when anyone looks for room, so a crash never leaks a slot. Without a server's
file (the test client, ``--get``), `local_admission` applies the same rules to one process.

The share is keyed by the client's address as the HTTP front saw it (behind a proxy, every
client has the proxy's address: docs/deploy.md).
"""
from __future__ import annotations

import collections
import contextlib
import ctypes
import fcntl
import mmap
import os
import struct
import sys
import tempfile
import threading
import time

ENV = "BJKG_ADMISSION_FILE"  # set by `bjkg serve` for its HTTP worker processes
_TICK = 0.01  # how often a waiting query looks at its turn, its deadline and its client
_HEADER = struct.Struct("<QI4x")  # the next ticket; a generation, bumped when room may have been made
_GENERATION = 8  # offset of the generation: the futex word waiting processes sleep on
_ENTRY = struct.Struct("<iiQQ")  # pid, state, ticket, client key
_FREE, _RUNNING, _WAITING = 0, 1, 2
_REAP_EVERY = 0.5  # seconds between looks for entries of dead processes, per process


class Refused(Exception):
    """Not admitted; `retry_after` is the Retry-After to send (seconds)."""

    retry_after = 5


class QueueFull(Refused):
    """Every query slot is taken and the queue is full: refused at once."""


class QueueTimeout(Refused):
    """No query slot became free before the request's deadline."""


class ClientShareExceeded(Refused):
    """This client already uses its share of the query slots and of the queue."""

    retry_after = 10


class ClientGone(Exception):
    """The client hung up; its query was cancelled. Nothing can be answered."""


def client_queue(queue: int, client_slots: int) -> int:
    """Places of the queue one client may take once it holds its share of the slots: as
    many as its share, and never more than half the queue."""
    return max(1, min(client_slots, queue // 2))


def local_admission(slots: int, queue: int, client_slots: int) -> "SharedAdmission":
    """The rules for the threads of one process (the test client, ``--get``, a server whose
    shared file could not be used): the same implementation, over a file that only this
    process maps (removed at once; the mapping keeps it)."""
    fd, path = tempfile.mkstemp(prefix="bjkg-admission-")
    os.close(fd)
    try:
        create_shared(path, slots, queue)
        return SharedAdmission(path, slots, queue, client_slots)
    finally:
        os.unlink(path)


def _key(client: str) -> int:
    import hashlib  # not at the top: OpenSSL, 3.8 MB in the data process (and 0.6 MB in each evaluator forked from it)

    return int.from_bytes(hashlib.blake2b(client.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")


def _size(slots: int, queue: int) -> int:
    return _HEADER.size + _ENTRY.size * (slots + queue)


def create_shared(path: str, slots: int, queue: int) -> None:
    """Create (or reset) the shared admission file for a server of these sizes."""
    with open(path, "wb") as file:
        file.write(bytes(_size(slots, queue)))


_FUTEX_WAIT, _FUTEX_WAKE = 0, 1  # shared (not FUTEX_PRIVATE): the word is in a shared mapping
_WAKE_AT_LEAST = 0.05  # a waiting query looks at its deadline and its client this often
_SYS_FUTEX = {"x86_64": 202, "aarch64": 98, "arm64": 98}


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def _futex():
    """libc's syscall() bound to futex(2), or None where it is not known (then: polling)."""
    import platform

    number = _SYS_FUTEX.get(platform.machine())
    if number is None or not sys.platform.startswith("linux"):
        return None
    try:
        syscall = ctypes.CDLL(None, use_errno=True).syscall
    except (OSError, AttributeError):
        return None
    syscall.restype = ctypes.c_long

    def futex(word, op, value, timeout, word2, value3):
        return syscall(ctypes.c_long(number), word, ctypes.c_int(op), ctypes.c_int(value),
                       timeout, word2, ctypes.c_int(value3))
    return futex


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SharedAdmission:
    """The rules of the module's doc, for every process that maps the same file."""

    def __init__(self, path: str, slots: int, queue: int, client_slots: int) -> None:
        self.slots = slots
        self.queue = queue
        self.client_slots = max(1, min(client_slots, slots))
        self.client_queue = client_queue(queue, self.client_slots)
        self._capacity = slots + queue
        self._fd = os.open(path, os.O_RDWR)
        if os.fstat(self._fd).st_size < _size(slots, queue):
            os.close(self._fd)
            raise ValueError(f"{path} was made for a smaller server")
        self._map = mmap.mmap(self._fd, _size(slots, queue))
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._reaped = 0.0
        self._futex = _futex()
        self._word_view = ctypes.c_uint32.from_buffer(self._map, _GENERATION)
        self._word = ctypes.c_void_p(ctypes.addressof(self._word_view))

    @contextlib.contextmanager
    def _locked(self):
        with self._lock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _entries(self) -> list[tuple[int, int, int, int]]:
        return list(_ENTRY.iter_unpack(self._map[_HEADER.size:]))

    def _set(self, index: int, pid: int, state: int, ticket: int, key: int) -> None:
        offset = _HEADER.size + index * _ENTRY.size
        self._map[offset:offset + _ENTRY.size] = _ENTRY.pack(pid, state, ticket, key)

    def _reap(self, entries, force: bool = False) -> list[tuple[int, int, int, int]]:
        """Free the entries of processes that died (looked at most every _REAP_EVERY s)."""
        now = time.monotonic()
        if not force and now - self._reaped < _REAP_EVERY:
            return entries
        self._reaped = now
        dead = {pid for pid, state, _, _ in entries if state != _FREE and not _alive(pid)}
        if not dead:
            return entries
        for index, (pid, state, _, _) in enumerate(entries):
            if state != _FREE and pid in dead:
                self._set(index, 0, _FREE, 0, 0)
        self._bump()
        return self._entries()

    @property
    def running(self) -> int:
        with self._locked():
            return sum(1 for _, state, _, _ in self._entries() if state == _RUNNING)

    def enter_now(self, client: str) -> int | None:
        """A slot at once, as `enter` would give it without waiting, or None (the caller
        then calls `enter`, which queues, refuses or admits by the same rules)."""
        key = _key(client)
        with self._locked():
            return self._enter_at_once(self._entries(), key)

    def _enter_at_once(self, entries, key: int) -> int | None:
        running = sum(1 for _, s, _, _ in entries if s == _RUNNING)
        if running >= self.slots:
            entries = self._reap(entries)
        index = self._admit_now(entries, key)
        if index is not None:
            self._set(index, os.getpid(), _RUNNING, 0, key)
        return index

    def enter(self, client: str, deadline: float, gone: threading.Event | None):
        key = _key(client)
        pid = os.getpid()
        with self._locked():
            entries = self._entries()
            index = self._enter_at_once(entries, key)
            if index is not None:
                return index
            entries = self._entries()
            waiting = [e for e in entries if e[1] == _WAITING]
            if len(waiting) >= self.queue:
                entries = self._reap(entries, force=True)
                waiting = [e for e in entries if e[1] == _WAITING]
                if len(waiting) >= self.queue:
                    raise QueueFull()
            mine_running = sum(1 for _, s, _, k in entries if s == _RUNNING and k == key)
            mine_waiting = sum(1 for _, _, _, k in waiting if k == key)
            if mine_running >= self.client_slots and mine_waiting >= self.client_queue:
                raise ClientShareExceeded()
            free = next((i for i, e in enumerate(entries) if e[1] == _FREE), None)
            if free is None:
                raise QueueFull()
            ticket = struct.unpack_from("<Q", self._map, 0)[0] + 1
            struct.pack_into("<Q", self._map, 0, ticket)
            self._set(free, pid, _WAITING, ticket, key)
            generation = self._generation()
        admitted = False
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise QueueTimeout()
                if gone is not None and gone.is_set():
                    raise ClientGone()
                self._sleep(generation, min(_WAKE_AT_LEAST, remaining))
                with self._locked():
                    entries = self._reap(self._entries())
                    if self._my_turn(entries, free):
                        self._set(free, pid, _RUNNING, 0, key)
                        admitted = True
                        return free
                    generation = self._generation()
        finally:
            if not admitted:
                with self._locked():
                    self._set(free, 0, _FREE, 0, 0)
                    self._bump()

    def _may_run(self, held: int, running: int) -> bool:
        """Whether a client holding `held` of the `running` slots may take one more: below
        its share always; beyond it only while at least half the slots stay free after
        (an otherwise quiet server lends a lone client's parallel requests its idle slots,
        and a busy one holds every client to its share)."""
        if running >= self.slots:
            return False
        return held < self.client_slots or running < self.slots // 2

    def _admit_now(self, entries, key: int) -> int | None:
        """A free entry to run in at once: the client may take a slot (`_may_run`) and no
        one waiting may take it first."""
        running = collections.Counter(k for _, s, _, k in entries if s == _RUNNING)
        total = sum(running.values())
        if not self._may_run(running[key], total):
            return None
        if any(s == _WAITING and self._may_run(running[k], total) for _, s, _, k in entries):
            return None
        return next((i for i, e in enumerate(entries) if e[1] == _FREE), None)

    def _my_turn(self, entries, index: int) -> bool:
        running = collections.Counter(k for _, s, _, k in entries if s == _RUNNING)
        total = sum(running.values())
        eligible = [(t, i) for i, (_, s, t, k) in enumerate(entries)
                    if s == _WAITING and self._may_run(running[k], total)]
        return bool(eligible) and min(eligible)[1] == index

    def leave(self, token: int) -> None:
        with self._locked():
            self._set(token, 0, _FREE, 0, 0)
            self._bump()

    # waking the waiting: a futex on the shared generation ------------------------------
    def _generation(self) -> int:
        return struct.unpack_from("<I", self._map, _GENERATION)[0]

    def _bump(self) -> None:
        """Room may have been made: a new generation, and every waiting process woken."""
        struct.pack_into("<I", self._map, _GENERATION, (self._generation() + 1) & 0xFFFFFFFF)
        if self._futex is not None:
            self._futex(self._word, _FUTEX_WAKE, 0x7FFFFFFF, None, None, 0)

    def _sleep(self, generation: int, seconds: float) -> None:
        """Until the generation moves on from `generation`, or `seconds` (polling where the
        kernel's futex cannot be reached)."""
        if self._futex is None:
            time.sleep(min(_TICK, seconds))
            return
        whole = int(seconds)
        timeout = _Timespec(whole, int((seconds - whole) * 1e9))
        self._futex(self._word, _FUTEX_WAIT, generation, ctypes.byref(timeout), None, 0)

    def close(self) -> None:
        if os.getpid() == self._pid:
            del self._word_view  # the mapping cannot close while a view of it exists
            self._map.close()
            os.close(self._fd)
