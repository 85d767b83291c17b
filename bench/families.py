"""Query families: each a query shape whose parameters are drawn at random from the data.

A benchmark of one fixed text per query measures whatever remembers that text best (a
result cache, a plan cache, a count kept for that one shape) instead of the engine. Each
family here is a shape with holes; `generate(store)` fills the holes with the data's own
IRIs, labels and predicates (a fixed seed, so a data set and a seed give the same bytes)
and returns `COUNT` (500) request bodies per family. wrk's script (bench/wrk/request.lua)
picks one of them at random for every request, so consecutive requests rarely repeat a text.

The families (the six kinds of issue #17, plus a GROUP BY with one more triple pattern):

* ``entity``   all properties of one entity (an initiative, place, agency, indicator,
  document or observation) with the objects' labels;
* ``inbound``  inbound links of one place;
* ``contains`` label search with ``CONTAINS`` for a term cut from a label of the data;
* ``series``   one indicator's observations for one area, ordered by period (a pair that
  occurs in the data);
* ``group-by`` ``COUNT … GROUP BY`` the objects of one predicate (a predicate of the data with
  few distinct objects), with one of three aggregates;
* ``group-by-filtered`` ``COUNT`` of observations grouped by one dimension for one value of
  another (e.g. per indicator for one area, per period for one status);
* ``join``     initiatives in places within one region, with their lead agencies' labels.

The default graph is the union of the named graphs on every peer. Answers are bounded
(``LIMIT``) where one parameter could give more rows than a server's row limit, so the row
counts of the peers can be compared for the same body (`run.check_rows`).
"""
from __future__ import annotations

import random
import urllib.parse
from dataclasses import dataclass

COUNT = 500
SEED = 20240121

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
BJKG = "https://w3id.org/bjkg/ontology#"
QB = "http://purl.org/linked-data/cube#"
SDMX_DIM = "http://purl.org/linked-data/sdmx/2009/dimension#"

PREFIXES = """PREFIX bjkg: <https://w3id.org/bjkg/ontology#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX qb: <http://purl.org/linked-data/cube#>
PREFIX sdmx-dimension: <http://purl.org/linked-data/sdmx/2009/dimension#>
PREFIX sdmx-measure: <http://purl.org/linked-data/sdmx/2009/measure#>
PREFIX sdmx-attribute: <http://purl.org/linked-data/sdmx/2009/attribute#>
"""

NAMES = ("entity", "inbound", "contains", "series", "group-by", "group-by-filtered", "join")

DESCRIPTIONS = {
    "entity": "all properties of one random entity, with the objects' labels",
    "inbound": "inbound links of one random place",
    "contains": "label search with CONTAINS for a random term cut from the data's labels",
    "series": "one random indicator's observations for one random area, ordered by period",
    "group-by": "COUNT … GROUP BY the objects of one random predicate",
    "group-by-filtered": "COUNT of observations GROUP BY one dimension for a random value of another",
    "join": "initiatives in places within one random region, with their lead agencies' English labels",
}

# The observation dimensions the filtered GROUP BY combines (grouped by one, filtered by another).
DIMENSIONS = {
    "indicator": BJKG + "indicator",
    "area": SDMX_DIM + "refArea",
    "period": SDMX_DIM + "refPeriod",
    "status": BJKG + "status",
    "qualifier": BJKG + "qualifier",
}
ENTITY_KINDS = ("Initiative", "Place", "Agency", "Indicator", "SourceDocument")
GROUP_BY_MAX_OBJECTS = 1000  # a predicate with more distinct objects is a listing, not a facet
GROUP_BY_MIN_SUBJECTS = 20
AGGREGATES = ("COUNT(?s)", "COUNT(*)", "COUNT(DISTINCT ?s)")


@dataclass
class Request:
    """One request of a family: its parameters (for the report) and its SPARQL text."""

    family: str
    params: dict
    query: str

    def body(self) -> str:
        """The POST body (`application/x-www-form-urlencoded`): one line, no newline in it."""
        return urllib.parse.urlencode({"query": self.query})


