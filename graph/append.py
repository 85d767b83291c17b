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
   immutable files) in a sibling folder, filled by bulk loads while the file is still
   being read, then compacted; meanwhile each triple in one graph is checked against the
   old store (only the subjects both have are compared term by term);
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

import bisect
import hashlib
import itertools
import json
import mmap
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import pyoxigraph as ox

from bjkg.graph.build import (FORMAT_VERSION, BuildError, _class_counts, _cycle_collector_paused,
                              build_inputs, read_inputs, staged, write_inputs)
from bjkg.graph.datasets.manifest import GRAPH_PREFIX, LINKS_PREFIX, read_manifest
from bjkg.graph.datasets.read import (ExternalError, ExternalResult, describe, link_external,
                                     read_external)
from bjkg.graph.store_load import MergedTerms, refuse_merged_terms
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
    (dataset,) = [d for d in read_manifest(manifest) if d.name == name]
    if any(g in built["graphs"] for g in (dataset.graph_iri(base), dataset.links_graph_iri(base))):
        log("full rebuild: the dataset's graph is already in the build")
        return None
    with staged(out) as staging:
        with _cycle_collector_paused():  # a million short-lived objects: 2.5x faster without it
            summary = _write(root, out, staging.folder, base, built, dataset, sources, manifest,
                             log, progress)
        if summary is None:
            staging.abandon()
            return None
    log(f"wrote {out} ({time.perf_counter() - started:.1f}s)")
    return summary


def _write(root: Path, out: Path, staging: Path, base: str, built: dict, dataset, sources: Path,
           manifest: Path, log: Callable[[str], None], progress: bool) -> dict | None:
    step = time.perf_counter()
    old = ox.Store.read_only(str(out / "store"))  # read, never written
    old.backup(str(staging / "store"))
    store = ox.Store(str(staging / "store"))
    # Oxigraph loads without the GIL: the store fills while the file is still being read
    # (a bulk load per piece the reader hands over), then while the new quads are checked
    # and the dumps written (the checks read `old`); compacted last.
    loader = ThreadPoolExecutor(max_workers=1)
    pieces: list = []
    plain = not dataset.links and not dataset.shapes
    try:
        try:
            prepared = read_external(
                root, base, manifest=manifest, progress=progress, only={dataset.name},
                as_nquads=True,
                on_piece=(lambda piece: pieces.append(loader.submit(_bulk_load, store, piece)))
                if plain else None)
        except ExternalError as exc:
            raise BuildError(str(exc)) from None
        (item,) = prepared
        if item.nquads is not None and plain:
            # nothing to link or validate: the dataset stays N-Quads text throughout
            graph = item.dataset.graph_iri(base)
            lines = {graph: _unique(sorted(item.nquads.splitlines(keepends=True)))}
            count = len(lines[graph])
            result = ExternalResult(quads=[], graphs={graph: count},
                                    datasets=[describe(item.dataset, base, item.inputs, count, 0)])
            log(f"external {item.dataset.name}: {count} triples, 0 links "
                f"({time.perf_counter() - step:.1f}s)")
            blocks = {graph: b"".join(lines[graph])}
            if not pieces:  # an input without statements
                pieces.append(loader.submit(_bulk_load, store, item.nquads))
        else:
            item.materialise()
            try:
                result = link_external(root, base, prepared, lambda: _curated(old, built, base),
                                       log=log)
            except ExternalError as exc:
                raise BuildError(str(exc)) from None
            lines = _sorted_lines(result.quads)  # graph → its quads as sorted N-Quads lines
            blocks = {graph: b"".join(graph_lines) for graph, graph_lines in lines.items()}
            pieces.append(loader.submit(_bulk_load, store, b"".join(blocks.values())))
        loaded = loader.submit(_compact, store)
        _check_unique(old, out / "bjkg.nq", built["triples"], result.quads, lines)
        log(f"checked links, shapes and each triple in one graph "
            f"({time.perf_counter() - step:.1f}s)")
        step = time.perf_counter()
        try:
            serialised = {graph: _serialise(graph, block, base) for graph, block in blocks.items()}
            old_graphs = sorted(g for g, n in built["graphs"].items() if n)
            dumps = {file: _splice(out / file, staging / file,
                                   _insertions(out / file, fmt, old_graphs, serialised, base))
                     for file, fmt in DUMPS}
        except _CannotSplice as exc:
            log(f"full rebuild: {exc}")
            return None
        classes = _class_counts([q for block in blocks.values() for q in ox.parse(
            _typed_lines(block), format=ox.RdfFormat.N_QUADS, lenient=True)])
        step_dumps = time.perf_counter() - step
        for piece in pieces:
            piece.result()
        loaded.result()
        log(f"wrote the dumps ({step_dumps:.1f}s) and the store "
            f"({time.perf_counter() - step:.1f}s)")
    finally:
        loader.shutdown(wait=True)  # the store is closed before its folder is kept or removed
        del store, old
    added = sum(len(graph_lines) for graph_lines in lines.values())
    try:
        refuse_merged_terms(staging / "store", built["triples"] + added, lambda: [
            q for block in blocks.values() for q in ox.parse(block, format=ox.RdfFormat.N_QUADS, lenient=True)])
    except MergedTerms as exc:
        raise BuildError(str(exc)) from None

    shapes = (out / "shapes.ttl").read_bytes()
    (staging / "shapes.ttl").write_bytes(b"\n".join([shapes] + [p.read_bytes() for p in result.shape_files]))
    shutil.copyfile(out / "validation.ttl", staging / "validation.ttl")
    summary = dict(built)
    summary["hash"] = dumps["bjkg.trig"]["sha256"]
    summary["triples"] = built["triples"] + added
    summary["graphs"] = dict(sorted({**built["graphs"], **result.graphs}.items()))
    merged = dict(built["classes"])
    for cls, count in classes.items():
        merged[cls] = merged.get(cls, 0) + count
    summary["classes"] = dict(sorted(merged.items()))
    summary["dumps"] = {file: dumps[file] for file in built["dumps"]}
    summary["external"] = list(built.get("external", [])) + result.datasets
    (staging / "build.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n",
                                        encoding="utf-8")
    write_inputs(staging, build_inputs(root, sources, base, manifest))
    return summary


