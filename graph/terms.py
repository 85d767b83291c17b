"""RDF terms between rdflib (records, inference, SHACL) and pyoxigraph (parsing, store, dumps).

The build makes the curated graph with rdflib, because owlrl and pyshacl need it, and
reads external data with pyoxigraph, because its parsers stream and are fast; these two
functions are the only crossing between them, and neither accepts a blank node.
"""
from __future__ import annotations

import pyoxigraph as ox
from rdflib import Literal, URIRef


class TermError(ValueError):
    """A term has no counterpart (a blank node, or an RDF-star triple term)."""


def to_oxigraph(term) -> ox.NamedNode | ox.Literal:
    if isinstance(term, URIRef):
        return ox.NamedNode(str(term))
    if isinstance(term, Literal):
        if term.language:
            return ox.Literal(str(term), language=term.language)
        if term.datatype:
            return ox.Literal(str(term), datatype=ox.NamedNode(str(term.datatype)))
        return ox.Literal(str(term))
    raise TermError(f"cannot store term {term!r}")


def to_rdflib(term) -> URIRef | Literal:
    if isinstance(term, ox.NamedNode):
        return URIRef(term.value)
    if isinstance(term, ox.Literal):
        if term.language:
            return Literal(term.value, lang=term.language)
        return Literal(term.value, datatype=URIRef(term.datatype.value))
    raise TermError(f"cannot convert term {term!r}")
