"""The SPARQL 1.1 Graph Store HTTP Protocol at ``/graph-store`` (indirect identification).

``?graph=IRI`` names a graph, ``?default`` the default graph (for a build: the union of its
graphs, as for SPARQL). GET/HEAD are public; PUT, POST and DELETE need the update token
(see `bjkg.server.web.auth`) and a writable store. Request bodies are parsed completely by
pyoxigraph *before* anything is written — a bad body changes nothing — and JSON-LD remote
contexts are never fetched (pyoxigraph refuses them without a loader, which is a 400 here).
Before parsing, a body's nesting is bounded (MAX_NESTING) and so is an RDF/XML body's size
once its entities are expanded (MAX_BODY_BYTES: no "billion laughs").
A POST to the store itself (no ``graph``/``default``) creates a new graph and answers 201
with its Location.
"""
from __future__ import annotations

import re
import uuid

import pyoxigraph
from flask import Blueprint, Response, current_app, request, url_for

from bjkg.server.views.catalog import public_url
from bjkg.server.web.auth import require_write_access
from bjkg.server.core.conneg import RDF_INPUT_TYPES, rdf_format, rdf_input_format
from bjkg.server.core.errors import (bad_request, not_found, payload_too_large, precondition_failed, shown,
                                     unsupported_media_type)
from bjkg.server.web.extension import get_store
from bjkg.server.stores.embedded import DEFAULT_GRAPH, UNLIMITED, Dataset
from bjkg.server.sparql.text import dataset_iris
from bjkg.server.views.sparql import answer_response, prefixes

bp = Blueprint("graph_store", __name__)

_READ_ALL = "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }"
_INPUT_TYPES = ", ".join(RDF_INPUT_TYPES)  # not application/json: plain JSON is not taken for RDF


@bp.route("/graph-store", methods=["GET", "PUT", "POST", "DELETE"])
def graph_store():
    target = _target()
    if request.method in ("GET", "HEAD"):
        return _get(target)
    require_write_access(f"Graph Store {request.method}")
    store = get_store()
    _check_preconditions(store, target)
    if request.method == "DELETE":
        if target is None:
            raise bad_request("DELETE needs ?graph=IRI or ?default.")
        if not store.drop_graph(target):
            raise not_found(f"There is no graph <{shown(target)}> to delete.")
        return Response(status=204)
    if target is None and request.method == "POST":
        iri = f"{current_app.config['BASE_IRI']}graph/gsp/{uuid.uuid4()}"
        store.add_to_graph(iri, _body_triples(iri))
        response = Response(status=201)
        # from PUBLIC_URL, not the request's Host header
        response.headers["Location"] = public_url() + url_for("graph_store.graph_store", graph=iri).lstrip("/")
        return response
    if target is None:
        raise bad_request("PUT needs ?graph=IRI or ?default.")
    triples = _body_triples(target or current_app.config["BASE_IRI"])
    created = store.replace_graph(target, triples) if request.method == "PUT" \
        else store.add_to_graph(target, triples)
    return Response(status=201 if created else 204)


def _check_preconditions(store, target: str | None) -> None:
    """If-Match and If-None-Match on a write (RFC 9110 §13.1.1–2), evaluated before anything
    is written: a writable store issues no validators for a graph it may change, so a named
    tag never matches, and ``*`` asks whether the graph exists — ``If-None-Match: *``
    creates only, ``If-Match: *`` replaces only. 412 otherwise. (Checked just before the
    write, not with it: two writers racing may both pass.)"""
    if request.headers.get("If-Match") is None and request.headers.get("If-None-Match") is None:
        return
    exists = target is not None and store.graph_exists(target)
    where = f"<{shown(target)}>" if target else "the graph store"
    if request.headers.get("If-Match") is not None and not (request.if_match.star_tag and exists):
        why = (f"there is no graph {where}" if request.if_match.star_tag
               else f"this store issues no validators for {where}, so no tag matches")
        raise precondition_failed(f"If-Match: {why}; nothing was written.")
    if request.if_none_match.star_tag and exists:
        raise precondition_failed(f"If-None-Match: * — the graph {where} exists; nothing was written.")


