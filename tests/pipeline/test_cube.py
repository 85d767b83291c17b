"""The Data Cube gate (bjkg.graph.cube) and each triple once (bjkg.graph.unique).

Each W3C Data Cube integrity constraint has a bad fixture in tests/data/cube/
(`ic-NN-*.ttl`, IC-19's two queries `ic-19-1-*`/`ic-19-2-*`) that it must report, and
holds on `good.ttl`, a small well-formed cube that needs the normalisation (a dimension
value given only on a slice). The real build must pass all of them, and its union default
graph must hold each triple once.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pyoxigraph as ox
import pytest

from bjkg.graph.cube import CubeError, check_cube, load_constraints, normalised_store, violations
from bjkg.graph.unique import DuplicateTriples, check_one_graph_per_triple

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "data" / "cube"
UPDATES, CONSTRAINTS = load_constraints(ROOT)
BAD = sorted(FIXTURES.glob("ic-*.ttl"))


def _quads(path: Path) -> list[ox.Quad]:
    return list(ox.parse(path=str(path), format=ox.RdfFormat.TURTLE))


def _failed(path: Path) -> set[str]:
    """The files of the constraints violated by the fixture, after normalisation."""
    store = normalised_store(_quads(path), UPDATES)
    return {re.search(r"\((ic-[\d-]+\.rq)\)", message)[1]
            for message in violations(store, CONSTRAINTS)}


def _expected(path: Path) -> str:
    """The query file a fixture is for: ic-12-duplicate.ttl → ic-12.rq, ic-19-2-… → ic-19-2.rq."""
    return re.match(r"ic-\d+(?:-\d(?=-))?", path.name)[0] + ".rq"


def test_every_constraint_is_loaded_verbatim_and_has_a_bad_fixture():
    names = [c.name for c in CONSTRAINTS]
    assert sorted(set(names), key=lambda n: int(n[3:])) == [f"IC-{n}" for n in range(1, 22)]
    assert names.count("IC-19") == 2  # the Recommendation gives IC-19 as two queries
    assert all(c.ask.lstrip("#").find("ASK {") > 0 for c in CONSTRAINTS)
    assert {c.name for c in CONSTRAINTS if c.instantiate} == {"IC-20", "IC-21"}
    fixtures = {_expected(path) for path in BAD}
    assert fixtures == {c.file for c in CONSTRAINTS}


def test_the_good_cube_holds_only_after_normalisation():
    assert _failed(FIXTURES / "good.ttl") == set()
    # without phase 2, ex:o1 has no area (it is on its slice): IC-11 would fail
    phase_1_only = normalised_store(_quads(FIXTURES / "good.ttl"), UPDATES[:1])
    assert [m[:5] for m in violations(phase_1_only, CONSTRAINTS)] == ["IC-11"]


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_each_constraint_fails_on_its_bad_fixture(path):
    assert _expected(path) in _failed(path)


def test_the_gate_names_the_constraint_and_the_offenders():
    with pytest.raises(CubeError) as failure:
        check_cube(_quads(FIXTURES / "ic-12-duplicate.ttl"), ROOT)
    message = str(failure.value)
    assert "IC-12 violated (ic-12.rq)" in message
    assert "?obs1 = <http://example.org/o1>, ?obs2 = <http://example.org/o2>" in message
    with pytest.raises(CubeError, match=r"IC-11 violated[^\n]*\n  \?dim = <http://example.org/year>, "
                                        r"\?obs = <http://example.org/o>"):
        check_cube(_quads(FIXTURES / "ic-11-dimension-missing.ttl"), ROOT)


def test_the_build_fails_on_a_broken_cube(repo_copy, sources, tmp_path):
    """Dimensions marked optional again (as before issue #15): the build stops at IC-6."""
    from bjkg.graph.build import BuildError, compile_dataset
    ontology = repo_copy / "ontology" / "bjkg.ttl"
    text = ontology.read_text(encoding="utf-8")
    ontology.write_text(text.replace("    qb:dimension sdmx-dimension:refArea ;\n",
                                     "    qb:dimension sdmx-dimension:refArea ;\n"
                                     "    qb:componentRequired false ;\n"), encoding="utf-8")
    with pytest.raises(BuildError, match=r"IC-6 violated \(ic-06\.rq\)(.|\n)*ObservationStructure-refArea"):
        compile_dataset(repo_copy, sources)


# ---------------------------------------------------------------- the real build

def _store(built: Path) -> ox.Store:
    return ox.Store.read_only(str(built / "store"))


def _select(store: ox.Store, query: str) -> list:
    return list(store.query(query, use_default_graph_as_union=True))


def test_the_real_build_is_a_well_formed_cube(built):
    """IC-1…IC-21 over the build's asserted curated graphs and ontology (as the gate runs)."""
    quads = [q for q in ox.parse(path=str(built / "bjkg.nq"), format=ox.RdfFormat.N_QUADS)
             if not re.search(r"/graph/(inferred|external/|links/)", q.graph_name.value)]
    assert check_cube(quads, ROOT) == len(CONSTRAINTS)
    store = normalised_store(quads, UPDATES)
    assert violations(store, CONSTRAINTS) == []


def test_observations_are_split_by_document_and_structure(built):
    store = _store(built)
    rows = _select(store, """
        PREFIX qb: <http://purl.org/linked-data/cube#>
        PREFIX bjkg: <https://w3id.org/bjkg/ontology#>
        SELECT ?o ?ds ?dsd WHERE { ?o a qb:Observation ; qb:dataSet ?ds . ?ds qb:structure ?dsd }""")
    by_obs = {str(r["o"].value).rsplit("/", 1)[1]: (r["ds"].value, r["dsd"].value) for r in rows}
    assert len(by_obs) == len(rows)  # one data set each
    ds, dsd = by_obs["an24-area-01-aspects-count"]
    assert ds.endswith("/id/dataset/analysis-2024-eleven-areas--indicator-area-subject")
    assert dsd.endswith("#StructureIndicatorAreaSubject")
    assert by_obs["npc24-gdp-growth-2023"][1].endswith("#ObservationStructure")
    assert by_obs["tz-twenty-year-pledge-span"][1].endswith("#StructureIndicatorAreaSubject")
    # the same WIPO rank stated by two documents: two data sets
    assert by_obs["bbt23-wipo-sci-tech-cluster-rank"][0] != by_obs["pd23-wipo-sci-tech-cluster-rank"][0]
    subjects = {r["s"].value.rsplit("/", 1)[1] for r in _select(store, """
        PREFIX bjkg: <https://w3id.org/bjkg/ontology#>
        SELECT ?s WHERE { ?o bjkg:indicator <https://w3id.org/bjkg/id/indicator/work-area-aspects-count> ;
                             bjkg:subject ?s }""")}
    assert len(subjects) == 5


def test_each_triple_is_in_one_graph_and_build_json_counts_them(built):
    store = _store(built)
    total = _select(store, "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")[0]["n"].value
    distinct = _select(store, "SELECT (COUNT(*) AS ?n) WHERE { SELECT DISTINCT ?s ?p ?o "
                              "WHERE { ?s ?p ?o } }")[0]["n"].value
    assert int(total) == int(distinct)
    manifest = json.loads((built / "build.json").read_text(encoding="utf-8"))
    assert manifest["triples"] == int(total)
    per_graph = {r["g"].value: int(r["n"].value) for r in store.query(
        "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g")}
    assert per_graph == manifest["graphs"]
    assert sum(per_graph.values()) == manifest["triples"]
    # org:heldBy answers once per holder (it used to answer twice)
    held = _select(store, """SELECT ?p WHERE {
        <https://w3id.org/bjkg/id/post/beijing-acting-mayor> <http://www.w3.org/ns/org#heldBy> ?p }""")
    assert len(held) == 1


def test_a_triple_stated_by_two_documents_keeps_both_documents_evidence(built):
    store = _store(built)
    s, p, o = ("<https://w3id.org/bjkg/id/initiative/capital-metropolitan-area>",
               "<https://w3id.org/bjkg/ontology#partOf>",
               "<https://w3id.org/bjkg/id/initiative/wuzi-5-jing-jin-ji>")
    graphs = [r["g"].value for r in store.query(f"SELECT ?g WHERE {{ GRAPH ?g {{ {s} {p} {o} }} }}")]
    assert graphs == ["https://w3id.org/bjkg/graph/peoples-daily-2023-01-11-interview"]  # the earlier
    evidence = {r["d"].value.rsplit("/", 1)[1] for r in _select(store, f"""
        PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#>
        SELECT ?d WHERE {{ ?a rdf:subject {s} ; rdf:predicate {p} ; rdf:object {o} ;
                              <http://www.w3.org/ns/prov#wasDerivedFrom> ?d ;
                              <https://w3id.org/bjkg/ontology#quote> [] }}""")}
    assert evidence == {"peoples-daily-2023-01-11-interview", "bbt-2023-wuzi-liandong"}


def test_the_unique_check_names_a_triple_in_two_graphs():
    from rdflib import URIRef
    a, b, c = (URIRef(f"http://example.org/{x}") for x in "abc")
    g1, g2, g3 = (URIRef(f"http://example.org/g{n}") for n in (1, 2, 3))
    quad = lambda s, p, o, g: ox.Quad(*(ox.NamedNode(str(x)) for x in (s, p, o, g)))  # noqa: E731
    check_one_graph_per_triple({g1: {(a, b, c)}, g2: {(a, b, a)}}, [quad(a, c, b, g3)])
    message = (r"1 triple\(s\) in more than one named graph(.|\n)*<http://example.org/a> "
               r"<http://example.org/b> <http://example.org/c> in http://example.org/g1, "
               r"http://example.org/g2")
    with pytest.raises(DuplicateTriples, match=message):
        check_one_graph_per_triple({g1: {(a, b, c)}, g2: {(a, b, c)}})
    with pytest.raises(DuplicateTriples, match=message.replace("g2", "g[23]")):
        check_one_graph_per_triple({g1: {(a, b, c)}, g2: {(b, b, c)}}, [quad(a, b, c, g3)])
    with pytest.raises(DuplicateTriples, match=r"<http://example.org/a> <http://example.org/b> "
                                               r"<http://example.org/c> in http://example.org/g2, "
                                               r"http://example.org/g3"):
        check_one_graph_per_triple({g1: {(b, b, c)}}, [quad(a, b, c, g2), quad(a, b, c, g3)])
