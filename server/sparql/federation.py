"""Opt-in federation: SERVICE calls to allow-listed endpoints, with a timeout and a row limit.

pyoxigraph makes SERVICE calls itself and offers no HTTP timeout and no row limit for
them (its Python API exposes neither), and it would follow the query wherever its text
points. So the embedded store never calls an endpoint directly: every SERVICE target —
already checked against SERVICE_ALLOWLIST by the view — is rewritten to this process's
`ServiceRelay` on 127.0.0.1 (`bjkg.server.sparql.text.redirect_services`), and the relay

* forwards the call only to the allow-listed endpoint the path names by index (a
  per-process secret in the path keeps other local programs from using it as a proxy);
* gives the endpoint SERVICE_TIMEOUT seconds overall, follows no redirects, uses no
  proxy from the environment;
* reads at most SERVICE_MAX_ROWS solutions (one more fails the call: never a cut answer), and hands the
  engine those rows as SPARQL JSON;
* answers 504/502 when the endpoint is too slow or fails, which fails the query (or
  yields no rows under SERVICE SILENT).

A remote store (`bjkg.server.stores.remote`) makes its own SERVICE calls under its own policy;
the allow-list is still checked before a query is sent to it.
"""
from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pyoxigraph
from pyoxigraph import QueryBoolean, QueryResultsFormat

from bjkg.server.sparql.evaluate import json_row
from bjkg.server.sparql.client import SparqlClient, StoreHTTPError, StoreTimeout, StoreUnreachable

log = logging.getLogger("bjkg.federation")

_ACCEPT = "application/sparql-results+json, application/sparql-results+xml;q=0.9"
_FORMATS = {"application/sparql-results+json": QueryResultsFormat.JSON,
            "application/json": QueryResultsFormat.JSON,
            "application/sparql-results+xml": QueryResultsFormat.XML,
            "application/xml": QueryResultsFormat.XML,
            "text/tab-separated-values": QueryResultsFormat.TSV}
_MAX_REQUEST = 1024 * 1024


class ServiceRelay:
    """A loopback HTTP relay to the allow-listed SERVICE endpoints; started on first use."""

    def __init__(self, allowlist: Sequence[str], *, timeout: float, max_rows: int) -> None:
        self.allowlist = tuple(allowlist)
        self.timeout = timeout
        self.max_rows = max_rows
        self.calls = 0  # forwarded calls, for tests and logs
        self._secret = secrets.token_urlsafe(16)
        self._clients = {i: SparqlClient(url) for i, url in enumerate(self.allowlist)}
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    def route(self, target: str) -> str:
        """The relay URL standing for the allow-listed `target` (ValueError if not listed)."""
        index = self.allowlist.index(target)
        return f"{self._start()}/{self._secret}/{index}"

    def _start(self) -> str:
        with self._lock:
            if self._server is None:
                relay = self

                class Handler(_RelayHandler):
                    owner = relay

                self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
                self._server.daemon_threads = True
                threading.Thread(target=self._server.serve_forever, name="bjkg-service-relay",
                                 daemon=True).start()
            host, port = self._server.server_address[:2]
            return f"http://{host}:{port}"

    def endpoint_for(self, path: str) -> int | None:
        """The allow-list index a request path names, or None (wrong secret or index)."""
        parts = path.split("?", 1)[0].strip("/").split("/")
        if len(parts) != 2 or not secrets.compare_digest(parts[0], self._secret) or not parts[1].isdigit():
            return None
        index = int(parts[1])
        return index if index < len(self.allowlist) else None

    def forward(self, index: int, query: str) -> tuple[int, bytes, str]:
        """Ask endpoint `index`; (status, body, content type) for the engine."""
        url = self.allowlist[index]
        deadline = time.monotonic() + self.timeout
        self.calls += 1
        try:
            with self._clients[index].query(query, accept=_ACCEPT, deadline=deadline) as answer:
                fmt = _FORMATS.get(answer.media_type)
                if fmt is None:
                    return _problem(502, f"SERVICE <{url}> answered {answer.media_type or 'no media type'}, "
                                         "not SPARQL results")
                parsed = pyoxigraph.parse_query_results(answer, fmt)
                if isinstance(parsed, QueryBoolean):
                    document = {"head": {}, "boolean": bool(parsed)}
                else:
                    variables = tuple(v.value for v in parsed.variables)
                    rows = []
                    for solution in parsed:
                        if self.max_rows and len(rows) >= self.max_rows:
                            # never a cut answer: the call fails (SERVICE SILENT: no rows)
                            log.info("SERVICE <%s>: more than SERVICE_MAX_ROWS=%d rows", url, self.max_rows)
                            return _problem(502, f"SERVICE <{url}> answered more than {self.max_rows:,} rows, "
                                                 "the most this server takes from one call (setting "
                                                 "SERVICE_MAX_ROWS); nothing was cut: bound the SERVICE "
                                                 "pattern with LIMIT, or ask the operator to raise it.")
                        rows.append(json_row(variables, tuple(solution[v] for v in variables)))
                    document = {"head": {"vars": list(variables)}, "results": {"bindings": rows}}
        except StoreTimeout:
            return _problem(504, f"SERVICE <{url}> did not answer within {self.timeout:g} s (SERVICE_TIMEOUT)")
        except StoreUnreachable as exc:
            return _problem(502, f"SERVICE <{url}> is unreachable: {exc}")
        except StoreHTTPError as exc:
            return _problem(502, f"SERVICE <{url}> failed with {exc.status}: {exc.message[:500]}")
        except (SyntaxError, ValueError, OSError) as exc:
            if time.monotonic() > deadline:
                return _problem(504, f"SERVICE <{url}> did not answer within {self.timeout:g} s (SERVICE_TIMEOUT)")
            return _problem(502, f"SERVICE <{url}> sent an answer that cannot be read: {exc}")
        body = json.dumps(document, ensure_ascii=False).encode("utf-8")
        return 200, body, "application/sparql-results+json"

    def close(self) -> None:
        with self._lock:
            if self._server is not None:
                self._server.shutdown()
                self._server.server_close()
                self._server = None


def _problem(status: int, message: str) -> tuple[int, bytes, str]:
    return status, message.encode("utf-8"), "text/plain; charset=utf-8"


class _RelayHandler(BaseHTTPRequestHandler):
    """One engine request: a SPARQL query by POST (as Oxigraph sends it) or GET."""

    owner: ServiceRelay
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        index = self.owner.endpoint_for(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if index is None or length > _MAX_REQUEST:
            self._send(*_problem(404 if index is None else 413, "not a relay path"))
            return
        body = self.rfile.read(length)
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type == "application/sparql-query":
            query = body.decode("utf-8", "replace")
        else:
            from urllib.parse import parse_qs

            query = (parse_qs(body.decode("utf-8", "replace")).get("query") or [""])[0]
        self._send(*self.owner.forward(index, query))

    def do_GET(self) -> None:
        from urllib.parse import parse_qs, urlsplit

        index = self.owner.endpoint_for(self.path)
        query = (parse_qs(urlsplit(self.path).query).get("query") or [""])[0]
        if index is None or not query:
            self._send(*_problem(404, "not a relay path"))
            return
        self._send(*self.owner.forward(index, query))

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - BaseHTTPRequestHandler's name
        log.debug("relay: " + format, *args)
