"""Evaluating one query against a pyoxigraph store and serialising its answer.

This is the code that runs inside query worker processes (see `bjkg.server.sparql.workers`), and in
the server process for the in-memory `--empty` dataset. It imports nothing from Flask.
Requests and answers are plain picklable dataclasses so they can cross a process pipe.

Answers are complete or an error, never cut: with no row limit (`max_rows` 0 or None, the
default) the engine writes the whole answer itself, in the requested format, into a sink —
bytes in memory, or a bounded queue that the HTTP response reads from as the engine writes
(`stream`, constant memory). With a row limit (the operator's MAX_ROWS) at most
`max_rows + 1` rows are read; one more than the limit raises `RowLimitExceeded` (a 400
naming the setting) instead of answering part of the result. Every serialisation is
pyoxigraph's.
"""
from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from functools import lru_cache
from dataclasses import dataclass

import pyoxigraph
from pyoxigraph import (BlankNode, DefaultGraph, Literal, NamedNode, QueryBoolean, QueryResultsFormat,
                        QuerySolutions, RdfFormat, Triple, Variable)

TYPE_CHECKING = False  # typing is not imported: 0.5 MB in the data process and in each evaluator
if TYPE_CHECKING:
    from typing import Any  # for annotations only, which are never evaluated (`annotations`)

XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"

#: Prefixes used when writing Turtle/TriG answers (purely cosmetic).
DEFAULT_PREFIXES = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "owl": "http://www.w3.org/2002/07/owl#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "dcterms": "http://purl.org/dc/terms/",
    "prov": "http://www.w3.org/ns/prov#",
}


class QueryFailed(Exception):
    """The engine refused or failed the query: status 400 (syntax) or 500 (evaluation)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class QueryTimedOut(Exception):
    """The query ran past its deadline."""


def row_limit_message(limit: int) -> str:
    return (f"The answer has more than {limit:,} rows (or triples), the most this server returns "
            f"for one query (setting MAX_ROWS, BJKG_MAX_ROWS). Nothing was cut: page through the "
            f"answer with ORDER BY, LIMIT and OFFSET, or ask the operator to raise MAX_ROWS "
            f"(0 = no limit).")


class RowLimitExceeded(QueryFailed):
    """The answer is longer than the operator's row limit: an error, never a partial answer."""

    def __init__(self, limit: int) -> None:
        super().__init__(400, row_limit_message(limit))
        self.limit = limit


@dataclass(frozen=True)
class QueryRequest:
    """Everything needed to evaluate one query, picklable.

    `default_graph`/`named_graphs` set an explicit dataset (graph IRIs; "" stands for the
    store's default graph); leaving both None uses the store's dataset, with the default
    graph taken as the union of all graphs when `union_default_graph` is set. The result
    formats are media types; None returns pyoxigraph terms instead of bytes.
    """

    sparql: str
    base_iri: str | None = None
    default_graph: tuple[str, ...] | None = None
    named_graphs: tuple[str, ...] | None = None
    union_default_graph: bool = False
    substitutions: tuple[tuple[str, Any], ...] = ()
    max_rows: int | None = None
    results_format: str | None = None
    graph_format: str | None = None
    prefixes: tuple[tuple[str, str], ...] = ()
    # What the lexer knows of the top level (bjkg.server.sparql.text.Analysis): the query's own
    # LIMIT, and whether a LIMIT may be appended. They let the engine serialise the answer.
    row_bound: int | None = None
    limit_appendable: bool = False
    # The outermost projection is `*`: its columns are put in the order of the query
    # (`in_query_order`).
    select_star: bool = False