def _target() -> str | None:
    """The graph addressed: an IRI, DEFAULT_GRAPH, or None for the graph store itself."""
    graphs = request.args.getlist("graph")
    has_default = "default" in request.args
    if graphs and has_default:
        raise bad_request("Give either ?graph=IRI or ?default, not both.")
    if len(graphs) > 1:
        raise bad_request("Give ?graph once.")
    if has_default:
        return DEFAULT_GRAPH
    if graphs:
        try:
            return dataset_iris(graphs, "graph")[0]
        except ValueError as exc:
            raise bad_request(str(exc)) from None
    if request.method in ("GET", "HEAD"):
        raise bad_request("Name the graph: ?graph=IRI, or ?default for the default graph.")
    return None


def _get(target: str) -> Response:
    store = get_store()
    if not store.graph_exists(target):
        raise not_found(f"There is no graph <{shown(target)}> in this dataset.")
    fmt = rdf_format(request.headers.get("Accept"), request.args.get("format"))
    if target == DEFAULT_GRAPH and store.union_default_graph:
        dataset = None  # the default graph of a build is the union of its graphs
    else:
        dataset = Dataset(default_graphs=(target,))
    answer = store.query(_READ_ALL, dataset=dataset, graph_format=fmt.media_type, max_rows=UNLIMITED,
                         prefixes=prefixes() if fmt.media_type in ("text/turtle", "application/trig") else None)
    return answer_response(answer)  # as a CONSTRUCT's: streamed, and refused if its XML is not XML


def _body_triples(base_iri: str) -> list[pyoxigraph.Triple]:
    fmt = rdf_input_format(request.headers.get("Content-Type"))
    if fmt is None:
        raise unsupported_media_type(
            f"Send the graph as one of: {_INPUT_TYPES} (got {request.headers.get('Content-Type') or 'no Content-Type'}).")
    charset = request.mimetype_params.get("charset")
    if charset is not None and charset.lower() not in ("utf-8", "utf8"):
        raise unsupported_media_type(f"Only UTF-8 is accepted; the request declares charset={charset}.")
    body = request.get_data(cache=True)
    depth, limit = _body_nesting(body, fmt.oxigraph), current_app.config["MAX_NESTING"]
    if depth > limit:
        raise bad_request(f"The {fmt.media_type} body nests {depth} levels deep; this server accepts "
                          f"at most {limit} (setting MAX_NESTING): its parser recurses, and a "
                          "document a few thousand levels deep would overflow its stack.")
    if fmt.oxigraph == pyoxigraph.RdfFormat.RDF_XML:
        expanded, most = xml_expanded_size(body), current_app.config["MAX_BODY_BYTES"]
        if expanded > most:
            raise payload_too_large(
                f"The RDF/XML body's entities (<!ENTITY …> in its DOCTYPE) expand it to "
                f"{'more than ' if expanded == _HUGE else ''}{expanded:,} bytes; this server "
                f"parses at most {most:,} (setting MAX_BODY_BYTES), expanded or not. Write the "
                "values out, or use fewer nested entities.")
    try:
        # a document's blank nodes are its own (RDF 1.1 Semantics §5.2): fresh ones for each
        # body, never the labels it was written with, which another upload may use too
        quads = list(pyoxigraph.parse(body, format=fmt.oxigraph, base_iri=base_iri,
                                      without_named_graphs=True, rename_blank_nodes=True))
    except SyntaxError as exc:
        raise bad_request(f"The {fmt.media_type} body could not be parsed: {exc}") from None
    except ValueError as exc:
        raise bad_request(f"The {fmt.media_type} body cannot be loaded into one graph: {exc}") from None
    return [q.triple for q in quads]


