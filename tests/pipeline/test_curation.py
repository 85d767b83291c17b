"""Curation errors of issue #15, pinned on the real build so they cannot return."""
from __future__ import annotations

import pyoxigraph as ox
import pytest
import yaml

from graph.labels import traditional

from .conftest import ROOT

BJKG = "https://w3id.org/bjkg/ontology#"
ID = "https://w3id.org/bjkg/id/"
PREFIXES = f"""PREFIX bjkg: <{BJKG}> PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX schema: <https://schema.org/> PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
"""


@pytest.fixture(scope="module")
def store(built):
    return ox.Store.read_only(str(built / "store"))


def _rows(store, query):
    return [tuple(t.value if t is not None else None for t in row)
            for row in store.query(PREFIXES + query, use_default_graph_as_union=True)]


def _overrides():
    return yaml.safe_load((ROOT / "graph" / "reference" / "script-overrides.yaml")
                          .read_text(encoding="utf-8"))["overrides"]


def test_holdings_of_undated_documents_have_no_date(store):
    rows = _rows(store, """SELECT ?h ?date WHERE { ?h bjkg:attestedOn ?date ; prov:wasDerivedFrom ?d .
        FILTER NOT EXISTS { ?d schema:datePublished ?p } }""")
    assert rows == []
    dated = _rows(store, """SELECT DISTINCT ?d WHERE { ?h bjkg:attestedOn ?date ; prov:wasDerivedFrom ?d }""")
    assert dated == [(ID + "document/peoples-daily-2023-01-11-interview",)]


def test_chaoyang_reads_chaoyang(store):
    rows = _rows(store, f"""SELECT ?l WHERE {{ <{ID}place/chaoyang> rdfs:label ?l
        FILTER(LANGMATCHES(LANG(?l), "zh-Latn-pinyin")) }}""")
    assert rows == [("Cháoyáng Qū",)]


def test_party_congress_report_is_not_a_government_work_report(store):
    report = f"<{ID}report/cpc-20th-national-congress-report>"
    types = {t for (t,) in _rows(store, f"SELECT ?t WHERE {{ {report} a ?t }}")}
    assert BJKG + "PartyCongressReport" in types
    assert BJKG + "GovernmentWorkReport" not in types


def test_over_converted_words_are_corrected():
    overrides = _overrides()
    assert traditional("更加注重保障和改善民生", overrides) == "更加注重保障和改善民生"
    assert traditional("优化企业准入、准营、注销等事项办理流程", overrides).startswith("優化企業准入、准營")


def test_no_traditional_label_holds_an_over_converted_word(store):
    wrong = [w for w in _overrides() if len(w) <= 4]
    rows = _rows(store, """SELECT ?s ?l WHERE { ?s rdfs:label|<http://www.w3.org/2004/02/skos/core#altLabel> ?l
        FILTER(LANGMATCHES(LANG(?l), "zh-Hant")) }""")
    bad = [(s, label) for s, label in rows if any(w in label for w in wrong)]
    assert bad == []


def test_cluster_tiers_are_at_least(store):
    rows = _rows(store, f"""SELECT ?o ?q WHERE {{ ?o bjkg:indicator <{ID}indicator/industrial-cluster-output-scale> ;
        bjkg:qualifier ?q }}""")
    assert rows and {q for _, q in rows} == {BJKG + "AtLeast"}, rows
