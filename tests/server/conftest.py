"""Fixtures for the server tests: apps over the tiny build, a writable app, a live server.

`app`/`client` serve `tiny_build` read-only through the real query worker pool; the
`writable_*` fixtures serve an empty in-memory dataset with an update token; `live_server`
runs `bjkg serve` (granian) in a subprocess on 127.0.0.1 and a random port, for real
HTTP clients and for concurrency tests.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from bjkg.server.app import create_app
from tests.server.backends import virtuoso, virtuoso_real, virtuoso_tiny  # noqa: F401  (session fixtures)

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "s3cret-token"
BASE = "https://w3id.org/bjkg/"


def close_app(app) -> None:
    app.extensions["bjkg"].store.close()


@pytest.fixture(scope="session")
def app(tiny_build):
    application = create_app({"BUILD_DIR": str(tiny_build), "QUERY_TIMEOUT": 20, "TESTING": True})
    yield application
    close_app(application)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def writable_app():
    application = create_app({"EMPTY": True, "UPDATE_TOKEN": TOKEN, "TESTING": True})
    yield application
    close_app(application)


@pytest.fixture
def writable_client(writable_app):
    return writable_app.test_client()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen

    @property
    def sparql(self) -> str:
        return f"{self.url}/sparql"


def start_server(args: list[str], env_extra: dict[str, str] | None = None, timeout: float = 60) -> LiveServer:
    port = free_port()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(env_extra or {})
    process = subprocess.Popen(
        [sys.executable, "-m", "bjkg.server.cli", "serve", "--host", "127.0.0.1", "--port", str(port), *args],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"bjkg serve exited: {process.stderr.read().decode(errors='replace')}")
        try:
            with urllib.request.urlopen(f"{url}/sparql?query=ASK%7B%7D", timeout=5):
                pass
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
            continue
        if _prepared(url, deadline):
            return LiveServer(url, process)
    stop_server(LiveServer(url, process))
    raise RuntimeError("bjkg serve did not come up")


def _prepared(url: str, deadline: float) -> bool:
    """A build's server answers before its tables are prepared beside it (the search says
    503 meanwhile): the tests start from a settled server, whose timings the preparation no
    longer shares. True once the search answers anything but 503."""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/search.json?q=a", timeout=5):
                return True
        except urllib.error.HTTPError as exc:
            if exc.code != 503:
                return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    return False


def stop_server(server: LiveServer) -> None:
    if server.process.poll() is None:
        os.killpg(server.process.pid, signal.SIGTERM)  # the session we started: granian + its workers
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait()
    if server.process.stderr:
        server.process.stderr.close()


@pytest.fixture(scope="session")
def live_server(tiny_build):
    """`bjkg serve --build tiny_build` with a 2 s query limit."""
    server = start_server(["--build", str(tiny_build), "-s", "QUERY_TIMEOUT", "2"])
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def live_writable_server():
    server = start_server(["--empty", "--update-token", TOKEN])
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def real_build(tmp_path_factory):
    """One real `build_dataset` of this checkout (skipped when the source corpus is absent)."""
    from bjkg.graph.build import build_dataset

    from tests.conftest import corpus

    sources = corpus()
    out = tmp_path_factory.mktemp("real") / "build"
    build_dataset(ROOT, out, sources)
    return out
