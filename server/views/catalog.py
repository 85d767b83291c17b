"""The dataset's description: the DCAT-AP 3 catalogue with VoID (`/catalog`, `/dataset`,
`/.well-known/void`), each named graph at its own IRI (`/graph/<name>`) and its dump
(`/dumps/graph/<name>.nt`), and the counts they publish.

The triples are made by `bjkg.server.pages.catalog`; this module runs the count queries
over the store (once per build and process; every time for a writable dataset, which
changes) and negotiates. Absolute links come from PUBLIC_URL (`public_url`), never from
the request's Host header, so a cached answer is the same for everyone.
"""
from __future__ import annotations

import datetime
import threading
from pathlib import Path
from urllib.parse import quote, unquote

import pyoxigraph
from flask import Blueprint, Response, current_app, redirect, request
from pyoxigraph import NamedNode

from bjkg.server.core import vocab
from bjkg.server.core.conneg import HTML, RDF_FORMATS, format_by_name, page_media_type, response_mimetype
from bjkg.server.core.errors import not_found
from bjkg.server.pages import i18n
from bjkg.server.pages.describe import Linker
from bjkg.server.pages.overview import catalogue_tables
from bjkg.server.pages.catalog import (COUNT_QUERIES, Counts, Site, catalogue_triples, dataset_title,
                                       document_titles, document_titles_query, graph_info, graph_triples,
                                       outside_query, url_path)
from bjkg.server.stores.embedded import Dataset
from bjkg.server.views.common import current_lang, respond
from bjkg.server.web.extension import get_manifest, get_state, get_store

bp = Blueprint("catalog", __name__)
# One choice of an external dataset's title for every page that names it: the graph page
# here, and the home page's list (`meta/home.html`), whose view passes build.json's entries.
bp.add_app_template_global(dataset_title, "dataset_title")

PREFIXES = {**{k: v for k, v in vocab.META_PREFIXES.items() if k not in ("id",)},
            "dcat": vocab.DCAT, "dct": vocab.DCTERMS, "void": vocab.VOID, "spdx": vocab.SPDX,
            "foaf": vocab.FOAF, "sd": vocab.SD, "vcard": "http://www.w3.org/2006/vcard/ns#",
            "dcatap": "http://data.europa.eu/r5r/", "prov": vocab.PROV, "pav": vocab.PAV}
SUFFIXES = {"ttl": "text/turtle", "jsonld": "application/ld+json", "nt": "application/n-triples",
            "rdf": "application/rdf+xml", "html": "text/html", "json": "application/json"}
# Which representations a page names in its Link header and <link rel=alternate>: the RDF
# forms and the page's JSON twin, as an entity page does (`bjkg.server.views.pages.ADVERTISED`).
ADVERTISED = ("ttl", "jsonld", "nt", "rdf", "json")

_counts_cache: dict[tuple[int, str], Counts] = {}
_counts_lock = threading.Lock()


def public_url() -> str:
    """The server's public root URL (PUBLIC_URL, else BASE_IRI), ending in a slash."""
    url = current_app.config.get("PUBLIC_URL") or current_app.config["BASE_IRI"]
    return url if url.endswith("/") else url + "/"


def site() -> Site:
    manifest = get_manifest() or {}
    return Site(base=current_app.config["BASE_IRI"], public=public_url(),
                titles={code.lower(): i18n.text("site_title", code) for code in ("zh-Hans", "zh-Hant", "en")},
                descriptions={code.lower(): i18n.text("intro", code) for code in ("zh-Hans", "zh-Hant", "en")},
                built=_built(manifest))


def _built(manifest: dict) -> str | None:
    """When this build was made: build.json's own time stamp (the build writes it last)."""
    build_dir = get_state().build_dir
    if build_dir is None or not manifest:
        return None
    path = Path(build_dir) / "build.json"
    if not path.is_file():
        return None
    stamp = datetime.datetime.fromtimestamp(path.stat().st_mtime, tz=datetime.timezone.utc)
    return stamp.replace(microsecond=0).isoformat().replace("+00:00", "Z")


COUNTS_VERSION = 2  # 2: Counts.outside and Counts.documents


def published_counts() -> Counts:
    """The counts of COUNT_QUERIES as the endpoint answers them.

    A build never changes while served, so they are computed once per build: kept by each
    process, and in CACHE_DIR (`bjkg serve` computes them before its workers start, see
    `bjkg.server.runtime.prepare`). A writable dataset changes: counted every time."""
    from bjkg.server.core import prepared

    store = get_store()
    key = (id(store), get_state().build_hash or "")
    if key[1] and key in _counts_cache:
        return _counts_cache[key]
    with _counts_lock:
        if key[1] and key in _counts_cache:
            return _counts_cache[key]
        path = prepared.path_for(prepared.cache_dir(current_app.config), "counts", key[1], COUNTS_VERSION) \
            if key[1] else None
        base, documents = current_app.config["BASE_IRI"], _documents(get_manifest() or {})
        counts = prepared.load_or_make(path, Counts, lambda: _count(store, base, documents)) \
            if path is not None else _count(store, base, documents)
        if key[1]:
            _counts_cache.clear()
            _counts_cache[key] = counts
    return counts


