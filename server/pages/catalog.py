"""The DCAT-AP 3 catalogue of the service, with VoID, as triples — and the counts it publishes.

One `dcat:Catalog` → the dataset (`<BASE_IRI>dataset`, also a `void:Dataset`) → its
distributions: the build's dumps (with size and SHA-256), one N-Triples dump per named
graph, and the SPARQL endpoint as a `dcat:DataService`. Every named graph of the build is a
subset of the dataset (`void:subset`, `dct:hasPart`) described at its own IRI
(`/graph/<name>`). The IRIs of these nodes and `dct:identifier` come from BASE_IRI only, so
they are the same across builds and hosts; the URLs a client fetches (endpoint, dumps,
landing page) come from PUBLIC_URL, never from a request's Host header.

Counts are never taken from the build's manifest: each one is the answer of a fixed query
over the endpoint (`COUNT_QUERIES`), so whatever a client counts with the same query, it
gets the same number (tested). Vocabularies: the EU data themes, languages, file types,
licences and planned availability (publications.europa.eu authority tables), IANA media
types, SPDX checksums; the place is Beijing as GeoNames 2038349 and Wikidata Q956, the two
identifiers confirmed in the project's reference list.

Plain data in, triples out: no Flask, no store (the views run the queries).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

from pyoxigraph import Literal, NamedNode, Triple

from bjkg.server.core import vocab as V
from bjkg.server.core.traditional import to_traditional
from bjkg.server.pages import i18n

EU = "http://publications.europa.eu/resource/authority/"
IANA = "http://www.iana.org/assignments/media-types/"
ADMS = "http://www.w3.org/ns/adms#"
DCATAP = "http://data.europa.eu/r5r/"
VCARD = "http://www.w3.org/2006/vcard/ns#"
LOCN = "http://www.w3.org/ns/locn#"
SPDX = "http://spdx.org/rdf/terms#"
SPARQL_PROTOCOL = "https://www.w3.org/TR/sparql11-protocol/"
LICENCE = EU + "licence/CC_BY_4_0"
#: Beijing municipality: GeoNames ADM1 2038349 and Wikidata Q956 (shared/reference/identifiers.md),
#: written as the graph writes them (owl:sameAs in graph/records/rdfgen.py), so the catalogue joins it
SPATIAL = ("https://sws.geonames.org/2038349/", "http://www.wikidata.org/entity/Q956")
THEMES = (EU + "data-theme/GOVE", EU + "data-theme/ECON", EU + "data-theme/REGI")
LANGUAGES = (EU + "language/ZHO", EU + "language/ENG")
KEYWORDS = (("北京", "zh-hans"), ("政府工作报告", "zh-hans"), ("五子联动", "zh-hans"),
            ("Beijing", "en"), ("government work report", "en"), ("policy", "en"),
            ("economic indicators", "en"), ("linked data", "en"), ("knowledge graph", "en"))

#: media type → (EU file type, what it is)
DUMP_FORMATS = {
    "application/trig": ("RDF_TRIG", "TriG"),
    "application/n-quads": ("RDF_N_QUADS", "N-Quads"),
    "application/ld+json": ("JSON_LD", "JSON-LD"),
    "application/n-triples": ("RDF_N_TRIPLES", "N-Triples"),
    "text/turtle": ("RDF_TURTLE", "Turtle"),
}

# The queries whose answers are the published counts: the dataset's triples (distinct, as in
# the merge of its graphs), each graph's, each class's instances, each property's triples.
COUNT_QUERIES = {
    "triples": "SELECT (COUNT(*) AS ?n) WHERE { SELECT DISTINCT ?s ?p ?o WHERE { ?s ?p ?o } }",
    "graphs": "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g",
    "classes": "SELECT ?c (COUNT(DISTINCT ?x) AS ?n) WHERE { ?x a ?c } GROUP BY ?c",
    "properties": ("SELECT ?p (COUNT(*) AS ?n) WHERE { SELECT DISTINCT ?s ?p ?o WHERE { ?s ?p ?o } } "
                   "GROUP BY ?p"),
    # the points the external divisions table gives for Beijing (codes 11…), for dct:spatial
    "place": ("SELECT ?code ?wkt WHERE { ?d a <https://w3id.org/bjkg/ontology#ListedDivision> ; "
              "<http://www.w3.org/2004/02/skos/core#notation> ?code ; "
              "<http://www.opengis.net/ont/geosparql#hasGeometry>/<http://www.opengis.net/ont/geosparql#asWKT> ?wkt "
              'FILTER(STRSTARTS(STR(?code), "11")) }'),
    "period": ("SELECT (MIN(?start) AS ?from) (MAX(?end) AS ?to) WHERE { "
               "?o <http://purl.org/linked-data/sdmx/2009/dimension#refPeriod> ?period . "
               "?period <https://schema.org/startDate> ?start ; <https://schema.org/endDate> ?end }"),
}


@dataclass
class Counts:
    """What the queries of COUNT_QUERIES answered."""

    triples: int = 0
    graphs: dict[str, int] = field(default_factory=dict)
    classes: dict[str, int] = field(default_factory=dict)
    properties: dict[str, int] = field(default_factory=dict)
    period: tuple[str, str] | None = None  # xsd:date values
    place_points: dict[str, str] = field(default_factory=dict)  # GB/T 2260 code → WKT point
    # per named graph, its IRI subjects outside `<base>id/` (void:uriSpace is stated where none are)
    outside: dict[str, int] = field(default_factory=dict)
    # per source document, its titles: language tag → text (dct:title, else rdfs:label)
    documents: dict[str, dict[str, str]] = field(default_factory=dict)


def outside_query(base: str) -> str:
    """Per named graph, how many IRI subjects lie outside `<base>id/`, the uriSpace."""
    space = str(Literal(base + "id/"))  # a quoted, escaped literal
    return ("SELECT ?g (COUNT(DISTINCT ?s) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } "
            f"FILTER(isIRI(?s) && !STRSTARTS(STR(?s), {space})) }} GROUP BY ?g")


def document_titles_query(documents) -> str | None:
    """The titles and labels of the source documents (validated IRIs, N-Triples syntax)."""
    values = " ".join(str(NamedNode(d)) for d in documents)
    if not values:
        return None
    return ("SELECT ?d ?p ?t WHERE { VALUES ?d { " + values + " } VALUES ?p { "
            f"<{V.DCTERMS}title> <{V.RDFS_LABEL}> }} ?d ?p ?t FILTER(isLiteral(?t)) }}")


def document_titles(rows) -> dict[str, dict[str, str]]:
    """Each document's title per language tag from `document_titles_query` rows: its
    dct:title where it has one in that language, else its rdfs:label."""
    out: dict[str, dict[str, str]] = {}
    for row in sorted(rows, key=lambda r: (r["p"].value != V.DCTERMS + "title", r["t"].value)):
        titles = out.setdefault(row["d"].value, {})
        titles.setdefault((row["t"].language or "").lower(), row["t"].value)
    return out


def vocabularies(counts: Counts) -> list[str]:
    """The namespaces of the predicates and classes the data uses (void:vocabulary): each
    IRI up to its last `#` or `/`."""
    terms = set(counts.properties) | set(counts.classes)
    return sorted({iri[:max(iri.rfind("#"), iri.rfind("/")) + 1] for iri in terms} - {""})


@dataclass(frozen=True)
class Site:
    """Where things are: `base` names them (BASE_IRI), `public` serves them (PUBLIC_URL)."""

    base: str
    public: str
    titles: Mapping[str, str]  # language → title
    descriptions: Mapping[str, str]
    publisher: str = "bjkg project"
    built: str | None = None  # xsd:dateTime of the build, if known

    def catalog(self) -> NamedNode:
        return NamedNode(self.base + "catalog")

    def dataset(self) -> NamedNode:
        return NamedNode(self.base + "dataset")

    def service(self) -> NamedNode:
        return NamedNode(self.base + "dataset/service/sparql")

    def endpoint(self) -> NamedNode:
        return NamedNode(self.public + "sparql")

    def graph_path(self, graph: str) -> str | None:
        """The local path of a graph IRI under `<base>graph/`, or None."""
        prefix = self.base + "graph/"
        return graph[len(prefix):] if graph.startswith(prefix) and len(graph) > len(prefix) else None

    def graph_dump(self, graph: str) -> str | None:
        rest = self.graph_path(graph)
        return f"{self.public}dumps/graph/{url_path(rest)}.nt" if rest else None


# What may stay as it is in a path segment (RFC 3986 pchar less `%`: an escape in a
# graph's name is part of the name, so it is escaped again).
_SEGMENT_SAFE = "!$&'()*+,;=:@-._~"


def url_path(rest: str) -> str:
    """A graph's name under `<base>graph/` as the path of a URL that leads back to it:
    `?`, `#`, `%`, spaces … percent-encoded. A name with a `.` or `..` segment is encoded
    whole, its slashes too (`x%2F..%2Fid`): a browser removes a dot segment even when it is
    written `%2E%2E` (WHATWG URL), and the link would leave /dumps/graph/ or /graph/; the
    server decodes `%2F` back to `/` before routing, so the route reads the same name."""
    segments = rest.split("/")
    if any(segment in (".", "..") for segment in segments):
        return quote(rest, safe=_SEGMENT_SAFE.replace("/", ""))
    return "/".join(quote(segment, safe=_SEGMENT_SAFE) for segment in segments)


class _Out:
    def __init__(self) -> None:
        self.triples: list[Triple] = []

    def add(self, s: NamedNode, p: str, o) -> None:
        self.triples.append(Triple(s, NamedNode(p), o))

    def typed(self, value, datatype: str) -> Literal:
        return Literal(str(value), datatype=NamedNode(datatype))


def catalogue_triples(site: Site, manifest: Mapping, counts: Counts) -> list[Triple]:
    """The whole catalogue: catalog, dataset, service, distributions, subsets, partitions."""
    out = _Out()
    catalog, dataset, service, endpoint = site.catalog(), site.dataset(), site.service(), site.endpoint()
    publisher, contact = NamedNode(site.base + "dataset/publisher"), NamedNode(site.base + "dataset/contact")
    licence = NamedNode(LICENCE)
    n = NamedNode

    out.add(catalog, V.RDF_TYPE, n(V.DCAT + "Catalog"))
    _describe(out, catalog, site, suffix="catalog")
    out.add(catalog, V.DCAT + "dataset", dataset)
    out.add(catalog, V.DCAT + "service", service)
    out.add(catalog, V.DCAT + "themeTaxonomy", n(EU + "data-theme"))
    out.add(catalog, V.FOAF + "homepage", n(site.public))
    _common(out, catalog, site, publisher, licence)

    # the dataset
    out.add(dataset, V.RDF_TYPE, n(V.DCAT + "Dataset"))
    out.add(dataset, V.RDF_TYPE, n(V.VOID + "Dataset"))
    _describe(out, dataset, site)
    out.add(dataset, V.DCTERMS + "identifier", Literal(dataset.value))
    out.add(dataset, V.DCAT + "landingPage", n(site.public))
    out.add(dataset, V.DCAT + "contactPoint", contact)
    for theme in THEMES:
        out.add(dataset, V.DCAT + "theme", n(theme))
    for word, lang in KEYWORDS:
        out.add(dataset, V.DCAT + "keyword", Literal(word, language=lang))
    if counts.period is not None:
        period = n(site.base + "dataset/temporal")
        out.add(dataset, V.DCTERMS + "temporal", period)
        out.add(period, V.RDF_TYPE, n(V.DCTERMS + "PeriodOfTime"))
        out.add(period, V.DCAT + "startDate", out.typed(counts.period[0], V.XSD + "date"))
        out.add(period, V.DCAT + "endDate", out.typed(counts.period[1], V.XSD + "date"))
    _common(out, dataset, site, publisher, licence)
    for document in (s.get("document") for s in manifest.get("sources", [])):
        if document:
            out.add(dataset, V.PROV + "wasDerivedFrom", n(document))
    out.add(dataset, V.VOID + "sparqlEndpoint", endpoint)
    if counts.graphs and not counts.outside:  # every subject lies in it (VoID §3.6.1)
        out.add(dataset, V.VOID + "uriSpace", Literal(site.base + "id/"))
    for namespace in vocabularies(counts):
        out.add(dataset, V.VOID + "vocabulary", n(namespace))
    out.add(dataset, V.VOID + "rootResource", n(site.public))
    out.add(dataset, V.VOID + "triples", out.typed(counts.triples, V.XSD + "integer"))
    if manifest.get("hash"):
        out.add(dataset, V.DCAT + "version", Literal(manifest["hash"][:12]))
    if manifest.get("ontology_version"):
        out.add(dataset, V.OWL + "versionInfo", Literal(str(manifest["ontology_version"])))
    # --- the build's own claim: quotes not verified (build.json `quotes`), said in three scripts
    if manifest and not quotes_status(manifest, "en")["verified"]:
        for code in ("zh-Hans", "zh-Hant", "en"):
            sep = "：" if code.startswith("zh") else ": "
            note = i18n.text("quotes_not_verified", code) + sep + i18n.text("quotes_not_verified_detail", code)
            out.add(dataset, V.RDFS + "comment", Literal(note, language=code.lower()))

    # publisher and contact point
    out.add(publisher, V.RDF_TYPE, n(V.FOAF + "Agent"))
    out.add(publisher, V.FOAF + "name", Literal(site.publisher))
    out.add(publisher, V.DCTERMS + "type", n("http://purl.org/adms/publishertype/NonProfitOrganisation"))
    out.add(publisher, V.FOAF + "homepage", n(site.public))
    out.add(contact, V.RDF_TYPE, n(VCARD + "Organization"))
    out.add(contact, V.RDF_TYPE, n(VCARD + "Kind"))
    out.add(contact, VCARD + "fn", Literal(site.publisher))
    out.add(contact, VCARD + "hasURL", n(site.public))

    # the SPARQL service, and the dataset's distribution through it
    out.add(service, V.RDF_TYPE, n(V.DCAT + "DataService"))
    out.add(service, V.RDF_TYPE, n(V.SD + "Service"))
    out.add(service, V.DCTERMS + "title", Literal("SPARQL 1.1 endpoint", language="en"))
    out.add(service, V.DCTERMS + "title", Literal("SPARQL 1.1 查询端点", language="zh-hans"))
    out.add(service, V.DCAT + "endpointURL", endpoint)
    out.add(service, V.DCAT + "endpointDescription", endpoint)  # GET /sparql: its service description
    out.add(service, V.SD + "endpoint", endpoint)
    out.add(service, V.DCAT + "servesDataset", dataset)
    out.add(service, V.DCTERMS + "conformsTo", n(SPARQL_PROTOCOL))
    out.add(service, V.DCAT + "contactPoint", contact)
    out.add(service, V.DCTERMS + "publisher", publisher)
    out.add(service, V.DCTERMS + "license", licence)
    for theme in THEMES:
        out.add(service, V.DCAT + "theme", n(theme))
    for word in ("SPARQL", "linked data", "Beijing"):
        out.add(service, V.DCAT + "keyword", Literal(word, language="en"))
    sparql = n(site.base + "dataset/distribution/sparql")
    _distribution(out, dataset, sparql, site, licence,
                  "The whole dataset through its SPARQL 1.1 endpoint (the default graph is the "
                  "union of the named graphs).")
    out.add(sparql, V.DCAT + "accessURL", endpoint)
    out.add(sparql, V.DCAT + "accessService", service)
    out.add(sparql, V.DCTERMS + "format", n(EU + "file-type/SPARQLQ"))

    # the build's dumps
    for name, info in manifest.get("dumps", {}).items():
        media_type = {"bjkg.trig": "application/trig", "bjkg.nq": "application/n-quads",
                      "bjkg.jsonld": "application/ld+json"}.get(name)
        url = n(f"{site.public}dumps/{name}")
        dist = n(f"{site.base}dataset/distribution/{name}")
        label = DUMP_FORMATS.get(media_type, ("", name))[1]
        _distribution(out, dataset, dist, site, licence,
                      f"The whole dataset, every named graph, as one {label} file.")
        out.add(dataset, V.VOID + "dataDump", url)
        out.add(dist, V.DCAT + "downloadURL", url)
        out.add(dist, V.DCAT + "accessURL", url)
        if media_type:
            out.add(dist, V.DCAT + "mediaType", n(IANA + media_type))
            out.add(dist, V.DCTERMS + "format", n(EU + "file-type/" + DUMP_FORMATS[media_type][0]))
        if info.get("bytes") is not None:
            out.add(dist, V.DCAT + "byteSize", out.typed(info["bytes"], V.XSD + "nonNegativeInteger"))
        if info.get("sha256"):
            checksum = n(f"{site.base}dataset/distribution/{name}/sha256")
            out.add(dist, SPDX + "checksum", checksum)
            out.add(checksum, V.RDF_TYPE, n(SPDX + "Checksum"))
            out.add(checksum, SPDX + "algorithm", n(SPDX + "checksumAlgorithm_sha256"))
            out.add(checksum, SPDX + "checksumValue", out.typed(info["sha256"], V.XSD + "hexBinary"))

    # every named graph: a subset with its count and its own dump
    for graph in sorted(set(counts.graphs) | set(manifest.get("graphs", {}))):
        out.triples += graph_triples(site, manifest, counts, graph, dataset=dataset)
    for cls, count in sorted(counts.classes.items()):
        part = n(f"{site.base}dataset/class/{_key(cls)}")
        out.add(dataset, V.VOID + "classPartition", part)
        out.add(part, V.VOID + "class", n(cls))
        out.add(part, V.VOID + "entities", out.typed(count, V.XSD + "integer"))
    for prop, count in sorted(counts.properties.items()):
        part = n(property_partition(site.base, prop))
        out.add(dataset, V.VOID + "propertyPartition", part)
        out.add(part, V.VOID + "property", n(prop))
        out.add(part, V.VOID + "triples", out.typed(count, V.XSD + "integer"))
    _places(out, counts)
    _type_values(out)
    return out.triples


# DCAT-AP gives each property's values a class; the values we name are typed accordingly
# (what the EU authority tables, IANA and SPDX say they are), so a SHACL engine without
# those tables loaded can check them.
_VALUE_CLASSES = {
    V.DCTERMS + "spatial": V.DCTERMS + "Location",
    V.DCTERMS + "language": V.DCTERMS + "LinguisticSystem",
    V.DCAT + "themeTaxonomy": V.SKOS + "ConceptScheme",
    V.DCAT + "theme": V.SKOS + "Concept",
    DCATAP + "availability": V.SKOS + "Concept",
    V.FOAF + "homepage": V.FOAF + "Document",
    V.DCAT + "landingPage": V.FOAF + "Document",
    V.DCTERMS + "conformsTo": V.DCTERMS + "Standard",
    V.DCAT + "endpointURL": V.RDFS + "Resource",
    V.DCAT + "endpointDescription": V.RDFS + "Resource",
    V.DCAT + "accessURL": V.RDFS + "Resource",
    V.DCAT + "downloadURL": V.RDFS + "Resource",
    V.DCAT + "mediaType": V.DCTERMS + "MediaType",
    V.DCTERMS + "format": V.DCTERMS + "MediaTypeOrExtent",
    SPDX + "algorithm": SPDX + "ChecksumAlgorithm",
    V.DCAT + "contactPoint": VCARD + "Kind",
}


#: the ADMS licence type (DCAT-AP recommends one per licence) of the licences the catalogue
#: and the external datasets use: CC BY 4.0 and MIT both ask for attribution (MIT: keep the
#: copyright notice); a licence not listed here goes without one rather than with a guess
LICENCE_TYPES = {
    LICENCE: "http://purl.org/adms/licencetype/Attribution",
    "https://spdx.org/licenses/MIT": "http://purl.org/adms/licencetype/Attribution",
}


#: the English labels of the controlled terms used, as their tables give them
_LABELS = {
    EU + "data-theme/GOVE": "Government and public sector",
    EU + "data-theme/ECON": "Economy and finance",
    EU + "data-theme/REGI": "Regions and cities",
    EU + "planned-availability/AVAILABLE": "available",
    "http://purl.org/adms/licencetype/Attribution": "Attribution",
    "http://purl.org/adms/publishertype/NonProfitOrganisation": "Non-Profit Organisation",
}


def _type_values(out: _Out) -> None:
    typed: set[tuple[str, str]] = set()
    publisher_types = {t.object.value for t in out.triples if t.predicate.value == V.DCTERMS + "type"}
    for triple in list(out.triples):
        cls = _VALUE_CLASSES.get(triple.predicate.value)
        if triple.predicate.value == V.DCTERMS + "license":  # the catalogue's, and each external dataset's
            cls = V.DCTERMS + "LicenseDocument"
        if cls and isinstance(triple.object, NamedNode) and (triple.object.value, cls) not in typed:
            typed.add((triple.object.value, cls))
            out.add(triple.object, V.RDF_TYPE, NamedNode(cls))
    licences = {t.object.value for t in out.triples if t.predicate.value == V.DCTERMS + "license"}
    for licence in sorted(licences):
        if licence in LICENCE_TYPES:
            out.add(NamedNode(licence), V.DCTERMS + "type", NamedNode(LICENCE_TYPES[licence]))
    for concept in publisher_types | {"http://purl.org/adms/licencetype/Attribution"}:
        out.add(NamedNode(concept), V.RDF_TYPE, NamedNode(V.SKOS + "Concept"))
    concepts = {t.subject.value for t in out.triples
                if t.predicate.value == V.RDF_TYPE and t.object.value == V.SKOS + "Concept"}
    for concept in sorted(concepts):
        if concept in _LABELS:
            out.add(NamedNode(concept), V.SKOS_PREF, Literal(_LABELS[concept], language="en"))
    out.add(NamedNode(EU + "data-theme"), V.DCTERMS + "title", Literal("Data theme", language="en"))


def _places(out: _Out, counts: Counts) -> None:
    """Centroid and extent of the place the dataset covers, from the divisions table in the
    build: the point it gives for Beijing (110000), and the box around the points it gives
    for Beijing's divisions (their seats, so smaller than the municipality)."""
    centroid = counts.place_points.get("110000")
    points = []
    for wkt in counts.place_points.values():
        inside = wkt.strip()[len("POINT("):-1].split() if wkt.strip().upper().startswith("POINT(") else []
        if len(inside) == 2:
            try:
                points.append((float(inside[0]), float(inside[1])))
            except ValueError:
                pass
    if centroid is None or len(points) < 2:
        return
    west, east = min(x for x, _ in points), max(x for x, _ in points)
    south, north = min(y for _, y in points), max(y for _, y in points)
    box = (f"POLYGON(({west} {south}, {east} {south}, {east} {north}, {west} {north}, {west} {south}))")
    for place in SPATIAL:
        node = NamedNode(place)
        out.add(node, V.DCAT + "centroid", out.typed(centroid, V.GEO + "wktLiteral"))
        out.add(node, V.DCAT + "bbox", out.typed(box, V.GEO + "wktLiteral"))
        out.add(node, V.RDFS + "comment", Literal(
            "Centroid: the point the build's divisions table (cpca) gives for 110000 北京市; box: the "
            "extent of the points it gives for Beijing's divisions (their seats), not the boundary.",
            language="en"))


def graph_triples(site: Site, manifest: Mapping, counts: Counts, graph: str, *,
                  dataset: NamedNode | None = None) -> list[Triple]:
    """One named graph as a subset of the dataset: its name, count, provenance and its dump."""
    out = _Out()
    n = NamedNode
    node = n(graph)
    dataset = dataset or site.dataset()
    info = graph_info(manifest, graph, counts.documents)
    # an external dataset's dump is under that dataset's licence (cpca: MIT), not the catalogue's
    licence = NamedNode(info.get("licence") or LICENCE)
    out.add(dataset, V.VOID + "subset", node)
    out.add(dataset, V.DCTERMS + "hasPart", node)
    out.add(node, V.RDF_TYPE, n(V.VOID + "Linkset" if info["kind"] == "links" else V.VOID + "Dataset"))
    out.add(node, V.RDF_TYPE, n(V.SD + "NamedGraph"))
    out.add(node, V.SD + "name", node)
    out.add(node, V.DCTERMS + "isPartOf", dataset)
    out.add(node, V.DCTERMS + "title", Literal(info["title"], language="en"))
    if info.get("title_zh") and info["kind"] == "document":
        out.add(node, V.DCTERMS + "title", Literal(info["title_zh"], language="zh-hans"))
    out.add(node, V.VOID + "triples", out.typed(counts.graphs.get(graph, 0), V.XSD + "integer"))
    if counts.graphs.get(graph) and not counts.outside.get(graph):  # all its subjects lie in it
        out.add(node, V.VOID + "uriSpace", Literal(site.base + "id/"))
    out.add(node, V.VOID + "sparqlEndpoint", site.endpoint())
    if info.get("document"):
        out.add(node, V.PROV + "wasDerivedFrom", n(info["document"]))
        out.add(node, V.DCTERMS + "source", n(info["document"]))
    if info.get("licence"):
        out.add(node, V.DCTERMS + "license", n(info["licence"]))
    if info.get("retrieved"):
        out.add(node, V.PAV + "retrievedOn", out.typed(info["retrieved"], V.XSD + "date"))
    if info.get("source"):
        out.add(node, V.PAV + "retrievedFrom", n(info["source"]))
    if info.get("landing_page"):
        out.add(node, V.DCAT + "landingPage", n(info["landing_page"]))
    if info.get("publisher"):
        agent = n(f"{site.base}dataset/publisher/{_key(info['publisher'])}")
        out.add(node, V.DCTERMS + "publisher", agent)
        out.add(agent, V.RDF_TYPE, n(V.FOAF + "Organization"))
        out.add(agent, V.FOAF + "name", Literal(info["publisher"]))
    if info["kind"] == "links":
        out.add(node, V.VOID + "linkPredicate", n(V.SKOS + "exactMatch"))
        out.add(node, V.VOID + "subjectsTarget", dataset)
        if info.get("target"):
            out.add(node, V.VOID + "objectsTarget", n(info["target"]))
    dump = site.graph_dump(graph)
    if dump:
        rest = site.graph_path(graph)
        dist = n(f"{site.base}dataset/distribution/graph/{url_path(rest)}")
        out.add(node, V.VOID + "dataDump", n(dump))
        _distribution(out, dataset, dist, site, licence,
                      f"The named graph <{graph}> alone, as N-Triples.")
        out.add(dist, V.DCAT + "downloadURL", n(dump))
        out.add(dist, V.DCAT + "accessURL", n(dump))
        out.add(dist, V.DCAT + "mediaType", n(IANA + "application/n-triples"))
        out.add(dist, V.DCTERMS + "format", n(EU + "file-type/RDF_N_TRIPLES"))
        out.add(dist, V.DCTERMS + "title", Literal(f"Named graph {rest}", language="en"))
    return out.triples


def graph_info(manifest: Mapping, graph: str, documents: Mapping[str, Mapping[str, str]] | None = None) -> dict:
    """What the manifest says a named graph is: kind, title, source document, licence.
    A document's graph is titled by the document's titles (`documents`: IRI → language tag
    → title, `Counts.documents`), never by the corpus's file name, which is the builder's."""
    for source in manifest.get("sources", []):
        if source.get("graph") == graph:
            return {"kind": "document", **_document_titles(source.get("document") or graph, documents or {}),
                    "document": source.get("document"), "file": source.get("file"),
                    "sha256": source.get("sha256")}
    for entry in manifest.get("external", []):
        if entry.get("graph") == graph:
            return {"kind": "external", "title": entry.get("title") or entry.get("name", "external dataset"),
                    "title_zh": entry.get("title_zh"),
                    "licence": entry.get("licence"), "source": entry.get("source"),
                    "retrieved": entry.get("retrieved"), "description": entry.get("description"),
                    "publisher": entry.get("publisher"), "landing_page": entry.get("landing_page")}
        if entry.get("links_graph") == graph:
            return {"kind": "links", "title": f"Links from bjkg's places to {entry.get('name', 'an external dataset')}",
                    "target": entry.get("graph")}
    last = graph.rstrip("/").rsplit("/", 1)[-1]
    titles = {"reference": "Reference entities: places, agencies, people, themes, indicators",
              "ontology": "The bjkg ontology", "inferred": "Triples inferred by OWL 2 RL",
              "publication": "The publication manifest"}
    return {"kind": last if last in titles else "graph", "title": titles.get(last, f"Named graph {last}")}


