"""The home page for people: what Beijing promised and reported, the structure of its
programme, the places that matter and the sources, all read from the graph.

Each section is one fixed query (no text from the request reaches it) and a little Python
to arrange the rows; nothing here names a year, an indicator or a place. The newest year
with targets is the one the table leads with, set beside the actual results of the year
before it; the strategy's pillars and the latest report's work areas come from their
`bjkg:partOf` links; the key places are those with the most facts about them or about a
place within them (below provincial level, where everything would be); the sources are the
graph's `bjkg:SourceDocument`s with their dates and outlets.
"""
from __future__ import annotations

from decimal import Decimal

from pyoxigraph import Literal, NamedNode

from bjkg.server.core import vocab as V
from bjkg.server.pages import i18n
from bjkg.server.pages.labels import local_name
from bjkg.server.pages.numbers import QUALIFIER_SIGNS, humanize, to_decimal

PREFIXES = """
PREFIX bjkg: <https://w3id.org/bjkg/ontology#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX qb: <http://purl.org/linked-data/cube#>
PREFIX schema: <https://schema.org/>
PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX sdmx-dimension: <http://purl.org/linked-data/sdmx/2009/dimension#>
PREFIX sdmx-measure: <http://purl.org/linked-data/sdmx/2009/measure#>
PREFIX sdmx-attribute: <http://purl.org/linked-data/sdmx/2009/attribute#>
"""

FIGURES_QUERY = PREFIXES + """
SELECT ?o ?indicator ?status ?start ?value ?unit ?qualifier ?quote ?doc ?area WHERE {
  VALUES ?status { bjkg:Target bjkg:Actual }
  ?o a qb:Observation ; bjkg:status ?status ; bjkg:indicator ?indicator ;
     sdmx-measure:obsValue ?value ; sdmx-dimension:refPeriod ?period .
  ?period schema:startDate ?start .
  OPTIONAL { ?o sdmx-attribute:unitMeasure ?unit }
  OPTIONAL { ?o bjkg:qualifier ?qualifier }
  OPTIONAL { ?o bjkg:quote ?quote }
  OPTIONAL { ?o prov:wasDerivedFrom ?doc }
  OPTIONAL { ?o sdmx-dimension:refArea ?area }
}
"""

PARTS_QUERY = PREFIXES + """
SELECT ?whole ?class ?part ?ordinal ?year WHERE {
  VALUES ?class { bjkg:Pillar bjkg:WorkArea }
  ?part a ?class ; bjkg:partOf ?whole .
  ?whole a ?wholeClass . VALUES ?wholeClass { bjkg:Strategy bjkg:GovernmentWorkReport }
  OPTIONAL { ?part bjkg:ordinal ?ordinal }
  OPTIONAL { ?whole bjkg:year ?year }
}
"""

PLACES_QUERY = PREFIXES + """
SELECT ?place (COUNT(DISTINCT ?x) AS ?n) WHERE {
  ?place a bjkg:Place .
  FILTER NOT EXISTS { ?place a ?big . VALUES ?big { bjkg:Country bjkg:Province bjkg:Municipality } }
  ?inner bjkg:within* ?place .
  ?x bjkg:involvesPlace|sdmx-dimension:refArea|bjkg:aboutPlace ?inner .
} GROUP BY ?place ORDER BY DESC(?n) ?place LIMIT 8
"""

SOURCES_QUERY = PREFIXES + """
SELECT ?doc ?genre ?published ?publisher ?author ?reportDate WHERE {
  ?doc a bjkg:SourceDocument .
  OPTIONAL { ?doc bjkg:genre ?genre }
  OPTIONAL { ?doc schema:datePublished ?published }
  OPTIONAL { ?doc schema:publisher ?publisher }
  OPTIONAL { ?doc schema:author ?author }
  OPTIONAL { ?doc bjkg:about/bjkg:deliveredAt/schema:startDate ?reportDate }
}
"""


def labels_query(iris: list[str]) -> str:
    """Labels of the given IRIs (validated NamedNodes, written in N-Triples syntax)."""
    values = " ".join(str(NamedNode(iri)) for iri in iris)
    return ("PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n"
            "SELECT ?x ?l WHERE { VALUES ?x { " + values + " } ?x rdfs:label ?l }")


def load_labels(select, store, linker, iris) -> None:
    """Give the linker the labels of `iris`, a few hundred per query."""
    iris = sorted(set(iris))
    for start in range(0, len(iris), 400):
        linker.add_labels(select(store, labels_query(iris[start:start + 400])))


def overview(select, store, linker, lang: str) -> dict:
    """Every people-first section of the home page (empty lists for a graph without them):
    `figures`, `structures`, `places`, `documents`."""
    figure_rows = select(store, FIGURES_QUERY)
    part_rows = select(store, PARTS_QUERY)
    place_rows = select(store, PLACES_QUERY)
    source_rows = select(store, SOURCES_QUERY)
    iris = [t.value for rows in (figure_rows, part_rows, place_rows, source_rows)
            for row in rows for t in row.values() if isinstance(t, NamedNode)]
    load_labels(select, store, linker, iris)
    return {"figures": _figures(linker, figure_rows, lang),
            "structures": _structures(linker, part_rows),
            "places": [{**linker.link(row["place"].value), "count": int(row["n"].value)}
                       for row in place_rows if isinstance(row.get("place"), NamedNode)],
            "documents": _sources(linker, source_rows, lang)}


