"""One data process for the whole server (bjkg.server.sparql.data_process.SharedDataProcess).

`bjkg serve` starts one data process before granian and every HTTP worker's query pool
connects to it: one copy of the data, whatever the number of HTTP processes, and the data
of `--empty` outlives any of them. Proven on real processes: the process tree of a served
build, an HTTP worker SIGKILLed mid-runaway under `--empty` (its evaluator is killed, the
data stays), the data process SIGKILLed (503, then a new one), `bjkg serve` SIGKILLed (no
data process left behind); and, on the pool, a write through one connection making the idle
evaluators of another pool stale, and an evaluator's own timer.
"""
from __future__ import annotations

import os
import pickle
import shutil
import signal
import socket
import tempfile
import threading
import time
import urllib.parse
from multiprocessing.connection import Connection

import psutil
import pytest

from bench.attack import query, request
from bjkg.server.sparql.evaluate import QueryRequest
from bjkg.server.sparql.data_process import SharedDataProcess, StoreUnavailable, _recv, _send, data_spec
from bjkg.server.sparql.workers import _REMAINING, _TIMER_GRACE, QueryWorkerPool
from bjkg.server.stores.embedded import MEMORY_POOL_SPEC, build_pool_spec, load_manifest
from tests.server.conftest import TOKEN, start_server, stop_server

RUNAWAY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l . ?m ?n2 ?o }"
ASK = "ASK { <urn:a> <urn:b> ?o }"
VALUES = " ".join(str(i) for i in range(100))
CROSS = "SELECT (COUNT(*) AS ?n) WHERE { " + " ".join(f"VALUES ?v{i} {{ {VALUES} }}" for i in range(6)) + " }"
MODULE = "bjkg.server.sparql.workers"


def port_of(server) -> int:
    return int(urllib.parse.urlsplit(server.url).port)


