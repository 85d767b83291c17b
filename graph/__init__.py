"""The build (`bjkg.graph`): curated records and external datasets → a checked, reasoned,
validated artifact folder (TriG/N-Quads/JSON-LD dumps, a pyoxigraph store, build.json).

Rooms: `records/` reads and checks the curated YAML and turns it into quads; `datasets/`
reads the external datasets of graph/external.toml; `build` orchestrates both, with
`infer` (OWL-RL), `validate` (SHACL), `cube` (the W3C Data Cube integrity constraints,
shapes/qb-integrity/), `unique` (each triple in one named graph) and `store_load`; `load` adds a dataset and rebuilds;
`query` answers SPARQL over a built store for the command line. `vocab`, `terms` and `files`
are shared by all of them.

Never imports `bjkg.server` (the import-linter contract in pyproject.toml enforces it): the
server reads only what the build wrote.
"""
