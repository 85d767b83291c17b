"""The servers compared, each started on 127.0.0.1 with the same data, and stopped again.

A peer is started by `start_<name>(data, workdir)` and returns a `Running` with its SPARQL
URL, its process (whose tree is sampled for memory) and how long loading took. Only one
peer runs at a time, so each has the machine to itself while it is measured.

* bjkg — `bjkg serve --build DIR` over an artifact folder made by `bench.load`.
* virtuoso — Virtuoso Open Source from Debian, through `bench.virtuoso` (its own config,
  127.0.0.1 only, generous buffers), loaded with its bulk loader.
* oxigraph — Oxigraph's own Rust server (PyPI `oxigraph` 0.5, its CLI, in its own virtual
  environment: `ensure_oxigraph`), loaded with `oxigraph load` and served with
  `oxigraph serve-read-only --union-default-graph --timeout-s`.
* rdflib-endpoint — from PyPI, in its own virtual environment (`ensure_rdflib_endpoint`),
  serving the plain triples from memory.

Every start is timed to its *first answer*: from the server process's start to the first
successful answer to a real query (`probe`, a form body: one of the benchmark's own
requests), with the data already loaded — what a user waits for after a deploy.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Running:
    name: str
    sparql: str
    base: str  # http://127.0.0.1:port
    process: subprocess.Popen | None
    load_seconds: float | None = None
    triples: int | None = None
    first_answer_seconds: float | None = None  # process start → first successful query
    stop_callbacks: list = field(default_factory=list)

    def stop(self) -> None:
        for callback in self.stop_callbacks:
            callback()
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen | None, timeout: float, log: Path | None = None,
               probe: bytes | None = None) -> None:
    """Until `url` answers 200 with SPARQL JSON results: a GET, or a POST of the form `probe`.

    A server that is listening but not yet able to answer (still loading, or answering 503)
    is not ready; polled every 0.1 s, so a first answer is timed to about that.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"{url}: the server exited ({process.returncode}): {tail}")
        try:
            request = urllib.request.Request(url, data=probe, method="POST" if probe else "GET",
                                             headers={"Accept": "application/sparql-results+json"})
            if probe:
                request.add_header("Content-Type", "application/x-www-form-urlencoded")
            with urllib.request.urlopen(request, timeout=60) as response:
                if response.status == 200 and _is_results(response.read()):
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def _is_results(body: bytes) -> bool:
    import json

    try:
        answer = json.loads(body)
    except ValueError:
        return False
    return isinstance(answer, dict) and ("results" in answer or "boolean" in answer)


ASK = b"query=ASK%7B%7D"


# ---------------------------------------------------------------- bjkg

