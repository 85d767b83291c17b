"""Read an external RDF file into quads of one named graph: streaming, offline, no blank nodes.

Oxigraph's parsers read the file incrementally (rdflib would build a whole graph in Python
first and is an order of magnitude slower), so a large dump costs memory for its quads
only; a progress bar on stderr follows the bytes read. What the build needs on top of the
parser:

- one graph per dataset: triples, and the quads of N-Quads/TriG whatever their graph,
  go into the dataset's named graph;
- no blank nodes (bjkg's rule): each is replaced, in order of first appearance, by
  `<base>.well-known/genid/<dataset>/<n>` (RDF 1.1 skolem IRIs), so the same file always
  gives the same IRIs;
- no network: a JSON-LD document whose `@context` names a URL is refused before parsing,
  with the URL and its line (contexts must be embedded in the document);
- bounded memory: RDF/XML entities are measured before parsing (`_check_xml_entities`); a
  parameter or external entity, an entity that expands (entities within entities) past
  MAX_ENTITY_EXPANSION, or references expanding past it in all, is refused (the parser
  expands them in memory: a 991-byte "billion laughs" file took 24 GB before it was killed);
- errors name the file and the line and column of the syntax error, or the byte offset
  reached when the parser gives no position.
"""
from __future__ import annotations

import io
import itertools
import json
import re
import sys
from pathlib import Path
from typing import Callable, Iterator

import pyoxigraph as ox

FORMATS = {
    "turtle": ox.RdfFormat.TURTLE, "ntriples": ox.RdfFormat.N_TRIPLES,
    "nquads": ox.RdfFormat.N_QUADS, "trig": ox.RdfFormat.TRIG,
    "rdfxml": ox.RdfFormat.RDF_XML, "jsonld": ox.RdfFormat.JSON_LD,
}
EXTENSIONS = {
    ".ttl": "turtle", ".turtle": "turtle", ".nt": "ntriples", ".nq": "nquads", ".trig": "trig",
    ".rdf": "rdfxml", ".owl": "rdfxml", ".xml": "rdfxml", ".jsonld": "jsonld", ".json": "jsonld",
    ".csv": "csvw",
}
PROGRESS_MIN_BYTES = 4 << 20   # smaller files load in well under a second: no bar
PIECE_QUADS = 250_000          # `as_nquads`: statements per piece handed to `on_piece`
# the longest N-Quads line pyoxigraph's parser reads back (its buffer maximum): a longer
# statement is refused here, naming the file, rather than failing later in the build
MAX_STATEMENT_BYTES = 16 << 20
# RDF/XML: the text all references to declared entities expand into, in all (a file that
# spells namespaces as entities, as Protégé writes them, expands by a few MB at most)
MAX_ENTITY_EXPANSION = 64 << 20
_PROLOGUE_BYTES = 1 << 20  # an internal DTD subset must end within the file's first MB
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_BOM = b"\xef\xbb\xbf"


class RdfInputError(Exception):
    """The file cannot be read as the stated format; the message names file and position."""


def guess_format(path: Path) -> str | None:
    """The format name for a file extension (`.ttl` → turtle), or None."""
    name = path.name.lower()
    if name.endswith(".gz"):
        return None
    return EXTENSIONS.get(path.suffix.lower())


class _CountingReader(io.RawIOBase):
    """A binary file wrapper that reports how many bytes the parser has read."""

    def __init__(self, handle, on_read=None):
        self.handle, self.on_read, self.offset = handle, on_read, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.handle.read(len(buffer))
        buffer[:len(data)] = data
        self.offset += len(data)
        if self.on_read and data:
            self.on_read(len(data))
        return len(data)


