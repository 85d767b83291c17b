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

from bjkg.server.core.errors import HTTPProblem, forbidden, service_unavailable
from bjkg.server.web.problems import render_problem
from bjkg.server.sparql.evaluate import QueryFailed, QueryTimedOut
from bjkg.server.sparql.federation import ServiceRelay
from bjkg.server.stores.embedded import Backend, BuildStore, MemoryStore, ReadOnly
from bjkg.server.sparql.admission import ClientGone, ClientShareExceeded, QueueFull, Refused
from bjkg.server.sparql.workers import StoreUnavailable, WorkerCrashed

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
    limits = query_limits(config)
    slots = limits.pop("size")
    if config["EMPTY"]:
        store: Backend = MemoryStore(timeout=config["QUERY_TIMEOUT"], max_rows=config["MAX_ROWS"],
                                     query_workers=slots, limits=limits,
                                     isolate_network=not config["SERVICE_ALLOWLIST"])
        state = BjkgState(store, None, None)
    elif config.get("SPARQL_ENDPOINT"):
        from bjkg.server.stores.remote import open_remote

        store, manifest, remote_build = open_remote(config)
        state = BjkgState(store, manifest, remote_build.resolve() if remote_build else None)
    else:
        # Absolute, since Flask's send_file reads relative paths against the app's folder.
        build_dir = Path(config["BUILD_DIR"]).resolve()
        store = BuildStore(build_dir, timeout=config["QUERY_TIMEOUT"], max_rows=config["MAX_ROWS"],
                           query_workers=slots, limits=limits,
                           isolate_network=not config["SERVICE_ALLOWLIST"],
                           mode="inline" if config["QUERY_MODE"] == "inline" else "pool",
                           prepared_dir=_prepared_dir(config),
                           in_memory_max_triples=config["IN_MEMORY_MAX_TRIPLES"])
        state = BjkgState(store, store.manifest, build_dir)
    if config["SERVICE_ALLOWLIST"] and getattr(store, "evaluates_locally", True):
        state.relay = ServiceRelay(config["SERVICE_ALLOWLIST"], timeout=config["SERVICE_TIMEOUT"],
                                   max_rows=config["SERVICE_MAX_ROWS"])
        _close_at_exit(state.relay)
    app.extensions[EXTENSION_KEY] = state
    _close_at_exit(store)
    _register_error_translation(app)
    return state


def query_limits(config) -> dict[str, int]:
    """The query pool's sizes from the settings (0 means the default each setting describes):
    slots, queue, per-client slots, the memory cap and this process's share of the cores
    (bjkg.server.sparql.workers)."""
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    size = config["QUERY_WORKERS"] or max(16, 4 * cores)
    processes = config["WORKERS"] or 1  # `bjkg serve` passes the number it started
    return {"size": size, "queue": config["QUERY_QUEUE"] or 4 * size,
            "client_slots": config["QUERY_CLIENT_SLOTS"] or max(1, size // 4),
            "memory_mb": config["QUERY_MEMORY_MB"],
            "cores": max(1, round((config["QUERY_CPUS"] or cores) / processes))}


def data_process_spec(config) -> dict[str, Any] | None:
    """What the query pools' data process is started with for these settings (what
    `init_app`'s store gives its pool), or None when there is no pool: a remote store, or
    QUERY_MODE=inline. `bjkg serve` starts the one data process of the server with it."""
    from bjkg.server.sparql.workers import data_spec
    from bjkg.server.stores.embedded import MEMORY_POOL_SPEC, build_pool_spec
    from bjkg.server.stores.integrity import load_manifest

    if config["EMPTY"]:
        spec = dict(MEMORY_POOL_SPEC)
    elif config.get("SPARQL_ENDPOINT") or config["QUERY_MODE"] == "inline":
        return None
    else:
        build_dir = Path(config["BUILD_DIR"]).resolve()
        spec = build_pool_spec(build_dir, load_manifest(build_dir), config["IN_MEMORY_MAX_TRIPLES"],
                               _prepared_dir(config))
    return data_spec(spec, isolate_network=not config["SERVICE_ALLOWLIST"],
                     memory_mb=query_limits(config)["memory_mb"])


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
    def translated(exc: Exception):
        return render_problem(store_problem(app, exc))

    for kind in (QueryFailed, QueryTimedOut, Refused, ClientShareExceeded, ClientGone, WorkerCrashed,
                 StoreUnavailable, ReadOnly):
        app.register_error_handler(kind, translated)


def store_problem(app: Flask, exc: Exception) -> HTTPProblem | None:
    """The HTTP problem an error of the store layer means (None for any other exception):
    one translation for the Flask views and for the HTTP front's query lane."""
    if isinstance(exc, QueryFailed):
        return HTTPProblem(exc.status, _local_paths_hidden(app, exc.message))
    if isinstance(exc, QueryTimedOut):
        return timeout_problem(app.config["QUERY_TIMEOUT"])
    if isinstance(exc, ClientShareExceeded):
        return HTTPProblem(429, (
            "You already have as many queries running and waiting as one client may (setting "
            "QUERY_CLIENT_SLOTS); wait for them to finish, then retry."),
            headers={"Retry-After": str(exc.retry_after)})
    if isinstance(exc, Refused):
        if isinstance(exc, QueueFull):
            message = ("Every query slot is taken and the queue is full (settings QUERY_WORKERS, "
                       "QUERY_QUEUE); please try again shortly.")
        else:
            message = ("No query slot became free within the time limit (setting QUERY_TIMEOUT, "
                       "counted from the request's arrival); please try again shortly.")
        return service_unavailable(message, retry_after=exc.retry_after)
    if isinstance(exc, ClientGone):
        return HTTPProblem(503, "The client closed the connection; the query was cancelled.")
    if isinstance(exc, WorkerCrashed):
        return service_unavailable(
            "The process evaluating this query died — most likely it needed more memory than "
            f"one query may take ({app.config['QUERY_MEMORY_MB']} MB, setting QUERY_MEMORY_MB), "
            "or the query engine failed on it. It has been replaced; make the query more "
            "selective (LIMIT, fewer unbound patterns, no huge GROUP_CONCAT) or write it another "
            "way.", retry_after=5)
    if isinstance(exc, StoreUnavailable):
        app.logger.error("store unavailable: %s", exc)  # the log keeps the full text
        return service_unavailable(f"The store is unavailable: {_local_paths_hidden(app, str(exc))}",
                                   retry_after=10)
    if isinstance(exc, ReadOnly):
        return forbidden(f"This server is read-only ({exc}).")
    return None


def timeout_problem(seconds: float) -> HTTPProblem:
    return service_unavailable(
        f"The query did not finish within the time limit of {seconds:g} s (setting "
        "QUERY_TIMEOUT) and was stopped. Make it more selective (LIMIT, fewer unbound "
        "patterns), or download a dump of the dataset and query it locally.",
        retry_after=max(5, int(seconds)))


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