def literal(text: str) -> str:
    """A SPARQL string literal for any text (escaped as the grammar's ECHAR)."""
    escaped = (text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
               .replace("\r", "\\r").replace("\t", "\\t"))
    return f'"{escaped}"'


def iri(value: str) -> str:
    if any(c in value for c in '<>"{}|^`\\ \n'):
        raise ValueError(f"not an IRI usable in SPARQL text: {value!r}")
    return f"<{value}>"


# ---------------------------------------------------------------- the data's parameters

def _column(store, text: str) -> list[str]:
    """First column of a SELECT over the union graph, as strings, sorted (stable order)."""
    values = {row[0].value for row in store.query(text, use_default_graph_as_union=True)}
    return sorted(values)


def pools(store) -> dict[str, list]:
    """Everything the families draw from, read from the store (sorted, so draws are stable)."""
    out: dict[str, list] = {}
    out["entities"] = {kind: _column(store, f"SELECT DISTINCT ?s WHERE {{ ?s <{RDF_TYPE}> <{BJKG}{kind}> }}")
                       for kind in ENTITY_KINDS}
    out["entities"]["Observation"] = _column(
        store, f"SELECT DISTINCT ?s WHERE {{ ?s <{RDF_TYPE}> <{QB}Observation> }}")
    out["entities"] = {k: [v for v in vs if not v.startswith("_:")] for k, vs in out["entities"].items() if vs}
    out["places"] = out["entities"].get("Place", [])
    out["regions"] = _column(store, f"SELECT DISTINCT ?r WHERE {{ ?p <{BJKG}within> ?r . ?i <{BJKG}involvesPlace> ?p }}")
    out["labels"] = _column(store, f"SELECT DISTINCT ?l WHERE {{ ?s <{RDFS_LABEL}> ?l }}")
    out["series"] = sorted({(row[0].value, row[1].value) for row in store.query(
        f"SELECT DISTINCT ?i ?a WHERE {{ ?o <{BJKG}indicator> ?i ; <{SDMX_DIM}refArea> ?a }}",
        use_default_graph_as_union=True)})
    predicates = []
    for row in store.query("SELECT ?p (COUNT(DISTINCT ?o) AS ?n) (COUNT(DISTINCT ?s) AS ?m) "
                           "WHERE { ?s ?p ?o } GROUP BY ?p", use_default_graph_as_union=True):
        n, m = int(row[1].value), int(row[2].value)
        if 2 <= n <= GROUP_BY_MAX_OBJECTS and m >= GROUP_BY_MIN_SUBJECTS:
            predicates.append(row[0].value)
    out["predicates"] = sorted(predicates)
    out["dimensions"] = {name: _column(store, f"SELECT DISTINCT ?v WHERE {{ ?o <{p}> ?v }}")
                         for name, p in DIMENSIONS.items()}
    out["dimensions"] = {k: v for k, v in out["dimensions"].items() if v}
    return out


def search_term(rng: random.Random, labels: list[str]) -> str:
    """A piece of a random label: two characters of a CJK label, three to five letters otherwise.

    Cut from the data's own labels, so most terms match something and some match many.
    """
    for _ in range(20):
        label = rng.choice(labels)
        if not label.strip():
            continue
        size = 2 if any("\u3400" <= c <= "\u9fff" for c in label) else rng.randint(3, 5)
        size = min(size, len(label))
        start = rng.randrange(len(label) - size + 1)
        term = label[start:start + size]
        if term.strip():
            return term
    return labels[0][:2] if labels else "a"


# ---------------------------------------------------------------- the families

def _entity(rng, pool):
    kind = rng.choice(sorted(pool["entities"]))
    s = rng.choice(pool["entities"][kind])
    return {"kind": kind, "entity": s}, PREFIXES + f"""SELECT ?p ?o ?label WHERE {{
  {iri(s)} ?p ?o .
  OPTIONAL {{ ?o rdfs:label ?label }}
}} LIMIT 5000"""


