"""Evaluating one query against a pyoxigraph store and serialising its answer.

This is the code that runs inside query worker processes (see `bjkg.server.sparql.workers`), and in
the server process for the in-memory `--empty` dataset. It imports nothing from Flask.
Requests and answers are plain picklable dataclasses so they can cross a process pipe.

Answers are bounded: at most `max_rows` solutions or triples are read from the engine; a
longer answer is cut there and flagged `truncated`. Every serialisation is pyoxigraph's:
solutions are first written as SPARQL JSON (the one format we write ourselves, with
`json.dumps`, so that a *prefix* of the solutions can be serialised), then re-read by
pyoxigraph and written in the requested format.
"""
from __future__ import annotations

import json
import time
from functools import lru_cache
from dataclasses import dataclass
from typing import Any

import pyoxigraph
from pyoxigraph import (BlankNode, DefaultGraph, Literal, NamedNode, QueryBoolean, QueryResultsFormat,
                        QuerySolutions, RdfFormat, Triple, Variable)

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
    truncated: bool = False
    count: int = 0

    def bindings(self) -> list[dict[str, Any]]:
        """Rows as dicts from variable name to term, unbound variables left out."""
        if self.rows is None:
            return []
        return [{v: t for v, t in zip(self.variables, row) if t is not None} for row in self.rows]


def _graph_term(iri: str):
    return DefaultGraph() if iri == "" else NamedNode(iri)


def evaluate(store: pyoxigraph.Store, request: QueryRequest, *, deadline: float | None = None) -> QueryAnswer:
    """Run `request` on `store`. Raises QueryFailed; QueryTimedOut only between rows.

    (A hard limit for queries that never yield a row is the worker pool's job.)
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
    fast = _engine_serialised(store, request, options)
    if fast is not None:
        return fast
    try:
        result = store.query(text, base_iri=request.base_iri, **options)
    except SyntaxError as exc:
        raise QueryFailed(400, f"SPARQL syntax error: {exc}") from None
    except (ValueError, RuntimeError, OSError) as exc:
        raise QueryFailed(500, f"The query could not be evaluated: {exc}") from None
    try:
        if isinstance(result, QueryBoolean):
            return boolean_answer(result, request)
        if isinstance(result, QuerySolutions):
            return solutions_answer(result, request, deadline)
        return graph_answer(result, request, deadline)
    except (ValueError, RuntimeError, OSError) as exc:
        raise QueryFailed(500, f"The query failed during evaluation: {exc}") from None


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


def _engine_serialised(store: pyoxigraph.Store, request: QueryRequest, options: dict) -> QueryAnswer | None:
    """A SELECT answer in SPARQL JSON written by the engine itself, when it provably has at
    most `max_rows` rows; None to take the general path (rows read into Python).

    The bound is the query's own top-level LIMIT, or one appended here (`max_rows + 1`)
    when the query has none; an answer shorter than 3 bytes × `max_rows` cannot hold more
    rows (each row is at least ``{},``), and a longer one is counted. Only when the limit
    is really passed is the query run again on the general path, which truncates it.
    """
    if request.results_format != "application/sparql-results+json" or not request.max_rows:
        return None
    limit = request.max_rows
    text = request.sparql
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
            return None
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
        answer.body = result.serialize(format=fmt)
    return answer


def _take(iterator, limit: int | None, deadline: float | None) -> tuple[list, bool]:
    items = []
    for item in iterator:
        if limit and len(items) >= limit:  # None or 0: no limit
            return items, True
        items.append(item)
        if deadline is not None and len(items) % 256 == 0 and time.monotonic() > deadline:
            raise QueryTimedOut()
    return items, False


def solutions_answer(result: QuerySolutions, request: QueryRequest, deadline: float | None, *,
                     cut_by_store: int | None = None) -> QueryAnswer:
    """The answer to a SELECT query: at most `max_rows` solutions of `result`, serialised
    when asked. `result` may be any iterable of solutions with `.variables` (the remote
    store passes its parsed answer); `cut_by_store` is the row limit the store says it
    applied: an answer that long was cut by the store."""
    variables = tuple(v.value for v in result.variables)
    solutions, truncated = _take(result, request.max_rows, deadline)
    by_store = not truncated and cut_by_store is not None and len(solutions) >= cut_by_store
    truncated = truncated or by_store
    # a QuerySolution iterates its values in the order of `variables`, 4× faster than lookups
    rows = [tuple(solution) if isinstance(solution, pyoxigraph.QuerySolution)
            else tuple(solution[v] for v in variables) for solution in solutions]
    answer = QueryAnswer("bindings", variables=variables, truncated=truncated, count=len(rows))
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
        if truncated:  # a top-level note before "results", where streaming parsers tolerate it
            limit = (f"{request.max_rows} results are returned (server setting MAX_ROWS)"
                     if not by_store else
                     f"{len(rows)} results are returned (the store's own row limit)")
            document = {"head": document["head"], "truncated": True,
                        "note": (f"Truncated: only the first {limit}. Use LIMIT and OFFSET to page "
                                 "through the rest."),
                        "results": document["results"]}
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    answer.media_type = request.results_format
    answer.body = body
    return answer


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
    """The answer to a CONSTRUCT/DESCRIBE query: at most `max_rows` triples of `result`
    (`cut_by_store` as for `solutions_answer`)."""
    triples, truncated = _take(result, request.max_rows, deadline)
    truncated = truncated or (cut_by_store is not None and len(triples) >= cut_by_store)
    answer = QueryAnswer("graph", truncated=truncated, count=len(triples))
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
