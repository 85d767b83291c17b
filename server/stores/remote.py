"""The store protocol over an existing SPARQL 1.1 store (Virtuoso, GraphDB, Fuseki, QLever …).

`RemoteStore` implements `bjkg.server.stores.embedded.Backend` with the SPARQL 1.1 Protocol (queries and
updates) and the Graph Store Protocol, so the endpoint, entity pages, search and VoID work
unchanged over a store that runs elsewhere, shared by many stateless server processes.
Answers are parsed back into the same pyoxigraph terms and `QueryAnswer`s the embedded
store gives, and serialised by the same code (`bjkg.server.sparql.evaluate`), so clients see the same
formats, errors and headers whichever store is behind.

What differs between stores is handled here, not in the views or the tests:

* **Dataset.** Virtuoso's default graph is the union of *every* graph it holds (its own
  system graphs included), and FROM names any of them. Every query is therefore sent with
  an explicit protocol dataset (``default-graph-uri``/``named-graph-uri``) restricted to
  the graphs of the published build: the union for the default graph, the query's own
  FROM/FROM NAMED (or the request's dataset) filtered to those graphs otherwise, and
  `EMPTY_GRAPH` — a graph nobody writes — where SPARQL means "no graph". The query's own
  FROM clauses are then removed, since Virtuoso would merge them with the protocol's.
* **Syntax and safety.** The text is parsed by pyoxigraph first (without evaluating it),
  so only standard SPARQL reaches the store, with the same syntax errors as the embedded
  store and no engine pragmas (``DEFINE``); IRIs in Virtuoso's ``bif:``/``sql:`` function
  namespaces (``bif:http_get`` fetches URLs) are refused, and so is any SERVICE not on the
  allow-list. Relative IRIs resolve against the server's base (a ``BASE`` is prepended).
* **Terms.** pyoxigraph lower-cases language tags as it reads answers, as the embedded
  store does; Virtuoso writes stored booleans as ``"1"^^xsd:boolean``, which becomes the
  canonical ``"true"``. Results may come back as JSON (Virtuoso's ``typed-literal`` is
  read too) or XML; graphs as N-Triples, Turtle or RDF/XML.
* **Bindings.** Stores lack SEP-0007 substitution, so bound variables are written into
  the query as validated terms (`bjkg.server.sparql.text.substitute`).
* **DESCRIBE** is the store's choice in SPARQL; Virtuoso adds inbound triples. It is sent
  as the CONSTRUCT of the embedded store's answer (`describe_as_construct`).
* **Limits.** The time limit is an overall HTTP deadline (→ 503 as for the embedded
  store); with a row limit (MAX_ROWS, 0 = none by default) a SELECT is sent with a LIMIT
  of one row more than `max_rows` (its own LIMIT if smaller), and one row or triple more
  than `max_rows` is the same 400 as for the embedded store; a store that cut the answer
  itself (Virtuoso's ``X-SPARQL-MaxRows``) is a 502, and a partial "anytime" answer
  (``X-SQL-State: S1TAT``) a timeout: never a cut answer. Without a row limit the store's
  answer is passed on as it arrives (`bjkg.server.sparql.evaluate.stream_from`), constant
  memory; a store cut noticed only at its end then drops the connection (no final chunk).
"""
from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyoxigraph
from pyoxigraph import DefaultGraph, Literal, NamedNode, QueryBoolean, QueryResultsFormat, RdfFormat, Triple

from bjkg.server.core.settings import BY_NAME
from bjkg.server.sparql.evaluate import (QueryAnswer, QueryFailed, QueryRequest, QueryTimedOut, Sink, boolean_answer,
                                        graph_answer, solutions_answer, store_cut, stream_from, write_rows)
from bjkg.server.sparql.client import (Answer, Credentials, SparqlClient, StoreHTTPError, StoreTimeout,
                                  StoreUnreachable)
from bjkg.server.sparql.text import (QUERY_FORMS, IriNames, NestingTooDeep, SparqlTextError, analyse, describe_as_construct,
                               limit_rows, strip_dataset_clauses, substitute, tokenize)
from bjkg.server.stores.embedded import DEFAULT_GRAPH, UNLIMITED, Dataset, ReadOnly, load_manifest
from bjkg.server.stores.integrity import read_manifest
from bjkg.server.sparql.workers import StoreUnavailable