@dataclass
class QueryAnswer:
    """The answer to a query: serialised `body` (if a format was asked) and/or Python terms."""

    kind: str  # "bindings", "boolean" or "graph"
    media_type: str | None = None
    body: bytes | None = None
    variables: tuple[str, ...] = ()
    rows: list[tuple[Any, ...]] | None = None
    triples: list[Triple] | None = None
    boolean: bool | None = None
    count: int = 0
    chunks: Iterator[bytes] | None = None  # a streamed body (`stream`), instead of `body`

    def content(self):
        """The serialised answer for a response: `chunks` (streamed) or `body`."""
        return self.chunks if self.chunks is not None else self.body

    def bindings(self) -> list[dict[str, Any]]:
        """Rows as dicts from variable name to term, unbound variables left out."""
        if self.rows is None:
            return []
        return [{v: t for v, t in zip(self.variables, row) if t is not None} for row in self.rows]


def _graph_term(iri: str):
    return DefaultGraph() if iri == "" else NamedNode(iri)


def streamed(request: QueryRequest) -> bool:
    """Whether the engine writes the answer as it goes (`stream`): a serialised answer with
    no row limit. Such an answer is passed on in chunks, never held whole."""
    return not request.max_rows and bool(request.results_format or request.graph_format)


def evaluate(store: pyoxigraph.Store, request: QueryRequest, *, deadline: float | None = None,
             sink: "Sink | None" = None) -> QueryAnswer:
    """Run `request` on `store`. Raises QueryFailed (RowLimitExceeded among them);
    QueryTimedOut only between rows or writes.

    With no row limit and a format, the engine writes the whole answer into `sink` (a
    `Sink` in memory when None, whose bytes become `body`). (A hard limit for queries
    that never yield a row is the worker pool's or the inline watchdog's job.)
    """
    options: dict[str, Any] = {}
    if request.default_graph is not None or request.named_graphs is not None:
        options["default_graph"] = [_graph_term(g) for g in request.default_graph or ()]
        options["named_graphs"] = [NamedNode(g) for g in request.named_graphs or ()]
    elif request.union_default_graph:
        options["use_default_graph_as_union"] = True
    text = request.sparql
    if request.substitutions:
        text = _with_constants(request)
        if text is None:
            text = request.sparql
            options["substitutions"] = {Variable(name): term for name, term in request.substitutions}
    elif request.select_star:
        text = in_query_order(text, request.base_iri, options)
    fast = _engine_serialised(store, request, text, options)
    if fast is not None:
        return fast
    try:
        result = store.query(text, base_iri=request.base_iri, **options)
    except SyntaxError as exc:
        raise QueryFailed(400, f"SPARQL syntax error: {exc}") from None
    except (ValueError, RuntimeError) as exc:
        # refused while the engine plans it: a feature it lacks, such as a function it does
        # not know (``<urn:f>(?x)``, ``fn:upper-case``) — the query's fault, not the server's
        raise QueryFailed(400, f"This endpoint cannot evaluate the query: {exc}") from None
    except OSError as exc:  # the store could not be read
        raise QueryFailed(500, f"The query could not be evaluated: {exc}") from None
    try:
        if isinstance(result, QueryBoolean):
            answer = boolean_answer(result, request)
            if sink is not None:
                sink.begin(answer)
                if answer.body is not None:
                    sink.write(answer.body)
                    answer.body = None
                sink.finish()
            return answer
        solutions = isinstance(result, QuerySolutions)
        if not request.max_rows and (request.results_format if solutions else request.graph_format):
            return _written(result, request, deadline, sink)
        if sink is not None:
            raise ValueError("a sink takes only an answer with no row limit and a format")
        if solutions:
            return solutions_answer(result, request, deadline)
        return graph_answer(result, request, deadline)
    except (QueryTimedOut, QueryFailed, _Cancelled):
        raise
    except (ValueError, RuntimeError, OSError) as exc:
        if sink is not None and sink.cancelled.is_set():
            raise _Cancelled() from None
        if "does not support" in str(exc):  # a writer that cannot carry the answer's terms
            media_type = request.results_format if isinstance(result, QuerySolutions) else request.graph_format
            raise QueryFailed(406, f"This answer cannot be written as {media_type}: {exc}. Ask for "
                                   "another format: Turtle, N-Triples, N-Quads or TriG carry every "
                                   "RDF term (SPARQL JSON or TSV for a SELECT).") from None
        raise QueryFailed(500, f"The query failed during evaluation: {exc}") from None


