"""A small HTTP client for the SPARQL 1.1 Protocol and the Graph Store Protocol.

Used by the remote store backend (`bjkg.server.stores.remote`) and by ``bjkg publish``
(`bjkg.server.stores.publish`). Standard library only (urllib), so the server gains no dependency:

* **Credentials**: HTTP Digest or Basic (user and password; Virtuoso's ``/sparql-auth``
  answers with a Digest challenge) or a bearer token (``bjkg serve --empty
  --update-token``); a password is only ever sent to the host it was given for.
* **Deadlines**: every request has an overall deadline, not just a per-read timeout: the
  socket's timeout is reset to the time left before each read of the answer, so a store
  that trickles bytes cannot hold a server thread past the limit.
* **No surprises**: redirects are not followed and proxy variables from the environment
  are ignored, so a request goes exactly where the operator configured it.

Failures are three exceptions: `StoreTimeout` (the deadline passed), `StoreUnreachable`
(no connection) and `StoreHTTPError` (an error status, with the store's message).
"""
from __future__ import annotations

import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from http.client import HTTPResponse

USER_AGENT = "bjkg (https://w3id.org/bjkg/)"
_ERROR_EXCERPT = 2000


class StoreTimeout(Exception):
    """The store did not answer completely before the deadline."""


class StoreUnreachable(Exception):
    """No connection to the store (refused, DNS, TLS …); the message says which URL."""


class StoreHTTPError(Exception):
    """The store answered with an error status; `message` is the start of its answer."""

    def __init__(self, status: int, url: str, message: str) -> None:
        super().__init__(f"{url} answered {status}: {message}")
        self.status = status
        self.url = url
        self.message = message


@dataclass(frozen=True)
class Credentials:
    """How to authenticate to the store: user and password (Digest or Basic) or a bearer token."""

    user: str | None = None
    password: str | None = None
    token: str | None = None

    def __bool__(self) -> bool:
        return bool(self.user or self.token)

    def __repr__(self) -> str:  # never print secrets
        return f"Credentials(user={self.user!r}, password={'***' if self.password else None}, " \
               f"token={'***' if self.token else None})"


class _Digest(urllib.request.HTTPDigestAuthHandler):
    """Digest authentication that answers the last challenge up front.

    urllib's handler sends every request once without credentials and again after the
    401; a store may close the connection at that 401 while a large body is still being
    sent (a Graph Store PUT then fails with a broken pipe). Once one challenge has been
    seen (publish's first request is a small query), each request carries its answer.
    """

    def __init__(self, passwords) -> None:
        super().__init__(passwords)
        self._challenge: dict[str, str] | None = None

    def retry_http_digest_auth(self, req, auth):
        token, challenge = auth.split(" ", 1)
        if token.lower() == "digest":
            self._challenge = urllib.request.parse_keqv_list(
                filter(None, urllib.request.parse_http_list(challenge)))
        return super().retry_http_digest_auth(req, auth)

    def http_request(self, req):
        if self._challenge is not None and not req.has_header("Authorization"):
            answer = self.get_authorization(req, self._challenge)
            if answer:
                req.add_unredirected_header("Authorization", f"Digest {answer}")
        return req

    https_request = http_request


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # the 3xx is then raised as an HTTPError and reported


