"""Response headers every view shares: CORS, cache validators for a read-only build, and
the security headers.

CORS: the data is public, so every response (the SPARQL endpoint, the Graph Store, the
entity and data URLs) carries ``Access-Control-Allow-Origin`` (setting CORS_ORIGIN), and
preflights name the methods and headers SPARQL clients send (Authorization included: bearer
tokens are not ambient credentials, so allowing them cross-origin exposes nothing).

Caching: a build never changes while it is served, so a GET's answer is a function of the
build hash, the URL, PUBLIC_URL and the negotiation headers (never the Host header). The ETag is computed from exactly those
*before* the view runs, so ``If-None-Match`` is answered with 304 without evaluating
anything. An in-memory (--empty) dataset changes, so it gets no validators. A response that
sets or deletes a cookie (the language switcher's `remember=`) is ``no-store``, with no ETag.

Security headers on every response: `bjkg.server.web.security`.
"""
from __future__ import annotations

import hashlib
import re

from flask import Flask, Response, current_app, g, request

from bjkg.server.web.extension import get_state
from bjkg.server.web.security import security_headers

_VARY_INPUTS = ("Accept", "Accept-Language", "Cookie")
BLANK_NODES_HEADER = "Bjkg-Blank-Nodes"  # an RDF description whose blank nodes are not all in it (views.pages)
_EXPOSE = f"ETag, Link, Location, Vary, Content-Disposition, Retry-After, {BLANK_NODES_HEADER}"
_ALL_METHODS = "GET, HEAD, POST, PUT, DELETE, OPTIONS"  # a preflight of a URL no route allows


def init_app(app: Flask) -> None:
    app.before_request(_not_modified)
    app.after_request(_add_headers)


def _etag() -> str | None:
    """The validator for the current GET, or None when the answer may change."""
    if request.endpoint in (None, "static") or "remember" in request.args:
        return None  # `remember` sets or deletes the language cookie: see `add_headers`
    return etag_for(request, current_app.config, get_state().build_hash)


# A query whose answer is not a function of the build: SPARQL's functions that differ at each
# call (NOW, RAND, UUID, STRUUID, BNODE) and SERVICE (another endpoint's data). Matched on
# the raw text, so the word in a literal or an IRI also counts: such a query only loses its
# validator, never gets a stale answer.
_VOLATILE = re.compile(r"\b(?:NOW|RAND|UUID|STRUUID|BNODE)\s*\(|\bSERVICE\b", re.IGNORECASE)


def volatile(req) -> bool:
    """Whether the answer to the query of `req` may change while the build does not."""
    query = req.args.get("query")
    return bool(query) and _VOLATILE.search(query) is not None


def etag_for(req, config, build_hash: str | None) -> str | None:
    """The validator of a GET or HEAD `req` (a Werkzeug request) for the build `build_hash`;
    None for other methods, or when the answer may change (no build hash: --empty; a query
    that calls NOW(), RAND() … or a SERVICE: `volatile`)."""
    if req.method not in ("GET", "HEAD") or not build_hash or volatile(req):
        return None
    # PUBLIC_URL is in every absolute link an answer holds: a new one is a new answer
    basis = "\n".join([req.full_path, config.get("PUBLIC_URL") or "",
                        *(req.headers.get(h, "") for h in _VARY_INPUTS)])
    digest = hashlib.sha256(basis.encode("utf-8")).hexdigest()[:20]
    return f"{build_hash[:16]}-{digest}"


def _not_modified():
    """304 for a GET whose validator the client holds, before the view runs. Not for
    ``If-None-Match: *``, which matches only if the URL has a representation: whether it
    has is known once the view has answered (`_add_headers`), and a 404 stays a 404."""
    tag = g.bjkg_etag = _etag()  # kept for _add_headers: the inputs do not change meanwhile
    if tag is not None and not request.if_none_match.star_tag and request.if_none_match.contains_weak(tag):
        return not_modified(tag, current_app.config)
    return None


def not_modified(tag: str, config, vary: str | None = None) -> Response:
    """The 304 for validator `tag`. It names the Vary its 200 would (RFC 9110 §15.4.5):
    `vary`, else every header the validator is computed from (`_VARY_INPUTS`) — what the
    200 of any page names, and a superset of a query answer's."""
    response = Response(status=304)
    response.set_etag(tag, weak=True)
    response.headers["Vary"] = vary or ", ".join(_VARY_INPUTS)
    _cache_control(response, config)
    return response


def _add_headers(response: Response) -> Response:
    tag = g.bjkg_etag if "bjkg_etag" in g else _etag()
    if (tag is not None and request.if_none_match.star_tag and response.status_code == 200
            and not response.headers.get("ETag")):
        answered, response = response, not_modified(tag, current_app.config, response.headers.get("Vary"))
        answered.close()  # a streamed answer's evaluation stops
    return add_headers(response, request, current_app.config, tag)


def add_headers(response, req, config, tag: str | None):
    """The headers every response gets (security, CORS, and for a 200 with validator `tag`
    its ETag and Cache-Control), for the request `req`: Flask's after_request, and the HTTP
    front's query lane, which answers without Flask."""
    security_headers(response)
    origin = config.get("CORS_ORIGIN")
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = _EXPOSE
        if req.method == "OPTIONS":  # the methods the URL's route allows (Flask's Allow), no others
            response.headers["Access-Control-Allow-Methods"] = response.headers.get("Allow") or _ALL_METHODS
            # conditional requests too: a script revalidates (If-None-Match) or writes only
            # over what it read (If-Match) from another origin
            response.headers["Access-Control-Allow-Headers"] = ("Accept, Authorization, Content-Type, "
                                                                "If-Match, If-None-Match")
            response.headers["Access-Control-Max-Age"] = "86400"
        if origin != "*":
            response.vary.add("Origin")
    if response.status_code == 200 and "ETag" not in response.headers and tag is not None:
        response.set_etag(tag, weak=True)
        if "Cache-Control" not in response.headers:
            _cache_control(response, config)
    elif req.method in ("GET", "HEAD") and "Cache-Control" not in response.headers and volatile(req):
        response.headers["Cache-Control"] = "no-store"  # each asking gets its own answer
    if "Set-Cookie" in response.headers:
        _uncacheable(response)
    return response


def _uncacheable(response: Response) -> None:
    """A response that sets or deletes a cookie is never stored nor revalidated: a browser
    that answered the next click from its cache (or got a 304) would never apply the
    Set-Cookie, and "remember this language" would do nothing the second time."""
    response.headers.pop("ETag", None)
    response.headers["Cache-Control"] = "no-store"


def _cache_control(response: Response, config) -> None:
    max_age = int(config.get("CACHE_MAX_AGE", 0))
    response.headers["Cache-Control"] = f"public, max-age={max_age}" if max_age > 0 else "no-cache"
