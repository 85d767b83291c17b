"""`bjkg load` and the manifest copy it writes: any file name that can be recorded
round-trips through TOML and one that cannot is refused by name; no pending copy is left
behind, not even by a load killed outright; errors name what is at fault (the new dataset,
not a line of a manifest that does not have it; a file as the user gave it)."""
from __future__ import annotations

import fcntl
import os
import re
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bjkg.graph.build import BuildError
from bjkg.graph.datasets.manifest import MANIFEST, _toml_value, read_manifest
from bjkg.graph.load import load_files

from .conftest import ROOT, copy_workspace

TRIPLE = '<http://example.org/x> <http://example.org/p> "x" .\n'


@pytest.fixture
def workspace(built, tmp_path):
    """A writable checkout copy with a copy of the session's real build of it."""
    return copy_workspace(built, tmp_path / "root")


def _pending(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "graph").iterdir() if ".pending-" in p.name)


def test_every_character_of_a_string_round_trips_through_toml():
    """TOML basic strings refuse DEL (and C0 controls but tab) even where JSON allows
    them: a file name holding one made the manifest copy unreadable."""
    text = "".join(map(chr, [*range(0xD800), *range(0xE000, 0x10000)])) + "\U0001F600"
    assert tomllib.loads(f"v = {_toml_value(text)}\n")["v"] == text
    assert _toml_value("a\x7fb") == '"a\\u007fb"'


def test_a_file_name_holding_del_is_recorded_and_loaded(workspace, sources, tmp_path):
    root, out = workspace
    data = tmp_path / "del\x7f.nt"
    data.write_text(TRIPLE, encoding="utf-8")
    load_files(root, out, sources, [data])
    assert read_manifest(root / MANIFEST)[-1].inputs[0].file == str(data)
    assert _pending(root) == []


def test_a_file_name_that_is_not_utf8_is_refused_naming_it(workspace, sources, tmp_path):
    """The manifest is UTF-8 TOML: a name it cannot hold is refused before anything is
    written (it was a UnicodeEncodeError traceback and an empty pending copy left behind)."""
    root, out = workspace
    manifest = (root / MANIFEST).read_bytes()
    data = tmp_path / os.fsdecode(b"bad\xff.nt")
    data.write_text(TRIPLE, encoding="utf-8")
    with pytest.raises(BuildError, match=r"bad\\xff\.nt: the file name is not valid UTF-8") as caught:
        load_files(root, out, sources, [data])
    str(caught.value).encode("utf-8")  # printable as it is
    assert (root / MANIFEST).read_bytes() == manifest
    assert _pending(root) == []


def test_the_pending_copy_is_removed_when_writing_it_fails(workspace, sources, tmp_path,
                                                           monkeypatch):
    root, out = workspace
    data = tmp_path / "one.nt"
    data.write_text(TRIPLE, encoding="utf-8")
    monkeypatch.setattr("bjkg.graph.load.append_entry", lambda *a, **k: "\udcff")
    with pytest.raises(UnicodeEncodeError):
        load_files(root, out, sources, [data])
    assert _pending(root) == []


def test_pending_copies_of_killed_loads_are_removed_by_the_next(workspace, sources, tmp_path):
    """A load killed outright (SIGKILL, the OOM killer) cannot remove its pending copy;
    the next load removes every copy no running load holds (each holds a lock on its own),
    and leaves a running load's copy alone."""
    root, out = workspace
    data = tmp_path / "one.nt"
    data.write_text(TRIPLE, encoding="utf-8")
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from bjkg.graph.load import load_files\n"
         "def log(m):\n"
         "    if m.startswith('loading'): print('held', flush=True); time.sleep(600)\n"
         "load_files(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), [Path(sys.argv[4])],"
         " name='killed', log=log)\n",
         str(root), str(out), str(sources), str(data)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "held\n"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert _pending(root) == [f".external.toml.pending-{child.pid}"]
    running = root / "graph" / ".external.toml.pending-1"
    running.write_text("a load that is still running")
    held = os.open(running, os.O_RDONLY)
    fcntl.flock(held, fcntl.LOCK_EX)
    try:
        seen: list[bool] = []

        def log(message: str) -> None:
            if message.startswith("loading"):  # while this load runs: its own copy is held
                probe = os.open(root / "graph" / f".external.toml.pending-{os.getpid()}", os.O_RDONLY)
                try:
                    fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    seen.append(True)
                finally:
                    os.close(probe)

        load_files(root, out, sources, [data], name="next", log=log)
        assert seen == [True]
        assert _pending(root) == [running.name]
    finally:
        os.close(held)