class _Cancelled(Exception):
    """The reader of a streamed answer is gone (the client left, or the deadline passed)."""


class Sink:
    """Where the engine writes a whole answer: bytes in memory, checking the deadline at
    each of the engine's writes (8 KB each)."""

    def __init__(self, deadline: float | None = None) -> None:
        self.deadline = deadline
        self.parts: list[bytes] = []
        self.cancelled = threading.Event()

    def begin(self, answer: QueryAnswer) -> None:
        """Called once, before the first byte: what the answer is (kind, media type)."""

    def write(self, data) -> int:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise QueryTimedOut()
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def finish(self) -> None:
        """Called once after the last byte."""

    def getvalue(self) -> bytes:
        return b"".join(self.parts)


def _written(result, request: QueryRequest, deadline: float | None, sink: Sink | None) -> QueryAnswer:
    """The whole answer, written by the engine into `sink` (or into memory: `body`)."""
    own = sink is None
    sink = Sink(deadline) if own else sink
    if isinstance(result, QuerySolutions):
        answer = QueryAnswer("bindings", media_type=request.results_format, count=-1,
                             variables=tuple(v.value for v in result.variables))
        sink.begin(answer)
        result.serialize(output=sink, format=QueryResultsFormat.from_media_type(request.results_format))
    else:
        answer = QueryAnswer("graph", media_type=request.graph_format, count=-1)
        fmt = RdfFormat.from_media_type(request.graph_format)
        prefixes = dict(request.prefixes) or None
        if fmt in (RdfFormat.N_TRIPLES, RdfFormat.N_QUADS, RdfFormat.JSON_LD):
            prefixes = None
        sink.begin(answer)
        triples = _checked(result, deadline)
        if prefixes:
            pyoxigraph.serialize(triples, output=sink, format=fmt, prefixes=prefixes)
        else:
            pyoxigraph.serialize(triples, output=sink, format=fmt)
    sink.finish()
    if own:
        answer.body = sink.getvalue()
    return answer


def _checked(iterator, deadline: float | None):
    """`iterator`, raising QueryTimedOut past the deadline (looked at every 256 items)."""
    for index, item in enumerate(iterator):
        if deadline is not None and index % 256 == 255 and time.monotonic() > deadline:
            raise QueryTimedOut()
        yield item


# ------------------------------------------------------------------------ streamed answers

_CHUNK = 64 * 1024  # bytes handed to the HTTP response at a time
_QUEUED_CHUNKS = 8  # at most this many chunks wait for a slow client: constant memory


class _QueueSink(Sink):
    """A sink whose bytes go, in chunks, into a bounded queue read by the HTTP response;
    the engine's thread waits while the queue is full (the client reads slowly)."""

    def __init__(self) -> None:
        super().__init__(None)
        self.queue: queue.Queue = queue.Queue(maxsize=_QUEUED_CHUNKS)
        self.buffer = bytearray()

    def put(self, item) -> None:
        while True:
            if self.cancelled.is_set():
                raise _Cancelled()
            try:
                self.queue.put(item, timeout=0.25)
                return
            except queue.Full:
                continue

    def begin(self, answer: QueryAnswer) -> None:
        self.put(("answer", answer))

    def write(self, data) -> int:
        if self.cancelled.is_set():
            raise _Cancelled()
        self.buffer += data
        if len(self.buffer) >= _CHUNK:
            self.put(bytes(self.buffer))
            self.buffer.clear()
        return len(data)

    def finish(self) -> None:
        if self.buffer:
            self.put(bytes(self.buffer))
            self.buffer.clear()


