"""The app's label search index: built from the store once per process, or loaded ready-made.

The index (`bjkg.server.pages.search_index`) is built from the store's rdfs:label and
skos:altLabel on first use and kept in `app.extensions`; a writable (--empty) store can change
under it, so there it is rebuilt per request (such a store is small). `bjkg serve` prepares
it once per build (`prepare_index`, run by `bjkg.server.runtime.prepare`), and each HTTP
worker loads that file instead of building its own.
"""
from __future__ import annotations

import os
import pickle
from array import array
from pathlib import Path

from flask import Flask, current_app
from pyoxigraph import Literal, NamedNode

from bjkg.server.core.errors import service_unavailable
from bjkg.server.core.memory import release_memory
from bjkg.server.core.prepared import cache_dir
from bjkg.server.pages.labels import canonical_lang, group_labels
from bjkg.server.pages.search_index import SearchIndex, get_index
from bjkg.server.web.extension import get_store

INDEX_KEY = "bjkg.search_index"

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

class LabelIndex(SearchIndex):
    """The search index plus what a result shows: every label and the types of each IRI
    (`labels_of`, `types_of`), kept in columns like the index's own."""

    def __init__(self, label_rows: list[dict], type_rows: list[dict]) -> None:
        rows = []
        for row in label_rows:
            node, text = row["x"], row["l"]
            if not isinstance(node, NamedNode) or not isinstance(text, Literal):
                continue
            rows.append((node.value, text.value, canonical_lang(text.language), row["kind"].value == _ALT_LABEL))
        super().__init__(rows)
        types: dict[str, list[str]] = {}
        type_labels: dict[str, list[tuple[str, str]]] = {}
        for row in type_rows:
            x, ty, label = row["x"].value, row["type"].value, row.get("l")
            if self._iris.find(x) >= 0 and ty not in types.setdefault(x, []):
                types[x].append(ty)
            if isinstance(label, Literal):
                type_labels.setdefault(ty, []).append((label.value, canonical_lang(label.language)))
        self._type_names = tuple(sorted({ty for found in types.values() for ty in found}))
        code = {ty: n for n, ty in enumerate(self._type_names)}
        first, of = array("I", [0]), array("H")  # the types of IRI n: of[first[n]:first[n + 1]]
        for n in range(len(self._iris)):
            of.extend(code[ty] for ty in types.get(self._iris[n], ()))
            first.append(len(of))
        self._types_first, self._types_of = first, of
        self.type_labels = {ty: group_labels(pairs) for ty, pairs in type_labels.items()}

    def types_of(self, iri: str) -> list[str]:
        """The rdf:types of `iri`, as the store gave them."""
        number = self._iris.find(iri)
        if number < 0:
            return []
        first = self._types_first
        return [self._type_names[n] for n in self._types_of[first[number]:first[number + 1]]]


def build_index() -> LabelIndex:
    """Read every label, alt label and type from the store (one pass each)."""
    store = get_store()
    labels = store.query(_LABELS_QUERY, max_rows=0, use_union=True).bindings()
    types = store.query(_TYPES_QUERY, max_rows=0, use_union=True).bindings()
    built = LabelIndex(labels, types)
    del labels, types
    release_memory()  # the query rows' memory
    return built


PENDING_KEY = "bjkg.search_index_pending"  # set while `bjkg serve` prepares the index in the background
RETRY_AFTER = 5  # seconds: what a search asked for while the index is being prepared is told


def index() -> LabelIndex:
    """The process's index (rebuilt per request only for a writable store). While `bjkg
    serve` still prepares it (`PENDING_KEY`), a 503 with Retry-After: a request never
    builds it then (seconds at 100k triples, in every HTTP worker at once)."""
    if get_store().writable:
        return build_index()
    found = current_app.extensions.get(INDEX_KEY)
    if found is not None:
        return found
    if current_app.extensions.get(PENDING_KEY):
        raise service_unavailable("The search index is being prepared: the server started moments ago. "
                                  f"Try again in {RETRY_AFTER} seconds; SPARQL and entity pages answer now.",
                                  retry_after=RETRY_AFTER)
    return get_index(current_app.extensions, INDEX_KEY, _prepared_or_built)


def pick_up_index(app: Flask, final: bool) -> bool:
    """Load the index `bjkg serve` prepared into `app` if it is there (True); if not and
    `final` (the preparation ended without it), build it here. Called by the HTTP worker's
    background thread (bjkg.server.runtime.serve), never by a request."""
    with app.app_context():
        if app.extensions.get(INDEX_KEY) is None:
            build_hash = (app.extensions["bjkg"].manifest or {}).get("hash")
            path = prepared_path(cache_dir(app.config), build_hash) if build_hash else None
            if not final and (path is None or not path.is_file()):
                return False
            get_index(app.extensions, INDEX_KEY, _prepared_or_built)
        app.extensions.pop(PENDING_KEY, None)
    return True


# ---------------------------------------------------------------- prepared once per build
#
# A build never changes while served, so its index is a function of the build hash. `bjkg
# serve` prepares it once, in a separate process, before starting the HTTP workers
# (`prepare_index`); each worker then loads the finished index instead of building it itself —
# once instead of once per worker, and without the memory the label queries leave behind.

INDEX_FORMAT = 4  # 2: with the packed keys (bjkg.server.pages.search_index._PackedKeys); 3: in columns; 4: ü keyed as v


def prepared_path(cache_dir: str | Path, build_hash: str) -> Path:
    return Path(cache_dir) / f"search-index-{build_hash[:24]}-v{INDEX_FORMAT}.pickle"


def _prepared_or_built() -> LabelIndex:
    build_hash = (current_app.extensions["bjkg"].manifest or {}).get("hash")
    if build_hash and getattr(get_store(), "build_dir", None) is not None:
        path = prepared_path(cache_dir(current_app.config), build_hash)
        try:
            with path.open("rb") as handle:
                loaded = pickle.load(handle)  # written by `prepare_index` below, for this build hash
            if isinstance(loaded, LabelIndex):
                return loaded
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
            pass
    return build_index()


def prepare_index(app: Flask) -> Path | None:
    """Build the index of `app`'s build and write it for the HTTP workers; None if the
    cache folder cannot be written (they then build it themselves)."""
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