def test_errors_about_the_new_dataset_name_it_not_a_manifest_line(workspace, sources, tmp_path):
    """The new entry is only in the pending copy: its line there is no line of
    graph/external.toml (it was cited as one), so the error names the new dataset."""
    root, out = workspace
    broken = tmp_path / "broken.nq"
    broken.write_text(TRIPLE * 3 + '<http://e/a> <http://e/b> "open .\n', encoding="utf-8")
    for rebuild in (False, True):
        with pytest.raises(BuildError, match=r"^new dataset 'broken' \(bjkg load\): "
                                             r"\S*broken\.nq:4:") as caught:
            load_files(root, out, sources, [broken], rebuild=rebuild)
        assert "external.toml" not in str(caught.value)
    data = tmp_path / "again.nt"
    data.write_text(TRIPLE, encoding="utf-8")
    load_files(root, out, sources, [data], name="again")
    with pytest.raises(BuildError, match=r"^new dataset 'again' \(bjkg load\): dataset name "
                                         r"'again' is already used at line (\d+)$") as caught:
        load_files(root, out, sources, [data], name="again")
    line = int(re.search(r"line (\d+)$", str(caught.value)).group(1))
    lines = (root / MANIFEST).read_text(encoding="utf-8").splitlines()
    assert lines[line - 1] == "[[dataset]]" and lines[line] == 'name = "again"'


def test_errors_about_existing_datasets_keep_their_manifest_lines(workspace, sources, tmp_path):
    root, out = workspace
    manifest = root / MANIFEST
    text = manifest.read_text(encoding="utf-8")
    line = text.splitlines().index("[[dataset]]") + 1
    manifest.write_text(re.sub(r'sha256 = "[0-9a-f]{64}"', 'sha256 = "' + "0" * 64 + '"', text,
                               count=1), encoding="utf-8")
    data = tmp_path / "one.nt"
    data.write_text(TRIPLE, encoding="utf-8")
    with pytest.raises(BuildError, match=rf"^graph/external\.toml:{line}: dataset 'cpca-divisions': "):
        load_files(root, out, sources, [data])


def test_a_symlink_is_reported_and_recorded_as_given(workspace, sources, tmp_path):
    """A file given as a symlink is named and recorded as the link (relative to the
    checkout when inside it), not as its target: the user's name, not one they never saw."""
    root, out = workspace
    target = tmp_path / "elsewhere" / "target.nt"
    target.parent.mkdir()
    target.write_text(TRIPLE + "<http://e/a> <http://e/b> .\n", encoding="utf-8")
    (root / "data").mkdir()
    inside, outside = root / "data" / "inside.nt", tmp_path / "outside.nt"
    inside.symlink_to(target)
    outside.symlink_to(target.with_name("other.nt"))
    target.with_name("other.nt").write_text(TRIPLE.replace('"x"', '"y"'), encoding="utf-8")
    with pytest.raises(BuildError, match=r": data/inside\.nt:2:") as caught:
        load_files(root, out, sources, [inside])
    assert "target.nt" not in str(caught.value)
    target.write_text(TRIPLE, encoding="utf-8")
    load_files(root, out, sources, [inside])
    load_files(root, out, sources, [outside])
    files = [d.inputs[0].file for d in read_manifest(root / MANIFEST)[-2:]]
    assert files == ["data/inside.nt", str(outside)]
