"""Curated records: read the YAML under graph/ (`yamlsrc`, `catalog`), check quotes against
the corpus (`quotes`, `textnorm`), read numbers (`numbers`), derive labels (`labels`), and
generate the curated quads (`rdfgen`).

May import `bjkg.graph.vocab`, `terms` and `files`; never `build`, `datasets/` or the server.
To add a source: a YAML file in graph/sources/ (docs/records.md); code changes only for a new
kind of record. ``python -m bjkg.graph.records check`` checks records and quotes.
"""
