"""Fill a new on-disk pyoxigraph store from an N-Quads file: the one store-writing path.

`bjkg build` (from the `bjkg.nq` dump it has just written) and `bench/load.py` (synthetic
data) both call `load_nquads`. What it does and why:

- `Store.bulk_load` is pyoxigraph's fast path (sorted SST files ingested straight into
  RocksDB). It parses on the calling thread and hands one batch of up to a million quads
  to one loader thread, so a file below a million quads uses one core. Large files are
  therefore cut at line boundaries (N-Quads lines are independent) and the pieces are bulk
  loaded by concurrent threads into the same store: pyoxigraph releases the GIL for the
  whole call, each call writes its own uniquely named SST files, and RocksDB's ingestion
  is thread-safe.
- A bulk load renames blank nodes per call, so a file with a blank node is loaded in one
  call (the pieces would not share their labels). The build never has blank nodes.
- Pieces loaded separately leave overlapping files in each index, and reads merge them
  (measured at 1M: two pieces without compaction made the benchmark queries up to 2×
  slower), so the store is always compacted (`optimize`, ~0 s after a single bulk load).
- The store is flushed and closed before returning: what is on disk is what is served.
- A syntax error names the file and the line in the whole file, not in the piece.
"""
from __future__ import annotations

import mmap
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable

import pyoxigraph as ox

class MergedTerms(ValueError):
    """The store holds fewer quads than were written to it: some literals are one term once
    stored (it keeps numbers, booleans and dates by value). The message shows some."""


_PLAIN = frozenset({"http://www.w3.org/2001/XMLSchema#string",
                    "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"})


def refuse_merged_terms(store_dir: Path, expected: int, quads: Callable[[], Iterable[ox.Quad]]) -> None:
    """MergedTerms unless the store at `store_dir` holds the `expected` quads written to it.

    pyoxigraph keeps a typed literal by its value: "01"^^xsd:int, "1"^^xsd:long and
    "1"^^xsd:integer are one term in the store, "1"^^xsd:boolean is "true". Two statements
    that differ only so are distinct in the dumps and one in the store, whose count then
    differs from build.json's, and `bjkg serve` refuses the build as damaged. Said here,
    with the statements (`quads()`, read only then), so the build fails instead."""
    store = ox.Store.read_only(str(store_dir))
    try:
        held = len(store)
    finally:
        del store
    if held == expected:
        return
    typed: dict[tuple, set] = {}
    for quad in quads():
        obj = quad.object
        if isinstance(obj, ox.Literal) and obj.datatype.value not in _PLAIN:
            typed.setdefault((quad.subject, quad.predicate, quad.graph_name), set()).add(obj)
    scratch = ox.Store()
    scratch.extend(ox.Quad(s, p, o, g) for (s, p, g), objects in typed.items() if len(objects) > 1
                   for o in objects)
    examples = []
    for (s, p, g), objects in typed.items():
        if len(objects) > 1 and len(list(scratch.quads_for_pattern(s, p, None, g))) < len(objects):
            examples.append(f"  {s} {p} {' and '.join(sorted(map(str, objects)))} in {g}")
            if len(examples) == 5:
                break
    raise MergedTerms(
        f"{expected - held} statement(s) are the same RDF term as another once stored: the store "
        "keeps typed literals by value (\"01\"^^xsd:int is \"1\"^^xsd:integer, \"1\"^^xsd:boolean is "
        "\"true\"), so the build would hold fewer triples than its dumps. Write each value once"
        + (":\n" + "\n".join(examples) if examples else "."))


# Below this a file is loaded in one call: splitting costs a compaction and gains little.
PARALLEL_MIN_BYTES = 16 << 20
# Upper bound of a piece, so a huge file is read into memory a few pieces at a time.
MAX_PIECE_BYTES = 256 << 20


