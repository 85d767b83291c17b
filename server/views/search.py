"""`/search?q=`: labels in any script or in pinyin, ranked, as HTML or JSON.

The index (`server.search_index`) is built from the store's rdfs:label and skos:altLabel
once per process, on first use, and kept in `app.extensions`; a writable (--empty) store
can change under it, so there it is rebuilt per request (such a store is small).
"""
from __future__ import annotations

from flask import Blueprint, current_app, request
from pyoxigraph import Literal, NamedNode

from server import i18n
from server.extension import get_store
from server.labels import canonical_lang, group_labels, local_name, pick
from server.search_index import MATCH_NAMES, SearchIndex, get_index
from server.views.common import current_lang, install, respond, wants_json

bp = Blueprint("search", __name__)
install(bp)

INDEX_KEY = "bjkg.search_index"
MAX_RESULTS = 50
MAX_QUERY_CHARS = 200

_LABELS_QUERY = """
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
SELECT DISTINCT ?x ?l ?alt WHERE {
  { ?x rdfs:label ?l BIND(false AS ?alt) } UNION { ?x skos:altLabel ?l BIND(true AS ?alt) }
  FILTER(isIRI(?x) && isLiteral(?l))
}
"""

_TYPES_QUERY = """
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
SELECT DISTINCT ?x ?type ?l WHERE {
  ?x a ?type . FILTER(isIRI(?x))
  OPTIONAL { ?type rdfs:label ?l }
}
"""
_INDEX_ROW_LIMIT = 2_000_000


class LabelIndex(SearchIndex):
    """The search index plus what a result shows: every label and the types of each IRI."""

    def __init__(self, label_rows: list[dict], type_rows: list[dict]) -> None:
        rows = []
        self.labels: dict[str, list[tuple[str, str]]] = {}
        for row in label_rows:
            node, text = row["x"], row["l"]
            if not isinstance(node, NamedNode) or not isinstance(text, Literal):
                continue
            lang = canonical_lang(text.language)
            is_alt = row["alt"].value == "true"
            rows.append((node.value, text.value, lang, is_alt))
            if not is_alt:
                self.labels.setdefault(node.value, []).append((text.value, lang))
        super().__init__(rows)
        self.types: dict[str, list[str]] = {}
        type_labels: dict[str, list[tuple[str, str]]] = {}
        for row in type_rows:
            x, ty, label = row["x"].value, row["type"].value, row.get("l")
            if x in self.labels and ty not in self.types.setdefault(x, []):
                self.types[x].append(ty)
            if isinstance(label, Literal):
                type_labels.setdefault(ty, []).append((label.value, canonical_lang(label.language)))
        self.type_labels = {ty: group_labels(pairs) for ty, pairs in type_labels.items()}


def build_index() -> LabelIndex:
    """Read every label, alt label and type from the store (one pass each)."""
    store = get_store()
    labels = store.query(_LABELS_QUERY, max_rows=_INDEX_ROW_LIMIT, use_union=True).bindings()
    types = store.query(_TYPES_QUERY, max_rows=_INDEX_ROW_LIMIT, use_union=True).bindings()
    return LabelIndex(labels, types)


def index() -> LabelIndex:
    """The process's index (rebuilt per request only for a writable store)."""
    if get_store().writable:
        return build_index()
    return get_index(current_app.extensions, INDEX_KEY, build_index)


def _result(idx: LabelIndex, hit, lang: str, linker_href) -> dict:
    """One search hit as shown: display label, matched label, kind and types."""
    labels = group_labels(idx.labels.get(hit.iri, []))
    shown = pick(labels, lang)
    types = []
    for ty in idx.types.get(hit.iri, []):
        found = pick(idx.type_labels.get(ty, {}), lang)
        if found:  # only typed by labelled classes (the ontology's): skip skos:Concept etc.
            types.append({"iri": ty, "label": found[0]})
    return {
        "iri": hit.iri, "href": linker_href(hit.iri),
        "label": shown[0] if shown else hit.text,
        "labels": labels,
        "matched": hit.text, "matched_lang": hit.lang, "matched_alt": hit.is_alt,
        "match": MATCH_NAMES[hit.match],
        "types": sorted(types, key=lambda t: t["label"]),
        "kind": _kind(hit.iri),
    }


def _kind(iri: str) -> str:
    base = current_app.config["BASE_IRI"] + "id/"
    if iri.startswith(base) and "/" in iri[len(base):]:
        return iri[len(base):].split("/", 1)[0]
    return local_name(iri)


@bp.route("/search")
@bp.route("/search.json", endpoint="search_json")
def search():
    """Ranked label search: exact > prefix > substring; label > altLabel."""
    as_json = request.path.endswith(".json") or wants_json()
    query = request.args.get("q", "").strip()[:MAX_QUERY_CHARS]
    lang = current_lang()
    results = []
    if query:
        from server.describe import Linker

        idx = index()
        linker = Linker(current_app.config["BASE_IRI"], lang)
        results = [_result(idx, hit, lang, linker.href) for hit in idx.search(query, MAX_RESULTS)]
    data = {"q": query, "lang": lang, "count": len(results), "limit": MAX_RESULTS,
            "results": results}
    alternates = [("/search.json?q=" + _q(query), "application/json")] if query else []
    return respond("search/results.html", data, as_json=as_json, alternates=alternates,
                   search_q=query, no_results=i18n.text("no_results", lang))


def _q(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")
