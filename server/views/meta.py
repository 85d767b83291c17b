"""The dataset's own pages: home, class listings, ontology, shapes, dumps, settings.

Counts are the endpoint's own answers to the queries of `bjkg.server.pages.catalog`
(through `bjkg.server.views.catalog.published_counts`), the same numbers the catalogue
publishes; terms come from the ontology graph through fixed queries. The catalogue
(DCAT-AP/VoID) and the named graphs' pages are `bjkg.server.views.catalog`. Files (dumps,
shapes, the validation report) are served from the build folder only when the manifest
names them.
"""
from __future__ import annotations

import base64
import re
from datetime import datetime, timezone
from pathlib import Path

import pyoxigraph
from flask import Blueprint, Response, current_app, redirect, request, send_file
from werkzeug.http import parse_date, parse_range_header
from pyoxigraph import Literal, NamedNode

from bjkg.server.pages import i18n
from bjkg.server.core import vocab
from bjkg.server.core.conneg import RDF_FORMATS, page_media_type, response_mimetype
from bjkg.server.pages.describe import Linker, inbound_page, select
from bjkg.server.core.errors import bad_request, not_found, service_unavailable, shown
from bjkg.server.pages.examples import load_examples
from bjkg.server.pages.overview import overview, overview_rows
from bjkg.server.web.extension import get_manifest, get_state, get_store
from bjkg.server.pages.labels import canonical_lang, group_labels, pick
from bjkg.server.core.settings import SETTINGS, public_settings
from bjkg.server.stores.embedded import Dataset
from bjkg.server.pages.catalog import quotes_status
from bjkg.server.views.catalog import graph_href, published_counts
from bjkg.server.stores.integrity import file_matches
from bjkg.server.views.common import current_lang, page_number, respond, wants_json

bp = Blueprint("meta", __name__)

V = vocab
CLASS_PAGE_SIZE = 50
DUMP_TYPES = {"bjkg.trig": "application/trig", "bjkg.nq": "application/n-quads",
              "bjkg.jsonld": "application/ld+json"}

_CLASS_LABELS_QUERY = """
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
SELECT DISTINCT ?x ?l WHERE { ?x a ?kind ; rdfs:label ?l .
  VALUES ?kind { <http://www.w3.org/2002/07/owl#Class> <http://www.w3.org/2000/01/rdf-schema#Class> } }
"""

_ALL_LABELS_OF_DOCUMENTS_QUERY = """
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX bjkg: <https://w3id.org/bjkg/ontology#>
SELECT DISTINCT ?x ?l WHERE { ?x a bjkg:SourceDocument ; rdfs:label ?l }
"""

_COUNT_INSTANCES_QUERY = """
SELECT ?c (COUNT(DISTINCT ?x) AS ?n) WHERE { ?x a ?c FILTER(isIRI(?x)) } GROUP BY ?c
"""

_GRAPH_TRIPLES_QUERY = "SELECT ?s ?p ?o WHERE { ?s ?p ?o }"


# --------------------------------------------------------------------------- helpers

def _base() -> str:
    return current_app.config["BASE_IRI"]


def _labelled(linker: Linker, rows_query: str) -> None:
    linker.add_labels(select(get_store(), rows_query))


def _manifest() -> dict:
    return get_manifest() or {}


def _build_file(name: str) -> Path | None:
    """A file in the served build folder, or None when serving --empty / missing."""
    build_dir = get_state().build_dir
    if build_dir is None:
        return None
    path = Path(build_dir) / name
    return path if path.is_file() else None


# --------------------------------------------------------------------------- home

