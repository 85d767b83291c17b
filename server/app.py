"""bjkg's web server: the app factory.

`create_app(config)` builds a Flask app from the settings table (`server.settings`):
defaults, then ``BJKG_*`` environment variables, then `config`. Nothing is opened at import
time; `server.extension.init_app` opens the store for this process, and the blueprints are
registered: ``sparql`` (/sparql), ``graph_store`` (/graph-store), ``pages`` (entity pages),
``search`` and ``meta`` (home, ontology, VoID, settings). Errors of every kind go through one
handler (`server.errors`); CORS and cache validators are added in one place
(`server.headers`).

Public API for the views: `get_store()` and `get_manifest()` (the store and build.json of
the current app), `server.conneg` for negotiation, `server.errors` for problems.

Importing this package stays cheap (no Flask) because query worker processes import
`server.evaluate` through it.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

    from server.store import Backend

__all__ = ["create_app", "get_store", "get_manifest"]


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Create the app; `config` overrides settings by name (and may carry Flask keys, e.g. TESTING)."""
    from flask import Flask

    from server import errors, extension, headers
    from server.settings import load_settings
    from server.views import graph_store, meta, pages, search, sparql
    from server.views.common import template_globals

    app = Flask(__name__)
    app.config.update(load_settings(config))
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_BODY_BYTES"]
    app.json.ensure_ascii = False

    errors.init_app(app)
    extension.init_app(app)
    headers.init_app(app)

    for module in (sparql, graph_store, pages, search, meta):
        app.register_blueprint(module.bp)
    app.context_processor(template_globals)  # once per app: it runs for every page
    return app


def get_store(app: Flask | None = None) -> Backend:
    """The current app's store backend (`server.store.Backend`)."""
    from server.extension import get_store as _get_store

    return _get_store(app)


def get_manifest(app: Flask | None = None) -> dict[str, Any] | None:
    """The current app's build.json (None when serving --empty)."""
    from server.extension import get_manifest as _get_manifest

    return _get_manifest(app)