EMPTY_GRAPH = "urn:x-bjkg:no-graph"  # a graph name nobody writes: an empty default / named graph
XSD_BOOLEAN = "http://www.w3.org/2001/XMLSchema#boolean"
WKT_LITERAL = "http://www.opengis.net/ont/geosparql#wktLiteral"
VIRTUOSO_GEOMETRY = "http://www.openlinksw.com/schemas/virtrdf#Geometry"  # what Virtuoso makes of a wktLiteral
RESULTS_ACCEPT = "application/sparql-results+json, application/sparql-results+xml;q=0.9"
GRAPH_ACCEPT = "application/n-triples, text/turtle;q=0.9, application/rdf+xml;q=0.5, text/plain;q=0.1"
_RESULT_FORMATS = {"application/sparql-results+json": QueryResultsFormat.JSON,
                   "application/json": QueryResultsFormat.JSON,
                   "application/sparql-results+xml": QueryResultsFormat.XML,
                   "application/xml": QueryResultsFormat.XML,
                   "text/tab-separated-values": QueryResultsFormat.TSV}
_ALL_GRAPHS_QUERY = "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }"
PROBE_SECONDS = 3.0  # how long a store has to answer `ASK {}` when a query timed out
SILENT_RETRY = 10.0  # after a failed probe, how long later queries probe first (answer at once)
_GRAPH_EXISTS_QUERY = "ASK { GRAPH ?g { ?s ?p ?o } }"


class RemoteStoreError(Exception):
    """The remote store cannot be served as configured; the message says what to change."""


# --------------------------------------------------------------------------- terms

def normalise(term: Any) -> Any:
    """A term from another store as the embedded store would give it: Virtuoso's stored
    booleans ``"1"``/``"0"`` as ``true``/``false``, and its geometry type back to the
    ``geo:wktLiteral`` that was published (Virtuoso turns every wktLiteral it is given into
    its own ``virtrdf:Geometry``)."""
    if not isinstance(term, Literal):
        return term
    datatype = term.datatype.value
    if datatype == XSD_BOOLEAN and term.value in ("1", "0"):
        return Literal("true" if term.value == "1" else "false", datatype=NamedNode(XSD_BOOLEAN))
    if datatype == VIRTUOSO_GEOMETRY:
        return Literal(term.value, datatype=NamedNode(WKT_LITERAL))
    return term


class _Row(dict):
    def __missing__(self, key: str) -> None:  # unbound, as pyoxigraph's QuerySolution answers
        return None


class _Solutions:
    """Parsed remote solutions, normalised, with the `.variables` `solutions_answer` reads."""

    def __init__(self, parsed) -> None:
        self._parsed = parsed
        self.variables = list(parsed.variables)

    def __iter__(self) -> Iterator[_Row]:
        names = [v.value for v in self.variables]
        for solution in self._parsed:
            yield _Row({name: normalise(solution[name]) for name in names})


def _triples(quads: Iterable) -> Iterator[Triple]:
    for quad in quads:
        yield Triple(quad.subject, quad.predicate, normalise(quad.object))


# --------------------------------------------------------------------------- updates as text

def insert_data(graph: str, triples: Sequence[Triple]) -> str:
    """``INSERT DATA`` for `triples` into `graph` ("" = default graph), serialised by pyoxigraph.

    N-Triples is valid SPARQL triple syntax, so every term is written by the serialiser,
    escapes included; nothing is pasted from text.
    """
    body = pyoxigraph.serialize(list(triples), format=RdfFormat.N_TRIPLES).decode("utf-8")
    if graph == DEFAULT_GRAPH:
        return f"INSERT DATA {{\n{body}}}"
    return f"INSERT DATA {{ GRAPH {NamedNode(graph)} {{\n{body}}} }}"


def drop_graph(graph: str) -> str:
    """``DROP SILENT GRAPH <g>`` (or ``DEFAULT``) for a validated graph IRI."""
    return "DROP SILENT DEFAULT" if graph == DEFAULT_GRAPH else f"DROP SILENT GRAPH {NamedNode(graph)}"


# --------------------------------------------------------------------------- the backend

@dataclass(frozen=True)
class Endpoints:
    """Where the store is: a query endpoint, and optionally update and Graph Store URLs."""

    query: str
    update: str | None = None
    graph_store: str | None = None
    credentials: Credentials = Credentials()

    def client(self) -> SparqlClient:
        return SparqlClient(self.query, update_url=self.update, graph_store_url=self.graph_store,
                            credentials=self.credentials)


