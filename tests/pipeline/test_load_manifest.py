"""`bjkg load` and the manifest copy it writes: any file name that can be recorded
round-trips through TOML and one that cannot is refused by name; no pending copy is left
behind, not even by a load killed outright; errors name what is at fault (the new dataset,
not a line of a manifest that does not have it; a file as the user gave it)."""
from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from bjkg.graph.build import BuildError
from bjkg.graph.datasets.manifest import MANIFEST, _toml_value, read_manifest
from bjkg.graph.load import load_files

from .conftest import copy_workspace

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
