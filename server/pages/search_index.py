"""Label search in any script or in pinyin, built once per process.

Readers type 數字經濟, 数字经济, `shuzi jingji` or `Tongzhou` and expect the same entities.
Each label is therefore indexed under two keys:

- a *hanzi key*: NFKC, case-folded, Traditional folded to Simplified with OpenCC (`t2s`),
  spaces and punctuation removed — so both scripts meet;
- a *latin key*: the label's tone-less pinyin (pypinyin) for Chinese characters, with
  ü as v (as pypinyin writes it), diacritics stripped and spaces removed — so `shuzi jingji`, `ShuZiJingJi` and `Tōngzhōu`
  meet the Chinese label, and English labels are matched the same way.

A query of several words (`北京 通州`, `北京，通州`, `通州 2024`, `digital economy Tongzhou`;
split at spaces and punctuation, `split_words`) also finds,
after the labels holding it as one phrase, each resource whose labels hold every word, in
any order and any of its labels (match "terms"), as a full-text search would.

Ranking: exact > prefix > substring > every word (a label holding more of them first), then
label > altLabel, then shorter label, then IRI, so results are deterministic. Each kind of
key is also kept packed into one string, one key per line (`_PackedKeys`): a query is found
with `str.find`, which scans in C, and only the labels it occurs in are looked at in Python
(1M triples: ≈24 → ≈2 ms for a query found in few labels). The answers are those of
comparing the query with every key.
"""
from __future__ import annotations

import heapq
import re
import threading
import unicodedata
from array import array
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field

import opencc

from bjkg.server.core.packed import Packed

_T2S = opencc.OpenCC("t2s")
_LOCK = threading.Lock()

EXACT, PREFIX, SUBSTRING, TERMS = 3, 2, 1, 0
MATCH_NAMES = {EXACT: "exact", PREFIX: "prefix", SUBSTRING: "substring", TERMS: "terms"}
MAX_TERMS = 8  # words of a query matched one by one (`SearchIndex._by_terms`)
MAX_QUERY_CHARS = 200  # characters of a search query (longer: 400 at /search; the form's maxlength)


def _strip(text: str) -> str:
    """Keep letters and digits only (drops spaces, punctuation and the marks of “五子”)."""
    return "".join(ch for ch in text if ch.isalnum())


