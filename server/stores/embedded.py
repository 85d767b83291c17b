"""The store behind the server: a small backend protocol and its pyoxigraph implementations.

Everything the HTTP layer needs from a triple store fits in `Backend`: run a query (bounded
in rows and time), run an update, and the handful of graph operations the Graph Store
Protocol needs. Reading a graph is just a CONSTRUCT over a one-graph dataset, so a remote
SPARQL store (e.g. Virtuoso) can implement the protocol with SPARQL alone.

Two embedded implementations here, and `bjkg.server.stores.remote.RemoteStore` for an existing
SPARQL store reached over HTTP:

* `BuildStore` — a build folder served read-only. Queries run in evaluator processes forked
  from a data process that opened the build once (`bjkg.server.sparql.workers`), so the time
  and memory limits hold for any query.
  Graph names and counts come from ``DIR/build.json``; the default graph is the union of all
  named graphs (the build's own default graph is empty).
* `MemoryStore` — an empty, writable in-memory dataset (``bjkg serve --empty``) for loading
  data and conformance testing. It lives in the pool's data process, which applies the
  writes and never evaluates a query; queries run in evaluators forked from it, under the
  same limits as a build's; the default graph is the real default graph, so SPARQL and the
  Graph Store Protocol agree on it.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pyoxigraph
from pyoxigraph import DefaultGraph, NamedNode, Triple

from bjkg.server.sparql.evaluate import QueryAnswer, QueryFailed, QueryRequest, QueryTimedOut, evaluate, stream, streamed
from bjkg.server.stores.integrity import BuildDamaged, BuildNotFound, file_matches, load_manifest  # noqa: F401 (re-exported)
from bjkg.server.sparql.workers import QueryWorkerPool, WouldWait

log = logging.getLogger("bjkg.store")

DEFAULT_GRAPH = ""  # how the store's default graph is named in `Dataset` and graph operations
UNLIMITED = 0  # max_rows value meaning "no row limit" (None means the server's MAX_ROWS)


class ReadOnly(Exception):
    """A write was attempted on a store that does not accept writes."""


@dataclass(frozen=True)
class Dataset:
    """An explicit RDF dataset for one query: graph IRIs, `DEFAULT_GRAPH` for the default graph."""

    default_graphs: tuple[str, ...] = ()
    named_graphs: tuple[str, ...] = ()


class Backend(Protocol):
    """What the server needs from a triple store."""

    writable: bool
    union_default_graph: bool
    evaluates_locally: bool  # True: pyoxigraph in our processes makes SERVICE calls (via the relay)

    def query(self, sparql: str, *, dataset: Dataset | None = None,
              substitutions: Mapping[str, Any] | None = None, base_iri: str | None = None,
              results_format: str | None = None, graph_format: str | None = None,
              max_rows: int | None = None, timeout: float | None = None,
              use_union: bool | None = None, prefixes: Mapping[str, str] | None = None) -> QueryAnswer:
        """Evaluate a query. With a format (media type) the answer carries serialised bytes;
        without, Python terms (`QueryAnswer.bindings()`, `.triples`, `.boolean`).
        `substitutions` binds variables to terms (SEP-0007) — the way to put user input in a
        query. `max_rows`/`timeout` default to the server settings; max_rows=UNLIMITED lifts
        the row limit (the time limit always holds); an answer longer than `max_rows` raises
        `RowLimitExceeded`, never a cut answer. A serialised answer may come as `chunks`
        (streamed) instead of `body`. Raises `QueryFailed`, `QueryTimedOut`, `Refused`, `WorkerCrashed`."""

    def update(self, sparql: str, *, base_iri: str | None = None) -> None:
        """Apply a SPARQL Update atomically. Raises `QueryFailed`, `ReadOnly`."""

    def named_graphs(self) -> list[str]:
        """IRIs of the named graphs."""

    def graph_exists(self, graph: str) -> bool:
        """Whether the named graph exists (the default graph always does)."""

    def replace_graph(self, graph: str, triples: Iterable[Triple]) -> bool:
        """Replace a graph's content; True if the graph was created."""

    def add_to_graph(self, graph: str, triples: Iterable[Triple]) -> bool:
        """Add triples to a graph; True if the graph was created."""

    def drop_graph(self, graph: str) -> bool:
        """Remove a graph (empty the default graph); True if it existed."""

    def close(self) -> None:
        """Release processes and files."""


