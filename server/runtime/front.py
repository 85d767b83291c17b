"""The HTTP front: granian owns the connections; this ASGI adapter hands whole requests to
the Flask app in threads of two lanes, and writes the answers without holding a thread.

Why (measured in bench/README.md): a thread per connection that both reads a client's
bytes and evaluates its query let 8 silent connections stall the server, and a queued
client got a TCP reset when a runaway's worker was retired. Here

* granian (Rust, hyper) accepts and parses: a client has HEADER_TIMEOUT seconds for its
  request line and headers, and idle or dribbling connections cost no Python thread;
* `Front` reads the body on the event loop, with BODY_TIMEOUT (then 408) and MAX_BODY_BYTES
  (then 413, before reading it when Content-Length says so): the app only ever sees a
  complete request;
* a SPARQL query is answered on the loop itself when it can start at once
  (bjkg.server.runtime.lane: no thread, no Flask request cycle);
* the app runs in one of two thread pools: the *query lane* (``/sparql``, ``/graph-store``)
  sized to the query slots and queue of bjkg.server.sparql.workers, and the *page lane*
  (everything else, PAGE_THREADS), so heavy SPARQL never takes the threads pages need;
* while the app answers, the loop listens for the client hanging up and sets the request's
  `gone` event, which cancels its query (bjkg.server.sparql.workers.RequestContext, with
  the arrival time its deadline counts from and the client's address for its share);
* the answer is written by the loop: a slow reader holds a buffer, not a thread (a long
  streamed body is pulled by the thread at most `_PENDING_CHUNKS` ahead of the client).
"""
from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus

from bjkg.server.sparql.workers import RequestContext, set_context
from bjkg.server.web.security import DATA_POLICY, SECURITY_HEADERS

log = logging.getLogger("bjkg.front")

QUERY_PATHS = ("/sparql", "/graph-store")
_PENDING_CHUNKS = 64  # chunks of a streamed answer the app may produce ahead of the client
_FILE_CHUNK = 256 * 1024
_WATCH_AFTER = 0.02  # seconds into a request when the front starts to watch for the client hanging up
_TOO_LARGE = object()  # what Front._receive_body returns for a body past MAX_BODY_BYTES


class AnswerBrokenOff(Exception):
    """Raised to granian so that it drops a connection whose answer cannot be completed."""


class _FileWrapper:
    """wsgi.file_wrapper: the loop reads the file and sends it; no thread waits on the client."""

    def __init__(self, filelike, block_size: int = _FILE_CHUNK) -> None:
        self.filelike = filelike
        self.block_size = block_size

    def __iter__(self):
        while chunk := self.filelike.read(self.block_size):
            yield chunk

    def close(self) -> None:
        close = getattr(self.filelike, "close", None)
        if close is not None:
            close()