def hanzi_key(text: str) -> str:
    """Script-insensitive key: NFKC, casefold, Traditional → Simplified, letters and digits only."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _strip(_T2S.convert(text))


# The graph's English labels are mostly in British spelling ("Beijing Municipal
# Administrative Centre", "digitalisation"), a few (W3C vocabularies' classes) in American
# ("Organization"), and readers type either: a latin key is also looked for in the other
# spelling of these endings, so `sub-center` finds the city sub-centre. The index keeps
# each label's own spelling, so every prefix of it still matches ("organis", "organiza").
# Only spellings no other word shares: "labor" also begins "laboratory", "license" is also
# the British verb, and "program" finds "programme" as a prefix already.
_SPELLINGS = (("center", "centre"), ("ization", "isation"), ("izing", "ising"), ("ized", "ised"))
_TO_UK = re.compile("|".join(us for us, _ in _SPELLINGS))
_TO_US = re.compile("|".join(uk for _, uk in _SPELLINGS))
_SWAP = {**dict(_SPELLINGS), **{uk: us for us, uk in _SPELLINGS}}


def other_spellings(key: str) -> tuple[str, ...]:
    """`key` (a latin key) with its American endings in British spelling, and with its
    British ones in American, where that changes it."""
    swap = lambda match: _SWAP[match.group()]  # noqa: E731
    return tuple(dict.fromkeys(variant for variant in (_TO_UK.sub(swap, key), _TO_US.sub(swap, key))
                               if variant != key))


_FIRST_CJK = "\u2e80"  # CJK radicals; pypinyin converts no character below it


def _pinyin(text: str) -> str:
    """Tone-less pinyin of the hanzi in `text`, other characters as they are.

    pypinyin is imported here, not with the module: its dictionaries take ≈58 MB in
    each process that imports it, and a process that only answers searches typed in
    hanzi or in latin letters (every HTTP worker) never needs them. A text with no
    character from U+2E80 on (the first CJK block) is its own pinyin."""
    if max(text, default="") < _FIRST_CJK:
        return text
    from pypinyin import Style, lazy_pinyin

    return "".join(lazy_pinyin(text, style=Style.NORMAL, errors="default"))


# pypinyin writes ü as v (吕梁 → lvliang, 绿色 → lvse), as pinyin keyboards take it. NFKD
# would split ü into u + a combining mark and the mark is dropped, so ü (with or without
# a tone) becomes v first; otherwise `Lüliang` would read as luliang (陆良).
_U_UMLAUT = str.maketrans(dict.fromkeys("üÜǖǘǚǜǕǗǙǛ", "v"))


def latin_key(text: str) -> str:
    """Pinyin/latin key: tone-less pinyin for hanzi, ü as v, diacritics stripped, spaces removed."""
    simplified = _T2S.convert(unicodedata.normalize("NFKC", text))
    decomposed = unicodedata.normalize("NFKD", _pinyin(simplified).translate(_U_UMLAUT))
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _strip(plain.casefold())


@dataclass(frozen=True, slots=True)
class Entry:
    """One label of one resource, with its precomputed keys."""

    iri: str
    text: str
    lang: str
    is_alt: bool
    hanzi: str
    latin: str


@dataclass
class Hit:
    """The best-matching label of one resource for one query."""

    iri: str
    text: str
    lang: str
    is_alt: bool
    match: int
    rank: tuple = field(repr=False, default=())


def _has_hanzi(text: str) -> bool:
    """True when the text holds a CJK ideograph (then it is matched by characters, not sound)."""
    return any("\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" for ch in text)


class _PackedKeys:
    """Keys joined by newlines (a key holds letters and digits only, never a newline),
    and where each starts: the occurrences of a query are found by `str.find` over the
    whole text, and those at a key's start by finding newline + query."""

    def __init__(self, keys: list[str]) -> None:
        self.text = "\n" + "\n".join(keys) + "\n"
        starts, at = array("q"), 1
        for key in keys:
            starts.append(at)
            at += len(key) + 1
        starts.append(at)  # one past the last key's newline
        self.starts = starts

    def key(self, number: int) -> str:
        return self.text[self.starts[number]:self.starts[number + 1] - 1]

    def matches(self, query: str, *, prefixes_only: bool = False):
        """(key number, EXACT/PREFIX/SUBSTRING) for every key `query` occurs in (or, with
        `prefixes_only`, starts with), in key order. The search resumes at the next key's
        start, so each key is reported once, for its leftmost occurrence (at its start if
        it is a prefix)."""
        if not query or "\n" in query:
            return
        find, starts, size = self.text.find, self.starts, len(query)
        needle, shift = ("\n" + query, 1) if prefixes_only else (query, 0)
        last = len(starts) - 1
        position = find(needle)
        while position >= 0:
            position += shift
            number = bisect_right(starts, position) - 1
            start, end = starts[number], starts[number + 1] - 1  # end: the key's newline
            if position != start:
                yield number, SUBSTRING
            else:
                yield number, EXACT if end - start == size else PREFIX
            if number + 1 >= last:
                return
            position = find(needle, starts[number + 1] - shift)


def _breaks(text: str, at: int) -> bool:
    """True when text[at] separates words: white space, or punctuation (any Unicode P*
    category: `，、；「」` as well as `,;/`) other than a point or comma inside a number."""
    ch = text[at]
    if ch.isspace():
        return True
    if not unicodedata.category(ch).startswith("P"):
        return False
    inside_number = 0 < at < len(text) - 1 and text[at - 1].isdigit() and text[at + 1].isdigit()
    return not inside_number


