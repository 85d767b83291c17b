"""Entity pages: every IRI under the base at its own path, any other IRI at /resource?iri=.

`https://w3id.org/bjkg/id/place/tongzhou` is served at `/id/place/tongzhou` (and graph IRIs
at `/graph/<slug>`). One view builds the description (`bjkg.server.pages.describe`) and renders it by
content negotiation on the same URL — HTML for browsers; Turtle, JSON-LD, N-Triples,
RDF/XML, TriG, N-Quads for RDF clients — or by suffix: `.ttl`, `.jsonld`, `.nt`, `.rdf`,
and `.json`, the page's data twin. The IRI from the request becomes a validated
`NamedNode` and reaches the store only as a bound term.
"""
from __future__ import annotations

import re
from urllib.parse import quote

import pyoxigraph
from flask import Blueprint, Response, current_app, redirect, request

from bjkg.server.core import vocab
from bjkg.server.core.conneg import (HTML, RDF_FORMATS, Format, format_by_name, page_media_type,
                                    response_mimetype)
from bjkg.server.pages.describe import (BLANK_NODE_LIMIT, describe, description_triples, has_dot_segment,
                                       select)
from bjkg.server.core.errors import bad_request, not_found, shown
from bjkg.server.pages.divisions import name_sources
from bjkg.server.pages.equivalence import RELATIONS_QUERY, Alignments
from bjkg.server.web.extension import get_manifest, get_state, get_store
from bjkg.server.web.headers import BLANK_NODES_HEADER
from bjkg.server.pages.locator_map import POINTS_QUERY, LocatorMap, get_map
from bjkg.server.stores.page_reads import IndexSource
from bjkg.server.views.common import current_lang, page_number, respond
from bjkg.server.pages.search_index import MAX_QUERY_CHARS

bp = Blueprint("pages", __name__)

SUFFIXES = {"ttl": "text/turtle", "jsonld": "application/ld+json", "nt": "application/n-triples",
            "rdf": "application/rdf+xml", "trig": "application/trig", "nq": "application/n-quads",
            "json": "application/json", "html": "text/html"}
