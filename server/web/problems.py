"""Every problem rendered in one place: `HTTPProblem`s, Werkzeug's HTTP errors (404, 405,
413 …) and unexpected faults all become one response, as JSON, HTML or plain text for
whoever asked, so every 4xx/5xx reads the same way. `init_app` registers the handlers.
"""
from __future__ import annotations

from bjkg.server.core.conneg import choose
from bjkg.server.core.errors import HTTPProblem, check_query_string, server_error
from bjkg.server.web.security import security_headers

_ERROR_TYPES = ("application/json", "text/html", "text/plain")
_FALLBACK_ERROR_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{{ status }} {{ title }}</title></head>
<body><h1>{{ status }} {{ title }}</h1><p>{{ message }}</p></body></html>
"""


def render_problem(problem: HTTPProblem, accept: str | None = None):
    """One response for one problem, in the representation the client prefers (its Accept
    header: the current request's unless `accept` is given, as the HTTP front's query lane
    does, which answers without a Flask request).

    Browsers (which put text/html first) get a page — the `error.html` template when the
    HTML side provides one, else a minimal escaped page; clients that prefer text/plain get
    the message alone; everyone else gets JSON ``{"error": {"status", "title", "message"}}``.
    """
    from flask import Response, json, render_template, render_template_string, request
    from jinja2 import TemplateNotFound

    if accept is None:
        accept = request.headers.get("Accept")
    kind = choose(accept, _ERROR_TYPES, default="application/json")
    if kind == "text/html":
        context = {"status": problem.status, "title": problem.title, "message": problem.message}
        try:
            body = render_template("error.html", **context)
        except TemplateNotFound:
            body = render_template_string(_FALLBACK_ERROR_PAGE, **context)
        response = Response(body, status=problem.status, mimetype="text/html")
    elif kind == "text/plain":
        response = Response(f"{problem.status} {problem.title}: {problem.message}\n",
                            status=problem.status, mimetype="text/plain")
    else:
        payload = {"error": {"status": problem.status, "title": problem.title,
                             "message": problem.message}}
        response = Response(json.dumps(payload, ensure_ascii=False) + "\n", status=problem.status,
                            mimetype="application/json")
    response.headers.add("Vary", "Accept")
    for name, value in problem.headers.items():
        response.headers[name] = value
    return security_headers(response)


def init_app(app) -> None:
    """Route every error — ours, Werkzeug's and unexpected faults — through `render_problem`,
    and refuse a URL whose query string is not UTF-8 before any view reads it."""
    from flask import request
    from werkzeug.exceptions import HTTPException, InternalServerError

    app.before_request(lambda: check_query_string(request.query_string))

    def on_problem(problem: HTTPProblem):
        log_problem(app, problem)
        return render_problem(problem)

    def on_http_exception(exc: HTTPException):
        if isinstance(exc, InternalServerError):
            original = getattr(exc, "original_exception", None)
            if original is not None:
                app.logger.exception("unhandled error", exc_info=original)
            return render_problem(server_error(
                "The server failed while answering this request; the fault is logged. "
                "Please report it if it persists."))
        headers = {}
        if exc.code == 405:
            allowed = exc.valid_methods or []
            headers["Allow"] = ", ".join(allowed)
            message = f"This URL does not accept {_request_method()}; it accepts {', '.join(allowed)}."
        elif exc.code == 413:
            limit = app.config.get("MAX_BODY_BYTES")
            message = (f"The request body is larger than this server accepts ({limit} bytes, "
                       "setting MAX_BODY_BYTES).")
        elif exc.code == 416:
            length = getattr(exc, "length", None)
            if length is not None:  # RFC 9110 §15.5.17: the current length, for the client's next try
                headers["Content-Range"] = f"{getattr(exc, 'units', None) or 'bytes'} */{length}"
            message = (f"The range asked for starts beyond the end of this file"
                       f"{f' ({length} bytes)' if length is not None else ''}; ask for a range within it, "
                       "or leave out the Range header for the whole file.")
        else:
            message = exc.description or exc.name
        return render_problem(HTTPProblem(exc.code or 500, message, headers=headers))

    app.register_error_handler(HTTPProblem, on_problem)
    app.register_error_handler(HTTPException, on_http_exception)


def log_problem(app, problem: HTTPProblem) -> None:
    """Server-side problems go to the log: 503 with Retry-After (busy or preparing: expected)
    as a warning, any other 5xx as an error."""
    if problem.status == 503 and "Retry-After" in problem.headers:
        app.logger.warning("%s %s: %s", problem.status, problem.title, problem.message)
    elif problem.status >= 500:
        app.logger.error("%s %s: %s", problem.status, problem.title, problem.message)


def _request_method() -> str:
    from flask import request

    return request.method
