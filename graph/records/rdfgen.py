"""Turn the checked catalogue into quads: one named graph per source document and one
for reference data.

Provenance design: every fact lives in the named graph of the document that states it.
A non-numeric relation is asserted directly (`initiative bjkg:partOf pillar`) and also
described by a `bjkg:Assertion` node (rdf:subject/predicate/object, prov:wasDerivedFrom,
bjkg:quote), so both plain queries and provenance queries work. Observations carry their
own quote. No blank nodes: every node gets an IRI derived from its content.
"""
from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import date
from calendar import monthrange

from rdflib import Literal, URIRef
from rdflib.namespace import DCTERMS, OWL, PROV, RDF, RDFS, SKOS, XSD

from bjkg.graph.cube import STRUCTURES, observation_subject, structure_key
from bjkg.graph.records.labels import pinyin_label, simplified, traditional
from bjkg.graph.records.catalog import REFERENCE_DOC, PERIOD_RE, Catalog, Entity, Evidence
from bjkg.graph.vocab import (BJKG, GEO, ORG, PREDICATE_IRIS, QB, QUALIFIER, SCHEMA, SDMX_ATTR,
                    SDMX_DIM, SDMX_MEASURE, STATUS, UNITS, WD, Iris)

TYPE_IRIS = {
    "person": [BJKG["Person"]], "post": [ORG["Post"]],
    "indicator": [BJKG["Indicator"], SKOS["Concept"]], "theme": [BJKG["Theme"], SKOS["Concept"]],
    "document": [BJKG["ReferenceDocument"]], "report": [BJKG["GovernmentWorkReport"]],
    "meeting": [BJKG["Meeting"]],
}
SCHEMES = {"indicator": BJKG["IndicatorScheme"], "theme": BJKG["ThemeScheme"]}
PINYIN_KINDS = ("place", "person")
UNIT_WORDS_EN = {"day": "days", "year": "years"}  # in English labels: "20 days", not "20 day"
LINK_PROPERTIES = {"initiative": BJKG.aboutInitiative, "place": BJKG.aboutPlace,
                   "agency": BJKG.aboutAgency, "theme": BJKG.aboutTheme}

Quad = tuple  # (s, p, o, g)