def stream(store: pyoxigraph.Store, request: QueryRequest, *, deadline: float,
           on_stream=None, on_end=None) -> QueryAnswer:
    """Evaluate `request` (no row limit, a format) in a thread of its own and return its
    answer: with `body` if it ended within its first chunk (64 KB) — errors then are
    ordinary errors — else with `chunks`, a generator the HTTP response reads while the
    engine writes (constant memory: at most a few chunks wait).

    The deadline still holds while streaming: the generator raises QueryTimedOut, and the
    server then drops the connection without the final chunk, so a client never takes a
    cut answer for a whole one. `on_stream()` is called when the answer turns out to be
    streamed (its status is about to be sent); `on_end()` when the generator ends.
    """
    return stream_from(lambda sink: evaluate(store, request, deadline=None, sink=sink),
                       deadline=deadline, on_stream=on_stream, on_end=on_end)


def stream_from(write, *, deadline: float, on_stream=None, on_end=None) -> QueryAnswer:
    """`stream` for any producer: `write(sink)` runs in a thread of its own, calls
    `sink.begin(answer)` once, writes the answer's bytes and `sink.finish()` (the remote
    store's answers are passed on this way)."""
    sink = _QueueSink()

    def produce() -> None:
        try:
            write(sink)
            sink.put(("end", None))
        except _Cancelled:
            pass
        except BaseException as exc:  # noqa: BLE001 - handed to the reading thread
            # without its frames: they hold the engine's objects, which may only be dropped here
            exc.__traceback__ = exc.__context__ = exc.__cause__ = None
            try:
                sink.put(("error", exc))
            except _Cancelled:
                pass

    def take():
        remaining = deadline - time.monotonic()
        try:
            if remaining <= 0:
                raise queue.Empty
            return sink.queue.get(timeout=remaining)
        except queue.Empty:
            sink.cancelled.set()
            raise QueryTimedOut() from None

    threading.Thread(target=produce, name="bjkg-stream", daemon=True).start()
    try:
        item = take()
        if item[0] == "error":
            raise item[1]
        answer: QueryAnswer = item[1]
        head: list[bytes] = []
        while True:
            item = take()
            if isinstance(item, bytes):
                head.append(item)
                if len(item) >= _CHUNK:
                    break  # a long answer: stream it
                continue
            if item[0] == "error":
                raise item[1]
            answer.body = b"".join(head)  # ("end", None): the whole answer is here
            if on_end is not None:
                on_end()
            return answer
    except BaseException:
        sink.cancelled.set()
        if on_end is not None:
            on_end()
        raise
    if on_stream is not None:
        on_stream()

    ended = threading.Lock()

    def end() -> None:
        """Once: stop the engine and tell the caller (a generator never started — a HEAD
        request, a client gone before the body — runs no `finally`, so `_Chunks.close`
        calls this too)."""
        if ended.acquire(blocking=False):
            sink.cancelled.set()  # the client left early, or the answer ended: stop the engine
            if on_end is not None:
                on_end()

    def chunks() -> Iterator[bytes]:
        try:
            yield from head
            while True:
                item = take()
                if isinstance(item, bytes):
                    yield item
                elif item[0] == "error":
                    raise item[1]
                else:
                    return
        finally:
            end()

    answer.chunks = _Chunks(chunks(), end)
    return answer


class _Chunks:
    """A streamed answer's chunks for the HTTP response, which closes it when it is done
    with it, whether it read every chunk, some, or none (HEAD)."""

    def __init__(self, chunks: Iterator[bytes], end) -> None:
        self._chunks = chunks
        self._end = end

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        return next(self._chunks)

    def close(self) -> None:
        self._chunks.close()
        self._end()


def _with_constants(request: QueryRequest) -> str | None:
    """The query with its substituted variables written as the constants they are bound to.

    pyoxigraph 0.5 applies SEP-0007 `substitutions` as initial bindings that its optimiser
    does not push into the patterns: a lookup of one resource then scans the whole store
    (an entity page's label query: 275 ms at 1M triples, 0.5 ms with the constant). So the
    server's own fixed queries get the constants in the text instead (`sparql_text.substitute`,
    on token boundaries, from validated terms); None when a term cannot be written that way.
    """
    from bjkg.server.sparql.text import SparqlTextError, sparql_term

    try:
        terms = {name: sparql_term(term) for name, term in request.substitutions}
        template = _constant_template(request.sparql, tuple(sorted(terms)))
    except (ValueError, SparqlTextError):
        return None
    for name, term in terms.items():
        template = template.replace(_placeholder(name), term)
    return template


