"""Simplified → Traditional text for pages in 繁體, with the conversions prepared per build.

A page in 繁體 shows, for a resource that has no Traditional label (the external
datasets' divisions, which only the Simplified source names), its Simplified label
converted by OpenCC (`s2t`). OpenCC's `s2t` converter holds its phrase dictionaries in
memory: making it grew an HTTP process by ≈ 21–27 MB, for as long as the process lives,
at the first such page — and every HTTP process of the server makes its own.

So `bjkg serve`'s preparation (one short-lived process) converts the texts a page of the
build can need converted — the labels of resources without a Traditional one, the
Simplified titles of the external datasets — and every HTTP process keeps the result as
`Conversions`: two packed string columns (≈ 50 KB for 3,500 labels) looked up by
bisection. `to_traditional` answers from the conversions it was given (`remember`) and
makes the OpenCC converter only for a text they do not hold (a remote store's labels, a
page asked before the preparation ended), so the answer is OpenCC's either way: the
conversion of a text depends on the text alone, never on the build that holds it.
"""
from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from bjkg.server.core.packed import Packed

# the language tags read as Traditional Chinese (lower case): pages show them as zh-Hant
# (bjkg.server.pages.labels), and the preparation converts no label of an IRI that has one
_TRADITIONAL_TAGS = frozenset({"zh-hant", "zh-tw", "zh-hk", "zh-mo", "zh-hant-tw", "zh-hant-hk"})


class Conversions:
    """Texts and their Traditional form: `texts` sorted (a `Packed` column) and, in the
    same order, `converted`, where an empty string means the text is its own conversion."""

    __slots__ = ("texts", "converted")

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        ordered = sorted(dict(pairs).items())
        self.texts = Packed(text for text, _ in ordered)
        self.converted = Packed("" if same == text else same for text, same in ordered)

    def __len__(self) -> int:
        return len(self.texts)

    def get(self, text: str) -> str | None:
        """The Traditional form of `text`, or None when the table does not hold it."""
        number = self.texts.find(text)
        if number < 0:
            return None
        return self.converted[number] or text

    def __getstate__(self):
        return self.texts, self.converted

    def __setstate__(self, state) -> None:
        self.texts, self.converted = state


def is_traditional_tag(tag: str) -> bool:
    """Whether a language tag is read as Traditional Chinese (zh-Hant, zh-TW, zh-HK, zh-MO …)."""
    return tag.lower() in _TRADITIONAL_TAGS


def has_han(text: str) -> bool:
    """Whether `text` holds a CJK ideograph (the only characters `s2t` changes)."""
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def convert_all(texts: Iterable[str]) -> Conversions:
    """The conversions of `texts` (those holding a CJK ideograph), by OpenCC: for the
    preparation, never an HTTP process."""
    converter = _s2t()
    return Conversions((text, converter.convert(text)) for text in set(texts) if has_han(text))


_remembered: list[Conversions] = []  # the conversions of the build this process serves (one at most)


def remember(conversions: Conversions | None) -> None:
    """Answer `to_traditional` from `conversions` from now on (the last build's: a process
    serves one build; any build's are correct for any text)."""
    if conversions is not None:
        _remembered[:] = [conversions]


@lru_cache(maxsize=1)
def _s2t():
    """OpenCC's Simplified → Traditional converter (≈ 25 MB: made once per process, and
    only for a text the prepared conversions do not hold)."""
    import opencc  # the build's dependency too; imported on first use only

    return opencc.OpenCC("s2t")


@lru_cache(maxsize=4096)
def to_traditional(text: str) -> str:
    """`text` in Traditional characters (OpenCC `s2t`), from the prepared conversions when
    they hold it."""
    for conversions in _remembered:
        found = conversions.get(text)
        if found is not None:
            return found
    return _s2t().convert(text)
