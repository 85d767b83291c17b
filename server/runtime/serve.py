"""Running the server: gunicorn in production, or one in-process request for `--get`.

`run` is what ``bjkg serve`` calls. It serves with gunicorn (threaded workers, started
programmatically through `gunicorn.app.base.BaseApplication`) — never Flask's development
server. Each gunicorn worker calls `create_app`, so each opens the store once and owns its
pool of query worker processes. With ``--get PATH`` it answers one GET in-process through
the test client, prints the body and exits non-zero on an error status (Datasette's --get),
which makes smoke tests and scripts easy.

Sizing (`sizing`): over a build, one HTTP worker process per core with one thread and at
most 4 connections each. Page rendering is Python, which runs one thread at a time per
process, so a worker's requests queue for its core whatever its threads; what decides the
waits is how the keep-alive connections are spread over the workers, and whether threads
of one worker contend for its interpreter lock. A worker accepts while it has room, so without a limit
one worker could hold most connections (measured, the seed page at 8 connections on 2
cores: 3 workers × 4 threads spread them 8/0/0 to 3/3/2, p99 28–41 ms; 2 workers × 2
threads × 4 connections, 4/4, p99 17–32 ms; 2 workers × 1 thread × 4 connections, p99
15–23 ms in the same minutes). The worker (`bjkg.server.runtime.balanced_worker`) gives a place up when
it is full and a client waits to be accepted, so with more clients than places they take
turns; and it takes no new client while its thread is held by a long request (a query
running for seconds), so new clients go to the other workers instead of waiting behind it.
An in-memory dataset (``--empty``) must be a single process, since memory is not shared.
Over a remote store (``--sparql-endpoint``) the processes hold no data at all, so any number
of them, on any number of machines, can serve one store (docs/deploy.md).
"""
from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import click


def _settings(build_dir: str | None, update_token: str | None, workers: int | None,
              extra: Mapping[str, Any] | None) -> dict[str, Any]:
    settings: dict[str, Any] = dict(extra or {})
    if build_dir is None:
        settings["EMPTY"] = True
    else:
        settings["BUILD_DIR"] = build_dir
    if update_token:
        settings["UPDATE_TOKEN"] = update_token
    if workers:
        settings["WORKERS"] = workers
    return settings


def run(build_dir: str | None, host: str = "127.0.0.1", port: int = 8000, update_token: str | None = None,
        workers: int | None = None, get_path: str | None = None,
        settings: Mapping[str, Any] | None = None) -> None:
    """Serve a build (`build_dir`) read-only, or an empty writable dataset when it is None."""
    from bjkg.server.app import create_app
    from bjkg.server.core.settings import SettingsError, load_settings
    from bjkg.server.stores.embedded import BuildNotFound
    from bjkg.server.stores.remote import RemoteStoreError

    overrides = _settings(build_dir, update_token, workers, settings)
    try:
        resolved = load_settings(overrides)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None
    remote = resolved["SPARQL_ENDPOINT"] and not resolved["EMPTY"]
    remote_writable = remote and (resolved["UPDATE_ENDPOINT"] or resolved["GRAPH_STORE"])
    if resolved["UPDATE_TOKEN"] and not resolved["EMPTY"] and not remote_writable:
        raise click.UsageError("--update-token needs --empty, or a remote store with --update-endpoint "
                               "or --graph-store: a build is always served read-only (rebuild it to "
                               "change it).")
    if resolved["EMPTY"]:
        overrides["WORKERS"] = 1

    if not remote and not resolved["EMPTY"]:  # a damaged build: one line and exit 1, no traceback
        from pathlib import Path

        from bjkg.server.stores.integrity import verify_build

        try:
            verify_build(Path(resolved["BUILD_DIR"]))
        except BuildNotFound as exc:
            raise click.ClickException(str(exc)) from None

    if get_path is not None:
        try:
            app = create_app(overrides)
        except (BuildNotFound, RemoteStoreError) as exc:
            raise click.ClickException(str(exc)) from None
        try:
            _get_once(app, get_path)
        finally:
            app.extensions["bjkg"].store.close()
        return

    inline = not remote and (resolved["QUERY_MODE"] == "inline" or (  # a remote store evaluates itself
        resolved["QUERY_MODE"] == "auto" and not resolved["EMPTY"]))
    if inline:  # gunicorn workers are the sandbox (bjkg.server.sparql.inline)
        overrides["QUERY_MODE"] = "inline"
    from bjkg.server.runtime.balanced_worker import BalancedThreadWorker

    processes, threads, connections = sizing(resolved, workers, remote=bool(remote))
    options = {
        "bind": f"{host}:{port}",
        "workers": processes,
        "worker_class": BalancedThreadWorker,
        "threads": threads,
        "worker_connections": connections,
        # the worker must outlive the slowest query it waits for
        "timeout": int(resolved["QUERY_TIMEOUT"]) + 30,
        "graceful_timeout": 10,
        "keepalive": KEEPALIVE_SECONDS,
        "limit_request_line": 8190,  # longer queries must be POSTed
        "accesslog": resolved["ACCESS_LOG"] or None,  # gunicorn's default: none
        "errorlog": "-",
        "proc_name": "bjkg",
        "preload_app": False,
        "control_socket_disable": True,  # gunicorn >= 25.1; several servers may share a home
    }
    if inline:
        options["post_worker_init"] = _remember_worker
        if not resolved["SERVICE_ALLOWLIST"]:
            options["post_fork"] = _isolate_worker
    if remote:  # fail fast, before forking, if the store cannot be served
        from bjkg.server.stores.remote import open_remote

        try:
            open_remote(resolved)
        except (BuildNotFound, RemoteStoreError) as exc:
            raise click.ClickException(str(exc)) from None
    if resolved["EMPTY"]:
        mode = "empty in-memory dataset" + (" (writable with the token)" if resolved["UPDATE_TOKEN"] else "")
    elif remote:
        mode = f"the store at {resolved['SPARQL_ENDPOINT']}" + (
            " (writes passed on with the token)" if resolved["UPDATE_TOKEN"] else " (read-only)")
    else:
        mode = f"build {resolved['BUILD_DIR']} (read-only)"
    if not resolved["EMPTY"] and not resolved.get("SPARQL_ENDPOINT"):
        _prepare_search_index(overrides)
    root = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
    click.echo(f"bjkg: serving {mode} on {root} (SPARQL endpoint: {root}sparql)", err=True)
    BjkgServer(lambda: _warm(create_app(overrides)), options).run()