def load_nquads(store_dir: Path, nquads: Path | bytes, *, threads: int | None = None,
                piece_bytes: int | None = None, lenient: bool = False) -> None:
    """Create the store `store_dir` (which must not hold a store yet) with the quads of
    the N-Quads file `nquads` (or of N-Quads bytes in memory, loaded in one call),
    compacted, flushed and closed.

    `threads`: concurrent bulk loads (default: the usable cores). `piece_bytes`: target
    size of a piece (default: the file split evenly over the threads, at most
    MAX_PIECE_BYTES); files under PARALLEL_MIN_BYTES are loaded whole unless it is given.
    `lenient` skips pyoxigraph's IRI and literal validation: only for a file that was
    written from already-validated quads (the build's own dump).
    """
    if isinstance(nquads, bytes):
        store = ox.Store(str(store_dir))
        try:
            store.bulk_load(input=nquads, format=ox.RdfFormat.N_QUADS, lenient=lenient)
            store.flush()
            store.optimize()
        finally:
            del store
        return
    nquads = Path(nquads)
    size = nquads.stat().st_size
    threads = max(1, threads or len(os.sched_getaffinity(0)))
    if piece_bytes is None:
        piece_bytes = (min(MAX_PIECE_BYTES, -(-size // threads))
                       if size >= PARALLEL_MIN_BYTES and threads > 1 else size)
    pieces = split_lines(nquads, max(1, piece_bytes))
    if len(pieces) > 1 and _has_blank_node(nquads):
        pieces = [(0, size)]
    store = ox.Store(str(store_dir))
    try:
        if len(pieces) <= 1:
            _bulk_load(store, nquads, None, lenient)
        else:
            with ThreadPoolExecutor(min(threads, len(pieces))) as pool:
                for done in [pool.submit(_bulk_load, store, nquads, piece, lenient)
                             for piece in pieces]:
                    done.result()
        store.flush()
        store.optimize()
    finally:
        del store


def split_lines(path: Path, piece_bytes: int) -> list[tuple[int, int]]:
    """(start, end) byte ranges of about `piece_bytes` covering the file, each ending just
    after a newline (or at the end of the file), so every line is in exactly one range."""
    size = path.stat().st_size
    cuts = [0]
    with path.open("rb") as handle:
        while cuts[-1] + piece_bytes < size:
            handle.seek(cuts[-1] + piece_bytes)
            handle.readline()
            if handle.tell() >= size:
                break
            cuts.append(handle.tell())
    cuts.append(size)
    return [(start, end) for start, end in zip(cuts, cuts[1:]) if end > start]


def _has_blank_node(path: Path) -> bool:
    """Whether `_:` occurs anywhere (conservative: also inside a literal or an IRI)."""
    if path.stat().st_size == 0:
        return False
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return data.find(b"_:") >= 0


def _bulk_load(store: ox.Store, path: Path, piece: tuple[int, int] | None,
               lenient: bool) -> None:
    """Bulk load the whole file, or the byte range `piece` of it."""
    try:
        if piece is None:
            store.bulk_load(path=str(path), format=ox.RdfFormat.N_QUADS, lenient=lenient)
        else:
            with path.open("rb") as handle:
                handle.seek(piece[0])
                data = handle.read(piece[1] - piece[0])
            store.bulk_load(input=data, format=ox.RdfFormat.N_QUADS, lenient=lenient)
    except SyntaxError as exc:
        raise _located(exc, path, piece) from None


def _located(exc: SyntaxError, path: Path, piece: tuple[int, int] | None) -> SyntaxError:
    """The parser's error with the file name and the line counted from the file's start."""
    before = _lines_before(path, piece[0]) if piece else 0
    message = re.sub(r"\bline (\d+)", lambda m: f"line {int(m.group(1)) + before}",
                     str(exc.msg or exc))
    line = exc.lineno + before if exc.lineno else None
    located = SyntaxError(f"{path}{f', line {line}' if line else ''}: {message}")
    located.filename, located.lineno = str(path), line
    return located


def _lines_before(path: Path, offset: int) -> int:
    """Number of newlines in the first `offset` bytes of the file."""
    count = 0
    with path.open("rb") as handle:
        while offset > 0:
            block = handle.read(min(offset, 1 << 24))
            if not block:
                break
            count += block.count(b"\n")
            offset -= len(block)
    return count