@bp.route("/")
@bp.route("/index.json", endpoint="index_json")
def home():
    """What the dataset is, counts per class and graph, sources, example queries, dumps."""
    lang = current_lang()
    manifest = _manifest()
    counts = published_counts()  # the endpoint's own answers, as the catalogue publishes them
    linker = Linker(_base(), lang)
    _labelled(linker, _CLASS_LABELS_QUERY)
    _labelled(linker, _ALL_LABELS_OF_DOCUMENTS_QUERY)
    classes = [{**linker.link(iri), "count": n, "href": _class_href(iri),
                "own": iri.startswith(_base() + "ontology#")}
               for iri, n in counts.classes.items()]
    # The dataset's own classes (bjkg:…) first, the vocabularies it reuses after.
    classes.sort(key=lambda c: (not c["own"], -c["count"], c["label"]))
    graphs = [{**linker.link(iri), "count": n, "href": graph_href(iri), "name": _graph_name(iri)}
              for iri, n in sorted(counts.graphs.items())]
    sources = [{**source, "document_link": linker.link(source["document"]) if source.get("document") else None,
                "graph_href": linker.href(source["graph"]) if source.get("graph") else None}
               for source in manifest.get("sources", [])]
    data = {
        "title": i18n.text("site_title", lang),
        "description": i18n.text("intro", lang),
        "empty": get_manifest() is None,
        "triples": counts.triples,
        "hash": manifest.get("hash"),
        "ontology_version": manifest.get("ontology_version"),
        "quotes": quotes_status(get_manifest(), lang),
        "classes": classes,
        "graphs": graphs,
        "sources": sources,
        "external": [{**entry, "graph_href": linker.href(entry["graph"]) if entry.get("graph") else None}
                     for entry in manifest.get("external", [])],
        "dumps": _dumps(manifest),
        "examples": [ex.as_dict(lang) for ex in load_examples(_base())],
        "sparql_endpoint": "/sparql",
        **_overview(linker, lang),
    }
    as_json = request.path.endswith(".json") or wants_json()
    return respond("meta/home.html", data, as_json=as_json,
                   alternates=[("/index.json", "application/json")])


def _overview(linker: Linker, lang: str) -> dict:
    """The home page's sections for people (`bjkg.server.pages.overview`): their queries (a
    dozen, with a path and a GROUP BY: 3 s at 1M triples) run once per build and process,
    the sections are made once per language; over a writable store, which can change
    between requests, both each time."""
    store = get_store()
    if getattr(store, "writable", False) or get_state().build_hash is None:
        return overview(overview_rows(select, store), linker, lang)
    key = ("bjkg.overview", get_state().build_hash, lang)
    found = current_app.extensions.get(key)
    if found is None:
        found = current_app.extensions[key] = overview(build_overview_rows(), linker, lang)
    return found


OVERVIEW_ROWS_VERSION = 1


def build_overview_rows() -> dict:
    """The home page's query rows for the served build: kept by each process, and in
    CACHE_DIR, where `bjkg serve` writes them once per build beside the search index
    (`bjkg.server.runtime.prepare`), so no process's first home page runs the queries."""
    from bjkg.server.core import prepared

    build_hash = get_state().build_hash
    rows_key = ("bjkg.overview-rows", build_hash)
    rows = current_app.extensions.get(rows_key)
    if rows is None:
        path = prepared.path_for(prepared.cache_dir(current_app.config), "overview-rows",
                                 build_hash, OVERVIEW_ROWS_VERSION)
        rows = current_app.extensions[rows_key] = prepared.load_or_make(
            path, dict, lambda: overview_rows(select, get_store()))
    return rows


def _graph_name(iri: str) -> str:
    """A graph's name as its path under `<base>graph/` (`external/cpca-divisions` and
    `links/cpca-divisions` are two graphs, never two rows reading `cpca-divisions`)."""
    prefix = _base() + "graph/"
    return iri[len(prefix):] if iri.startswith(prefix) else iri


def _class_href(iri: str) -> str:
    from urllib.parse import quote

    return "/class?iri=" + quote(iri, safe="")


def _dumps(manifest: dict) -> list[dict]:
    return [{"name": name, "href": f"/dumps/{name}", "media_type": DUMP_TYPES.get(name),
             "sha256": info.get("sha256"), "bytes": info.get("bytes")}
            for name, info in manifest.get("dumps", {}).items()]


# --------------------------------------------------------------------------- class pages

@bp.route("/class")
@bp.route("/class.json", endpoint="class_json")
def class_page():
    """The instances of one class, paged (`?iri=<class>&page=N`)."""
    iri = request.args.get("iri", "").strip()
    try:
        node = NamedNode(iri)
    except ValueError:
        raise bad_request("Name the class with ?iri=<absolute IRI>.") from None
    lang = current_lang()
    store = get_store()
    linker = Linker(_base(), lang)
    linker.add_labels(select(store, "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n"
                                    "SELECT ?x ?l WHERE { ?x rdfs:label ?l }", x=node))
    total = published_counts().classes.get(iri)
    if total is None:
        counts = {row["c"].value: int(row["n"].value) for row in select(store, _COUNT_INSTANCES_QUERY, c=node)}
        total = counts.get(iri, 0)
    if not total:
        raise not_found(f"No instances of <{shown(iri)}> in this dataset.")
    group = inbound_page(store, linker, node, V.RDF_TYPE, total, page_number(), CLASS_PAGE_SIZE)
    data = {"class": linker.link(iri), "total": total, **{k: group[k] for k in
            ("page", "page_size", "items", "has_next", "has_prev")}}
    as_json = request.path.endswith(".json") or wants_json()
    from urllib.parse import quote

    return respond("meta/class.html", data, as_json=as_json,
                   alternates=[("/class.json?iri=" + quote(iri, safe=""), "application/json")])


