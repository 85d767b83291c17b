"""The joined division data of a place page: codes, level, point, parents and locator map.

A curated place that links to a listed division (`skos:exactMatch`, made by the build
from equal GB/T 2260 codes) shows that division's data; a listed division shows its own;
a place without a code of its own (雄安新区) shows the divisions of the places within it.
The values come from the external dataset's graph and are shown as such, next to, not
mixed into, what the curated records say. Fixed queries with bound terms only.
"""
from __future__ import annotations

from collections.abc import Callable

from pyoxigraph import Literal, NamedNode

from bjkg.server.core import vocab as V
from bjkg.server.core.traditional import to_traditional
from bjkg.server.pages.locator_map import LocatorMap, parse_point

GBT2260 = V.BJKG + "GBT2260Code"
CODE12 = V.BJKG + "StatisticalDivisionCode"
LISTED_DIVISION = V.BJKG + "ListedDivision"

_DIVISIONS_QUERY = """
PREFIX bjkg: <https://w3id.org/bjkg/ontology#>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
PREFIX geo: <http://www.opengis.net/ont/geosparql#>
SELECT ?s ?division ?via ?g ?notation ?level ?wkt ?parent ?parentLevel WHERE {
  {
    ?s skos:exactMatch ?division . BIND("self" AS ?via)
  } UNION {
    ?s a bjkg:ListedDivision . BIND(?s AS ?division) BIND("self" AS ?via)
  } UNION {
    ?part bjkg:within ?s ; skos:exactMatch ?division . BIND("part" AS ?via)
  }
  GRAPH ?g { ?division a bjkg:ListedDivision }
  OPTIONAL { ?division skos:notation ?notation }
  OPTIONAL { ?division bjkg:divisionLevel ?level }
  OPTIONAL { ?division geo:hasGeometry ?geometry . ?geometry geo:asWKT ?wkt }
  OPTIONAL { ?division geo:sfWithin ?parent . OPTIONAL { ?parent bjkg:divisionLevel ?parentLevel } }
}
"""

# Labels of the divisions, their parents and their levels. (A separate `{ BIND(?division
# AS ?x) }` group would be evaluated before ?division is bound and match every label.)
_LABELS_QUERY = """
PREFIX bjkg: <https://w3id.org/bjkg/ontology#>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
PREFIX geo: <http://www.opengis.net/ont/geosparql#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
SELECT DISTINCT ?s ?x ?l WHERE {
  { ?s skos:exactMatch ?division } UNION { ?s a bjkg:ListedDivision . BIND(?s AS ?division) }
  UNION { ?part bjkg:within ?s ; skos:exactMatch ?division }
  ?division (geo:sfWithin|bjkg:divisionLevel)? ?x .
  ?x rdfs:label ?l .
}
"""

_LEVEL_ORDER = {V.BJKG + "ProvinceLevel": 0, V.BJKG + "PrefectureLevel": 1, V.BJKG + "CountyLevel": 2}


def division_rows(select, store, node: NamedNode) -> tuple[list[dict], list[dict]]:
    """(rows of `_DIVISIONS_QUERY`, label rows of `_LABELS_QUERY`) for `node`, by query.

    `select` is `bjkg.server.pages.describe.select` (passed in to keep this module free of the
    description code)."""
    rows = select(store, _DIVISIONS_QUERY, s=node)
    return rows, (select(store, _LABELS_QUERY, s=node) if rows else [])


def indexed_division_rows(data, node: NamedNode) -> tuple[list[dict], dict]:
    """The same rows as `division_rows`, read from the store's indexes
    (`bjkg.server.stores.page_reads.IndexSource`) instead of two queries, and their labels as IRI →
    (text, language tag) pairs."""
    s = node.value
    exact = V.SKOS + "exactMatch"
    candidates = [(o.value, "self") for o in data.objects([s], exact).get(s, [])
                  if isinstance(o, NamedNode)]
    if data.graphs_of(s, V.RDF_TYPE, LISTED_DIVISION):
        candidates.append((s, "self"))
    # A place with a listed division of its own shows only that (`division_facts`): the
    # divisions of the places within it (31 for Beijing) are read only when it has none.
    if not any(data.graphs_of(d, V.RDF_TYPE, LISTED_DIVISION) for d, _ in candidates):
        parts = data.subjects(s, V.BJKG + "within")
        for part, matches in sorted(data.objects(parts, exact).items()):
            candidates += [(o.value, "part") for o in matches if isinstance(o, NamedNode)]
    if not candidates:
        return [], {}
    iris = sorted({d for d, _ in candidates})
    notation = data.objects(iris, V.SKOS + "notation")
    level = data.objects(iris, V.BJKG + "divisionLevel")
    geometry = data.objects(iris, V.GEO + "hasGeometry")
    wkt = data.objects([g.value for gs in geometry.values() for g in gs
                        if isinstance(g, NamedNode)], V.GEO + "asWKT")
    parents = data.objects(iris, V.GEO + "sfWithin")
    parent_iris = [p.value for ps in parents.values() for p in ps if isinstance(p, NamedNode)]
    parent_level = data.objects(parent_iris, V.BJKG + "divisionLevel")
    rows = []
    for division, via in candidates:
        term = NamedNode(division)
        points = [w for g in geometry.get(division, []) if isinstance(g, NamedNode)
                  for w in wkt.get(g.value, [])]
        ups = [(p, lv) for p in parents.get(division, []) if isinstance(p, NamedNode)
               for lv in (parent_level.get(p.value) or [None])]
        for g in data.graphs_of(division, V.RDF_TYPE, LISTED_DIVISION):
            for code in notation.get(division) or [None]:
                for lev in level.get(division) or [None]:
                    for point in points or [None]:
                        for parent, plevel in ups or [(None, None)]:
                            row = {"s": node, "division": term, "via": Literal(via),
                                   "g": NamedNode(g)}
                            for name, value in (("notation", code), ("level", lev), ("wkt", point),
                                                ("parent", parent), ("parentLevel", plevel)):
                                if value is not None:
                                    row[name] = value
                            rows.append(row)
    if not rows:
        return [], {}
    label_iris = set(iris)
    for found in (parents, level):
        label_iris.update(o.value for objs in found.values() for o in objs if isinstance(o, NamedNode))
    return rows, data.labels_of(label_iris, pref=False)


