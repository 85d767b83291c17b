"""SHACL gate: the build fails unless the data conforms to `shapes/`."""
from __future__ import annotations

from pathlib import Path

from pyshacl import validate as shacl_validate
from rdflib import Graph


def load_shapes(root: Path) -> Graph:
    shapes = Graph()
    for path in sorted((root / "shapes").glob("*.ttl")):
        shapes.parse(path, format="turtle")
    return shapes


def validate(data: Graph, shapes: Graph) -> tuple[bool, Graph, str]:
    """(conforms, report graph, report text) for `data`.

    `data` holds the asserted and inferred triples and the ontology itself: the
    inferred types make subclass instances visible to class targets without asking
    pyshacl to reason (which costs seconds), and the ontology's own terms are checked
    for their labels by the same run.
    """
    conforms, report, text = shacl_validate(
        data, shacl_graph=shapes, inference="none",
        abort_on_first=False, allow_warnings=True, advanced=True)
    return conforms, report, text