# --------------------------------------------------------------------------- ontology

_TERM_SECTIONS = (
    ("classes", (V.OWL + "Class", V.RDFS + "Class")),
    ("object_properties", (V.OWL + "ObjectProperty",)),
    ("datatype_properties", (V.OWL + "DatatypeProperty",)),
    ("other_terms", ()),
)


@bp.route("/ontology/<version>")
def ontology_version(version: str):
    """The ontology's version IRI (``owl:versionIRI <…/ontology/0.1.0>``) dereferences to the
    ontology it versions (303 See Other), when it is the version this build was made with."""
    current = (get_manifest() or {}).get("ontology_version")
    if not current or version != str(current):
        raise not_found(f"This server holds version {shown(str(current))} of the ontology, "
                        f"not {shown(version)!r}: /ontology.")
    return redirect("/ontology" + (f"?{request.query_string.decode('latin-1')}" if request.query_string else ""),
                    code=303)


@bp.route("/ontology")
@bp.route("/ontology.<suffix>")
def ontology(suffix: str | None = None):
    """Every class and property of the ontology in three scripts, with domains and ranges;
    the ontology graph itself in any RDF format."""
    suffixes = {"ttl": "text/turtle", "jsonld": "application/ld+json", "nt": "application/n-triples",
                "rdf": "application/rdf+xml", "json": "application/json", "html": "text/html"}
    if suffix is not None and suffix not in suffixes:
        raise not_found(f"No representation '.{suffix}' of the ontology.")
    media_type = suffixes[suffix] if suffix else page_media_type(request.headers.get("Accept"))
    graph = _base() + "graph/ontology"
    alternates = [(f"/ontology.{s}", suffixes[s]) for s in ("ttl", "jsonld", "nt", "rdf", "json")]
    if media_type not in ("text/html", "application/json"):
        fmt = next(f for f in RDF_FORMATS if f.media_type == media_type)
        prefixes = {k: v for k, v in vocab.prefixes_for(_base(), extra=True).items()
                    if k not in ("id", "graph")}
        answer = get_store().query("CONSTRUCT WHERE { ?s ?p ?o }", dataset=Dataset(default_graphs=(graph,)),
                                   graph_format=fmt.media_type, prefixes=prefixes, max_rows=0)
        response = Response(answer.content(), content_type=response_mimetype(fmt))
        response.vary.add("Accept")
        return response
    lang = current_lang()
    rows = get_store().query(_GRAPH_TRIPLES_QUERY, dataset=Dataset(default_graphs=(graph,)),
                             max_rows=0).bindings()
    data = _ontology_data(rows, lang)
    return respond("meta/ontology.html", data, as_json=media_type == "application/json",
                   alternates=alternates)


def _ontology_data(rows: list[dict], lang: str) -> dict:
    """Group the ontology graph's triples by term and section."""
    base_ns = _base() + "ontology#"
    linker = Linker(_base(), lang)
    linker.add_labels({"x": r["s"], "l": r["o"]} for r in rows if r["p"].value == V.RDFS_LABEL)
    by_subject: dict[str, dict[str, list]] = {}
    for row in rows:
        if isinstance(row["s"], NamedNode):
            by_subject.setdefault(row["s"].value, {}).setdefault(row["p"].value, []).append(row["o"])
    ontology_iri = _base() + "ontology"
    header = by_subject.get(ontology_iri, {})

    def texts(values):
        return group_labels((v.value, canonical_lang(v.language)) for v in values if isinstance(v, Literal))

    def links(values):
        return [linker.link(v.value) for v in values if isinstance(v, NamedNode)]

    sections = {name: [] for name, _ in _TERM_SECTIONS}
    for iri, props in sorted(by_subject.items()):
        if not iri.startswith(base_ns):
            continue
        types = {v.value for v in props.get(V.RDF_TYPE, []) if isinstance(v, NamedNode)}
        section = next((name for name, kinds in _TERM_SECTIONS if types & set(kinds)), "other_terms")
        sections[section].append({
            "iri": iri, "anchor": iri[len(base_ns):], "curie": vocab.compact(iri),
            "label": linker.label(iri), "labels": texts(props.get(V.RDFS_LABEL, [])),
            "comments": texts(props.get(V.RDFS + "comment", [])),
            "types": links(props.get(V.RDF_TYPE, [])),
            "domain": links(props.get(V.RDFS + "domain", [])),
            "range": links(props.get(V.RDFS + "range", [])),
            "subclass_of": links(props.get(V.RDFS + "subClassOf", [])
                                 + props.get(V.RDFS + "subPropertyOf", [])),
            "inverse_of": links(props.get(V.OWL + "inverseOf", [])),
        })
    for terms in sections.values():
        terms.sort(key=lambda term: term["anchor"].lower())
    title = pick(texts(header.get(V.DCTERMS + "title", [])), lang)
    description = pick(texts(header.get(V.DCTERMS + "description", [])), lang)
    version = [v.value for v in header.get(V.OWL + "versionInfo", []) if isinstance(v, Literal)]
    return {
        "iri": ontology_iri, "namespace": base_ns,
        "title": title[0] if title else i18n.text("ontology", lang),
        "description": description[0] if description else "",
        "version": version[0] if version else None,
        "sections": [{"name": name, "title": i18n.text(name, lang), "terms": sections[name]}
                     for name, _ in _TERM_SECTIONS if sections[name]],
        "count": sum(len(v) for v in sections.values()),
    }


