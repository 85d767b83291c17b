"""Every normalisation rule of the issue, pinned: value in base units, unit, qualifier."""
from decimal import Decimal

import pytest

from bjkg.graph.records.numbers import NumberError, chinese_numeral, parse_amount

CASES = [
    # text, value, unit, qualifier, min, max
    ("约4.4万亿元", "4400000000000", "yuan", "approximately", None, None),
    ("約4.4萬億元", "4400000000000", "yuan", "approximately", None, None),
    ("2.8万美元左右", "28000", "usd", "approximately", None, None),
    ("2.8萬美元左右", "28000", "usd", "approximately", None, None),
    ("35万元/人以上", "350000", "yuan-per-person", "at-least", "350000", None),
    ("增长5.2%", "5.2", "percent", "exact", None, None),
    ("增長(zhǎng)5.2%", "5.2", "percent", "exact", None, None),
    ("42.7%", "42.7", "percent", "exact", None, None),
    ("5%左右", "5", "percent", "approximately", None, None),
    ("5%以内", "5", "percent", "at-most", None, "5"),
    ("控制在5%以內", "5", "percent", "at-most", None, "5"),
    ("突破6000亿元", "600000000000", "yuan", "at-least", "600000000000", None),
    ("超过8000亿元", "800000000000", "yuan", "at-least", "800000000000", None),
    ("超過1萬億元", "1000000000000", "yuan", "at-least", "1000000000000", None),
    ("接近80%", "80", "percent", "nearly", None, "80"),
    ("2万个", "20000", "count", "exact", None, None),
    ("23.1万家", "231000", "count", "exact", None, None),
    ("1650条", "1650", "count", "exact", None, None),
    ("1万个以上", "10000", "count", "at-least", "10000", None),
    ("100家以上", "100", "count", "at-least", "100", None),
    ("6.5平方公里", "6.5", "km2", "exact", None, None),
    ("50万平方米", "500000", "m2", "exact", None, None),
    ("千亿元以上", "100000000000", "yuan", "at-least", "100000000000", None),
    ("最高3000万元", "30000000", "yuan", "at-most", None, "30000000"),
    ("三个国家实验室", "3", "count", "exact", None, None),
    ("两个万亿级产业集群", "2", "count", "exact", None, None),
    ("十一个方面", "11", "count", "exact", None, None),
    ("第三位", "3", "rank", "exact", None, None),
    ("1000多家", "1000", "count", "at-least", "1000", None),
]


@pytest.mark.parametrize("text,value", [("百亿", 10 ** 10), ("千亿", 10 ** 11), ("萬億級", 10 ** 12),
                                        ("千亿级", 10 ** 11)])
def test_order_of_magnitude_tiers_are_at_least(text, value):
    """若干亿、百亿、千亿产值的产业集群 and 萬億級 name tiers, not amounts (#15)."""
    amount = parse_amount(text, unit="yuan")
    assert (amount.value, amount.qualifier, amount.min_value) == (value, "at-least", value)


@pytest.mark.parametrize("text,value,unit,qualifier,low,high", CASES)
def test_parse_amount(text, value, unit, qualifier, low, high):
    amount = parse_amount(text)
    assert amount.lexical == value
    assert amount.unit == unit
    assert amount.qualifier == qualifier
    assert (None if amount.min_value is None else str(amount.lexical)) == low
    assert (None if amount.max_value is None else str(amount.lexical)) == high


def test_overrides_win():
    amount = parse_amount("千亿级", unit="yuan", qualifier="approximately")
    assert (amount.value, amount.unit, amount.qualifier) == (Decimal(10) ** 11, "yuan",
                                                             "approximately")


@pytest.mark.parametrize("text,value,unit,qualifier", [
    ("均居全國各城市首位", 1, "rank", "exact"), ("成倍增长", 2, "times", "at-least")])
def test_numbers_said_in_words(text, value, unit, qualifier):
    amount = parse_amount(text)
    assert (amount.value, amount.unit, amount.qualifier) == (value, unit, qualifier)


def test_unknown_unit_is_an_error_that_says_what_to_do():
    with pytest.raises(NumberError, match="set `unit:`"):
        parse_amount("1至11月")


def test_no_number():
    with pytest.raises(NumberError, match="no number"):
        parse_amount("保持全国领先")


def test_bad_override_named():
    with pytest.raises(NumberError, match="unknown qualifier"):
        parse_amount("5%", qualifier="roughly")


@pytest.mark.parametrize("text,value", [("十一", 11), ("两", 2), ("三百五十", 350),
                                        ("千亿", 10 ** 11), ("万亿", 10 ** 12),
                                        ("一亿两千万", 120_000_000)])
def test_chinese_numerals(text, value):
    assert chinese_numeral(text) == value


def test_lexical_has_no_exponent():
    assert parse_amount("约4.4万亿元").lexical == "4400000000000"
    assert "E" not in parse_amount("50万平方米").lexical


@pytest.mark.parametrize("text,value", [("-5%", Decimal("-5")), ("−5.2%", Decimal("-5.2")),
                                        ("－3%", Decimal("-3")), ("增长-1.5%", Decimal("-1.5"))])
def test_a_minus_sign_is_kept(text, value):
    """-5% was read as 5%: the sign is part of the number."""
    assert parse_amount(text).value == value


@pytest.mark.parametrize("text,unit", [("0.1%-0.2%", None), ("5%至6%", None), ("5%～6%", None),
                                       ("5~6%", "percent"), ("3到5万元", "yuan")])
def test_a_range_is_refused_not_read_as_its_first_bound(text, unit):
    """One value for 5%-6% would drop a bound without a word: each bound is an observation.
    (When the unit is written only after the second bound, the unit is asked for first.)"""
    with pytest.raises(NumberError, match="is a range"):
        parse_amount(text, unit=unit)
    with pytest.raises(NumberError):
        parse_amount(text)
    assert parse_amount("提升至90%").value == 90  # 至 before the number is no range


def test_values_are_exact_or_refused():
    """Decimal's default 28 digits rounded a 29-digit amount; values are now exact."""
    assert parse_amount("99999999999999999999999999999亿元").value == Decimal("9999999999999999999999999999900000000")
    with pytest.raises(NumberError, match="significant digits"):
        parse_amount("9" * 61 + "元")
