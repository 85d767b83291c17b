"""The SPARQL 1.1 Protocol endpoint at ``/sparql``: query, update, service description.

`bjkg.server.sparql.protocol` turns each of the request shapes into one `Operation`; this module runs
it: lexical checks first (form, SERVICE allow-list, LOAD, engine function IRIs), then
negotiation for the query form, then evaluation through the store (worker processes with a
time and row limit, or a remote store); allow-listed SERVICE calls of the embedded engine
are pointed at the federation relay. All serialisation is pyoxigraph's; all errors are
raised as `HTTPProblem`s. A browser that opens a query's URL gets its answer as a page
(`results_page`), the HTML twin of the same URL.
"""
from __future__ import annotations

import dataclasses
from urllib.parse import quote, urlencode

import pyoxigraph
from flask import Blueprint, Response, current_app, render_template, render_template_string, request, url_for
from jinja2 import TemplateNotFound

from bjkg.server.web.auth import require_write_access, writes_enabled
from bjkg.server.core.conneg import (HTML, RDF_FORMATS, RESULT_FORMATS, Format, NotAcceptable, choose, format_by_name,
                                    offers_of, rdf_format, response_mimetype, results_format)
from bjkg.server.core.errors import bad_request, not_acceptable, shown
from bjkg.server.sparql.admission import Refused
from bjkg.server.sparql.data_process import StoreUnavailable
from bjkg.server.sparql.evaluate import DEFAULT_PREFIXES, QueryFailed, QueryTimedOut
from bjkg.server.web.extension import get_manifest, get_state, get_store
from bjkg.server.sparql.protocol import Operation, read_operation
from bjkg.server.sparql.service_description import PREFIXES as SD_PREFIXES
from bjkg.server.sparql.service_description import describe_service
from bjkg.server.sparql.xml_check import XML_MEDIA_TYPES, refusal, xml_checked, xml_fault
from bjkg.server.sparql.text import (Analysis, DatasetConflict, NestingTooDeep, SparqlTextError, add_using, analyse,
                                     redirect_services)
from bjkg.server.stores.embedded import UNLIMITED, Dataset
from bjkg.server.stores.remote import refuse_engine_functions
from bjkg.server.pages.describe import Linker
from bjkg.server.views.catalog import public_url, published_counts
from bjkg.server.views.common import alternate_links, current_lang, respond
from bjkg.server.views.pages import _indexes

bp = Blueprint("sparql", __name__)

_BY_MEDIA_TYPE = {f.media_type: f for f in (*RESULT_FORMATS, *RDF_FORMATS)}
_PREFIXED_FORMATS = ("text/turtle", "application/trig", "text/n3", "application/rdf+xml")


@bp.route("/sparql", methods=["GET", "POST"])
def endpoint():
    operation = read_operation(request, max_query_length=current_app.config["MAX_QUERY_LENGTH"])
    if operation.kind == "description":
        return _service_description(operation)
    if operation.kind == "update":
        return _update(operation)
    return _query(operation)


ONTOLOGY_NS = "https://w3id.org/bjkg/ontology#"  # fixed, whatever the base (see graph/vocab.py)


def prefixes() -> dict[str, str]:
    """Prefixes for Turtle-family answers and for the query editor."""
    base = current_app.config["BASE_IRI"]
    return {"bjkg": ONTOLOGY_NS, "id": f"{base}id/", "graph": f"{base}graph/", **DEFAULT_PREFIXES}


def _analyse(text: str) -> Analysis:
    """The lexical analysis of a query or update, after its nesting is checked (MAX_NESTING):
    every protocol request passes here before any engine parses its text."""
    try:
        return analyse(text, base_iri=current_app.config["BASE_IRI"],
                       max_nesting=current_app.config["MAX_NESTING"])
    except NestingTooDeep as exc:
        raise bad_request(str(exc)) from None
    except SparqlTextError as exc:
        raise bad_request(f"SPARQL syntax error: {exc}") from None


