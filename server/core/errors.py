"""Errors as values, turned into responses in one place.

Views and helpers never build error responses themselves: they raise an `HTTPProblem`
(usually through one of the small helpers below, each naming what the client can do about
it), and `bjkg.server.web.problems` renders it as JSON, HTML or plain text for whoever
asked, in one handler.

This module imports no Flask, so that pure helpers (`bjkg.server.core.conneg`) and the query
worker processes can raise problems without pulling in the web stack.
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


SHOWN_UP_TO = 200  # characters of a client's own value an error message repeats


def shown(value: str, limit: int = SHOWN_UP_TO) -> str:
    """`value` as an error message repeats it: whole when short, else its start and end
    around "…" (a query string may hold 100,000 characters; the message needs a few)."""
    value = str(value)
    if len(value) <= limit:
        return value
    half = (limit - 1) // 2
    return f"{value[:half]}…{value[-half:]}"


def bad_request(message: str) -> HTTPProblem:
    return HTTPProblem(400, message)


def check_query_string(raw: bytes) -> None:
    """Raise 400 unless a URL's query string (its bytes as received) is UTF-8 once its
    percent-escapes are decoded. Werkzeug keeps an escape that is not UTF-8 as written
    (`?q=%B1%B1`, 北 in GBK, reads as the text "%B1%B1"), so a search, a SPARQL query or an
    IRI sent in another encoding would be answered as if its reader had typed percent signs:
    a wrong answer, not an error. Checked for every request (`bjkg.server.web.problems`)."""
    from urllib.parse import unquote_to_bytes

    try:
        unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad_request(f"The URL's query string is not UTF-8 (byte {exc.start} once decoded); "
                          "percent-encode the UTF-8 bytes of each value (北 is %E5%8C%97).") from None


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


def precondition_failed(message: str) -> HTTPProblem:
    return HTTPProblem(412, message)


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