def read_quads(data_or_path: Path | bytes, fmt: str, graph: str, skolem_prefix: str, *,
               label: str, progress: bool = False, as_nquads: bool = False,
               on_piece: Callable[[bytes], None] | None = None) -> list[ox.Quad] | bytes:
    """All statements of the input as quads in `graph`, blank nodes skolemised.

    `data_or_path` is a file path (streamed) or the bytes of a package resource; `label`
    names it in errors; relative IRIs resolve against the graph IRI (never a local path,
    which would differ between machines).

    `as_nquads`: the same statements as N-Quads bytes (in the parser's order, repeats
    kept), made without a Python object per statement beyond the parser's: oxigraph writes
    the triples as N-Triples and the graph is put before each line's final ` .` (no IRI
    holds a space and no literal a raw newline, so ` .\n` ends lines only). Where that
    output shows a blank node (or the text `_:` in a literal) the input is read again the
    quad-by-quad way, which skolemises in order of first appearance. `on_piece` is handed
    the N-Quads as they are made, in pieces of PIECE_QUADS statements (the whole again if
    the input is read again), so that a store can be filled while the file is being read.
    """
    if fmt not in FORMATS:
        raise RdfInputError(f"{label}: {fmt!r} is not an RDF format bjkg reads "
                            f"({', '.join(FORMATS)})")
    if fmt == "jsonld":
        _refuse_remote_contexts(data_or_path, label)
    elif fmt == "rdfxml":
        _check_xml_entities(data_or_path, label)
    size = data_or_path.stat().st_size if isinstance(data_or_path, Path) else len(data_or_path)
    handle = data_or_path.open("rb") if isinstance(data_or_path, Path) else io.BytesIO(data_or_path)
    if handle.read(len(_BOM)) != _BOM:  # a UTF-8 byte order mark (Windows editors write one) is no statement
        handle.seek(0)
    graph_node = ox.NamedNode(graph)
    skolem: dict[str, ox.NamedNode] = {}

    def term(node):
        if isinstance(node, ox.BlankNode):
            iri = skolem.get(node.value)
            if iri is None:
                iri = skolem[node.value] = ox.NamedNode(f"{skolem_prefix}{len(skolem) + 1}")
            return iri
        return node

    bar = None
    if progress and size >= PROGRESS_MIN_BYTES:
        import click

        bar = click.progressbar(length=size, label=f"loading {label}", file=sys.stderr,
                                show_pos=False, show_percent=True)
    reader = _CountingReader(handle, bar.update if bar else None)
    quads: list[ox.Quad] = []
    try:
        with handle:
            if bar:
                bar.__enter__()
            parser = ox.parse(io.BufferedReader(reader, 1 << 16), format=FORMATS[fmt],
                              base_iri=graph, rename_blank_nodes=False)
            if as_nquads:
                end, pieces = f" <{graph}> .\n".encode(), []
                triples = (quad.triple for quad in parser)
                while piece := ox.serialize(itertools.islice(triples, PIECE_QUADS),
                                            format=ox.RdfFormat.N_TRIPLES):
                    if b"_:" in piece:
                        whole = ox.serialize(read_quads(data_or_path, fmt, graph, skolem_prefix,
                                                        label=label), format=ox.RdfFormat.N_QUADS)
                        _check_statements(whole, label)
                        if on_piece:
                            on_piece(whole)
                        return whole
                    _check_statements(piece, label)
                    pieces.append(piece.replace(b" .\n", end))
                    if on_piece:
                        on_piece(pieces[-1])
                return b"".join(pieces)
            blank, make, append = ox.BlankNode, ox.Quad, quads.append
            for quad in parser:  # the hot loop of a large file: no call for an IRI
                subject, obj = quad.subject, quad.object
                if type(subject) is blank:
                    subject = term(subject)
                if type(obj) is blank:
                    obj = term(obj)
                append(make(subject, quad.predicate, obj, graph_node))
            if fmt == "rdfxml":  # only its entities make a statement longer than the file
                _check_literals(quads, label)
    except SyntaxError as exc:
        raise RdfInputError(f"{label}{_position(exc, reader.offset)}: not valid "
                            f"{fmt}: {exc.msg if hasattr(exc, 'msg') else exc}") from None
    except (OSError, ValueError, MemoryError) as exc:
        if "buffer maximal size" in str(exc):  # the parser's own limit on one statement
            raise RdfInputError(f"{label} (at or before byte {reader.offset}): a statement longer than the "
                                f"{MAX_STATEMENT_BYTES >> 20} MB bjkg takes (a literal of that size?)") from None
        raise RdfInputError(f"{label}: cannot read: {exc}") from None
    finally:
        if bar:
            bar.__exit__(None, None, None)
    return quads


