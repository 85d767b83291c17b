"""Errors as values, turned into responses in one place.

Views and helpers never build error responses themselves: they raise an `HTTPProblem`
(usually through one of the small helpers below, each naming what the client can do about
it), and `init_app` registers the single handler that renders it as JSON, HTML or plain
text for whoever asked. Werkzeug's own HTTP errors (404, 405, 413 …) and unexpected server
faults go through the same renderer, so every 4xx/5xx reads the same way.

This module imports no Flask at module level so that pure helpers (`server.conneg`) can
raise problems without pulling in the web stack.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from http import HTTPStatus


class HTTPProblem(Exception):
    """A request that cannot be answered as asked: an HTTP status and a readable message."""

    def __init__(self, status: int, message: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = int(status)
        self.message = message
        self.headers = dict(headers or {})

    @property
    def title(self) -> str:
        try:
            return HTTPStatus(self.status).phrase
        except ValueError:
            return "Error"

    def __repr__(self) -> str:
        return f"HTTPProblem({self.status}, {self.message!r})"


def bad_request(message: str) -> HTTPProblem:
    return HTTPProblem(400, message)


def unauthorized(message: str) -> HTTPProblem:
    return HTTPProblem(401, message, headers={"WWW-Authenticate": 'Bearer realm="bjkg"'})


def forbidden(message: str) -> HTTPProblem:
    return HTTPProblem(403, message)


def not_found(message: str) -> HTTPProblem:
    return HTTPProblem(404, message)


def method_not_allowed(message: str, allowed: Iterable[str]) -> HTTPProblem:
    return HTTPProblem(405, message, headers={"Allow": ", ".join(allowed)})


def not_acceptable(message: str) -> HTTPProblem:
    return HTTPProblem(406, message)


def payload_too_large(message: str) -> HTTPProblem:
    return HTTPProblem(413, message)


def uri_too_long(message: str) -> HTTPProblem:
    return HTTPProblem(414, message)


def unsupported_media_type(message: str) -> HTTPProblem:
    return HTTPProblem(415, message)


def service_unavailable(message: str, *, retry_after: int | None = None) -> HTTPProblem:
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    return HTTPProblem(503, message, headers=headers)


def server_error(message: str) -> HTTPProblem:
    return HTTPProblem(500, message)


# --------------------------------------------------------------------------- rendering

_ERROR_TYPES = ("application/json", "text/html", "text/plain")
_FALLBACK_ERROR_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{{ status }} {{ title }}</title></head>
<body><h1>{{ status }} {{ title }}</h1><p>{{ message }}</p></body></html>
"""


def render_problem(problem: HTTPProblem):
    """One response for one problem, in the representation the client prefers.

    Browsers (which put text/html first) get a page — the `error.html` template when the
    HTML side provides one, else a minimal escaped page; clients that prefer text/plain get
    the message alone; everyone else gets JSON ``{"error": {"status", "title", "message"}}``.
    """
    from flask import Response, json, render_template, render_template_string, request
    from jinja2 import TemplateNotFound

    from server.conneg import choose

    kind = choose(request.headers.get("Accept"), _ERROR_TYPES, default="application/json")
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
    return response


def init_app(app) -> None:
    """Route every error — ours, Werkzeug's and unexpected faults — through `render_problem`."""
    from werkzeug.exceptions import HTTPException, InternalServerError

    def on_problem(problem: HTTPProblem):
        if problem.status >= 500:
            app.logger.error("%s %s: %s", problem.status, problem.title, problem.message)
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
        else:
            message = exc.description or exc.name
        return render_problem(HTTPProblem(exc.code or 500, message, headers=headers))

    app.register_error_handler(HTTPProblem, on_problem)
    app.register_error_handler(HTTPException, on_http_exception)


def _request_method() -> str:
    from flask import request

    return request.method