def division_facts(rows: list[dict], labels: dict, linker,
                   locator: Callable[[], LocatorMap | None] | None) -> dict | None:
    """{'divisions': [...], 'map': {...}} for the page of `node`, or None if it has none.

    `rows`: what `division_rows` or `indexed_division_rows` read; `labels` their labels as
    IRI → (text, language tag) pairs; `locator` the process's base map, if the dataset has
    points.
    """
    if not rows:
        return None
    linker.add_label_sets(labels)
    by_division: dict[str, dict] = {}
    for row in rows:
        iri = row["division"].value
        entry = by_division.setdefault(iri, {
            **linker.link(iri), "via": row["via"].value, "graph": None, "code": None,
            "code12": None, "level": None, "lon": None, "lat": None, "parents": {}})
        if isinstance(row.get("g"), NamedNode):
            entry["graph"] = linker.link(row["g"].value)
        notation = row.get("notation")
        if isinstance(notation, Literal):
            if notation.datatype.value == GBT2260:
                entry["code"] = notation.value
            elif notation.datatype.value == CODE12:
                entry["code12"] = notation.value
        if isinstance(row.get("level"), NamedNode):
            entry["level"] = linker.link(row["level"].value)
        if isinstance(row.get("wkt"), Literal):
            point = parse_point(row["wkt"].value)
            if point:
                entry["lon"], entry["lat"] = point
        parent = row.get("parent")
        if isinstance(parent, NamedNode):
            level = row.get("parentLevel")
            entry["parents"][parent.value] = _LEVEL_ORDER.get(level.value if level else "", 9)
    if any(entry["via"] == "self" for entry in by_division.values()):
        by_division = {k: v for k, v in by_division.items() if v["via"] == "self"}
    divisions = []
    for entry in by_division.values():
        parents = sorted(entry["parents"].items(), key=lambda kv: (kv[1], kv[0]))
        entry["parents"] = [linker.link(iri) for iri, _ in parents]
        divisions.append(entry)
    divisions.sort(key=lambda d: (d["via"] != "self", d["code"] or "", d["iri"]))
    return {"divisions": divisions, "map": _map(divisions, locator() if locator else None)}


def _map(divisions: list[dict], locator: LocatorMap | None) -> dict | None:
    """The marker(s) to draw over the base layer; None when nothing has a point on it."""
    if locator is None:
        return None
    markers = []
    for division in divisions:
        if division["lon"] is None:
            continue
        x, y = locator.project(division["lon"], division["lat"])
        if locator.contains(x, y):
            markers.append({"x": x, "y": y, "label": division["label"], "code": division["code"]})
    if not markers:
        return None
    return {"href": "/-/locator-map.svg", "width": locator.width, "height": locator.height,
            "markers": markers}


def name_sources(facts: dict, external: list[dict], lang: str) -> None:
    """Label each division's source graph with its dataset's title (build.json `external`)
    and point it at the dataset description, since a graph IRI has no page of its own."""
    titles = {entry.get("graph"): entry for entry in external}
    for division in facts["divisions"]:
        entry = titles.get((division.get("graph") or {}).get("iri"))
        if entry:
            title = entry.get("title_zh") if lang != "en" and entry.get("title_zh") else entry.get("title")
            if lang == "zh-Hant" and title and entry.get("title_zh") == title:
                title = to_traditional(title)  # the manifest names it in Simplified only
            division["graph"] = {**division["graph"], "label": title or division["graph"]["label"],
                                 "href": "/.well-known/void", "licence": entry.get("licence"),
                                 "retrieved": entry.get("retrieved")}