class RemoteStore:
    """A SPARQL 1.1 store elsewhere, spoken to over HTTP (see the module docstring)."""

    evaluates_locally = False  # SERVICE calls are the store's to make, not ours

    def __init__(self, endpoints: Endpoints, *, timeout: float, max_rows: int,
                 graphs: Sequence[str] | None = None, service_allowlist: Sequence[str] = (),
                 max_nesting: int = BY_NAME["MAX_NESTING"].default) -> None:
        """`graphs`: the dataset's named graphs (from the publication); None serves the
        store's own dataset as it is (e.g. a writable store)."""
        self.endpoints = endpoints
        self.client = endpoints.client()
        self.timeout = timeout
        self.max_rows = max_rows
        self.graphs: tuple[str, ...] | None = None if graphs is None else tuple(graphs)
        self.union_default_graph = self.graphs is not None
        self.writable = bool(endpoints.update or endpoints.graph_store)
        self.service_allowlist = tuple(service_allowlist)
        self.max_nesting = max_nesting  # checked before pyoxigraph parses a text (MAX_NESTING)
        self._parser = pyoxigraph.Store()  # empty; only ever asked to parse
        self._silent_until = 0.0  # until then, probe the store before sending a query

    # ----------------------------------------------------------------------- queries
    def query(self, sparql, *, dataset=None, substitutions=None, base_iri=None, results_format=None,
              graph_format=None, max_rows=None, timeout=None, use_union=None,
              prefixes=None) -> QueryAnswer:
        limit = self.max_rows if max_rows is None else max_rows
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        text = self._bind(sparql, substitutions)
        analysis = self._check(text, base_iri)
        if time.monotonic() < self._silent_until and not self._responds():
            raise self._unresponsive()
        params = self._dataset(analysis, dataset, self.union_default_graph if use_union is None else use_union)
        request = QueryRequest(sparql=text, base_iri=base_iri, max_rows=limit or None,
                               results_format=results_format, graph_format=graph_format,
                               prefixes=tuple((prefixes or {}).items()))
        graph_form = analysis.form in ("CONSTRUCT", "DESCRIBE")
        if params:  # the protocol dataset is the whole dataset: drop the query's own FROMs
            text = strip_dataset_clauses(text)
            text, params = _confine_graphs(text, params, base_iri)
        if analysis.form == "DESCRIBE":
            text = describe_as_construct(text) or text
        if analysis.form == "SELECT" and limit:
            text = limit_rows(text, limit + 1)  # one more than read, to know it was cut
        text = _with_base(text, base_iri)
        if not limit and (results_format if not graph_form else graph_format):
            # no row limit: pass the answer on as it arrives (constant memory), re-serialised
            # the reader stops at `deadline`, then may probe the store (`_responds`): wait for that too
            return stream_from(lambda sink: self._read(text, params, graph_form, request, deadline, sink),
                               deadline=deadline + PROBE_SECONDS + 0.5)
        return self._read(text, params, graph_form, request, deadline, None)

    def _read(self, text: str, params, graph_form: bool, request: QueryRequest, deadline: float,
              sink: Sink | None) -> QueryAnswer:
        """Send the query and read the store's answer: into a `QueryAnswer`, or (`sink`)
        written on as it is read."""
        answer: Answer | None = None
        try:
            answer = self.client.query(text, deadline=deadline, dataset=params,
                                       accept=GRAPH_ACCEPT if graph_form else RESULTS_ACCEPT)
            _refuse_partial(answer)
            cut = _store_row_limit(answer)
            if graph_form:
                quads = pyoxigraph.parse(answer, format=rdf_format(answer))
                if sink is None:
                    return graph_answer(_triples(quads), request, deadline, cut_by_store=cut)
                return _write_graph(_triples(quads), request, deadline, sink, cut)
            parsed = pyoxigraph.parse_query_results(answer, _results_format(answer))
            if isinstance(parsed, QueryBoolean):
                result = boolean_answer(parsed, request)
                if sink is not None:
                    sink.begin(result)
                    sink.write(result.body or b"")
                    result.body = None
                    sink.finish()
                return result
            if sink is None:
                return solutions_answer(_Solutions(parsed), request, deadline, cut_by_store=cut)
            variables = tuple(v.value for v in parsed.variables)
            result = QueryAnswer("bindings", media_type=request.results_format, variables=variables, count=-1)
            sink.begin(result)
            count = write_rows(variables, _Solutions(parsed), request.results_format, sink, deadline)
            if cut is not None and count >= cut:
                raise store_cut(count)  # mid-answer: the connection is dropped, never a cut 200
            sink.finish()
            return result
        except StoreTimeout:
            raise (QueryTimedOut() if self._responds() else self._unresponsive()) from None
        except StoreUnreachable as exc:
            raise StoreUnavailable(str(exc)) from None
        except StoreHTTPError as exc:
            raise _failed(exc) from None
        except (SyntaxError, ValueError, OSError) as exc:
            if answer is not None and time.monotonic() > deadline:
                raise QueryTimedOut() from None  # a read timed out inside the parser
            raise QueryFailed(502, f"The store's answer could not be read: {exc}") from None
        finally:
            if answer is not None:
                answer.close()  # also ends a long answer we stopped reading at max_rows

    def _responds(self) -> bool:
        """Whether the store answers ``ASK {}`` within `PROBE_SECONDS`: a query that ran out
        of time over a store that answers was too slow; over one that does not, the store
        is at fault (stopped, frozen, overloaded, cut off), and the client should hear so."""
        try:
            with self.client.query("ASK {}", accept=RESULTS_ACCEPT, deadline=time.monotonic() + PROBE_SECONDS,
                                   dataset=_params([EMPTY_GRAPH], [EMPTY_GRAPH])) as answer:
                answer.read()
        except (StoreTimeout, StoreUnreachable, StoreHTTPError, OSError):
            self._silent_until = time.monotonic() + SILENT_RETRY
            return False
        self._silent_until = 0.0
        return True

    def _unresponsive(self) -> StoreUnavailable:
        return StoreUnavailable(
            f"the SPARQL store behind this server does not respond (not even to ASK {{}} within "
            f"{PROBE_SECONDS:g} s): it is stopped, frozen or overloaded, which is no fault of this "
            "request. Try again later; if it lasts, the operator should check the store.")

    def _bind(self, sparql: str, substitutions: Mapping[str, Any] | None) -> str:
        if not substitutions:
            return sparql
        try:
            return substitute(sparql, substitutions)
        except (ValueError, SparqlTextError) as exc:
            raise QueryFailed(500, f"Cannot bind the query's variables for this store: {exc}") from None

    def _check(self, text: str, base_iri: str | None):
        """Lexical safety checks, then a parse by pyoxigraph that evaluates nothing."""
        try:
            analysis = analyse(text, base_iri=base_iri, max_nesting=self.max_nesting)
        except NestingTooDeep as exc:
            raise QueryFailed(400, str(exc)) from None
        except SparqlTextError as exc:
            raise QueryFailed(400, f"SPARQL syntax error: {exc}") from None
        refuse_engine_functions(analysis)
        for call in analysis.services:
            if call.target is None or call.target not in self.service_allowlist:
                raise QueryFailed(400, "SERVICE is refused: its endpoint is not in the SERVICE_ALLOWLIST setting.")
        parse_only(self._parser, text, base_iri)
        if analysis.form not in QUERY_FORMS:
            raise QueryFailed(400, "Not a SPARQL query (SELECT, CONSTRUCT, DESCRIBE or ASK).")
        return analysis

    def _dataset(self, analysis, dataset: Dataset | None, union: bool) -> list[tuple[str, str]]:
        """The protocol dataset to send (see the module docstring)."""
        if self.graphs is None:  # the store's own dataset; pass on what the client asked for
            if dataset is None:
                return []
            defaults = [g or EMPTY_GRAPH for g in dataset.default_graphs] or [EMPTY_GRAPH]
            named = list(dataset.named_graphs) or [EMPTY_GRAPH]
            return _params(defaults, named)
        known = set(self.graphs)
        if dataset is not None:
            defaults = [g for d in dataset.default_graphs for g in (self.graphs if d == DEFAULT_GRAPH else (d,))]
            named = list(dataset.named_graphs)
        elif analysis.dataset_clause:
            defaults, named = analysis.from_graphs, analysis.from_named_graphs
        elif union:
            defaults, named = list(self.graphs), list(self.graphs)
        else:  # the real default graph of a published build is empty
            defaults, named = [], list(self.graphs)
        return _params([g for g in dict.fromkeys(defaults) if g in known] or [EMPTY_GRAPH],
                       [g for g in dict.fromkeys(named) if g in known] or [EMPTY_GRAPH])

    # ----------------------------------------------------------------------- updates
    def update(self, sparql, *, base_iri=None) -> None:
        if not self.endpoints.update:
            raise ReadOnly("the remote store has no update endpoint configured (--update-endpoint)")
        try:
            analysis = analyse(sparql, base_iri=base_iri, max_nesting=self.max_nesting)
        except NestingTooDeep as exc:
            raise QueryFailed(400, str(exc)) from None
        except SparqlTextError as exc:
            raise QueryFailed(400, f"SPARQL Update syntax error: {exc}") from None
        refuse_engine_functions(analysis)
        if analysis.loads:
            raise QueryFailed(400, "LOAD is disabled: this server never fetches data from the network.")
        self._send_update(_with_base(sparql, base_iri))

    def _send_update(self, text: str) -> None:
        try:
            self.client.update(text, deadline=time.monotonic() + self.timeout)
        except StoreTimeout:
            raise QueryTimedOut() from None
        except StoreUnreachable as exc:
            raise StoreUnavailable(str(exc)) from None
        except StoreHTTPError as exc:
            raise _failed(exc) from None

    # ----------------------------------------------------------------------- graphs
    def named_graphs(self) -> list[str]:
        if self.graphs is not None:
            return list(self.graphs)
        rows = self.query(_ALL_GRAPHS_QUERY, max_rows=UNLIMITED).bindings()
        return [row["g"].value for row in rows if isinstance(row.get("g"), NamedNode)]

    def graph_exists(self, graph: str) -> bool:
        if graph == DEFAULT_GRAPH:
            return True
        if self.graphs is not None:
            return graph in self.graphs
        return bool(self.query(_GRAPH_EXISTS_QUERY, substitutions={"g": NamedNode(graph)}).boolean)

    def replace_graph(self, graph, triples) -> bool:
        return self._write_graph(graph, triples, replace=True)

    def add_to_graph(self, graph, triples) -> bool:
        return self._write_graph(graph, triples, replace=False)

    def _write_graph(self, graph, triples, *, replace: bool) -> bool:
        """PUT/POST to the Graph Store when there is one, else the same as SPARQL Update;
        True when the graph did not exist before."""
        triples = list(triples)
        created = not self.graph_exists(graph)
        if self.endpoints.graph_store:
            self._graph_store("PUT" if replace else "POST", graph, triples)
        else:
            self._require_update()
            insert = insert_data(graph, triples)
            self._send_update(f"{drop_graph(graph)} ;\n{insert}" if replace else insert)
        return created

    def drop_graph(self, graph) -> bool:
        existed = self.graph_exists(graph)
        if graph != DEFAULT_GRAPH and not existed:
            return False
        if self.endpoints.graph_store and graph != DEFAULT_GRAPH:
            self._graph_store("DELETE", graph, [])
        else:
            self._require_update()
            self._send_update(drop_graph(graph))
        return True

    def _require_update(self) -> None:
        if not self.endpoints.update:
            raise ReadOnly("the remote store has no update endpoint or Graph Store configured")

    def _graph_store(self, method: str, graph: str, triples: list[Triple]) -> None:
        if graph == DEFAULT_GRAPH:
            raise QueryFailed(400, "The remote store's default graph is not written through the Graph Store.")
        deadline = time.monotonic() + self.timeout
        try:
            if method == "DELETE":
                self.client.delete_graph(graph, deadline=deadline)
            else:
                body = pyoxigraph.serialize(triples, format=RdfFormat.TURTLE) if triples else b""
                (self.client.put_graph if method == "PUT" else self.client.post_graph)(
                    graph, body, deadline=deadline)
        except StoreTimeout:
            raise QueryTimedOut() from None
        except StoreUnreachable as exc:
            raise StoreUnavailable(str(exc)) from None
        except StoreHTTPError as exc:
            raise _failed(exc) from None

    def close(self) -> None:
        pass


