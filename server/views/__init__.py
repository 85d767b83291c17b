"""The Flask blueprints, one module per area of the site, each exposing `bp`:
`sparql` (/sparql), `graph_store` (/graph-store), `pages` (entity pages), `search`, `meta`
(home, ontology, dumps, settings), `catalog` (the DCAT-AP/VoID catalogue, named graphs and
their dumps, the published counts); `common` is what their HTML side shares.

May import web/, pages/, stores/, sparql/ and core/; never app, runtime/ or the CLI. To add
an endpoint: a function on the right blueprint (or a new module registered in `app`).
"""