_PLACEHOLDER = "urn:bjkg:constant:9f2c41:"  # never in a query text: the server's own queries only


def _placeholder(name: str) -> str:
    return f"<{_PLACEHOLDER}{name}>"


@lru_cache(maxsize=256)
def _constant_template(text: str, names: tuple[str, ...]) -> str:
    """`sparql_text.substitute` of a fixed query text, with a placeholder per variable (the
    lexing is done once per query text, not once per request)."""
    from bjkg.server.sparql.text import substitute

    if _PLACEHOLDER in text:
        raise ValueError("placeholder in the query text")
    return substitute(text, {name: NamedNode(_PLACEHOLDER + name) for name in names})


_NO_DATA: list[pyoxigraph.Store] = []  # one empty store per process, made on first use


def in_query_order(text: str, base_iri: str | None = None, options: dict | None = None) -> str:
    """`text` with its outermost `SELECT *` written out as the engine's variables in the
    order they first appear in the query (`sparql_text.select_star`); `text` itself when
    that is already the engine's order or cannot be found.

    The engine decides which variables are in scope; asking it costs one evaluation over an
    empty store (what a query plans and sorts over no data), under the same deadline. Not
    for a query with SERVICE: that evaluation must not call anyone."""
    from bjkg.server.sparql.text import select_star

    found = select_star(text)
    if found is None or found[2]:
        return text
    at, order, _ = found
    if not _NO_DATA:
        _NO_DATA.append(pyoxigraph.Store())
    try:
        names = [v.value for v in _NO_DATA[0].query(text, base_iri=base_iri, **(options or {})).variables]
    except (SyntaxError, ValueError, RuntimeError, OSError):
        return text  # the query's own evaluation reports it
    rank = {name: index for index, name in enumerate(order)}
    wanted = sorted(names, key=lambda name: (rank.get(name, len(rank)), name))
    if wanted == names:
        return text
    return f"{text[:at]}{' '.join('?' + name for name in wanted)}{text[at + 1:]}"


def _engine_serialised(store: pyoxigraph.Store, request: QueryRequest, text: str,
                       options: dict) -> QueryAnswer | None:
    """Under a row limit: a SELECT answer in SPARQL JSON written by the engine itself, when
    it provably has at most `max_rows` rows; None to take the general path.

    The bound is the query's own top-level LIMIT, or one appended here (`max_rows + 1`)
    when the query has none; an answer shorter than 3 bytes × `max_rows` cannot hold more
    rows (each row is at least ``{},``), and a longer one is counted: more than `max_rows`
    rows is `RowLimitExceeded`. (Without a row limit the general path lets the engine
    write every format itself.)
    """
    if request.results_format != "application/sparql-results+json" or not request.max_rows:
        return None
    limit = request.max_rows
    if request.substitutions:
        return None  # the server's own queries: read as Python terms, not serialised
    if request.row_bound is not None:
        if request.row_bound > limit:
            return None
    elif request.limit_appendable:
        text = f"{text}\nLIMIT {limit + 1}"
    else:
        return None
    try:
        result = store.query(text, base_iri=request.base_iri, **options)
        if not isinstance(result, QuerySolutions):
            return None
        body = result.serialize(format=QueryResultsFormat.JSON)
    except (SyntaxError, ValueError, RuntimeError, OSError):
        return None  # the general path reports it, with the original text
    if request.row_bound is None and len(body) >= 3 * limit:
        count = len(json.loads(body)["results"]["bindings"])
        if count > limit:
            raise RowLimitExceeded(limit)
    else:
        count = None
    return QueryAnswer("bindings", media_type=request.results_format, body=body,
                       variables=tuple(v.value for v in result.variables),
                       count=count if count is not None else -1)