def _refuse_outbound(analysis: Analysis) -> None:
    """400 for any SERVICE whose target is not allow-listed (the server never calls out), and
    for IRIs in a store's built-in function namespaces (bif:, sql:), some of which do."""
    try:
        refuse_engine_functions(analysis)
    except QueryFailed as exc:  # a refusal of the protocol, as the SERVICE one below
        raise bad_request(exc.message) from None
    allowlist = current_app.config["SERVICE_ALLOWLIST"]
    refused = analysis.refused_services(allowlist)
    if refused:
        call = refused[0]
        target = f"<{shown(call.target)}>" if call.target else "an endpoint that cannot be determined in advance"
        where = f"(line {call.line}, column {call.column})"
        if call.word.upper() not in ("SERVICE", "SERVICESILENT"):
            # a name that holds the keyword: the engine reads it as SERVICE (it needs no space after a keyword)
            where = (f"written `{shown(call.word, 60)}` {where}, which the query engine reads as the SERVICE keyword "
                     "followed by a name (rename that prefix or word),")
        raise bad_request(
            f"SERVICE {target} {where} is refused: this server makes no "
            "outbound requests except to endpoints listed in the SERVICE_ALLOWLIST setting "
            f"(BJKG_SERVICE_ALLOWLIST), which {'is empty' if not allowlist else 'does not list it'}.")


def _federate(text: str, analysis: Analysis) -> str:
    """Point allow-listed SERVICE calls of the embedded engine at the relay (`bjkg.server.sparql.federation`),
    which enforces SERVICE_TIMEOUT and SERVICE_MAX_ROWS; a remote store calls them itself."""
    relay = get_state().relay
    if relay is None or not analysis.services:
        return text
    return redirect_services(text, analysis.services, relay.route)


def _query(operation: Operation) -> Response:
    accept = request.headers.get("Accept")
    if wants_page(operation, accept):
        return results_page(operation)
    arguments = query_arguments(operation, accept)
    return answer_response(get_store().query(**arguments))


PAGE_ROWS = 1000  # rows (or triples) a results page shows at most; a longer answer is downloaded
PAGE_BYTES = 2 << 20  # bytes of a serialised answer a results page reads at most
_JSON_RESULTS = "application/sparql-results+json"
_N_TRIPLES = "application/n-triples"

_PAGE_DOWNLOADS = {"results": ("json", "xml", "csv", "tsv"), "rdf": ("ttl", "nt", "jsonld", "rdf")}


def wants_page(operation: Operation, accept: str | None) -> bool:
    """Whether a query is answered with a page of its results (`results_page`): asked for by
    name (``format=html``), or preferred by a browser that opened the query's URL — text/html
    over every format a SPARQL answer can take. ``*/*``, no Accept at all, or any SPARQL
    client's Accept get the answer itself, as before (the HTML offer comes last)."""
    if operation.formats:
        name = operation.formats[0].strip().lower()
        return name in HTML.names or name in HTML.media_types
    # HTML, offered last, wins only a range that names it: most queries stop at this look
    if not accept or "html" not in accept.lower():
        return False
    return choose(accept, _PAGE_OFFERS) in HTML.media_types


_PAGE_OFFERS = (*(t for f in (*RESULT_FORMATS, *RDF_FORMATS) for t in f.media_types), *HTML.media_types)