def _documents(manifest: dict) -> list[str]:
    """The source documents build.json names (their graphs are titled by them)."""
    return [source["document"] for source in manifest.get("sources", []) if source.get("document")]


def _count(store, base: str, documents: list[str] = ()) -> Counts:
    """Run COUNT_QUERIES over `store`, as a client would over the endpoint; and read what
    else the catalogue states of the data: which graphs have subjects outside the
    uriSpace, and the titles of the source documents."""
    counts = Counts()

    def rows(name: str) -> list[dict]:
        return store.query(COUNT_QUERIES[name], max_rows=0).bindings()

    counts.triples = int(rows("triples")[0]["n"].value)
    counts.graphs = {r["g"].value: int(r["n"].value) for r in rows("graphs") if isinstance(r.get("g"), NamedNode)}
    counts.classes = {r["c"].value: int(r["n"].value) for r in rows("classes") if isinstance(r.get("c"), NamedNode)}
    counts.properties = {r["p"].value: int(r["n"].value) for r in rows("properties")}
    counts.place_points = {r["code"].value: r["wkt"].value for r in rows("place") if "code" in r and "wkt" in r}
    outside = store.query(outside_query(base), max_rows=0).bindings()
    counts.outside = {r["g"].value: int(r["n"].value) for r in outside if isinstance(r.get("g"), NamedNode)}
    titles = document_titles_query(documents)
    if titles:
        counts.documents = document_titles(store.query(titles, max_rows=0).bindings())
    period = rows("period")
    if period and "from" in period[0] and "to" in period[0]:
        counts.period = (period[0]["from"].value[:10], period[0]["to"].value[:10])
    return counts


def _media_type(suffix: str | None, *, html: bool = True) -> str:
    """The media type to answer with: the suffix's, else `?format=`'s (the names entity
    pages take, 406 for another; `json` is the page's JSON twin), else negotiated."""
    if suffix is not None:
        if suffix not in SUFFIXES or (suffix in ("html", "json") and not html):
            raise not_found(f"No representation '.{suffix}' here; use one of: "
                            + ", ".join("." + s for s in SUFFIXES))
        return SUFFIXES[suffix]
    name = request.args.get("format")
    if name:
        if html and name.strip().lower() in ("json", "application/json"):
            return "application/json"
        return format_by_name((*RDF_FORMATS, HTML) if html else RDF_FORMATS, name,
                              also=("json",) if html else ()).media_type
    return page_media_type(request.headers.get("Accept"), html=html)


def _rdf(triples, media_type: str, alternates) -> Response:
    fmt = next(f for f in RDF_FORMATS if f.media_type == media_type)
    if fmt.oxigraph.supports_datasets:
        triples = [pyoxigraph.Quad(t.subject, t.predicate, t.object, pyoxigraph.DefaultGraph()) for t in triples]
    if fmt.media_type in ("text/turtle", "application/trig", "text/n3", "application/rdf+xml"):
        body = pyoxigraph.serialize(triples, format=fmt.oxigraph, prefixes=PREFIXES)
    else:
        body = pyoxigraph.serialize(triples, format=fmt.oxigraph)
    response = Response(body, content_type=response_mimetype(fmt))
    response.vary.add("Accept")
    response.headers["Link"] = ", ".join(f'<{h}>; rel="alternate"; type="{m}"' for h, m in alternates)
    return response


# --------------------------------------------------------------------------- the catalogue

@bp.route("/catalog")
@bp.route("/catalog.<suffix>")
@bp.route("/dataset")
@bp.route("/dataset.<suffix>")
@bp.route("/.well-known/void")
@bp.route("/.well-known/void.<suffix>")
def catalogue(suffix: str | None = None):
    """The DCAT-AP 3 catalogue with VoID, in any RDF format, or as a page."""
    media_type = _media_type(suffix)
    manifest = get_manifest() or {}
    triples = catalogue_triples(site(), manifest, published_counts())
    alternates = [(f"/catalog.{s}", SUFFIXES[s]) for s in ADVERTISED]
    if media_type in ("text/html", "application/json"):
        turtle = pyoxigraph.serialize(triples, format=pyoxigraph.RdfFormat.TURTLE, prefixes=PREFIXES)
        counts = published_counts()
        data = {"turtle": turtle.decode("utf-8"), "triples": counts.triples,
                "endpoint": public_url() + "sparql", "dumps": dumps(manifest),
                "graphs": [{"iri": g, "href": graph_href(g), "count": n,
                            "title": graph_info(manifest, g, counts.documents)["title"]}
                           for g, n in sorted(counts.graphs.items())],
                "count_queries": COUNT_QUERIES}
        if media_type == "text/html":  # a page for people: tables read from the same triples
            data = {k: v for k, v in data.items() if k != "turtle"}
            data.update(catalogue_tables(triples, Linker(site().base, current_lang()), current_lang(),
                                         public_url()))
        return respond("meta/void.html", data, as_json=media_type == "application/json", alternates=alternates)
    return _rdf(triples, media_type, alternates)


