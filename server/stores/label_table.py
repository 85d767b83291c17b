"""The labels of a build, prepared once: IRI → its rdfs:label and skos:prefLabel literals.

An entity page shows a label for everything it links to — a hundred IRIs on a place's
page. Read from the store, each IRI's labels cost a seek and the decoding of its quads
(≈ 15 µs, whatever the store's size), ≈ 1.5 ms of the page. A build never changes while
it is served, so `bjkg serve` reads every label once (`prepare`, ≈ 1 s at 1M triples,
≈ 16 MB per worker for 77,000 labels) and the page reads (`bjkg.server.stores.page_reads`) look them up
in a dict instead. The table holds what the store holds — the literals of IRI subjects,
each once however many graphs hold it — so a page is the same with or without it
(tests/server/test_page_data.py).
"""
from __future__ import annotations

import sys

from bjkg.server.core import prepared
from bjkg.server.core import vocab as V

FORMAT = 3  # 3: language tags interned (one string per tag, not one per label)

# A label as plain data, unpickled ten times faster and in half the memory of pyoxigraph
# terms: (text, language tag as the store gives it, "" for a literal without one). A page
# only shows a label's text in a language, so two literals that differ in datatype alone
# are one label.
Label = tuple[str, str]


class LabelTable:
    """rdfs:label and skos:prefLabel texts per IRI subject."""

    def __init__(self, rdfs: dict[str, tuple[Label, ...]], pref: dict[str, tuple[Label, ...]]) -> None:
        self.rdfs = rdfs
        self.pref = pref

    def labels(self, iri: str, *, pref: bool) -> tuple[Label, ...]:
        """The IRI's labels: rdfs:label, then skos:prefLabel when `pref`, each once."""
        found = self.rdfs.get(iri, ())
        if pref and iri in self.pref:
            found = tuple(dict.fromkeys(found + self.pref[iri]))
        return found


def _labels(store, predicate: str) -> dict[str, tuple[Label, ...]]:
    from pyoxigraph import Literal, NamedNode

    found: dict[str, dict[Label, None]] = {}
    for quad in store.quads_for_pattern(None, NamedNode(predicate), None, None):
        subject, obj = quad.subject, quad.object
        if isinstance(subject, NamedNode) and isinstance(obj, Literal):
            # one string per language tag, which pickle then writes once: a tag per label
            # took ≈ 5.6 MB of each HTTP process's 21.7 MB table at 1M triples (76,601 labels)
            found.setdefault(subject.value, {})[(obj.value, sys.intern(obj.language or ""))] = None
    return {iri: tuple(labels) for iri, labels in found.items()}


def compute(store) -> LabelTable:
    """Every label of `store` (a pyoxigraph Store), in any graph."""
    return LabelTable(_labels(store, V.RDFS_LABEL), _labels(store, V.SKOS_PREF))


KIND = prepared.Kind("labels", FORMAT, LabelTable, compute)
load = KIND.load  # (cache_dir, build hash) → the build's LabelTable, or None
prepare = KIND.prepare  # (store path, cache_dir, build hash): computed once per build
