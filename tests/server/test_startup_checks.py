"""A damaged build is refused at start-up, in one line, and never served in part.

`bjkg serve` on a build whose build.json is truncated or invalid, whose store is missing,
corrupted or holds other data, or whose dumps are missing or altered exits 1 with one line
naming the file and saying to rebuild — no traceback. The in-memory copy of a small build
is read only from a dump with its recorded SHA-256, strictly parsed (a garbage line fails
the whole load, and the on-disk store is used); a dump is downloadable only while it has
the checksum its ``Digest`` header states.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bjkg.server.app import create_app
from bjkg.server.stores.embedded import BuildNotFound, BuildStore
from bjkg.server.stores.integrity import BuildDamaged, verify_build
from tests.server.conftest import ROOT, close_app, free_port


@pytest.fixture
def build(tiny_build, tmp_path) -> Path:
    """A fresh copy of the tiny build, to damage."""
    copy = tmp_path / "build"
    shutil.copytree(tiny_build, copy)
    return copy


def serve(build_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "bjkg.server.cli", "serve", "--build", str(build_dir),
                           "--port", str(free_port()), *extra],
                          capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)


def refused(done: subprocess.CompletedProcess, names: str) -> str:
    """Exit 1, one line on stderr naming `names` and the rebuild, no traceback."""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and len(lines) == 1, done.stderr
    assert names in lines[0] and "bjkg build --out" in lines[0], lines[0]
    return lines[0]


def _manifest(build_dir: Path) -> dict:
    return json.loads((build_dir / "build.json").read_text(encoding="utf-8"))


def _write_manifest(build_dir: Path, manifest: dict) -> None:
    (build_dir / "build.json").write_text(json.dumps(manifest), encoding="utf-8")


def _garble_dump(build_dir: Path, name: str = "bjkg.nq", *, keep_checksum: bool = False) -> None:
    """Replace a line of a dump by garbage; with keep_checksum, build.json is updated to the
    new bytes (so only a strict parse can tell)."""
    path = build_dir / name
    lines = path.read_bytes().splitlines(keepends=True)
    lines[len(lines) // 2] = b"this is not N-Quads <\n"
    path.write_bytes(b"".join(lines))
    if keep_checksum:
        manifest = _manifest(build_dir)
        content = path.read_bytes()
        manifest["dumps"][name] = {"sha256": hashlib.sha256(content).hexdigest(), "bytes": len(content)}
        _write_manifest(build_dir, manifest)


# --------------------------------------------------------------------------- bjkg serve refuses

def test_a_whole_build_passes(build):
    assert verify_build(build)["triples"] == _manifest(build)["triples"]


@pytest.mark.parametrize("damage", ["truncated", "not-json", "a-list", "no-triples", "bad-dumps", "binary"])
def test_a_damaged_build_json_is_refused_in_one_line(build, damage):
    path = build / "build.json"
    text = path.read_text(encoding="utf-8")
    manifest = json.loads(text)
    if damage == "truncated":
        path.write_text(text[: len(text) // 2], encoding="utf-8")
    elif damage == "not-json":
        path.write_text("hash: nope\n", encoding="utf-8")
    elif damage == "a-list":
        path.write_text("[]", encoding="utf-8")
    elif damage == "no-triples":
        manifest.pop("triples")
        _write_manifest(build, manifest)
    elif damage == "bad-dumps":
        manifest["dumps"] = {"bjkg.nq": "abc"}
        _write_manifest(build, manifest)
    else:
        path.write_bytes(b"\xff\xfe\x00garbage")
    line = refused(serve(build), "build.json")
    assert "damaged" in line
    refused(serve(build, "--get", "/"), "build.json")
    refused(subprocess.run([sys.executable, "-m", "bjkg.server.cli", "stats", "--build", str(build)],
                           capture_output=True, text=True, timeout=120, cwd=ROOT), "build.json")


def test_the_checks_run_in_a_child_that_reports_what_it_found(build, monkeypatch, capfd):
    """`bjkg serve` checks the build in a forked child (its own process never loads the
    engine): the plan comes back whole, a damaged build as its one line, and anything
    else the child hits as a traceback it prints and an error that points to it."""
    import click

    from bjkg.server.core.settings import load_settings
    from bjkg.server.runtime import serve as serving

    resolved = load_settings({"BUILD_DIR": str(build)})
    plan = serving.plan_in_child(resolved, check=True)
    assert plan == json.loads(json.dumps(serving.plan(resolved, check=True)))
    assert plan["spec"]["store"] == str((build / "store").resolve()) and plan["limits"]["size"] >= 1

    (build / "build.json").write_text("[]", encoding="utf-8")
    with pytest.raises(click.ClickException) as refused_build:
        serving.plan_in_child(resolved, check=True)
    assert "build.json" in refused_build.value.message and "\n" not in refused_build.value.message

    def broken(resolved, check=False):
        raise RuntimeError("a bug in the checks")

    monkeypatch.setattr(serving, "plan", broken)
    with pytest.raises(click.ClickException) as failed:
        serving.plan_in_child(resolved, check=True)
    assert "the error is above" in failed.value.message
    assert "RuntimeError: a bug in the checks" in capfd.readouterr().err

    def crashing(resolved, check=False):
        os.kill(os.getpid(), signal.SIGSEGV)

    monkeypatch.setattr(serving, "plan", crashing)
    with pytest.raises(click.ClickException) as crashed:
        serving.plan_in_child(resolved, check=True)
    assert f"signal {signal.SIGSEGV.value}" in crashed.value.message and "rebuild" in crashed.value.message


def test_a_missing_store_is_refused(build):
    shutil.rmtree(build / "store")
    done = serve(build)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "store/" in done.stderr and "bjkg build --out" in done.stderr


def test_a_corrupted_store_is_refused(build):
    for sst in (build / "store").glob("*.sst"):
        data = bytearray(sst.read_bytes())
        for i in range(100, len(data), 997):
            data[i] ^= 0xFF
        sst.write_bytes(bytes(data))
    refused(serve(build), "store")


def test_a_store_of_other_data_is_refused(build, tmp_path):
    import gc

    import pyoxigraph

    shutil.rmtree(build / "store")
    other = pyoxigraph.Store(str(build / "store"))
    other.add(pyoxigraph.Quad(pyoxigraph.NamedNode("http://e/s"), pyoxigraph.NamedNode("http://e/p"),
                              pyoxigraph.Literal("o"), pyoxigraph.NamedNode("http://e/g")))
    other.flush()
    del other
    gc.collect()
    refused(serve(build), "store")


@pytest.mark.parametrize("name", ["bjkg.nq", "bjkg.trig", "bjkg.jsonld"])
def test_an_altered_or_missing_dump_is_refused(build, name):
    _garble_dump(build, name)
    refused(serve(build), name)
    (build / name).unlink()
    refused(serve(build), name)


def test_a_dump_altered_to_the_same_size_is_refused(build):
    path = build / "bjkg.nq"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(BuildDamaged) as damaged:
        verify_build(build)
    assert "SHA-256" in str(damaged.value) and "bjkg.nq" in str(damaged.value)
    assert isinstance(damaged.value, BuildNotFound)  # every existing caller catches it


# --------------------------------------------------------------------------- in memory

def _memory_store(build_dir: Path) -> BuildStore:
    store = BuildStore(build_dir, timeout=10, max_rows=100, query_workers=1, mode="inline",
                       in_memory_max_triples=10_000_000)
    store.local_store()
    return store


def test_a_whole_dump_is_read_into_memory(build):
    store = _memory_store(build)
    assert store.reads_from == "memory"
    assert len(store.local_store()) == _manifest(build)["triples"]


def test_a_dump_with_a_garbage_line_is_never_served_in_part(build):
    """Even with a checksum that matches (build.json rewritten to the bad bytes), the
    strict parse fails as a whole: every quad comes from the on-disk store."""
    _garble_dump(build, keep_checksum=True)
    store = _memory_store(build)
    assert store.reads_from == "disk"
    assert len(store.local_store()) == _manifest(build)["triples"]


def test_a_dump_that_lost_its_checksum_is_not_read_into_memory(build):
    path = build / "bjkg.nq"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[: len(lines) // 2]))  # a well-formed half
    store = _memory_store(build)
    assert store.reads_from == "disk"
    assert len(store.local_store()) == _manifest(build)["triples"]


# --------------------------------------------------------------------------- dumps

def test_a_dump_is_served_only_while_it_matches_its_digest(build):
    app = create_app({"BUILD_DIR": str(build), "TESTING": True})
    try:
        client = app.test_client()
        answer = client.get("/dumps/bjkg.nq")
        body = answer.get_data()
        assert answer.status_code == 200
        claimed = answer.headers["Digest"].removeprefix("sha-256=")
        assert base64.b64decode(claimed) == hashlib.sha256(body).digest()
        _garble_dump(build)
        damaged = client.get("/dumps/bjkg.nq", headers={"Accept": "application/json"})
        assert damaged.status_code == 503 and "Digest" not in damaged.headers
        assert "SHA-256" in damaged.get_json()["error"]["message"]
    finally:
        close_app(app)


@pytest.mark.parametrize("reuse_port", [False, True])
def test_a_port_in_use_is_refused_in_one_line(tiny_build, reuse_port):
    """A port another process listens on — with SO_REUSEPORT too, as granian binds, which let
    a second `bjkg serve` listen beside the first and share its connections — is an error
    before anything starts; so are a port out of range and a host that cannot be listened on."""
    import socket

    with socket.socket() as holder:
        if reuse_port:
            holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = serve(tiny_build, "--port", str(port))
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1 and "Traceback" not in done.stderr and len(lines) == 1, done.stderr
    assert "in use" in lines[0] and str(port) in lines[0]
    assert serve(tiny_build, "--port", "99999").returncode == 2
    done = serve(tiny_build, "--host", "256.1.1.1")
    assert done.returncode == 1 and "Traceback" not in done.stderr and "256.1.1.1" in done.stderr