def start_bjkg(build_dir: Path, workdir: Path, *, settings: dict[str, str] | None = None,
               timeout: float = 600, probe: bytes = ASK, python: str = sys.executable) -> Running:
    """`bjkg serve` of the virtualenv `python` belongs to (this one by default), timed to its
    first answer, then waited for until every worker answers quickly and its tables are in."""
    port = free_port()
    log = workdir / f"bjkg-{port}.log"
    args = [python, "-m", "bjkg.server.cli", "serve", "--build", str(build_dir), "--port", str(port)]
    for name, value in (settings or {}).items():
        args += ["-s", name, str(value)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    started = time.perf_counter()
    with log.open("wb") as out:
        process = subprocess.Popen(args, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    running = Running("bjkg", f"{base}/sparql", base, process)
    try:
        wait_ready(f"{base}/sparql", process, timeout, log, probe=probe)
        running.first_answer_seconds = time.perf_counter() - started
        _wait_all_workers(base)
        _wait_prepared(base, process, timeout)
    except BaseException:
        running.stop()
        raise
    return running


def _wait_all_workers(base: str, rounds: int = 30) -> None:
    """Every HTTP worker builds its caches as it boots: ask until answers are quick."""
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(8):
            with urllib.request.urlopen(f"{base}/sparql?query=ASK%7B%7D", timeout=120):
                pass
        if time.perf_counter() - started < 0.5:
            return
        time.sleep(0.5)


def _wait_prepared(base: str, process: subprocess.Popen, timeout: float) -> None:
    """bjkg answers before its search index and tables are prepared (in the background, by a
    process of its own, `bjkg.server.runtime.prepare`; the search answers 503 meanwhile):
    wait until that process has ended and every HTTP worker has picked the tables up, so
    that what is measured next is the server as it runs from then on — not beside the
    preparing process, its CPU and its memory (the search index comes first, the other
    tables after it)."""
    deadline = time.monotonic() + timeout
    while _preparing(process):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{base}: the search index and tables were not prepared in {timeout} s")
        time.sleep(0.2)
    answered = 0
    while answered < 8:  # in a row: every HTTP worker has picked them up
        try:
            with urllib.request.urlopen(f"{base}/search.json?q=a", timeout=120):
                answered += 1
                continue
        except urllib.error.HTTPError as exc:
            if exc.code != 503 or time.monotonic() > deadline:
                raise
        answered = 0
        time.sleep(0.2)
    time.sleep(PICK_UP_PAUSE)


PICK_UP_PAUSE = 1.0  # seconds: a worker looks for the tables every 0.25 s (serve.PICK_UP_INTERVAL)


def _preparing(process: subprocess.Popen) -> bool:
    """Whether a process of `process`'s tree is preparing the build's tables."""
    import psutil

    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.Error:
        return False
    for child in children:
        try:
            if "bjkg.server.runtime.prepare" in " ".join(child.cmdline()):
                return True
        except psutil.Error:
            continue
    return False


# ---------------------------------------------------------------- virtuoso

def virtuoso_available() -> bool:
    from bench import virtuoso

    return virtuoso.available() is not None


def start_virtuoso(nquads: Path, workdir: Path, *, triples: int, probe: bytes = ASK) -> Running:
    """Load with the bulk loader into a fresh instance, stop it, and start it again timed.

    Virtuoso loads into a running server, so its first answer after the load is timed on a
    restart over the loaded database, as the others are timed over theirs.
    """
    from bench import virtuoso

    folder = workdir / "virtuoso"
    if folder.exists():
        shutil.rmtree(folder)
    instance = virtuoso.start(folder, load_dirs=(nquads.parent,))
    try:
        started = time.perf_counter()
        instance.load_file(nquads)
        seconds = time.perf_counter() - started
    finally:
        instance.stop()
    started = time.perf_counter()
    instance = virtuoso.start(folder, load_dirs=(nquads.parent,))
    running = Running("virtuoso", instance.sparql_url, instance.http_url, instance.process,
                      load_seconds=seconds, triples=triples)
    running.stop_callbacks.append(instance.stop)
    try:
        wait_ready(instance.sparql_url, instance.process, 600, probe=probe)
    except BaseException:
        running.stop()
        raise
    running.first_answer_seconds = time.perf_counter() - started
    return running


# ---------------------------------------------------------------- oxigraph

def ensure_oxigraph(venv: Path, *, install: bool) -> Path | None:
    """The `oxigraph` CLI of its own venv (PyPI `oxigraph` 0.5); installed there if asked.

    The venv is made without pip and filled by this interpreter's pip (`--python`, pip ≥ 22.3):
    ≈4 s instead of ≈45 s with ensurepip, quick enough for the smoke test. The package is a
    Rust binary with no Python dependency.
    """
    exe = venv / "bin" / "oxigraph"
    if exe.exists():
        return exe
    if not install:
        return None
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
                           "oxigraph>=0.5,<0.6"], capture_output=True, text=True)
    if done.returncode != 0:  # an older pip without --python: the venv's own pip, the slow way
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "oxigraph>=0.5,<0.6"], check=True)
    return exe if exe.exists() else None


