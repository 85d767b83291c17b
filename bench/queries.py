"""The query mix, aimed at IRIs that exist at every size (`generate.samples`).

Q1 all properties of one entity with the labels of the objects; Q2 inbound links of one
entity; Q3 label search with CONTAINS; Q4 one indicator's observations for one area, ordered
by period; Q5 an aggregate (COUNT … GROUP BY indicator); Q6 a two-hop join (initiatives in
places within a region, with their agencies' labels). Every peer gets the same text; the
default graph is the union of the named graphs on every peer (bjkg serves it that way,
Virtuoso does without FROM, rdflib-endpoint is loaded with the plain triples).
"""
from __future__ import annotations

PREFIXES = """PREFIX bjkg: <https://w3id.org/bjkg/ontology#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX qb: <http://purl.org/linked-data/cube#>
PREFIX sdmx-dimension: <http://purl.org/linked-data/sdmx/2009/dimension#>
PREFIX sdmx-measure: <http://purl.org/linked-data/sdmx/2009/measure#>
PREFIX sdmx-attribute: <http://purl.org/linked-data/sdmx/2009/attribute#>
"""

NAMES = ("Q1", "Q2", "Q3", "Q4", "Q5", "Q6")

DESCRIPTIONS = {
    "Q1": "all properties of one initiative, with the labels of the objects",
    "Q2": "inbound links of one place",
    "Q3": "label search with CONTAINS",
    "Q4": "one indicator's observations for one area, ordered by period",
    "Q5": "COUNT of observations GROUP BY indicator",
    "Q6": "initiatives in places within a district, with their lead agencies' labels",
}


def queries(samples: dict[str, str]) -> dict[str, str]:
    """Q1–Q6 as SPARQL text for the sample IRIs of one data set."""
    s = samples
    return {
        "Q1": PREFIXES + f"""SELECT ?p ?o ?label WHERE {{
  <{s['initiative']}> ?p ?o .
  OPTIONAL {{ ?o rdfs:label ?label }}
}}""",
        "Q2": PREFIXES + f"""SELECT ?s ?p WHERE {{
  ?s ?p <{s['place']}> .
}} LIMIT 1000""",
        "Q3": PREFIXES + """SELECT ?s ?label WHERE {
  ?s rdfs:label ?label .
  FILTER(CONTAINS(?label, "龙凤"))
} LIMIT 100""",
        "Q4": PREFIXES + f"""SELECT ?obs ?period ?value ?unit WHERE {{
  ?obs bjkg:indicator <{s['indicator']}> ;
       sdmx-dimension:refArea <{s['area']}> ;
       sdmx-dimension:refPeriod ?period ;
       sdmx-measure:obsValue ?value ;
       sdmx-attribute:unitMeasure ?unit .
}} ORDER BY ?period""",
        "Q5": PREFIXES + """SELECT ?indicator (COUNT(?obs) AS ?n) WHERE {
  ?obs bjkg:indicator ?indicator .
} GROUP BY ?indicator""",
        "Q6": PREFIXES + f"""SELECT ?initiative ?place ?agencyLabel WHERE {{
  ?place bjkg:within <{s['region']}> .
  ?initiative bjkg:involvesPlace ?place ;
              bjkg:leadAgency ?agency .
  ?agency rdfs:label ?agencyLabel .
  FILTER(lang(?agencyLabel) = "en")
}}""",
    }
