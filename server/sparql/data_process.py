"""The supervisor's side of the server's data process: starting it, watching it, starting it
again, retiring it — and the framing both sides speak on its sockets.

Split from bjkg.server.sparql.workers (which runs the data process and its evaluators, and
holds each HTTP process's pool) so that the `bjkg serve` process, which only supervises,
imports neither pyoxigraph nor Flask: everything here is the standard library.
"""
from __future__ import annotations

import json
import os
import pickle
import socket
import subprocess
import sys
import threading

_PRIVATE_ENV = ("BJKG_UPDATE_TOKEN", "BJKG_SERVE_OVERRIDES")  # never seen by the data process
DATA_ENV = "BJKG_DATA_SOCKET"  # the Unix socket of the server's one data process (`bjkg serve`)
_RESTART_PAUSE = 0.5  # seconds before a data process that died is started again


def _log():
    """The logger of the data process's supervisor and of the pools (bjkg.server.sparql.workers)."""
    import logging  # not at the top: 0.5 MB in the data process, and in each evaluator forked from it

    return logging.getLogger("bjkg.workers")


class StoreUnavailable(Exception):
    """The data process could not open the store; the message says why."""


def data_spec(spec: dict, *, isolate_network: bool = True, memory_mb: int = 0) -> dict:
    """What a data process is started with: the store to open (`spec`) and its limits."""
    return {**spec, "isolate": isolate_network, "memory_mb": memory_mb}


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


# ------------------------------------------------------------------ the server's data process

class SharedDataProcess:
    """The one data process of a server: `bjkg serve` starts it before its HTTP workers,
    listening on the Unix socket `path` (in the server's private folder), and names the
    path in DATA_ENV, so that the pool of every HTTP process connects to it instead of
    starting its own — one copy of the data for the whole server, and the data of
    ``--empty`` outlives any HTTP process.

    `start` returns once the process listens (its store may still be loading: pools that
    connect meanwhile wait for it). A thread watches it: if it dies, `on_exit(status)` is
    called and a new one is started on the same path (pools connect again on their next
    use). `stop` ends it; it also dies with the process that started it (PR_SET_PDEATHSIG).
    """

    def __init__(self, spec: dict, path: str, *, on_exit=None, on_fatal=None,
                 start_timeout: float = 60.0) -> None:
        self.spec = {**spec, "listen": path}
        self.path = path
        self.on_exit = on_exit or (lambda status: _log().error("the data process ended (status %s)", status))
        self.on_fatal = on_fatal or (lambda message: _log().error("the data process cannot serve: %s", message))
        self.start_timeout = start_timeout
        self.process: subprocess.Popen | None = None
        self.restarts = 0
        self._owner: socket.socket | None = None
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    def start(self) -> None:
        """Start it and return once it listens. Raises StoreUnavailable."""
        self._spawn()
        self._watcher = threading.Thread(target=self._watch, name="bjkg-data-process", daemon=True)
        self._watcher.start()

    def _spawn(self) -> None:
        """Start a data process (in the thread that keeps watching it: PR_SET_PDEATHSIG
        fires when the thread that started a process ends)."""
        ours, theirs = socket.socketpair()
        env = {k: v for k, v in os.environ.items() if k not in _PRIVATE_ENV}
        spec = {**self.spec, "parent": os.getpid()}
        self.process = subprocess.Popen([sys.executable, "-m", "bjkg.server.sparql.workers", json.dumps(spec)],
                                        stdin=theirs.fileno(), env=env, close_fds=True)
        theirs.close()
        ours.settimeout(self.start_timeout)
        try:
            message, fds = _recv(ours, with_fds=True) or (None, [])
        except (OSError, EOFError) as exc:
            message, fds = ("fatal", str(exc)), []
        for fd in fds:
            os.close(fd)
        if message is None or message[0] != "listening":
            ours.close()
            self._kill()
            raise StoreUnavailable(f"the data process did not start: {message[1] if message else 'it ended'}")
        ours.settimeout(None)
        self._owner = ours

    def _watch(self) -> None:
        try:
            self._watch_loop()
        finally:
            if self._stopping.is_set():
                self._kill()  # one started while `stop` ran

    def _watch_loop(self) -> None:
        while not self._stopping.is_set():
            owner, process = self._owner, self.process
            try:
                message, fds = _recv(owner, with_fds=True) or (None, [])  # "ready" or "fatal"
            except OSError:
                message, fds = None, []
            for fd in fds:
                os.close(fd)
            if message is not None and message[0] == "fatal":
                self.on_fatal(message[1])  # it stays, and says why to every pool
            status = process.wait()
            owner.close()
            if self._stopping.is_set():
                return
            self.on_exit(status)
            while not self._stopping.wait(_RESTART_PAUSE):
                try:
                    self._spawn()
                except StoreUnavailable as exc:
                    _log().error("%s; trying again", exc)
                    continue
                self.restarts += 1
                break

    def _kill(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def retire(self, grace: float) -> None:
        """Let it end once every pool has closed its connection (the HTTP workers of before
        a reload have ended), or after `grace` seconds; it is not started again."""
        self._stopping.set()
        try:
            _send(self._owner, ("retire",))
        except (OSError, AttributeError):
            pass
        timer = threading.Timer(grace, self.stop)
        timer.daemon = True
        timer.start()

    def stop(self) -> None:
        """End the data process (its evaluators die with it) and remove its socket."""
        self._stopping.set()
        self._kill()
        if self._watcher is not None:
            self._watcher.join(5)
        if self._owner is not None:
            self._owner.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass
