"""The SPARQL service description (``GET /sparql`` with no query), built as triples.

Like Oxigraph server's ``service_description.rs``: a small graph in the SPARQL 1.1 Service
Description vocabulary, serialised by pyoxigraph in the negotiated RDF format — never text
templates. It states the endpoint, languages, result formats, features (union default graph,
federated query only when an allow-list exists) and the dataset with per-graph triple counts
(the endpoint's own answers, as the catalogue publishes them: `bjkg.server.pages.catalog`).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from pyoxigraph import Literal, NamedNode, Triple

from bjkg.server.core.conneg import RDF_FORMATS, RESULT_FORMATS

SD = "http://www.w3.org/ns/sparql-service-description#"
VOID = "http://rdfs.org/ns/void#"
RDF_TYPE = NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
DCT = "http://purl.org/dc/terms/"
XSD_INTEGER = NamedNode("http://www.w3.org/2001/XMLSchema#integer")
PREFIXES = {"sd": SD, "void": VOID, "dcterms": DCT, "formats": "http://www.w3.org/ns/formats/"}

_FORMAT_IRIS = {
    "application/sparql-results+json": "SPARQL_Results_JSON",
    "application/sparql-results+xml": "SPARQL_Results_XML",
    "text/csv": "SPARQL_Results_CSV",
    "text/tab-separated-values": "SPARQL_Results_TSV",
    "text/turtle": "Turtle",
    "application/n-triples": "N-Triples",
    "application/ld+json": "JSON-LD",
    "application/rdf+xml": "RDF_XML",
    "application/trig": "TriG",
    "application/n-quads": "N-Quads",
    "text/n3": "N3",
}


def sd(name: str) -> NamedNode:
    return NamedNode(SD + name)


def describe_service(endpoint: str, *, update: bool, union_default_graph: bool,
                     graphs: Mapping[str, int | None], service_allowlist: Sequence[str],
                     title: str | None = None, total_triples: int | None = None) -> list[Triple]:
    """Triples describing the endpoint at `endpoint` and its dataset."""
    service = NamedNode(endpoint)
    out = [
        Triple(service, RDF_TYPE, sd("Service")),
        Triple(service, sd("endpoint"), service),
        Triple(service, sd("supportedLanguage"), sd("SPARQL11Query")),
    ]
    if title:
        out.append(Triple(service, NamedNode(DCT + "title"), Literal(title, language="en")))
    if update:
        out.append(Triple(service, sd("supportedLanguage"), sd("SPARQL11Update")))
    features: list[str] = []  # no sd:DereferencesURIs: FROM never fetches
    if union_default_graph:
        features.append("UnionDefaultGraph")
    if service_allowlist:
        features.append("BasicFederatedQuery")
    for feature in features:
        out.append(Triple(service, sd("feature"), sd(feature)))
    for fmt in (*RESULT_FORMATS, *RDF_FORMATS):
        out.append(Triple(service, sd("resultFormat"),
                          NamedNode("http://www.w3.org/ns/formats/" + _FORMAT_IRIS[fmt.media_type])))
    # fragments of the endpoint, not blank nodes: the same description is the same bytes
    dataset, default_graph = NamedNode(endpoint + "#dataset"), NamedNode(endpoint + "#default-graph")
    out += [
        Triple(service, sd("defaultDataset"), dataset),
        Triple(dataset, RDF_TYPE, sd("Dataset")),
        Triple(dataset, sd("defaultGraph"), default_graph),
        Triple(default_graph, RDF_TYPE, sd("Graph")),
    ]
    if total_triples is not None and union_default_graph:
        out.append(Triple(default_graph, NamedNode(VOID + "triples"), Literal(str(total_triples), datatype=XSD_INTEGER)))
    for index, (iri, count) in enumerate(graphs.items(), start=1):
        named, graph = NamedNode(f"{endpoint}#named-graph-{index}"), NamedNode(f"{endpoint}#graph-{index}")
        out += [
            Triple(dataset, sd("namedGraph"), named),
            Triple(named, RDF_TYPE, sd("NamedGraph")),
            Triple(named, sd("name"), NamedNode(iri)),
            Triple(named, sd("graph"), graph),
            Triple(graph, RDF_TYPE, sd("Graph")),
        ]
        if count is not None:
            out.append(Triple(graph, NamedNode(VOID + "triples"), Literal(str(count), datatype=XSD_INTEGER)))
    return out