def _request(sparql: str, *, store: Any, dataset: Dataset | None = None,
             substitutions: Mapping[str, Any] | None = None, base_iri: str | None = None,
             results_format: str | None = None, graph_format: str | None = None,
             max_rows: int | None = None, use_union: bool | None = None,
             prefixes: Mapping[str, str] | None = None, analysis: Any = None) -> QueryRequest:
    """One query's request; row limit and default-graph union fall back to the store's own."""
    max_rows = store.max_rows if max_rows is None else max_rows
    union = store.union_default_graph if use_union is None else use_union
    hints = {}
    if analysis is not None and getattr(analysis, "form", None) == "SELECT":
        hints = {"row_bound": analysis.row_bound, "limit_appendable": analysis.limit_appendable,
                 "select_star": analysis.select_star}
    return QueryRequest(**hints,
        sparql=sparql, base_iri=base_iri,
        default_graph=None if dataset is None else tuple(dataset.default_graphs),
        named_graphs=None if dataset is None else tuple(dataset.named_graphs),
        union_default_graph=union and dataset is None,
        substitutions=tuple((name.lstrip("?$"), term) for name, term in (substitutions or {}).items()),
        max_rows=max_rows, results_format=results_format, graph_format=graph_format,
        prefixes=tuple((prefixes or {}).items()),
    )


def _as_sent(failure: QueryFailed, original: QueryRequest | None) -> bool:
    """Whether a rewritten query's failure means: run the text as it was sent (a syntax
    error is reported against that text, not the rewrite)."""
    return original is not None and failure.status == 400


def _graph_term(graph: str):
    return DefaultGraph() if graph == DEFAULT_GRAPH else NamedNode(graph)


def build_pool_spec(build_dir: Path, manifest: Mapping[str, Any], in_memory_max_triples: int,
                    prepared_dir: str | Path | None = None) -> dict[str, Any]:
    """What the query pool's data process opens for a build: its dump in memory when the
    build is small enough (as `BuildStore._open` does, and for the same reason), else the
    store; and where `bjkg serve` prepares the literal index its evaluator process looks
    string filters up in (`literal_index.PreparedTables`)."""
    spec: dict[str, Any] = {"store": str(build_dir / "store")}
    if prepared_dir is not None and manifest.get("hash"):
        spec["prepared"] = [str(prepared_dir), manifest["hash"]]
    triples = manifest.get("triples")
    dump = build_dir / "bjkg.nq"
    if (in_memory_max_triples and isinstance(triples, int)
            and triples <= in_memory_max_triples and dump.is_file()):
        sha256 = (manifest.get("dumps", {}).get("bjkg.nq") or {}).get("sha256")
        spec.update(dump=str(dump), triples=triples, sha256=sha256)
    return spec


MEMORY_POOL_SPEC = {"writable": True}  # the data process of an empty writable dataset (--empty)