@bp.route("/dataset/<path:rest>")
def catalogue_resource(rest: str):
    """The resources the catalogue mints under ``<BASE_IRI>dataset/`` (its SPARQL service and
    distributions, publisher, contact point, period …) are described in the catalogue
    alone: 303 See Other to it (the Cool URIs pattern for a thing described in a larger
    document), keeping the query string (`format=`); 404 for an IRI it does not mint."""
    iri = site().base + "dataset/" + rest
    triples = catalogue_triples(site(), get_manifest() or {}, published_counts())
    # the route reads the path decoded; a minted IRI holds a graph's name percent-encoded
    if not any(unquote(t.subject.value) == iri for t in triples if isinstance(t.subject, NamedNode)):
        raise not_found(f"The catalogue describes no <{iri}>; /catalog lists what it does.")
    target = "/catalog" + (f"?{request.query_string.decode('latin-1')}" if request.query_string else "")
    return redirect(target, code=303)


def dumps(manifest: dict) -> list[dict]:
    types = {"bjkg.trig": "application/trig", "bjkg.nq": "application/n-quads", "bjkg.jsonld": "application/ld+json"}
    return [{"name": name, "href": f"/dumps/{name}", "media_type": types.get(name),
             "sha256": info.get("sha256"), "bytes": info.get("bytes")}
            for name, info in manifest.get("dumps", {}).items()]


def graph_href(graph: str) -> str:
    """The local page of a named graph (its name percent-encoded, `url_path`); a name that
    is a lone dot segment (`graph/..`) can have no path of its own: /resource names it."""
    rest = site().graph_path(graph)
    if rest and url_path(rest) not in (".", ".."):
        return f"/graph/{url_path(rest)}"
    return "/resource?iri=" + quote(graph, safe="")


# --------------------------------------------------------------------------- named graphs

def _known_graph(rest: str) -> str:
    iri = current_app.config["BASE_IRI"] + "graph/" + rest
    if iri not in set(get_store().named_graphs()) and iri not in published_counts().graphs:
        raise not_found(f"There is no named graph <{iri}> in this dataset; /catalog lists them.")
    return iri


@bp.route("/graph/<path:rest>")
def graph(rest: str):
    """A named graph of the dataset: what it holds, where it comes from, its dump."""
    suffix = None
    head, dot, tail = rest.rpartition(".")
    if dot and tail in SUFFIXES and "/" not in tail:
        rest, suffix = head, tail
    iri = _known_graph(rest)
    media_type = _media_type(suffix)
    manifest = get_manifest() or {}
    counts = published_counts()
    here = site()
    alternates = [(f"/graph/{url_path(rest)}.{s}", SUFFIXES[s]) for s in ADVERTISED]
    if media_type not in ("text/html", "application/json"):
        return _rdf(graph_triples(here, manifest, counts, iri), media_type, alternates)
    info = graph_info(manifest, iri, counts.documents)
    classes = get_store().query(
        "SELECT ?c (COUNT(DISTINCT ?x) AS ?n) WHERE { ?x a ?c } GROUP BY ?c ORDER BY DESC(?n) ?c",
        dataset=Dataset(default_graphs=(iri,)), max_rows=0).bindings()
    title = dataset_title(info, current_lang())
    data = {"iri": iri, "title": title["text"], "title_lang": title["lang"], "kind": info["kind"],
            "triples": counts.graphs.get(iri, 0),
            "document": info.get("document"), "file": info.get("file"), "sha256": info.get("sha256"),
            "licence": info.get("licence"), "source": info.get("source"), "description": info.get("description"),
            "dump": f"/dumps/graph/{url_path(rest)}.nt", "dump_url": here.graph_dump(iri),
            "document_href": ("/resource?iri=" + quote(info["document"], safe="")) if info.get("document") else None,
            "classes": [{"iri": r["c"].value, "count": int(r["n"].value)} for r in classes],
            "sparql_href": "/sparql#query=" + quote(
                f"SELECT ?s ?p ?o WHERE {{ GRAPH <{iri}> {{ ?s ?p ?o }} }} LIMIT 100", safe=""),
            "lang": current_lang()}
    return respond("meta/graph.html", data, as_json=media_type == "application/json", alternates=alternates)


@bp.route("/dumps/graph/<path:rest>.nt")
def graph_dump(rest: str):
    """One named graph as N-Triples, streamed by the engine."""
    iri = _known_graph(rest)
    answer = get_store().query("CONSTRUCT WHERE { ?s ?p ?o }", dataset=Dataset(default_graphs=(iri,)),
                               graph_format="application/n-triples", max_rows=0)
    response = Response(answer.content(), content_type="application/n-triples")
    name = rest.replace("/", "-") + ".nt"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
