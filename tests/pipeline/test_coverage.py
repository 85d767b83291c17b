"""Coverage of the five sources: every figure, in digits or in Chinese numerals, is an
observation or is listed with the reason in graph/exclusions.yaml; the headline facts read right, and the structure the
issue asks for (五子联动 and its five 子, the eleven 2024 work areas) is in place."""
from __future__ import annotations

import re
from pathlib import Path

import pyoxigraph as ox
import pytest
import yaml

from bjkg.graph.records.textnorm import fold_script

from .conftest import ROOT

# Figures of the sources that are not observations (names, ordinals, page furniture, dates
# the date rule does not see, indefinite 一批 …), each with file, line, phrase and reason.
EXCLUSIONS = yaml.safe_load((ROOT / "graph" / "exclusions.yaml").read_text(encoding="utf-8"))["exclusions"]
DIGITS = re.compile(r"\d+(?:\.\d+)?")
# Chinese numerals before a counter word (三个, 两区, 一批), tiers (百亿, 千亿级) and words
# that state a number (成倍, 首位) or a rank (最优); 第一 … are ordinals.
CHINESE = re.compile(r"(?<!第)[一二两三四五六七八九十百千万亿]+(?=[个项条家批大倍类种次名成所座位支只件台架点区])"
                     r"|成倍|首位|最优|[百千万]亿级?")
YEAR = re.compile(r"\d{4}(?=年)")


def _records():
    for path in sorted((ROOT / "graph" / "sources").glob("*.yaml")):
        yield path.stem, yaml.safe_load(path.read_text(encoding="utf-8"))


def _lines(record: dict, sources: Path) -> list[str]:
    text = (sources / record["document"]["file"]).read_text(encoding="utf-8")
    return [fold_script(line) for line in text.split("\n")]


def _excluded_spans(file: str, number: int, line: str) -> list[tuple[int, int]]:
    spans = []
    for entry in EXCLUSIONS:
        if entry["file"] == file and entry["line"] == number:
            phrase = fold_script(entry["phrase"])
            spans += [(m.start(), m.end()) for m in re.finditer(re.escape(phrase), line)]
    return spans


def _uncovered(slug: str, record: dict, sources: Path) -> list[str]:
    """Figures with neither an observation nor an exclusion, as `line: figure in …context…`.

    Digits count as covered when some observation of the source states them (dates such as
    2023年 are skipped); a Chinese figure when an observation on that line states it."""
    file = record["document"]["file"]
    observations = [(fold_script(o["text"]), fold_script(o["quote"]))
                    for o in record.get("observations", [])]
    missing = []
    for number, line in enumerate(_lines(record, sources), 1):
        spans = _excluded_spans(file, number, line)
        found = [(m, "digits") for m in DIGITS.finditer(line)] + \
                [(m, "chinese") for m in CHINESE.finditer(line)]
        for match, kind in found:
            figure = match.group()
            if kind == "digits":
                if line[match.end():match.end() + 1] in "年月日号" and len(figure) <= 4:
                    continue  # a date
                if any(figure in text for text, _ in observations):
                    continue
            elif any(figure in text and quote in line for text, quote in observations):
                continue
            if any(a <= match.start() and match.end() <= b for a, b in spans):
                continue
            window = line[max(0, match.start() - 12):match.end() + 12]
            missing.append(f"{file}:{number}: {figure} in …{window}…")
    return missing


def test_exclusions_are_documented_and_current(sources):
    """Each exclusion names a line that holds its phrase, says why, and covers a figure."""
    records = {r["document"]["file"]: r for _, r in _records()}
    for entry in EXCLUSIONS:
        assert set(entry) == {"file", "line", "phrase", "reason"}, entry
        assert entry["reason"].strip(), entry
        line = _lines(records[entry["file"]], sources)[entry["line"] - 1]
        phrase = fold_script(entry["phrase"])
        assert phrase in line, f"stale exclusion {entry}"
        figures = [m.group() for m in (*DIGITS.finditer(phrase), *CHINESE.finditer(phrase))]
        assert figures, f"exclusion without a figure: {entry}"


