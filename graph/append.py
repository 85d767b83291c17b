"""Add one external dataset to an existing build without rebuilding it (`bjkg load`).

A full build of a manifest with one more dataset differs from the build of the manifest
without it only by that dataset: its graph (and links graph), their lines in the sorted
dumps, their quads in the store, their entries in build.json and their shapes at the end
of shapes.ttl. The curated graph, its inference and SHACL report, and the other external
datasets do not depend on it (a dataset's links and shapes read the curated graph and the
dataset only). So when the build in place is exactly what `bjkg build` would write from
today's inputs — `build-inputs.json` matches `build_inputs` of the checkout, corpus, code
and manifest — the new build is written from the old one:

1. the new dataset is read, derived, linked and validated as the full build does
   (`read_external`/`link_external`, the same code), errors naming the file and line;
2. the store is a RocksDB checkpoint of the old one (`Store.backup`: hard links to its
   immutable files) in a sibling folder; each triple in one graph is checked against it
   (the new dataset's subjects only), then the new quads are bulk loaded and compacted;
3. each new graph's quads are sorted alone (all quads of a graph are adjacent in the
   dumps' order: graph, subject, predicate, object) and serialised in each dump format;
   the blocks are spliced into the old dumps at their graph's place, hashed as written;
4. build.json gets the sums (triples, graphs, classes: a class's instances in two graphs
   would be a triple in two graphs), the new dumps' hashes and the dataset's entry;
5. the sibling folder is swapped into place as `bjkg build` does.

The result is byte for byte what a full build from the same manifest writes (dumps,
build.json, shapes.ttl, validation.ttl, build-inputs.json; the store holds the same quads
in other files), which the tests check. When the build is not known to be current (no
or another build-inputs.json, another base IRI, a graph that already exists) `append`
returns None and `bjkg load` rebuilds everything, as before.
"""
from __future__ import annotations

import hashlib
import json
import mmap
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import pyoxigraph as ox

from bjkg.graph.build import (FORMAT_VERSION, BuildError, _canonical_language_case,
                              _class_counts, _swap_into_place, _tagged_literals, build_inputs,
                              read_inputs, write_inputs)
from bjkg.graph.datasets.manifest import GRAPH_PREFIX, LINKS_PREFIX
from bjkg.graph.datasets.read import ExternalError, link_external, read_external
from bjkg.graph.vocab import PREFIXES

DUMPS = (("bjkg.trig", ox.RdfFormat.TRIG), ("bjkg.nq", ox.RdfFormat.N_QUADS),
         ("bjkg.jsonld", ox.RdfFormat.JSON_LD))
_CHUNK = 8 << 20


class _CannotSplice(Exception):
    """The old dump is not laid out as expected: rebuild instead."""


