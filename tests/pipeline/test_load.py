"""`bjkg load` into an existing build: incremental when the build is current, and then the
same files as a full `bjkg build` from the same manifest; atomic on failure either way."""
from __future__ import annotations

import json
from pathlib import Path

import pyoxigraph as ox
import pytest

from bjkg.graph.build import INPUTS_FILE, BuildError, build_dataset
from bjkg.graph.datasets.rdf_input import RdfInputError, read_quads
from bjkg.graph.load import load_files
from bench.attack import entity_bomb

from .conftest import copy_workspace

BASE = "https://w3id.org/bjkg/"
FILES = ("bjkg.trig", "bjkg.nq", "bjkg.jsonld", "build.json", "shapes.ttl", "validation.ttl",
         INPUTS_FILE)
EXTRA = ('<http://example.org/a> <http://www.w3.org/2000/01/rdf-schema#label> "甲"@zh-Hans .\n'
         '<http://example.org/a> <http://www.w3.org/2000/01/rdf-schema#label> "A"@en .\n'
         '<http://example.org/a> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> '
         '<https://w3id.org/bjkg/ontology#Place> .\n'
         '<http://example.org/a> <http://example.org/p> _:b1 .\n'
         '_:b1 <http://example.org/q> "1"^^<http://www.w3.org/2001/XMLSchema#integer> .\n'
         '<http://example.org/a> <http://example.org/p> "a"@en-us .\n'
         '<http://example.org/a> <http://example.org/p> "a" .\n')


@pytest.fixture
def workspace(built, tmp_path):
    """A writable checkout copy with a copy of the session's real build of it."""
    return copy_workspace(built, tmp_path / "root")


def _quads(folder: Path) -> set[str]:
    store = ox.Store.read_only(str(folder / "store"))
    try:
        return {str(q) for q in store}
    finally:
        del store


