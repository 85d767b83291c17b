"""OWL-RL entailments, kept apart from asserted triples and pruned to what helps a user.

owlrl computes the full closure of ontology + data. Most of it is noise for a reader
(axiomatic triples, `owl:Thing` types, `x sameAs x`, facts about vocabulary terms,
properties copied onto Wikidata IRIs). We keep only new triples about our own entities
whose predicate is a type, one of our properties, or a standard inverse/closure that
users query (ORG, SKOS, GeoSPARQL); everything else is dropped.
"""
from __future__ import annotations

from contextlib import contextmanager, nullcontext

import owlrl
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import OWL, RDF, RDFS, SKOS

from bjkg.graph.vocab import BJKG, GEO, ORG, SCHEMA_HTTP

_KEEP_PREDICATES = {ORG.hasSubOrganization, ORG.subOrganizationOf, ORG.holds, ORG.heldBy,
                    ORG.hasPost, ORG.postIn,
                    ORG.transitiveSubOrganizationOf, SKOS.narrower, SKOS.broader,
                    GEO.sfWithin, GEO.sfContains,
                    # schema.org's http:// twins of the https:// terms we assert
                    SCHEMA_HTTP.sha256, SCHEMA_HTTP.minValue, SCHEMA_HTTP.maxValue,
                    SCHEMA_HTTP.startDate, SCHEMA_HTTP.endDate, SCHEMA_HTTP.datePublished,
                    SCHEMA_HTTP.publisher, SCHEMA_HTTP.author}
_DROP_TYPES = {OWL.Thing, RDFS.Resource, OWL.NamedIndividual, RDFS.Class, OWL.Class,
               RDF.Property, OWL.ObjectProperty, OWL.DatatypeProperty}


_SCHEMA_HTTPS = "https://schema.org/"
_PREMISE_NAMESPACES = (str(BJKG), str(ORG), _SCHEMA_HTTPS)


def _premise(s, p, o) -> bool:
    """Types and our own, ORG and schema.org relations; not provenance, reification,
    labels or sameAs links, which would only add conclusions we drop anyway."""
    if p == RDF.type or p == SKOS.broader:
        return True
    if not str(p).startswith(_PREMISE_NAMESPACES):
        return False
    return not isinstance(o, Literal) or str(p).startswith(_SCHEMA_HTTPS)


class _IndexedGraph(Graph):
    """A graph held in three plain dict indexes (subject, predicate and object first), for
    owlrl to expand.

    owlrl tests and looks up triples hundreds of thousands of times; rdflib's default
    store keeps contexts for every triple and costs about half of the reasoner's time
    on the way. This class answers the same calls (`add`, `remove`, `in`, `len`,
    iteration and `triples`, through which `objects`, `subjects`, `value`, `items` and
    the other helpers of Graph go) from plain dicts. Only `triples` patterns of terms
    are supported: no property paths, which owlrl never asks for.

    Terms are interned: the graph holds one object per term, the first one added or one
    of `canonical` (owlrl's vocabulary), so that the lookups owlrl makes with terms it
    read from the graph, or with its vocabulary, find their key by identity. An rdflib
    term compares equal in Python code (`Identifier.__eq__`), which otherwise ran for
    every dict and set hit: four million times, a quarter of the reasoner's time.
    """

    def __init__(self, canonical=()) -> None:
        super().__init__()
        self._spo: dict = {}
        self._pos: dict = {}
        self._osp: dict = {}
        self._count = 0
        self._terms: dict = {term: term for term in canonical}

    def add(self, triple):
        intern = self._terms.setdefault
        s, p, o = triple
        s, p, o = intern(s, s), intern(p, p), intern(o, o)
        objects = self._spo.setdefault(s, {}).setdefault(p, set())
        if o not in objects:
            objects.add(o)
            self._pos.setdefault(p, {}).setdefault(o, set()).add(s)
            self._osp.setdefault(o, {}).setdefault(s, set()).add(p)
            self._count += 1
        return self

    def remove(self, triple):
        for s, p, o in list(self.triples(triple)):
            self._spo[s][p].discard(o)
            self._pos[p][o].discard(s)
            self._osp[o][s].discard(p)
            self._count -= 1
        return self

    def __len__(self) -> int:
        return self._count

    def __iter__(self):
        return self.triples((None, None, None))

    def __contains__(self, triple) -> bool:
        for _ in self.triples(triple):
            return True
        return False

    def triples(self, pattern):
        """Matching triples, from a snapshot: the caller may change the graph meanwhile."""
        s, p, o = pattern
        if s is not None:
            by_predicate = self._spo.get(s, {})
            if p is not None:
                objects = by_predicate.get(p, ())
                found = ([o] if o in objects else []) if o is not None else list(objects)
                return iter([(s, p, x) for x in found])
            if o is not None:
                return iter([(s, x, o) for x in list(self._osp.get(o, {}).get(s, ()))])
            return iter([(s, q, x) for q, objects in list(by_predicate.items())
                         for x in list(objects)])
        if p is not None:
            by_object = self._pos.get(p, {})
            if o is not None:
                return iter([(x, p, o) for x in list(by_object.get(o, ()))])
            return iter([(x, p, y) for y, subjects in list(by_object.items())
                         for x in list(subjects)])
        if o is not None:
            return iter([(x, q, o) for x, predicates in list(self._osp.get(o, {}).items())
                         for q in list(predicates)])
        return iter([(x, q, y) for x, by_predicate in list(self._spo.items())
                     for q, objects in list(by_predicate.items()) for y in list(objects)])


