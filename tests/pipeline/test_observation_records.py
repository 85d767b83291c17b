"""Observations that say no more than their text: a qualifier the text leaves open stays
unknown, a time frame is not a target, and durations are in days and years, not counts."""
from __future__ import annotations

import pytest

from bjkg.graph.records.numbers import parse_amount

BJKG = "https://w3id.org/bjkg/ontology#"
ID = "https://w3id.org/bjkg/id/"
SCHEMA = "https://schema.org/"


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


# ------------------------------------------------------------------ durations in days and years

DURATIONS = [
    # observation, value, unit, qualifier
    ("tz-majuqiao-signing-days", "20", BJKG + "Day", BJKG + "AtMost"),
    ("tz-twenty-year-pledge-span", "20", BJKG + "Year", BJKG + "Exact"),
    ("an24-jing-jin-ji-strategy-years-2024", "10", BJKG + "Year", BJKG + "Exact"),
    ("an24-supply-side-reform-years", "10", BJKG + "Year", BJKG + "Nearly"),
]


@pytest.mark.parametrize("obs,value,unit,qualifier", DURATIONS, ids=[d[0] for d in DURATIONS])
def test_durations_are_in_days_and_years_not_counts(store, obs, value, unit, qualifier):
    assert _values(store, obs, "http://purl.org/linked-data/sdmx/2009/attribute#unitMeasure") == {unit}
    assert _values(store, obs, "http://purl.org/linked-data/sdmx/2009/measure#obsValue") == {value}
    assert _values(store, obs, BJKG + "qualifier") == {qualifier}
    english = {label for label in _labels(store, ID + "observation/" + obs) if label[1] == "en"}
    assert english and not any(" count " in text for text, _ in english), english


def _labels(store, iri: str) -> set[tuple[str, str]]:
    return {(r["l"].value, r["l"].language) for r in store.query(
        f"SELECT ?l WHERE {{ <{iri}> <http://www.w3.org/2000/01/rdf-schema#label> ?l }}",
        use_default_graph_as_union=True)}


def test_day_and_year_are_minted_like_yuan_per_person(store):
    """Same pattern as bjkg:YuanPerPerson: a qudt:Unit and owl:NamedIndividual with a symbol,
    one label in each of zh-Hans, zh-Hant and en, comments, defined by the ontology."""
    def shape(term: str) -> tuple:
        iri = BJKG + term
        types = {r["t"].value for r in store.query(f"SELECT ?t WHERE {{ <{iri}> a ?t }}",
                                                   use_default_graph_as_union=True)}
        predicates = {r["p"].value for r in store.query(
            f"SELECT ?p WHERE {{ GRAPH <https://w3id.org/bjkg/graph/ontology> {{ <{iri}> ?p [] }} }}")}
        return types, predicates, sorted(lang for _, lang in _labels(store, iri))

    model = shape("YuanPerPerson")
    assert "http://qudt.org/schema/qudt/Unit" in model[0]
    for term, zh in (("Day", "天"), ("Year", "年")):
        assert shape(term) == model, term
        assert (zh, "zh-hans") in _labels(store, BJKG + term)  # the store keeps tags lower-case


@pytest.mark.parametrize("text,value,unit,qualifier", [
    ("20天内", "20", "day", "exact"), ("20年", "20", "year", "exact"),
    ("10周年", "10", "year", "exact"), ("近10年", "10", "year", "nearly"), ("十年", "10", "year", "exact"),
])
def test_the_parser_reads_days_and_years(text, value, unit, qualifier):
    amount = parse_amount(text)
    assert (amount.lexical, amount.unit, amount.qualifier) == (value, unit, qualifier)


def test_a_calendar_year_is_not_read_as_a_duration():
    from bjkg.graph.records.numbers import NumberError
    with pytest.raises(NumberError, match="unit"):
        parse_amount("2035年")
