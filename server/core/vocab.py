"""Namespaces and the prefix table shared by every rendering of the graph.

One table serves the Turtle serialisations (as @prefix lines), the compact names shown in
pages (`bjkg:partOf`), and the PREFIX block pre-filled in the query editor, so a name
written in one place reads the same in the others.
"""
from __future__ import annotations

BASE = "https://w3id.org/bjkg/"

BJKG = "https://w3id.org/bjkg/ontology#"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
OWL = "http://www.w3.org/2002/07/owl#"
XSD = "http://www.w3.org/2001/XMLSchema#"
SKOS = "http://www.w3.org/2004/02/skos/core#"
PROV = "http://www.w3.org/ns/prov#"
ORG = "http://www.w3.org/ns/org#"
QB = "http://purl.org/linked-data/cube#"
SDMX_DIM = "http://purl.org/linked-data/sdmx/2009/dimension#"
SDMX_MEASURE = "http://purl.org/linked-data/sdmx/2009/measure#"
SDMX_ATTR = "http://purl.org/linked-data/sdmx/2009/attribute#"
SCHEMA = "https://schema.org/"
DCTERMS = "http://purl.org/dc/terms/"
DCAT = "http://www.w3.org/ns/dcat#"
VOID = "http://rdfs.org/ns/void#"
SPDX = "http://spdx.org/rdf/terms#"
SD = "http://www.w3.org/ns/sparql-service-description#"
SH = "http://www.w3.org/ns/shacl#"
FOAF = "http://xmlns.com/foaf/0.1/"
UNIT = "http://qudt.org/vocab/unit/"
QUDT = "http://qudt.org/schema/qudt/"
TIME = "http://www.w3.org/2006/time#"
GEO = "http://www.opengis.net/ont/geosparql#"
VANN = "http://purl.org/vocab/vann/"
PAV = "http://purl.org/pav/"

# Order matters only for display: the editor's PREFIX block lists them in this order.
PREFIXES: dict[str, str] = {
    "bjkg": BJKG,
    "id": BASE + "id/",
    "rdf": RDF,
    "rdfs": RDFS,
    "owl": OWL,
    "xsd": XSD,
    "skos": SKOS,
    "prov": PROV,
    "org": ORG,
    "qb": QB,
    "sdmx-dimension": SDMX_DIM,
    "sdmx-measure": SDMX_MEASURE,
    "sdmx-attribute": SDMX_ATTR,
    "schema": SCHEMA,
    "dcterms": DCTERMS,
    "unit": UNIT,
    "time": TIME,
    "geo": GEO,
    "foaf": FOAF,
}

# Extra prefixes for the service's own descriptions (VoID/DCAT, shapes); not in the editor.
META_PREFIXES: dict[str, str] = {
    **PREFIXES,
    "dcat": DCAT,
    "void": VOID,
    "spdx": SPDX,
    "sd": SD,
    "sh": SH,
    "qudt": QUDT,
    "vann": VANN,
    "pav": PAV,
}

RDF_TYPE = RDF + "type"
RDFS_LABEL = RDFS + "label"
SKOS_PREF = SKOS + "prefLabel"
SKOS_ALT = SKOS + "altLabel"


def compact(iri: str, prefixes: dict[str, str] = META_PREFIXES) -> str | None:
    """`bjkg:partOf` for a known namespace, else None; the longest namespace wins."""
    best = None
    for prefix, ns in prefixes.items():
        if iri.startswith(ns) and (best is None or len(ns) > len(prefixes[best])):
            best = prefix
    if best is None:
        return None
    local = iri[len(prefixes[best]):]
    return f"{best}:{local}" if local else None


def sparql_prefix_block(prefixes: dict[str, str] = PREFIXES) -> str:
    """The PREFIX lines the query editor and prefilled queries start with."""
    width = max(len(p) for p in prefixes) + 1
    return "\n".join(f"PREFIX {(p + ':').ljust(width)} <{ns}>" for p, ns in prefixes.items())


def prefixes_for(base: str, extra: bool = False) -> dict[str, str]:
    """The prefix table for a dataset whose base IRI is `base` (bjkg:, id:, graph: follow it)."""
    table = dict(META_PREFIXES if extra else PREFIXES)
    table["bjkg"] = base + "ontology#"
    table["id"] = base + "id/"
    table["graph"] = base + "graph/"
    return table
