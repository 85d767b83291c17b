"""The labels of a build, prepared once: IRI → its rdfs:label and skos:prefLabel literals.

An entity page shows a label for everything it links to — a hundred IRIs on a place's
page. Read from the store, each IRI's labels cost a seek and the decoding of its quads
(≈ 15 µs, whatever the store's size), ≈ 1.5 ms of the page. A build never changes while
it is served, so `bjkg serve` reads every label once (`prepare`, ≈ 1 s at 1M triples,
≈ 6 MB per worker for 70,000 labels, `_Labels`) and the page reads (`bjkg.server.stores.page_reads`) look them up
in a dict instead. The table holds what the store holds — the literals of IRI subjects,
each once however many graphs hold it — so a page is the same with or without it
(tests/server/test_page_data.py). It also holds the Traditional form of the labels a page
in 繁體 converts (`convertible`) and of the build's Simplified-only titles, so that no HTTP
process makes OpenCC's converter for them (bjkg.server.core.traditional).
"""
from __future__ import annotations

import functools
from array import array

from collections.abc import Iterable, Iterator

from bjkg.server.core import prepared, traditional
from bjkg.server.core import vocab as V
from bjkg.server.core.packed import Packed

FORMAT = 6  # 6: with the conversions to Traditional; 5: labels packed into columns (`_Labels`)
_RECENT = 4096  # IRIs whose labels an HTTP process keeps as tuples (≈ 2 MB at most)

# A label as plain data: (text, language tag as the store gives it, "" for a literal
# without one). A page only shows a label's text in a language, so two literals that differ
# in datatype alone are one label.
Label = tuple[str, str]


class _Labels:
    """One predicate's labels per IRI, in columns: the IRI's row (a dict, looked up a hundred
    times a page), where its labels start in `texts` (one string with every label, as the
    search index keeps them: `bjkg.server.core.packed.Packed`) and each label's tag as
    a number into `tags`. At 1M triples (22,680 IRIs, 70,000 labels) ≈ 6 MB in each HTTP
    process where a tuple per label and per IRI took ≈ 19 MB."""

    __slots__ = ("rows", "first", "texts", "langs", "tags")

    def __init__(self, labels: dict[str, tuple[Label, ...]]) -> None:
        tags: dict[str, int] = {}
        first, langs, texts = array("I", [0]), array("H"), []
        for found in labels.values():
            for text, tag in found:
                texts.append(text)
                langs.append(tags.setdefault(tag, len(tags)))
            first.append(len(texts))
        self.rows = {iri: row for row, iri in enumerate(labels)}
        self.first, self.langs, self.texts = first, langs, Packed(texts)
        self.tags = tuple(tags)

    def __iter__(self):
        return iter(self.rows)

    def get(self, iri: str) -> tuple[Label, ...]:
        row = self.rows.get(iri)
        if row is None:
            return ()
        text, starts, langs, tags = self.texts.text, self.texts.starts, self.langs, self.tags
        return tuple([(text[starts[n]:starts[n + 1]], tags[langs[n]])
                      for n in range(self.first[row], self.first[row + 1])])

    def __getstate__(self):
        return self.rows, self.first, self.texts, self.langs, self.tags

    def __setstate__(self, state) -> None:
        self.rows, self.first, self.texts, self.langs, self.tags = state


class LabelTable:
    """rdfs:label and skos:prefLabel texts per IRI subject. The last _RECENT IRIs' labels
    are kept as tuples (an LRU cache): a page asks for the labels of the same predicates,
    types, places and agencies as the pages before it, and building them from the columns
    cost ≈ 2 µs an IRI (a place's page asks for 136) where a cached answer costs ≈ 0.2."""

    def __init__(self, rdfs: dict[str, tuple[Label, ...]], pref: dict[str, tuple[Label, ...]],
                 conversions: traditional.Conversions | None = None) -> None:
        self.rdfs = _Labels(rdfs)
        self.pref = _Labels(pref)
        # the Traditional form of every label a page in 繁體 may show converted (`convertible`)
        self.conversions = conversions
        self._recent = functools.lru_cache(maxsize=_RECENT)(self._labels)

    def labels(self, iri: str, *, pref: bool) -> tuple[Label, ...]:
        """The IRI's labels: rdfs:label, then skos:prefLabel when `pref`, each once."""
        return self._recent(iri, pref)

    def _labels(self, iri: str, pref: bool) -> tuple[Label, ...]:
        found = self.rdfs.get(iri)
        if pref and iri in self.pref.rows:
            found = tuple(dict.fromkeys(found + self.pref.get(iri)))
        return found

    def __getstate__(self):
        return self.rdfs, self.pref, self.conversions

    def __setstate__(self, state) -> None:
        self.rdfs, self.pref, self.conversions = state
        self._recent = functools.lru_cache(maxsize=_RECENT)(self._labels)


def _labels(store, predicate: str) -> dict[str, tuple[Label, ...]]:
    from pyoxigraph import Literal, NamedNode

    found: dict[str, dict[Label, None]] = {}
    for quad in store.quads_for_pattern(None, NamedNode(predicate), None, None):
        subject, obj = quad.subject, quad.object
        if isinstance(subject, NamedNode) and isinstance(obj, Literal):
            found.setdefault(subject.value, {})[(obj.value, obj.language or "")] = None
    return {iri: tuple(labels) for iri, labels in found.items()}


def convertible(rdfs: dict[str, tuple[Label, ...]], pref: dict[str, tuple[Label, ...]]) -> Iterator[str]:
    """The label texts a page in 繁體 may show converted to Traditional: those of an IRI
    without a label in Traditional, among its rdfs:labels alone (a page that does not
    read skos:prefLabel) or with its skos:prefLabels."""
    for iri in rdfs.keys() | pref.keys():
        own = rdfs.get(iri, ())
        for labels in (own, own + pref.get(iri, ())):
            if not any(traditional.is_traditional_tag(tag) for _, tag in labels):
                yield from (text for text, _ in labels)


def compute(store, titles: Iterable[str] = ()) -> LabelTable:
    """Every label of `store` (a pyoxigraph Store), in any graph, with the Traditional form
    of those a page may convert and of `titles` (the build's Simplified-only titles)."""
    rdfs, pref = _labels(store, V.RDFS_LABEL), _labels(store, V.SKOS_PREF)
    conversions = traditional.convert_all([*convertible(rdfs, pref), *titles])
    return LabelTable(rdfs, pref, conversions)


KIND = prepared.Kind("labels", FORMAT, LabelTable, compute)


def load(cache_dir, build_hash: str) -> LabelTable | None:
    """The build's LabelTable as `prepare` wrote it, or None; its conversions answer
    `bjkg.server.core.traditional.to_traditional` in this process from now on."""
    table = KIND.load(cache_dir, build_hash)
    if table is not None:
        traditional.remember(table.conversions)
    return table


def prepare(store_path: str, cache_dir, build_hash: str, titles: Iterable[str] = ()):
    """Compute and write the build's LabelTable (once per build hash); None if not writable."""
    import pyoxigraph as ox

    return prepared.prepare(KIND.path(cache_dir, build_hash),
                            lambda: compute(ox.Store.read_only(store_path), titles))