class Front:
    """ASGI application around a WSGI app (the Flask app), with the rules of the module's doc."""

    def __init__(self, wsgi_app, *, query_threads: int, page_threads: int, body_timeout: float,
                 max_body: int, on_shutdown=None, lane=None) -> None:
        self.wsgi_app = wsgi_app
        self.lane = lane  # bjkg.server.runtime.lane.QueryLane: queries answered on the loop
        # the front's own errors carry the app's CORS origin, as the app's answers do
        self.cors_origin = getattr(wsgi_app, "config", {}).get("CORS_ORIGIN", "*")
        self.query_threads = query_threads
        self.body_timeout = body_timeout
        self.max_body = max_body
        self.on_shutdown = on_shutdown
        self._query_lane = ThreadPoolExecutor(query_threads, thread_name_prefix="bjkg-query")
        self._page_lane = ThreadPoolExecutor(page_threads, thread_name_prefix="bjkg-page")
        self._queries_in_lane = 0

    def _problem(self, send, status: int, message: str, **options):
        """`_problem` with this app's CORS origin."""
        return _problem(send, status, message, origin=self.cors_origin, **options)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.on_shutdown is not None:
                    self.on_shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # ---------------------------------------------------------------- one request
    async def _http(self, scope, receive, send) -> None:
        arrived = time.monotonic()
        body = await self._read_body(scope, receive, send)
        if body is None:
            return
        query_lane = scope["path"].startswith(QUERY_PATHS)
        if query_lane and self._queries_in_lane >= self.query_threads:
            # every query thread is answering or waiting: the slots and the queue are full
            await self._problem(send, 503, "Too many queries are running or waiting; please retry "
                           "shortly (settings QUERY_WORKERS, QUERY_QUEUE).", retry_after=5)
            return
        gone = threading.Event()
        client = (scope.get("client") or ("", 0))[0] or ""
        context = RequestContext(arrived=arrived, client=client, gone=gone)
        loop = asyncio.get_running_loop()
        hung_up = loop.create_future()
        watchers: list[asyncio.Future] = []
        # most answers are written within milliseconds: the hang-up watch (an await on
        # granian's receive, ≈10 % of an HTTP process's time when started for each request)
        # begins only for an answer that takes longer; a client that left before is seen then
        watch = loop.call_later(_WATCH_AFTER, lambda: watchers.append(
            asyncio.ensure_future(_watch_hang_up(receive, gone, hung_up))))
        try:
            app = self.wsgi_app
            environ = _environ(scope, body)
            if query_lane and self.lane is not None and self.lane.takes(scope, body):
                try:
                    response = await self.lane.answer(environ, context, hung_up)
                except Exception:  # noqa: BLE001 - a fault of the lane: the threaded way answers
                    log.exception("the query lane failed on %s", scope["path"])
                    response = None
                if getattr(response, "is_streamed", True) is False:
                    await _send_whole(send, response, environ)
                    return
                if response is not None:
                    app = response  # streamed, or waiting for a slot: in a thread, as the app
                else:
                    environ = _environ(scope, body)  # untouched by the lane
            await self._threaded(app, environ, context, query_lane, send)
        finally:
            watch.cancel()
            for watcher in watchers:
                watcher.cancel()

    async def _threaded(self, app, environ: dict, context: RequestContext, query_lane: bool, send) -> None:
        """Answer by the WSGI `app` in a thread of the request's lane; the loop writes."""
        loop = asyncio.get_running_loop()
        gone = context.gone
        chunks: asyncio.Queue = asyncio.Queue()
        room = threading.Semaphore(_PENDING_CHUNKS)
        lane = self._query_lane if query_lane else self._page_lane
        if query_lane:
            self._queries_in_lane += 1
        on_error = self.lane.error_response if query_lane and self.lane is not None else None
        answered = loop.run_in_executor(lane, _answer, app, environ, context, loop, chunks, room, gone, on_error)
        try:
            await self._respond(send, chunks, room, gone)
        except BaseException:
            gone.set()  # the app's thread stops producing
            raise
        finally:
            await asyncio.shield(answered)
            if query_lane:
                self._queries_in_lane -= 1

    async def _read_body(self, scope, receive, send) -> bytes | None:
        """The whole body within BODY_TIMEOUT and MAX_BODY_BYTES, or None (answered or gone)."""
        coding = next((v for k, v in scope["headers"] if k == b"content-encoding"), b"identity")
        if coding.strip().lower() not in (b"", b"identity"):
            # read as sent, a compressed body would be taken for its (garbled) text; decoding
            # it would let a small body expand past MAX_BODY_BYTES: refused (RFC 9110 15.5.16)
            await self._problem(send, 415, f"The request body has Content-Encoding "
                           f"{coding.decode('latin-1')[:40]!r}; this server takes request bodies "
                           "only without a content coding: send it uncompressed.",
                           headers=[(b"accept-encoding", b"identity")])
            return None
        length = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await self._problem(send, 400, "The Content-Length header is not a number.")
                return None
            if declared > self.max_body:
                await self._problem(send, 413, f"The request body is larger than {self.max_body} bytes "
                               "(setting MAX_BODY_BYTES).")
                return None
        try:
            # one timer for the whole body (asyncio.wait_for per message made a task for each
            # receive: ≈8 % of an HTTP process's time under small queries)
            async with asyncio.timeout(self.body_timeout):
                body = await self._receive_body(receive)
        except TimeoutError:
            await self._problem(send, 408, f"The request body did not arrive within {self.body_timeout:g} s "
                           "(setting BODY_TIMEOUT).")
            return None
        except Exception as exc:  # noqa: BLE001 - the server could not read the body
            await self._problem(send, 400, f"The request body could not be read: {exc}")
            return None
        if body is _TOO_LARGE:
            await self._problem(send, 413, f"The request body is larger than {self.max_body} bytes "
                           "(setting MAX_BODY_BYTES).")
            return None
        if body is None:
            # the client left, or granian could not read the body (a malformed chunk):
            # answer 400 in case it is still there (granian would answer 500)
            await self._problem(send, 400, "The request body could not be read: the connection "
                           "closed, or its chunked encoding is malformed.")
        return body

    async def _receive_body(self, receive):
        """The body's bytes, _TOO_LARGE past MAX_BODY_BYTES, or None if the client left."""
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return _TOO_LARGE
            parts.append(chunk)
            if not message.get("more_body", False):
                return parts[0] if len(parts) == 1 else b"".join(parts)

    async def _respond(self, send, chunks: asyncio.Queue, room: threading.Semaphore,
                       gone: threading.Event) -> None:
        """Send what the app's thread produces: ("start", status, headers), ("body", bytes),
        ("file", wrapper) and ("end",)."""
        started = False
        while True:
            item = await chunks.get()
            kind = item[0]
            if kind == "body":
                room.release()
            if gone.is_set():
                if kind == "file":
                    item[1].close()
                if kind in ("end", "abort", "whole"):
                    return
                continue
            try:
                if kind == "whole":
                    await send({"type": "http.response.start", "status": item[1], "headers": item[2]})
                    await send({"type": "http.response.body", "body": item[3], "more_body": False})
                    return
                if kind == "start":
                    status, headers = item[1], item[2]
                    await send({"type": "http.response.start", "status": status, "headers": headers})
                    started = True
                elif kind == "body":
                    await send({"type": "http.response.body", "body": item[1], "more_body": True})
                elif kind == "file":
                    await _send_file(send, item[1])
                elif kind == "end":
                    if started:
                        await send({"type": "http.response.body", "body": b"", "more_body": False})
                    return
                elif kind == "abort":
                    break
            except Exception:  # noqa: BLE001 - the client went away while we wrote
                gone.set()
        # the answer failed after its status was sent (e.g. a stream past QUERY_TIMEOUT): the
        # connection is dropped without the last chunk, so no client takes it for whole
        raise AnswerBrokenOff()


