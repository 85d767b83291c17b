"""The app factory: `create_app(config)`.

`create_app(config)` builds a Flask app from the settings table (`bjkg.server.core.settings`):
defaults, then ``BJKG_*`` environment variables, then `config`. Nothing is opened at import
time; `bjkg.server.web.extension.init_app` opens the store for this process, and the blueprints are
registered: ``sparql`` (/sparql), ``graph_store`` (/graph-store), ``pages`` (entity pages),
``search`` and ``meta`` (home, ontology, VoID, settings). Errors of every kind go through one
handler (`bjkg.server.web.problems`); CORS and cache validators are added in one place
(`bjkg.server.web.headers`).

`get_store()` and `get_manifest()` give the store and build.json of an app (for callers
above the views, e.g. tests and the runtime; views use `bjkg.server.web.extension`).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

    from bjkg.server.stores.embedded import Backend

__all__ = ["create_app", "get_store", "get_manifest"]


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Create the app; `config` overrides settings by name (and may carry Flask keys, e.g. TESTING)."""
    from flask import Flask

    from bjkg.server.core.settings import load_settings
    from bjkg.server.web import extension, headers, problems
    from bjkg.server.views import catalog, graph_store, meta, pages, search, sparql
    from bjkg.server.views.common import template_globals

    app = Flask(__name__)
    app.config.update(load_settings(config))
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_BODY_BYTES"]
    app.json.ensure_ascii = False

    problems.init_app(app)
    extension.init_app(app)
    headers.init_app(app)

    for module in (sparql, graph_store, pages, search, meta, catalog):
        app.register_blueprint(module.bp)
    app.context_processor(template_globals)  # once per app: it runs for every page
    return app


def get_store(app: Flask | None = None) -> Backend:
    """The current app's store backend (`bjkg.server.stores.embedded.Backend`)."""
    from bjkg.server.web.extension import get_store as _get_store

    return _get_store(app)


def get_manifest(app: Flask | None = None) -> dict[str, Any] | None:
    """The current app's build.json (None when serving --empty)."""
    from bjkg.server.web.extension import get_manifest as _get_manifest

    return _get_manifest(app)