def boolean_answer(result: QueryBoolean, request: QueryRequest) -> QueryAnswer:
    """The answer to an ASK query (serialised when `request` asks for a format)."""
    answer = QueryAnswer("boolean", boolean=bool(result), count=1)
    if request.results_format:
        fmt = QueryResultsFormat.from_media_type(request.results_format)
        answer.media_type = request.results_format
        answer.body = _TABLE_OF_BOOLEAN[fmt](bool(result)) if fmt in _TABLE_OF_BOOLEAN else result.serialize(format=fmt)
    return answer


# SPARQL 1.1's CSV and TSV results define SELECT tables only; a bare ``true`` is no table, and
# TSV readers refuse it (rdflib). Jena's form is one: a column ``_askResult``, one row.
_TABLE_OF_BOOLEAN = {
    QueryResultsFormat.CSV: lambda value: f"_askResult\r\n{str(value).lower()}\r\n".encode(),
    QueryResultsFormat.TSV: lambda value: f"?_askResult\n{str(value).lower()}\n".encode(),
}


def _take(iterator, limit: int | None, deadline: float | None) -> list:
    """Every item of `iterator`; RowLimitExceeded if there are more than `limit` (None or
    0: no limit)."""
    items = []
    for item in iterator:
        if limit and len(items) >= limit:
            raise RowLimitExceeded(limit)
        items.append(item)
        if deadline is not None and len(items) % 256 == 0 and time.monotonic() > deadline:
            raise QueryTimedOut()
    return items


def store_cut(count: int) -> QueryFailed:
    """The store behind this server cut its answer at its own row limit: an error too."""
    return QueryFailed(502, f"The store behind this server stopped its answer at {count:,} rows, its "
                            "own row limit (e.g. Virtuoso's ResultSetMaxRows), so the answer would be "
                            "incomplete. Page through it with ORDER BY, LIMIT and OFFSET, or ask the "
                            "operator to raise the store's limit.")


def solutions_answer(result: QuerySolutions, request: QueryRequest, deadline: float | None, *,
                     cut_by_store: int | None = None) -> QueryAnswer:
    """The answer to a SELECT query: every solution of `result` (RowLimitExceeded beyond
    `max_rows`), serialised when asked. `result` may be any iterable of solutions with
    `.variables` (the remote store passes its parsed answer); `cut_by_store` is the row
    limit the store says it applied: an answer that long was cut by the store, an error."""
    variables = tuple(v.value for v in result.variables)
    solutions = _take(result, request.max_rows, deadline)
    if cut_by_store is not None and len(solutions) >= cut_by_store:
        raise store_cut(len(solutions))
    # a QuerySolution iterates its values in the order of `variables`, 4× faster than lookups
    rows = [tuple(solution) if isinstance(solution, pyoxigraph.QuerySolution)
            else tuple(solution[v] for v in variables) for solution in solutions]
    answer = QueryAnswer("bindings", variables=variables, count=len(rows))
    if request.results_format is None:
        answer.rows = rows
        return answer
    document: dict[str, Any] = {"head": {"vars": list(variables)},
                                "results": {"bindings": [json_row(variables, row) for row in rows]}}
    fmt = QueryResultsFormat.from_media_type(request.results_format)
    if fmt != QueryResultsFormat.JSON:
        body = json.dumps(document, ensure_ascii=False).encode("utf-8")
        body = pyoxigraph.parse_query_results(body, QueryResultsFormat.JSON).serialize(format=fmt)
    else:
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    answer.media_type = request.results_format
    answer.body = body
    return answer


_ROWS_PER_BATCH = 2000


