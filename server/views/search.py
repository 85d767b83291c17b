"""`/search?q=`: labels in any script or in pinyin, ranked, as HTML or JSON.

The index is the app's (`bjkg.server.web.search`): built or loaded once per process.
"""
from __future__ import annotations

from flask import Blueprint, current_app, request

from bjkg.server.pages import i18n
from bjkg.server.pages.labels import group_labels, local_name, pick
from bjkg.server.pages.search_index import MATCH_NAMES
from bjkg.server.views.common import current_lang, respond, wants_json
from bjkg.server.web.search import LabelIndex, index

bp = Blueprint("search", __name__)

MAX_RESULTS = 50
MAX_QUERY_CHARS = 200


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
        from bjkg.server.pages.describe import Linker

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
