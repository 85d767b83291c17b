"""Curation errors of issue #15, pinned on the real build so they cannot return."""
from __future__ import annotations

import pytest
import yaml

from bjkg.graph.records.catalog import REFERENCE_DOC, read_catalog
from bjkg.graph.records.labels import traditional

from .conftest import ROOT

BJKG = "https://w3id.org/bjkg/ontology#"
ID = "https://w3id.org/bjkg/id/"
PREFIXES = f"""PREFIX bjkg: <{BJKG}> PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX schema: <https://schema.org/> PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
"""


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


def test_real_records_define_no_entity_twice_under_one_label():
    from bjkg.graph.records.catalog import duplicate_labels, read_catalog
    assert duplicate_labels(read_catalog(ROOT)) == []


def test_a_duplicate_label_is_warned_naming_both(repo_copy, capsys):
    from bjkg.graph.records.catalog import read_catalog, warn_duplicate_labels
    path = repo_copy / "graph" / "sources" / "npc-2024-opening-news.yaml"
    text = path.read_text(encoding="utf-8")
    twin = """
- id: initiative/npc24-task-digital-industrialisation-twin
  type: Task
  zh: 统筹推进数字产业化
  en: Advance digital industrialisation in a coordinated way
  quote: 報告指出,今年,北京將統(tǒng)籌推進(jìn)數(shù)字產(chǎn)業(yè)化
  year: 2024
"""
    path.write_text(text.replace("\ninitiatives:\n", "\ninitiatives:\n" + twin, 1), encoding="utf-8")
    warn_duplicate_labels(read_catalog(repo_copy))
    err = capsys.readouterr().err
    assert "initiative/npc24-task-digital-industrialisation-twin" in err
    assert "initiative/an24-task-3-1-digital-industrialisation" in err
    assert "graph/sources/npc-2024-opening-news.yaml:" in err
    assert "graph/sources/analysis-2024-eleven-areas.yaml:" in err


@pytest.mark.parametrize("entity,document", [
    ("an24-task-3-1-digital-industrialisation", "npc-2024-opening-news"),
    ("an24-task-5-3-new-quality-productive-forces", "npc-2024-opening-news"),
    ("npc24-nqpf-5-ultra-high-definition-video", "analysis-2024-eleven-areas"),
])
def test_merged_task_has_evidence_from_both_documents(store, entity, document):
    rows = _rows(store, f"""SELECT ?q WHERE {{ ?a a bjkg:Assertion ;
        <http://www.w3.org/1999/02/22-rdf-syntax-ns#subject> <{ID}initiative/{entity}> ;
        prov:wasDerivedFrom <{ID}document/{document}> ; bjkg:quote ?q }}""")
    assert rows


def test_no_2024_report_part_from_another_report(store):
    rows = _rows(store, f"""SELECT ?part WHERE {{ ?part bjkg:partOf+ <{ID}report/beijing-gwr-2024>
        FILTER(REGEX(STR(?part), "/(bbt23|pd23|tz)-")) }}""")
    assert rows == []


def test_record_quotes_are_verbatim(sources):
    """docs/records.md: a quote is copied byte for byte (same script, punctuation, pinyin
    glosses). The build accepts a quote it finds after folding those (issue #2), so this
    curation rule is held here, on the repository's own records: each occurs as is."""
    catalog = read_catalog(ROOT)
    texts = {doc.id: (sources / doc.file).read_text(encoding="utf-8")
             for doc in catalog.documents.values()}
    retyped = sorted({f"{e.where}: {e.quote}" for e in catalog.quotes()
                      if e.doc != REFERENCE_DOC and e.quote not in texts[e.doc]})
    assert not retyped, retyped
    assert len({(e.doc, e.quote) for e in catalog.quotes()}) > 500
