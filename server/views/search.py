"""`/search?q=`: labels in any script or in pinyin, ranked, as HTML or JSON.

The index (`server.search_index`) is built from the store's rdfs:label and skos:altLabel
once per process, on first use, and kept in `app.extensions`; a writable (--empty) store
can change under it, so there it is rebuilt per request (such a store is small).
"""
from __future__ import annotations

import os
import pickle
from pathlib import Path

from flask import Blueprint, current_app, request
from pyoxigraph import Literal, NamedNode

from server import i18n
from server.extension import get_store
from server.labels import canonical_lang, group_labels, local_name, pick
from server.search_index import MATCH_NAMES, SearchIndex, get_index
from server.views.common import current_lang, respond, wants_json

bp = Blueprint("search", __name__)

INDEX_KEY = "bjkg.search_index"
MAX_RESULTS = 50
MAX_QUERY_CHARS = 200

_LABELS_QUERY = """
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
SELECT DISTINCT ?x ?l ?kind WHERE {
  VALUES ?kind { rdfs:label skos:altLabel }
  ?x ?kind ?l FILTER(isIRI(?x) && isLiteral(?l))
}
"""
# (the kind of label is the predicate itself: a constant `true`/`false` would come back from
# Virtuoso as the integer 1/0, since it has no boolean type)
_ALT_LABEL = "http://www.w3.org/2004/02/skos/core#altLabel"

# Only labelled resources are found, so only their types are read (not every observation's).
_TYPES_QUERY = """
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
SELECT DISTINCT ?x ?type ?l WHERE {
  ?x a ?type . FILTER(isIRI(?x))
  FILTER EXISTS { { ?x rdfs:label ?any } UNION { ?x skos:altLabel ?any } }
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
            is_alt = row["kind"].value == _ALT_LABEL
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
    built = LabelIndex(labels, types)
    del labels, types
    _release_memory()
    return built


def _release_memory() -> None:
    """Hand the query rows' memory back to the system (glibc keeps freed arenas otherwise)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def index() -> LabelIndex:
    """The process's index (rebuilt per request only for a writable store)."""
    if get_store().writable:
        return build_index()
    return get_index(current_app.extensions, INDEX_KEY, _prepared_or_built)


# ---------------------------------------------------------------- prepared once per build
#
# A build never changes while served, so its index is a function of the build hash. `bjkg
# serve` prepares it once, in a separate process, before starting the HTTP workers
# (`prepare`); each worker then loads the finished index instead of building it itself —
# once instead of once per worker, and without the memory the label queries leave behind.

INDEX_FORMAT = 2  # 2: with the packed keys (server.search_index._PackedKeys)


def prepared_path(cache_dir: str | Path, build_hash: str) -> Path:
    return Path(cache_dir) / f"search-index-{build_hash[:24]}-v{INDEX_FORMAT}.pickle"


def cache_dir(config) -> Path:
    """CACHE_DIR, else $XDG_CACHE_HOME/bjkg, else ~/.cache/bjkg."""
    if config.get("CACHE_DIR"):
        return Path(config["CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bjkg"


def _prepared_or_built() -> LabelIndex:
    build_hash = (current_app.extensions["bjkg"].manifest or {}).get("hash")
    if build_hash and getattr(get_store(), "build_dir", None) is not None:
        path = prepared_path(cache_dir(current_app.config), build_hash)
        try:
            with path.open("rb") as handle:
                loaded = pickle.load(handle)  # written by `prepare` below, for this build hash
            if isinstance(loaded, LabelIndex):
                return loaded
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
            pass
    return build_index()


def prepare(config) -> Path | None:
    """Build the index of the configured build and write it for the HTTP workers; None if
    the cache folder cannot be written (they then build it themselves)."""
    from server import create_app

    app = create_app({**config, "QUERY_MODE": "inline"})
    try:
        with app.app_context():
            build_hash = (app.extensions["bjkg"].manifest or {}).get("hash")
            if not build_hash:
                return None
            path = prepared_path(cache_dir(app.config), build_hash)
            if path.is_file():
                return path
            built = build_index()
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}")
            with tmp.open("wb") as handle:
                pickle.dump(built, handle, protocol=pickle.HIGHEST_PROTOCOL)
            tmp.replace(path)
            return path
    except OSError:
        return None
    finally:
        app.extensions["bjkg"].store.close()


if __name__ == "__main__":  # python -m server.views.search SETTINGS-JSON (used by bjkg serve)
    import json
    import sys

    from server.views import search as _module  # pickle the classes under their real module

    print(_module.prepare(json.loads(sys.argv[1])) or "")


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