def _inbound(rng, pool):
    place = rng.choice(pool["places"])
    return {"place": place}, PREFIXES + f"""SELECT ?s ?p WHERE {{
  ?s ?p {iri(place)} .
}} LIMIT 1000"""


def _contains(rng, pool):
    term = search_term(rng, pool["labels"])
    return {"term": term}, PREFIXES + f"""SELECT ?s ?label WHERE {{
  ?s rdfs:label ?label .
  FILTER(CONTAINS(?label, {literal(term)}))
}} LIMIT 100"""


def _series(rng, pool):
    indicator, area = rng.choice(pool["series"])
    return {"indicator": indicator, "area": area}, PREFIXES + f"""SELECT ?obs ?period ?value ?unit WHERE {{
  ?obs bjkg:indicator {iri(indicator)} ;
       sdmx-dimension:refArea {iri(area)} ;
       sdmx-dimension:refPeriod ?period ;
       sdmx-measure:obsValue ?value ;
       sdmx-attribute:unitMeasure ?unit .
}} ORDER BY ?period ?obs"""


def _group_by(rng, pool):
    predicate = rng.choice(pool["predicates"])
    aggregate = rng.choice(AGGREGATES)
    return {"predicate": predicate, "aggregate": aggregate}, PREFIXES + f"""SELECT ?o ({aggregate} AS ?n) WHERE {{
  ?s {iri(predicate)} ?o .
}} GROUP BY ?o"""


def _group_by_filtered(rng, pool):
    dims = sorted(pool["dimensions"])
    group = rng.choice(dims)
    where = rng.choice([d for d in dims if d != group])
    value = rng.choice(pool["dimensions"][where])
    return {"group": group, "where": where, "value": value}, PREFIXES + f"""SELECT ?g (COUNT(?obs) AS ?n) WHERE {{
  ?obs {iri(DIMENSIONS[group])} ?g ;
       {iri(DIMENSIONS[where])} {iri(value)} .
}} GROUP BY ?g"""


def _join(rng, pool):
    region = rng.choice(pool["regions"])
    return {"region": region}, PREFIXES + f"""SELECT ?initiative ?place ?agencyLabel WHERE {{
  ?place bjkg:within {iri(region)} .
  ?initiative bjkg:involvesPlace ?place ;
              bjkg:leadAgency ?agency .
  ?agency rdfs:label ?agencyLabel .
  FILTER(lang(?agencyLabel) = "en")
}} LIMIT 5000"""


MAKERS = {"entity": (_entity, "entities"), "inbound": (_inbound, "places"), "contains": (_contains, "labels"),
          "series": (_series, "series"), "group-by": (_group_by, "predicates"),
          "group-by-filtered": (_group_by_filtered, "dimensions"), "join": (_join, "regions")}


def generate(store, *, count: int = COUNT, seed: int = SEED) -> dict[str, list[Request]]:
    """`count` requests per family, parameters drawn from `store` with `seed`.

    A family whose pool is empty in this data (or, for the filtered GROUP BY, has fewer than
    two dimensions) is left out rather than aimed at IRIs that are not there.
    """
    pool = pools(store)
    out: dict[str, list[Request]] = {}
    for name in NAMES:
        make, needs = MAKERS[name]
        if not pool.get(needs) or (name == "group-by-filtered" and len(pool["dimensions"]) < 2):
            continue
        rng = random.Random(f"{seed}:{name}")  # one stream per family: adding a family moves no other
        out[name] = [Request(name, *make(rng, pool)) for _ in range(count)]
    return out


def sample(requests: list[Request], k: int) -> list[int]:
    """Indexes of `k` requests to check row counts on: spread over the list, fixed."""
    if not requests:
        return []
    step = max(1, len(requests) // k)
    return list(range(0, len(requests), step))[:k]
