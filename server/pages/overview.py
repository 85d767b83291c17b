"""Views for people, read from the graph by fixed queries: the home page (what Beijing
promised and reported, the structure of its programme, the places that matter and the
sources) and a source document as a reading view (its quotes in text order, each with the
facts drawn from it).

The home page:

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
from bjkg.server.pages.labels import canonical_lang, local_name
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


LABELS_PER_QUERY = 400  # IRIs in the VALUES block of one `labels_query`


def label_rows(select, store, iris) -> list[list[dict]]:
    """The rows of the labels of `iris`, LABELS_PER_QUERY per query."""
    iris = sorted(set(iris))
    return [select(store, labels_query(iris[start:start + LABELS_PER_QUERY]))
            for start in range(0, len(iris), LABELS_PER_QUERY)]


def load_labels(select, store, linker, iris) -> None:
    """Give the linker the labels of `iris`."""
    for rows in label_rows(select, store, iris):
        linker.add_labels(rows)


def overview_rows(select, store) -> dict:
    """What the home page's sections are made of, in every language: the rows of its queries
    (the figures reduced to those shown) and the labels of every IRI in them."""
    year, previous, figure_rows = _newest_figures(select(store, FIGURES_QUERY))
    part_rows = select(store, PARTS_QUERY)
    place_rows = select(store, PLACES_QUERY)
    source_rows = select(store, SOURCES_QUERY)
    # labels only for what the page shows: with every figure's (42,137 observations at 1M
    # triples) the first home page of a process read 80 batches of labels
    iris = [t.value for rows in (figure_rows.values(), part_rows, place_rows, source_rows)
            for row in rows for t in row.values() if isinstance(t, NamedNode)]
    labels = label_rows(select, store, iris)
    return {"year": year, "previous": previous, "figures": figure_rows, "parts": part_rows,
            "places": place_rows, "sources": source_rows, "labels": labels}


def overview(rows: dict, linker, lang: str) -> dict:
    """Every people-first section of the home page (empty lists for a graph without them):
    `figures`, `structures`, `places`, `documents`, from `overview_rows`."""
    for label_rows in rows["labels"]:
        linker.add_labels(label_rows)
    return {"figures": _figures(linker, rows["year"], rows["previous"], rows["figures"], lang),
            "structures": _structures(linker, rows["parts"]),
            "places": [{**linker.link(row["place"].value), "count": int(row["n"].value)}
                       for row in rows["places"] if isinstance(row.get("place"), NamedNode)],
            "documents": _sources(linker, rows["sources"], lang)}


def _iri(row: dict, name: str) -> str | None:
    term = row.get(name)
    return term.value if isinstance(term, NamedNode) else None


def _newest_figures(rows: list[dict]) -> tuple[str | None, str | None, dict[tuple, dict]]:
    """(the newest year with targets, the year before, {(indicator, area, "Status:year"): the
    first row in IRI order} for that year's targets and the previous year's results)."""
    first: dict[tuple[str, str, str], dict] = {}
    for row in sorted(rows, key=lambda r: r["o"].value):
        year = row["start"].value[:4]
        status = local_name(row["status"].value)
        first.setdefault((_iri(row, "indicator"), _iri(row, "area") or "", f"{status}:{year}"), row)
    years = [key[2].split(":")[1] for key in first if key[2].startswith("Target:")]
    if not years:
        return None, None, {}
    year = max(years)
    previous = str(int(year) - 1)
    return year, previous, {key: row for key, row in first.items()
                            if key[2] in (f"Target:{year}", f"Actual:{previous}")}


def _figures(linker, year: str | None, previous: str | None, rows: dict[tuple, dict], lang: str) -> dict:
    """The newest year's targets beside the previous year's results (`_newest_figures`), one
    row per indicator and area (targets first)."""
    if year is None:
        return {"year": None, "previous": None, "rows": []}
    by_row: dict[tuple[str, str], dict] = {}
    for (indicator, area, slot), row in rows.items():
        entry = by_row.setdefault((indicator, area), {
            "indicator": linker.link(indicator), "area": linker.link(area) if area else None,
            "target": None, "actual": None})
        entry["target" if slot.startswith("Target") else "actual"] = _cell(linker, row, lang)
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


# --------------------------------------------------------------------------- reading view
# A source document as a reading view: its quotes in the order of its text, each with
# the facts the graph took from it.
#
# Every fact drawn from a document points at it with `prov:wasDerivedFrom` and carries the
# sentence as `bjkg:quote` (in that document's named graph); the build records where the
# quote begins in the text as `bjkg:quoteOffset`. A document page lists those quotes in text
# order (by quote when a build had no corpus to find them in), and under each the
# observations (indicator, value, unit, status, period) and relations (subject — predicate —
# object) it supports, or the entity it names. The facts' own IRIs are content hashes
# (`id/assertion/0079cf86…`): they are links, never link text.

QUOTES_PAGE_SIZE = 25

FACTS_QUERY = """
PREFIX bjkg: <https://w3id.org/bjkg/ontology#>
PREFIX prov: <http://www.w3.org/ns/prov#>
SELECT ?x ?quote ?offset WHERE {
  GRAPH ?g { ?x prov:wasDerivedFrom ?doc ; bjkg:quote ?quote
             OPTIONAL { ?x bjkg:quoteOffset ?offset } }
}
"""

# What a fact shows, by the row key `_fact` reads it under. Read per fact node with one
# VALUES query (index lookups), not as OPTIONAL groups of the facts query: pyoxigraph
# evaluates an OPTIONAL of several patterns on its own and joins it after (every
# observation and reification in the store: ≈1.4 s at 1M triples for a page of 25 quotes,
# against ≈20 ms this way).
_FACT_PROPERTIES = {
    V.RDF + "type": "type",
    V.RDF + "subject": "s", V.RDF + "predicate": "p", V.RDF + "object": "o",
    V.SDMX_MEASURE + "obsValue": "value", V.BJKG + "indicator": "indicator",
    V.SDMX_ATTR + "unitMeasure": "unit", V.BJKG + "qualifier": "qualifier",
    V.BJKG + "status": "status", V.SDMX_DIM + "refPeriod": "period",
    V.BJKG + "statedAs": "stated",
}
_RELATION_KEYS = ("s", "p", "o")
_OBSERVATION_KEYS = ("indicator", "unit", "qualifier", "status", "period", "stated")
_FACT_NODES_PER_QUERY = 500


def _fact_details(select, store, nodes: list[str]) -> dict[str, dict]:
    """For each fact node, the terms `_fact` reads: a reification's subject, predicate and
    object when it has all three; an observation's value and dimensions when it is a
    qb:Observation with a value (the first by N-Triples text where a property has several)."""
    found: dict[str, dict[str, list]] = {}
    for start in range(0, len(nodes), _FACT_NODES_PER_QUERY):
        values = " ".join(str(NamedNode(x)) for x in nodes[start:start + _FACT_NODES_PER_QUERY])
        # every property of the nodes, kept here: a second VALUES (for ?p) makes pyoxigraph
        # join the two blocks with a scan of ?x ?p ?o (≈0.5 s at 1M triples, not ≈5 ms)
        text = f"SELECT ?x ?p ?o WHERE {{ VALUES ?x {{ {values} }} ?x ?p ?o }}"
        for row in select(store, text):
            key = _FACT_PROPERTIES.get(row["p"].value)
            if key is not None:
                found.setdefault(row["x"].value, {}).setdefault(key, []).append(row["o"])
    details: dict[str, dict] = {}
    for x, props in found.items():
        first = {key: min(terms, key=str) for key, terms in props.items()}
        row: dict = {}
        if all(key in first for key in _RELATION_KEYS):
            row.update({key: first[key] for key in _RELATION_KEYS})
        if "value" in first and any(t.value == V.QB + "Observation" for t in props.get("type", ())):
            row["value"] = first["value"]
            row.update({key: first[key] for key in _OBSERVATION_KEYS if key in first})
        details[x] = row
    return details


def read_document(select, store, linker, doc: str, lang: str, page: int) -> dict | None:
    """The reading view of document `doc`: one page of its quotes in text order with their
    facts, or None when nothing cites it. `select` runs a fixed query with bound terms."""
    rows = select(store, FACTS_QUERY, doc=NamedNode(doc))
    if not rows:
        return None
    facts: dict[str, dict] = {}
    for row in rows:  # one fact per node: the first row of each (OPTIONALs may repeat it)
        x = row.get("x")
        if isinstance(x, NamedNode) and x.value != doc and isinstance(row.get("quote"), Literal):
            facts.setdefault(x.value + "\x1f" + row["quote"].value, row)
    quotes: dict[str, dict] = {}
    for row in facts.values():
        text = row["quote"].value
        offset = row.get("offset")
        position = int(offset.value) if isinstance(offset, Literal) and offset.value.isdigit() else None
        entry = quotes.setdefault(text, {"quote": text, "lang": canonical_lang(row["quote"].language),
                                         "offset": position, "rows": []})
        if position is not None and (entry["offset"] is None or position < entry["offset"]):
            entry["offset"] = position
        entry["rows"].append(row)
    ordered = sorted(quotes.values(), key=lambda q: (q["offset"] is None, q["offset"] or 0, q["quote"]))
    total = len(ordered)
    start = (page - 1) * QUOTES_PAGE_SIZE
    if start >= total:
        page, start = 1, 0
    shown = ordered[start:start + QUOTES_PAGE_SIZE]
    details = _fact_details(select, store, sorted({row["x"].value for q in shown for row in q["rows"]}))
    for entry in shown:
        entry["rows"] = [{**row, **details.get(row["x"].value, {})} for row in entry["rows"]]
    iris = sorted({term.value for q in shown for row in q["rows"] for term in row.values()
                   if isinstance(term, NamedNode) and term.value != doc})
    load_labels(select, store, linker, iris)
    out = []
    for entry in shown:
        items = [_fact(linker, row, lang) for row in entry["rows"]]
        items.sort(key=lambda f: (("observation", "relation", "entity").index(f["kind"]),
                                  f.get("sort", ""), f["iri"]))
        out.append({"quote": entry["quote"], "lang": entry["lang"], "offset": entry["offset"],
                    "facts": [{k: v for k, v in f.items() if k != "sort"} for f in items]})
    return {"total": total, "page": page, "page_size": QUOTES_PAGE_SIZE,
            "has_prev": page > 1, "has_next": start + QUOTES_PAGE_SIZE < total,
            "first": start + 1, "ordered_by": "text" if all(q["offset"] is not None for q in ordered)
            else "quote", "quotes": out}


def _fact(linker, row: dict, lang: str) -> dict:
    """One fact drawn from a quote: an observation, a relation, or the entity it names."""
    x = row["x"].value

    def link(name):
        term = row.get(name)
        return linker.link(term.value) if isinstance(term, NamedNode) else None

    if isinstance(row.get("value"), Literal):
        value = to_decimal(row["value"].value)
        indicator = link("indicator")
        return {"kind": "observation", "iri": x, "href": linker.href(x),
                "indicator": indicator, "value": str(value) if value is not None else row["value"].value,
                "value_display": humanize(value, lang), "unit": link("unit"),
                "qualifier": link("qualifier"), "status": link("status"), "period": link("period"),
                "stated_as": row["stated"].value if isinstance(row.get("stated"), Literal) else None,
                "sort": (indicator or {}).get("label", "")}
    if isinstance(row.get("p"), NamedNode):
        obj = row.get("o")
        return {"kind": "relation", "iri": x, "href": linker.href(x),
                "subject": link("s"), "predicate": link("p"),
                "object": linker.term(obj) if obj is not None else None,
                "sort": (link("s") or {}).get("label", "")}
    return {"kind": "entity", "iri": x, "href": linker.href(x), "entity": linker.link(x),
            "sort": linker.label(x)}


def is_document(kind: str | None, type_iris: set[str]) -> bool:
    """True for a source document (its page is a reading view)."""
    return kind == "document" or V.BJKG + "SourceDocument" in type_iris


# --------------------------------------------------------------------------- dataset description

def catalogue_tables(triples, linker, lang: str, public: str) -> dict:
    """The dataset description as a person reads it (tables), taken from the very triples
    the RDF renderings serialise, so the two cannot disagree: the dataset with its licence,
    size and version, its distributions, its named graphs (void:subset with sd:name) and
    its classes (void:classPartition). Links under `public` become local paths."""
    props: dict[str, dict[str, list]] = {}
    for t in triples:
        props.setdefault(t.subject.value, {}).setdefault(t.predicate.value, []).append(t.object)

    def values(node, p):
        return props.get(node, {}).get(p, []) if node else []

    def first(node, p):
        found = values(node, p)
        return found[0].value if found else None

    def number(node, p):
        value = first(node, p)
        return int(value) if value is not None and value.isdigit() else None

    def text(node, p):
        found = {canonical_lang_tag(o): o.value for o in values(node, p) if isinstance(o, Literal)}
        return found.get(lang) or found.get("en") or next(iter(found.values()), None)

    def local(url):
        return "/" + url[len(public):] if url and url.startswith(public) else url

    dataset = next((o.value for s in props for o in values(s, V.DCAT + "dataset")), None) or next(
        (s for s in props if values(s, V.VOID + "sparqlEndpoint") and values(s, V.VOID + "subset")), None)

    def distributions(node):
        out = []
        for dist in values(node, V.DCAT + "distribution"):
            d = dist.value
            url = first(d, V.DCAT + "downloadURL") or first(d, V.DCAT + "accessURL")
            checksum = first(d, V.SPDX + "checksum")
            media = first(d, V.DCAT + "mediaType")
            out.append({"url": url, "href": local(url), "name": (url or d).rstrip("/").rsplit("/", 1)[-1],
                        "title": text(d, V.DCTERMS + "title"),
                        "media_type": media.rsplit("media-types/", 1)[-1] if media else None,
                        "bytes": number(d, V.DCAT + "byteSize"),
                        "sha256": first(checksum, V.SPDX + "checksumValue") if checksum else None,
                        "download": first(d, V.DCAT + "downloadURL") is not None})
        return sorted(out, key=lambda d: (d["download"], d["name"]))

    graphs = []
    for subset in values(dataset, V.VOID + "subset"):
        node = subset.value
        name = first(node, V.SD + "name")
        dumps = [d for d in distributions(node) if d["download"]]
        graphs.append({"iri": name, "name": name.split("/graph/", 1)[-1] if name else node,
                       "href": linker.href(name) if name else None,
                       "title": text(node, V.DCTERMS + "title"),
                       "triples": number(node, V.VOID + "triples"),
                       "licence": first(node, V.DCTERMS + "license"),
                       "dump": dumps[0] if dumps else None})
    graphs.sort(key=lambda g: g["name"])
    classes = []
    for part in values(dataset, V.VOID + "classPartition"):
        cls = first(part.value, V.VOID + "class")
        if cls:
            classes.append({**linker.link(cls), "own": cls.startswith(linker.base + "ontology#"),
                            "count": number(part.value, V.VOID + "entities")})
    classes.sort(key=lambda c: (not c["own"], -(c["count"] or 0), c["label"]))
    return {"title": text(dataset, V.DCTERMS + "title"), "description": text(dataset, V.DCTERMS + "description"),
            "iri": dataset, "triples_total": number(dataset, V.VOID + "triples"),
            "licence": first(dataset, V.DCTERMS + "license"),
            "version": first(dataset, V.DCAT + "version") or first(dataset, V.OWL + "versionInfo"),
            "identifier": first(dataset, V.DCTERMS + "identifier"),
            "uri_space": first(dataset, V.VOID + "uriSpace"),
            "issued": first(dataset, V.DCTERMS + "issued"), "modified": first(dataset, V.DCTERMS + "modified"),
            "distributions": distributions(dataset), "graph_rows": graphs, "classes": classes}


def canonical_lang_tag(term) -> str:
    """The BCP 47 casing of a literal's language tag ('' for none)."""
    return canonical_lang(term.language) if isinstance(term, Literal) else ""