class Generator:
    """Collects quads per graph; `add` is the only way in, so no node is ever blank."""

    def __init__(self, catalog: Catalog, iris: Iris, quotes_verified: bool):
        self.catalog, self.iris = catalog, iris
        self.quotes_verified = quotes_verified
        self.graphs: dict[URIRef, set] = defaultdict(set)
        self._datasets: set[URIRef] = set()

    # ------------------------------------------------------------ helpers
    def add(self, graph: URIRef, s, p, o) -> None:
        self.graphs[graph].add((s, p, o))

    def node(self, ident: str) -> URIRef:
        return self.iris.entity(ident)

    def graph_for(self, doc: str | None) -> URIRef:
        """The named graph of a source document; reference data for everything else."""
        if doc and doc in self.catalog.documents:
            return self.iris.doc_graph(doc)
        return self.iris.reference_graph

    def script_of(self, doc: str) -> str:
        document = self.catalog.documents.get(doc)
        return document.script if document else "zh-Hans"

    def labels(self, graph, node, zh: str, en: str, *, alt=(), alt_en=(), kind=None,
               pinyin=None, pref=False) -> None:
        """rdfs:label in zh-Hans, zh-Hant and en (+ pinyin, alternates) from one Chinese name."""
        overrides = self.catalog.overrides
        zh_hans = simplified(zh)
        props = [RDFS.label] + ([SKOS.prefLabel] if pref else [])
        for prop in props:
            self.add(graph, node, prop, Literal(zh_hans, lang="zh-Hans"))
            self.add(graph, node, prop, Literal(traditional(zh_hans, overrides), lang="zh-Hant"))
            self.add(graph, node, prop, Literal(en, lang="en"))
        if kind in PINYIN_KINDS:
            self.add(graph, node, RDFS.label,
                     Literal(pinyin or pinyin_label(zh_hans, kind), lang="zh-Latn-pinyin"))
        for name in alt:
            name = simplified(name)
            self.add(graph, node, SKOS.altLabel, Literal(name, lang="zh-Hans"))
            self.add(graph, node, SKOS.altLabel, Literal(traditional(name, overrides),
                                                         lang="zh-Hant"))
        for name in alt_en:
            self.add(graph, node, SKOS.altLabel, Literal(name, lang="en"))

    def evidence(self, graph, node, evidence: Evidence | None) -> None:
        if evidence is None:
            return
        self.add(graph, node, PROV.wasDerivedFrom, self.node(evidence.doc))
        if evidence.quote:
            self.add(graph, node, BJKG.quote,
                     Literal(evidence.quote, lang=self.script_of(evidence.doc)))
            if evidence.offset is not None:
                # xsd:integer, not nonNegativeInteger: the store (pyoxigraph) keeps every
                # integer type as xsd:integer, and the endpoint must say what the dumps say
                self.add(graph, node, BJKG.quoteOffset, Literal(evidence.offset, datatype=XSD.integer))

    # ------------------------------------------------------------ entities
    def entity(self, entity: Entity) -> None:
        graph = self.graph_for(entity.graph_doc)
        node = self.node(entity.id)
        types = TYPE_IRIS.get(entity.kind)
        if entity.kind in ("place", "initiative", "report"):
            types = [BJKG[entity.type]]
        elif entity.kind == "agency":
            types = [BJKG["Agency" if entity.type == "Organization" else entity.type]]
        for typ in types:
            self.add(graph, node, RDF.type, typ)
        self.labels(graph, node, entity.zh, entity.en, alt=entity.alt, alt_en=entity.alt_en,
                    kind=entity.kind, pinyin=entity.pinyin,
                    pref=entity.kind in SCHEMES)
        if entity.kind in SCHEMES:
            self.add(graph, node, SKOS.inScheme, SCHEMES[entity.kind])
        for lang, text in (("en", entity.description_en), ("zh-Hans", entity.description_zh)):
            if text:
                self.add(graph, node, RDFS.comment, Literal(text, lang=lang))
        if entity.note:
            self.add(graph, node, BJKG.note, Literal(entity.note, lang="en"))
        self.evidence(graph, node, entity.evidence)
        self.attributes(graph, node, entity)

    def attributes(self, graph, node, entity: Entity) -> None:
        attrs = entity.attrs
        # Codes and external links are reference data whatever file holds them.
        ref = self.iris.reference_graph
        if "gb2260" in attrs:
            self.add(ref, node, SKOS.notation, Literal(attrs["gb2260"], datatype=BJKG.GBT2260Code))
        if "wikidata" in attrs:
            self.add(ref, node, OWL.sameAs, WD[attrs["wikidata"]])
        if "geonames" in attrs:
            self.add(ref, node, OWL.sameAs, URIRef(f"https://sws.geonames.org/{attrs['geonames']}/"))
        if "geonames_close" in attrs:
            self.add(ref, node, SKOS.closeMatch,
                     URIRef(f"https://sws.geonames.org/{attrs['geonames_close']}/"))
        if "year" in attrs:
            self.add(graph, node, BJKG.year, Literal(attrs["year"], datatype=XSD.gYear))
        if "ordinal" in attrs:
            self.add(graph, node, BJKG.ordinal, Literal(int(attrs["ordinal"])))
        if "date" in attrs:
            self.add(graph, node, SCHEMA.startDate, Literal(attrs["date"], datatype=XSD.date))
        if "period" in attrs:
            self.add(graph, node, DCTERMS.temporal, self.period(attrs["period"]))
        if "file" in attrs:
            self.add(graph, node, BJKG.sourceFile, Literal(attrs["file"]))

    # ------------------------------------------------------------ relations
    def relation(self, relation) -> None:
        s, o = self.node(relation.subject), self.node(relation.object)
        p = PREDICATE_IRIS[relation.predicate]
        ev = relation.evidence
        doc = ev.doc if ev else None
        subject_entity = self.catalog.entities.get(relation.subject)
        graph = self.graph_for(doc) if doc != REFERENCE_DOC and doc else \
            self.graph_for(subject_entity.graph_doc if subject_entity else None)
        self.add(graph, s, p, o)
        if ev and ev.quote:
            assertion = self.minted("assertion", relation.subject, relation.predicate,
                                    relation.object, ev.doc, ev.quote)
            self.add(graph, assertion, RDF.type, BJKG.Assertion)
            self.add(graph, assertion, RDF.subject, s)
            self.add(graph, assertion, RDF.predicate, p)
            self.add(graph, assertion, RDF.object, o)
            self.evidence(graph, assertion, ev)

    def minted(self, kind: str, *parts: str) -> URIRef:
        digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:16]
        return self.iris.entity(f"{kind}/{digest}")

    def holding(self, holding) -> None:
        ev = holding.evidence
        graph = self.graph_for(ev.doc)
        person, post = self.node(holding.person), self.node(holding.post)
        slug = lambda ident: ident.split("/", 1)[1]  # noqa: E731
        node = self.iris.entity(f"holding/{slug(holding.person)}--{slug(holding.post)}--"
                                f"{slug(ev.doc)}")
        self.add(graph, node, RDF.type, BJKG.PostHolding)
        self.add(graph, node, ORG.member, person)
        self.add(graph, node, BJKG.post, post)
        # org:heldBy only: org:holds is its inverse (ontology), so the inference step puts
        # `person org:holds post` in graph/inferred, apart from what the source asserts
        self.add(graph, post, ORG.heldBy, person)
        post_in = next((r.object for r in self.catalog.relations
                        if r.subject == holding.post and r.predicate == "postIn"), None)
        if post_in:
            self.add(graph, node, ORG.organization, self.node(post_in))
        attested = self.attestation_date(ev.doc)
        if attested:
            self.add(graph, node, BJKG.attestedOn, Literal(attested, datatype=XSD.date))
        p_ent, q_ent = self.catalog.entities[holding.person], self.catalog.entities[holding.post]
        self.labels(graph, node, f"{p_ent.zh}：{q_ent.zh}", f"{p_ent.en} — {q_ent.en}")
        self.evidence(graph, node, ev)

    def attestation_date(self, doc_id: str) -> str | None:
        """The date a source attests a holding: the date it prints, else none.

        Unknown stays unknown: an undated document's holding gets no `bjkg:attestedOn`,
        even when the document is about a report delivered at a dated meeting.
        """
        doc = self.catalog.documents.get(doc_id)
        if doc is None or not doc.date_published:
            return None
        return doc.date_published[:10]

    # ------------------------------------------------------------ observations
    def period(self, text: str) -> URIRef:
        """A period node (`id/period/2023`, `id/period/2022-01--2022-11`) in reference data."""
        m = PERIOD_RE.match(text)
        start = date(int(m["y1"]), int(m["m1"] or 1), int(m["d1"] or 1))
        if m["y2"]:
            y, mo = int(m["y2"]), int(m["m2"])
            end = date(y, mo, int(m["d2"] or monthrange(y, mo)[1]))
            slug = f"{text.split('/')[0]}--{text.split('/')[1]}"
        elif m["d1"]:
            end, slug = start, text
        elif m["m1"]:
            end, slug = date(start.year, start.month, monthrange(start.year, start.month)[1]), text
        else:
            end, slug = date(start.year, 12, 31), text
        node = self.iris.entity(f"period/{slug}")
        ref = self.iris.reference_graph
        self.add(ref, node, RDF.type, BJKG.Period)
        self.add(ref, node, SCHEMA.startDate, Literal(start.isoformat(), datatype=XSD.date))
        self.add(ref, node, SCHEMA.endDate, Literal(end.isoformat(), datatype=XSD.date))
        zh, en = _period_labels(start, end, text)
        self.add(ref, node, RDFS.label, Literal(zh, lang="zh-Hans"))
        self.add(ref, node, RDFS.label, Literal(zh, lang="zh-Hant"))
        self.add(ref, node, RDFS.label, Literal(en, lang="en"))
        return node

    def observation(self, obs) -> None:
        graph = self.graph_for(obs.evidence.doc)
        node = self.node(obs.id)
        add = lambda p, o: self.add(graph, node, p, o)  # noqa: E731
        add(RDF.type, QB.Observation)
        add(BJKG.indicator, self.node(obs.indicator))
        add(SDMX_MEASURE.obsValue, Literal(obs.value, datatype=XSD.decimal))
        add(SDMX_ATTR.unitMeasure, UNITS[obs.unit])
        add(BJKG.status, STATUS[obs.status])
        if obs.qualifier in QUALIFIER:  # "unknown": the text leaves it open, so none is written
            add(BJKG.qualifier, QUALIFIER[obs.qualifier])
        if obs.min_value is not None:
            add(SCHEMA.minValue, Literal(obs.min_value, datatype=XSD.decimal))
        if obs.max_value is not None:
            add(SCHEMA.maxValue, Literal(obs.max_value, datatype=XSD.decimal))
        if obs.area:
            add(SDMX_DIM.refArea, self.node(obs.area))
        period = self.period(obs.period) if obs.period else None
        if period:
            add(SDMX_DIM.refPeriod, period)
        for key, prop in LINK_PROPERTIES.items():
            for ident in obs.links.get(key, ()):
                add(prop, self.node(ident))
        # Data Cube: the subject dimension, and the data set of this document and structure
        subject = observation_subject(obs.links)
        if subject:
            add(BJKG.subject, self.node(subject))
        key = structure_key(bool(obs.area), bool(period), bool(subject))
        add(QB.dataSet, self.dataset(obs.evidence.doc, key))
        add(BJKG.statedAs, Literal(obs.text, lang=self.script_of(obs.evidence.doc)))
        if obs.note:
            add(BJKG.note, Literal(obs.note, lang="en"))
        self.evidence(graph, node, obs.evidence)
        indicator = self.catalog.entities[obs.indicator]
        area = self.catalog.entities.get(obs.area) if obs.area else None
        where_zh = "，".join(x for x in (area.zh if area else "", obs.period or "") if x)
        where_en = ", ".join(x for x in (area.en if area else "", obs.period or "") if x)
        zh = f"{indicator.zh}（{where_zh}）：{simplified(obs.text)}" if where_zh else \
            f"{indicator.zh}：{simplified(obs.text)}"
        en = f"{indicator.en}" + (f" ({where_en})" if where_en else "") + \
            f": {obs.value} {UNIT_WORDS_EN.get(obs.unit, obs.unit)} ({_qualifier_en(obs.qualifier)}, {obs.status})"
        self.labels(graph, node, zh, en)

    # ------------------------------------------------------------ documents
    def document(self, doc) -> None:
        graph = self.iris.doc_graph(doc.id)
        node = self.node(doc.id)
        self.add(graph, node, RDF.type, BJKG.SourceDocument)
        self.labels(graph, node, doc.zh, doc.en)
        if doc.title:
            self.add(graph, node, DCTERMS.title, Literal(doc.title, lang=doc.script))
        if doc.title_en:
            self.add(graph, node, DCTERMS.title, Literal(doc.title_en, lang="en"))
        self.add(graph, node, SCHEMA.sha256, Literal(doc.sha256))
        self.add(graph, node, BJKG.sourceFile, Literal(doc.file))
        self.add(graph, node, BJKG.quotesVerified, Literal(self.quotes_verified))
        self.add(graph, node, BJKG.script, Literal(doc.script))
        if doc.genre:
            self.add(graph, node, BJKG.genre, Literal(doc.genre))
        if doc.publisher:
            self.add(graph, node, SCHEMA.publisher, self.node(doc.publisher))
        for author in doc.authors:
            self.add(graph, node, SCHEMA.author, self.node(author))
        if doc.date_published:
            dtype = XSD.dateTime if "T" in doc.date_published else XSD.date
            value = doc.date_published
            if dtype == XSD.dateTime and value.count(":") == 1:
                value += ":00"
            self.add(graph, node, SCHEMA.datePublished, Literal(value, datatype=dtype))
        if doc.date_note:
            self.add(graph, node, BJKG.dateNote, Literal(doc.date_note, lang="en"))
        for report in doc.about:
            self.add(graph, node, BJKG.about, self.node(report))
        if doc.evidence and doc.evidence.quote:
            self.add(graph, node, BJKG.quote, Literal(doc.evidence.quote, lang=doc.script))

    def dataset(self, doc_id: str, key: str) -> URIRef:
        """The qb:DataSet of one document's observations of one structure (`key`, see
        bjkg.graph.cube.STRUCTURES), described in the document's graph."""
        node = self.iris.entity(f"dataset/{doc_id.split('/', 1)[1]}--{key}")
        graph = self.graph_for(doc_id)
        if node not in self._datasets:
            self._datasets.add(node)
            doc = self.catalog.documents[doc_id]
            structure, zh, en = STRUCTURES[key]
            self.add(graph, node, RDF.type, QB.DataSet)
            self.add(graph, node, QB.structure, BJKG[structure])
            self.add(graph, node, PROV.wasDerivedFrom, self.node(doc_id))
            self.labels(graph, node, f"{doc.zh}：观测数据（{zh}）",
                        f"Observations in “{doc.en}” ({en})")
        return node

    def run(self) -> dict[URIRef, set]:
        for doc in sorted(self.catalog.documents.values(), key=lambda d: d.id):
            self.document(doc)
        for entity in sorted(self.catalog.entities.values(), key=lambda e: e.id):
            self.entity(entity)
        for relation in self.catalog.relations:
            self.relation(relation)
        for holding in self.catalog.holdings:
            self.holding(holding)
        for obs in self.catalog.observations:
            self.observation(obs)
        self.one_graph_per_triple()
        return dict(self.graphs)

    def one_graph_per_triple(self) -> None:
        """A triple that several documents state lives in one graph only: that of the
        earliest of them (by the date it attests, see `attestation_date`; undated documents
        after dated ones, then by document id), and the reference graph only if no source
        states it. The other documents keep their own evidence of it: their
        bjkg:Assertion (or bjkg:PostHolding) nodes, which are distinct resources."""
        graph_docs = {self.iris.doc_graph(d): d for d in self.catalog.documents}

        def rank(graph):
            doc = graph_docs.get(graph)
            if doc is None:
                return (2, "", str(graph))
            date = self.attestation_date(doc)
            return (0 if date else 1, date or "", doc)

        held: set = set()
        for graph in sorted(self.graphs, key=rank):
            triples = self.graphs[graph]
            if not held.isdisjoint(triples):
                self.graphs[graph] = triples - held
            held |= triples


def _period_labels(start: date, end: date, text: str) -> tuple[str, str]:
    if "/" in text:
        return (f"{start.year}年{start.month}月至{end.year}年{end.month}月",
                f"{start:%B %Y} to {end:%B %Y}")
    if start == end:
        return f"{start.year}年{start.month}月{start.day}日", start.isoformat()
    if start.month == 1 and end.month == 12 and start.day == 1 and end.day == 31:
        return f"{start.year}年", str(start.year)
    return f"{start.year}年{start.month}月", f"{start:%B %Y}"


def generate(catalog: Catalog, iris: Iris, *, quotes_verified: bool) -> dict[URIRef, set]:
    """All asserted triples of the records, keyed by named graph.

    `quotes_verified` (did the build prove the quotes against the corpus?) is stated on each
    source document, so the artifact itself, and with it the build hash, says which it is."""
    return Generator(catalog, iris, quotes_verified).run()


def _qualifier_en(qualifier: str) -> str:
    return "qualifier unknown" if qualifier == "unknown" else qualifier