# --------------------------------------------------------------------------- shapes

@bp.route("/shapes")
@bp.route("/shapes.json", endpoint="shapes_json")
def shapes():
    """The SHACL shapes the build validated against and the last validation report."""
    shapes_file, report_file = _build_file("shapes.ttl"), _build_file("validation.ttl")
    conforms, results = _report_summary(report_file)
    data = {
        "shapes": shapes_file.read_text(encoding="utf-8") if shapes_file else None,
        "shapes_href": "/shapes.ttl" if shapes_file else None,
        "report": report_file.read_text(encoding="utf-8") if report_file else None,
        "report_href": "/validation.ttl" if report_file else None,
        "conforms": conforms, "results": results,
    }
    as_json = request.path.endswith(".json") or wants_json()
    return respond("meta/shapes.html", data, as_json=as_json,
                   alternates=[("/shapes.json", "application/json"), ("/shapes.ttl", "text/turtle")])


def _report_summary(path: Path | None) -> tuple[bool | None, int]:
    """(sh:conforms, number of sh:result) of a validation report file."""
    if path is None:
        return None, 0
    conforms, results = None, 0
    for triple in pyoxigraph.parse(path=str(path), format=pyoxigraph.RdfFormat.TURTLE):
        if triple.predicate.value == V.SH + "conforms":
            conforms = triple.object.value == "true"
        elif triple.predicate.value == V.SH + "result":
            results += 1
    return conforms, results


@bp.route("/shapes.ttl")
def shapes_file():
    return _turtle_file("shapes.ttl")


@bp.route("/validation.ttl")
def validation_file():
    return _turtle_file("validation.ttl")


def _turtle_file(name: str) -> Response:
    path = _build_file(name)
    if path is None:
        raise not_found(f"This server has no {name} (it serves no build, or the build lacks it).")
    return _send_file(path, mimetype="text/turtle")  # werkzeug adds "; charset=utf-8" to text/*


def _send_file(path: Path, **options) -> Response:
    """`send_file` with conditional requests, where a Range that is not one valid byte
    range is ignored and the whole file sent (200): RFC 9110 asks that of a syntactically
    invalid range (`bytes=5-2`, `bytes=abc`) and allows it for several (`bytes=0-9,20-29`),
    where werkzeug answers both 416, which tells a client its valid request cannot be met.
    One range past the end is still 416, as it should be. An If-Modified-Since later than
    the server's clock is invalid (RFC 9110 13.1.3) and ignored; werkzeug answered 304, so a
    client with a clock ahead kept a copy older than the file."""
    header = request.headers.get("Range")
    if header is not None and _EMPTY_SUFFIX.match(header):  # the last 0 bytes: valid, never satisfiable
        return Response(status=416, headers={"Content-Range": f"bytes */{path.stat().st_size}"})
    if header is not None:
        parsed = parse_range_header(header)
        if parsed is None or parsed.units != "bytes" or len(parsed.ranges) != 1:
            request.environ.pop("HTTP_RANGE", None)
    since = parse_date(request.headers.get("If-Modified-Since"))
    if since is not None and since > datetime.now(timezone.utc):
        request.environ.pop("HTTP_IF_MODIFIED_SINCE", None)
    response = send_file(path, conditional=True, **options)
    if _precondition_failed(response):
        response.close()
        failed = Response(status=412)
        for name in ("ETag", "Last-Modified"):
            if name in response.headers:
                failed.headers[name] = response.headers[name]
        return failed
    return response


