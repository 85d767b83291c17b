"""Reading a SPARQL Protocol request into one `Operation`.

A query arrives three ways (GET, POST form, POST direct) and an update two (POST form, POST
direct); each shape is normalised here into the same `Operation`, so the view has one path
per operation (Oxigraph server's design). Every malformed request named by the W3C protocol
tests is refused here with a 4xx that says what to change: wrong method or media type, a
missing or repeated query/update/version, both query and update, a non-UTF-8 body (or URL
query string: `check_query_string`), a body on GET, dataset IRIs that are not absolute IRIs,
over-long queries.
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Request

from bjkg.server.core.errors import (bad_request, check_query_string, method_not_allowed, payload_too_large,
                                    unsupported_media_type, uri_too_long)
from bjkg.server.sparql.text import dataset_iris

FORM = "application/x-www-form-urlencoded"
QUERY = "application/sparql-query"
UPDATE = "application/sparql-update"
VERSIONS = ("1.1", "1.2", "1.2-basic")


@dataclass(frozen=True)
class Operation:
    """One protocol operation: a query, an update, or a request for the service description."""

    kind: str  # "query", "update" or "description"
    text: str = ""
    default_graphs: tuple[str, ...] = ()  # default-graph-uri, or using-graph-uri for updates
    named_graphs: tuple[str, ...] = ()  # named-graph-uri, or using-named-graph-uri
    version: str | None = None
    formats: tuple[str, ...] = ()  # `format` then `output` values, most preferred first

    @property
    def has_dataset(self) -> bool:
        return bool(self.default_graphs or self.named_graphs)


def read_operation(request: Request, *, max_query_length: int) -> Operation:
    """Normalise a GET or POST to the SPARQL endpoint into an `Operation` (or raise a 4xx)."""
    check_query_string(request.query_string)  # also on the HTTP front's query lane, outside Flask
    if request.method in ("GET", "HEAD"):
        return _from_get(request, max_query_length)
    if request.method == "POST":
        return _from_post(request, max_query_length)
    raise method_not_allowed(f"The SPARQL endpoint does not accept {request.method}; "
                             "use GET or POST.", ["GET", "HEAD", "POST", "OPTIONS"])


def _from_get(request: Request, max_query_length: int) -> Operation:
    if request.content_length or request.headers.get("Transfer-Encoding"):
        raise bad_request("A GET request to the SPARQL endpoint must not have a body; "
                          "send the query in the URL (?query=…) or POST it.")
    params = request.args
    if "update" in params:
        raise bad_request("SPARQL Update must be sent with POST (form field `update`, or the "
                          "update as the body with Content-Type: application/sparql-update).")
    queries = params.getlist("query")
    if not queries:
        for name in ("default-graph-uri", "named-graph-uri", "version"):
            if name in params:
                raise bad_request(f"`{name}` was given without a `query` parameter.")
        return Operation("description", formats=_formats(params))
    if len(queries) > 1:
        raise bad_request(f"Exactly one `query` parameter is allowed; this request has {len(queries)}.")
    query = queries[0]
    if len(query) > max_query_length:
        raise uri_too_long(f"The query has {len(query)} characters; the limit is {max_query_length} "
                           "(setting MAX_QUERY_LENGTH).")
    return _operation("query", query, params, _version(params.getlist("version"), None))


def _from_post(request: Request, max_query_length: int) -> Operation:
    content_type = request.mimetype  # lower-cased, without parameters
    charset = request.mimetype_params.get("charset")
    if charset is not None and charset.strip().lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise unsupported_media_type(f"Only UTF-8 is accepted; the request declares charset={charset}.")
    for name in ("query", "update"):
        if name in request.args:
            raise bad_request(f"With POST, `{name}` belongs in the request body, not in the URL.")
    if not content_type:
        raise unsupported_media_type(
            "A POST to the SPARQL endpoint needs a Content-Type: application/sparql-query, "
            "application/sparql-update or application/x-www-form-urlencoded.")
    if content_type == FORM:
        params = _form(request)
        params.update(request.args)  # dataset parameters may also come in the URL
        queries, updates = params.getlist("query"), params.getlist("update")
        if queries and updates:
            raise bad_request("A request carries either `query` or `update`, not both.")
        if not queries and not updates:
            raise bad_request("The form has neither a `query` nor an `update` field.")
        kind, values = ("query", queries) if queries else ("update", updates)
        if len(values) > 1:
            raise bad_request(f"Exactly one `{kind}` field is allowed; this request has {len(values)}.")
        _check_length(values[0], max_query_length)
        return _operation(kind, values[0], params, _version(params.getlist("version"), None))
    if content_type in (QUERY, UPDATE):
        kind = "query" if content_type == QUERY else "update"
        text = _utf8(request.get_data(cache=True))
        if not text.strip():
            raise bad_request(f"The request body is empty; it should be the SPARQL {kind}.")
        _check_length(text, max_query_length)
        version = _version(request.args.getlist("version"), request.mimetype_params.get("version"))
        return _operation(kind, text, request.args, version)
    raise unsupported_media_type(
        f"Content-Type {content_type} is not accepted here; use application/sparql-query, "
        "application/sparql-update or application/x-www-form-urlencoded.")


def _form(request: Request) -> MultiDict:
    """Parse a form body strictly: invalid UTF-8 is an error, not silently replaced."""
    raw = request.get_data(cache=True)
    try:
        pairs = parse_qsl(raw.decode("ascii"), keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise bad_request("The form body is not valid UTF-8 (percent-encoded UTF-8 is required).") from None
    return MultiDict(pairs)


def _utf8(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad_request(f"The request body is not valid UTF-8 (byte {exc.start}); "
                          "SPARQL requests must be UTF-8.") from None
    return text.removeprefix("\ufeff")


def _check_length(text: str, limit: int) -> None:
    if len(text) > limit:
        raise payload_too_large(f"The request has {len(text)} characters of SPARQL; the limit is "
                                f"{limit} (setting MAX_QUERY_LENGTH).")


def _version(values: list[str], media_type_version: str | None) -> str | None:
    found = list(values) + ([media_type_version] if media_type_version is not None else [])
    if len(found) > 1:
        raise bad_request("The SPARQL version may be announced once; this request has "
                          f"{len(found)} ({', '.join(found)}).")
    if not found:
        return None
    version = found[0].strip().strip('"')
    if version not in VERSIONS:
        raise bad_request(f"Unsupported SPARQL version {found[0]!r}; this service supports "
                          f"{', '.join(VERSIONS)}.")
    return version


def _operation(kind: str, text: str, params: MultiDict, version: str | None) -> Operation:
    if kind == "query":
        default_name, named_name = "default-graph-uri", "named-graph-uri"
        stray = [n for n in ("using-graph-uri", "using-named-graph-uri") if n in params]
    else:
        default_name, named_name = "using-graph-uri", "using-named-graph-uri"
        stray = [n for n in ("default-graph-uri", "named-graph-uri") if n in params]
    if stray:
        raise bad_request(f"`{stray[0]}` does not apply to a {kind}; use `{default_name}` / `{named_name}`.")
    try:
        defaults = dataset_iris(params.getlist(default_name), default_name)
        named = dataset_iris(params.getlist(named_name), named_name)
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    # a byte order mark opens many a saved .rq file, however it was sent (URL, form or body)
    return Operation(kind, text.removeprefix("\ufeff"), defaults, named, version, _formats(params))


def _formats(params: MultiDict) -> tuple[str, ...]:
    """Format names from `format` and `output` (clients such as SPARQLWrapper send several)."""
    return tuple(v for name in ("format", "output") for v in params.getlist(name) if v.strip())
