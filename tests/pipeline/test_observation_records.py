"""Observations that say no more than their text: a qualifier the text leaves open stays
unknown, a time frame is not a target, and durations are in days and years, not counts."""
from __future__ import annotations

import pyoxigraph as ox
import pytest

from bjkg.graph.records.numbers import parse_amount

BJKG = "https://w3id.org/bjkg/ontology#"
ID = "https://w3id.org/bjkg/id/"
SCHEMA = "https://schema.org/"


@pytest.fixture(scope="module")
def store(built):
    return ox.Store.read_only(str(built / "store"))


def _values(store, observation: str, predicate: str) -> set[str]:
    return {r["o"].value for r in store.query(
        f"SELECT ?o WHERE {{ <{ID}observation/{observation}> <{predicate}> ?o }}",
        use_default_graph_as_union=True)}


# ------------------------------------------------------------------ a qualifier left open

def test_a_qualifier_the_text_leaves_open_is_not_written(store):
    """明确最高3000万元贡献奖励、2000万元设施建设补贴: 最高 may or may not govern 2000万元, so the
    2000万元 subsidy has no bjkg:qualifier (neither Exact nor AtMost) and no bound."""
    obs = "tz-facility-construction-subsidy"
    assert _values(store, obs, BJKG + "qualifier") == set()
    assert _values(store, obs, SCHEMA + "minValue") == _values(store, obs, SCHEMA + "maxValue") == set()
    assert _values(store, obs, "http://purl.org/linked-data/sdmx/2009/measure#obsValue") == {"20000000"}
    # the cap the text does state keeps its qualifier
    assert _values(store, "tz-contribution-award-cap", BJKG + "qualifier") == {BJKG + "AtMost"}


def test_unknown_qualifier_overrides_the_parser_and_bounds_nothing():
    amount = parse_amount("2000万元", qualifier="unknown")
    assert (amount.qualifier, amount.min_value, amount.max_value) == ("unknown", None, None)
    assert parse_amount("2000万元").qualifier == "exact"  # omitted: the parser still reads the text


# ------------------------------------------------------------------ a time frame, not a target

def test_the_twenty_year_pledge_span_is_a_policy_parameter_not_a_target(store):
    """能否利用这20年时间把副中心打造成…样板: 20年 is the pledge's time frame, not a figure to reach."""
    assert _values(store, "tz-twenty-year-pledge-span", BJKG + "status") == {BJKG + "PolicyParameter"}
