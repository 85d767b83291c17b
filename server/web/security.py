"""Security headers, on every response the app sends (errors and the watchdog's 503 too).

Every response says ``X-Content-Type-Options: nosniff`` (a browser never guesses HTML out
of a query answer, a dump or an error message that echoes input), may not be framed
(``X-Frame-Options: DENY`` and CSP ``frame-ancestors 'none'``, against clickjacking the
editor) and gives other sites at most this origin as referrer (``Referrer-Policy``).

HTML pages carry a Content-Security-Policy, `PAGE_POLICY`, that lets scripts come only from
this host: no inline script and no eval, so markup injected through the data could not run
even if escaping failed somewhere. The editor's configuration is a JSON data block
(``type="application/json"``, never executed) read by ``static/js/editor.js``. Styles may be
inline, because YASGUI's CodeMirror positions its elements with style attributes and the
SVG charts are styled by class. Everything else (JSON, RDF, dumps, plain text) gets
`DATA_POLICY`, which allows nothing at all. A 304 carries no policy: a browser copies the
headers of a 304 onto the page it has cached, and a page must keep its own.

This module imports no Flask: `security_headers` takes any response with Werkzeug's
``headers`` and ``mimetype``.
"""
from __future__ import annotations

PAGE_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
DATA_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HTML_TYPES = ("text/html", "application/xhtml+xml", "image/svg+xml")


def security_headers(response):
    """Add the security headers to `response` (a view may have set its own CSP) and return it."""
    for name, value in SECURITY_HEADERS.items():
        if name not in response.headers:
            response.headers[name] = value
    if "Content-Security-Policy" not in response.headers and response.status_code != 304:
        page = response.mimetype in HTML_TYPES
        response.headers["Content-Security-Policy"] = PAGE_POLICY if page else DATA_POLICY
    return response