@pytest.mark.parametrize("slug", [s for s, _ in _records()])
def test_every_figure_is_an_observation_or_excluded(slug, sources):
    record = dict(_records())[slug]
    assert _uncovered(slug, record, sources) == []


def test_observation_and_entity_counts_per_source(built, capsys):
    store = ox.Store.read_only(str(built / "store"))
    rows = store.query("""
        PREFIX qb: <http://purl.org/linked-data/cube#>
        PREFIX prov: <http://www.w3.org/ns/prov#>
        PREFIX bjkg: <https://w3id.org/bjkg/ontology#>
        SELECT ?doc (COUNT(DISTINCT ?obs) AS ?observations) (COUNT(DISTINCT ?e) AS ?entities) WHERE {
          ?doc a bjkg:SourceDocument .
          { ?obs a qb:Observation ; prov:wasDerivedFrom ?doc }
          UNION { ?e prov:wasDerivedFrom ?doc . FILTER NOT EXISTS { ?e a qb:Observation }
                  FILTER NOT EXISTS { ?e a bjkg:Assertion } }
        } GROUP BY ?doc ORDER BY ?doc""", use_default_graph_as_union=True)
    counts = {r["doc"].value.rsplit("/", 1)[1]: (int(r["observations"].value),
                                                   int(r["entities"].value)) for r in rows}
    with capsys.disabled():
        print("\nper source: observations, entities")
        for doc, (obs, ents) in counts.items():
            print(f"  {doc:40} {obs:4} {ents:5}")
    assert set(counts) == {s for s, _ in _records()}
    for doc, (obs, ents) in counts.items():
        assert obs >= 5, doc
        assert ents >= 20, doc


QUERY_OBS = """
PREFIX bjkg: <https://w3id.org/bjkg/ontology#>
PREFIX sdmx-measure: <http://purl.org/linked-data/sdmx/2009/measure#>
PREFIX sdmx-attribute: <http://purl.org/linked-data/sdmx/2009/attribute#>
PREFIX sdmx-dimension: <http://purl.org/linked-data/sdmx/2009/dimension#>
PREFIX schema: <https://schema.org/>
SELECT ?indicator ?value ?unit ?status ?qualifier ?period ?area ?min ?max WHERE {
  ?o bjkg:indicator ?indicator ; sdmx-measure:obsValue ?value ; sdmx-attribute:unitMeasure ?unit ;
     bjkg:status ?status ; bjkg:qualifier ?qualifier .
  OPTIONAL { ?o sdmx-dimension:refPeriod ?period }
  OPTIONAL { ?o sdmx-dimension:refArea ?area }
  OPTIONAL { ?o schema:minValue ?min }
  OPTIONAL { ?o schema:maxValue ?max }
}"""
ID = "https://w3id.org/bjkg/id/"
B = "https://w3id.org/bjkg/ontology#"
U = "http://qudt.org/vocab/unit/"

HEADLINES = [
    # indicator, value, unit, status, qualifier, period
    ("gdp-growth-rate", "5.2", U + "PERCENT", "Actual", "Exact", "2023"),
    ("gdp", "4400000000000", U + "CCY_CNY", "Actual", "Approximately", "2023"),
    ("gdp-growth-rate", "5", U + "PERCENT", "Target", "Approximately", "2024"),
    ("urban-surveyed-unemployment-rate", "5", U + "PERCENT", "Target", "AtMost", "2024"),
    ("urban-surveyed-unemployment-rate", "4.4", U + "PERCENT", "Actual", "Exact", "2023"),
    ("general-public-budget-revenue", "600000000000", U + "CCY_CNY", "Actual", "AtLeast", "2023"),
    ("general-public-budget-revenue-growth", "8.2", U + "PERCENT", "Actual", "Exact", "2023"),
    ("cpi-growth", "3", U + "PERCENT", "Target", "Approximately", "2024"),
    ("gdp-per-capita", "28000", U + "CCY_USD", "Actual", "Approximately", "2022"),
    ("overall-labour-productivity", "350000", B + "YuanPerPerson", "Actual", "AtLeast", "2022"),
    ("digital-economy-share-of-gdp", "42.7", U + "PERCENT", "Actual", "Exact", "2022"),
]