class BuildStore:
    """A build folder, read-only, queried through a pool of worker processes, or inline.

    `mode` "pool": every query runs in an evaluator process (`bjkg.server.sparql.workers`), under
    its admission, deadline, cancellation and memory rules. "inline" (offline use only):
    queries run in the calling thread on a store this process opened once, the time limit
    checked between rows. Pages read `local_store()` in this process in both modes.
    """

    writable = False
    union_default_graph = True
    takes_analysis = True  # query(analysis=...) lets the engine serialise bounded answers
    evaluates_locally = True

    def __init__(self, build_dir: Path, *, timeout: float, max_rows: int, query_workers: int,
                 isolate_network: bool = True, mode: str = "pool",
                 prepared_dir: str | Path | None = None, in_memory_max_triples: int = 0,
                 limits: Mapping[str, int] | None = None) -> None:
        self.build_dir = Path(build_dir)
        self.manifest = load_manifest(self.build_dir)
        self.timeout = timeout
        self.max_rows = max_rows
        self.mode = mode
        self.in_memory_max_triples = in_memory_max_triples
        self.reads_from: str | None = None  # "memory" or "disk", once the store is opened
        # what `bjkg serve` prepared for this build (aggregates, literal index, label table),
        # loaded on first use: module name → the loaded object, or None
        self.prepared_dir = prepared_dir
        self._prepared: dict[str, Any] = {}
        # True while `bjkg serve` still prepares them in the background: a request then never
        # loads them (the engine answers as written, pages read the store); `load_prepared` does
        self.prepared_pending = False
        self._store: pyoxigraph.Store | None = None
        self._store_pid: int | None = None
        self._open_lock = threading.Lock()
        self.pool = None if mode == "inline" else QueryWorkerPool(
            self._pool_spec(), query_workers, isolate_network=isolate_network, **(limits or {}))

    def _pool_spec(self) -> dict[str, Any]:
        return build_pool_spec(self.build_dir, self.manifest, self.in_memory_max_triples, self.prepared_dir)

    def local_store(self) -> pyoxigraph.Store:
        """The read-only store opened by this process (inline mode), opened on first use."""
        import os

        if self._store is None or self._store_pid != os.getpid():
            with self._open_lock:
                if self._store is None or self._store_pid != os.getpid():
                    self._store = self._open()
                    self._store_pid = os.getpid()
        return self._store

    def _open(self) -> pyoxigraph.Store:
        """The build's quads in memory if the build is small enough (IN_MEMORY_MAX_TRIPLES),
        else the on-disk store opened read-only.

        Why: a page makes a few hundred small index reads, and each read from RocksDB
        decodes blocks and strings that pyoxigraph's in-memory store keeps ready (measured
        on the seed graph: a place page 2.6 → 1.8 ms). The memory copy is loaded from the
        build's own N-Quads dump, the file the on-disk store was filled from, so both hold
        the same quads; it is only ever queried, never updated. The dump is used only if it
        still has the SHA-256 build.json gives it, and it is parsed strictly, so a damaged
        dump is never served in part: it fails as a whole and the on-disk store is used,
        with a warning (`bjkg serve` refuses a damaged build before it starts).
        """
        dump = self.build_dir / "bjkg.nq"
        triples = self.manifest.get("triples")
        sha256 = (self.manifest.get("dumps", {}).get("bjkg.nq") or {}).get("sha256")
        if (self.in_memory_max_triples and isinstance(triples, int)
                and triples <= self.in_memory_max_triples and dump.is_file()):
            store = pyoxigraph.Store()
            try:
                if not sha256 or not file_matches(dump, sha256):
                    raise ValueError("it does not match its SHA-256 in build.json")
                store.bulk_load(path=str(dump), format=pyoxigraph.RdfFormat.N_QUADS)
            except (OSError, SyntaxError, ValueError) as exc:
                log.warning("reading %s from disk: its dump %s could not be loaded into "
                            "memory (%s)", self.build_dir, dump, exc)
            else:
                if len(store) == triples:
                    self.reads_from = "memory"
                    return store
                log.warning("reading %s from disk: its dump %s holds %d quads, build.json "
                            "says %d", self.build_dir, dump, len(store), triples)
        self.reads_from = "disk"
        return pyoxigraph.Store.read_only(str(self.build_dir / "store"))

    def start(self) -> None:
        """Open the store (inline) or start the query workers (pool) now."""
        if self.pool is not None:
            self.pool.start()
        else:
            self.local_store()

    def query(self, sparql, *, dataset=None, substitutions=None, base_iri=None, results_format=None,
              graph_format=None, max_rows=None, timeout=None, use_union=None,
              prefixes=None, analysis=None) -> QueryAnswer:
        planned = self._plan(sparql, dataset=dataset, substitutions=substitutions, base_iri=base_iri,
                             results_format=results_format, graph_format=graph_format,
                             max_rows=max_rows, use_union=use_union, prefixes=prefixes, analysis=analysis)
        if isinstance(planned, QueryAnswer):
            return planned
        return self._answer(planned, self.timeout if timeout is None else timeout)

    async def query_async(self, sparql, *, context, hung_up, timeout=None, **arguments) -> QueryAnswer:
        """`query` on the HTTP front's event loop (`QueryWorkerPool.run_async`): the same
        plan and answers; WouldWait when the query cannot start at once (nothing was run:
        the caller calls `query` in a thread)."""
        if self.pool is None:
            raise WouldWait()
        planned = self._plan(sparql, **arguments)
        if isinstance(planned, QueryAnswer):
            return planned
        timeout = self.timeout if timeout is None else timeout
        first, original = planned
        try:
            return await self.pool.run_async(first, timeout, context, hung_up)
        except WouldWait:  # answered in a thread, as planned here
            raise WouldWait(lambda: self._answer(planned, timeout)) from None
        except QueryFailed as exc:
            if not _as_sent(exc, original):
                raise
        try:
            return await self.pool.run_async(original, timeout, context, hung_up)
        except WouldWait:
            raise WouldWait(lambda: self._run(original, timeout)) from None

    def _answer(self, planned: tuple[QueryRequest, QueryRequest | None], timeout: float) -> QueryAnswer:
        """The answer of a planned query (`_plan`): the request, or the text as sent if the
        rewritten text is refused as a syntax error."""
        first, original = planned
        try:
            return self._run(first, timeout)
        except QueryFailed as exc:
            if not _as_sent(exc, original):
                raise
        return self._run(original, timeout)

    def _plan(self, sparql, *, dataset=None, substitutions=None, base_iri=None, results_format=None,
              graph_format=None, max_rows=None, use_union=None, prefixes=None,
              analysis=None) -> QueryAnswer | tuple[QueryRequest, QueryRequest | None]:
        """How `query` answers: from a prepared table at once (a QueryAnswer), or by an
        evaluator — the request to run, and the original to run if that one is refused as a
        syntax error (the string filters' rewrite; None when the request is the original)."""
        request = _request(sparql, dataset=dataset, substitutions=substitutions, base_iri=base_iri,
                           results_format=results_format, graph_format=graph_format,
                           max_rows=max_rows, use_union=use_union, prefixes=prefixes,
                           analysis=analysis, store=self)
        if dataset is None and request.union_default_graph and not substitutions and results_format:
            answer = self._aggregate_answer(sparql, results_format, request.max_rows)
            if answer is not None:
                return answer
        rewritten = self._string_filters(sparql) if not substitutions else None
        if rewritten is not None:
            return dataclasses.replace(request, sparql=rewritten), request
        return request, None

    def _run(self, request: QueryRequest, timeout: float) -> QueryAnswer:
        if self.pool is not None:
            return self.pool.run(request, timeout)
        return self._inline(request, timeout)

    def _string_filters(self, sparql: str) -> str | None:
        """Inline: the query with its string filters answered from the literal index
        (bjkg.server.sparql.literal_index) prepared for this build; None to run it as
        written. With a pool, its evaluator process does this (`literal_index.PreparedTables`)."""
        if self.prepared_dir is None or self.pool is not None:
            return None
        from bjkg.server.sparql import literal_index

        return literal_index.filters_looked_up(self._prepared_data(literal_index), sparql)

    def label_table(self):
        """The labels of this build (bjkg.server.stores.label_table) as `bjkg serve` prepared them, or
        None (not prepared: the pages read the labels from the store)."""
        if self.prepared_dir is None:
            return None
        from bjkg.server.stores import label_table

        return self._prepared_data(label_table)

    def load_prepared(self, final: bool = True) -> bool:
        """Load what `bjkg serve` prepared for this build now (a worker booting, or its thread
        picking the tables up as they appear). `final`: what is not there now never will be
        (None: answered without it); else it is left for a later call. True when every kind
        is settled."""
        if self.prepared_dir is None:
            return True
        from bjkg.server.sparql import aggregates, literal_index
        from bjkg.server.stores import label_table

        settled = True
        # with a pool, the literal index is its evaluator process's (literal_index.PreparedTables)
        kinds = (aggregates, label_table) if self.pool is not None else (aggregates, label_table, literal_index)
        for module in kinds:
            if module.__name__ in self._prepared:
                continue
            value = module.load(self.prepared_dir, self.manifest.get("hash", ""))
            if value is not None or final:
                self._prepared[module.__name__] = value  # one assignment: a request sees it whole
            else:
                settled = False
        return settled

    def _prepared_data(self, module):
        """`module.load` of this build's prepared data, once per process (None if absent; None
        without loading while `prepared_pending`)."""
        name = module.__name__
        if name not in self._prepared:
            if self.prepared_pending:
                return None
            self._prepared[name] = module.load(self.prepared_dir, self.manifest.get("hash", ""))
        return self._prepared.get(name)

    def _aggregate_answer(self, sparql: str, results_format: str, max_rows: int | None) -> QueryAnswer | None:
        """A star aggregate (bjkg.server.sparql.aggregates) from the table prepared for this build, if any."""
        if "COUNT" not in sparql[:4000].upper() or self.prepared_dir is None:
            return None
        from bjkg.server.sparql import aggregates

        table = self._prepared_data(aggregates)
        star = aggregates.match(sparql) if table is not None else None
        body = table.answer(star, max_rows) if star is not None else None
        if body is None:
            return None
        fmt = pyoxigraph.QueryResultsFormat.from_media_type(results_format)
        if fmt != pyoxigraph.QueryResultsFormat.JSON:
            body = pyoxigraph.parse_query_results(body, pyoxigraph.QueryResultsFormat.JSON).serialize(format=fmt)
        return QueryAnswer("bindings", media_type=results_format, body=body, variables=star.names)

    def _inline(self, request: QueryRequest, timeout: float) -> QueryAnswer:
        """QUERY_MODE=inline (offline use: `bjkg serve` preparing a build, tests): evaluated in
        this thread (long answers streamed from a thread of the engine), the time limit
        checked between rows only."""
        deadline = time.monotonic() + timeout
        if streamed(request):
            return stream(self.local_store(), request, deadline=deadline)
        return evaluate(self.local_store(), request, deadline=deadline)

    def update(self, sparql, *, base_iri=None) -> None:
        raise ReadOnly("a build is served read-only")

    def named_graphs(self) -> list[str]:
        return list(self.manifest.get("graphs", {}))

    def graph_exists(self, graph: str) -> bool:
        return graph == DEFAULT_GRAPH or graph in self.manifest.get("graphs", {})

    def replace_graph(self, graph, triples) -> bool:
        raise ReadOnly("a build is served read-only")

    add_to_graph = replace_graph

    def drop_graph(self, graph) -> bool:
        raise ReadOnly("a build is served read-only")

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
        self._store = None


