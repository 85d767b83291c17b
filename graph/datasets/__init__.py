"""External datasets: the manifest (graph/external.toml, `manifest`), RDF and CSVW readers
(`rdf_input`, `csvw`), and reading each dataset into its own named graph with its links and
SHACL (`read`).

May import `bjkg.graph.vocab`, `terms`, `files` and `validate`; never `records/`, `build`, `load`
or the server. To add a dataset: an entry in graph/external.toml (docs/external.md), or
``bjkg load``.
"""
