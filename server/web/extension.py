"""The store extension: opened once per process by `init_app`, reached through `get_store()`.

Flask's "extensions bind late" pattern: nothing is opened at import time; `create_app`
calls `init_app(app)`, which builds the backend from the app's settings — a build, an
empty in-memory dataset, or a remote store (`bjkg.server.stores.remote`) — and keeps it, with the
build's manifest (and, when SERVICE is allow-listed, the federation relay), in
``app.extensions["bjkg"]``. Views call `get_store()` /
`get_manifest()`. The errors the store layer raises are translated to HTTP here, once.
"""
from __future__ import annotations

import atexit
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from bjkg.server.core.errors import HTTPProblem, forbidden, server_error, service_unavailable
from bjkg.server.web.problems import render_problem
from bjkg.server.sparql.evaluate import QueryFailed, QueryTimedOut
from bjkg.server.sparql.federation import ServiceRelay
from bjkg.server.stores.embedded import Backend, BuildStore, MemoryStore, ReadOnly
from bjkg.server.sparql.workers import PoolBusy, StoreUnavailable, WorkerCrashed

EXTENSION_KEY = "bjkg"


@dataclass
class BjkgState:
    """What `app.extensions["bjkg"]` holds."""

    store: Backend
    manifest: dict[str, Any] | None  # build.json, None for --empty
    build_dir: Path | None
    relay: ServiceRelay | None = None  # SERVICE calls of the embedded engine go through it

    @property
    def build_hash(self) -> str | None:
        return (self.manifest or {}).get("hash")


def init_app(app: Flask) -> BjkgState:
    """Open the configured store (a build read-only, or an empty in-memory dataset)."""
    config = app.config
    if config["EMPTY"]:
        store: Backend = MemoryStore(timeout=config["QUERY_TIMEOUT"], max_rows=config["MAX_ROWS"])
        state = BjkgState(store, None, None)
    elif config.get("SPARQL_ENDPOINT"):
        from bjkg.server.stores.remote import open_remote

        store, manifest, remote_build = open_remote(config)
        state = BjkgState(store, manifest, remote_build.resolve() if remote_build else None)
    else:
        # Absolute, since Flask's send_file reads relative paths against the app's folder.
        build_dir = Path(config["BUILD_DIR"]).resolve()
        store = BuildStore(build_dir, timeout=config["QUERY_TIMEOUT"], max_rows=config["MAX_ROWS"],
                           query_workers=config["QUERY_WORKERS"],
                           isolate_network=not config["SERVICE_ALLOWLIST"],
                           mode="inline" if config["QUERY_MODE"] == "inline" else "pool",
                           prepared_dir=_prepared_dir(config),
                           in_memory_max_triples=config["IN_MEMORY_MAX_TRIPLES"])
        state = BjkgState(store, store.manifest, build_dir)
        if store.mode == "inline":
            _install_inline_guard(app)
    if config["SERVICE_ALLOWLIST"] and getattr(store, "evaluates_locally", True):
        state.relay = ServiceRelay(config["SERVICE_ALLOWLIST"], timeout=config["SERVICE_TIMEOUT"],
                                   max_rows=config["SERVICE_MAX_ROWS"])
        _close_at_exit(state.relay)
    app.extensions[EXTENSION_KEY] = state
    _close_at_exit(store)
    _register_error_translation(app)
    return state


def _close_at_exit(store: Backend | ServiceRelay) -> None:
    ref = weakref.ref(store)

    def close() -> None:
        alive = ref()
        if alive is not None:
            alive.close()

    atexit.register(close)


def get_state(app: Flask | None = None) -> BjkgState:
    return (app or current_app).extensions[EXTENSION_KEY]


def get_store(app: Flask | None = None) -> Backend:
    """The app's store backend (see `bjkg.server.stores.embedded.Backend`)."""
    return get_state(app).store


def get_manifest(app: Flask | None = None) -> dict[str, Any] | None:
    """The served build's build.json (None when serving --empty)."""
    return get_state(app).manifest