def write_rows(variables: tuple[str, ...], rows, media_type: str, sink: Sink,
               deadline: float | None = None) -> int:
    """Solutions read in Python (`rows`: each indexable by variable name, None if unbound)
    written to `sink` in `media_type` as they come, a batch at a time: SPARQL JSON directly,
    the other formats by pyoxigraph's serialiser per batch, joined (the header once). Returns
    the number of rows."""
    fmt = QueryResultsFormat.from_media_type(media_type)
    count = 0
    started = False

    def flush(batch: list) -> None:
        nonlocal started
        document = {"head": {"vars": list(variables)}, "results": {"bindings": batch}}
        if fmt == QueryResultsFormat.JSON:
            text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
            inner = text[text.index('"bindings":[') + len('"bindings":['):-3]
            if not started:
                sink.write(text[:text.index('"bindings":[') + len('"bindings":[')].encode("utf-8"))
            elif inner:
                sink.write(b",")
            sink.write(inner.encode("utf-8"))
        else:
            body = pyoxigraph.parse_query_results(json.dumps(document, ensure_ascii=False).encode("utf-8"),
                                                  QueryResultsFormat.JSON).serialize(format=fmt)
            if fmt == QueryResultsFormat.XML:
                head, _, rest = body.partition(b"<results>")
                inner = rest[:rest.rindex(b"</results>")]
                sink.write((head + b"<results>" if not started else b"") + inner)
            else:  # CSV, TSV: one header line
                header, _, inner = body.partition(b"\n")
                sink.write((header + b"\n" if not started else b"") + inner)
        started = True

    batch: list = []
    for row in rows:
        batch.append(json_row(variables, tuple(row[v] for v in variables)))
        count += 1
        if len(batch) >= _ROWS_PER_BATCH:
            if deadline is not None and time.monotonic() > deadline:
                raise QueryTimedOut()
            flush(batch)
            batch = []
    if batch or not started:
        flush(batch)
    sink.write(b"]}}" if fmt == QueryResultsFormat.JSON else
               b"</results></sparql>" if fmt == QueryResultsFormat.XML else b"")
    return count


def json_row(variables: tuple[str, ...], row: tuple[Any, ...]) -> dict[str, Any]:
    return {v: json_term(t) for v, t in zip(variables, row) if t is not None}


def json_term(term: Any) -> dict[str, Any]:
    """A term in SPARQL 1.1/1.2 JSON results form."""
    if isinstance(term, NamedNode):
        return {"type": "uri", "value": term.value}
    if isinstance(term, BlankNode):
        return {"type": "bnode", "value": term.value}
    if isinstance(term, Literal):
        out: dict[str, Any] = {"type": "literal", "value": term.value}
        if term.language:
            out["xml:lang"] = term.language
            direction = getattr(term, "direction", None)
            if direction is not None:
                out["its:dir"] = str(direction).lower().rsplit(".", 1)[-1]
        elif term.datatype.value != XSD_STRING:
            out["datatype"] = term.datatype.value
        return out
    if isinstance(term, Triple):
        return {"type": "triple", "value": {"subject": json_term(term.subject),
                                            "predicate": json_term(term.predicate),
                                            "object": json_term(term.object)}}
    raise TypeError(f"unexpected term {term!r}")


def graph_answer(result, request: QueryRequest, deadline: float | None, *,
                 cut_by_store: int | None = None) -> QueryAnswer:
    """The answer to a CONSTRUCT/DESCRIBE query: every triple of `result` (RowLimitExceeded
    beyond `max_rows`; `cut_by_store` as for `solutions_answer`)."""
    triples = _take(result, request.max_rows, deadline)
    if cut_by_store is not None and len(triples) >= cut_by_store:
        raise store_cut(len(triples))
    answer = QueryAnswer("graph", count=len(triples))
    if request.graph_format is None:
        answer.triples = triples
        return answer
    fmt = RdfFormat.from_media_type(request.graph_format)
    prefixes = dict(request.prefixes) or None
    if fmt in (RdfFormat.N_TRIPLES, RdfFormat.N_QUADS, RdfFormat.JSON_LD):
        prefixes = None
    answer.media_type = request.graph_format
    answer.body = pyoxigraph.serialize(triples, format=fmt, prefixes=prefixes) if prefixes \
        else pyoxigraph.serialize(triples, format=fmt)
    return answer