def results_page(operation: Operation) -> Response:
    """A query's answer as a page: a table of its rows (or triples, or its boolean), each
    IRI linked to this server's page for it, with the query, a link to edit it in the query
    editor, and links to the whole answer in each format (also as `Link: rel=alternate`).

    The same checks and limits as any query (it is evaluated by the store, under the
    server's admission and time limit). The answer is read as the engine writes it
    (SPARQL JSON, or N-Triples for a graph), and at most PAGE_BYTES of it: the HTTP process
    never holds more for a page, however long a row (a GROUP_CONCAT of a whole store). A
    page shows at most PAGE_ROWS rows; a longer answer is not cut but refused on the page,
    which says so and links the downloads (the engine is stopped where the page stopped
    reading)."""
    # the checks, without the format that asked for the page
    arguments = query_arguments(dataclasses.replace(operation, formats=()), None)
    form = arguments["analysis"].form if "analysis" in arguments else _analyse(operation.text).form
    graph = form in ("CONSTRUCT", "DESCRIBE")
    arguments.update(results_format=None if graph else _JSON_RESULTS, graph_format=_N_TRIPLES if graph else None,
                     prefixes=None)
    downloads = [_download(operation, name, graph) for name in _PAGE_DOWNLOADS["rdf" if graph else "results"]]
    data = {"query": operation.text, "editor_href": "/sparql#query=" + quote(operation.text, safe=""),
            "downloads": downloads, "graph": graph, "page_rows": PAGE_ROWS, "page_mb": PAGE_BYTES >> 20,
            "too_long": False, "boolean": None, "variables": [], "rows": []}
    # no row limit, so a long answer is streamed and this page reads only what it shows
    body = _at_most(get_store().query(**arguments, max_rows=UNLIMITED), PAGE_BYTES)
    parsed = None if body is None else _parsed(body, graph)
    if parsed is None:
        data["too_long"] = True
    else:
        data.update(parsed)
    response = respond("sparql/results.html", data)
    response.headers["Link"] = alternate_links((d["href"], d["media_type"]) for d in downloads)
    return response


def _at_most(answer, limit: int) -> bytes | None:
    """The serialised answer if it has at most `limit` bytes, else None; a streamed answer
    is read no further than that, and closed (which stops its evaluation)."""
    if answer.chunks is None:
        body = answer.body or b""
        return body if len(body) <= limit else None
    read, size = [], 0
    try:
        for chunk in answer.chunks:
            size += len(chunk)
            if size > limit:
                return None
            read.append(chunk)
    finally:
        answer.chunks.close()
    return b"".join(read)


def _parsed(body: bytes, graph: bool) -> dict | None:
    """What the page shows of an answer (`results_page`), or None past PAGE_ROWS rows.
    IRIs are labelled in the reader's language from the build's label table (a built store:
    `bjkg.server.views.pages._indexes`), else shown by their compact names."""
    if graph:
        triples = pyoxigraph.parse(body, format=pyoxigraph.RdfFormat.N_TRIPLES)
        terms = [(t.subject, t.predicate, t.object) for t, _ in zip(triples, range(PAGE_ROWS + 1))]
        variables = ["subject", "predicate", "object"]
    else:
        answer = pyoxigraph.parse_query_results(body, format=pyoxigraph.QueryResultsFormat.JSON)
        if isinstance(answer, pyoxigraph.QueryBoolean):
            return {"boolean": bool(answer)}
        variables = [v.value for v in answer.variables]
        terms = [tuple(solution[v] for v in answer.variables) for solution, _ in zip(answer, range(PAGE_ROWS + 1))]
    if len(terms) > PAGE_ROWS:
        return None
    linker = Linker(current_app.config["BASE_IRI"], current_lang())
    iris = {node.value for row in terms for node in row if isinstance(node, pyoxigraph.NamedNode)}
    indexes = _indexes(get_store())
    if indexes is not None:
        linker.add_label_sets(indexes.labels_of(iris, pref=True))
    elif iris:
        _query_labels(linker, iris)
    return {"variables": variables,
            "rows": [[None if node is None else linker.term(node) for node in row] for row in terms]}


def _query_labels(linker: Linker, iris: set[str]) -> None:
    """The labels of a page's IRIs read from the store by queries, where it has no label
    table (a remote store, a writable dataset): as the entity pages read theirs. Labels only
    decorate the rows, so a store that cannot give them now (busy, slow, gone) leaves the
    compact names; the rows themselves were answered."""
    from bjkg.server.pages.describe import select
    from bjkg.server.pages.overview import load_labels

    try:
        load_labels(select, get_store(), linker, iris)
    except (QueryFailed, QueryTimedOut, StoreUnavailable, Refused) as exc:
        current_app.logger.info("results page without labels: %s", exc)


def _download(operation: Operation, name: str, graph: bool) -> dict:
    """The link to the whole answer of `operation` in the format `name`."""
    fmt = format_by_name(RDF_FORMATS if graph else RESULT_FORMATS, name)
    params = [("query", operation.text), ("format", name)]
    params += [("default-graph-uri", g) for g in operation.default_graphs]
    params += [("named-graph-uri", g) for g in operation.named_graphs]
    return {"name": name, "media_type": fmt.media_type,
            "href": url_for("sparql.endpoint") + "?" + urlencode(params)}