_RDF_TYPE = b" <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> "


def _typed_lines(block: bytes) -> bytes:
    """The lines of an N-Quads block that may state a type (the text could also be in a
    literal: they are parsed, and only rdf:type quads counted)."""
    out, at = [], 0
    while (hit := block.find(_RDF_TYPE, at)) >= 0:
        start = block.rfind(b"\n", 0, hit) + 1
        end = block.find(b"\n", hit) + 1 or len(block)
        out.append(block[start:end])
        at = end
    return b"".join(out)


def _curated(store: ox.Store, built: dict, base: str) -> list[ox.Quad]:
    """The curated graphs' quads (asserted and inferred, not the ontology), as the full
    build hands them to a links rule; read from the old store before anything is added."""
    skip = (f"{base}{GRAPH_PREFIX}", f"{base}{LINKS_PREFIX}")
    return [q for g in built["graphs"] if not g.startswith(skip) and g != f"{base}graph/ontology"
            for q in store.quads_for_pattern(None, None, None, ox.NamedNode(g))]


def _check_unique(store: ox.Store, old_nquads: Path, size: int, quads: list[ox.Quad],
                  lines: dict[str, list[bytes]]) -> None:
    """Each triple in one named graph: a new triple is refused if the build (`store`,
    before the new quads are added) or another new graph holds it. Only the subjects both
    have are compared term by term: the build's subjects read from its N-Quads dump (a
    line starts with its subject; the build has no blank nodes) and looked up among the
    new sorted lines when the build is the smaller, else each new subject in the store."""
    repeated: dict[ox.Triple, list[str]] = {}
    if len(lines) > 1:  # a dataset and its links: a triple in both?
        first: dict[ox.Triple, str] = {}
        for quad in quads:
            held = first.setdefault(quad.triple, quad.graph_name.value)
            if held != quad.graph_name.value:
                repeated.setdefault(quad.triple, [held]).append(quad.graph_name.value)
    for graph_lines in lines.values():
        if size < len(graph_lines):
            with old_nquads.open("rb") as handle:
                subjects = dict.fromkeys(line.partition(b" ")[0] for line in handle)
            shared = [s for s in subjects if _has_subject(graph_lines, s)]
        else:
            shared = [s for s in dict.fromkeys(line.partition(b" ")[0] for line in graph_lines)
                      if _known(store, s)]
        for subject in shared:
            # its lines: from `subject ` up to `subject!` ('!' follows ' ' in byte order)
            low = bisect.bisect_left(graph_lines, subject + b" ")
            high = bisect.bisect_left(graph_lines, subject + b"!", low)
            for quad in ox.parse(b"".join(graph_lines[low:high]), format=ox.RdfFormat.N_QUADS):
                for old in store.quads_for_pattern(quad.subject, quad.predicate, quad.object):
                    repeated.setdefault(quad.triple, [old.graph_name.value]).append(
                        quad.graph_name.value)
    if repeated:
        shown = sorted(repeated.items(), key=lambda item: str(item[0]))[:20]
        shown_lines = [f"  {t.subject} {t.predicate} {t.object} in {', '.join(gs)}" for t, gs in shown]
        more = f"\n  … and {len(repeated) - 20} more" if len(repeated) > 20 else ""
        raise BuildError(f"{len(repeated)} triple(s) in more than one named graph (each triple "
                         "must live in exactly one):\n" + "\n".join(shown_lines) + more)


def _has_subject(lines: list[bytes], subject: bytes) -> bool:
    """Whether a line of the sorted `lines` starts with `subject` and a space."""
    at = bisect.bisect_left(lines, subject + b" ")
    return at < len(lines) and lines[at].startswith(subject + b" ")


def _known(store: ox.Store, subject: bytes) -> bool:
    """Whether the store has the subject written `subject` in N-Quads (True in doubt)."""
    if not (subject.startswith(b"<") and subject.endswith(b">")) or subject.startswith(b"<<") \
            or b"\\" in subject:
        return True
    try:
        node = ox.NamedNode(subject[1:-1].decode())
    except ValueError:
        return True
    return next(store.quads_for_pattern(node, None, None), None) is not None


