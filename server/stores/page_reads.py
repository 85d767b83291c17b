"""Entity-page reads answered straight from the served pyoxigraph store's indexes.

An entity page needs a dozen small reads — the resource's outbound triples, its
assertions, inbound links per predicate, its observations, its divisions and the labels of
everything it links to. Asked as SPARQL, each read costs the engine's parse, plan and
materialisation (≈ 0.5–10 ms), which was most of a page's time. Each of them is in fact
a lookup by key, which the store's own indexes answer through `Store.quads_for_pattern`
in microseconds (a subject's 30 quads ≈ 140 µs, a label ≈ 18 µs at 1M triples) — with no
second copy of the data and nothing to prepare.

`IndexSource` answers the same reads as `bjkg.server.pages.describe.QuerySource` with rows of the
same shape (variable name → pyoxigraph term) and labels as IRI → (text, language tag)
pairs, so the description code is shared and the two give the same description
(tests/server/test_page_data.py compares them for every resource of a build). Semantics
kept from the queries:

* the queries' default graph is the union of all graphs, while `quads_for_pattern(...,
  None)` yields one quad per graph holding a triple: reads whose query was DISTINCT (or
  counted DISTINCT) drop those repeats; `outbound` keeps one row per graph, since the
  page shows where a triple comes from (asserted or inferred);
* rows whose order the query left to the engine come in a fixed order here (subjects by
  IRI, objects by `term_key`), so a page never depends on index order.

Only a local, read-only `pyoxigraph.Store` can be read this way (`BuildStore.local_store`);
the writable `--empty` store and a remote store keep `QuerySource`.
"""
from __future__ import annotations

import heapq
from collections.abc import Iterable

from pyoxigraph import BlankNode, Literal, NamedNode

from bjkg.server.core import vocab as V

RDF_SUBJECT = NamedNode(V.RDF + "subject")
RDF_PREDICATE = V.RDF + "predicate"
RDF_OBJECT = V.RDF + "object"
RDF_TYPE = NamedNode(V.RDF_TYPE)
DERIVED_FROM = V.PROV + "wasDerivedFrom"
QUOTE = V.BJKG + "quote"
RDFS_LABEL = NamedNode(V.RDFS_LABEL)
SKOS_PREF = NamedNode(V.SKOS_PREF)
OBSERVATION = NamedNode(V.QB + "Observation")
START_DATE = NamedNode(V.SCHEMA + "startDate")
_XSD_STRING = V.XSD + "string"

# Observation columns of `bjkg.server.pages.describe._OBSERVATIONS_QUERY`: variable → predicate.
OBSERVATION_COLUMNS = {
    "indicator": V.BJKG + "indicator", "value": V.SDMX_MEASURE + "obsValue",
    "unit": V.SDMX_ATTR + "unitMeasure", "status": V.BJKG + "status",
    "qualifier": V.BJKG + "qualifier", "period": V.SDMX_DIM + "refPeriod",
    "area": V.SDMX_DIM + "refArea", "quote": QUOTE, "statedAs": V.BJKG + "statedAs",
    "doc": DERIVED_FROM, "min": V.SCHEMA + "minValue", "max": V.SCHEMA + "maxValue",
}


def term_key(term) -> str:
    """A term as one sortable string (I<iri>, B<id>, S<text>, L<lang>@<text>, T<dt> <text>):
    the fixed order of objects that several rows or values share."""
    if isinstance(term, NamedNode):
        return "I" + term.value
    if isinstance(term, BlankNode):
        return "B" + term.value
    if isinstance(term, Literal):
        if term.language:
            return "L" + term.language + "@" + term.value
        if term.datatype.value == _XSD_STRING:
            return "S" + term.value
        return "T" + term.datatype.value + " " + term.value
    return "Z" + str(term)  # quoted triples: not in a bjkg build