def why_not_append(out: Path, root: Path, sources: Path, base: str, manifest: Path) -> str | None:
    """Why the build in `out` cannot take a dataset incrementally, or None if it can."""
    try:
        built = json.loads((out / "build.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "no build to add to"
    if built.get("format") != FORMAT_VERSION or built.get("base") != base:
        return "the build has another format or base IRI"
    if not (out / "store").is_dir() or any(not (out / name).is_file() for name, _ in DUMPS):
        return "the build lacks its store or a dump"
    recorded = read_inputs(out)
    if recorded is None:
        return "the build does not record its inputs (built before build-inputs.json)"
    current = build_inputs(root, sources, base, manifest)
    changed = sorted(k for k in current.keys() | recorded.keys() if current.get(k) != recorded.get(k))
    if changed:
        return f"its inputs changed since it was built ({', '.join(changed)})"
    return None


def append_dataset(root: Path, out: Path, sources: Path, base: str, manifest: Path, name: str,
                   log: Callable[[str], None] = lambda m: None, *,
                   progress: bool = False) -> dict | None:
    """Write `out` again with the dataset `name` of `manifest` (the manifest of the build
    plus that dataset) added; build.json, or None when a full rebuild is needed.
    BuildError if the dataset fails a check (the build is then untouched)."""
    out = out.resolve()
    built = json.loads((out / "build.json").read_text(encoding="utf-8"))
    started = time.perf_counter()
    try:
        prepared = read_external(root, base, manifest=manifest, progress=progress, only={name})
    except ExternalError as exc:
        raise BuildError(str(exc)) from None
    (item,) = prepared
    new_graphs = [item.dataset.graph_iri(base)] + (
        [item.dataset.links_graph_iri(base)] if item.dataset.links else [])
    if any(g in built["graphs"] for g in new_graphs):
        log("full rebuild: the dataset's graph is already in the build")
        return None
    log(f"read {len(item.quads)} triples ({time.perf_counter() - started:.1f}s)")
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    try:
        summary = _write(root, out, staging, base, built, prepared, sources, manifest, log)
        if summary is None:
            shutil.rmtree(staging, ignore_errors=True)
            return None
        _swap_into_place(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log(f"wrote {out} ({time.perf_counter() - started:.1f}s)")
    return summary


def _write(root: Path, out: Path, staging: Path, base: str, built: dict, prepared: list,
           sources: Path, manifest: Path, log: Callable[[str], None]) -> dict | None:
    step = time.perf_counter()
    old_store = ox.Store.read_only(str(out / "store"))
    try:
        old_store.backup(str(staging / "store"))
    finally:
        del old_store
    store = ox.Store(str(staging / "store"))
    try:
        try:
            result = link_external(root, base, prepared, lambda: _curated(store, built, base),
                                   log=log)
        except ExternalError as exc:
            raise BuildError(str(exc)) from None
        _check_unique(store, result.quads)
        log(f"checked links, shapes and each triple in one graph "
            f"({time.perf_counter() - step:.1f}s)")
        step = time.perf_counter()
        blocks = _sorted_blocks(result.quads)  # graph → its sorted N-Quads lines
        with ThreadPoolExecutor(max_workers=1) as loader:
            # Oxigraph loads without the GIL: the store fills while the dumps are written.
            loaded = loader.submit(_load, store, b"".join(blocks.values()))
            quads = {g: list(ox.parse(data, format=ox.RdfFormat.N_QUADS)) for g, data in blocks.items()}
            all_new = [q for qs in quads.values() for q in qs]
            tagged = {g: _tagged_literals(qs) for g, qs in quads.items()}
            old_graphs = sorted(g for g, n in built["graphs"].items() if n)
            prefixes = dict(PREFIXES, id=f"{base}id/")
            dumps = {}
            try:
                for file, fmt in DUMPS:
                    inserts = _insertions(out / file, fmt, old_graphs, quads, tagged, prefixes)
                    dumps[file] = _splice(out / file, staging / file, inserts)
            except _CannotSplice as exc:
                log(f"full rebuild: {exc}")
                loaded.result()
                return None
            loaded.result()
        log(f"wrote the store and the dumps ({time.perf_counter() - step:.1f}s)")
    finally:
        del store
    shapes = (out / "shapes.ttl").read_bytes()
    (staging / "shapes.ttl").write_bytes(b"\n".join([shapes] + [p.read_bytes() for p in result.shape_files]))
    shutil.copyfile(out / "validation.ttl", staging / "validation.ttl")
    summary = dict(built)
    summary["hash"] = dumps["bjkg.trig"]["sha256"]
    summary["triples"] = built["triples"] + len(all_new)
    summary["graphs"] = dict(sorted({**built["graphs"], **result.graphs}.items()))
    classes = dict(built["classes"])
    for cls, count in _class_counts(all_new).items():
        classes[cls] = classes.get(cls, 0) + count
    summary["classes"] = dict(sorted(classes.items()))
    summary["dumps"] = {file: dumps[file] for file in built["dumps"]}
    summary["external"] = list(built.get("external", [])) + result.datasets
    (staging / "build.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n",
                                        encoding="utf-8")
    write_inputs(staging, build_inputs(root, sources, base, manifest))
    return summary


def _curated(store: ox.Store, built: dict, base: str) -> list[ox.Quad]:
    """The curated graphs' quads (asserted and inferred, not the ontology), as the full
    build hands them to a links rule; read from the old store before anything is added."""
    skip = (f"{base}{GRAPH_PREFIX}", f"{base}{LINKS_PREFIX}")
    return [q for g in built["graphs"] if not g.startswith(skip) and g != f"{base}graph/ontology"
            for q in store.quads_for_pattern(None, None, None, ox.NamedNode(g))]


def _check_unique(store: ox.Store, quads: list[ox.Quad]) -> None:
    """Each triple in one named graph: a new triple is refused if the build (`store`,
    before the new quads are added) or another new graph holds it. Only the subjects the
    build already has are looked at term by term."""
    repeated: dict[ox.Triple, list[str]] = {}
    graphs = {q.graph_name for q in quads}
    if len(graphs) > 1:
        first: dict[ox.Triple, str] = {}
        for quad in quads:
            held = first.setdefault(quad.triple, quad.graph_name.value)
            if held != quad.graph_name.value:
                repeated.setdefault(quad.triple, [held]).append(quad.graph_name.value)
    known: dict[object, bool] = {}
    for quad in quads:
        subject = quad.subject
        seen = known.get(subject)
        if seen is None:
            seen = known[subject] = next(store.quads_for_pattern(subject, None, None), None) is not None
        if seen:
            for old in store.quads_for_pattern(subject, quad.predicate, quad.object):
                repeated.setdefault(quad.triple, [old.graph_name.value]).append(quad.graph_name.value)
    if repeated:
        shown = sorted(repeated.items(), key=lambda item: str(item[0]))[:20]
        lines = [f"  {t.subject} {t.predicate} {t.object} in {', '.join(gs)}" for t, gs in shown]
        more = f"\n  … and {len(repeated) - 20} more" if len(repeated) > 20 else ""
        raise BuildError(f"{len(repeated)} triple(s) in more than one named graph (each triple "
                         "must live in exactly one):\n" + "\n".join(lines) + more)


def _sorted_blocks(quads: list[ox.Quad]) -> dict[str, bytes]:
    """Graph IRI → its quads as sorted N-Quads, in graph order.

    The dumps' order is (graph, subject, predicate, object) by their N-Triples forms
    (`build._quad_order`); within one graph, sorting the N-Quads lines as bytes gives the
    same order: UTF-8 bytes order as code points do, and where one term is a prefix of
    another (`"a"` and `"a"@en`, `@en` and `@en-us`) the space after the shorter sorts
    before any character that can continue a term.
    """
    by_graph: dict[str, list[ox.Quad]] = {}
    for quad in quads:
        by_graph.setdefault(quad.graph_name.value, []).append(quad)
    blocks = {}
    for graph in sorted(by_graph):
        lines = ox.serialize(by_graph[graph], format=ox.RdfFormat.N_QUADS).splitlines(keepends=True)
        lines.sort()
        blocks[graph] = b"".join(lines)
    return blocks


def _load(store: ox.Store, nquads: bytes) -> None:
    store.bulk_load(input=nquads, format=ox.RdfFormat.N_QUADS, lenient=True)
    store.flush()
    store.optimize()


def _insertions(old: Path, fmt, old_graphs: list[str], quads: dict[str, list[ox.Quad]],
                tagged: dict[str, int], prefixes: dict) -> list[tuple[int, bytes]]:
    """(offset in the old dump, bytes to insert there) for each new graph, in order."""
    inserts: list[tuple[int, bytes]] = []
    if not old_graphs:
        raise _CannotSplice("the build has no quads to add to")
    with old.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        for graph, graph_quads in quads.items():
            block = ox.serialize(graph_quads, format=fmt,
                                 prefixes=prefixes if fmt == ox.RdfFormat.TRIG else None)
            try:
                block = _canonical_language_case(block, fmt, tagged[graph])
            except BuildError as exc:
                raise _CannotSplice(str(exc)) from None
            following = next((g for g in old_graphs if g > graph), None)
            if fmt == ox.RdfFormat.N_QUADS:
                offset = len(data) if following is None else _nquads_offset(data, following)
            elif fmt == ox.RdfFormat.TRIG:
                block = _without_prefixes(block)
                offset = _trig_offset(data, old_graphs, following, prefixes)
            else:
                if not (block.startswith(b"[") and block.endswith(b"]")):
                    raise _CannotSplice("unexpected JSON-LD output")
                inner = block[1:-1]
                if following is None:
                    if len(data) < 3 or data[len(data) - 1:] != b"]":
                        raise _CannotSplice("bjkg.jsonld does not end with ']'")
                    offset, block = len(data) - 1, b"," + inner
                else:
                    offset, block = _jsonld_offset(data, following), inner + b","
            inserts.append((offset, block))
    return inserts


def _nquads_offset(data: mmap.mmap, graph: str) -> int:
    """Where the first line of `graph` starts (a line ends with ` <graph> .`; no IRI holds
    a space and no literal a raw newline, so that text occurs nowhere else)."""
    at = data.find(b" <" + graph.encode() + b"> .\n")
    if at < 0:
        raise _CannotSplice(f"bjkg.nq has no line in {graph}")
    return data.rfind(b"\n", 0, at) + 1


def _first_line(graph: str, fmt, prefixes: dict | None) -> bytes:
    """How the dump opens `graph`, from a one-quad serialisation."""
    x = ox.NamedNode(graph)
    return ox.serialize([ox.Quad(x, x, x, ox.NamedNode(graph))], format=fmt, prefixes=prefixes)


def _without_prefixes(trig: bytes) -> bytes:
    at = 0
    while trig.startswith(b"@prefix ", at):
        at = trig.index(b"\n", at) + 1
    return trig[at:]


def _trig_offset(data: mmap.mmap, old_graphs: list[str], following: str | None,
                 prefixes: dict) -> int:
    """Where the block of `following` starts in the TriG dump (its end if None). Every
    line inside a graph block is indented and a literal's newlines are escaped, so the
    blocks end at the lines `}`: the k-th graph starts after the (k-1)-th."""
    index = len(old_graphs) if following is None else old_graphs.index(following)
    at = _without_prefixes_offset(data)
    for _ in range(index):
        end = data.find(b"\n}\n", at)
        if end < 0:
            raise _CannotSplice("bjkg.trig has fewer graph blocks than build.json lists")
        at = end + 3
    if following is not None:
        opening = _without_prefixes(_first_line(following, ox.RdfFormat.TRIG, prefixes))
        opening = opening[:opening.index(b"\n") + 1]
        if data[at:at + len(opening)] != opening:
            raise _CannotSplice(f"bjkg.trig's block of {following} is not where expected")
    elif at != len(data):
        raise _CannotSplice("bjkg.trig has more graph blocks than build.json lists")
    return at


def _without_prefixes_offset(data: mmap.mmap) -> int:
    at = 0
    while data[at:at + 8] == b"@prefix ":
        at = data.find(b"\n", at) + 1
    return at


def _jsonld_offset(data: mmap.mmap, graph: str) -> int:
    """Where the object of `graph` starts in the JSON-LD dump (a quote inside a JSON
    string is escaped, so the unescaped opening occurs only there)."""
    opening = _first_line(graph, ox.RdfFormat.JSON_LD, None)
    opening = opening[1:opening.index(b'"@graph":[') + len(b'"@graph":[')]
    at = data.find(opening)
    if at < 0:
        raise _CannotSplice(f"bjkg.jsonld has no graph {graph}")
    return at


def _splice(old: Path, new: Path, inserts: list[tuple[int, bytes]]) -> dict:
    """Write `new` as `old` with the inserts, hashing it as it is written."""
    digest = hashlib.sha256()
    size = 0
    with old.open("rb") as src, new.open("wb") as dst:
        position = 0

        def put(data: bytes) -> None:
            nonlocal size
            digest.update(data)
            dst.write(data)
            size += len(data)

        for offset, block in sorted(inserts, key=lambda item: item[0]):
            while position < offset:
                put(src.read(min(_CHUNK, offset - position)))
                position = src.tell()
            put(block)
        while chunk := src.read(_CHUNK):
            put(chunk)
    return {"sha256": digest.hexdigest(), "bytes": size}