def _register_error_translation(app: Flask) -> None:
    def problem(exc: HTTPProblem):
        return render_problem(exc)

    def on_failed(exc: QueryFailed):
        return problem(HTTPProblem(exc.status, _local_paths_hidden(app, exc.message)))

    def on_timeout(exc: QueryTimedOut):
        return problem(timeout_problem(app.config["QUERY_TIMEOUT"]))

    def on_busy(exc: PoolBusy):
        return problem(service_unavailable(
            "Every query worker stayed busy for the whole time limit; please try again shortly.",
            retry_after=5))

    def on_crash(exc: WorkerCrashed):
        return problem(server_error(
            "The process evaluating this query died (perhaps out of memory); it has been "
            "replaced. Try a more selective query."))

    def on_unavailable(exc: StoreUnavailable):
        app.logger.error("store unavailable: %s", exc)  # the log keeps the full text
        return problem(service_unavailable(f"The store is unavailable: {_local_paths_hidden(app, str(exc))}",
                                           retry_after=10))

    def on_read_only(exc: ReadOnly):
        return problem(forbidden(f"This server is read-only ({exc})."))

    app.register_error_handler(QueryFailed, on_failed)
    app.register_error_handler(QueryTimedOut, on_timeout)
    app.register_error_handler(PoolBusy, on_busy)
    app.register_error_handler(WorkerCrashed, on_crash)
    app.register_error_handler(StoreUnavailable, on_unavailable)
    app.register_error_handler(ReadOnly, on_read_only)


def _install_inline_guard(app: Flask) -> None:
    """QUERY_MODE=inline: each request tells the watchdog how to answer 503 on its socket
    (bjkg.server.sparql.inline), and is counted so that a retiring worker can let it finish."""
    from flask import request

    from bjkg.server.sparql import inline

    seconds = app.config["QUERY_TIMEOUT"]
    cors = app.config.get("CORS_ORIGIN")

    def before() -> None:
        guard = inline.watchdog()
        guard.request_started()
        sock = request.environ.get("gunicorn.socket")
        if sock is None:
            inline.set_responder(None)
            return
        accept = request.headers.get("Accept")
        inline.set_responder(inline.socket_responder(
            sock, lambda: _timeout_response_bytes(app, seconds, accept, cors)))

    def after(_exc=None) -> None:
        inline.set_responder(None)
        inline.watchdog().request_finished()

    app.before_request(before)
    app.teardown_request(after)


def timeout_problem(seconds: float) -> HTTPProblem:
    return service_unavailable(
        f"The query did not finish within the time limit of {seconds:g} s (setting "
        "QUERY_TIMEOUT) and was stopped. Make it more selective (LIMIT, fewer unbound "
        "patterns), or download a dump of the dataset and query it locally.")


def _timeout_response_bytes(app: Flask, seconds: float, accept: str | None, cors: str | None) -> bytes:
    """The 503 the query worker pool would give, as raw HTTP/1.1 bytes for the watchdog."""
    from http import HTTPStatus

    with app.test_request_context(headers={"Accept": accept} if accept else {}):
        response = render_problem(timeout_problem(seconds))
    body = response.get_data()
    head = [f"HTTP/1.1 {response.status_code} {HTTPStatus(response.status_code).phrase}"]
    for name, value in response.headers.items():
        if name.lower() not in ("content-length", "connection"):
            head.append(f"{name}: {value}")
    if cors:
        head.append(f"Access-Control-Allow-Origin: {cors}")
    head += [f"Content-Length: {len(body)}", "Connection: close"]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def _local_paths_hidden(app: Flask, text: str) -> str:
    """`text` (an engine's or a worker's error, shown to the client) with the server's own
    folders named relative to the build — `<build>`, `<cache>` — never as the machine's
    absolute paths, which tell a visitor the user name and layout and help nobody."""
    state = app.extensions.get(EXTENSION_KEY)
    cache = _prepared_dir(app.config)
    folders = [(str(cache), "<cache>"), (str(cache.resolve()), "<cache>")]
    if state is not None and state.build_dir is not None:
        folders.append((str(state.build_dir), "<build>"))
    for folder, name in sorted(folders, key=lambda f: -len(f[0])):  # the longer (inner) first
        if len(folder) > 1:
            text = text.replace(folder, name)
    return text


def _prepared_dir(config) -> Path:
    """Where `bjkg serve` keeps what it prepares once per build (CACHE_DIR)."""
    from bjkg.server.core.prepared import cache_dir

    return cache_dir(config)