@pytest.mark.parametrize("indicator,value,unit,status,qualifier,period", HEADLINES)
def test_headline_figures(built, indicator, value, unit, status, qualifier, period):
    store = ox.Store.read_only(str(built / "store"))
    rows = list(store.query(QUERY_OBS, use_default_graph_as_union=True,
                            substitutions={ox.Variable("indicator"):
                                           ox.NamedNode(f"{ID}indicator/{indicator}")}))
    match = [r for r in rows if r["value"].value == value and r["unit"].value == unit
             and r["status"].value == B + status and r["qualifier"].value == B + qualifier
             and r["period"] is not None and r["period"].value == f"{ID}period/{period}"]
    assert match, [(r["value"].value, r["status"].value, r["period"]) for r in rows]
    row = match[0]
    assert row["area"] is not None and row["area"].value == f"{ID}place/beijing"
    if qualifier == "AtLeast":
        assert row["min"].value == value
    if qualifier == "AtMost":
        assert row["max"].value == value


def test_new_enterprises_span_of_months(built):
    store = ox.Store.read_only(str(built / "store"))
    ask = store.query(f"""
        PREFIX schema: <https://schema.org/>
        ASK {{ ?o <{B}indicator> ?i ;
                 <http://purl.org/linked-data/sdmx/2009/measure#obsValue>
                   "231000"^^<http://www.w3.org/2001/XMLSchema#decimal> ;
                 <http://purl.org/linked-data/sdmx/2009/dimension#refPeriod> ?p .
              ?p schema:startDate "2022-01-01"^^<http://www.w3.org/2001/XMLSchema#date> ;
                 schema:endDate "2022-11-30"^^<http://www.w3.org/2001/XMLSchema#date> }}""",
                      use_default_graph_as_union=True)
    assert bool(ask)


def test_five_zi_and_eleven_work_areas(built):
    store = ox.Store.read_only(str(built / "store"))
    pillars = list(store.query(f"""SELECT ?p WHERE {{ ?p a <{B}Pillar> ;
        <{B}partOf> <{ID}initiative/wuzi-liandong> }}""", use_default_graph_as_union=True))
    assert len(pillars) == 5
    areas = list(store.query(f"""SELECT ?a ?n WHERE {{ ?a a <{B}WorkArea> ;
        <{B}partOf> <{ID}report/beijing-gwr-2024> ; <{B}ordinal> ?n }} ORDER BY ?n""",
                             use_default_graph_as_union=True))
    assert [int(r["n"].value) for r in areas] == list(range(1, 12))
    # inference: the strategy has its pillars, transitively their tasks
    has_part = list(store.query(f"""SELECT ?x WHERE {{ GRAPH <https://w3id.org/bjkg/graph/inferred> {{
        <{ID}initiative/wuzi-liandong> <{B}hasPart> ?x }} }}"""))
    assert len(has_part) > 5


def test_every_observation_quote_is_in_its_hashed_document(built, sources):
    import hashlib
    store = ox.Store.read_only(str(built / "store"))
    rows = store.query("""
        PREFIX prov: <http://www.w3.org/ns/prov#>
        PREFIX qb: <http://purl.org/linked-data/cube#>
        PREFIX schema: <https://schema.org/>
        PREFIX bjkg: <https://w3id.org/bjkg/ontology#>
        SELECT ?quote ?sha WHERE { ?o a qb:Observation ; bjkg:quote ?quote ;
          prov:wasDerivedFrom ?d . ?d schema:sha256 ?sha }""", use_default_graph_as_union=True)
    by_hash = {hashlib.sha256(p.read_bytes()).hexdigest(): p.read_text(encoding="utf-8")
               for p in sources.glob("*.txt")}
    n = 0
    for row in rows:
        # verbatim: not only after folding
        assert row["quote"].value in by_hash[row["sha"].value]
        n += 1
    assert n >= 60