# --------------------------------------------------------------------------- helpers

def refuse_engine_functions(analysis) -> None:
    """400 for IRIs in an engine's built-in function namespaces (``bif:``, ``sql:``)."""
    if analysis.engine_functions:
        found = analysis.engine_functions[0]
        raise QueryFailed(400, f"<{found.iri}> (line {found.line}, column {found.column}) is refused: IRIs "
                               "in the bif: and sql: namespaces call a store's built-in procedures, "
                               "some of which reach the network.")


def parse_only(parser: pyoxigraph.Store, text: str, base_iri: str | None) -> None:
    """Raise QueryFailed(400) if `text` is not a SPARQL query; evaluate nothing.

    pyoxigraph parses the query first and only then checks its options; asking for both
    a union default graph and an explicit default graph is refused at that point, before
    any evaluation (no SERVICE call, no VALUES cross product). `tests/server/test_remote_unit.py`
    pins this behaviour.
    """
    try:
        parser.query(text, base_iri=base_iri, use_default_graph_as_union=True, default_graph=DefaultGraph())
    except SyntaxError as exc:
        raise QueryFailed(400, f"SPARQL syntax error: {exc}") from None
    except ValueError:
        return  # parsed; stopped by the conflicting dataset options, as intended
    raise RuntimeError("pyoxigraph evaluated a query that was only to be parsed")


