"""A scripted SPARQL endpoint on 127.0.0.1, to test the remote backend's own behaviour.

Each request is recorded (method, path, headers, form fields) and answered by `reply`, a
function of the request returning a `Reply`: status, headers, body chunks and delays, so
a test can play a slow store, a trickling one, or one that says it cut or timed out.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    chunks: list[bytes] = field(default_factory=list)
    delay: float = 0.0  # before the status line
    gap: float = 0.0  # between chunks


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, list[str]]


class FakeStore:
    def __init__(self, reply) -> None:
        self.reply = reply
        self.requests: list[Seen] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._answer(parse_qs(body.decode("utf-8"), keep_blank_values=True))

            def do_GET(self) -> None:
                self._answer(parse_qs(self.path.partition("?")[2], keep_blank_values=True))

            def _answer(self, form) -> None:
                seen = Seen(self.command, self.path, dict(self.headers), form)
                owner.requests.append(seen)
                reply = owner.reply(seen)
                time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    if reply.gap:
                        self.send_header("Transfer-Encoding", "chunked")
                    else:
                        self.send_header("Content-Length", str(sum(len(c) for c in reply.chunks)))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    for chunk in reply.chunks:
                        if reply.gap:
                            time.sleep(reply.gap)
                            self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                        else:
                            self.wfile.write(chunk)
                        self.wfile.flush()
                    if reply.gap:
                        self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client hung up, as it should at its deadline or row limit
                self.close_connection = True

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sparql"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def json_results(variables: list[str], rows: list[dict], *, typed: bool = False) -> bytes:
    """SPARQL JSON results text (Virtuoso-style `typed-literal` when `typed`)."""
    import json

    bindings = []
    for row in rows:
        out = {}
        for name, (kind, value, extra) in row.items():
            term = {"type": kind, "value": value}
            term.update(extra)
            if typed and "datatype" in extra:
                term["type"] = "typed-literal"
            out[name] = term
        bindings.append(out)
    return json.dumps({"head": {"vars": variables}, "results": {"bindings": bindings}}).encode("utf-8")