def query_arguments(operation: Operation, accept: str | None) -> dict:
    """What the store's `query` is called with for the query `operation` under `accept`
    (the lexical checks and the negotiation done: HTTPProblem otherwise). Needs an app
    context only, not a request: the HTTP front's query lane calls it too."""
    analysis = _analyse(operation.text)
    if analysis.form == "UPDATE":
        raise bad_request("This is a SPARQL Update, not a query: POST it as the form field `update` "
                          "or with Content-Type: application/sparql-update.")
    _refuse_outbound(analysis)
    fmt = _negotiate(analysis.form, accept, operation.formats)
    results = fmt if fmt.kind == "results" else _fallback(RESULT_FORMATS, accept)
    graph = fmt if fmt.kind == "rdf" else _fallback(RDF_FORMATS, accept)
    store = get_store()
    return dict(
        sparql=_federate(operation.text, analysis),
        dataset=_dataset(operation, analysis),
        base_iri=current_app.config["BASE_IRI"],
        results_format=results.media_type, graph_format=graph.media_type,
        use_union=store.union_default_graph and not analysis.dataset_clause,
        prefixes=prefixes() if graph.media_type in _PREFIXED_FORMATS else None,
        **({"analysis": analysis} if getattr(store, "takes_analysis", False) else {}),
    )


def _dataset(operation: Operation, analysis: Analysis) -> Dataset | None:
    """The query's dataset when it is not the query's own FROM clauses as the engine reads
    them: the protocol's graphs, or FROM clauses that name a graph twice, each once (the
    engine would count that graph's triples twice; SPARQL 1.1 Query §13.2 merges them)."""
    if operation.has_dataset:
        return Dataset(operation.default_graphs, operation.named_graphs)
    froms, named = analysis.from_graphs, analysis.from_named_graphs
    if len(set(froms)) < len(froms) or len(set(named)) < len(named):
        return Dataset(tuple(dict.fromkeys(froms)), tuple(dict.fromkeys(named)))
    return None


def answer_response(answer) -> Response:
    """The response of a query's answer (no Flask request needed); HTTPProblem 406 for an
    XML answer that is not well-formed XML (`bjkg.server.sparql.xml_check`)."""
    # a long answer is streamed as the engine writes it (`answer.chunks`); if the time limit
    # passes meanwhile, the connection is dropped before the last chunk: never a cut answer
    content = answer.content()
    if answer.media_type in XML_MEDIA_TYPES:
        if answer.chunks is None:
            fault = xml_fault(content or b"")
            if fault is not None:
                raise not_acceptable(refusal(answer.media_type, fault))
        else:
            content = xml_checked(content, answer.media_type)
    response = Response(content, content_type=response_mimetype(_BY_MEDIA_TYPE[answer.media_type]))
    response.vary.add("Accept")
    return response


def _negotiate(form: str | None, accept: str | None, formats: tuple[str, ...]) -> Format:
    """The answer's format: the first usable `format`/`output` value, else the Accept header."""
    if form in ("CONSTRUCT", "DESCRIBE"):
        pick = rdf_format
        # SPARQLWrapper asks for JSON-LD graphs with format=json
        formats = tuple("jsonld" if f.strip().lower() == "json" else f for f in formats)
    elif form in ("SELECT", "ASK"):
        pick = results_format
    else:
        return _fallback(RESULT_FORMATS, accept)  # unknown form: the engine will report the syntax error
    first_refusal = None
    for name in formats:
        try:
            return pick(accept, name)
        except NotAcceptable as exc:
            first_refusal = first_refusal or exc
    if first_refusal is not None:
        raise first_refusal
    return pick(accept)


def _fallback(formats, accept: str | None) -> Format:
    owner = offers_of(formats, accept)
    chosen = choose(accept, list(owner))
    return owner[chosen] if chosen is not None else formats[0]


