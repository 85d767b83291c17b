"""Shared fixtures: `tiny_build`, a small build made the way `bjkg build` lays one out.

The data is ``tests/data/tiny.trig`` (entities in three scripts and pinyin, provenance,
observations, an XSS probe) plus the real ontology (``ontology/bjkg.ttl``) in its own
named graph. The fixture writes every file docs/artifact.md lists — TriG, N-Quads,
JSON-LD dumps, the pyoxigraph store, shapes, a validation report and build.json — so the
server can be tested without running the real build. Extend the data file rather than
this fixture when a test needs more.
"""
from __future__ import annotations

import gc
import hashlib
import json
import os
import shutil
from collections import Counter
from pathlib import Path

import pyoxigraph
import pytest
from pyoxigraph import DefaultGraph, NamedNode, Quad, RdfFormat

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
BASE = "https://w3id.org/bjkg/"
RDF_TYPE = NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")


def corpus() -> Path:
    """The source texts the records quote: $BJKG_SOURCES, else ../shared/sources beside the
    checkout (where `bjkg build` looks). A test that needs them skips without them, naming
    the reason, so a clone without the corpus still runs everything else; with
    BJKG_REQUIRE_CORPUS=1 (as CI sets) a missing corpus fails instead."""
    path = Path(os.environ.get("BJKG_SOURCES") or ROOT.parent / "shared" / "sources")
    if not path.is_dir():
        reason = f"no corpus at {path}; set BJKG_SOURCES or put the texts in ../shared/sources"
        if os.environ.get("BJKG_REQUIRE_CORPUS") == "1":
            pytest.fail(f"BJKG_REQUIRE_CORPUS=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    return path


def _sort_key(quad: Quad) -> tuple[str, str, str, str]:
    return (str(quad.graph_name), str(quad.subject), str(quad.predicate), str(quad.object))


def make_tiny_build(out: Path, *, trig: Path = DATA / "tiny.trig", base: str = BASE) -> Path:
    """Write a build of `trig` (+ the ontology graph) into `out`; returns `out`."""
    out.mkdir(parents=True, exist_ok=True)
    quads = list(pyoxigraph.parse(path=str(trig), format=RdfFormat.TRIG))
    ontology = ROOT / "ontology" / "bjkg.ttl"
    if ontology.is_file():
        graph = NamedNode(f"{base}graph/ontology")
        quads += [Quad(q.subject, q.predicate, q.object, graph)
                  for q in pyoxigraph.parse(path=str(ontology), format=RdfFormat.TURTLE)]
    quads = sorted(set(quads), key=_sort_key)
    assert not any(isinstance(q.graph_name, DefaultGraph) for q in quads), "the default graph stays empty"

    (out / "bjkg.trig").write_bytes(pyoxigraph.serialize(quads, format=RdfFormat.TRIG))
    (out / "bjkg.nq").write_bytes(pyoxigraph.serialize(quads, format=RdfFormat.N_QUADS))
    (out / "bjkg.jsonld").write_bytes(pyoxigraph.serialize(quads, format=RdfFormat.JSON_LD))

    store = pyoxigraph.Store(str(out / "store"))
    store.extend(quads)
    store.flush()
    del store
    gc.collect()  # closes RocksDB so the server can open the store read-only

    shapes = ROOT / "shapes" / "bjkg-shapes.ttl"
    if shapes.is_file():
        shutil.copyfile(shapes, out / "shapes.ttl")
    (out / "validation.ttl").write_text(
        "@prefix sh: <http://www.w3.org/ns/shacl#> .\n[] a sh:ValidationReport ; sh:conforms true .\n",
        encoding="utf-8")

    classes = Counter(q.object.value for q in {Quad(q.subject, q.predicate, q.object) for q in quads}
                      if q.predicate == RDF_TYPE and isinstance(q.object, NamedNode))
    dumps = {}
    for name in ("bjkg.trig", "bjkg.nq", "bjkg.jsonld"):
        content = (out / name).read_bytes()
        dumps[name] = {"sha256": hashlib.sha256(content).hexdigest(), "bytes": len(content)}
    manifest = {
        "format": 1,
        "base": base,
        "hash": dumps["bjkg.trig"]["sha256"],
        "triples": len(quads),
        "graphs": dict(sorted(Counter(q.graph_name.value for q in quads).items())),
        "classes": dict(sorted(classes.items())),
        "dumps": dumps,
        "sources": [],
        "quotes": {"verified": False, "reason": "test fixture"},
        "ontology_version": "0.1.0",
    }
    (out / "build.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    return out


@pytest.fixture(scope="session")
def tiny_build(tmp_path_factory) -> Path:
    """A read-only build folder of the tiny dataset, shared by the whole session."""
    return make_tiny_build(tmp_path_factory.mktemp("tiny") / "build")
