"""One description of one resource: the dict every rendering of an entity page comes from.

`describe()` reads the store through bound terms only (pattern lookups and fixed query
texts with `substitutions`), never SPARQL pieced together from the request. It returns a
plain, JSON-ready dict: the `.json` twin is that dict, the HTML page formats it, and the RDF
renderings serialise `description_triples()` of the same resource. Nothing here touches the
request; the view passes in the language and paging it parsed.

Provenance follows docs/model.md: a triple stated by a source lives in that source's named
graph; a `bjkg:Assertion` (rdf:subject/predicate/object) carries its own quote and
document; a bare relation in a record is evidenced by the entity's own `bjkg:quote` in the
same graph; `graph/inferred` marks what a reasoner derived.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from urllib.parse import quote

from pyoxigraph import BlankNode, Literal, NamedNode, Triple

from bjkg.server.pages import i18n
from bjkg.server.core import vocab
from bjkg.server.pages.catalog import property_partition
from bjkg.server.pages.chart import build_charts
from bjkg.server.pages.divisions import (LISTED_DIVISION, division_facts, division_rows,
                              indexed_division_rows)
from bjkg.server.pages.equivalence import Alignments, merge_inbound, merge_properties
from bjkg.server.pages.labels import best_for, canonical_lang as _canonical_lang, group_labels, local_name
from bjkg.server.pages.numbers import humanize, to_decimal
from bjkg.server.pages.overview import is_document, label_rows, read_document
from bjkg.server.sparql.evaluate import QueryFailed

V = vocab
# Pure functions of a few hundred distinct tags and IRIs, called for every label and link of
# a page (hundreds of times per request): remembered per process.
canonical_lang = lru_cache(maxsize=256)(_canonical_lang)
_compact = lru_cache(maxsize=8192)(vocab.compact)
INBOUND_PAGE_SIZE = 20
OBSERVATION_LIMIT = 200

# The one table of property order on entity pages (pyLODE's idea): names and evidence first,
# then structure, then links, then identifiers. Predicates not listed follow, by name.
PROPERTY_ORDER: tuple[str, ...] = (
    V.RDFS_LABEL, V.SKOS_PREF, V.SKOS_ALT, V.RDFS + "comment", V.DCTERMS + "title",
    V.DCTERMS + "description", V.SKOS + "definition",
    V.BJKG + "quote", V.PROV + "wasDerivedFrom", V.BJKG + "statedAs",
    # observations
    V.BJKG + "indicator", V.SDMX_MEASURE + "obsValue", V.SDMX_ATTR + "unitMeasure",
    V.BJKG + "qualifier", V.SCHEMA + "minValue", V.SCHEMA + "maxValue", V.BJKG + "status",
    V.SDMX_DIM + "refArea", V.SDMX_DIM + "refPeriod", V.BJKG + "aboutInitiative",
    V.BJKG + "aboutPlace", V.BJKG + "aboutAgency", V.QB + "dataSet",
    # initiatives
    V.BJKG + "partOf", V.BJKG + "hasPart", V.BJKG + "year", V.BJKG + "ordinal",
    V.BJKG + "involvesPlace", V.BJKG + "involvesAgency", V.BJKG + "leadAgency",
    V.BJKG + "hasTheme", V.BJKG + "proposedBy",
    # places, agencies, people, posts
    V.BJKG + "within", V.BJKG + "contains", V.GEO + "sfWithin", V.BJKG + "divisionLevel",
    V.GEO + "hasGeometry", V.GEO + "asWKT", V.SCHEMA + "longitude", V.SCHEMA + "latitude",
    V.BJKG + "locatedIn", V.ORG + "subOrganizationOf",
    V.ORG + "hasSubOrganization", V.BJKG + "cooperatesWith", V.ORG + "holds", V.ORG + "heldBy",
    V.ORG + "postIn", V.ORG + "hasPost", V.ORG + "member", V.BJKG + "post",
    V.ORG + "organization", V.BJKG + "attestedOn",
    # documents, reports, meetings
    V.BJKG + "about", V.SCHEMA + "publisher", V.SCHEMA + "author", V.SCHEMA + "datePublished",
    V.BJKG + "dateNote", V.BJKG + "genre", V.BJKG + "script", V.BJKG + "sourceFile", V.BJKG + "quotesVerified",
    V.SCHEMA + "sha256", V.BJKG + "deliveredAt", V.BJKG + "deliveredBy", V.BJKG + "organizer",
    V.BJKG + "location", V.SCHEMA + "startDate", V.SCHEMA + "endDate",
    # concepts and terms
    V.SKOS + "broader", V.SKOS + "narrower", V.SKOS + "inScheme", V.RDFS + "subClassOf",
    V.RDFS + "subPropertyOf", V.RDFS + "domain", V.RDFS + "range", V.OWL + "inverseOf",
    # identifiers
    V.SKOS + "notation", V.OWL + "sameAs", V.SKOS + "exactMatch", V.SKOS + "closeMatch",
    V.BJKG + "note",
)
_ORDER_INDEX = {iri: i for i, iri in enumerate(PROPERTY_ORDER)}

# Assertion bookkeeping pointing at a resource is shown as provenance, not as inbound links.
_INBOUND_HIDDEN = {V.RDF + "subject", V.RDF + "object"}
# Links from observations are shown in the observations table instead.
OBSERVATION_LINKS = (V.SDMX_DIM + "refArea", V.BJKG + "aboutPlace", V.BJKG + "aboutInitiative",
                     V.BJKG + "aboutAgency", V.BJKG + "indicator")
OBSERVATION_KINDS = ("place", "initiative", "agency", "indicator")

_OBSERVATIONS_QUERY = """
PREFIX bjkg: <https://w3id.org/bjkg/ontology#>
PREFIX qb: <http://purl.org/linked-data/cube#>
PREFIX sdmx-dimension: <http://purl.org/linked-data/sdmx/2009/dimension#>
PREFIX sdmx-measure: <http://purl.org/linked-data/sdmx/2009/measure#>
PREFIX sdmx-attribute: <http://purl.org/linked-data/sdmx/2009/attribute#>
PREFIX schema: <https://schema.org/>
PREFIX prov: <http://www.w3.org/ns/prov#>
SELECT DISTINCT ?focus ?obs ?indicator ?value ?unit ?status ?qualifier ?period ?start ?area
                ?quote ?statedAs ?doc ?min ?max WHERE {
  VALUES ?link { sdmx-dimension:refArea bjkg:aboutPlace bjkg:aboutInitiative bjkg:aboutAgency
                 bjkg:indicator }
  ?obs ?link ?focus ; a qb:Observation .
  OPTIONAL { ?obs bjkg:indicator ?indicator }
  OPTIONAL { ?obs sdmx-measure:obsValue ?value }
  OPTIONAL { ?obs sdmx-attribute:unitMeasure ?unit }
  OPTIONAL { ?obs bjkg:status ?status }
  OPTIONAL { ?obs bjkg:qualifier ?qualifier }
  OPTIONAL { ?obs sdmx-dimension:refPeriod ?period OPTIONAL { ?period schema:startDate ?start } }
  OPTIONAL { ?obs sdmx-dimension:refArea ?area }
  OPTIONAL { ?obs bjkg:quote ?quote }
  OPTIONAL { ?obs bjkg:statedAs ?statedAs }
  OPTIONAL { ?obs prov:wasDerivedFrom ?doc }
  OPTIONAL { ?obs schema:minValue ?min }
  OPTIONAL { ?obs schema:maxValue ?max }
}
"""


# --------------------------------------------------------------------------- store access

_OUTBOUND_QUERY = """
SELECT ?s ?p ?o ?g WHERE { { GRAPH ?g { ?s ?p ?o } } UNION { ?s ?p ?o } }
"""

# Labels of everything one hop from ?s (objects, predicates, inbound predicates, the
# documents of its assertions), fetched in one query instead of one per link.
_NEIGHBOUR_LABELS_QUERY = """
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#>
PREFIX prov: <http://www.w3.org/ns/prov#>
SELECT DISTINCT ?s ?x ?l WHERE {
  { ?s ?x ?any } UNION { ?s ?any ?x } UNION { ?any ?x ?s }
  UNION { ?a rdf:subject ?s ; prov:wasDerivedFrom ?x }
  UNION { ?a rdf:subject ?s . BIND(?a AS ?x) }
  ?x rdfs:label|skos:prefLabel ?l .
}
"""

_ASSERTIONS_QUERY = """
PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#>
PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX bjkg: <https://w3id.org/bjkg/ontology#>
SELECT ?s ?a ?p ?o ?doc ?quote WHERE {
  ?a rdf:subject ?s ; rdf:predicate ?p ; rdf:object ?o .
  OPTIONAL { ?a prov:wasDerivedFrom ?doc }
  OPTIONAL { ?a bjkg:quote ?quote }
}
"""

_INBOUND_COUNTS_QUERY = """
SELECT ?s ?p (COUNT(DISTINCT ?x) AS ?n) WHERE { ?x ?p ?s FILTER(isIRI(?x)) } GROUP BY ?s ?p
"""

# An inbound group's subjects are read unsorted and sorted here: pyoxigraph's ORDER BY on
# IRIs took 0.7 s for a class's 18,589 instances at 1M triples (1.6 s for 42,137), every
# page; reading them all and sorting in Python takes 0.09 s (0.15 s). Past
# _SORTED_HERE_UP_TO subjects the store sorts, and only as many as the page needs.
_INBOUND_SUBJECTS_QUERY = "SELECT DISTINCT ?x WHERE { ?x ?p ?s FILTER(isIRI(?x)) }"
_INBOUND_SUBJECTS_SORTED_QUERY = _INBOUND_SUBJECTS_QUERY + " ORDER BY ?x"
_SORTED_HERE_UP_TO = 200_000
_LABEL_ROWS_PER_SUBJECT = 8

_OBSERVATION_IRIS_QUERY = """
PREFIX bjkg: <https://w3id.org/bjkg/ontology#>
PREFIX qb: <http://purl.org/linked-data/cube#>
PREFIX sdmx-dimension: <http://purl.org/linked-data/sdmx/2009/dimension#>
SELECT DISTINCT ?obs WHERE {
  VALUES ?link { sdmx-dimension:refArea bjkg:aboutPlace bjkg:aboutInitiative bjkg:aboutAgency
                 bjkg:indicator }
  ?obs ?link ?focus ; a qb:Observation .
}
"""

_OBSERVATION_LABELS_QUERY = """
PREFIX bjkg: <https://w3id.org/bjkg/ontology#>
PREFIX qb: <http://purl.org/linked-data/cube#>
PREFIX sdmx-dimension: <http://purl.org/linked-data/sdmx/2009/dimension#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
SELECT DISTINCT ?focus ?x ?l WHERE {
  VALUES ?link { sdmx-dimension:refArea bjkg:aboutPlace bjkg:aboutInitiative bjkg:aboutAgency
                 bjkg:indicator }
  ?obs ?link ?focus ; a qb:Observation .
  { ?obs ?q ?x } UNION { ?obs a qb:Observation BIND(?obs AS ?x) }
  ?x rdfs:label ?l .
}
"""


def select(store, text: str, *, max_rows: int | None = None, use_union: bool = True,
           **bound) -> list[dict]:
    """Rows of a fixed SELECT with variables bound to terms (the store's `substitutions`).

    Every row, whatever the operator's MAX_ROWS (which bounds what clients may ask, not the
    server's own reads); `max_rows` asks for the first rows only, by a LIMIT in the query,
    where a page shows a first part and says how many there are in all."""
    if max_rows is not None:
        text = f"{text}\nLIMIT {int(max_rows)}"
    answer = store.query(text, substitutions=bound, max_rows=0, use_union=use_union)
    return answer.bindings()


def exists(store, iri: str) -> bool:
    """True when the IRI occurs as a subject or an object anywhere in the store."""
    rows = select(store, "SELECT ?s ?x WHERE { { ?s ?p ?x } UNION { ?x ?p ?s } }",
                  max_rows=1, s=NamedNode(iri))
    return bool(rows)


# IRI → its labels as (text, language tag) pairs: what every read of labels gives the Linker.
Labels = Mapping[str, Iterable[tuple[str, str]]]


def label_sets(rows: Iterable[dict], subject: str = "x", label: str = "l") -> dict[str, list]:
    """Query rows binding `subject` to an IRI and `label` to a literal, as `Labels`."""
    out: dict[str, list] = {}
    for row in rows:
        node, text = row.get(subject), row.get(label)
        if isinstance(node, NamedNode) and isinstance(text, Literal):
            out.setdefault(node.value, []).append((text.value, text.language or ""))
    return out


# --------------------------------------------------------------------------- sources

class QuerySource:
    """The reads of an entity page as fixed SPARQL queries with bound terms: any backend
    (the embedded store, a remote store). `bjkg.server.stores.page_reads.IndexSource` answers the
    same reads from a local store's indexes, without SPARQL."""

    def __init__(self, store) -> None:
        self.store = store

    def outbound(self, node: NamedNode) -> list[dict]:
        return select(self.store, _OUTBOUND_QUERY, use_union=False, s=node)

    def neighbour_labels(self, node: NamedNode, outbound: list[dict]) -> Labels:
        return label_sets(select(self.store, _NEIGHBOUR_LABELS_QUERY, s=node))

    def assertions(self, node: NamedNode) -> list[dict]:
        return select(self.store, _ASSERTIONS_QUERY, s=node)

    def inbound_counts(self, node: NamedNode) -> dict[str, int]:
        return inbound_counts(self.store, node)

    def inbound_group(self, node: NamedNode, predicate: str, subjects: int,
                      skip: int = 0) -> tuple[list[str], Labels]:
        """(the first `subjects` subjects linking by `predicate`, in IRI order; the labels of
        those after the first `skip`)."""
        bound = {"s": node, "p": NamedNode(predicate)}
        rows = select(self.store, _INBOUND_SUBJECTS_QUERY, max_rows=_SORTED_HERE_UP_TO + 1, **bound)
        if len(rows) <= _SORTED_HERE_UP_TO:
            found = sorted(row["x"].value for row in rows)[:subjects]
        else:
            found = [row["x"].value for row in
                     select(self.store, _INBOUND_SUBJECTS_SORTED_QUERY, max_rows=subjects, **bound)]
        labels: dict[str, list] = {}
        for rows in label_rows(select, self.store, found[skip:]):
            labels.update(label_sets(rows))
        return found, labels

    def small_inbound_groups(self, node: NamedNode, predicates: list[str],
                             subjects: int) -> tuple[dict[str, list[str]], Labels]:
        """({predicate: its subjects}, their labels) for several small groups, from one query
        of at most `subjects` subjects (a group it cuts short has fewer than its count)."""
        values = " ".join(str(NamedNode(p)) for p in predicates)  # validated terms, N-Triples syntax
        text = ("PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n"
                "SELECT ?s ?p ?x ?l WHERE { VALUES ?p { " + values + " }\n"
                "  ?x ?p ?s FILTER(isIRI(?x)) OPTIONAL { ?x rdfs:label ?l } }")
        rows = select(self.store, text, s=node, max_rows=subjects * _LABEL_ROWS_PER_SUBJECT)
        found: dict[str, dict[str, None]] = {}
        for row in rows:
            found.setdefault(row["p"].value, {})[row["x"].value] = None
        return {p: list(xs) for p, xs in found.items()}, label_sets(rows)

    def observations(self, node: NamedNode,
                     rows: int | None = None) -> tuple[list[dict], list[str], Labels]:
        """(one row per observation, at most `rows` (OBSERVATION_LIMIT); every linked
        observation's IRI; labels of the rows). `rows=0` reads the IRIs alone."""
        rows = OBSERVATION_LIMIT if rows is None else rows
        if rows <= 0:
            return [], [r["obs"].value for r in select(self.store, _OBSERVATION_IRIS_QUERY, focus=node)], {}
        first_row: dict[str, dict] = {}
        for row in select(self.store, _OBSERVATIONS_QUERY, focus=node):
            first_row.setdefault(row["obs"].value, row)
        labels = label_sets(select(self.store, _OBSERVATION_LABELS_QUERY, focus=node))
        return list(first_row.values())[:rows], list(first_row), labels

    def divisions(self, node: NamedNode) -> tuple[list[dict], Labels]:
        rows, labels = division_rows(select, self.store, node)
        return rows, label_sets(labels)


class IndexPages:
    """`bjkg.server.stores.page_reads.IndexSource` with the shapes `describe` expects."""

    def __init__(self, data) -> None:
        self.data = data
        self.outbound = data.outbound
        self.neighbour_labels = data.neighbour_labels
        self.assertions = data.assertions
        self.inbound_counts = data.inbound_counts

    def inbound_group(self, node: NamedNode, predicate: str, subjects: int,
                      skip: int = 0) -> tuple[list[str], Labels]:
        found = self.data.inbound_subjects(node, predicate, subjects)
        return found, self.data.labels_of(found[skip:], pref=False)

    def small_inbound_groups(self, node: NamedNode, predicates: list[str],
                             subjects: int) -> tuple[dict[str, list[str]], Labels]:
        found = {p: self.data.inbound_subjects(node, p, subjects) for p in predicates}
        return found, self.data.labels_of({s for group in found.values() for s in group}, pref=False)

    def observations(self, node: NamedNode,
                     rows: int | None = None) -> tuple[list[dict], list[str], Labels]:
        rows = OBSERVATION_LIMIT if rows is None else rows
        chosen, linked, iris = self.data.observations(node, OBSERVATION_LINKS, max(0, rows))
        return chosen, linked, self.data.labels_of(iris, pref=False) if iris else {}

    def divisions(self, node: NamedNode) -> tuple[list[dict], Labels]:
        return indexed_division_rows(self.data, node)


# --------------------------------------------------------------------------- linking

@lru_cache(maxsize=4096)
def _resource_href(iri: str) -> str:
    """/resource?iri=…: remembered, since the vocabulary's IRIs recur on every page and
    percent-encoding them was a few per cent of a page's time."""
    return "/resource?iri=" + quote(iri, safe="")


def has_dot_segment(path: str) -> bool:
    """Whether a path has a `.` or `..` segment: a browser resolves it before asking
    (`/graph/x/../../id/place/evil` is fetched as `/id/place/evil`), so such an IRI cannot
    be linked by its own path and is named in /resource?iri= instead."""
    return "." in path and any(segment in (".", "..") for segment in path.split("/"))


@dataclass
class Linker:
    """Turns IRIs into hrefs on this host and labels in the reader's language.

    Labels are loaded in bulk (`add_label_sets`, or `add_labels` from query rows) by the
    few reads that describe a resource; an IRI without a loaded label reads as its built-in
    name (`bjkg.server.pages.i18n`), its compact name (`bjkg:partOf`) or its last segment, never as a
    bare IRI.
    """

    base: str
    lang: str
    # (text, language tag as the store gives it) pairs per IRI, each once; tags are
    # canonicalised only for what is shown (`labels`), not for every label loaded.
    _labels: dict[str, dict[tuple[str, str], None]] = field(default_factory=dict)
    _shown: dict[str, str] = field(default_factory=dict)  # label() per IRI

    def href(self, iri: str) -> str:
        """Local path for IRIs under the base (`/id/…`, `/graph/…`, `/ontology#Term`), else /resource."""
        if iri.startswith(self.base):
            rest = iri[len(self.base):]
            if (rest.startswith(("id/", "graph/"))
                    and "#" not in rest and "?" not in rest and "%" not in rest
                    and not has_dot_segment(rest)):
                return "/" + rest
            if rest == "ontology" or rest.startswith("ontology#"):
                return "/" + rest
        return _resource_href(iri)

    def add_labels(self, rows: Iterable[dict], subject: str = "x", label: str = "l") -> None:
        """Remember labels from query rows binding `subject` to an IRI and `label` to a literal."""
        self.add_label_sets(label_sets(rows, subject, label))

    def add_label_sets(self, labels: Mapping[str, Iterable[tuple[str, str]]]) -> None:
        """Remember labels given as IRI → (text, language tag) pairs (`label_sets`,
        `bjkg.server.stores.page_reads.IndexSource.labels_of`)."""
        known, shown = self._labels, self._shown
        for iri, found in labels.items():
            pairs = known.setdefault(iri, {})
            for pair in found:
                if pair not in pairs:
                    pairs[pair] = None
                    shown.pop(iri, None)

    def labels(self, iri: str) -> dict[str, list[str]]:
        """Every loaded label of the resource as {language: [texts]}."""
        return group_labels(self._labels.get(iri, ()))

    def label(self, iri: str) -> str:
        """The label to show: chosen language with fallback, else a built-in or compact name."""
        shown = self._shown.get(iri)
        if shown is None:
            shown = best_for(self._labels.get(iri, ()), self.lang)
            if shown is None:
                shown = i18n.term_label(iri, self.lang) or _compact(iri) or local_name(iri)
            self._shown[iri] = shown
        return shown

    def link(self, iri: str) -> dict:
        """An IRI as {type, iri, href, label, curie} for templates and the JSON twin."""
        return {"type": "iri", "iri": iri, "href": self.href(iri), "label": self.label(iri),
                "curie": _compact(iri)}

    def term(self, node) -> dict:
        """Any RDF term as a JSON-ready dict."""
        if isinstance(node, NamedNode):
            return self.link(node.value)
        if isinstance(node, Literal):
            out = {"type": "literal", "value": node.value}
            if node.language:
                out["lang"] = canonical_lang(node.language)
            elif node.datatype.value != V.XSD + "string":
                out["datatype"] = node.datatype.value
                out["datatype_curie"] = _compact(node.datatype.value)
            return out
        if isinstance(node, BlankNode):
            return {"type": "bnode", "value": node.value}
        return {"type": "other", "value": str(node)}


# --------------------------------------------------------------------------- provenance

def graph_kind(base: str, graph: str) -> str:
    """'source', 'reference', 'ontology', 'inferred', 'external', 'links' or 'other' for a
    named graph IRI."""
    prefix = base + "graph/"
    if not graph.startswith(prefix):
        return "other"
    slug = graph[len(prefix):]
    if slug.startswith(("external/", "links/")):
        return slug.split("/", 1)[0]
    return slug if slug in ("reference", "ontology", "inferred") else "source"


def _key(term) -> str:
    """A hashable, printable identity for a term (N-Triples-like)."""
    return str(term)


def _assertions(source, linker: Linker, subject: NamedNode) -> dict[tuple[str, str], list[dict]]:
    """Evidence from the assertions about `subject`, keyed by (predicate IRI, object key)."""
    out: dict[tuple[str, str], list[dict]] = {}
    seen = set()
    for row in source.assertions(subject):
        key = (row["p"].value, _key(row["o"]))
        ident = (key, row["a"].value, _key(row.get("doc")), _key(row.get("quote")))
        if ident in seen:
            continue
        seen.add(ident)
        doc, quote_ = row.get("doc"), row.get("quote")
        out.setdefault(key, []).append({
            "document": linker.link(doc.value) if isinstance(doc, NamedNode) else None,
            "quote": quote_.value if isinstance(quote_, Literal) else None,
            "quote_lang": canonical_lang(quote_.language) if isinstance(quote_, Literal) else None,
            "assertion": linker.link(row["a"].value),
            "via": "assertion",
        })
    for evidence in out.values():  # a fixed order, whatever order the store answered in
        evidence.sort(key=_evidence_key)
    return out


def _evidence_key(item: dict) -> tuple:
    return ((item["document"] or {}).get("iri", ""), item["assertion"]["iri"], item["quote"] or "")


def _own_evidence(linker: Linker, rows: list[dict]) -> dict[str, dict]:
    """Per source graph, the entity's own quote and document (evidence for bare relations)."""
    out: dict[str, dict] = {}
    for row in rows:
        graph = row.get("g")
        if not isinstance(graph, NamedNode):
            continue
        entry = out.setdefault(graph.value, {"document": None, "quote": None, "quote_lang": None,
                                             "via": "record"})
        if row["p"].value == V.PROV + "wasDerivedFrom" and isinstance(row["o"], NamedNode):
            entry["document"] = linker.link(row["o"].value)
        elif row["p"].value == V.BJKG + "quote" and isinstance(row["o"], Literal):
            entry["quote"] = row["o"].value
            entry["quote_lang"] = canonical_lang(row["o"].language)
    return {g: e for g, e in out.items() if e["document"] or e["quote"]}


# --------------------------------------------------------------------------- sections

def _sort_predicates(iris: Iterable[str]) -> list[str]:
    """Predicates in table order, unknown ones after, by compact name."""
    return sorted(iris, key=lambda p: (_ORDER_INDEX.get(p, len(_ORDER_INDEX)), _compact(p) or p))


_NO_PROVENANCE = {V.RDFS_LABEL, V.SKOS_PREF, V.SKOS_ALT, V.BJKG + "quote", V.PROV + "wasDerivedFrom"}


def _outbound(source, linker: Linker, node: NamedNode, base: str,
              rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """(types, properties): every outbound triple grouped by predicate, with provenance."""
    by_pred: dict[str, dict[str, list[str]]] = {}  # predicate → object key → graphs ("" default)
    objects: dict[str, object] = {}
    # One link per named graph, shared by the values it holds (a page has a few graphs and
    # a hundred values).
    graph_links: dict[str, dict] = {}
    for row in rows:
        p, obj = row["p"].value, row["o"]
        key = _key(obj)
        objects[key] = obj
        graphs = by_pred.setdefault(p, {}).setdefault(key, [])
        graph = row["g"].value if isinstance(row.get("g"), NamedNode) else ""
        if graph not in graphs:
            graphs.append(graph)
            if graph and graph not in graph_links:
                graph_links[graph] = {"iri": graph, "kind": graph_kind(base, graph),
                                      "href": linker.href(graph)}

    def only_inferred(graphs: list[str]) -> bool:
        return all(g in graph_links and graph_links[g]["kind"] == "inferred" for g in graphs)

    assertions = _assertions(source, linker, node)
    own = _own_evidence(linker, rows)
    types = []
    for key, graphs in by_pred.pop(V.RDF_TYPE, {}).items():
        types.append({**linker.term(objects[key]), "inferred": only_inferred(graphs)})
    types.sort(key=lambda t: (t["inferred"], t.get("label", ""), t.get("iri", "")))

    by_pred.pop(V.RDFS_LABEL, None)  # shown as the description's "labels", in every language
    # where the quote stands in its document, a character offset: it orders the document's
    # reading view (pages/overview.py), which is where a reader sees it; the RDF twins keep it
    by_pred.pop(V.BJKG + "quoteOffset", None)
    properties = []
    for p in _sort_predicates(by_pred):
        values = []
        for key, graphs in by_pred[p].items():
            named = sorted(g for g in graphs if g)
            value = linker.term(objects[key])
            value["inferred"] = only_inferred(graphs)
            value["graphs"] = [graph_links[g] for g in named]
            if p in _NO_PROVENANCE:
                value["provenance"] = []
            else:
                value["provenance"] = assertions.get((p, key)) or [own[g] for g in named if g in own]
            values.append(value)
        values.sort(key=_value_sort_key)
        properties.append({"predicate": linker.link(p), "values": values})
    return types, properties


def _value_sort_key(value: dict) -> tuple:
    """Asserted before inferred, then by language and text; ties (two resources with the
    same label) by IRI, so the order never depends on the order the store answered in."""
    lang_rank = {"zh-Hans": 0, "zh-Hant": 1, "en": 2}.get(value.get("lang", ""), 3)
    return (value.get("inferred", False), lang_rank, value.get("label") or value.get("value") or "",
            value.get("iri") or "", value.get("datatype") or "")


def inbound_page(store, linker: Linker, node: NamedNode, predicate: str, total: int,
                 page: int, size: int | None = None, source=None) -> dict:
    """One page of the subjects linking to `node` by `predicate` (in IRI order), labelled.

    Also lists a class's instances (predicate rdf:type). The page is fetched with a row
    bound, never the whole group. `source`: where to read (default: queries on `store`).
    """
    size = size or INBOUND_PAGE_SIZE
    start = (page - 1) * size
    if start >= total:
        page, start = 1, 0
    subjects, labels = (source or QuerySource(store)).inbound_group(node, predicate, start + size + 1,
                                                                    skip=start)
    linker.add_label_sets(labels)
    items = sorted((linker.link(s) for s in subjects[start:start + size]),
                   key=lambda x: (x["label"], x["iri"]))
    return {"predicate": linker.link(predicate), "total": total, "page": page, "page_size": size,
            "items": items, "has_next": start + size < total, "has_prev": page > 1}


def inbound_counts(store, node: NamedNode) -> dict[str, int]:
    """How many distinct IRIs link to `node`, per predicate."""
    return {row["p"].value: int(row["n"].value) for row in select(store, _INBOUND_COUNTS_QUERY, s=node)}


def _inbound(source, linker: Linker, node: NamedNode, hidden: set[str], focus_predicate: str | None,
             page: int) -> list[dict]:
    """Inbound links grouped by predicate; each group shows one page of subjects, never all."""
    counts = {p: n for p, n in source.inbound_counts(node).items() if p not in hidden}
    # Groups that fit on one page are read together, in one query; larger ones page by page.
    small = [p for p, n in counts.items() if n <= INBOUND_PAGE_SIZE and p != focus_predicate]
    whole = _small_inbound_groups(source, linker, node, small, counts) if len(small) > 1 else {}
    return [whole.get(p) or inbound_page(None, linker, node, p, counts[p],
                                         page if p == focus_predicate else 1, source=source)
            for p in _sort_predicates(counts)]


def _small_inbound_groups(source, linker: Linker, node: NamedNode, predicates: list[str],
                          counts: dict[str, int]) -> dict[str, dict]:
    """The complete (single-page) inbound groups of `predicates`, from one read."""
    subjects, labels = source.small_inbound_groups(node, predicates,
                                                   sum(counts[p] for p in predicates) + 1)
    linker.add_label_sets(labels)
    out = {}
    for p in predicates:
        found = subjects.get(p, ())
        if len(found) != counts[p]:
            continue  # not what the count said (cut by the row bound): page it the usual way
        items = sorted((linker.link(x) for x in found), key=lambda x: (x["label"], x["iri"]))
        out[p] = {"predicate": linker.link(p), "total": counts[p], "page": 1,
                  "page_size": INBOUND_PAGE_SIZE, "items": items, "has_next": False, "has_prev": False}
    return out


def _observations(source, linker: Linker, node: NamedNode, lang: str) -> tuple[list[dict], list[str]]:
    """Observations linked to the focus (as area, place, initiative, agency or indicator):
    the rows shown, and every linked observation's IRI."""
    chosen, linked, labels = source.observations(node)
    linker.add_label_sets(labels)
    out = [_observation_row(linker, row, lang) for row in chosen]
    out.sort(key=lambda o: ((o["indicator"] or {}).get("label", ""), o["period_sort"],
                            o["status"] or "", o["iri"]))
    return out, linked


def _name_geometries(source, properties: list[dict]) -> None:
    """A geometry node reads as its WKT (`POINT(116.66 39.91)`), not as its IRI's compact
    name: the geometry is a point a reader can use, its IRI is bookkeeping."""
    for prop in properties:
        if prop["predicate"]["iri"] != V.GEO + "hasGeometry":
            continue
        for value in prop["values"]:
            if value.get("type") != "iri":
                continue
            for row in source.outbound(NamedNode(value["iri"])):
                if row["p"].value == V.GEO + "asWKT" and isinstance(row["o"], Literal):
                    value["label"] = row["o"].value
                    break


def _places_within(source, node: NamedNode) -> tuple[list[str], Labels]:
    """The places within `node` (bjkg:within, closed transitively in the inferred graph), in
    IRI order, with their labels; none for a place without any."""
    within = V.BJKG + "within"
    count = source.inbound_counts(node).get(within, 0)
    if not count:
        return [], {}
    places, labels = source.inbound_group(node, within, count)
    return sorted(places), labels


def _roll_up(source, linker: Linker, node: NamedNode, lang: str, observations: list[dict],
             own: list[str]) -> tuple[list[dict], int]:
    """A place's own observations and those of every place within it (the inferred graph
    holds the transitive closure of bjkg:within), each labelled with the place it is about.

    The figures about 城市副中心 are figures about 通州 too; a reader of 通州's page should
    not have to know that the sub-centre lies inside it to find them. Rows are read only
    while the page has room for them (OBSERVATION_LIMIT); past it, only each place's
    observation IRIs, for the total (distinct observations) and for which place a shown one
    is about — a province-sized place with thousands of places within stays a page, not
    seconds of reading rows nobody is shown."""
    for obs in observations:
        obs["place"] = linker.link(node.value)
    counted = set(own)
    places, labels = _places_within(source, node)
    if not places:
        return observations, len(counted)
    linker.add_label_sets(labels)
    by_iri = {o["iri"]: o for o in observations}
    # An observation linked to several of these places is about the most specific one: not
    # the page's place if another is named, else the one with the fewest figures of its own
    # (城市副中心 rather than 通州 for a figure about the sub-centre).
    about: dict[str, tuple[int, str]] = {}
    for place in places:
        room = OBSERVATION_LIMIT if len(observations) < OBSERVATION_LIMIT else 0
        chosen, linked, place_labels = source.observations(NamedNode(place), rows=room)
        linker.add_label_sets(place_labels)
        place_total = len(linked)
        counted.update(linked)
        for iri in linked:
            if about.get(iri, (place_total + 1, ""))[0] > place_total:
                about[iri] = (place_total, place)
        for row in chosen:
            iri = row["obs"].value
            if iri not in by_iri and len(observations) < OBSERVATION_LIMIT:
                obs = _observation_row(linker, row, lang)
                observations.append(obs)
                by_iri[iri] = obs
    for iri, (_, place) in about.items():
        if iri in by_iri:
            by_iri[iri]["place"] = linker.link(place)
    observations.sort(key=lambda o: ((o["indicator"] or {}).get("label", ""), o["period_sort"],
                                     o["status"] or "", o["iri"]))
    return observations, len(counted)


def _place_chart_rows(observations: list[dict]) -> list[dict]:
    """Observations as chart rows for a place page: one chart per indicator, place and unit,
    drawn only where there is something to compare (two or more bars)."""
    rows = []
    for obs in observations:
        title = " · ".join(filter(None, [(obs["indicator"] or {}).get("label"),
                                         (obs.get("place") or {}).get("label")]))
        rows.append({**obs, "area_label": title})
    counts: dict[tuple, int] = {}
    for row in rows:
        if row.get("value") is not None and row.get("period_label"):
            key = (row["area_label"], row.get("unit_label") or "")
            counts[key] = counts.get(key, 0) + 1
    return [r for r in rows if counts.get((r["area_label"], r.get("unit_label") or ""), 0) > 1]


# Columns of an observation table, in order; `place` (what a place page's figure is about)
# replaces `area` on place pages.
_COLUMNS = ("indicator", "value", "unit", "qualifier", "period", "area", "status", "quote")


def observation_columns(observations: list[dict], focus: str) -> list[str]:
    """The columns an observation table shows: never one that only repeats what the page
    is about (the indicator on its own page, the place on a place's), nor an empty place."""
    if not observations:
        return []
    place_key = "place" if any("place" in o for o in observations) else "area"
    out = []
    for column in _COLUMNS:
        key = place_key if column == "area" else column
        if key in ("indicator", "area", "place"):
            iris = {(o.get(key) or {}).get("iri") for o in observations}
            if iris <= {focus, None}:
                continue
        out.append(key)
    return out


def _observation_row(linker: Linker, row: dict, lang: str) -> dict:
    """One observation as a table row / chart point."""
    def link(name):
        value = row.get(name)
        return linker.link(value.value) if isinstance(value, NamedNode) else None

    def literal(name):
        value = row.get(name)
        return value if isinstance(value, Literal) else None

    value_term = literal("value")
    value = to_decimal(value_term.value) if value_term is not None else None
    status, qualifier, period, unit = link("status"), link("qualifier"), link("period"), link("unit")
    start, quote_, stated = literal("start"), literal("quote"), literal("statedAs")
    bounds = {name: to_decimal(literal(name).value) if literal(name) is not None else None
              for name in ("min", "max")}
    return {
        "iri": row["obs"].value, "href": linker.href(row["obs"].value),
        "label": linker.label(row["obs"].value),
        "indicator": link("indicator"), "area": link("area"), "period": period,
        "period_label": period["label"] if period else None,
        "period_sort": start.value if start is not None else (period["iri"] if period else ""),
        "value": value, "value_display": humanize(value, lang), "unit": unit,
        "unit_label": unit["label"] if unit else "",
        "status": local_name(status["iri"]) if status else None,
        "status_label": status["label"] if status else None,
        "status_link": status,
        "qualifier": local_name(qualifier["iri"]) if qualifier else None,
        "qualifier_link": qualifier,
        "min": bounds["min"], "max": bounds["max"],
        "stated_as": stated.value if stated is not None else None,
        "quote": quote_.value if quote_ is not None else None,
        "quote_lang": canonical_lang(quote_.language) if quote_ is not None else None,
        "document": link("doc"),
        "area_label": (link("area") or {}).get("label", ""),
    }


# --------------------------------------------------------------------------- entry point

def kind_of(base: str, iri: str) -> str | None:
    """The entity kind of an IRI under `<base>id/` (`place`, `initiative` …), else None."""
    prefix = base + "id/"
    if iri.startswith(prefix) and "/" in iri[len(prefix):]:
        return iri[len(prefix):].split("/", 1)[0]
    return None


def describe(store, iri: str, *, base: str, lang: str, inbound_predicate: str | None = None,
             inbound_page: int = 1, locator=None, indexes=None,
             alignments: Alignments | None = None, links_only: bool = False,
             uses: int = 0) -> dict | None:
    """The description of one resource (the page's data): labels, types, properties with
    provenance, inbound links (paged), observations, charts and, for places, the joined
    division data of the external datasets with a locator map (`locator` returns the
    process's base map). None if the store has nothing about the IRI.

    `indexes` (a `bjkg.server.stores.page_reads.IndexSource` of the served store) answers the reads
    without SPARQL; without it they are queries on `store`. `alignments` (the ontology's
    property alignments) lets the page show each fact once (`bjkg.server.pages.equivalence`);
    what it moves aside stays in `alternatives` and `inbound_alternatives`.

    `links_only` is for the RDF representations (`description_triples`), which read the
    links and nothing the page draws from observations: whether there are observations is
    found from their IRIs (the first place within that has any), and no rows, charts or
    division data are made.

    `uses` is how many distinct triples use the IRI as their predicate (the catalogue's
    count): every page links its predicates here, and one that occurs nowhere else
    (rdfs:comment, owl:sameAs) still has a page — what uses it, with its VoID partition."""
    node = NamedNode(iri)
    linker = Linker(base, lang)
    source = IndexPages(indexes) if indexes is not None else QuerySource(store)
    rows = source.outbound(node)
    linker.add_label_sets(source.neighbour_labels(node, rows))
    linker.add_labels(({"x": node, "l": r["o"]} for r in rows
                       if r["p"].value in (V.RDFS_LABEL, V.SKOS_PREF)))
    types, properties = _outbound(source, linker, node, base, rows)
    _name_geometries(source, properties)
    kind = kind_of(base, iri)
    type_iris = {t["iri"] for t in types}
    wants_observations = kind in OBSERVATION_KINDS or bool(type_iris & {
        V.BJKG + "Place", V.BJKG + "Initiative", V.BJKG + "Agency", V.BJKG + "Indicator"})
    is_place = kind in ("place", "division") or bool(type_iris & {V.BJKG + "Place", LISTED_DIVISION})
    if links_only:
        observations, obs_total = [], 0
        has_observations = wants_observations and _has_observations(source, node, is_place)
    else:
        observations, linked = (_observations(source, linker, node, lang) if wants_observations
                                else ([], []))
        obs_total = len(linked)
        if is_place and wants_observations:
            observations, obs_total = _roll_up(source, linker, node, lang, observations, linked)
        has_observations = bool(observations)
    hidden = set(_INBOUND_HIDDEN)
    if has_observations:  # shown in their own table, not among the inbound links
        hidden.update(OBSERVATION_LINKS)
    reading = None
    if is_document(kind, type_iris):
        page = max(1, inbound_page) if inbound_predicate is None else 1
        reading = read_document(select, store, linker, iri, lang, page)
        if reading is not None:  # what cites the document is read as its quotes, not hashes
            hidden.add(V.PROV + "wasDerivedFrom")
    inbound = _inbound(source, linker, node, hidden, inbound_predicate, max(1, inbound_page))
    if not rows and not inbound and not has_observations and not uses:
        return None
    alignments = alignments or Alignments()
    properties, alternatives = merge_properties(properties, alignments)
    inbound, inbound_alternatives = merge_inbound(inbound, properties, alignments)
    is_indicator = kind == "indicator" or V.BJKG + "Indicator" in type_iris
    if links_only:
        charts = []
    elif is_indicator:
        charts = build_charts(observations, lang)
    elif is_place:
        charts = build_charts(_place_chart_rows(observations), lang)
    else:
        charts = []
    division = (division_facts(*source.divisions(node), linker, locator)
                if is_place and not links_only else None)
    blank_rows, blank_complete = ({}, True) if links_only else _blank_nodes(store, rows)
    return {
        "iri": iri,
        "href": linker.href(iri),
        "kind": kind,
        "lang": lang,
        "label": linker.label(iri),
        "labels": linker.labels(iri),
        "types": types,
        "properties": properties,
        "alternatives": alternatives,
        "inbound": inbound,
        "inbound_alternatives": inbound_alternatives,
        "observations": [_public_observation(o) for o in observations],
        "observation_columns": observation_columns(observations, iri),
        "reading": reading,
        "observations_total": obs_total,
        "observations_limit": OBSERVATION_LIMIT,
        "charts": charts,
        "division": division,
        "blank_nodes": _blank_node_properties(linker, blank_rows),
        "blank_lists": _blank_lists(linker, blank_rows),
        "blank_nodes_complete": blank_complete,
        "blank_nodes_limit": BLANK_NODE_LIMIT,
        "uses": _uses(base, iri, uses),
    }


def _uses(base: str, iri: str, triples: int) -> dict | None:
    """How a predicate is used: its count of triples and its VoID property partition (the
    node the catalogue describes it by); None for an IRI no triple uses as its predicate."""
    if not triples:
        return None
    return {"triples": triples, "dataset": base + "dataset", "partition": property_partition(base, iri)}


BLANK_NODE_LIMIT = 500  # blank nodes described with one resource (nested values, RDF lists)


def _blank_nodes(store, rows: list[dict]) -> tuple[dict[str, list[dict]], bool]:
    """The statements of the blank nodes that a resource's statements reach, transitively
    (its Concise Bounded Description): a blank node has no IRI to be looked up by, so what
    it says — a nested value, an RDF list, a Data Cube component — can only be read with
    the resource that points at it. Rows ({p, o, g}) per blank node, and whether every
    blank node reached was read (at most BLANK_NODE_LIMIT; a store that cannot look a blank
    node up, e.g. a remote one, reads none). A build has none: its records name everything."""
    found: dict[str, list[dict]] = {}
    todo = [r["o"] for r in rows if isinstance(r["o"], BlankNode)]
    while todo:
        blank = todo.pop(0)
        if blank.value in found:
            continue
        if len(found) >= BLANK_NODE_LIMIT:
            return found, False
        try:
            statements = select(store, _OUTBOUND_QUERY, use_union=False, s=blank)
        except (ValueError, TypeError, QueryFailed):  # a store with no way to name a blank node (remote)
            return found, False
        found[blank.value] = statements
        todo.extend(r["o"] for r in statements if isinstance(r["o"], BlankNode) and r["o"].value not in found)
    return found, True


def _blank_lists(linker: Linker, blank_rows: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """The blank nodes that head a well-formed RDF list (a chain of blank nodes, each with
    exactly one rdf:first and one rdf:rest and nothing else, ending in rdf:nil), with the
    list's items: a page shows ( a b c ) as a list, not as cells nested ever deeper."""
    def cell(blank: str):
        rows = {(r["p"].value, str(r["o"])): r for r in blank_rows.get(blank, ())}.values()
        first = [r["o"] for r in rows if r["p"].value == V.RDF + "first"]
        rest = [r["o"] for r in rows if r["p"].value == V.RDF + "rest"]
        if len(rows) != 2 or len(first) != 1 or len(rest) != 1:
            return None
        return first[0], rest[0]

    rests = {str(r["o"]) for rows in blank_rows.values() for r in rows if r["p"].value == V.RDF + "rest"}
    lists: dict[str, list[dict]] = {}
    for head in blank_rows:
        if str(BlankNode(head)) in rests:  # a cell inside a list: drawn with its list
            continue
        items, node, seen = [], BlankNode(head), set()
        while isinstance(node, BlankNode) and node.value not in seen and (parts := cell(node.value)):
            seen.add(node.value)
            items.append(linker.term(parts[0]))
            node = parts[1]
        if isinstance(node, NamedNode) and node.value == V.RDF + "nil" and items:
            lists[head] = items
    return lists


def _blank_node_properties(linker: Linker, blank_rows: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Each blank node's statements as the page shows a resource's: values per predicate."""
    out: dict[str, list[dict]] = {}
    for blank, rows in blank_rows.items():
        grouped: dict[str, list[dict]] = {}
        seen: set[str] = set()
        for row in rows:
            key = row["p"].value + " " + str(row["o"])
            if key in seen:  # the same statement in several graphs
                continue
            seen.add(key)
            grouped.setdefault(row["p"].value, []).append(linker.term(row["o"]))
        out[blank] = [{"predicate": linker.link(p), "values": grouped[p]} for p in _sort_predicates(grouped)]
    return out


def _has_observations(source, node: NamedNode, is_place: bool) -> bool:
    """Whether the page of `node` has observations: its own, or (a place) those of a place
    within it — the first found ends the look."""
    if source.observations(node, rows=0)[1]:
        return True
    if not is_place:
        return False
    places, _ = _places_within(source, node)
    return any(source.observations(NamedNode(place), rows=0)[1] for place in places)


def _public_observation(obs: dict) -> dict:
    """Observation row for JSON: Decimals as strings (exact), helper keys dropped."""
    out = {k: v for k, v in obs.items() if k != "area_label"}
    for name in ("value", "min", "max"):
        if isinstance(out.get(name), Decimal):
            out[name] = str(out[name])
    return out


_ASSERTION_TRIPLES_QUERY = """
PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#>
SELECT ?s ?a ?p ?o WHERE { ?a rdf:subject ?s ; ?p ?o }
"""


def description_triples(store, iri: str, description: dict) -> tuple[list[Triple], bool]:
    """The RDF of a description: outbound triples, the shown inbound links, the assertions
    that evidence the outbound triples, the statements of the blank nodes the outbound
    triples reach (`_blank_nodes`), and the labels of the linked resources we show; and
    whether every blank node reached is described (False past BLANK_NODE_LIMIT, or over a
    store that cannot name one: the response then says so).

    In N-Triples order (subject, predicate, object), so the same description reads the
    same whichever store answered and in whatever order its indexes keep the triples."""
    node = NamedNode(iri)
    found: dict[str, Triple] = {}

    def add(s, p, o) -> None:
        triple = Triple(s, p, o)
        found.setdefault(str(triple), triple)

    outbound = select(store, _OUTBOUND_QUERY, use_union=False, s=node)
    for row in outbound:
        add(node, row["p"], row["o"])
    for group in description["inbound"] + description.get("inbound_alternatives", []):
        p = NamedNode(group["predicate"]["iri"])
        for item in group["items"]:
            add(NamedNode(item["iri"]), p, node)
    for row in select(store, _ASSERTION_TRIPLES_QUERY, s=node):
        add(row["a"], row["p"], row["o"])
    uses = description.get("uses")
    if uses:  # a predicate: the catalogue's statement of how many triples use it
        part = NamedNode(uses["partition"])
        add(NamedNode(uses["dataset"]), NamedNode(V.VOID + "propertyPartition"), part)
        add(part, NamedNode(V.VOID + "property"), node)
        add(part, NamedNode(V.VOID + "triples"), Literal(str(uses["triples"]), datatype=NamedNode(V.XSD + "integer")))
    blank_rows, complete = _blank_nodes(store, outbound)
    for blank, statements in blank_rows.items():
        for row in statements:
            add(BlankNode(blank), row["p"], row["o"])
    return [found[key] for key in sorted(found)], complete