def _unique(lines: list[bytes]) -> list[bytes]:
    """Sorted lines without repeats (a statement twice in the input is one quad)."""
    if not any(map(bytes.__eq__, lines, itertools.islice(lines, 1, None))):
        return lines
    return list(dict.fromkeys(lines))


def _sorted_lines(quads: list[ox.Quad]) -> dict[str, list[bytes]]:
    """Graph IRI → its quads as sorted N-Quads lines, in graph order.

    The dumps' order is (graph, subject, predicate, object) by their N-Triples forms
    (`build._quad_order`); within one graph, sorting the N-Quads lines as bytes gives the
    same order: UTF-8 bytes order as code points do, and where one term is a prefix of
    another (`"a"` and `"a"@en`, `@en` and `@en-us`) the space after the shorter sorts
    before any character that can continue a term.
    """
    by_graph: dict[str, list[ox.Quad]] = {}
    for quad in quads:
        by_graph.setdefault(quad.graph_name.value, []).append(quad)
    out = {}
    for graph in sorted(by_graph):
        out[graph] = _unique(sorted(ox.serialize(by_graph[graph], format=ox.RdfFormat.N_QUADS)
                                    .splitlines(keepends=True)))
    return out


def _bulk_load(store: ox.Store, nquads: bytes) -> None:
    store.bulk_load(input=nquads, format=ox.RdfFormat.N_QUADS, lenient=True)


def _compact(store: ox.Store) -> None:
    """After the bulk loads: one set of files per index again (reads merge fewer runs;
    measured at 1M: scans 30% slower without), flushed."""
    store.flush()
    store.optimize()


# Oxigraph lower-cases language tags; the dumps use the registered case (build's
# `_canonical_language_case`, which reads a whole dump literal by literal). For one new
# graph it is done without reading literals: in its N-Quads every line ends with
# ` <graph> .`, so a tag is `"@zh-hans <graph> .` at a line's end and nowhere else. The
# TriG and JSON-LD are serialised from lines whose tags carry a private-use marker
# (`zh-hans-x-bjkgcase`, a valid tag oxigraph keeps), which is then replaced: as many
# markers as tags must be found, or a literal happens to hold the marker's text and the
# load falls back to a full rebuild. Each is one pass of a regular expression (a split).
_CASE = {b"zh-hans": b"zh-Hans", b"zh-hant": b"zh-Hant", b"zh-latn-pinyin": b"zh-Latn-pinyin"}
_MARK = b"-x-bjkgcase"
_TAG_ALTERNATIVES = b"(" + b"|".join(_CASE) + b")"
_MARKED = {ox.RdfFormat.TRIG: re.compile(b"@" + _TAG_ALTERNATIVES + re.escape(_MARK)),
           ox.RdfFormat.JSON_LD: re.compile(b'"' + _TAG_ALTERNATIVES + re.escape(_MARK) + b'"')}


def _serialise(graph: str, block: bytes, base: str) -> dict:
    """One new graph's sorted N-Quads in each dump's format, tags in their registered case."""
    end = f" <{graph}> .\n".encode()
    parts = re.split(b'"@' + _TAG_ALTERNATIVES + b"(?=" + re.escape(end) + b")", block)
    tags = parts[1::2]
    expected = {tag: tags.count(tag) for tag in _CASE}
    parts[1::2] = [b'"@' + _CASE[tag] for tag in tags]
    fixed = b"".join(parts)
    parts[1::2] = [b'"@' + tag + _MARK for tag in tags]
    marked = b"".join(parts)
    del parts
    prefixes = dict(PREFIXES, id=f"{base}id/")
    out = {ox.RdfFormat.N_QUADS: fixed}
    quads = list(ox.parse(marked, format=ox.RdfFormat.N_QUADS, lenient=True))
    for fmt, before, after in ((ox.RdfFormat.TRIG, b"@", b""), (ox.RdfFormat.JSON_LD, b'"', b'"')):
        data = ox.serialize(quads, format=fmt,
                            prefixes=prefixes if fmt == ox.RdfFormat.TRIG else None)
        parts = _MARKED[fmt].split(data)
        found = parts[1::2]
        if {tag: found.count(tag) for tag in _CASE} != expected:
            raise _CannotSplice(f"a literal holds the text of the marker {_MARK.decode()!r}")
        parts[1::2] = [before + _CASE[tag] + after for tag in found]
        out[fmt] = b"".join(parts)
    return out


def _insertions(old: Path, fmt, old_graphs: list[str], serialised: dict[str, dict],
                base: str) -> list[tuple[int, bytes]]:
    """(offset in the old dump, bytes to insert there) for each new graph, in order."""
    inserts: list[tuple[int, bytes]] = []
    if not old_graphs:
        raise _CannotSplice("the build has no quads to add to")
    prefixes = dict(PREFIXES, id=f"{base}id/")
    with old.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        for graph, formats in serialised.items():
            block = formats[fmt]
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
