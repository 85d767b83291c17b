"""SHACL gate: the build fails unless the data conforms to `shapes/`.

pyshacl is the validator. Two things keep it fast without changing what it decides:

- the data graph is built here for the run and thrown away afterwards, so pyshacl may
  work on it in place (`inplace=True`); otherwise SHACL-AF mode (`advanced`, needed for
  the SPARQL targets) makes it copy every triple into a new graph first;
- the SPARQL that pyshacl runs over the whole graph (the shapes' `sh:SPARQLTarget`
  selects) is answered by pyoxigraph over the same triples, instead of by rdflib's
  pure-Python engine, which needs seconds per FILTER over the 3,500 divisions. All the
  rest (targets by class, paths, node constraints, the report) stays pyshacl's own work
  on rdflib's in-memory store.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

import pyoxigraph as ox
from pyshacl import validate as shacl_validate
from rdflib import Graph, Variable
from rdflib.plugins.stores.memory import Memory
from rdflib.query import Result

from bjkg.graph.terms import TermError, to_oxigraph, to_rdflib


def load_shapes(root: Path) -> Graph:
    shapes = Graph()
    for path in sorted((root / "shapes").glob("*.ttl")):
        shapes.parse(path, format="turtle")
    return shapes


# Oxigraph lower-cases language tags, so LANG() differs from rdflib's (which keeps the
# case written); such a query is left to rdflib, unless LANG() only feeds LANGMATCHES,
# which (like comparing two literals) ignores case in both engines.
_LANG_FUNCTION = re.compile(r"\blang\s*\(", re.IGNORECASE)
_LANGMATCHES_LANG = re.compile(r"\blangmatches\s*\(\s*lang\s*\(", re.IGNORECASE)


def _reads_tag_case(query: str) -> bool:
    """Whether the query may see a language tag's case: LANG() outside LANGMATCHES."""
    return bool(_LANG_FUNCTION.search(_LANGMATCHES_LANG.sub("", query)))


class OxigraphQueryMemory(Memory):
    """rdflib's in-memory store whose SPARQL queries pyoxigraph answers.

    rdflib's `Graph.query` asks the store first and uses its own engine only when the
    store raises NotImplementedError: here for a parsed query object, a query with
    initial bindings (rdflib binds variables a SELECT does not project, oxigraph's
    substitutions cannot: pyshacl's per-focus-node SPARQL constraints), a query using
    LANG() other than in LANGMATCHES, or data oxigraph cannot take (a blank node). The
    selects of SPARQL targets, run once over the whole graph, are what this is for (the
    shapes' whole-graph checks). The oxigraph copy is made at
    the first query and dropped whenever a triple is added or removed, so it never
    answers for stale data.
    """

    def __init__(self) -> None:
        super().__init__()
        self._oxigraph: ox.Store | None = None

    def add(self, triple, context, quoted=False):
        self._oxigraph = None
        super().add(triple, context, quoted)

    def remove(self, triple_pattern, context=None):
        self._oxigraph = None
        super().remove(triple_pattern, context)

    def use_copy(self, quads: Iterable[ox.Quad]) -> None:
        """Answer queries from these quads (the same triples as the store's, which the
        caller already has as pyoxigraph terms) until the next change."""
        copy = ox.Store()
        copy.extend(ox.Quad(q.subject, q.predicate, q.object) for q in quads)
        self._oxigraph = copy

    def _store(self) -> ox.Store:
        if self._oxigraph is None:
            store = ox.Store()
            store.extend(ox.Quad(to_oxigraph(s), to_oxigraph(p), to_oxigraph(o))
                         for (s, p, o), _ in self.triples((None, None, None)))
            self._oxigraph = store
        return self._oxigraph

    def query(self, query, initNs, initBindings, queryGraph, **kwargs) -> Result:  # noqa: N803
        if not isinstance(query, str) or kwargs or initBindings or _reads_tag_case(query):
            raise NotImplementedError
        try:
            store = self._store()
        except TermError:
            raise NotImplementedError from None
        answer = store.query(query, prefixes={k: str(v) for k, v in (initNs or {}).items()})
        if isinstance(answer, ox.QueryBoolean):
            result = Result("ASK")
            result.askAnswer = bool(answer)
            return result
        if isinstance(answer, ox.QuerySolutions):
            result = Result("SELECT")
            result.vars = [Variable(v.value) for v in answer.variables]
            result.bindings = [{var: to_rdflib(value) for var, value in zip(result.vars, row)
                                if value is not None} for row in answer]
            return result
        raise NotImplementedError  # CONSTRUCT/DESCRIBE: not asked by SHACL


def data_graph(triples: Iterable, oxigraph: list[ox.Quad] | None = None) -> Graph:
    """A throwaway graph of `triples` for one pyshacl run (see the module doc).

    `oxigraph`: the same triples as pyoxigraph quads, when the caller has them already
    (external data is read by pyoxigraph), for the SPARQL copy: converting them back
    term by term cost a sixth of a run."""
    store = OxigraphQueryMemory()
    graph = Graph(store=store)
    graph.addN((s, p, o, graph) for s, p, o in triples)
    if oxigraph is not None:
        store.use_copy(oxigraph)
    return graph


def validate(data: Iterable | Graph, shapes: Graph,
             oxigraph: list[ox.Quad] | None = None) -> tuple[bool, Graph, str]:
    """(conforms, report graph, report text) for the triples of `data`, or for a graph
    made by `data_graph` (which pyshacl may then change).

    `data` holds the asserted and inferred triples and the ontology itself: the
    inferred types make subclass instances visible to class targets without asking
    pyshacl to reason (which costs seconds), and the ontology's own terms are checked
    for their labels by the same run. It is copied into a graph of its own, so the
    caller's graph is never changed. `oxigraph`: see `data_graph`.
    """
    graph = data if isinstance(data, Graph) and isinstance(data.store, OxigraphQueryMemory) \
        else data_graph(data, oxigraph)
    conforms, report, text = shacl_validate(
        graph, shacl_graph=shapes, inference="none",
        abort_on_first=False, allow_warnings=True, advanced=True, inplace=True)
    return conforms, report, text