def _cmdline(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return ""


def data_processes(server) -> list[psutil.Process]:
    """The data processes under `bjkg serve` (an evaluator has the same command line, and a
    data process for a parent)."""
    tree = psutil.Process(server.process.pid).children(recursive=True)
    return [p for p in tree if MODULE in _cmdline(p) and MODULE not in _cmdline(p.parent())]


def evaluators(data: psutil.Process) -> list[psutil.Process]:
    return [p for p in data.children() if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def http_workers(server) -> list[psutil.Process]:
    return [p for p in psutil.Process(server.process.pid).children() if "bjkg.server.cli" in _cmdline(p)]


def wait_for(condition, seconds: float, step: float = 0.1):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    return condition()


def _cpu_percent(process: psutil.Process) -> float:
    """Its CPU use over 0.2 s; 0 if it ended meanwhile (an evaluator process with data from
    before a write ends once its lanes are closed)."""
    try:
        return process.cpu_percent(0.2)
    except psutil.NoSuchProcess:
        return 0.0


def gone(pids) -> bool:
    return not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
                   for pid in pids)


def test_one_data_process_serves_every_http_worker(tiny_build):
    """Three HTTP workers, one data process, every evaluator forked from it and holding no
    descriptor of it; killed, it is answered for with 503 (never a reset or a 500) and
    replaced; and it does not outlive a SIGKILLed `bjkg serve`."""
    server = start_server(["--build", str(tiny_build), "--workers", "3", "-s", "QUERY_TIMEOUT", "5"])
    port = port_of(server)
    try:
        assert len(http_workers(server)) == 3
        [data] = data_processes(server)
        # each pool asks for one evaluator per core of its share of QUERY_CPUS (at least one):
        # a lane (a connection and a thread) of an evaluator process forked from the data process
        def fds(pid: int) -> list[str]:
            return [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]

        def lanes() -> int:  # each evaluator process holds its control connection and one per lane
            return sum(sum(kind.startswith("socket:") for kind in fds(e.pid)) - 1 for e in evaluators(data))

        forked = wait_for(lambda: lanes() >= 3 and evaluators(data), 10)
        assert forked, "each of the 3 pools has its first evaluator from the one data process"
        assert len(forked) == 1 and lanes() == 3, "three lanes of one evaluator process"
        for evaluator in forked:  # its sockets, and nothing of the data process
            kinds = fds(evaluator.pid)
            assert not any("pidfd" in kind or "eventpoll" in kind or "memfd" in kind for kind in kinds), kinds
        answers = [query(port, "ASK { ?s ?p ?o }", timeout=10) for _ in range(6)]
        assert [a.status for a in answers] == [200] * 6

        data.kill()
        statuses = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            answer = query(port, "ASK { ?s ?p ?o }", timeout=10)
            assert answer.status in (200, 503), (answer.status, answer.error, answer.body[:300])
            statuses.append(answer.status)
            if answer.status == 503:
                assert b"data process" in answer.body and answer.headers.get("retry-after")
            if statuses[-3:] == [200, 200, 200]:
                break
            time.sleep(0.05)
        assert statuses[-3:] == [200, 200, 200], statuses
        [again] = data_processes(server)
        assert again.pid != data.pid

        workers = [p.pid for p in http_workers(server)]
        os.kill(server.process.pid, signal.SIGKILL)  # no `finally` runs: PR_SET_PDEATHSIG
        assert wait_for(lambda: not again.is_running() or again.status() == psutil.STATUS_ZOMBIE, 5)
        # nor do the HTTP workers: none is left holding the port and answering 503
        assert wait_for(lambda: gone(workers), 15), "granian's HTTP workers outlived a SIGKILLed server"
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
    finally:
        stop_server(server)
        try:  # should anything of the session be left, it must not outlive the test
            os.killpg(server.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _maps(pid: int) -> str:
    with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as handle:
        return handle.read()


def test_the_serve_process_only_supervises_and_loads_no_engine(tiny_build, tmp_path):
    """`bjkg serve` itself (granian's main process, which outlives every worker) maps neither
    pyoxigraph's library nor Flask's (markupsafe's, through Jinja): the build's checks ran
    in a child that has ended. The HTTP workers and the data process map pyoxigraph, so the
    test can tell. A damaged build is still refused in one line by the same checks (see
    test_startup_checks)."""
    server = start_server(["--build", str(tiny_build), "-s", "QUERY_TIMEOUT", "5"])
    try:
        supervisor = _maps(server.process.pid)
        assert "pyoxigraph" not in supervisor and "markupsafe" not in supervisor
        [data] = data_processes(server)
        assert "pyoxigraph" in _maps(data.pid)
        for worker in http_workers(server):
            assert "pyoxigraph" in _maps(worker.pid) and "markupsafe" in _maps(worker.pid)
        assert query(port_of(server), "ASK { ?s ?p ?o }", timeout=10).status == 200
    finally:
        stop_server(server)


def test_empty_keeps_its_data_when_its_http_worker_is_killed():
    """`--empty`: written data survives a SIGKILLed HTTP worker, whose evaluator, mid-runaway,
    is killed at once (not at its deadline); a killed data process is logged as data lost."""
    server = start_server(["--empty", "--update-token", TOKEN, "-s", "QUERY_TIMEOUT", "60"])
    port = port_of(server)
    try:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert request(port, "POST", "/sparql", body=b"INSERT DATA { <urn:a> <urn:b> 'kept' }",
                       headers={**auth, "Content-Type": "application/sparql-update"}).status == 204
        assert request(port, "PUT", "/graph-store?graph=urn:g", body=b"<urn:x> <urn:y> 'put' .",
                       headers={**auth, "Content-Type": "text/turtle"}).status in (201, 204)
        [data] = data_processes(server)
        [worker] = http_workers(server)

        threading.Thread(target=lambda: query(port, CROSS, timeout=90), daemon=True).start()
        busy = wait_for(lambda: [e for e in evaluators(data) if _cpu_percent(e) > 50], 10)
        assert busy, "the runaway is evaluated"
        worker.kill()
        assert wait_for(lambda: gone([e.pid for e in busy]), 3), "the runaway outlived its HTTP process"

        assert wait_for(lambda: [w for w in http_workers(server) if w.pid != worker.pid], 20), "granian respawns it"
        kept = wait_for(lambda: (lambda a: a if a.status == 200 else None)(
            query(port, "SELECT ?o WHERE { <urn:a> <urn:b> ?o }", timeout=10)), 20)
        assert kept and b"kept" in kept.body
        assert b"put" in query(port, "SELECT ?o WHERE { GRAPH <urn:g> { ?s ?p ?o } }").body
        assert data_processes(server) == [data]

        data.kill()
        os.set_blocking(server.process.stderr.fileno(), False)
        log = b""
        deadline = time.monotonic() + 10
        while b"LOST" not in log and time.monotonic() < deadline:
            log += server.process.stderr.read() or b""
            time.sleep(0.1)
        assert b"LOST" in log, log[-2000:]
    finally:
        stop_server(server)


def test_a_reload_moves_the_server_to_one_data_process_of_the_new_build(tiny_build, tmp_path):
    """docs/deploy.md's cut-over: switch the symlink to another build, send SIGHUP; a data
    process of the new build serves the new workers, and the old one ends with the last old
    worker (here ≈ 3 s after the HUP: long before its fallback, 3 + 15 + 1 s)."""
    first, second = tmp_path / "first", tmp_path / "second"
    shutil.copytree(tiny_build, first, symlinks=True)
    shutil.copytree(tiny_build, second, symlinks=True)
    current = tmp_path / "current"
    current.symlink_to(first)
    server = start_server(["--build", str(current), "--workers", "1", "-s", "QUERY_TIMEOUT", "10"])
    port = port_of(server)
    try:
        [old] = data_processes(server)
        assert str(first / "store") in _cmdline(old)
        (tmp_path / "next").symlink_to(second)
        os.replace(tmp_path / "next", current)
        os.kill(server.process.pid, signal.SIGHUP)
        new = wait_for(lambda: [p for p in data_processes(server) if p.pid != old.pid], 10)
        assert new and str(second / "store") in _cmdline(new[0])
        assert wait_for(lambda: data_processes(server) == new, 12), "the old data process ends with its worker"
        answer = wait_for(lambda: (lambda a: a if a.status == 200 else None)(query(port, "ASK { ?s ?p ?o }")), 10)
        assert answer and b"true" in answer.body
    finally:
        stop_server(server)


# --------------------------------------------------------------------------- pool level

@pytest.fixture
def socket_folder():
    folder = tempfile.mkdtemp(prefix="bjkg-test-")  # short: a Unix socket path has 107 bytes at most
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_a_write_through_one_pool_makes_the_idle_evaluators_of_another_stale(socket_folder):
    data = SharedDataProcess(data_spec(dict(MEMORY_POOL_SPEC), isolate_network=False),
                             os.path.join(socket_folder, "data"))
    data.start()
    writer = reader = None
    try:
        writer = QueryWorkerPool(dict(MEMORY_POOL_SPEC), 2, isolate_network=False, shared=data.path)
        reader = QueryWorkerPool(dict(MEMORY_POOL_SPEC), 2, isolate_network=False, shared=data.path)
        reader.start()  # its first evaluators are forked now, before the write
        before = {e.pid for e in reader._idle}
        assert reader.run(QueryRequest(ASK), timeout=10).boolean is False
        writer.write("update", "INSERT DATA { <urn:a> <urn:b> 'new' }", None)
        assert reader.run(QueryRequest(ASK), timeout=10).boolean is True
        assert before.isdisjoint(e.pid for e in reader._idle)
        forked = {p.pid for p in psutil.Process(data.process.pid).children()}
        assert {e.pid for e in reader._idle + writer._idle} <= forked  # both pools' evaluators, one process
    finally:
        for pool in (writer, reader):
            if pool is not None:
                pool.close()
        data.stop()


def test_a_pool_of_a_dead_data_process_answers_503_then_connects_again(socket_folder):
    data = SharedDataProcess(data_spec(dict(MEMORY_POOL_SPEC), isolate_network=False),
                             os.path.join(socket_folder, "data"), on_exit=lambda status: None)
    data.start()
    pool = QueryWorkerPool(dict(MEMORY_POOL_SPEC), 2, isolate_network=False, shared=data.path)
    try:
        pool.write("update", "INSERT DATA { <urn:a> <urn:b> 'x' }", None)
        first = data.process.pid
        data.process.kill()
        with pytest.raises(StoreUnavailable):
            pool.run(QueryRequest(ASK), timeout=10)  # nothing to connect to yet, or the old one's end
        assert wait_for(lambda: data.restarts == 1 and data.process.pid != first, 10)
        answer = wait_for(lambda: _try(lambda: pool.run(QueryRequest(ASK), timeout=10)), 10)
        assert answer is not None and answer.boolean is False  # a new, empty dataset
    finally:
        pool.close()
        data.stop()


def _try(call):
    try:
        return call()
    except StoreUnavailable:
        return None


def test_an_evaluator_ends_itself_past_its_deadline(tiny_build, socket_folder):
    """The second guard: a runaway whose pool neither kills it nor goes away (its control
    connection stays open) ends itself at its deadline + _TIMER_GRACE."""
    spec = build_pool_spec(tiny_build, load_manifest(tiny_build), 250_000)
    data = SharedDataProcess(data_spec(spec, isolate_network=False), os.path.join(socket_folder, "data"))
    data.start()
    control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        control.connect(data.path)
        ready, fds = _recv(control, with_fds=True)
        assert ready[0] == "ready"
        for fd in fds:
            os.close(fd)
        _send(control, ("fork",))
        (_, pid, _, _), fds = _recv(control, with_fds=True)
        evaluator = Connection(fds[0])
        request_ = QueryRequest(RUNAWAY, union_default_graph=True)
        sent = time.monotonic()
        evaluator.send_bytes(_REMAINING.pack(0.5) + pickle.dumps(request_))
        assert wait_for(lambda: psutil.Process(pid).cpu_percent(0.1) > 0 or gone([pid]), 5)
        assert wait_for(lambda: gone([pid]), 0.5 + _TIMER_GRACE + 3), "the evaluator outlived its deadline"
        assert time.monotonic() - sent >= 0.5 + _TIMER_GRACE - 0.2
        evaluator.close()
    finally:
        control.close()
        data.stop()


def test_closing_a_lane_mid_query_ends_its_query(tiny_build, socket_folder):
    """A pool gives up on a query by closing its lane (its deadline, its client gone, its
    HTTP process ended: the kernel closes it then): the evaluator process, where that
    query ran alone, ends at once."""
    spec = build_pool_spec(tiny_build, load_manifest(tiny_build), 250_000)
    data = SharedDataProcess(data_spec(spec, isolate_network=False), os.path.join(socket_folder, "data"))
    data.start()
    try:
        control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        control.connect(data.path)
        _, fds = _recv(control, with_fds=True)
        for fd in fds:
            os.close(fd)
        _send(control, ("fork",))
        (_, pid, _, _), fds = _recv(control, with_fds=True)
        evaluator = Connection(fds[0])
        evaluator.send_bytes(_REMAINING.pack(60) + pickle.dumps(QueryRequest(RUNAWAY, union_default_graph=True)))
        time.sleep(0.3)
        assert not gone([pid])
        evaluator.close()
        assert wait_for(lambda: gone([pid]), 1), "the query given up on ran on"
        control.close()
    finally:
        data.stop()