def confine_graphs(text: str, named: Sequence[str], base_iri: str | None) -> tuple[str, bool]:
    """(`text` with every constant ``GRAPH <iri>`` not among `named` made ``GRAPH <EMPTY_GRAPH>``,
    whether any was).

    Virtuoso answers a GRAPH pattern whose IRI is not one of the protocol's named graphs
    with one empty solution instead of none (``ASK { GRAPH <nope> { … } }`` is true, a
    NOT EXISTS of it removes every row), and its system graphs would be read if they were
    named. A graph that is named but holds nothing gives no solution, as SPARQL says.
    The query has been parsed by pyoxigraph already, so a ``GRAPH`` word followed by an
    IRI or a prefixed name is a graph pattern's constant.
    """
    allowed = set(named)
    names = IriNames(base_iri)
    toks = list(tokenize(text))
    edits: list[tuple[int, int]] = []
    for i, tok in enumerate(toks):
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        if tok.kind != "WORD" or nxt is None:
            continue
        word = tok.text.upper()
        if word == "PREFIX" and nxt.kind == "PNAME" and i + 2 < len(toks) and toks[i + 2].kind == "IRI":
            names.prefixes[nxt.text.split(":", 1)[0]] = names.iri(toks[i + 2].text)
        elif word == "BASE" and nxt.kind == "IRI":
            names.base = names.iri(nxt.text)
        elif word == "GRAPH" and nxt.kind in ("IRI", "PNAME"):
            iri = names.iri(nxt.text) if nxt.kind == "IRI" else names.pname(nxt.text)
            if iri not in allowed:
                edits.append((nxt.start, nxt.start + len(nxt.text)))
    for start, end in reversed(edits):
        text = f"{text[:start]}<{EMPTY_GRAPH}>{text[end:]}"
    return text, bool(edits)