class _ResolvedNamespace:
    """An rdflib vocabulary namespace (OWL, RDF, RDFS) with every term it declares already
    looked up, as plain attributes.

    owlrl's rules name their vocabulary as `OWL.sameAs`, `RDF.type` … inside the loops over
    every triple of every cycle — millions of attribute lookups, each through rdflib's
    `DefinedNamespace` metaclass `__getattr__` (a third of the reasoner's time). The terms
    are the same URIRefs; anything not declared (and `RDF[...]` items) goes to the namespace.
    """

    def __init__(self, namespace) -> None:
        self._namespace = namespace
        for name in (*getattr(namespace, "__annotations__", {}), *getattr(namespace, "_extras", ())):
            try:
                setattr(self, name, getattr(namespace, name))
            except (AttributeError, TypeError):
                pass

    def __getattr__(self, name):
        return getattr(self._namespace, name)

    def __getitem__(self, key):
        return self._namespace[key]


def _vocabulary_terms() -> list:
    """Every term of OWL, RDF and RDFS as owlrl's rules name them (see `_ResolvedNamespace`)."""
    return [term for namespace in (OWL, RDF, RDFS)
            for term in vars(_ResolvedNamespace(namespace)).values() if isinstance(term, URIRef)]


@contextmanager
def _resolved_vocabulary():
    """owlrl's OWL/RDF/RDFS module globals replaced by `_ResolvedNamespace`s while it runs."""
    import owlrl.Closure
    import owlrl.OWLRL

    saved = []
    for module in (owlrl.OWLRL, owlrl.Closure):
        for name in ("OWL", "RDF", "RDFS"):
            namespace = getattr(module, name, None)
            if namespace is not None and not isinstance(namespace, _ResolvedNamespace):
                saved.append((module, name, namespace))
                setattr(module, name, _ResolvedNamespace(namespace))
    try:
        yield
    finally:
        for module, name, namespace in saved:
            setattr(module, name, namespace)


def infer(asserted: Graph, ontology: Graph, entity_prefix: str, *, resolve_vocabulary: bool = True) -> set:
    """Triples entailed by OWL-RL that are not asserted, pruned (see module doc)."""
    closure = _IndexedGraph(_vocabulary_terms())
    # Only premises that can lead to a kept conclusion go in: owlrl is pure Python and
    # its time grows with every triple, and labels, comments and quotes entail nothing
    # we keep. Links to Wikidata/GeoNames are for consumers, not premises: reasoning
    # with owl:sameAs would copy every fact onto the external IRIs.
    for triple in ontology:
        if not isinstance(triple[2], Literal):
            closure.add(triple)
    for triple in asserted:
        if _premise(*triple):
            closure.add(triple)
    with _resolved_vocabulary() if resolve_vocabulary else nullcontext():
        owlrl.DeductiveClosure(owlrl.OWLRL_Semantics, rdfs_closure=False, axiomatic_triples=False,
                               datatype_axioms=False).expand(closure)
    kept = set()
    for s, p, o in closure:
        if (s, p, o) in asserted or (s, p, o) in ontology:
            continue
        if not (isinstance(s, URIRef) and str(s).startswith(entity_prefix)) or s == o:
            continue
        if isinstance(o, Literal) and not str(p).startswith(str(SCHEMA_HTTP)):
            continue
        if p == RDF.type:
            if o in _DROP_TYPES or not isinstance(o, URIRef):
                continue
        elif not (str(p).startswith(str(BJKG)) or p in _KEEP_PREDICATES):
            continue
        kept.add((s, p, o))
    return kept