_EMPTY_SUFFIX = re.compile(r"^\s*bytes\s*=\s*-0+\s*$", re.IGNORECASE)


def _precondition_failed(response: Response) -> bool:
    """If-Match, else If-Unmodified-Since, against the file's validators (RFC 9110 §13.2.2:
    before Range, and a 412 carries no representation; werkzeug sent the whole file with its
    412, and a Range skipped the check)."""
    if_match = request.if_match
    if request.headers.get("If-Match") is not None:
        tag, _ = response.get_etag()
        return not (if_match.star_tag or (tag is not None and if_match.contains(tag)))
    unmodified = parse_date(request.headers.get("If-Unmodified-Since"))
    return unmodified is not None and response.last_modified is not None and response.last_modified > unmodified


# --------------------------------------------------------------------------- dumps

@bp.route("/dumps/<name>")
def dump(name: str):
    """A dump of the whole dataset, as listed (with its checksum) in build.json."""
    info = _manifest().get("dumps", {}).get(name)
    path = _build_file(name) if info is not None else None
    if path is None:
        raise not_found(f"No dump named {name!r}; see /.well-known/void for the list.")
    if info.get("sha256") and not file_matches(path, str(info["sha256"])):
        # never a Digest header that the bytes sent would contradict
        if _replaced_since_start():
            raise service_unavailable(
                f"The build folder holds a newer build than this server serves (`bjkg build` or `bjkg "
                f"load` replaced it since the server started), so the dump {name} is the new build's "
                "and does not match what is served. It is served again once the server is reloaded "
                "(the operator sends it SIGHUP: docs/deploy.md); queries and pages meanwhile answer "
                "from the build it opened.", retry_after=30)
        raise service_unavailable(f"The dump {name} on this server does not match the SHA-256 its "
                                  "build.json gives it (the build folder is damaged); it is not "
                                  "served until the operator rebuilds. Please report this.")
    response = _send_file(path, mimetype=DUMP_TYPES.get(name, "application/octet-stream"),
                          as_attachment=True, download_name=name)
    if info.get("sha256"):
        digest = base64.b64encode(bytes.fromhex(info["sha256"])).decode("ascii")
        response.headers["Digest"] = f"sha-256={digest}"
        response.headers["Repr-Digest"] = f"sha-256=:{digest}:"
    return response


def _replaced_since_start() -> bool:
    """Whether the build folder's build.json now names another build than the one served
    (a build or load swapped a new one in; the server serves the old until reloaded)."""
    import json

    try:
        found = json.loads((Path(current_app.config["BUILD_DIR"]) / "build.json").read_text("utf-8"))
    except (OSError, ValueError, TypeError, KeyError):
        return False
    return isinstance(found, dict) and bool(found.get("hash")) and found.get("hash") != get_state().build_hash


@bp.route("/dumps/SHA256SUMS")
def checksums():
    """`sha256sum -c` compatible list of the dumps."""
    lines = [f"{info['sha256']}  {name}" for name, info in _manifest().get("dumps", {}).items()
             if info.get("sha256")]
    return Response("\n".join(lines) + "\n", mimetype="text/plain")


# --------------------------------------------------------------------------- favicon

@bp.route("/favicon.ico")
def favicon():
    """The site's icon, where browsers look for it first (no 404 on a first visit)."""
    response = _send_file(Path(current_app.static_folder) / "favicon.ico",
                          mimetype="image/vnd.microsoft.icon")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


# --------------------------------------------------------------------------- robots.txt

# Crawlers are welcome on the pages, and kept out of the spaces without end: every query
# text is a URL of /sparql, every word one of /search, every IRI one of /resource. (The
# data is all in the dumps, which the catalogue lists.)
ROBOTS = """User-agent: *
Disallow: /sparql
Disallow: /search
Disallow: /resource
"""


@bp.route("/robots.txt")
def robots():
    """What crawlers may fetch: the pages and dumps, not the query and search spaces."""
    response = Response(ROBOTS, mimetype="text/plain")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


# --------------------------------------------------------------------------- settings

@bp.route("/-/settings")
@bp.route("/-/settings.json", endpoint="settings_json")
def settings():
    """The server's settings (secrets shown only as set/unset), Datasette's /-/settings."""
    values = public_settings(current_app.config)
    data = {"settings": [{"name": s.name, "value": values[s.name], "default": s.default
                          if not isinstance(s.default, tuple) else list(s.default), "help": s.help}
                         for s in SETTINGS]}
    as_json = request.path.endswith(".json") or wants_json()
    return respond("meta/settings.html", data, as_json=as_json,
                   alternates=[("/-/settings.json", "application/json")])
