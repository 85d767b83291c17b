"""`/search?q=`: labels in any script or in pinyin, ranked, as HTML or JSON.

The index is the app's (`bjkg.server.web.search`): built or loaded once per process.
"""
from __future__ import annotations

from flask import Blueprint, current_app, request
from pyoxigraph import Literal, NamedNode

from bjkg.server.core.errors import bad_request
from bjkg.server.core.traditional import to_traditional
from bjkg.server.pages import i18n
from bjkg.server.pages.describe import Linker, select
from bjkg.server.pages.labels import group_labels, local_name, pick
from bjkg.server.pages.overview import labels_query
from bjkg.server.pages.search_index import MATCH_NAMES, MAX_QUERY_CHARS
from bjkg.server.web.extension import get_store
from bjkg.server.views.common import current_lang, page_number, page_url, respond, wants_json
from bjkg.server.web.search import LabelIndex, index

bp = Blueprint("search", __name__)

MAX_RESULTS = 50


# What tells two same-named results apart: the code and the places a result lies within
# (通州区 110112 in 北京市, 通州区 320612 in 南通市 · 江苏省), read for the hits shown only.
_CONTEXT_QUERY = """
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
PREFIX bjkg: <https://w3id.org/bjkg/ontology#>
PREFIX geo: <http://www.opengis.net/ont/geosparql#>
SELECT ?x ?code ?parent ?grand WHERE {
  VALUES ?x { %s }
  { ?x skos:notation ?code }
  UNION { ?x bjkg:within|geo:sfWithin ?parent OPTIONAL { ?parent bjkg:within|geo:sfWithin ?grand } }
}
"""
MAX_PARENTS = 2


def _context(store, iris: list[str], linker) -> dict[str, dict]:
    """Per IRI: its codes and its nearest enclosing places (nearest first)."""
    if not iris:
        return {}
    values = " ".join(str(NamedNode(iri)) for iri in iris)
    rows = select(store, _CONTEXT_QUERY % values)
    codes: dict[str, set[str]] = {}
    parents: dict[str, dict[str, set[str]]] = {}
    for row in rows:
        x = row["x"].value
        if isinstance(row.get("code"), Literal):
            codes.setdefault(x, set()).add(row["code"].value)
        if isinstance(row.get("parent"), NamedNode):
            grands = parents.setdefault(x, {}).setdefault(row["parent"].value, set())
            if isinstance(row.get("grand"), NamedNode):
                grands.add(row["grand"].value)
    wanted = {p for found in parents.values() for p in found}
    linker.add_labels(select(store, labels_query(sorted(wanted))) if wanted else [])
    out = {}
    for iri in iris:
        found = parents.get(iri, {})
        # the nearest parent lies within the most of the others
        nearest = sorted(found, key=lambda p: (-len(found[p] & set(found)), p))[:MAX_PARENTS]
        out[iri] = {"codes": sorted(codes.get(iri, ())),
                    "parents": [linker.link(p) for p in nearest]}
    return out


def _result(idx: LabelIndex, hit, lang: str, linker_href) -> dict:
    """One search hit as shown: display label, matched label, kind and types."""
    labels = group_labels(idx.labels_of(hit.iri))
    shown = pick(labels, lang)
    label = shown[0] if shown else hit.text
    if shown and lang == "zh-Hant" and shown[1] == "zh-Hans":
        label = to_traditional(label)  # a label only the Simplified source has (external data)
    types = []
    for ty in idx.types_of(hit.iri):
        found = pick(idx.type_labels.get(ty, {}), lang)
        name = found[0] if found else i18n.term_label(ty, lang)
        if name:  # only classes with a name (the ontology's, or reused ones we name)
            types.append({"iri": ty, "label": name})
    kind = _kind(hit.iri)
    return {
        "iri": hit.iri, "href": linker_href(hit.iri),
        "label": label,
        "labels": labels,
        "matched": hit.text, "matched_lang": hit.lang, "matched_alt": hit.is_alt,
        "match": MATCH_NAMES[hit.match],
        "types": sorted(types, key=lambda t: t["label"]),
        "kind": kind,
        "kind_label": i18n.text("kind_" + kind, lang) if i18n.has("kind_" + kind) else kind,
    }


def _kind(iri: str) -> str:
    base = current_app.config["BASE_IRI"] + "id/"
    if iri.startswith(base) and "/" in iri[len(base):]:
        return iri[len(base):].split("/", 1)[0]
    return local_name(iri)


@bp.route("/search")
@bp.route("/search.json", endpoint="search_json")
def search():
    """Ranked label search: exact > prefix > substring; label > altLabel. MAX_RESULTS a page
    (`?page=`), with a link to the next one while more match: never a silent cut."""
    as_json = request.path.endswith(".json") or wants_json()
    query = request.args.get("q", "").strip()
    if len(query) > MAX_QUERY_CHARS:  # refused, never searched cut short without a word
        raise bad_request(f"A search has at most {MAX_QUERY_CHARS} characters; this one has {len(query)}. "
                          "Search for a shorter part of it, or filter labels with the SPARQL endpoint (/sparql).")
    lang = current_lang()
    page = page_number()
    results = []
    more = False
    if query:
        idx = index()
        linker = Linker(current_app.config["BASE_IRI"], lang)
        # one hit beyond the page tells whether there is a next one (a total would need
        # every match ranked, which the index spares when labels start with the query)
        hits = idx.search(query, page * MAX_RESULTS + 1)
        more = len(hits) > page * MAX_RESULTS
        results = [_result(idx, hit, lang, linker.href) for hit in hits[(page - 1) * MAX_RESULTS:page * MAX_RESULTS]]
        context = _context(get_store(), [r["iri"] for r in results], linker)
        for result in results:
            result.update(context.get(result["iri"], {"codes": [], "parents": []}))
    first = (page - 1) * MAX_RESULTS + 1
    data = {"q": query, "lang": lang, "page": page, "limit": MAX_RESULTS, "count": len(results),
            "first": first if results else None, "last": first + len(results) - 1 if results else None,
            "more": more, "next": page_url(page=page + 1) if more else None,
            "previous": page_url(page=page - 1 if page > 2 else None) if page > 1 else None,
            "results": results}
    # the JSON twin of this page, with or without a query (every HTML page has one)
    alternates = [(("/search.json?q=" + _q(query) + (f"&page={page}" if page > 1 else "")) if query
                   else "/search.json", "application/json")]
    return respond("search/results.html", data, as_json=as_json, alternates=alternates,
                   search_q=query, no_results=i18n.text("no_results", lang))


def _q(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")