def _same_as_full_build(root: Path, out: Path, sources: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    build_dataset(root, again, sources)
    for name in FILES:
        assert (again / name).read_bytes() == (out / name).read_bytes(), name
    assert _quads(again) == _quads(out)
    assert len(_quads(out)) == json.loads((out / "build.json").read_text())["triples"]


def test_an_incremental_load_writes_what_a_full_build_writes(workspace, sources, tmp_path):
    """Two loads whose graphs sort before and after the build's external graph: each added
    to the build in place (no rebuild), and the result is byte for byte a full build's."""
    root, out = workspace
    lines: list[str] = []
    first = tmp_path / "first.nt"
    first.write_text(EXTRA, encoding="utf-8")
    summary = load_files(root, out, sources, [first], graph=f"{BASE}graph/external/aaa",
                         log=lines.append, retrieved=None)
    assert not any("full rebuild" in line for line in lines), lines
    assert summary["external"][-1]["triples"] == 7
    second = tmp_path / "second.ttl"
    second.write_text('@prefix ex: <http://example.org/> .\nex:z ex:p "z"@zh-Hant ; a ex:Thing .\n'
                      'ex:z ex:p "z"@zh-Hant .\n', encoding="utf-8")  # a repeat: one quad
    lines.clear()
    load_files(root, out, sources, [second], name="zzz", log=lines.append)
    assert not any("full rebuild" in line for line in lines), lines
    built = json.loads((out / "build.json").read_text())
    assert built["external"][-1]["triples"] == 2
    assert built["classes"]["http://example.org/Thing"] == 1
    assert f"{BASE}graph/external/aaa" in built["graphs"] and f"{BASE}graph/external/zzz" in built["graphs"]
    _same_as_full_build(root, out, sources, tmp_path)
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no staging left


def _snapshot(root: Path, out: Path) -> dict:
    return {"manifest": (root / "graph" / "external.toml").read_bytes(),
            **{name: (out / name).read_bytes() for name in FILES},
            "store": sorted((p.name, p.stat().st_mtime_ns) for p in (out / "store").iterdir()),
            "siblings": sorted(p.name for p in out.parent.iterdir())}


def test_a_bad_file_leaves_the_build_and_the_manifest_untouched(workspace, sources, tmp_path):
    root, out = workspace
    before = _snapshot(root, out)
    broken = tmp_path / "broken.nq"
    broken.write_text('<http://e/a> <http://e/b> <http://e/c> <http://e/g> .\n' * 3
                      + '<http://e/a> <http://e/b> "open <http://e/g> .\n', encoding="utf-8")
    with pytest.raises(BuildError, match=r"^new dataset 'broken' \(bjkg load\): .*broken\.nq:4:"):
        load_files(root, out, sources, [broken])
    # a triple the curated graph already holds: refused, naming it and both graphs
    place = f"{BASE}id/place/beijing"
    held = next(iter(ox.Store.read_only(str(out / "store")).quads_for_pattern(
        ox.NamedNode(place), None, None)))
    duplicate = tmp_path / "duplicate.nt"
    duplicate.write_text(f"{held.subject} {held.predicate} {held.object} .\n", encoding="utf-8")
    with pytest.raises(BuildError, match=r"1 triple\(s\) in more than one named graph"):
        load_files(root, out, sources, [duplicate])
    # RDF/XML whose entities expand into a 30 MB literal: named, not a MemoryError traceback
    bomb = tmp_path / "bomb.rdf"
    bomb.write_bytes(entity_bomb(6))
    with pytest.raises(BuildError, match=r"new dataset 'bomb' \(bjkg load\): .*bomb\.rdf: a statement of 30 MB"):
        load_files(root, out, sources, [bomb])
    # files without a single statement: refused (an empty named graph broke the build)
    for empty, text in (("empty.nq", ""), ("prefixes.ttl", "@prefix ex: <http://example.org/> .\n")):
        (tmp_path / empty).write_text(text, encoding="utf-8")
        with pytest.raises(BuildError, match=rf"{empty} holds no triples"):
            load_files(root, out, sources, [tmp_path / empty])
        with pytest.raises(BuildError, match=rf"{empty} holds no triples"):
            load_files(root, out, sources, [tmp_path / empty], rebuild=True)
    assert _snapshot(root, out) == before


@pytest.mark.parametrize("as_nquads", [False, True])
def test_a_statement_too_long_to_pass_on_is_refused_naming_the_file(as_nquads):
    """pyoxigraph reads back N-Quads lines up to 16 MB: a longer statement (an RDF/XML entity
    expansion) is refused where the file is read, either way it is read."""
    with pytest.raises(RdfInputError, match=r"^bomb\.rdf: a statement of 30 MB"):
        read_quads(entity_bomb(6), "rdfxml", "http://example.org/g", "http://example.org/s/",
                   label="bomb.rdf", as_nquads=as_nquads)
    assert read_quads(entity_bomb(4), "rdfxml", "http://example.org/g", "http://example.org/s/",
                      label="small.rdf")  # 300 KB: read


def test_a_dataset_name_in_use_is_refused_as_before(workspace, sources, tmp_path):
    root, out = workspace
    data = tmp_path / "again.nt"
    data.write_text('<http://example.org/x> <http://example.org/p> "x" .\n', encoding="utf-8")
    load_files(root, out, sources, [data], name="again")
    before = _snapshot(root, out)
    with pytest.raises(BuildError, match="dataset name 'again' is already used"):
        load_files(root, out, sources, [data], name="again")
    assert _snapshot(root, out) == before


def test_a_build_that_is_not_current_is_rebuilt_whole(workspace, sources, tmp_path):
    """A record changed since the build (or a build without build-inputs.json): the load
    rebuilds everything, as before, and still matches a full build."""
    root, out = workspace
    (out / INPUTS_FILE).unlink()
    lines: list[str] = []
    data = tmp_path / "one.nt"
    data.write_text('<http://example.org/x> <http://example.org/p> "x" .\n', encoding="utf-8")
    load_files(root, out, sources, [data], name="one", log=lines.append)
    assert any("full rebuild: the build does not record its inputs" in line for line in lines)
    exclusions = root / "graph" / "exclusions.yaml"
    exclusions.write_text(exclusions.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    lines.clear()
    data = tmp_path / "two.nt"
    data.write_text('<http://example.org/y> <http://example.org/p> "y" .\n', encoding="utf-8")
    load_files(root, out, sources, [data], name="two", log=lines.append)
    assert any("full rebuild: its inputs changed since it was built (records)" in line
               for line in lines), lines
    _same_as_full_build(root, out, sources, tmp_path)


@pytest.mark.parametrize("size", [0, 10**9])
def test_each_triple_in_one_graph_either_way_round(built, size):
    """The check of new triples against the build: from the build's subjects (a small
    build, size 0) or from the new subjects (a large build) — the same answer."""
    from bjkg.graph.append import _check_unique

    store = ox.Store.read_only(str(built / "store"))
    held = next(iter(store.quads_for_pattern(ox.NamedNode(f"{BASE}id/place/beijing"), None, None)))
    graph = f"{BASE}graph/external/x"
    fresh = [f'<http://example.org/{n}> <http://example.org/p> "{n}" <{graph}> .\n'.encode()
             for n in range(5)]
    repeat = f"{held.subject} {held.predicate} {held.object} <{graph}> .\n".encode()
    _check_unique(store, built / "bjkg.nq", size, [], {graph: sorted(fresh)})
    with pytest.raises(BuildError, match=r"1 triple\(s\) in more than one named graph"):
        _check_unique(store, built / "bjkg.nq", size, [], {graph: sorted(fresh + [repeat])})