def _check_literals(quads: list[ox.Quad], label: str) -> None:
    """RdfInputError for a literal longer than MAX_STATEMENT_BYTES."""
    for quad in quads:
        obj = quad.object
        if type(obj) is ox.Literal and len(obj.value) > MAX_STATEMENT_BYTES // 4:
            size = len(obj.value.encode("utf-8"))
            if size > MAX_STATEMENT_BYTES:
                raise _too_long(size, label)


def _check_statements(nquads: bytes, label: str) -> None:
    """RdfInputError for a line of `nquads` longer than MAX_STATEMENT_BYTES (looked for
    only in a piece long enough to hold one)."""
    if len(nquads) <= MAX_STATEMENT_BYTES:
        return
    start = 0
    while start < len(nquads):
        end = nquads.find(b"\n", start)
        end = len(nquads) if end < 0 else end
        if end - start > MAX_STATEMENT_BYTES:
            raise _too_long(end - start, label)
        start = end + 1


def _too_long(size: int, label: str) -> RdfInputError:
    return RdfInputError(
        f"{label}: a statement of {size / 1e6:.0f} MB, longer than the {MAX_STATEMENT_BYTES >> 20} MB "
        "bjkg takes; in RDF/XML most likely entities expanding into each other (a 'billion laughs')")


def _position(exc: SyntaxError, offset: int) -> str:
    """`:line:column` from the parser's error, else ` (at or before byte N)`."""
    if exc.lineno:
        return f":{exc.lineno}:{exc.offset}" if exc.offset else f":{exc.lineno}"
    return f" (at or before byte {offset})"


# --------------------------------------------------------------------------- RDF/XML

_DOCTYPE = re.compile(rb"<!DOCTYPE\s[^\[>]*\[(?P<subset>.*?)\]\s*>", re.S)
_ENTITY = re.compile(rb"<!ENTITY\s+(?P<parameter>%\s+)?(?P<name>[^\s\"'>%&;]+)\s+"
                     rb"(?:\"(?P<dq>[^\"]*)\"|'(?P<sq>[^']*)'|(?P<external>SYSTEM|PUBLIC)\b)", re.S)
_REFERENCE = re.compile(rb"&([^\s&;<>\"']{1,200});")


def _check_xml_entities(data_or_path: Path | bytes, label: str) -> None:
    """Refuse RDF/XML whose entities could expand without bound, before the parser (which
    expands them in memory) reads it: a parameter or external entity, an entity that refers
    to itself, one whose text once expanded (entities within entities: how a "billion
    laughs" nests) is longer than MAX_ENTITY_EXPANSION, or references that expand into more
    than that in all (one large entity used many times). Entities are measured, never
    expanded. Those that spell namespaces (``<!ENTITY xsd "http://www.w3.org/2001/XMLSchema#">``)
    pass."""
    if isinstance(data_or_path, Path):
        with data_or_path.open("rb") as handle:
            head = handle.read(_PROLOGUE_BYTES)
    else:
        head = data_or_path[:_PROLOGUE_BYTES]
    if b"<!ENTITY" not in head and b"<!entity" not in head.lower():
        return
    doctype = _DOCTYPE.search(head)
    if doctype is None:
        raise RdfInputError(f"{label}: its DOCTYPE declares entities but does not end within the file's "
                            f"first {_PROLOGUE_BYTES >> 20} MB; bjkg refuses it (entities are expanded in memory)")
    texts: dict[bytes, bytes] = {}
    for entity in _ENTITY.finditer(doctype.group("subset")):
        name = entity.group("name")
        if entity.group("parameter") or entity.group("external"):
            kind = "parameter" if entity.group("parameter") else "external"
            raise RdfInputError(f"{label}: the {kind} entity {name.decode('utf-8', 'replace')!r} is refused: "
                                "bjkg reads RDF/XML offline and expands only entities that spell their text out")
        value = entity.group("dq") if entity.group("dq") is not None else entity.group("sq")
        texts.setdefault(name, value)  # XML: the first declaration of a name binds
    sizes: dict[bytes, int] = {}
    for name in texts:
        _expanded_size(name, texts, sizes, label, ())
    if sizes:
        expansion = _entity_expansion(data_or_path, sizes)
        if expansion > MAX_ENTITY_EXPANSION:
            raise RdfInputError(f"{label}: its entity references expand into {expansion / 1e6:,.0f} MB, more "
                                f"than the {MAX_ENTITY_EXPANSION >> 20} MB bjkg takes; write the text out")


