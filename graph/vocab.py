"""Namespaces and the IRIs the build mints, in one place.

Entity IRIs are `<base>id/<kind>/<slug>`; named graphs `<base>graph/<name>`. The base is
configurable (`--base`, `$BJKG_BASE`); the ontology namespace is not, since other
datasets link to its terms.
"""
from __future__ import annotations

from dataclasses import dataclass

from rdflib import Namespace, URIRef
from rdflib.namespace import DCTERMS, OWL, PROV, RDF, RDFS, SKOS, XSD

DEFAULT_BASE = "https://w3id.org/bjkg/"
BJKG = Namespace("https://w3id.org/bjkg/ontology#")
ONTOLOGY_IRI = URIRef("https://w3id.org/bjkg/ontology")
QB = Namespace("http://purl.org/linked-data/cube#")
SDMX_DIM = Namespace("http://purl.org/linked-data/sdmx/2009/dimension#")
SDMX_MEASURE = Namespace("http://purl.org/linked-data/sdmx/2009/measure#")
SDMX_ATTR = Namespace("http://purl.org/linked-data/sdmx/2009/attribute#")
UNIT = Namespace("http://qudt.org/vocab/unit/")
ORG = Namespace("http://www.w3.org/ns/org#")
SCHEMA = Namespace("https://schema.org/")
SCHEMA_HTTP = Namespace("http://schema.org/")
GEO = Namespace("http://www.opengis.net/ont/geosparql#")
TIME = Namespace("http://www.w3.org/2006/time#")
DCAT = Namespace("http://www.w3.org/ns/dcat#")
VOID = Namespace("http://rdfs.org/ns/void#")
WD = Namespace("http://www.wikidata.org/entity/")

PREFIXES = {
    "bjkg": str(BJKG), "rdf": str(RDF), "rdfs": str(RDFS), "owl": str(OWL), "xsd": str(XSD),
    "skos": str(SKOS), "dcterms": str(DCTERMS), "prov": str(PROV), "qb": str(QB),
    "sdmx-dimension": str(SDMX_DIM), "sdmx-measure": str(SDMX_MEASURE),
    "sdmx-attribute": str(SDMX_ATTR), "unit": str(UNIT), "org": str(ORG),
    "schema": str(SCHEMA), "geo": str(GEO), "time": str(TIME), "dcat": str(DCAT),
    "void": str(VOID), "wd": str(WD),
}

# Units: parser name → IRI (QUDT where it has one, else minted in the ontology)
UNITS = {
    "yuan": UNIT["CCY_CNY"], "usd": UNIT["CCY_USD"], "percent": UNIT["PERCENT"],
    "count": UNIT["NUM"], "km2": UNIT["KiloM2"], "m2": UNIT["M2"], "km": UNIT["KiloM"],
    "yuan-per-person": BJKG["YuanPerPerson"], "rank": BJKG["Rank"], "times": BJKG["Times"],
    "day": BJKG["Day"], "year": BJKG["Year"],
}
STATUS = {"actual": BJKG["Actual"], "target": BJKG["Target"],
          "policy-parameter": BJKG["PolicyParameter"]}
QUALIFIER = {"exact": BJKG["Exact"], "approximately": BJKG["Approximately"],
             "at-least": BJKG["AtLeast"], "at-most": BJKG["AtMost"], "nearly": BJKG["Nearly"]}

# Record predicate names → IRIs
PREDICATE_IRIS = {
    "partOf": BJKG["partOf"], "involvesPlace": BJKG["involvesPlace"],
    "involvesAgency": BJKG["involvesAgency"], "leadAgency": BJKG["leadAgency"],
    "hasTheme": BJKG["hasTheme"], "within": BJKG["within"],
    "subOrganizationOf": ORG["subOrganizationOf"], "locatedIn": BJKG["locatedIn"],
    "proposedBy": BJKG["proposedBy"], "postIn": ORG["postIn"], "broader": SKOS["broader"],
    "deliveredAt": BJKG["deliveredAt"], "deliveredBy": BJKG["deliveredBy"],
    "location": BJKG["location"], "organizer": BJKG["organizer"],
    "cooperatesWith": BJKG["cooperatesWith"], "advances": BJKG["advances"],
}


@dataclass(frozen=True)
class Iris:
    """IRIs under one base."""
    base: str = DEFAULT_BASE

    def entity(self, ident: str) -> URIRef:
        return URIRef(f"{self.base}id/{ident}")

    def graph(self, name: str) -> URIRef:
        return URIRef(f"{self.base}graph/{name}")

    def doc_graph(self, doc_id: str) -> URIRef:
        return self.graph(doc_id.split("/", 1)[1])

    @property
    def reference_graph(self) -> URIRef:
        return self.graph("reference")

    @property
    def ontology_graph(self) -> URIRef:
        return self.graph("ontology")

    @property
    def inferred_graph(self) -> URIRef:
        return self.graph("inferred")

    @property
    def dataset(self) -> URIRef:
        return URIRef(f"{self.base}id/dataset/observations")