def start_oxigraph(exe: Path, nquads: Path, workdir: Path, *, triples: int, timeout_s: float | None = None,
                   probe: bytes = ASK, timeout: float = 600) -> Running:
    """`oxigraph load` into a fresh folder (timed), then `serve-read-only` over it.

    The default graph is the union of the graphs (`--union-default-graph`), as on bjkg.
    `timeout_s` is its `--timeout-s`, off by default: Oxigraph 0.5.13's server starts a thread
    per query that sleeps for the whole timeout, so under a sustained load the threads pile up
    (12,154 after 6 s at 2,000 req/s with 30 s) until it cannot make one and panics ("failed
    to allocate an alternative stack"), mid-run. Without it Oxigraph pays no timer per query:
    the stricter comparison for bjkg, whose watchdog is always on.
    """
    location = workdir / "oxigraph-store"
    if location.exists():
        shutil.rmtree(location)
    log = workdir / "oxigraph-load.log"
    started = time.perf_counter()
    with log.open("wb") as out:
        subprocess.run([str(exe), "load", "--location", str(location), "--file", str(nquads)],
                       stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=True)
    load_seconds = time.perf_counter() - started
    port = free_port()
    log = workdir / f"oxigraph-{port}.log"
    started = time.perf_counter()
    args = [str(exe), "serve-read-only", "--location", str(location), "--bind", f"127.0.0.1:{port}",
            "--union-default-graph"]
    if timeout_s:
        args += ["--timeout-s", str(max(1, round(timeout_s)))]
    with log.open("wb") as out:
        process = subprocess.Popen(args,
                                   stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    running = Running("oxigraph", f"{base}/query", base, process, load_seconds=load_seconds, triples=triples)
    try:
        wait_ready(running.sparql, process, timeout, log, probe=probe)
    except BaseException:
        running.stop()
        raise
    running.first_answer_seconds = time.perf_counter() - started
    return running


# ---------------------------------------------------------------- rdflib-endpoint

def ensure_rdflib_endpoint(venv: Path, *, install: bool) -> Path | None:
    """The `rdflib-endpoint` executable of its own venv; installed there from PyPI if asked."""
    exe = venv / "bin" / "rdflib-endpoint"
    if exe.exists():
        return exe
    if not install:
        return None
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "rdflib-endpoint", "uvicorn"],
                   check=True)
    return exe if exe.exists() else None


def to_ntriples(nquads: Path, out: Path) -> Path:
    """Drop the graph names (every triple is in one graph only, so nothing is merged)."""
    if out.exists() and out.stat().st_mtime >= nquads.stat().st_mtime:
        return out
    tmp = out.with_suffix(".tmp")
    with nquads.open("r", encoding="utf-8") as src, tmp.open("w", encoding="utf-8") as dst:
        for line in src:
            head, _graph, _dot = line.rstrip("\n").rsplit(" ", 2)
            dst.write(head + " .\n")
    tmp.replace(out)
    return out


def start_rdflib_endpoint(exe: Path, ntriples: Path, workdir: Path, *, triples: int,
                          timeout: float = 1800, probe: bytes = ASK) -> Running:
    port = free_port()
    log = workdir / f"rdflib-endpoint-{port}.log"
    started = time.perf_counter()
    with log.open("wb") as out:
        process = subprocess.Popen([str(exe), "serve", "--host", "127.0.0.1", "--port", str(port),
                                    str(ntriples)], cwd=workdir, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    # its CLI serves the endpoint at the root (`/`), whatever its help text says
    running = Running("rdflib-endpoint", f"{base}/", base, process, triples=triples)
    try:
        wait_ready(f"{base}/", process, timeout, log, probe=probe)
    except BaseException:
        running.stop()
        raise
    # it parses the file as it starts: its load and its first answer are the same wait
    running.load_seconds = running.first_answer_seconds = time.perf_counter() - started
    return running
