"""Per-app glue over a store: the store extension (`extension`: opened once per process,
reached through `get_store()`; store errors become HTTP problems here), the response headers
every view shares (CORS, cache validators, security headers) and write authorisation.

May import `pages/`, `stores/`, `sparql/` and `core/`. Views build on it; it never imports
views/, app or runtime/.
"""
