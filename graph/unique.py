"""Each triple once: no (subject, predicate, object) in two named graphs of a build.

The server's default graph is the union of the named graphs, so a triple held by two
graphs would be answered twice (`COUNT(*)` over the union would exceed the distinct
count). The generator keeps a triple that several documents state in one graph
(`graph.rdfgen.Generator.one_graph_per_triple`), inference keeps only what is not
asserted (`graph.infer`); this check proves it for everything the build writes, external
datasets included.

It is cheap (≈ 50 ms for 68,000 triples): the curated graphs are rdflib sets, compared by
size against their union; an external triple can repeat another only if its subject is
also a subject in another graph, so only such subjects' triples are compared term by term.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Iterable

import pyoxigraph as ox

from .terms import to_oxigraph

_SHOWN = 20


class DuplicateTriples(Exception):
    """Some triples are in more than one named graph; the message lists them."""


def check_one_graph_per_triple(graphs: dict, external: Iterable[ox.Quad] = ()) -> None:
    """DuplicateTriples unless every triple is in one graph only. `graphs`: named graph →
    set of rdflib triples (the curated, ontology and inferred graphs); `external`: the
    external datasets' pyoxigraph quads."""
    external = list(external)
    total = sum(len(triples) for triples in graphs.values())
    suspects: dict = {}  # graph name → triples to compare term by term
    if len(set().union(*graphs.values())) != total:
        suspects = {name: triples for name, triples in graphs.items()}
    curated_subjects = {str(s) for triples in graphs.values() for s, _, _ in triples}
    external_graphs: dict[str, set[str]] = defaultdict(set)
    for quad in external:
        external_graphs[quad.subject.value].add(quad.graph_name.value)
    shared = {s for s, names in external_graphs.items() if len(names) > 1 or s in curated_subjects}
    if not suspects and not shared:
        return
    if not suspects:
        suspects = {name: {t for t in triples if str(t[0]) in shared} for name, triples in graphs.items()}
    first: dict[ox.Triple, str] = {}
    repeated: dict[ox.Triple, list[str]] = {}

    def note(triple: ox.Triple, graph: str) -> None:
        held = first.setdefault(triple, graph)
        if held != graph:
            repeated.setdefault(triple, [held]).append(graph)

    for name, triples in suspects.items():
        for s, p, o in triples:
            note(ox.Triple(to_oxigraph(s), to_oxigraph(p), to_oxigraph(o)), str(name))
    for quad in external:
        if quad.subject.value in shared:
            note(quad.triple, quad.graph_name.value)
    if repeated:
        lines = [f"  {t.subject} {t.predicate} {t.object} in {', '.join(gs)}"
                 for t, gs in sorted(repeated.items(), key=lambda item: str(item[0]))[:_SHOWN]]
        more = f"\n  … and {len(repeated) - _SHOWN} more" if len(repeated) > _SHOWN else ""
        raise DuplicateTriples(f"{len(repeated)} triple(s) in more than one named graph (each "
                               "triple must live in exactly one):\n" + "\n".join(lines) + more)