class IndexSource:
    """The reads of an entity page, answered from a read-only pyoxigraph Store's indexes.

    Each method mirrors one query of `bjkg.server.pages.describe.QuerySource` (same variables, union
    of all graphs). The store is only read, so one object serves every thread.
    """

    def __init__(self, store, labels=None) -> None:
        self.store = store
        self.labels = labels  # a bjkg.server.stores.label_table.LabelTable of this store, or None
        self._read: dict[tuple, list] = {}

    def _quads(self, s=None, p=None, o=None) -> list:
        """Quads of the pattern in every graph, the default graph included. A page asks
        some patterns several times (the node's inbound links: for the labels of their
        predicates, for the counts); each is read once per IndexSource, i.e. per page.

        A pattern with a predicate is taken from the term's quads when those were read
        already (the node's outbound and inbound quads, which a page always reads):
        decoding a quad costs ≈5 µs (its terms are looked up in the store), filtering one a
        fraction of that."""
        key = (s, p, o)
        found = self._read.get(key)
        if found is None:
            wider = None
            if p is not None:
                wider = self._read.get((s, None, None)) if s is not None else None
                if wider is None and o is not None:
                    wider = self._read.get((None, None, o))
            if wider is None:
                found = list(self.store.quads_for_pattern(s, p, o, None))
            else:
                found = [q for q in wider if q.predicate == p and (s is None or q.subject == s)
                         and (o is None or q.object == o)]
            self._read[key] = found
        return found

    def _iri_subjects(self, p, o) -> set[str]:
        """Distinct IRI subjects of (?, p, o) in any graph (the queries' FILTER(isIRI))."""
        return {q.subject.value for q in self._quads(None, p, o) if isinstance(q.subject, NamedNode)}

    # -- outbound and labels

    def outbound(self, node: NamedNode) -> list[dict]:
        """`_OUTBOUND_QUERY`: every quad with the node as subject, one row per graph, with
        its graph ("g" absent for the default graph)."""
        out = []
        for quad in self._quads(node):
            row = {"s": node, "p": quad.predicate, "o": quad.object}
            if isinstance(quad.graph_name, (NamedNode, BlankNode)):
                row["g"] = quad.graph_name
            out.append(row)
        return out

    def labels_of(self, iris: Iterable[str], *, pref: bool) -> dict[str, tuple[tuple[str, str], ...]]:
        """IRI → its rdfs:label (and skos:prefLabel when `pref`) literals as (text, language
        tag) pairs, each once however many graphs hold it (the queries were DISTINCT); IRIs
        without a label are left out. Plain pairs rather than query-shaped rows, since a
        page labels a hundred IRIs and the Linker keeps pairs (`add_label_sets`)."""
        if self.labels is not None:
            return {iri: found for iri in set(iris) if (found := self.labels.labels(iri, pref=pref))}
        predicates = (RDFS_LABEL, SKOS_PREF) if pref else (RDFS_LABEL,)
        quads = self.store.quads_for_pattern
        out = {}
        for iri in set(iris):
            node = NamedNode(iri)
            found = {(q.object.value, q.object.language or ""): None for predicate in predicates
                     for q in quads(node, predicate, None, None) if isinstance(q.object, Literal)}
            if found:
                out[iri] = tuple(found)
        return out

    def neighbour_labels(self, node: NamedNode, outbound: list[dict]) -> dict[str, tuple]:
        """`_NEIGHBOUR_LABELS_QUERY`: labels of the node's objects and predicates, of the
        predicates linking to it, and of its assertions and their documents."""
        iris = {row["p"].value for row in outbound}
        iris.update(row["o"].value for row in outbound if isinstance(row["o"], NamedNode))
        iris.update(q.predicate.value for q in self._quads(None, None, node))
        assertions = self._assertion_iris(node)
        iris.update(assertions)
        for a in assertions:
            iris.update(o.value for o in self._distinct_objects(NamedNode(a), DERIVED_FROM)
                        if isinstance(o, NamedNode))
        return self.labels_of(iris, pref=True)

    # -- assertions

    def _assertion_iris(self, node: NamedNode) -> list[str]:
        """The IRI assertions (reified statements) about the node, in IRI order."""
        return sorted(self._iri_subjects(RDF_SUBJECT, node))

    def assertions(self, node: NamedNode) -> list[dict]:
        """`_ASSERTIONS_QUERY`: one row per assertion about the node × predicate × object ×
        document × quote (the optional ones absent when the assertion has none)."""
        wanted = (RDF_PREDICATE, RDF_OBJECT, DERIVED_FROM, QUOTE)
        out = []
        for a in self._assertion_iris(node):
            # Four narrow reads rather than all of its quads: half of those are its types and
            # its subject, and decoding a quad costs more than seeking one.
            subject = NamedNode(a)
            got = {p: self._distinct_objects(subject, p) for p in wanted}
            for p in got[RDF_PREDICATE]:
                for o in got[RDF_OBJECT]:
                    for doc in got[DERIVED_FROM] or [None]:
                        for quote in got[QUOTE] or [None]:
                            row = {"s": node, "a": subject, "p": p, "o": o}
                            if doc is not None:
                                row["doc"] = doc
                            if quote is not None:
                                row["quote"] = quote
                            out.append(row)
        return out

    def _distinct_objects(self, subject, predicate: str) -> list:
        """The objects of (subject, predicate) in any graph, each once, by `term_key`."""
        found = {term_key(q.object): q.object for q in self._quads(subject, NamedNode(predicate))}
        return [found[k] for k in sorted(found)]

    # -- inbound

    def _inbound_groups(self, node: NamedNode) -> dict[str, set[str]]:
        """predicate IRI → the distinct IRI subjects linking to the node by it, from one
        read of all the node's inbound quads (which the counts need anyway), once per page."""
        key = ("inbound", node)
        groups = self._read.get(key)
        if groups is None:
            groups = {}
            for q in self._quads(None, None, node):
                if isinstance(q.subject, NamedNode):
                    groups.setdefault(q.predicate.value, set()).add(q.subject.value)
            self._read[key] = groups
        return groups

    def inbound_counts(self, node: NamedNode) -> dict[str, int]:
        """`_INBOUND_COUNTS_QUERY`: distinct IRI subjects linking to the node, per predicate."""
        return {p: len(subjects) for p, subjects in self._inbound_groups(node).items()}

    def inbound_subjects(self, node: NamedNode, predicate: str, limit: int) -> list[str]:
        """The first `limit` distinct IRI subjects linking by `predicate`, in IRI order (the
        index is not in IRI order, so the whole group is read)."""
        return heapq.nsmallest(limit, self._inbound_groups(node).get(predicate, ()))

    # -- observations

    def observations(self, node: NamedNode, links: Iterable[str],
                     limit: int) -> tuple[list[dict], list[str], list[str]]:
        """(rows, every linked observation's IRI, IRIs to label) of the observations linked
        to the node by `links`: the first `limit` observations in IRI order, one row each
        (the smallest value, by `term_key`, of a property that has several), shaped like
        `_OBSERVATIONS_QUERY`'s."""
        linked: set[str] = set()
        for link in links:
            linked |= self._iri_subjects(NamedNode(link), node)
        names = sorted(s for s in linked if self._has_quad(NamedNode(s), RDF_TYPE, OBSERVATION))
        chosen = names[:limit]
        columns = {p: var for var, p in OBSERVATION_COLUMNS.items()}
        label_iris = set(chosen)
        rows = []
        for obs in chosen:
            subject = NamedNode(obs)
            best: dict[str, tuple[str, object]] = {}
            for quad in self._quads(subject):
                obj = quad.object
                if isinstance(obj, NamedNode):
                    label_iris.add(obj.value)
                var = columns.get(quad.predicate.value)
                if var is not None:
                    key = term_key(obj)
                    if var not in best or key < best[var][0]:
                        best[var] = (key, obj)
            row = {"focus": node, "obs": subject}
            for var in OBSERVATION_COLUMNS:  # the query's column order
                if var in best:
                    row[var] = best[var][1]
            period = row.get("period")
            if isinstance(period, NamedNode):
                starts = self._distinct_objects(period, START_DATE.value)
                if starts:
                    row["start"] = starts[0]
            rows.append(row)
        return rows, names, sorted(label_iris)

    def _has_quad(self, s, p, o) -> bool:
        """True when the triple is in any graph."""
        return next(iter(self.store.quads_for_pattern(s, p, o, None)), None) is not None

    # -- divisions

    def objects(self, subjects: Iterable[str], predicate: str) -> dict[str, list]:
        """subject IRI → its distinct objects by `predicate` (terms, by `term_key`);
        subjects without any are left out."""
        out: dict[str, list] = {}
        for s in sorted(set(subjects)):
            found = self._distinct_objects(NamedNode(s), predicate)
            if found:
                out[s] = found
        return out

    def subjects(self, obj: str, predicate: str) -> list[str]:
        """IRIs with `predicate` `obj` (IRI), in IRI order."""
        return sorted(self._iri_subjects(NamedNode(predicate), NamedNode(obj)))

    def graphs_of(self, subject: str, predicate: str, obj: str) -> list[str]:
        """Named graphs holding the triple (subject, predicate, IRI obj), in IRI order."""
        return sorted(q.graph_name.value for q in
                      self._quads(NamedNode(subject), NamedNode(predicate), NamedNode(obj))
                      if isinstance(q.graph_name, NamedNode))
