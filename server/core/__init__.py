"""Core: the settings table, errors as values, content negotiation, the vocabulary, per-build caches (and `packed`, the string columns they keep), Simplified → Traditional text (`traditional`).

The bottom room of the server: it imports no other room of `bjkg.server` (and nothing of
`bjkg.graph`); every other room may import it. No Flask at module level, so the SPARQL
worker processes can use it cheaply.
"""
