"""Each triple once: no (subject, predicate, object) in two named graphs of a build.

The server's default graph is the union of the named graphs, so a triple held by two
graphs would be answered twice (`COUNT(*)` over the union would exceed the distinct
count). The generator keeps a triple that several documents state in one graph
(`graph.rdfgen.Generator.one_graph_per_triple`), inference keeps only what is not
asserted (`graph.infer`); this check proves it for everything the build writes, external
datasets included.
"""
from __future__ import annotations

from typing import Iterable

import pyoxigraph as ox

_SHOWN = 20


class DuplicateTriples(Exception):
    """Some triples are in more than one named graph; the message lists them."""


def check_one_graph_per_triple(quads: Iterable[ox.Quad]) -> int:
    """The number of distinct triples; DuplicateTriples if any is in two graphs."""
    first: dict[ox.Triple, ox.NamedNode] = {}
    repeated: dict[ox.Triple, list] = {}
    for quad in quads:
        triple = quad.triple
        graph = first.setdefault(triple, quad.graph_name)
        if graph != quad.graph_name:
            repeated.setdefault(triple, [graph]).append(quad.graph_name)
    if repeated:
        lines = [f"  {t.subject} {t.predicate} {t.object} in {', '.join(str(g) for g in gs)}"
                 for t, gs in sorted(repeated.items(), key=lambda item: str(item[0]))[:_SHOWN]]
        more = f"\n  … and {len(repeated) - _SHOWN} more" if len(repeated) > _SHOWN else ""
        raise DuplicateTriples(f"{len(repeated)} triple(s) in more than one named graph (each "
                               "triple must live in exactly one):\n" + "\n".join(lines) + more)
    return len(first)
