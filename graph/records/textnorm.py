"""Text folding shared by the quote check, the number parser and search.

The corpus mixes Traditional and Simplified script, full-width and ASCII punctuation,
pinyin glosses after characters (`區(qū)`) and paragraphs split by page breaks. A quote
is "found" in a document when both fold to the same text, so folding must be the same
function on both sides; it lives here, once.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import opencc

# A pinyin gloss: lower-case Latin letters with tone marks, in parentheses, right after
# a CJK character. `(上接1版)` and `(qū)` differ in what they contain, not in position.
_GLOSS = re.compile(r"(?<=[\u3400-\u9fff])\((?=[^)]*[aeiouüāáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ])"
                    r"[a-zāáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜü]{1,8}\)")
_SPACE = re.compile(r"\s+")
# Punctuation that NFKC leaves distinct but that means the same in these texts.
_PUNCT = str.maketrans({
    "“": '"', "”": '"', "„": '"', "「": '"', "」": '"', "『": '"', "』": '"',
    "‘": "'", "’": "'", "﹔": ";", "；": ";", "，": ",", "、": ",", "。": ".",
    "：": ":", "（": "(", "）": ")", "《": "<", "》": ">", "〈": "<", "〉": ">",
    "—": "-", "－": "-", "–": "-", "～": "~", "·": ".", "•": ".",
})


@lru_cache(maxsize=4)
def _converter(config: str) -> opencc.OpenCC:
    """OpenCC converters are costly to create; keep one per configuration."""
    return opencc.OpenCC(config)


def to_simplified(text: str) -> str:
    """Traditional → Simplified (OpenCC t2s); Simplified text passes unchanged."""
    return _converter("t2s").convert(text)


def to_traditional(text: str) -> str:
    """Simplified → Traditional (OpenCC s2t)."""
    return _converter("s2t").convert(text)


def strip_glosses(text: str) -> str:
    """Drop pinyin glosses such as the `(qū)` in `地區(qū)`."""
    return _GLOSS.sub("", text)


def fold_script(text: str) -> str:
    """Glosses removed, Simplified script, NFKC width folding; spacing kept."""
    return unicodedata.normalize("NFKC", to_simplified(strip_glosses(text)))


def fold(text: str) -> str:
    """The comparison form: script, width, punctuation and all white space folded away."""
    return _SPACE.sub("", fold_script(text).translate(_PUNCT))