def _prepare_search_index(overrides: Mapping[str, Any]) -> None:
    """Build the search index and the facet counts once, in a separate process, for every
    HTTP worker to load (bjkg.server.runtime.prepare); on failure each worker builds its own index."""
    import json
    import os
    import subprocess

    env = dict(os.environ)
    settings = {k: v for k, v in overrides.items() if isinstance(v, (str, int, float, bool))}
    try:
        subprocess.run([sys.executable, "-m", "bjkg.server.runtime.prepare", json.dumps(settings)], env=env,
                       check=True, stdout=subprocess.DEVNULL, timeout=3600)
    except (OSError, subprocess.SubprocessError) as exc:
        click.echo(f"bjkg: could not prepare the search index and facets ahead ({exc})",
                   err=True)


KEEPALIVE_SECONDS = 2  # an idle keep-alive connection holds one of a worker's CONNECTIONS


def sizing(resolved: Mapping[str, Any], workers: int | None = None, *,
           remote: bool = False) -> tuple[int, int, int]:
    """(worker processes, threads per worker, connections per worker) for gunicorn, from
    the settings (0 means the default described in bjkg.server.core.settings and the module's doc)."""
    if resolved["EMPTY"]:
        processes = 1
    else:
        processes = workers or resolved["WORKERS"] or default_workers()
    threads = resolved["THREADS"] or (8 if remote else 1)
    connections = max(resolved["CONNECTIONS"] or 4, threads + 1)
    return processes, threads, connections


def default_workers() -> int:
    """HTTP worker processes when WORKERS is 0: one per core, and at least two, so that
    a long query never holds the whole server."""
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(2, cores)


def _warm(app):
    """Do, as the HTTP worker boots, what would otherwise fall on the first requests it
    serves: open the store or start the query workers, load what `bjkg serve` prepared
    for the build (search index, facet counts, string literals, labels), draw the locator
    map and compile every template. A cold worker answered its first few seconds of page
    requests several times slower."""
    store = app.extensions["bjkg"].store
    start = getattr(store, "start", None) or getattr(getattr(store, "pool", None), "start", None)
    if start is not None:
        start()
    if getattr(store, "manifest", None) is not None and not getattr(store, "writable", False):
        from bjkg.server.views.pages import _locator
        from bjkg.server.web.search import index

        load_prepared = getattr(store, "load_prepared", None)
        if load_prepared is not None:
            load_prepared()
        with app.app_context():
            index()
            try:
                _locator()
            except Exception as exc:  # noqa: BLE001 - a place page will draw it, or say why
                click.echo(f"bjkg: the locator map is drawn on first use ({exc})", err=True)
    for name in app.jinja_env.list_templates(filter_func=lambda n: n.endswith(".html")):
        app.jinja_env.get_template(name)
    _settle_heap()
    return app


def _settle_heap() -> None:
    """Collect once, then exempt what the worker holds for good (the search index, the
    label table: a quarter of a million objects) from the cycle collector. A full
    collection walks every tracked object — ≈ 65 ms on the seed graph, a pause for every
    request of the worker — and these objects never become garbage (`gc.freeze`)."""
    import gc

    gc.collect()
    gc.freeze()


def _remember_worker(worker) -> None:
    """gunicorn post_worker_init: the watchdog retires this worker after a runaway query."""
    from bjkg.server.sparql import inline

    inline.set_gunicorn_worker(worker)


def _isolate_worker(server, worker) -> None:
    """gunicorn post_fork: with no SERVICE allowed, an HTTP worker that evaluates queries
    itself moves into an empty network namespace (its listening socket keeps working), as
    the query worker processes do: a query can make no outbound connection."""
    from bjkg.server.sparql.workers import _isolate_network

    _isolate_network()


def _get_once(app, path: str) -> None:
    client = app.test_client()
    response = client.get(path)
    body = response.get_data()
    sys.stdout.buffer.write(body)
    if body and not body.endswith(b"\n"):
        sys.stdout.buffer.write(b"\n")
    sys.stdout.flush()
    if response.status_code >= 400:
        click.echo(f"{response.status}", err=True)
        sys.exit(1)


try:
    from gunicorn.app.base import BaseApplication
except ImportError:  # pragma: no cover - gunicorn is a dependency; keeps --get usable without it
    BaseApplication = object  # type: ignore[assignment,misc]


class BjkgServer(BaseApplication):  # type: ignore[misc]
    """gunicorn, configured in code: `factory` is called in each worker process."""

    def __init__(self, factory, options: Mapping[str, Any]) -> None:
        self.factory = factory
        self.options = dict(options)
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:  # skip options this gunicorn version does not know
                self.cfg.set(key, value)

    def load(self):
        return self.factory()
