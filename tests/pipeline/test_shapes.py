"""SHACL catches bad data: each case breaks a conforming graph one way and expects the
specific violation (focus node and path)."""
from __future__ import annotations

import pytest
from rdflib import Graph, URIRef

from bjkg.graph.build import load_ontology
from bjkg.graph.validate import load_shapes, validate

from .conftest import ROOT

ID = "https://w3id.org/bjkg/id/"
PREFIXES = """
PREFIX bjkg: <https://w3id.org/bjkg/ontology#>
BASE <https://w3id.org/bjkg/id/>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX xsd: <http://www.w3.org/2001/XMLSchema#>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX qb: <http://purl.org/linked-data/cube#>
PREFIX sdmx-measure: <http://purl.org/linked-data/sdmx/2009/measure#>
PREFIX sdmx-attribute: <http://purl.org/linked-data/sdmx/2009/attribute#>
PREFIX unit: <http://qudt.org/vocab/unit/>
PREFIX schema: <https://schema.org/>
PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#>
"""
OBS = "observation/unemployment-2024"


@pytest.fixture(scope="module")
def context():
    ontology = load_ontology(ROOT)
    return load_shapes(ROOT), ontology


def _violations(graph: Graph, context) -> set[tuple[str, str]]:
    shapes, ontology = context
    data = Graph()
    for t in graph:
        data.add(t)
    for t in ontology:
        data.add(t)
    conforms, report, _ = validate(data, shapes)
    rows = report.query("""
        PREFIX sh: <http://www.w3.org/ns/shacl#>
        SELECT ?focus ?path WHERE { ?r a sh:ValidationResult ; sh:focusNode ?focus .
                                    OPTIONAL { ?r sh:resultPath ?path } }""")
    return {(str(f), str(p) if p else "") for f, p in rows}


def _good() -> Graph:
    return Graph().parse(ROOT / "tests" / "data" / "good.ttl", format="turtle")


def test_good_graph_conforms(context):
    assert _violations(_good(), context) == set()