def _iri(row: dict, name: str) -> str | None:
    term = row.get(name)
    return term.value if isinstance(term, NamedNode) else None


def _figures(linker, rows: list[dict], lang: str) -> dict:
    """The newest year with targets, its targets beside the previous year's results, one
    row per indicator and area (targets first)."""
    cells: dict[tuple[str, str, str], dict] = {}
    for row in sorted(rows, key=lambda r: r["o"].value):
        year = row["start"].value[:4]
        status = local_name(row["status"].value)
        key = (_iri(row, "indicator"), _iri(row, "area") or "", f"{status}:{year}")
        cells.setdefault(key, _cell(linker, row, lang))
    years = [key[2].split(":")[1] for key in cells if key[2].startswith("Target:")]
    if not years:
        return {"year": None, "previous": None, "rows": []}
    year = max(years)
    previous = str(int(year) - 1)
    by_row: dict[tuple[str, str], dict] = {}
    for (indicator, area, slot), cell in cells.items():
        if slot not in (f"Target:{year}", f"Actual:{previous}"):
            continue
        entry = by_row.setdefault((indicator, area), {
            "indicator": linker.link(indicator), "area": linker.link(area) if area else None,
            "target": None, "actual": None})
        entry["target" if slot.startswith("Target") else "actual"] = cell
    ordered = sorted(by_row.values(), key=lambda r: (r["target"] is None, r["indicator"]["label"],
                                                     (r["area"] or {}).get("label", "")))
    return {"year": year, "previous": previous, "rows": ordered}


def _cell(linker, row: dict, lang: str) -> dict:
    value = to_decimal(row["value"].value)
    qualifier = local_name(_iri(row, "qualifier") or "")
    unit = _iri(row, "unit")
    quote = row.get("quote")
    doc = _iri(row, "doc")
    return {"iri": row["o"].value, "href": linker.href(row["o"].value),
            "value": str(value) if isinstance(value, Decimal) else row["value"].value,
            "display": QUALIFIER_SIGNS.get(qualifier, "") + humanize(value, lang),
            "unit": linker.label(unit) if unit else "",
            "qualifier": linker.link(_iri(row, "qualifier")) if _iri(row, "qualifier") else None,
            "status": linker.link(row["status"].value),
            "quote": quote.value if isinstance(quote, Literal) else None,
            "document": linker.link(doc) if doc else None}


def _structures(linker, rows: list[dict]) -> list[dict]:
    """Each strategy with its pillars, and the newest report with its work areas."""
    wholes: dict[tuple[str, str], dict] = {}
    for row in rows:
        whole, cls, part = row["whole"].value, row["class"].value, row["part"].value
        entry = wholes.setdefault((cls, whole), {
            "kind": local_name(cls), **linker.link(whole), "parts": {},
            "year": row["year"].value if isinstance(row.get("year"), Literal) else ""})
        ordinal = row.get("ordinal")
        entry["parts"].setdefault(part, int(ordinal.value) if isinstance(ordinal, Literal)
                                  and ordinal.value.isdigit() else None)
    out = []
    for (cls, _), entry in sorted(wholes.items()):
        if cls == V.BJKG + "WorkArea":  # only the newest report's work areas
            newest = max((e["year"] for (c, _), e in wholes.items() if c == cls), default="")
            if entry["year"] != newest:
                continue
        parts = sorted(entry["parts"].items(), key=lambda kv: (kv[1] is None, kv[1] or 0, kv[0]))
        out.append({**{k: v for k, v in entry.items() if k != "parts"},
                    "parts": [{**linker.link(iri), "ordinal": n} for iri, n in parts]})
    out.sort(key=lambda e: (e["kind"] != "Pillar", e["label"]))
    return out


def _sources(linker, rows: list[dict], lang: str) -> list[dict]:
    """Each source document: title, genre, outlet (or authors) and date (published, or the
    date of the meeting whose report it covers)."""
    docs: dict[str, dict] = {}
    for row in rows:
        doc = row["doc"].value
        entry = docs.setdefault(doc, {**linker.link(doc), "genre": None, "published": None,
                                      "publishers": {}, "authors": {}, "report_date": None})
        if isinstance(row.get("genre"), Literal):
            entry["genre"] = row["genre"].value
        if isinstance(row.get("published"), Literal):
            entry["published"] = row["published"].value[:10]
        if isinstance(row.get("reportDate"), Literal):
            entry["report_date"] = row["reportDate"].value[:10]
        for name, key in (("publisher", "publishers"), ("author", "authors")):
            if _iri(row, name):
                entry[key][_iri(row, name)] = None
    out = []
    for entry in docs.values():
        entry["genre_label"] = i18n.text("genre_" + entry["genre"], lang) if entry["genre"] else None
        if entry["genre_label"] == "genre_" + (entry["genre"] or ""):
            entry["genre_label"] = entry["genre"]  # a genre the UI has no words for: as written
        entry["publishers"] = [linker.link(iri) for iri in sorted(entry["publishers"])]
        entry["authors"] = sorted((linker.link(iri) for iri in entry["authors"]),
                                  key=lambda a: a["label"])
        out.append(entry)
    out.sort(key=lambda e: (e["published"] or e["report_date"] or "9999", e["label"]))
    return out