async def _send_file(send, wrapper: _FileWrapper) -> None:
    try:
        while chunk := wrapper.filelike.read(wrapper.block_size):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    finally:
        wrapper.close()


async def _watch_hang_up(receive, gone: threading.Event, hung_up: asyncio.Future) -> None:
    """After the body, the next message is the client hanging up (ASGI's http.disconnect):
    `gone` tells the threads, `hung_up` the loop."""
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
    except asyncio.CancelledError:
        raise
    except Exception:  # noqa: BLE001 - the connection is gone
        pass
    gone.set()
    if not hung_up.done():
        hung_up.set_result(None)


async def _send_whole(send, response, environ: dict) -> None:
    """Write a response whose body is whole (the query lane's), with the headers Werkzeug
    would send (Content-Length among them)."""
    headers = [(name.lower().encode("latin-1"), value.encode("latin-1"))
               for name, value in response.get_wsgi_headers(environ).to_wsgi_list()]
    body = response.get_data()
    try:
        await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})
    except Exception:  # noqa: BLE001 - the client is gone
        pass


def _answer(app, environ, context, loop, chunks: asyncio.Queue, room: threading.Semaphore,
            gone: threading.Event, on_error=None) -> None:
    """In a lane thread: run the WSGI app and pass its answer to the loop, chunk by chunk.
    A streamed answer that fails before its first byte is sent (its first chunk is held
    back) is answered by `on_error(exc, environ)`, a WSGI response, when it gives one: the
    time limit passing after the first chunk is a 503, not a 500."""
    put = lambda item: loop.call_soon_threadsafe(chunks.put_nowait, item)  # noqa: E731
    started: list = []

    def start_response(status, headers, exc_info=None):
        code = int(status.split(" ", 1)[0])
        started[:] = [code, [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]]
        return lambda data: None  # the legacy write() callable: unused by Flask

    set_context(context)
    result = None
    broken = False
    whole = False  # answered in one hand-over: nothing follows
    try:
        result = app(environ, start_response)
        if isinstance(result, _FileWrapper):
            started_sent(started, put)
            put(("file", result))
            result = None
        else:
            # the first chunk is held back: an answer of one chunk (most) goes to the loop in
            # one hand-over with its status, a longer one chunk by chunk as it is produced
            held: bytes | None = None
            for chunk in result:
                if not chunk:
                    continue
                if held is None and not (started and started[-1] == "sent"):
                    held = bytes(chunk)
                    continue
                started_sent(started, put)
                for part in ((held, bytes(chunk)) if held is not None else (bytes(chunk),)):
                    while not room.acquire(timeout=0.5):
                        if gone.is_set():
                            return
                    put(("body", part))
                held = None
                if gone.is_set():
                    return
            if started and started[-1] != "sent":
                put(("whole", started[0], started[1], held or b""))
                started.append("sent")
                whole = True
            elif held is not None:
                room.acquire()
                put(("body", held))
    except Exception as exc:  # noqa: BLE001 - Flask answers its own errors; this is a bug
        if started and started[-1] == "sent":  # a streamed answer failed: break it off
            log.warning("answer to %s broken off: %r", environ.get("PATH_INFO"), exc)
            broken = True
            return
        replaced = on_error(exc, environ) if on_error is not None else None
        if replaced is not None:
            started.clear()
            body = b"".join(replaced(environ, start_response))
            put(("whole", started[0], started[1], body))
            started.append("sent")
            return
        log.exception("unhandled error answering %s", environ.get("PATH_INFO"))
        if not started or started[-1] != "sent":
            body = json.dumps({"error": {"status": 500, "title": "Internal Server Error",
                                         "message": "The server failed to answer this request."}}).encode()
            put(("start", 500, [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]))
            put(("body", body))
    finally:
        set_context(None)
        if result is not None and hasattr(result, "close"):
            try:
                result.close()
            except Exception:  # noqa: BLE001
                log.exception("closing a response")
        if not whole:
            put(("abort",) if broken else ("end",))


