"""The serving processes: `serve` runs gunicorn (or one in-process request for ``--get``),
`balanced_worker` is its worker class, `prepare` computes per-build data before the HTTP
workers start.

May import every room below it (app, views, web, pages, stores, sparql, core); only the CLI
imports it.
"""
