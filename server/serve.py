"""Running the server: gunicorn in production, or one in-process request for `--get`.

`run` is what ``bjkg serve`` calls. It serves with gunicorn (threaded workers, started
programmatically through `gunicorn.app.base.BaseApplication`) — never Flask's development
server. Each gunicorn worker calls `create_app`, so each opens the store once and owns its
pool of query worker processes. With ``--get PATH`` it answers one GET in-process through
the test client, prints the body and exits non-zero on an error status (Datasette's --get),
which makes smoke tests and scripts easy.

Sizing for a small (2-core) machine: 1 HTTP worker process × 8 threads, and 3 query worker
processes per HTTP worker; HTTP threads mostly wait on query workers, so threads are cheap.
An in-memory dataset (``--empty``) must be a single process, since memory is not shared.
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
    from server import create_app
    from server.settings import SettingsError, load_settings
    from server.store import BuildNotFound

    overrides = _settings(build_dir, update_token, workers, settings)
    try:
        resolved = load_settings(overrides)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None
    if resolved["UPDATE_TOKEN"] and not resolved["EMPTY"]:
        raise click.UsageError("--update-token needs --empty: a build is always served read-only "
                               "(rebuild it to change it).")
    if resolved["EMPTY"]:
        overrides["WORKERS"] = 1

    if get_path is not None:
        try:
            app = create_app(overrides)
        except BuildNotFound as exc:
            raise click.ClickException(str(exc)) from None
        try:
            _get_once(app, get_path)
        finally:
            app.extensions["bjkg"].store.close()
        return

    options = {
        "bind": f"{host}:{port}",
        "workers": 1 if resolved["EMPTY"] else (workers or resolved["WORKERS"]),
        "worker_class": "gthread",
        "threads": resolved["THREADS"],
        # the worker must outlive the slowest query it waits for
        "timeout": int(resolved["QUERY_TIMEOUT"]) + 30,
        "graceful_timeout": 10,
        "keepalive": 5,
        "limit_request_line": 8190,  # longer queries must be POSTed
        "accesslog": "-",
        "errorlog": "-",
        "proc_name": "bjkg",
        "preload_app": False,
        "control_socket_disable": True,  # gunicorn >= 25.1; several servers may share a home
    }
    if not resolved["EMPTY"]:  # fail fast, before forking, if the build is missing
        from pathlib import Path

        from server.store import load_manifest

        try:
            load_manifest(Path(resolved["BUILD_DIR"]))
        except BuildNotFound as exc:
            raise click.ClickException(str(exc)) from None
    mode = "empty in-memory dataset" + (" (writable with the token)" if resolved["UPDATE_TOKEN"] else "") \
        if resolved["EMPTY"] else f"build {resolved['BUILD_DIR']} (read-only)"
    click.echo(f"bjkg: serving {mode} on http://{host}:{port}/sparql", err=True)
    BjkgServer(lambda: _warm(create_app(overrides)), options).run()


def _warm(app):
    """Start the query workers as the HTTP worker boots, so the first query is not slow."""
    pool = getattr(app.extensions["bjkg"].store, "pool", None)
    if pool is not None:
        pool.start()
    return app


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
