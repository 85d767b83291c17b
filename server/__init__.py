"""bjkg's web server (`bjkg.server`): publishes a built graph over HTTP.

Rooms, top to bottom; each may import only the rooms below it (the import-linter contract in
pyproject.toml enforces this, docs/architecture.md draws it):

- `cli` — the ``bjkg`` command; the one module that may import both `bjkg.graph` and the server.
- `runtime/` — the serving processes: granian and the ASGI front, per-build preparation.
- `app` — `create_app`, the factory: settings → store extension → blueprints.
- `views/` — the Flask blueprints, one per area of the site.
- `web/` — per-app glue over a store: the store extension, response headers, write authorisation.
- `pages/` and `stores/` (independent of each other) — the page model; the store backends.
- `sparql/` — the SPARQL protocol and engine: parsing, text analysis, evaluation, limits.
- `core/` — settings, errors, content negotiation, vocabulary, per-build caches.

This face imports nothing, so importing a room never drags in the others.
"""