CASES = {
    "observation without unit": (
        f"DELETE WHERE {{ <{OBS}> sdmx-attribute:unitMeasure ?u }}",
        OBS, "http://purl.org/linked-data/sdmx/2009/attribute#unitMeasure"),
    "unit outside the known list": (
        f"DELETE {{ <{OBS}> sdmx-attribute:unitMeasure unit:PERCENT }} "
        f"INSERT {{ <{OBS}> sdmx-attribute:unitMeasure unit:FURLONG }} WHERE {{}}",
        OBS, "http://purl.org/linked-data/sdmx/2009/attribute#unitMeasure"),
    "value as a string": (
        f"DELETE {{ <{OBS}> sdmx-measure:obsValue ?v }} "
        f"INSERT {{ <{OBS}> sdmx-measure:obsValue \"5\" }} WHERE {{ <{OBS}> sdmx-measure:obsValue ?v }}",
        OBS, "http://purl.org/linked-data/sdmx/2009/measure#obsValue"),
    "source document that does not say whether its quotes were verified": (
        "DELETE WHERE { ?d bjkg:quotesVerified ?v }",
        "document/doc", "https://w3id.org/bjkg/ontology#quotesVerified"),
    "quotes verified as a string": (
        "DELETE { ?d bjkg:quotesVerified ?v } INSERT { ?d bjkg:quotesVerified \"yes\" } "
        "WHERE { ?d bjkg:quotesVerified ?v }",
        "document/doc", "https://w3id.org/bjkg/ontology#quotesVerified"),
    "observation without quote": (
        f"DELETE WHERE {{ <{OBS}> bjkg:quote ?q }}",
        OBS, "https://w3id.org/bjkg/ontology#quote"),
    "observation without provenance": (
        f"DELETE WHERE {{ <{OBS}> prov:wasDerivedFrom ?d }}",
        OBS, "http://www.w3.org/ns/prov#wasDerivedFrom"),
    "status outside the code list": (
        f"DELETE {{ <{OBS}> bjkg:status bjkg:Target }} INSERT {{ <{OBS}> bjkg:status bjkg:Maybe }} WHERE {{}}",
        OBS, "https://w3id.org/bjkg/ontology#status"),
    "at most without maxValue": (
        f"DELETE WHERE {{ <{OBS}> schema:maxValue ?m }}",
        OBS, "https://w3id.org/bjkg/ontology#qualifier"),
    "missing Traditional label": (
        "DELETE WHERE { <place/beijing> rdfs:label \"北京市\"@zh-Hant }",
        "place/beijing", "http://www.w3.org/2000/01/rdf-schema#label"),
    "two English labels": (
        "INSERT DATA { <indicator/gdp-growth-rate> rdfs:label \"GDP growth\"@en }",
        "indicator/gdp-growth-rate", "http://www.w3.org/2000/01/rdf-schema#label"),
    "missing pinyin for a place": (
        "DELETE { <place/beijing> rdfs:label ?l } WHERE { <place/beijing> rdfs:label ?l . "
        "FILTER(LANGMATCHES(LANG(?l), 'zh-Latn-pinyin')) }",
        "place/beijing", "http://www.w3.org/2000/01/rdf-schema#label"),
    "no label at all": (
        "DELETE WHERE { <place/beijing> rdfs:label ?l }",
        "place/beijing", "http://www.w3.org/2000/01/rdf-schema#label"),
    "bad sha256": (
        "DELETE { <document/doc> schema:sha256 ?h } INSERT { <document/doc> schema:sha256 \"ABC\" } "
        "WHERE { <document/doc> schema:sha256 ?h }",
        "document/doc", "https://schema.org/sha256"),
    "five-digit GB/T 2260 code": (
        "DELETE { <place/beijing> skos:notation ?c } "
        "INSERT { <place/beijing> skos:notation \"11000\"^^bjkg:GBT2260Code } WHERE { <place/beijing> skos:notation ?c }",
        "place/beijing", "http://www.w3.org/2004/02/skos/core#notation"),
    "assertion about a triple nobody asserted": (
        "DELETE WHERE { <initiative/task> bjkg:involvesPlace <place/beijing> }",
        "assertion/a1", "http://www.w3.org/1999/02/22-rdf-syntax-ns#predicate"),
    "holding dated although its document prints no date": (
        "INSERT DATA { <holding/h1> a bjkg:PostHolding ; bjkg:attestedOn \"2024-01-21\"^^xsd:date ; "
        "prov:wasDerivedFrom <document/doc> }",
        "holding/h1", "https://w3id.org/bjkg/ontology#attestedOn"),
    "holding dated otherwise than its document": (
        "INSERT DATA { <document/doc> schema:datePublished \"2023-01-11\"^^xsd:date . "
        "<holding/h1> a bjkg:PostHolding ; bjkg:attestedOn \"2023-01-15\"^^xsd:date ; "
        "prov:wasDerivedFrom <document/doc> }",
        "holding/h1", "https://w3id.org/bjkg/ontology#attestedOn"),
    "party congress report typed as a government work report": (
        "INSERT DATA { <report/r> a bjkg:GovernmentWorkReport ; bjkg:deliveredAt <meeting/m> . "
        "<meeting/m> a bjkg:Meeting ; bjkg:organizer <agency/cpc> . <agency/cpc> a bjkg:PartyOrgan }",
        "report/r", "https://w3id.org/bjkg/ontology#deliveredAt"),
    "initiative without provenance": (
        "DELETE WHERE { <initiative/task> prov:wasDerivedFrom ?d }",
        "initiative/task", "http://www.w3.org/ns/prov#wasDerivedFrom"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_shapes_catch(case, context):
    update, focus, path = CASES[case]
    graph = _good()
    graph.update(PREFIXES + update)
    violations = _violations(graph, context)
    assert (ID + focus, path) in violations, violations


def test_holding_dated_as_its_document_prints_passes(context):
    graph = _good()
    graph.update(PREFIXES + """INSERT DATA {
        <document/doc> schema:datePublished "2023-01-11T08:53:00+08:00"^^xsd:dateTime .
        <holding/h1> a bjkg:PostHolding ; bjkg:attestedOn "2023-01-11"^^xsd:date ;
            prov:wasDerivedFrom <document/doc> }""")
    assert not {v for v in _violations(graph, context)
                if v[1] == "https://w3id.org/bjkg/ontology#attestedOn"}


REPORT_PARTS = """INSERT DATA {
    <report/r> a bjkg:GovernmentWorkReport .
    <document/doc> bjkg:about <report/r> .
    <initiative/task> bjkg:partOf <report/r> .
    <initiative/programme> a bjkg:Programme, bjkg:Initiative ; prov:wasDerivedFrom <document/%s> ;
        bjkg:%s <initiative/task> }"""


def test_report_part_from_another_document_is_refused(context):
    """A programme of another document made part of a report's task: #15, item 1."""
    graph = _good()
    graph.update(PREFIXES + REPORT_PARTS % ("other", "partOf"))
    assert (ID + "report/r", "") in _violations(graph, context)


@pytest.mark.parametrize("doc,predicate", [("doc", "partOf"), ("other", "advancedBy")])
def test_report_parts_from_its_documents_or_advanced_pass(context, doc, predicate):
    graph = _good()
    graph.update(PREFIXES + REPORT_PARTS % (doc, predicate))
    assert (ID + "report/r", "") not in _violations(graph, context)


def test_bad_iri_pattern(context):
    graph = _good()
    bad = URIRef(ID + "place/Tong_Zhou")
    graph.update(PREFIXES + """INSERT DATA { <%s> a bjkg:Place ;
        rdfs:label "通州"@zh-Hans, "通州"@zh-Hant, "Tongzhou"@en, "Tōngzhōu"@zh-Latn-pinyin }""" % bad)
    assert (str(bad), "") in _violations(graph, context)


def test_ontology_terms_need_labels_and_an_english_comment(context):
    graph = _good()
    shapes, ontology = context
    part_of = "https://w3id.org/bjkg/ontology#partOf"
    for t in ontology:
        if str(t[0]) == part_of and str(t[1]).endswith(("#comment", "#label")) and t[2].language == "en":
            continue
        graph.add(t)
    conforms, report, _ = validate(graph, shapes)
    messages = {(str(f), str(m)) for f, m in report.query("""
        PREFIX sh: <http://www.w3.org/ns/shacl#>
        SELECT ?f ?m WHERE { ?r a sh:ValidationResult ; sh:focusNode ?f ; sh:resultMessage ?m }""")}
    assert not conforms
    assert messages == {(part_of, "an ontology term needs an English rdfs:comment"),
                        (part_of, "needs exactly one rdfs:label in English (@en)")}
