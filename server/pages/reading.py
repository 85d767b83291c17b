"""A source document as a reading view: its quotes in the order of its text, each with
the facts the graph took from it.

Every fact drawn from a document points at it with `prov:wasDerivedFrom` and carries the
sentence as `bjkg:quote` (in that document's named graph); the build records where the
quote begins in the text as `bjkg:quoteOffset`. A document page lists those quotes in text
order (by quote when a build had no corpus to find them in), and under each the
observations (indicator, value, unit, status, period) and relations (subject — predicate —
object) it supports, or the entity it names. The facts' own IRIs are content hashes
(`id/assertion/0079cf86…`): they are links, never link text.
"""
from __future__ import annotations

from pyoxigraph import Literal, NamedNode

from bjkg.server.core import vocab as V
from bjkg.server.pages.labels import canonical_lang
from bjkg.server.pages.numbers import humanize, to_decimal
from bjkg.server.pages.overview import load_labels

QUOTES_PAGE_SIZE = 25

FACTS_QUERY = """
PREFIX bjkg: <https://w3id.org/bjkg/ontology#>
PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#>
PREFIX qb: <http://purl.org/linked-data/cube#>
PREFIX sdmx-dimension: <http://purl.org/linked-data/sdmx/2009/dimension#>
PREFIX sdmx-measure: <http://purl.org/linked-data/sdmx/2009/measure#>
PREFIX sdmx-attribute: <http://purl.org/linked-data/sdmx/2009/attribute#>
SELECT ?x ?quote ?offset ?s ?p ?o ?indicator ?value ?unit ?qualifier ?status ?period ?stated
WHERE {
  GRAPH ?g { ?x prov:wasDerivedFrom ?doc ; bjkg:quote ?quote
             OPTIONAL { ?x bjkg:quoteOffset ?offset } }
  OPTIONAL { ?x rdf:subject ?s ; rdf:predicate ?p ; rdf:object ?o }
  OPTIONAL { ?x a qb:Observation ; sdmx-measure:obsValue ?value
    OPTIONAL { ?x bjkg:indicator ?indicator }
    OPTIONAL { ?x sdmx-attribute:unitMeasure ?unit }
    OPTIONAL { ?x bjkg:qualifier ?qualifier }
    OPTIONAL { ?x bjkg:status ?status }
    OPTIONAL { ?x sdmx-dimension:refPeriod ?period }
    OPTIONAL { ?x bjkg:statedAs ?stated } }
}
"""


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
