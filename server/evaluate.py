"""Evaluating one query against a pyoxigraph store and serialising its answer.

This is the code that runs inside query worker processes (see `server.workers`), and in
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
    if request.substitutions:
        options["substitutions"] = {Variable(name): term for name, term in request.substitutions}
    try:
        result = store.query(request.sparql, base_iri=request.base_iri, **options)
    except SyntaxError as exc:
        raise QueryFailed(400, f"SPARQL syntax error: {exc}") from None
    except (ValueError, RuntimeError, OSError) as exc:
        raise QueryFailed(500, f"The query could not be evaluated: {exc}") from None
    try:
        if isinstance(result, QueryBoolean):
            return _boolean_answer(result, request)
        if isinstance(result, QuerySolutions):
            return _solutions_answer(result, request, deadline)
        return _graph_answer(result, request, deadline)
    except (ValueError, RuntimeError, OSError) as exc:
        raise QueryFailed(500, f"The query failed during evaluation: {exc}") from None


def _boolean_answer(result: QueryBoolean, request: QueryRequest) -> QueryAnswer:
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


def _solutions_answer(result: QuerySolutions, request: QueryRequest, deadline: float | None) -> QueryAnswer:
    variables = tuple(v.value for v in result.variables)
    solutions, truncated = _take(result, request.max_rows, deadline)
    rows = [tuple(solution[v] for v in variables) for solution in solutions]
    answer = QueryAnswer("bindings", variables=variables, truncated=truncated, count=len(rows))
    if request.results_format is None:
        answer.rows = rows
        return answer
    document: dict[str, Any] = {"head": {"vars": list(variables)},
                                "results": {"bindings": [_json_row(variables, row) for row in rows]}}
    fmt = QueryResultsFormat.from_media_type(request.results_format)
    if fmt != QueryResultsFormat.JSON:
        body = json.dumps(document, ensure_ascii=False).encode("utf-8")
        body = pyoxigraph.parse_query_results(body, QueryResultsFormat.JSON).serialize(format=fmt)
    else:
        if truncated:  # a top-level note before "results", where streaming parsers tolerate it
            document = {"head": document["head"], "truncated": True,
                        "note": (f"Truncated: only the first {request.max_rows} results are returned "
                                 "(server setting MAX_ROWS). Use LIMIT and OFFSET to page through the rest."),
                        "results": document["results"]}
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    answer.media_type = request.results_format
    answer.body = body
    return answer


def _json_row(variables: tuple[str, ...], row: tuple[Any, ...]) -> dict[str, Any]:
    return {v: _json_term(t) for v, t in zip(variables, row) if t is not None}


def _json_term(term: Any) -> dict[str, Any]:
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
        return {"type": "triple", "value": {"subject": _json_term(term.subject),
                                            "predicate": _json_term(term.predicate),
                                            "object": _json_term(term.object)}}
    raise TypeError(f"unexpected term {term!r}")


def _graph_answer(result, request: QueryRequest, deadline: float | None) -> QueryAnswer:
    triples, truncated = _take(result, request.max_rows, deadline)
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