def _confine_graphs(text: str, params: list[tuple[str, str]], base_iri: str | None
                    ) -> tuple[str, list[tuple[str, str]]]:
    """`confine_graphs` over the protocol dataset `params`, naming `EMPTY_GRAPH` when used."""
    named = [g for key, g in params if key == "named-graph-uri"]
    text, confined = confine_graphs(text, named, base_iri)
    if confined and EMPTY_GRAPH not in named:
        params = params + [("named-graph-uri", EMPTY_GRAPH)]
    return text, params


def _with_base(text: str, base_iri: str | None) -> str:
    """Prepend ``BASE <base>`` (a query's own BASE, later in the prologue, still wins)."""
    return f"BASE {NamedNode(base_iri)}\n{text}" if base_iri else text


def _params(defaults: Sequence[str], named: Sequence[str]) -> list[tuple[str, str]]:
    return [("default-graph-uri", g) for g in defaults] + [("named-graph-uri", g) for g in named]


def _results_format(answer: Answer) -> QueryResultsFormat:
    fmt = _RESULT_FORMATS.get(answer.media_type)
    if fmt is None:
        raise QueryFailed(502, f"The store answered a query with {answer.media_type or 'no media type'}, "
                               "not SPARQL results in JSON or XML.")
    return fmt


def rdf_format(answer: Answer) -> RdfFormat:
    """How to parse a graph answer (N-Triples when the store names no RDF type)."""
    if answer.media_type in ("text/plain", ""):
        return RdfFormat.N_TRIPLES
    fmt = RdfFormat.from_media_type(answer.media_type)
    if fmt is None:
        raise QueryFailed(502, f"The store answered a graph query with {answer.media_type}, "
                               "which cannot be read as RDF.")
    return fmt


