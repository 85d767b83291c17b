"""Readable numbers: 4400000000000 yuan reads 4.4万亿 / 4.4 trillion.

Observation values are normalised to base units in the graph (yuan, counts, percentage
points), which is right for queries and wrong for reading. These helpers only format; the
JSON twin keeps the exact decimal.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

_ZH_STEPS = ((Decimal(10) ** 12, "万亿"), (Decimal(10) ** 8, "亿"), (Decimal(10) ** 4, "万"))
_ZH_HANT = {"万亿": "萬億", "亿": "億", "万": "萬"}
_EN_STEPS = ((Decimal(10) ** 12, " trillion"), (Decimal(10) ** 9, " billion"),
             (Decimal(10) ** 6, " million"))

QUALIFIER_SIGNS = {"AtLeast": "≥", "AtMost": "≤", "Nearly": "<", "Approximately": "≈", "Exact": ""}


_PLAIN_DIGITS = 30  # beyond 10^30 (or below 10^-30) a number is shown in scientific notation


def to_decimal(text: str | None) -> Decimal | None:
    """The literal's lexical form as a Decimal, or None when it is not a number."""
    if text is None:
        return None
    try:
        value = Decimal(text)
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


def _plain(value: Decimal) -> str:
    """Decimal without exponent or trailing zeros: 4.40 → 4.4, 5E+1 → 50."""
    text = format(value.normalize(), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _grouped(value: Decimal) -> str:
    """1234567.5 → 1,234,567.5 (thousands separators for plain numbers)."""
    text = _plain(value)
    whole, dot, frac = text.partition(".")
    sign = "-" if whole.startswith("-") else ""
    whole = whole.lstrip("-")
    return f"{sign}{int(whole):,}{dot}{frac}"


def humanize(value: Decimal | None, lang: str = "en") -> str:
    """A short reading of a (possibly very large) number in the page's language."""
    if value is None:
        return ""
    if value and abs(value.adjusted()) > _PLAIN_DIGITS:
        # 1E+999999 (a loaded dataset may hold one): written out it is a million digits, and
        # scaling it overflows Decimal's context; scientific notation says it exactly
        mantissa, _, exponent = format(value, "E").partition("E")  # exact, unlike normalize()
        return f"{mantissa.rstrip('0').rstrip('.') if '.' in mantissa else mantissa}E{exponent}"
    magnitude = abs(value)
    steps = _EN_STEPS if lang == "en" else _ZH_STEPS
    for size, word in steps:
        if magnitude >= size:
            scaled = (value / size).quantize(Decimal("0.01")) if magnitude % size else value / size
            if lang == "zh-Hant":
                word = _ZH_HANT.get(word, word)
            return f"{_plain(scaled)}{word}"
    return _grouped(value)