def _document_titles(document: str, documents: Mapping[str, Mapping[str, str]]) -> dict:
    """{"title" (English), "title_zh" (Simplified, or None), "title_zh_hant" (from the
    document's own Traditional title, or None)} of a document's graph."""
    titles = documents.get(document, {})
    english = titles.get("en") or next((t for tag, t in titles.items() if not tag.startswith("zh")), None)
    chinese = titles.get("zh-hans") or titles.get("zh") or titles.get("zh-hant")
    hant = titles.get("zh-hant")
    name = english or chinese or document.rstrip("/").rsplit("/", 1)[-1]
    return {"title": f"Facts stated in the document “{name}”",
            "title_zh": f"文献《{chinese}》所述事实" if chinese else None,
            "title_zh_hant": f"文獻《{hant}》所述事實" if hant else None}


def dataset_title(entry: Mapping, lang: str) -> dict:
    """A dataset's or graph's title for a page in `lang`, as {"text", "lang"}: its Chinese
    title (build.json `title_zh`, Simplified) on a Chinese page — on a 繁體 one its
    Traditional title if it has one (`title_zh_hant`), else the Simplified converted — else
    its English title, and always the language the text is in, so a page marks a title
    that is not in its own language (`lang="en"` on a Chinese page)."""
    chinese, english = entry.get("title_zh"), entry.get("title") or entry.get("name")
    if chinese and lang.startswith("zh") or chinese and not english:
        if lang == "zh-Hant":
            return {"text": entry.get("title_zh_hant") or to_traditional(chinese), "lang": "zh-Hant"}
        return {"text": chinese, "lang": "zh-Hans"}
    return {"text": english or "", "lang": "en"}