def _write_graph(triples: Iterator[Triple], request: QueryRequest, deadline: float, sink: Sink,
                 cut: int | None) -> QueryAnswer:
    """A graph answer written on by pyoxigraph's serialiser as the store's triples arrive."""
    result = QueryAnswer("graph", media_type=request.graph_format, count=-1)
    fmt = RdfFormat.from_media_type(request.graph_format)
    prefixes = dict(request.prefixes) or None
    if fmt in (RdfFormat.N_TRIPLES, RdfFormat.N_QUADS, RdfFormat.JSON_LD):
        prefixes = None
    seen = [0]

    def counted() -> Iterator[Triple]:
        for triple in triples:
            seen[0] += 1
            if seen[0] % 2048 == 0 and time.monotonic() > deadline:
                raise QueryTimedOut()
            yield triple

    sink.begin(result)
    if prefixes:
        pyoxigraph.serialize(counted(), output=sink, format=fmt, prefixes=prefixes)
    else:
        pyoxigraph.serialize(counted(), output=sink, format=fmt)
    if cut is not None and seen[0] >= cut:
        raise store_cut(seen[0])
    sink.finish()
    return result


def _store_row_limit(answer: Answer) -> int | None:
    """The row limit the store applied (Virtuoso's ``X-SPARQL-MaxRows``), if it says so."""
    value = answer.headers.get("X-SPARQL-MaxRows")
    return int(value) if value and value.strip().isascii() and value.strip().isdigit() and len(value) < 19 else None


def _refuse_partial(answer: Answer) -> None:
    """Virtuoso's "anytime" answers are partial: report them as timed out, not as results."""
    if (answer.headers.get("X-SQL-State") or "").strip().upper() == "S1TAT":
        raise StoreTimeout(f"{answer.url} returned a partial answer at its own time limit")


# Virtuoso reports a query it will not evaluate with 400 or 500 and a SQL state: 37000
# (its SPARQL compiler: syntax, "not implemented"), 42001 (an undefined function, SR185) and
# class 22 (a data exception: an argument a function refuses, such as STRLANG's language
# tag) are the request's fault; so are SR352/SR353, its cap on rows to sort
# (MaxSortedTopRows), and the estimate of a query's cost past MaxQueryCostEstimationTime.
# Other errors (out of memory, an internal failure) are the store's.
_VIRTUOSO_ERROR = re.compile(r"\s*Virtuoso (?P<state>[0-9A-Z]{5}) Error (?P<text>.*)", re.S)
_QUERY_FAULT = re.compile(r"37...|42001|22...")
_SORT_CAP = re.compile(r"SR35[23]\b")
_COST_ESTIMATE = re.compile(r"estimated execution time .*exceeds the limit", re.I | re.S)
_ECHO = re.compile(r"\s*SPARQL query:.*", re.S)  # Virtuoso appends the query with our `define`s


def store_message(message: str) -> str:
    """The store's error text without the query it echoes (rewritten, with internal
    ``define`` lines and the protocol dataset: nothing the client wrote or needs)."""
    return " ".join(_ECHO.sub("", message or "").split())[:500]


def _failed(exc: StoreHTTPError) -> QueryFailed:
    """A store's error status as our error: what the query caused is a client error (400;
    503 for a cost estimate past the store's limit), the rest a 502 (see above)."""
    virtuoso = _VIRTUOSO_ERROR.match(exc.message or "")
    text = store_message(virtuoso.group("text") if virtuoso else exc.message)
    if virtuoso and _SORT_CAP.match(text):
        return QueryFailed(400, "The store refuses to sort this many rows: ORDER BY with OFFSET + LIMIT "
                                "(or an OFFSET without LIMIT) past its MaxSortedTopRows setting "
                                f"({text}). Page with a smaller OFFSET, or ask the operator to raise "
                                "MaxSortedTopRows in the store's virtuoso.ini.")
    if virtuoso and _COST_ESTIMATE.search(text):
        return QueryFailed(503, "The store estimated that this query would run longer than it allows "
                                f"(its MaxQueryCostEstimationTime setting: {text}) and did not start it; "
                                "retrying will not help. Make the query more selective (LIMIT, fewer "
                                "unbound patterns), or download a dump of the dataset and query it locally.")
    if exc.status == 400 or (exc.status == 500 and virtuoso and _QUERY_FAULT.fullmatch(virtuoso.group("state"))):
        return QueryFailed(400, f"The store behind this server does not support or accept this request: {text}")
    if exc.status in (401, 403):
        return QueryFailed(502, f"The store refused our credentials ({exc.status}): {text}")
    if exc.status == 404:
        return QueryFailed(502, f"The store has no endpoint at {exc.url} (404).")
    return QueryFailed(502, f"The store failed ({exc.status}): {text}")