def split_words(query: str) -> list[str]:
    """The words of a query: readers list them with spaces or with punctuation, Chinese
    (`北京，通州`, `北京、通州`) or Latin (`北京,通州`). NFKC first, so full-width forms
    read as their ASCII twins."""
    text = unicodedata.normalize("NFKC", query)
    marked = "".join(" " if _breaks(text, at) else ch for at, ch in enumerate(text))
    return marked.split()


def _first(item: tuple):
    return item[0]


class SearchIndex:
    """An immutable table of labels, one row per (resource, text, language, kind), with a
    ranked lookup. The rows are kept in columns (`Packed`, arrays), ordered by IRI: a
    resource's labels are one run of rows, and an IRI's position orders as the IRI does."""

    def __init__(self, labels: Iterable[tuple[str, str, str, bool]]) -> None:
        """labels: (iri, text, language tag, is_alt) rows, e.g. from rdfs:label and skos:altLabel."""
        rows = dict.fromkeys(row for row in labels if row[1].strip())  # each once, in order
        rows = sorted(rows, key=_first)  # by IRI, stable
        iris = list(dict.fromkeys(row[0] for row in rows))
        self._iris = Packed(iris)
        number = {iri: n for n, iri in enumerate(iris)}
        self._iri_of = array("I", (number[row[0]] for row in rows))
        first = array("I", [0] * (len(iris) + 1))  # rows of IRI n: first[n] to first[n + 1]
        for n in self._iri_of:
            first[n + 1] += 1
        for n in range(len(iris)):
            first[n + 1] += first[n]
        self._first = first
        self._texts = Packed(row[1] for row in rows)
        self._lang_names = tuple(sorted({row[2] for row in rows}))
        code = {lang: n for n, lang in enumerate(self._lang_names)}
        self._langs = array("H", (code[row[2]] for row in rows))
        self._alt = bytes(bool(row[3]) for row in rows)
        keys: dict[str, tuple[str, str]] = {}
        for row in rows:
            if row[1] not in keys:
                keys[row[1]] = (hanzi_key(row[1]), latin_key(row[1]))
        self._hanzi = _PackedKeys([keys[row[1]][0] for row in rows])
        self._latin = _PackedKeys([keys[row[1]][1] for row in rows])

    def __len__(self) -> int:
        return len(self._texts)

    @property
    def entries(self) -> list[Entry]:
        """Every row as an `Entry` (made on demand: tests and tools, not searches)."""
        hanzi, latin = self._hanzi, self._latin
        return [Entry(self._iris[self._iri_of[n]], self._texts[n], self._lang_names[self._langs[n]],
                      bool(self._alt[n]), hanzi.key(n), latin.key(n)) for n in range(len(self))]

    def labels_of(self, iri: str, *, alt: bool = False) -> list[tuple[str, str]]:
        """(text, language tag) of each label of `iri` (its skos:altLabels with `alt`)."""
        number = self._iris.find(iri)
        if number < 0:
            return []
        return [(self._texts[n], self._lang_names[self._langs[n]])
                for n in range(self._first[number], self._first[number + 1]) if bool(self._alt[n]) == alt]

    def search(self, query: str, limit: int = 50) -> list[Hit]:
        """Resources whose labels match `query`, best first, at most `limit`."""
        qh = hanzi_key(query)
        # A query typed in hanzi matches hanzi only: its pinyin would also find homophones.
        ql = "" if _has_hanzi(query) else latin_key(query)
        if not qh and not ql:
            return []
        iri_of, alt, texts = self._iri_of, self._alt, self._texts
        keys = ((self._hanzi, qh), (self._latin, ql), *((self._latin, other) for other in other_spellings(ql)))
        # Labels that start with the query first: if they name `limit` resources, no
        # resource found only inside a label can rank among the first `limit`.
        scores: dict[int, int] = {}
        for prefixes_only in (True, False):
            for packed, key in keys:
                for number, score in packed.matches(key, prefixes_only=prefixes_only):
                    if score > scores.get(number, 0):
                        scores[number] = score
            if prefixes_only and len({iri_of[n] for n in scores}) >= limit:
                break
        best: dict[int, tuple] = {}
        for number, score in scores.items():
            resource = iri_of[number]
            # a resource's position orders as its IRI does
            rank = (-score, alt[number], texts.length(number), resource, texts[number])
            current = best.get(resource)
            if current is None or rank < current[0]:
                best[resource] = (rank, number, score)
        if len(best) < limit:
            for resource, (number, words) in self._by_terms(query, best).items():
                # after every phrase match (-1 and below); a label holding more words first
                first = -(TERMS + words / (MAX_TERMS + 1))
                best[resource] = ((first, alt[number], texts.length(number), resource, texts[number]),
                                  number, TERMS)
        hits = []
        for rank, number, score in heapq.nsmallest(limit, best.values(), key=_first):
            iri = self._iris[iri_of[number]]
            hits.append(Hit(iri, rank[4], self._lang_names[self._langs[number]], bool(alt[number]), score,
                            (rank[0], rank[1], rank[2], iri, rank[4])))
        return hits

    def _by_terms(self, query: str, found: dict) -> dict[int, tuple[int, int]]:
        """Resources not in `found` whose labels hold every word of `query` (two to
        MAX_TERMS words, `split_words`), each with the label that holds the most
        words (then a label before an altLabel, then the shorter) and how many it holds.

        Only the labels holding the rarest word are found by scanning (`str.count` ranks
        the words); the other words are looked for in the labels of those resources."""
        words = []  # each word's hanzi key and its latin keys (in either spelling: `other_spellings`)
        for word in dict.fromkeys(split_words(query)):
            qh, ql = hanzi_key(word), "" if _has_hanzi(word) else latin_key(word)
            if qh or ql:
                words.append((qh, (ql, *other_spellings(ql)) if ql else ()))
        if not 2 <= len(words) <= MAX_TERMS:
            return {}
        hanzi, latin, iri_of, first = self._hanzi, self._latin, self._iri_of, self._first

        def occurrences(word: tuple[str, tuple[str, ...]]) -> int:
            return (hanzi.text.count(word[0]) if word[0] else 0) + sum(latin.text.count(ql) for ql in word[1])

        def holds(word: tuple[str, tuple[str, ...]], kh: str, kl: str) -> bool:
            return bool(word[0] and word[0] in kh) or any(ql in kl for ql in word[1])

        words.sort(key=occurrences)  # the rarest first: a resource without it is left at once
        resources = {iri_of[number] for packed, key in ((hanzi, words[0][0]), *((latin, ql) for ql in words[0][1]))
                     for number, _ in packed.matches(key)}
        chosen: dict[int, tuple[int, int]] = {}
        for resource in resources.difference(found):
            rows = range(first[resource], first[resource + 1])
            keys = [(hanzi.key(n), latin.key(n)) for n in rows]
            if not all(any(holds(word, kh, kl) for kh, kl in keys) for word in words[1:]):
                continue
            held = [sum(1 for word in words if holds(word, kh, kl)) for kh, kl in keys]
            number = min((n for n, count in zip(rows, held) if count),
                         key=lambda n: (-held[n - rows.start], self._alt[n], self._texts.length(n), self._texts[n]))
            chosen[resource] = (number, held[number - rows.start])
        return chosen


def get_index(holder: dict, key: str, build) -> SearchIndex:
    """The index stored in `holder[key]`, built by `build()` on first use (once per process)."""
    index = holder.get(key)
    if index is None:
        with _LOCK:
            index = holder.get(key)
            if index is None:
                index = build()
                holder[key] = index
    return index
