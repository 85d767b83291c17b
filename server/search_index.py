"""Label search in any script or in pinyin, built once per process.

Readers type 數字經濟, 数字经济, `shuzi jingji` or `Tongzhou` and expect the same entities.
Each label is therefore indexed under two keys:

- a *hanzi key*: NFKC, case-folded, Traditional folded to Simplified with OpenCC (`t2s`),
  spaces and punctuation removed — so both scripts meet;
- a *latin key*: the label's tone-less pinyin (pypinyin) for Chinese characters, with
  diacritics stripped and spaces removed — so `shuzi jingji`, `ShuZiJingJi` and `Tōngzhōu`
  meet the Chinese label, and English labels are matched the same way.

Ranking: exact > prefix > substring, then label > altLabel, then shorter label, then IRI,
so results are deterministic. The index is small (one row per label), so a linear scan per
query costs well under a millisecond per thousand labels and needs no extra structure.
"""
from __future__ import annotations

import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

import opencc
from pypinyin import Style, lazy_pinyin

_T2S = opencc.OpenCC("t2s")
_LOCK = threading.Lock()

EXACT, PREFIX, SUBSTRING = 3, 2, 1
MATCH_NAMES = {EXACT: "exact", PREFIX: "prefix", SUBSTRING: "substring"}


def _strip(text: str) -> str:
    """Keep letters and digits only (drops spaces, punctuation and the marks of “五子”)."""
    return "".join(ch for ch in text if ch.isalnum())


def hanzi_key(text: str) -> str:
    """Script-insensitive key: NFKC, casefold, Traditional → Simplified, letters and digits only."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _strip(_T2S.convert(text))


def latin_key(text: str) -> str:
    """Pinyin/latin key: tone-less pinyin for hanzi, diacritics stripped, spaces removed."""
    simplified = _T2S.convert(unicodedata.normalize("NFKC", text))
    syllables = lazy_pinyin(simplified, style=Style.NORMAL, errors="default")
    decomposed = unicodedata.normalize("NFKD", "".join(syllables))
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _strip(plain.casefold().replace("ü", "v"))


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


def _match(query: str, key: str) -> int:
    """EXACT, PREFIX, SUBSTRING or 0."""
    if not query or not key:
        return 0
    if key == query:
        return EXACT
    if key.startswith(query):
        return PREFIX
    if query in key:
        return SUBSTRING
    return 0


class SearchIndex:
    """An immutable list of label entries with a ranked lookup."""

    def __init__(self, labels: Iterable[tuple[str, str, str, bool]]) -> None:
        """labels: (iri, text, language tag, is_alt) rows, e.g. from rdfs:label and skos:altLabel."""
        entries = []
        seen = set()
        for iri, text, lang, is_alt in labels:
            if (iri, text, is_alt) in seen or not text.strip():
                continue
            seen.add((iri, text, is_alt))
            entries.append(Entry(iri, text, lang, is_alt, hanzi_key(text), latin_key(text)))
        self.entries: tuple[Entry, ...] = tuple(entries)

    def __len__(self) -> int:
        return len(self.entries)

    def search(self, query: str, limit: int = 50) -> list[Hit]:
        """Resources whose labels match `query`, best first, at most `limit`."""
        qh = hanzi_key(query)
        # A query typed in hanzi matches hanzi only: its pinyin would also find homophones.
        ql = "" if _has_hanzi(query) else latin_key(query)
        if not qh and not ql:
            return []
        best: dict[str, Hit] = {}
        for entry in self.entries:
            score = max(_match(qh, entry.hanzi), _match(ql, entry.latin))
            if not score:
                continue
            rank = (-score, entry.is_alt, len(entry.text), entry.iri, entry.text)
            current = best.get(entry.iri)
            if current is None or rank < current.rank:
                best[entry.iri] = Hit(entry.iri, entry.text, entry.lang, entry.is_alt, score, rank)
        return sorted(best.values(), key=lambda h: h.rank)[:limit]


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