# --------------------------------------------------------------------------- opening

def endpoints_from(config: Mapping[str, Any]) -> Endpoints:
    """The endpoints and credentials named by the settings."""
    return Endpoints(config["SPARQL_ENDPOINT"], config.get("UPDATE_ENDPOINT"), config.get("GRAPH_STORE"),
                     Credentials(config.get("REMOTE_USER"), config.get("REMOTE_PASSWORD"),
                                 config.get("REMOTE_TOKEN")))


def open_remote(config: Mapping[str, Any]) -> tuple[RemoteStore, dict | None, Path | None]:
    """(store, manifest, build folder) for the settings' remote store.

    Read-only: the dataset is the publication `bjkg publish` recorded in the store (or
    the BUILD_DIR's build.json when the data got there otherwise); a BUILD_DIR whose
    hash differs from the publication is refused, since its dumps would not match. A
    writable store is served as it is: no manifest, no cache validators.
    """

    endpoints = endpoints_from(config)
    build_dir = Path(config["BUILD_DIR"]) if config.get("BUILD_DIR") else None
    build = None
    if build_dir is not None and (build_dir / "build.json").is_file():
        build = read_manifest(build_dir / "build.json")
    elif build_dir is not None and build_dir.exists():
        load_manifest(build_dir)  # raises BuildNotFound with its explanation
    else:
        build_dir = None
    writable = bool(endpoints.update or endpoints.graph_store)
    try:
        published = read_publication(endpoints.client(), config["BASE_IRI"], timeout=config["QUERY_TIMEOUT"])
    except (StoreTimeout, StoreUnreachable, StoreHTTPError) as exc:
        raise RemoteStoreError(f"cannot read from the SPARQL endpoint {endpoints.query}: {exc}") from None
    if published and build and published.get("hash") != build.get("hash"):
        raise RemoteStoreError(
            f"the store holds build {str(published.get('hash'))[:12]}, but {build_dir} is build "
            f"{str(build.get('hash'))[:12]}: publish that build (bjkg publish --build {build_dir} …) or "
            "serve without a build folder (-s BUILD_DIR '').")
    manifest = None if writable else (published or build)
    graphs = None if manifest is None else tuple(manifest.get("graphs", {}))
    store = RemoteStore(endpoints, timeout=config["QUERY_TIMEOUT"], max_rows=config["MAX_ROWS"],
                        graphs=graphs, service_allowlist=config.get("SERVICE_ALLOWLIST", ()),
                        max_nesting=config.get("MAX_NESTING", BY_NAME["MAX_NESTING"].default))
    return store, manifest, build_dir if build else None


__all__ = ["EMPTY_GRAPH", "Endpoints", "RemoteStore", "RemoteStoreError", "confine_graphs", "drop_graph", "endpoints_from",
           "insert_data", "normalise", "open_remote", "parse_only", "refuse_engine_functions"]


# --------------------------------------------------------------------------- publication record

DESCRIPTION = "http://purl.org/dc/terms/description"


def publication_graph(base: str) -> str:
    """The graph holding the publication record of the dataset with base IRI `base`."""
    return f"{base}graph/publication"


def read_publication(client: SparqlClient, base: str, *, timeout: float = 30) -> dict | None:
    """The manifest last published into the store (None if there is none)."""
    graph = NamedNode(publication_graph(base))
    query = f"SELECT ?m WHERE {{ GRAPH {graph} {{ {graph} {NamedNode(DESCRIPTION)} ?m }} }}"
    with client.query(query, accept="application/sparql-results+json", deadline=time.monotonic() + timeout,
                      dataset=[("default-graph-uri", EMPTY_GRAPH), ("named-graph-uri", graph.value)]) as answer:
        rows = list(pyoxigraph.parse_query_results(answer, QueryResultsFormat.JSON))
    for row in rows:
        value = row["m"]
        if isinstance(value, Literal):
            try:
                return json.loads(value.value)
            except json.JSONDecodeError:
                continue
    return None