def _describe(out: _Out, node: NamedNode, site: Site, suffix: str = "") -> None:
    for lang, title in site.titles.items():
        out.add(node, V.DCTERMS + "title", Literal(title + (" — catalogue" if suffix and lang == "en" else ""),
                                                   language=lang))
    for lang, text in site.descriptions.items():
        out.add(node, V.DCTERMS + "description", Literal(text, language=lang))


def _common(out: _Out, node: NamedNode, site: Site, publisher: NamedNode, licence: NamedNode) -> None:
    """Publisher, licence, languages, place, dates: the same for the catalogue and the dataset."""
    out.add(node, V.DCTERMS + "publisher", publisher)
    out.add(node, V.DCTERMS + "license", licence)
    for language in LANGUAGES:
        out.add(node, V.DCTERMS + "language", NamedNode(language))
    for place in SPATIAL:
        out.add(node, V.DCTERMS + "spatial", NamedNode(place))
    if site.built:
        out.add(node, V.DCTERMS + "issued", out.typed(site.built, V.XSD + "dateTime"))
        out.add(node, V.DCTERMS + "modified", out.typed(site.built, V.XSD + "dateTime"))


def _distribution(out: _Out, dataset: NamedNode, dist: NamedNode, site: Site, licence: NamedNode,
                  description: str) -> None:
    out.add(dataset, V.DCAT + "distribution", dist)
    out.add(dist, V.RDF_TYPE, NamedNode(V.DCAT + "Distribution"))
    out.add(dist, V.DCTERMS + "description", Literal(description, language="en"))
    out.add(dist, V.DCTERMS + "license", licence)
    out.add(dist, DCATAP + "availability", NamedNode(EU + "planned-availability/AVAILABLE"))
    if site.built:
        out.add(dist, V.DCTERMS + "issued", out.typed(site.built, V.XSD + "dateTime"))