class Answer:
    """An open response: a file-like object that enforces the deadline on every read."""

    def __init__(self, response: HTTPResponse, deadline: float, url: str) -> None:
        self._response = response
        self._deadline = deadline
        self.url = url
        self.status = response.status
        self.headers = response.headers

    @property
    def media_type(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    def _arm(self) -> None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise StoreTimeout(f"{self.url} did not answer in time")
        sock = _socket_of(self._response)
        if sock is not None:
            sock.settimeout(left)

    def read(self, size: int = -1) -> bytes:
        """At most `size` bytes, from at most one read of the socket (so that the deadline
        is checked between reads, however slowly the store sends)."""
        self._arm()
        try:
            return self._response.read1(size if size is not None and size >= 0 else 65536)
        except (TimeoutError, socket.timeout):
            raise StoreTimeout(f"{self.url} did not answer in time") from None

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._response.close()

    def __enter__(self) -> Answer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _socket_of(response: HTTPResponse) -> socket.socket | None:
    """The socket under an http.client response (None when the layout is unexpected)."""
    raw = getattr(getattr(response, "fp", None), "raw", None)
    return getattr(raw, "_sock", None)


class SparqlClient:
    """Requests to one store: its query endpoint, and optionally update and Graph Store URLs."""

    def __init__(self, query_url: str, *, update_url: str | None = None,
                 graph_store_url: str | None = None, credentials: Credentials | None = None) -> None:
        self.query_url = query_url
        self.update_url = update_url
        self.graph_store_url = graph_store_url
        self.credentials = credentials or Credentials()
        handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({}), _NoRedirect()]
        self._digest: _Digest | None = None
        if self.credentials.user:
            passwords = urllib.request.HTTPPasswordMgrWithDefaultRealm()
            for url in filter(None, (query_url, update_url, graph_store_url)):
                passwords.add_password(None, url, self.credentials.user, self.credentials.password or "")
            self._digest = _Digest(passwords)
            handlers += [self._digest, urllib.request.HTTPBasicAuthHandler(passwords)]
        self._opener = urllib.request.build_opener(*handlers)

    def _prime(self, url: str, deadline: float) -> None:
        """A HEAD request, so that a digest challenge is known before a large body is sent."""
        if self._digest is None or self._digest._challenge is not None:
            return
        try:
            self._opener.open(urllib.request.Request(url, method="HEAD", headers={"User-Agent": USER_AGENT}),
                              timeout=max(0.1, deadline - time.monotonic())).close()
        except (urllib.error.URLError, OSError):
            pass  # whatever the answer, the challenge (if any) has been seen

    # ----------------------------------------------------------------------- requests
    def open(self, method: str, url: str, *, deadline: float, params: Sequence[tuple[str, str]] = (),
             body: bytes | None = None, content_type: str | None = None,
             accept: str | None = None) -> Answer:
        """Send one request; the caller reads (and closes) the `Answer`. Raises Store* errors."""
        if params:
            url = f"{url}{'&' if '?' in url else '?'}{urllib.parse.urlencode(list(params))}"
        headers = {"User-Agent": USER_AGENT}
        if content_type:
            headers["Content-Type"] = content_type
        if accept:
            headers["Accept"] = accept
        if self.credentials.token:
            headers["Authorization"] = f"Bearer {self.credentials.token}"
        if body is not None and len(body) > 65536:
            self._prime(url, deadline)
        request = urllib.request.Request(url, data=body, headers=headers, method=method)
        left = deadline - time.monotonic()
        if left <= 0:
            raise StoreTimeout(f"no time left to ask {url}")
        try:
            response = self._opener.open(request, timeout=left)
        except urllib.error.HTTPError as exc:
            raise StoreHTTPError(exc.code, _strip_query(url), _excerpt(exc)) from None
        except (TimeoutError, socket.timeout):
            raise StoreTimeout(f"{_strip_query(url)} did not answer in time") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (TimeoutError, socket.timeout)):
                raise StoreTimeout(f"{_strip_query(url)} did not answer in time") from None
            raise StoreUnreachable(f"cannot reach {_strip_query(url)}: {exc.reason}") from None
        except (ConnectionError, OSError) as exc:
            raise StoreUnreachable(f"cannot reach {_strip_query(url)}: {exc}") from None
        return Answer(response, deadline, _strip_query(url))

    def query(self, sparql: str, *, accept: str, deadline: float,
              dataset: Sequence[tuple[str, str]] = ()) -> Answer:
        """POST a query as a form (no URL length limit), with protocol dataset parameters."""
        form = urllib.parse.urlencode([("query", sparql), *dataset]).encode("ascii")
        return self.open("POST", self.query_url, deadline=deadline, body=form,
                         content_type="application/x-www-form-urlencoded", accept=accept)

    def update(self, sparql: str, *, deadline: float) -> None:
        """POST an update to the update endpoint (form encoded, as every store accepts)."""
        if not self.update_url:
            raise StoreHTTPError(405, self.query_url, "no update endpoint is configured")
        form = urllib.parse.urlencode([("update", sparql)]).encode("ascii")
        with self.open("POST", self.update_url, deadline=deadline, body=form,
                       content_type="application/x-www-form-urlencoded") as answer:
            answer.read()

    def put_graph(self, graph: str, turtle: bytes, *, deadline: float) -> None:
        """Graph Store Protocol PUT: replace `graph` with the Turtle `turtle`."""
        self._graph_store("PUT", graph, deadline=deadline, body=turtle, content_type="text/turtle")

    def post_graph(self, graph: str, turtle: bytes, *, deadline: float) -> None:
        """Graph Store Protocol POST: add the Turtle `turtle` to `graph`."""
        self._graph_store("POST", graph, deadline=deadline, body=turtle, content_type="text/turtle")

    def delete_graph(self, graph: str, *, deadline: float) -> bool:
        """Graph Store Protocol DELETE; False when the graph did not exist (404)."""
        try:
            self._graph_store("DELETE", graph, deadline=deadline)
        except StoreHTTPError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def _graph_store(self, method: str, graph: str, *, deadline: float, body: bytes | None = None,
                     content_type: str | None = None) -> None:
        if not self.graph_store_url:
            raise StoreHTTPError(405, self.query_url, "no Graph Store endpoint is configured")
        with self.open(method, self.graph_store_url, deadline=deadline, params=[("graph", graph)],
                       body=body, content_type=content_type) as answer:
            answer.read()


def _strip_query(url: str) -> str:
    return url.split("?", 1)[0]


def _excerpt(exc: urllib.error.HTTPError) -> str:
    try:
        text = exc.read(_ERROR_EXCERPT).decode("utf-8", "replace")
    except OSError:
        text = ""
    finally:
        exc.close()
    return " ".join(text.split()) or str(exc.reason)
