"""The store extension: opened once per process by `init_app`, reached through `get_store()`.

Flask's "extensions bind late" pattern: nothing is opened at import time; `create_app`
calls `init_app(app)`, which builds the backend from the app's settings and keeps it, with
the build's manifest, in ``app.extensions["bjkg"]``. Views call `get_store()` /
`get_manifest()`. The errors the store layer raises are translated to HTTP here, once.
"""
from __future__ import annotations

import atexit
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from server.errors import HTTPProblem, forbidden, render_problem, server_error, service_unavailable
from server.evaluate import QueryFailed, QueryTimedOut
from server.store import Backend, BuildStore, MemoryStore, ReadOnly
from server.workers import PoolBusy, StoreUnavailable, WorkerCrashed

EXTENSION_KEY = "bjkg"


@dataclass
class BjkgState:
    """What `app.extensions["bjkg"]` holds."""

    store: Backend
    manifest: dict[str, Any] | None  # build.json, None for --empty
    build_dir: Path | None

    @property
    def build_hash(self) -> str | None:
        return (self.manifest or {}).get("hash")


def init_app(app: Flask) -> BjkgState:
    """Open the configured store (a build read-only, or an empty in-memory dataset)."""
    config = app.config
    if config["EMPTY"]:
        store: Backend = MemoryStore(timeout=config["QUERY_TIMEOUT"], max_rows=config["MAX_ROWS"])
        state = BjkgState(store, None, None)
    else:
        # Absolute, since Flask's send_file reads relative paths against the app's folder.
        build_dir = Path(config["BUILD_DIR"]).resolve()
        store = BuildStore(build_dir, timeout=config["QUERY_TIMEOUT"], max_rows=config["MAX_ROWS"],
                           query_workers=config["QUERY_WORKERS"],
                           isolate_network=not config["SERVICE_ALLOWLIST"])
        state = BjkgState(store, store.manifest, build_dir)
    app.extensions[EXTENSION_KEY] = state
    _close_at_exit(store)
    _register_error_translation(app)
    return state


def _close_at_exit(store: Backend) -> None:
    ref = weakref.ref(store)

    def close() -> None:
        alive = ref()
        if alive is not None:
            alive.close()

    atexit.register(close)


def get_state(app: Flask | None = None) -> BjkgState:
    return (app or current_app).extensions[EXTENSION_KEY]


def get_store(app: Flask | None = None) -> Backend:
    """The app's store backend (see `server.store.Backend`)."""
    return get_state(app).store


def get_manifest(app: Flask | None = None) -> dict[str, Any] | None:
    """The served build's build.json (None when serving --empty)."""
    return get_state(app).manifest


def _register_error_translation(app: Flask) -> None:
    def problem(exc: HTTPProblem):
        return render_problem(exc)

    def on_failed(exc: QueryFailed):
        return problem(HTTPProblem(exc.status, exc.message))

    def on_timeout(exc: QueryTimedOut):
        seconds = app.config["QUERY_TIMEOUT"]
        return problem(service_unavailable(
            f"The query did not finish within the time limit of {seconds:g} s (setting "
            "QUERY_TIMEOUT) and was stopped. Make it more selective (LIMIT, fewer unbound "
            "patterns), or download a dump of the dataset and query it locally."))

    def on_busy(exc: PoolBusy):
        return problem(service_unavailable(
            "Every query worker stayed busy for the whole time limit; please try again shortly.",
            retry_after=5))

    def on_crash(exc: WorkerCrashed):
        return problem(server_error(
            "The process evaluating this query died (perhaps out of memory); it has been "
            "replaced. Try a more selective query."))

    def on_unavailable(exc: StoreUnavailable):
        app.logger.error("store unavailable: %s", exc)
        return problem(service_unavailable(f"The store is unavailable: {exc}", retry_after=10))

    def on_read_only(exc: ReadOnly):
        return problem(forbidden(f"This server is read-only ({exc})."))

    app.register_error_handler(QueryFailed, on_failed)
    app.register_error_handler(QueryTimedOut, on_timeout)
    app.register_error_handler(PoolBusy, on_busy)
    app.register_error_handler(WorkerCrashed, on_crash)
    app.register_error_handler(StoreUnavailable, on_unavailable)
    app.register_error_handler(ReadOnly, on_read_only)
