"""The serving processes: `serve` runs granian (or one in-process request for ``--get``),
`front` is the ASGI front before the Flask app (whole requests, two thread lanes, hang-up
detection), `lane` answers SPARQL queries on the front's event loop without Flask's request
cycle, `prepare` computes per-build data before the HTTP workers start.

May import every room below it (app, views, web, pages, stores, sparql, core); only the CLI
imports it.
"""