def property_partition(base: str, prop: str) -> str:
    """The IRI of the VoID property partition of `prop`: the catalogue's, and the one a
    predicate's own page names (`bjkg.server.pages.describe`)."""
    return f"{base}dataset/property/{_key(prop)}"


def _key(iri: str) -> str:
    """A stable fragment-free key for a partition node (a hash of the IRI)."""
    import hashlib

    return hashlib.sha256(iri.encode("utf-8")).hexdigest()[:16]


# --------------------------------------------------------------------------- quotes

def quotes_status(manifest: Mapping | None, lang: str) -> dict | None:
    """Whether the served build proved its quotes (build.json `quotes`), with the notice in
    `lang` when it did not. A build that does not say is not taken as verified; no build
    (--empty) has no quotes to speak of. Never the corpus path: that is the builder's."""
    if manifest is None:
        return None
    quotes = manifest.get("quotes") if isinstance(manifest.get("quotes"), dict) else {}
    if quotes.get("verified") is True:
        return {"verified": True, "quotes": quotes.get("quotes"), "documents": quotes.get("documents")}
    return {"verified": False, "reason": str(quotes.get("reason") or "the build does not record a quote check"),
            "notice": i18n.text("quotes_not_verified", lang),
            "detail": i18n.text("quotes_not_verified_detail", lang),
            # the short notice in every UI script, so no reader misses it whatever the page's language
            "notices": {code: i18n.text("quotes_not_verified", code) for code in ("zh-Hans", "zh-Hant", "en")}}
