"""Labels in three scripts and pinyin, derived from the one curated Chinese label.

Curators write each Chinese name once, in Simplified script; Traditional comes from
OpenCC (s2t), corrected by `graph/reference/script-overrides.yaml`; pinyin from pypinyin.
"""
from __future__ import annotations

from pypinyin import Style, lazy_pinyin

from bjkg.graph.records.textnorm import to_simplified, to_traditional

_PLACE_SUFFIXES = ("新区", "区", "县", "市", "省")


def traditional(zh: str, overrides: dict[str, str]) -> str:
    """The Traditional form of a Simplified label, with curated exceptions.

    An override whose key is the whole label (Simplified or converted) replaces it; any
    other override is a wrong → right replacement of a word inside the converted label
    (OpenCC over-converts 注重 to 註重 wherever it stands).
    """
    if zh in overrides:
        return overrides[zh]
    converted = to_traditional(zh)
    if converted in overrides:
        return overrides[converted]
    for wrong, right in overrides.items():
        if wrong in converted:
            converted = converted.replace(wrong, right)
    return converted


def simplified(text: str) -> str:
    return to_simplified(text)


def _syllables(text: str) -> list[str]:
    return [s for s in lazy_pinyin(text, style=Style.TONE, errors="ignore") if s.strip()]


def _join(syllables: list[str]) -> str:
    """Join syllables into a word, with the apostrophe before a, e, o (Xióng'ān)."""
    out = ""
    for syllable in syllables:
        if out and syllable[0] in "aeoāáǎàēéěèōóǒò":
            out += "'"
        out += syllable
    return out.capitalize()


def pinyin_label(zh: str, kind: str) -> str:
    """`Tōngzhōu Qū` for places, `Yīn Yǒng` for people; syllables of a word joined."""
    if kind == "person" and len(zh) >= 2:
        surname, given = _syllables(zh[0]), _syllables(zh[1:])
        return " ".join(p for p in (_join(surname), _join(given)) if p)
    if kind == "place":
        for suffix in _PLACE_SUFFIXES:
            if zh.endswith(suffix) and len(zh) > len(suffix) + 1:
                return f"{_join(_syllables(zh[: -len(suffix)]))} {_join(_syllables(suffix))}"
    return _join(_syllables(zh))