class MemoryStore:
    """An empty, writable, in-memory dataset (``--empty``). The data lives in the query pool's
    data process (bjkg.server.sparql.workers), which applies the writes and never evaluates a
    query; queries run in evaluators forked from it, under the same limits as a build's."""

    writable = True
    union_default_graph = False
    takes_analysis = True
    evaluates_locally = True

    def __init__(self, *, timeout: float, max_rows: int, query_workers: int = 2,
                 isolate_network: bool = True, limits: Mapping[str, int] | None = None) -> None:
        self.timeout = timeout
        self.max_rows = max_rows
        self.pool = QueryWorkerPool(dict(MEMORY_POOL_SPEC), query_workers, isolate_network=isolate_network,
                                    **(limits or {}))

    def start(self) -> None:
        self.pool.start()

    def query(self, sparql, *, dataset=None, substitutions=None, base_iri=None, results_format=None,
              graph_format=None, max_rows=None, timeout=None, use_union=None,
              prefixes=None, analysis=None) -> QueryAnswer:
        request = _request(sparql, dataset=dataset, substitutions=substitutions, base_iri=base_iri,
                           results_format=results_format, graph_format=graph_format,
                           max_rows=max_rows, use_union=use_union, prefixes=prefixes,
                           analysis=analysis, store=self)
        return self.pool.run(request, self.timeout if timeout is None else timeout)

    async def query_async(self, sparql, *, context, hung_up, timeout=None, **arguments) -> QueryAnswer:
        """`query` on the HTTP front's event loop (see `BuildStore.query_async`)."""
        request = _request(sparql, store=self, **arguments)
        timeout = self.timeout if timeout is None else timeout
        try:
            return await self.pool.run_async(request, timeout, context, hung_up)
        except WouldWait:
            raise WouldWait(lambda: self.pool.run(request, timeout)) from None

    def update(self, sparql, *, base_iri=None) -> None:
        self.pool.write("update", sparql, base_iri, self.timeout)  # the data process tries it within this

    def named_graphs(self) -> list[str]:
        return self.pool.read("graphs")

    def graph_exists(self, graph: str) -> bool:
        return graph == DEFAULT_GRAPH or self.pool.read("exists", graph)

    def replace_graph(self, graph, triples) -> bool:
        return self.pool.write("replace", graph, list(triples))

    def add_to_graph(self, graph, triples) -> bool:
        return self.pool.write("add", graph, list(triples))

    def drop_graph(self, graph) -> bool:
        return self.pool.write("drop", graph)

    def close(self) -> None:
        self.pool.close()