# Which representations a page advertises (Link headers and the page's own links).
ADVERTISED = ("ttl", "jsonld", "nt", "rdf", "json")
_PATH = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@-]+(?:/[A-Za-z0-9._~!$&'()*+,;=:@-]+)*")
_JSON = "application/json"


@bp.route("/id/<path:rest>")
def entity(rest: str):
    """An entity under `<base>id/`."""
    return _serve_path("id/", rest)


@bp.route("/resource")
@bp.route("/resource.<suffix>")
def resource(suffix: str | None = None):
    """Any IRI in the store, named by `?iri=`; IRIs with a path of their own redirect there."""
    iri = request.args.get("iri", "").strip()
    if not iri:
        raise bad_request("Name the resource with ?iri=<absolute IRI>.")
    node = _named_node(iri)
    if suffix is not None and suffix not in SUFFIXES:
        raise not_found(f"No representation '.{suffix}'; use one of: "
                        + ", ".join("." + s for s in SUFFIXES))
    base = current_app.config["BASE_IRI"]
    for area in ("id/", "graph/"):
        rest = iri[len(base + area):] if iri.startswith(base + area) else None
        if rest and _PATH.fullmatch(rest) and not has_dot_segment(rest):
            target = "/" + area + rest + (f".{suffix}" if suffix else "")
            args = {k: v for k, v in request.args.items() if k != "iri"}
            query = "&".join(f"{quote(k)}={quote(v)}" for k, v in args.items())
            return redirect(target + ("?" + query if query else ""), code=301)
    here = "/resource" + ("." + suffix if suffix else "")
    return _serve(node.value, suffix, self_href=lambda s: f"/resource.{s}?iri={quote(iri, safe='')}",
                  here=here)


def _serve_path(area: str, rest: str) -> Response:
    """Split a `.suffix` off the path, rebuild the IRI and serve it."""
    suffix = None
    head, dot, tail = rest.rpartition(".")
    if dot and tail in SUFFIXES and "/" not in tail:
        rest, suffix = head, tail
    if not _PATH.fullmatch(rest):
        raise not_found(f"/{area}{rest} is not an entity path.")
    iri = current_app.config["BASE_IRI"] + area + rest
    _named_node(iri)
    return _serve(iri, suffix, self_href=lambda s: f"/{area}{rest}.{s}", here=f"/{area}{rest}")


def _named_node(iri: str) -> pyoxigraph.NamedNode:
    """A validated IRI term; 400 for anything that is not an absolute IRI."""
    try:
        return pyoxigraph.NamedNode(iri)
    except ValueError as exc:
        raise bad_request(f"Not a valid IRI: {exc}") from None


def _choose(suffix: str | None) -> str:
    """The media type to answer with: the suffix's, else `?format=`, else negotiated."""
    if suffix:
        return SUFFIXES[suffix]
    if request.args.get("format"):
        name = request.args["format"]
        if name in ("json", _JSON):
            return _JSON
        return format_by_name((*RDF_FORMATS, HTML), name, also=("json",)).media_type
    return page_media_type(request.headers.get("Accept"))


def _serve(iri: str, suffix: str | None, *, self_href, here: str) -> Response:
    """Describe `iri` and answer in the chosen representation."""
    media_type = _choose(suffix)
    lang = current_lang()
    inbound_predicate = request.args.get("inbound") or None
    if inbound_predicate is not None:
        inbound_predicate = _named_node(inbound_predicate).value
    page = page_number()
    store = get_store()
    description = describe(store, iri, base=current_app.config["BASE_IRI"], lang=lang,
                           inbound_predicate=inbound_predicate, inbound_page=page,
                           locator=_locator, indexes=_indexes(store), alignments=alignments(store),
                           links_only=media_type not in (HTML.media_type, _JSON),
                           uses=_predicate_uses(store, iri))
    # each with its format's name: a button cannot read it off an href like
    # /resource.ttl?iri=http%3A%2F%2Fwww.wikidata.org%2F… (its last dot is the IRI's)
    named = [{"href": self_href(s), "type": SUFFIXES[s], "name": s} for s in ADVERTISED]
    alternates = [(a["href"], a["type"]) for a in named]
    if description is None:
        return _not_found(iri, media_type)
    if description.get("division"):
        name_sources(description["division"], (get_manifest() or {}).get("external", []), lang)
    description["alternates"] = named
    description["sparql_href"] = _sparql_href(iri, store.union_default_graph)
    if description.get("uses"):
        description["uses"]["sparql_href"] = _uses_href(iri, store.union_default_graph)
    if media_type in (HTML.media_type, _JSON):
        return respond("pages/entity.html", description, as_json=media_type == _JSON,
                       alternates=alternates, here=here)
    fmt = next(f for f in RDF_FORMATS if f.media_type == media_type)
    triples, complete = description_triples(store, iri, description)
    response = _rdf_response(triples, fmt, alternates)
    if not complete:  # never cut silently: the RDF cannot say it, the response does
        response.headers[BLANK_NODES_HEADER] = (
            f"not all expanded (at most {BLANK_NODE_LIMIT} per resource, none over a remote store); "
            "a SPARQL query reads them")
    return response


def _predicate_uses(store, iri: str) -> int:
    """How many distinct triples use `iri` as their predicate. A served build's are the
    catalogue's counts (read once per build, `published_counts`), so the page and the VoID
    partition say the same; a store without a build hash (writable, remote) changes or is
    not counted ahead, and is asked with the same query, bound to this one predicate."""
    if get_state().build_hash:
        from bjkg.server.views.catalog import published_counts

        return published_counts().properties.get(iri, 0)
    # the catalogue's count query for one property; the term is a validated NamedNode in
    # N-Triples syntax (a bound term cannot reach into the sub-select)
    term = str(pyoxigraph.NamedNode(iri))
    rows = select(store, f"SELECT (COUNT(*) AS ?n) WHERE {{ SELECT DISTINCT ?s ?o WHERE {{ ?s {term} ?o }} }}")
    return int(rows[0]["n"].value) if rows and "n" in rows[0] else 0


def _indexes(store) -> IndexSource | None:
    """Reads of the served build's own store indexes (`bjkg.server.stores.page_reads`), or None for a
    writable (`--empty`) or remote store, whose pages read through SPARQL queries.

    Made per request, never kept: `local_store` is the store this process opened (it
    reopens after a fork), and the reads of one page are remembered for that page only.
    The labels come from the table `bjkg serve` prepared for the build, if there is one."""
    local_store = getattr(store, "local_store", None)
    if local_store is None or getattr(store, "writable", False):
        return None
    return IndexSource(local_store(), labels=store.label_table())


def alignments(store) -> Alignments:
    """The ontology's property alignments (sub-/equivalent/inverse properties), read once
    per process and build; a writable store can change, so it is read per request."""
    if getattr(store, "writable", False):
        return Alignments.from_bindings(select(store, RELATIONS_QUERY))
    key = ("bjkg.alignments", get_state().build_hash)
    found = current_app.extensions.get(key)
    if found is None:
        found = Alignments.from_bindings(select(store, RELATIONS_QUERY))
        current_app.extensions[key] = found
    return found


def _locator() -> LocatorMap | None:
    """The process's locator map of all listed divisions, built on first use."""
    def load() -> list[str]:
        rows = select(get_store(), POINTS_QUERY)
        return [row["wkt"].value for row in rows if "wkt" in row]

    return get_map(current_app.extensions, load)


@bp.route("/-/locator-map.svg")
def locator_map():
    """The locator map's base layer: one dot per listed division, drawn once per process."""
    found = _locator()
    if found is None:
        raise not_found("This dataset has no division points to draw a map from.")
    response = Response(found.svg, content_type="image/svg+xml; charset=utf-8")
    response.set_etag(get_state().build_hash or "empty")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response.make_conditional(request)


def _rdf_response(triples, fmt: Format, alternates) -> Response:
    """Triples serialised by pyoxigraph in `fmt` (quad formats get them in the default graph)."""
    if fmt.oxigraph.supports_datasets:
        triples = [pyoxigraph.Quad(t.subject, t.predicate, t.object, pyoxigraph.DefaultGraph())
                   for t in triples]
    if fmt.media_type in ("text/turtle", "application/trig", "text/n3", "application/rdf+xml"):
        # No id:/graph: prefixes: slash-bearing local names would read `id:place\\/tongzhou`.
        prefixes = {k: v for k, v in vocab.prefixes_for(current_app.config["BASE_IRI"]).items()
                    if k not in ("id", "graph")}
        body = pyoxigraph.serialize(triples, format=fmt.oxigraph, prefixes=prefixes)
    else:
        body = pyoxigraph.serialize(triples, format=fmt.oxigraph)
    response = Response(body, content_type=response_mimetype(fmt))
    response.vary.add("Accept")
    response.headers["Link"] = ", ".join(f'<{h}>; rel="alternate"; type="{m}"' for h, m in alternates)
    return response


def _not_found(iri: str, media_type: str) -> Response:
    """404: a page with a search link for browsers, a problem document for everyone else."""
    if media_type != HTML.media_type:
        raise not_found(f"This dataset has nothing about <{shown(iri)}>.")
    guess = iri.rstrip("/").rsplit("/", 1)[-1].rsplit("#", 1)[-1].replace("-", " ")
    guess = guess[:MAX_QUERY_CHARS]  # the longest query search accepts
    data = {"iri": shown(iri), "search_q": guess, "search_href": "/search?q=" + quote(guess)}
    return respond("pages/not_found.html", data, status=404)


def _uses_href(iri: str, union_default_graph: bool) -> str:
    """The query editor pre-filled with a query listing the triples that use `iri` as their
    predicate, each once (as many rows as the page's count). Where the default graph is a
    graph of its own (`_sparql_href`), the named graphs are read too."""
    term = str(pyoxigraph.NamedNode(iri))
    pattern = f"?subject {term} ?value"
    if not union_default_graph:
        pattern = f"{{ {pattern} }}\n  UNION\n  {{ GRAPH ?graph {{ {pattern} }} }}"
    query = ("SELECT DISTINCT ?subject ?value WHERE {\n"
             f"  {pattern}\n"
             "}\nORDER BY ?subject ?value\n")
    return "/sparql#query=" + quote(query, safe="")


def _sparql_href(iri: str, union_default_graph: bool) -> str:
    """The query editor pre-filled with a query listing the resource's statements per graph.
    Where the default graph is a graph of its own (``--empty``, a remote store), its
    statements are listed too, with ?graph unbound; where it is the union of the named
    graphs, they would only be listed twice."""
    term = str(pyoxigraph.NamedNode(iri))
    pattern = f"GRAPH ?graph {{ {term} ?property ?value }}"
    if not union_default_graph:
        pattern = f"{{ {term} ?property ?value }}\n  UNION\n  {{ {pattern} }}"
    query = ("SELECT ?graph ?property ?value WHERE {\n"
             f"  {pattern}\n"
             "}\nORDER BY ?graph ?property\n")
    return "/sparql#query=" + quote(query, safe="")
