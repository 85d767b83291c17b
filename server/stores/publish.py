"""``bjkg publish``: push a built graph into an existing SPARQL store, idempotently.

Every named graph of the build is *replaced* in the store — a Graph Store Protocol PUT
(later chunks of a large graph are POSTed after it), or with SPARQL Update ``DROP SILENT
GRAPH`` then ``INSERT DATA`` in chunks (the first chunk in the same request as the DROP) —
so publishing twice leaves exactly the same triples. Graphs the previous publication had
and this build no longer has are dropped. The triples come from ``bjkg.nq`` as pyoxigraph
reads them, language tags lower-cased as in the embedded store, so a query compares tags
the same way whichever store answers.

Then the counts per graph are read back and compared with build.json, and every graph is
read back whole and its content compared with the build's (`verify_contents`): a store
that silently dropped, merged or altered triples fails the publication loudly. Last, the manifest is
recorded in the store, in the graph ``<base>graph/publication`` (one triple, the
build.json text as an ``rdf:JSON`` literal): that record is what ``bjkg serve
--sparql-endpoint`` reads to know the dataset's graphs, counts and hash. Written last, it
also marks a publication as complete.
"""
from __future__ import annotations

import hashlib
import json
import re
import struct
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyoxigraph
from pyoxigraph import DefaultGraph, Literal, NamedNode, QueryResultsFormat, RdfFormat, Triple

from bjkg.server.sparql.client import SparqlClient
from bjkg.server.stores.remote import (DESCRIPTION, EMPTY_GRAPH, GRAPH_ACCEPT, WKT_LITERAL, drop_graph, insert_data,
                                      normalise, publication_graph, read_publication, rdf_format)

RDF_JSON = "http://www.w3.org/1999/02/22-rdf-syntax-ns#JSON"
UPDATE_CHUNK = 1000  # triples per INSERT DATA request: Virtuoso compiles each into SQL
UPDATE_CHUNK_CHARS = 60_000  # … and characters (a bjkg server accepts 100,000 by default)
GSP_CHUNK = 50_000  # triples per Graph Store request


class PublishError(Exception):
    """The publication failed or could not be verified; the message says where."""


@dataclass
class Report:
    """What a publication did."""

    method: str
    graphs: dict[str, int] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    seconds: float = 0.0


def read_build(build_dir: Path) -> tuple[dict, dict[str, list[Triple]]]:
    """(manifest, triples per named graph) of a build folder."""
    manifest_path, dump = build_dir / "build.json", build_dir / "bjkg.nq"
    if not manifest_path.is_file() or not dump.is_file():
        raise PublishError(f"{build_dir} is not a built graph (expected build.json and bjkg.nq); "
                           f"run `bjkg build --out {build_dir}` first.")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    graphs: dict[str, list[Triple]] = defaultdict(list)
    for quad in pyoxigraph.parse(path=str(dump), format=RdfFormat.N_QUADS):
        if isinstance(quad.graph_name, DefaultGraph):
            raise PublishError("the build has triples in the default graph; every triple must be in a named graph")
        graphs[quad.graph_name.value].append(quad.triple)
    if publication_graph(manifest["base"]) in graphs:
        raise PublishError(f"the build uses the reserved graph <{publication_graph(manifest['base'])}>")
    return manifest, dict(graphs)


def publish(build_dir: Path, client: SparqlClient, *, method: str = "auto", timeout: float = 600,
            log: Callable[[str], None] = lambda _: None) -> Report:
    """Publish the build in `build_dir` through `client`; see the module docstring.

    `method`: "gsp" (Graph Store Protocol, needs `client.graph_store_url`), "update"
    (SPARQL Update, needs `client.update_url`) or "auto" (GSP when configured).
    """
    started = time.monotonic()
    if method == "auto":
        method = "gsp" if client.graph_store_url else "update"
    if method == "gsp" and not client.graph_store_url:
        raise PublishError("publishing through the Graph Store Protocol needs its URL (--graph-store)")
    if method == "update" and not client.update_url:
        raise PublishError("publishing with SPARQL Update needs an update endpoint")
    manifest, graphs = read_build(Path(build_dir))
    deadline = time.monotonic() + timeout
    previous = read_publication(client, manifest["base"], timeout=timeout)
    report = Report(method)
    for graph in sorted(graphs):
        triples = graphs[graph]
        log(f"publishing <{graph}>: {len(triples)} triples")
        _replace(client, method, graph, triples, deadline)
        report.graphs[graph] = len(triples)
    for graph in sorted(set((previous or {}).get("graphs", {})) - set(graphs)):
        log(f"dropping <{graph}> (no longer in the build)")
        _replace(client, method, graph, [], deadline)
        report.dropped.append(graph)
    _verify(client, manifest, report.graphs, deadline)
    verify_contents(client, graphs, deadline)
    record = Triple(NamedNode(publication_graph(manifest["base"])), NamedNode(DESCRIPTION),
                    Literal(json.dumps(manifest, ensure_ascii=False, sort_keys=True), datatype=NamedNode(RDF_JSON)))
    _replace(client, method, publication_graph(manifest["base"]), [record], deadline)
    report.seconds = time.monotonic() - started
    return report


