"""The indicator charts' axes and the numbers pages show, for any value a dataset may hold:
tiny, huge, negative, beyond floating point."""
from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from bjkg.server.pages.chart import build_charts, nice_ticks
from bjkg.server.pages.numbers import humanize, to_decimal

magnitudes = st.floats(min_value=1e-300, max_value=1e300, allow_nan=False, allow_infinity=False)


@settings(max_examples=500, deadline=None, derandomize=True)
@given(low=st.one_of(st.just(0.0), magnitudes.map(lambda x: -x)), high=st.one_of(st.just(0.0), magnitudes))
def test_ticks_cover_the_range_in_a_few_round_steps(low, high):
    """Ticks start at or below the lowest value, end at or above the highest, include 0, and
    are few. Values below 10^-10 once made the loop add a step that rounding took away again:
    it never ended."""
    ticks = nice_ticks(low, high)
    assert 2 <= len(ticks) <= 12
    assert ticks == sorted(set(ticks))
    span = ticks[-1] - ticks[0]
    assert ticks[0] <= low + span * 1e-9 and ticks[-1] >= high - span * 1e-9
    assert 0.0 in ticks


def test_a_value_beyond_floating_point_is_listed_not_charted():
    def chart(value: str):
        return build_charts([{"value": Decimal(value), "period_label": "2023", "period_sort": "2023",
                              "status": "Actual", "status_label": "actual", "qualifier": None}], "en")

    assert chart("1E+999999") == [] and chart("-1e308") == []
    assert [tick["text"] for tick in chart("1e-20")[0]["ticks"]][:2] == ["0", "0.000000000000000000002"]
    assert chart("5.2")[0]["bars"][0]["label"] == "5.2"


def test_numbers_read_exactly_at_any_size():
    assert humanize(to_decimal("4400000000000.0"), "zh-Hans") == "4.4万亿"
    assert humanize(to_decimal("4400000000000"), "zh-Hant") == "4.4萬億"
    assert humanize(to_decimal("-1.5"), "en") == "-1.5"
    # beyond 10^30: scientific notation, every digit kept (Decimal's context would round them)
    assert humanize(to_decimal("1e999999"), "en") == "1E+999999"
    assert humanize(to_decimal("123456789012345678901234567890123"), "en") == "1.23456789012345678901234567890123E+32"
    assert humanize(to_decimal("-1.234e-33"), "en") == "-1.234E-33"
    assert to_decimal("NaN") is None and to_decimal("Infinity") is None and to_decimal("x") is None