def _expanded_size(name: bytes, texts: dict[bytes, bytes], sizes: dict[bytes, int], label: str,
                   within: tuple[bytes, ...]) -> int:
    """The length of entity `name`'s text with its references expanded, computed from the
    lengths of the entities it names (memoised in `sizes`); RdfInputError past
    MAX_ENTITY_EXPANSION or for an entity that contains itself."""
    if name in sizes:
        return sizes[name]
    shown = name.decode("utf-8", "replace")
    if name in within:
        raise RdfInputError(f"{label}: the entity {shown!r} refers to itself")
    text = texts[name]
    size = len(text)
    for reference in _REFERENCE.finditer(text):
        inner = reference.group(1)
        if inner in texts:
            size += _expanded_size(inner, texts, sizes, label, (*within, name)) - len(reference.group())
        if size > MAX_ENTITY_EXPANSION:
            raise RdfInputError(f"{label}: the entity {shown!r} expands into more than the "
                                f"{MAX_ENTITY_EXPANSION >> 20} MB bjkg takes (entities within entities: a "
                                "'billion laughs'); write the text out")
    sizes[name] = size
    return size


def _entity_expansion(data_or_path: Path | bytes, values: dict[bytes, int]) -> int:
    """Bytes that the references to the entities `values` (name → length of its text)
    expand into, read over the whole input in pieces."""
    total, tail = 0, b""
    handle = data_or_path.open("rb") if isinstance(data_or_path, Path) else io.BytesIO(data_or_path)
    with handle:
        while True:
            data = handle.read(1 << 20)
            text = tail + data
            # a reference (at most 202 bytes, no `&` inside) cut at the end of the piece
            # starts at the last `&` of its last 256 bytes: counted with the next piece
            last = text.rfind(b"&", max(0, len(text) - 256)) if data else -1
            keep = last if last >= 0 else len(text)
            for reference in _REFERENCE.finditer(text, 0, keep):
                total += values.get(reference.group(1), 0)
            if not data:
                return total
            tail = text[keep:]
            if total > MAX_ENTITY_EXPANSION:
                return total


# --------------------------------------------------------------------------- JSON-LD

def _refuse_remote_contexts(data_or_path: Path | bytes, label: str) -> None:
    """Fail if any `@context` (or `@import`) names a document instead of embedding it."""
    raw = data_or_path.read_bytes() if isinstance(data_or_path, Path) else data_or_path
    text = raw.decode("utf-8-sig", errors="replace")
    try:
        doc = json.loads(text, object_pairs_hook=_every_context)
    except json.JSONDecodeError as exc:
        raise RdfInputError(f"{label}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    for reference in _context_references(doc):
        line = _line_of(text, json.dumps(reference)[1:-1])
        kind = "remote" if _SCHEME.match(reference) else "external"
        raise RdfInputError(
            f"{label}{f':{line}' if line else ''}: {kind} JSON-LD @context {reference!r} "
            "refused: bjkg loads JSON-LD offline, with contexts embedded in the document "
            "(replace the reference by the context object itself)")


def _every_context(pairs: list) -> dict:
    """A JSON object as a dict, every value of a repeated `@context` key kept (in a list):
    `json` keeps only the last, and the JSON-LD parser may read the first."""
    out: dict = {}
    for key, value in pairs:
        if key == "@context" and key in out:
            before = out[key] if isinstance(out[key], list) else [out[key]]
            out[key] = before + (value if isinstance(value, list) else [value])
        else:
            out[key] = value
    return out


def _context_references(node) -> Iterator[str]:
    """Strings used as a context (a URL or a file name) anywhere in a JSON-LD document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "@context":
                for item in value if isinstance(value, list) else [value]:
                    if isinstance(item, str):
                        yield item
                    elif isinstance(item, dict):
                        if isinstance(item.get("@import"), str):
                            yield item["@import"]
                        yield from _context_references(item)
            else:
                yield from _context_references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _context_references(item)


def _line_of(text: str, needle: str) -> int | None:
    position = text.find(needle)
    return text.count("\n", 0, position) + 1 if position >= 0 else None