def _chunks(triples: list[Triple], size: int, chars: int | None = None) -> list[list[Triple]]:
    """`triples` in runs of at most `size` triples and (roughly) `chars` characters."""
    if chars is None:
        return [triples[i:i + size] for i in range(0, len(triples), size)] or [[]]
    out: list[list[Triple]] = [[]]
    length = 0
    for triple in triples:
        cost = len(str(triple)) + 3
        if out[-1] and (len(out[-1]) >= size or length + cost > chars):
            out.append([])
            length = 0
        out[-1].append(triple)
        length += cost
    return out


def _replace(client: SparqlClient, method: str, graph: str, triples: list[Triple], deadline: float) -> None:
    """Make `graph` hold exactly `triples` (an empty list drops it)."""
    if method == "gsp":
        if not triples:
            client.delete_graph(graph, deadline=deadline)
            return
        first, *rest = _chunks(triples, GSP_CHUNK)
        client.put_graph(graph, pyoxigraph.serialize(first, format=RdfFormat.TURTLE), deadline=deadline)
        for chunk in rest:
            client.post_graph(graph, pyoxigraph.serialize(chunk, format=RdfFormat.TURTLE), deadline=deadline)
        return
    first, *rest = _chunks(triples, UPDATE_CHUNK, UPDATE_CHUNK_CHARS)
    client.update(f"{drop_graph(graph)} ;\n{insert_data(graph, first)}" if first else drop_graph(graph),
                  deadline=deadline)
    for chunk in rest:
        client.update(insert_data(graph, chunk), deadline=deadline)


def _verify(client: SparqlClient, manifest: dict, sent: dict[str, int], deadline: float) -> None:
    """Read the counts per graph back; PublishError if any differs from the build."""
    query = "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g"
    dataset = [("default-graph-uri", EMPTY_GRAPH)] + [("named-graph-uri", g) for g in sent]
    with client.query(query, accept="application/sparql-results+json", deadline=deadline,
                      dataset=dataset) as answer:
        counts = {row["g"].value: int(row["n"].value)
                  for row in pyoxigraph.parse_query_results(answer, QueryResultsFormat.JSON)}
    expected = manifest.get("graphs") or sent
    wrong = {g: (n, counts.get(g, 0)) for g, n in expected.items() if counts.get(g, 0) != n}
    if wrong:
        detail = "; ".join(f"<{g}>: build {n}, store {m}" for g, (n, m) in sorted(wrong.items()))
        raise PublishError(f"the store does not hold what was sent ({detail})")


def verify_contents(client: SparqlClient, graphs: dict[str, list[Triple]], deadline: float) -> None:
    """Read every graph back whole; PublishError naming each graph whose content differs
    from the build's.

    Counts alone miss a store that alters what it holds (a literal's value or datatype,
    an IRI). Both sides are compared as the embedded store and the server would give them
    (`content_digest`), so what is tolerated is exactly what a client could not tell apart.
    """
    wrong = []
    for graph in sorted(graphs):
        if content_digest(graphs[graph]) != content_digest(_read_graph(client, graph, deadline)):
            wrong.append(f"<{graph}>")
    if wrong:
        raise PublishError(f"the store does not hold what was sent: the content of {', '.join(wrong)} "
                           "differs from the build's (same counts, different triples)")


def _read_graph(client: SparqlClient, graph: str, deadline: float) -> list[Triple]:
    """Every triple of `graph` in the store (PublishError if the store cut its answer)."""
    query = f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ GRAPH {NamedNode(graph)} {{ ?s ?p ?o }} }}"
    with client.query(query, accept=GRAPH_ACCEPT, deadline=deadline,
                      dataset=[("default-graph-uri", EMPTY_GRAPH), ("named-graph-uri", graph)]) as answer:
        if answer.headers.get("X-SPARQL-MaxRows"):
            raise PublishError(f"the store cut its answer for <{graph}> at {answer.headers['X-SPARQL-MaxRows']} "
                               "triples (Virtuoso's ResultSetMaxRows), so the publication cannot be verified: "
                               "raise the store's limit above the largest graph")
        return [quad.triple for quad in pyoxigraph.parse(answer, format=rdf_format(answer))]


_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def content_digest(triples: list[Triple]) -> str:
    """SHA-256 of `triples` as sorted N-Triples lines, each term as a client would see it.

    The triples go through a pyoxigraph store (numbers and dates in canonical form, as the
    embedded store and Virtuoso both write ``5.0`` as ``5``) and `normalise` (Virtuoso's
    booleans and geometry type). A WKT literal's coordinates are compared at single
    precision: Virtuoso keeps geometry coordinates as 32-bit floats (``40.1415`` comes back
    as ``40.141498565674``), a documented difference, not a failed publication.
    """
    store = pyoxigraph.Store()
    store.bulk_extend(pyoxigraph.Quad(t.subject, t.predicate, t.object, DefaultGraph()) for t in triples)
    lines = sorted(str(Triple(q.subject, q.predicate, _comparable(normalise(q.object))))
                   for q in store.quads_for_pattern(None, None, None, None))
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def _comparable(term):
    """A WKT literal with its coordinates rounded to 32-bit floats and spaces normalised."""
    if not isinstance(term, Literal) or term.datatype.value != WKT_LITERAL:
        return term
    rounded = _NUMBER.sub(lambda m: repr(struct.unpack("f", struct.pack("f", float(m.group())))[0]), term.value)
    return Literal(" ".join(re.sub(r"\s*([(),])\s*", r"\1", rounded).split()).upper(), datatype=term.datatype)