def _update(operation: Operation) -> Response:
    require_write_access("SPARQL Update")
    analysis = _analyse(operation.text)
    if analysis.form in ("SELECT", "CONSTRUCT", "DESCRIBE", "ASK"):
        raise bad_request("This is a query, not an update: send it as `query` (GET, or POST form "
                          "field) or with Content-Type: application/sparql-query.")
    if analysis.loads:
        line, column = analysis.loads[0]
        raise bad_request(f"LOAD (line {line}, column {column}) is disabled: this server never fetches "
                          "data from the network. Send the data itself (INSERT DATA, or PUT/POST it "
                          "to /graph-store).")
    _refuse_outbound(analysis)
    try:
        text = add_using(operation.text, operation.default_graphs, operation.named_graphs)
    except DatasetConflict as exc:
        raise bad_request(str(exc)) from None
    get_store().update(_federate(text, analyse(text, base_iri=current_app.config["BASE_IRI"])),
                       base_iri=current_app.config["BASE_IRI"])
    return Response(status=204)


def _service_description(operation: Operation) -> Response:
    name = operation.formats[0] if operation.formats else None
    if name is not None and name.strip().lower() == "json":  # as for a CONSTRUCT (`_negotiate`): JSON-LD
        name = "jsonld"
    fmt = rdf_format(request.headers.get("Accept"), name, html=True)
    if fmt is HTML:  # in the reader's language, as every page: it varies as they do
        response = Response(_editor_page(), mimetype="text/html")
        response.vary.update(("Accept", "Accept-Language", "Cookie"))
        return response
    store = get_store()
    manifest = get_manifest()
    if manifest is not None:  # the counts the catalogue publishes: the endpoint's own answers
        counts = published_counts()
        graphs = {g: counts.graphs.get(g, 0) for g in sorted(set(counts.graphs) | set(manifest.get("graphs", {})))}
        total = counts.triples
    else:
        graphs = {g: None for g in store.named_graphs()}
        total = None
    triples = describe_service(
        public_url() + "sparql", update=writes_enabled(), union_default_graph=store.union_default_graph,
        graphs=graphs, service_allowlist=current_app.config["SERVICE_ALLOWLIST"],
        title="Beijing government work reports knowledge graph (bjkg)", total_triples=total)
    if fmt.media_type in _PREFIXED_FORMATS:
        body = pyoxigraph.serialize(triples, format=fmt.oxigraph, prefixes=SD_PREFIXES)
    else:
        body = pyoxigraph.serialize(triples, format=fmt.oxigraph)
    response = Response(body, content_type=response_mimetype(fmt))
    response.vary.add("Accept")
    return response


def _editor_page() -> str:
    """The query editor (template ``sparql/editor.html``), or a plain form if it is absent."""
    context = {
        "endpoint": url_for("sparql.endpoint"),
        "prefixes": prefixes(),
        "base_iri": current_app.config["BASE_IRI"],
        "update_enabled": writes_enabled(),
        "query": "",
        "edit_query": _query_to_edit(),
    }
    try:
        return render_template("sparql/editor.html", **context)
    except TemplateNotFound:
        return render_template_string(_FALLBACK_EDITOR, **context)


def _query_to_edit() -> str | None:
    """The query the editor opens with, from `?edit=` (an error page's or a link's "edit in
    the editor", which must work without JavaScript too); None when absent or longer than
    the endpoint would take (MAX_QUERY_LENGTH)."""
    text = request.args.get("edit")
    if not text or len(text) > current_app.config["MAX_QUERY_LENGTH"]:
        return None
    return text


_FALLBACK_EDITOR = """<!doctype html>
<html><head><meta charset="utf-8"><title>SPARQL endpoint</title></head>
<body><h1>SPARQL endpoint</h1>
<form method="get" action="{{ endpoint }}">
<textarea name="query" rows="16" cols="100">
{%- for prefix, iri in prefixes.items() %}PREFIX {{ prefix }}: <{{ iri }}>
{% endfor %}
SELECT ?s ?p ?o WHERE { ?s ?p ?o } LIMIT 10</textarea><br>
<select name="format"><option value="json">JSON</option><option value="xml">XML</option>
<option value="csv">CSV</option><option value="tsv">TSV</option></select>
<button type="submit">Run</button></form></body></html>
"""