def started_sent(started: list, put) -> None:
    """Send the status and headers once (after the app's first chunk, as WSGI allows)."""
    if started and started[-1] != "sent":
        put(("start", started[0], started[1]))
        started.append("sent")


def _environ(scope, body: bytes) -> dict:
    """The WSGI environ of an ASGI HTTP scope with its (complete) body."""
    server = scope.get("server") or ("127.0.0.1", 0)
    client = scope.get("client") or ("", 0)
    environ = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": scope.get("root_path", "").encode("utf-8").decode("latin-1"),
        "PATH_INFO": scope["path"].encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1] or 0),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": client[0] or "",
        "REMOTE_PORT": str(client[1] or 0),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.file_wrapper": _FileWrapper,
        "CONTENT_LENGTH": str(len(body)),
    }
    for name, value in scope["headers"]:
        key = name.decode("latin-1").upper().replace("-", "_")
        text = value.decode("latin-1")
        if key == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = text
            continue
        if key in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):
            # the body is whole and de-chunked: CONTENT_LENGTH above says its length (with
            # `Transfer-Encoding: chunked` kept, werkzeug would read a chunked form as empty)
            continue
        key = "HTTP_" + key
        environ[key] = f"{environ[key]},{text}" if key in environ else text
    return environ


async def _problem(send, status: int, message: str, *, origin: str | None = "*",
                   retry_after: int | None = None, headers: list[tuple[bytes, bytes]] = ()) -> None:
    """An error answered by the front itself (before the app): the app's JSON shape, with the
    security headers and the CORS origin every response of the app has. A body left unread
    (400, 408, 413, 415) ends the connection."""
    body = json.dumps({"error": {"status": status, "title": HTTPStatus(status).phrase,
                                 "message": message}}).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               *((name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()),
               (b"content-security-policy", DATA_POLICY.encode()), *headers]
    if origin:
        headers.append((b"access-control-allow-origin", origin.encode()))
        headers.append((b"access-control-expose-headers", b"Retry-After"))
    if retry_after:
        headers.append((b"retry-after", str(retry_after).encode()))
    if status in (400, 408, 413, 415):
        headers.append((b"connection", b"close"))
    try:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})
    except Exception:  # noqa: BLE001 - the client is gone
        pass


# ------------------------------------------------------------------ granian's factory

def _end_with_the_server(server_pid: str | None) -> None:
    """Have the kernel kill this HTTP worker when the `bjkg serve` process that forked it
    dies, however it dies. A worker left behind by a SIGKILLed server would go on holding
    the port — its SO_REUSEPORT socket shares the connections of a server started again on
    it — and answer every query with 503, its data process gone with the server. SIGKILL,
    not granian's SIGTERM: a graceful stop waits on connections and on the pool's data
    process, which died with the server (with SIGTERM, a loaded CI run still had the
    workers 15 s later). If the server is already gone, die now. (A normal stop never
    comes here: granian stops its workers before it exits.)"""
    import ctypes
    import signal

    if not server_pid:
        return
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != int(server_pid):  # it died before the line above
        os.kill(os.getpid(), signal.SIGKILL)


def application():
    """Called by granian in each worker process: the Flask app, warmed, behind the front."""
    from bjkg.server.app import create_app
    from bjkg.server.core.memory import keep_trimming
    from bjkg.server.runtime.lane import QueryLane
    from bjkg.server.runtime.serve import SERVER_PID_ENV, SETTINGS_ENV, _warm, lanes

    _end_with_the_server(os.environ.get(SERVER_PID_ENV))
    overrides = json.loads(os.environ.get(SETTINGS_ENV, "{}"))
    app = _warm(create_app(overrides))
    keep_trimming()  # the free pages requests leave in the heap go back to the system
    query_threads, page_threads = lanes(app.config)
    store = app.extensions["bjkg"].store
    return Front(app, query_threads=query_threads, page_threads=page_threads,
                 body_timeout=app.config["BODY_TIMEOUT"], max_body=app.config["MAX_BODY_BYTES"],
                 on_shutdown=store.close, lane=QueryLane(app))