_XML_TAG = re.compile(rb"<(/?)[^\s/>!?][^>]*?(/?)>")
_ENTITY_DECLARATION = re.compile(rb"<!ENTITY\s+([^\s%\"'<>]+)\s+(?:\"([^\"]*)\"|'([^']*)')")
_ENTITY_REFERENCE = re.compile(rb"&([^\s&;#<>\"']+);")
_AMPERSAND_REFERENCE = re.compile(rb"&#(?:38|x0*26);", re.IGNORECASE)
_HUGE = 1 << 62  # "too large to say": a cycle, or past any limit


def xml_expanded_size(body: bytes) -> int:
    """An upper bound of an RDF/XML body's size once the parser has expanded its internal
    entities: pyoxigraph expands them in full, so 1.5 KB of nested ``<!ENTITY lol9
    "&lol8;&lol8;…">`` ("billion laughs") is 3 GB, and the HTTP process dies. Read from the
    raw bytes, wherever a declaration appears (a comment's too: for a name declared twice the
    largest counts), a ``&#38;`` in a value read as the ``&`` it becomes; a cycle is _HUGE.
    Each value counts whole (its references' text too): an upper bound."""
    values: dict[bytes, bytes] = {}
    for match in _ENTITY_DECLARATION.finditer(body):
        value = _AMPERSAND_REFERENCE.sub(b"&", match.group(2) if match.group(2) is not None else match.group(3))
        name = match.group(1)
        if name not in values or len(value) > len(values[name]):
            values[name] = value
    if not values:
        return len(body)
    references = {name: _references(value, values) for name, value in values.items()}
    sizes: dict[bytes, int] = {}
    open_: set[bytes] = set()
    for root in values:  # each entity's size, depth-first without recursion (chains may be long)
        if root in sizes:
            continue
        stack = [(root, iter(references[root]))]
        open_.add(root)
        while stack:
            name, children = stack[-1]
            for child in children:
                if child in sizes:
                    continue
                if child in open_:
                    return _HUGE  # an entity that contains itself
                open_.add(child)
                stack.append((child, iter(references[child])))
                break
            else:
                stack.pop()
                open_.discard(name)
                sizes[name] = min(_HUGE, len(values[name]) + sum(sizes[ref] for ref in references[name]))
    rest = _ENTITY_DECLARATION.sub(b"", body)  # the references the declarations make are counted above
    return min(_HUGE, len(rest) + sum(sizes[ref] for ref in _references(rest, values)))


def _references(text: bytes, values: dict[bytes, bytes]) -> list[bytes]:
    """The declared entities `text` refers to, once per reference."""
    return [m.group(1) for m in _ENTITY_REFERENCE.finditer(text) if m.group(1) in values]


_JSON_BRACKETS = re.compile(rb"[{\[]|[}\]]")
_TURTLE_BRACKETS = re.compile(rb"[\[(]|<<|[\])]|>>")


def _body_nesting(body: bytes, fmt) -> int:
    """How deeply a request body nests, measured before pyoxigraph parses it: JSON-LD by its
    braces and brackets (a document 5,000 deep kills the process: SIGSEGV), RDF/XML by its
    elements (parsed in quadratic time: 20,000 deep takes seconds), Turtle-like formats by
    their ``[ ( <<``. Counted on the raw bytes, strings included: an upper bound."""
    depth = deepest = 0
    if fmt == pyoxigraph.RdfFormat.RDF_XML:
        for match in _XML_TAG.finditer(body):
            if match.group(1):
                depth = max(depth - 1, 0)
            elif not match.group(2):
                depth += 1
                deepest = max(deepest, depth)
        return deepest
    pattern = _JSON_BRACKETS if fmt == pyoxigraph.RdfFormat.JSON_LD else _TURTLE_BRACKETS
    for match in pattern.finditer(body):
        if match.group() in (b"{", b"[", b"(", b"<<"):
            depth += 1
            deepest = max(deepest, depth)
        elif depth:
            depth -= 1
    return deepest
