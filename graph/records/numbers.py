"""Normalise a number as written in Chinese text (`约4.4万亿元`, `5%以内`) to a value,
a unit and a qualifier.

Curators copy the phrase; the build computes the value, so one rule table decides how
every figure is read and the tests can pin each rule down. Values are `Decimal` in base
units: yuan, US dollars, counts, percentage points, km² or m² as stated.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Context, Decimal, Inexact

from bjkg.graph.records.textnorm import fold_script

QUALIFIERS = ("exact", "approximately", "at-least", "at-most", "nearly", "unknown")
# "unknown" is never read from a text: a record sets it when the text leaves open how the
# number is qualified (明确最高3000万元…、2000万元…: does 最高 govern 2000万元 too?), and the
# build then writes no bjkg:qualifier and no bound rather than claim "exact".
UNITS = ("yuan", "usd", "yuan-per-person", "percent", "count", "km2", "m2", "km", "rank",
         "times", "day", "year")
BOUND = {"at-least": "min", "at-most": "max", "nearly": "max"}

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
           "七": 7, "八": 8, "九": 9}
_SMALL = {"十": 10, "百": 100, "千": 1000}
_LARGE = {"万": 10 ** 4, "亿": 10 ** 8}

# Qualifier words, most specific first. Suffixes are read after the number, prefixes
# before it; the first that matches decides.
_SUFFIX_QUALIFIERS = (("左右", "approximately"), ("上下", "approximately"),
                      ("以上", "at-least"), ("多", "at-least"), ("余", "at-least"),
                      ("以内", "at-most"), ("以下", "at-most"))
_PREFIX_QUALIFIERS = (("不超过", "at-most"), ("不高于", "at-most"), ("最高", "at-most"),
                      ("最多", "at-most"), ("控制在", "at-most"),
                      ("不到", "at-most"), ("不足", "at-most"),
                      ("不低于", "at-least"), ("不少于", "at-least"), ("至少", "at-least"),
                      ("超过", "at-least"), ("突破", "at-least"), ("逾", "at-least"),
                      ("超", "at-least"),
                      ("接近", "nearly"), ("近", "nearly"),
                      ("大约", "approximately"), ("约", "approximately"))
# Words that state a number without a numeral: 居全国各城市首位 (first place), 成倍增长
# (multiplied: at least doubled).
_NUMBER_WORDS = {"首位": (1, "rank", "exact"), "成倍": (2, "times", "at-least")}
_COUNT_WORDS = "个家条项所座名人户次批台架件只位处栋套种类辆道款场支棵"
_NUMBER = re.compile(
    r"(?P<arabic>\d+(?:\.\d+)?)(?P<mult>[十百千万亿]*)"
    r"|(?P<chinese>[零〇一二两三四五六七八九十百千万亿]+)")


# a minus sign written before the digits (ASCII, U+2212, full width)
_MINUS = ("-", "\u2212", "\uff0d")
# a second number after the first, joined as a range (5%-6%, 5%至6%, 0.1~0.2): one value
# would drop a bound, so a range is refused; each bound is its own observation
_RANGE = re.compile(r"\s*[%个百分点万亿千元美/人平方公里米倍]*\s*(?:-|–|—|~|～|至|到)\s*[0-9〇一二两三四五六七八九十百千万亿]")
# values are exact: 60 significant digits, and an error (not a rounding) beyond them
_EXACT = Context(prec=60, traps=[Inexact])


class NumberError(ValueError):
    """The phrase holds no number, or its unit cannot be told."""


@dataclass(frozen=True)
class Amount:
    value: Decimal
    unit: str
    qualifier: str

    @property
    def min_value(self) -> Decimal | None:
        return self.value if BOUND.get(self.qualifier) == "min" else None

    @property
    def max_value(self) -> Decimal | None:
        return self.value if BOUND.get(self.qualifier) == "max" else None

    @property
    def lexical(self) -> str:
        """xsd:decimal lexical form without exponent or trailing zeros."""
        return decimal_lexical(self.value)


def decimal_lexical(value: Decimal) -> str:
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def chinese_numeral(text: str) -> int:
    """Read 十一, 两, 三百五十, 千亿, 4万亿-style numerals (a bare unit means one)."""
    total, section, digit = 0, 0, None
    for ch in text:
        if ch in _DIGITS:
            digit = _DIGITS[ch]
        elif ch in _SMALL:
            section += (1 if digit is None else digit) * _SMALL[ch]
            digit = None
        elif ch in _LARGE:
            section += digit or 0
            if section == 0 and total:
                total *= _LARGE[ch]  # 万亿: the larger unit scales what came before
            else:
                total += (section or 1) * _LARGE[ch]
            section, digit = 0, None
        else:
            raise NumberError(f"not a Chinese numeral: {text!r}")
    return total + section + (digit or 0)


def _multiplier(chars: str) -> int:
    """The scale of 万, 亿, 万亿, 千亿 … written after Arabic digits."""
    if not chars:
        return 1
    return chinese_numeral(chars)


def _unit(rest: str, before: str) -> str | None:
    """Tell the unit from the words after the number (and 美元 before it, rarely)."""
    rest = rest.lstrip().lstrip("多余")
    if rest.startswith(("%", "个百分点")):
        return "percent"
    if re.match(r"(万|亿|千|百)?元/人", rest) or rest.startswith("元/人"):
        return "yuan-per-person"
    if rest.startswith("美元"):
        return "usd"
    if rest.startswith("元"):
        return "yuan"
    if rest.startswith(("平方公里", "km²", "km2")):
        return "km2"
    if rest.startswith(("平方米", "m²", "m2")):
        return "m2"
    if rest.startswith("公里"):
        return "km"
    if rest.startswith("倍"):
        return "times"
    if rest.startswith("天"):
        return "day"  # a duration: 20天内
    if rest.startswith(("周年", "年")):
        return "year"  # a duration: 20年, 10周年, 近10年 (a calendar year is refused in parse_amount)
    if before.endswith("第") or rest.startswith("名") and before.endswith("前"):
        return "rank"
    if rest[:1] and rest[0] in _COUNT_WORDS:
        return "count"
    return None


def parse_amount(text: str, unit: str | None = None, qualifier: str | None = None) -> Amount:
    """Parse a phrase such as `约4.4万亿元`; `unit`/`qualifier` override what is read."""
    if unit is not None and unit not in UNITS:
        raise NumberError(f"unknown unit {unit!r}; use one of {', '.join(UNITS)}")
    if qualifier is not None and qualifier not in QUALIFIERS:
        raise NumberError(f"unknown qualifier {qualifier!r}; use one of {', '.join(QUALIFIERS)}")
    s = fold_script(text).replace(",", "").replace("，", "")
    match = _first_number(s)
    if match is None:
        for word, (value, word_unit, word_qualifier) in _NUMBER_WORDS.items():
            if word in s:
                return Amount(value=Decimal(value), unit=unit or word_unit,
                              qualifier=qualifier or word_qualifier)
        raise NumberError(f"no number in {text!r}")
    try:
        if match.group("arabic"):
            value = _EXACT.multiply(Decimal(match.group("arabic")), _multiplier(match.group("mult")))
        else:
            value = _EXACT.plus(Decimal(chinese_numeral(match.group("chinese"))))
    except Inexact:
        raise NumberError(f"{text!r} has more significant digits than a value keeps exactly (60)") from None
    before, after = s[:match.start()], s[match.end():]
    if before.rstrip().endswith(_MINUS):
        value = -value
        before = before.rstrip()[:-1]
    read_unit = _unit(after, before)
    if read_unit == "year" and _calendar_year(match, after):
        read_unit = None  # 2035年 is a date, not 2035 years
    if unit is None and read_unit is None:
        raise NumberError(f"cannot tell the unit of {text!r}: set `unit:` "
                          f"({', '.join(UNITS)})")
    if _RANGE.match(after):
        raise NumberError(f"{text!r} is a range: record each bound as an observation of its own "
                          "(text: the one number, with its qualifier), not the range")
    read_qualifier = _qualifier(before, after)
    if read_qualifier == "exact" and _is_tier(match, after):
        read_qualifier = "at-least"
    return Amount(value=value, unit=unit or read_unit,
                  qualifier=qualifier or read_qualifier)


def _calendar_year(match: re.Match, after: str) -> bool:
    """Four Arabic digits before 年 (not 周年) name a year of the calendar: 2035年."""
    arabic = match.group("arabic") or ""
    return (len(arabic) == 4 and arabic.isdigit() and not match.group("mult")
            and after.lstrip().startswith("年"))


def _is_tier(match: re.Match, after: str) -> bool:
    """An order-of-magnitude tier, not an amount: 百亿/千亿/万亿 written without a digit
    (若干亿、百亿、千亿产值的产业集群) or anything with 级 (万亿级): read as "at least"."""
    chinese = match.group("chinese") or ""
    bare = chinese and any(c in chinese for c in "万亿") and not any(c in _DIGITS for c in chinese)
    return bool(bare) or after.lstrip("元").startswith("级")


def _first_number(s: str) -> re.Match | None:
    """The first number that is not an ordinal (第一) or part of a word like 一批/一流."""
    for match in _NUMBER.finditer(s):
        chinese = match.group("chinese")
        if chinese and (chinese in {"万", "亿", "千", "百", "十"} and not _has_unit_after(s, match)):
            continue
        return match
    return None


def _has_unit_after(s: str, match: re.Match) -> bool:
    return _unit(s[match.end():], s[:match.start()]) is not None


def _qualifier(before: str, after: str) -> str:
    """Qualifier words after the number win over those before it (5%以内 after 控制在)."""
    tail = after.lstrip("%个家条项所座名人户次批台架件元美/万亿平方公里米倍")
    for word, qualifier in _SUFFIX_QUALIFIERS:
        if tail.startswith(word) or after.startswith(word):
            return qualifier
    head = before.rstrip()
    for word, qualifier in _PREFIX_QUALIFIERS:
        if head.endswith(word) or (word in {"约", "大约", "接近", "超过", "突破", "最高", "控制在"}
                                   and word in head[-6:]):
            return qualifier
    return "exact"
