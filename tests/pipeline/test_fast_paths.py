"""The build's fast paths decide exactly what the plain ones do: owlrl over the indexed
graph, pyshacl with SPARQL answered by oxigraph, and the external datasets' SHACL run in
a forked process, whose failures still fail the build with their message."""
from __future__ import annotations

import owlrl
import pytest
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import RDF

from bjkg.graph import build as build_module
from bjkg.graph.build import BuildError, compile_dataset
from bjkg.graph.infer import _IndexedGraph, _resolved_vocabulary, infer
from bjkg.graph.validate import OxigraphQueryMemory, data_graph, validate

from .conftest import ROOT
from .test_external import MINI_ROWS, _mini_manifest

EX = "http://example.org/"
TBOX = f"""
@prefix ex: <{EX}> .
@prefix owl: <http://www.w3.org/2002/07/owl#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
ex:partOf a owl:ObjectProperty, owl:TransitiveProperty ; owl:inverseOf ex:hasPart ;
    rdfs:domain ex:Part ; rdfs:range ex:Whole .
ex:within rdfs:subPropertyOf ex:partOf .
ex:Task rdfs:subClassOf ex:Initiative . ex:Initiative rdfs:subClassOf ex:Thing .
ex:near a owl:SymmetricProperty .
"""
ABOX = f"""
@prefix ex: <{EX}> .
ex:a ex:partOf ex:b . ex:b ex:partOf ex:c . ex:c ex:within ex:d .
ex:a a ex:Task ; ex:near ex:e ; ex:label "a"@en .
"""


def _closure(graph: Graph) -> set:
    graph.parse(data=TBOX, format="turtle")
    graph.parse(data=ABOX, format="turtle")
    owlrl.DeductiveClosure(owlrl.OWLRL_Semantics, rdfs_closure=False, axiomatic_triples=False,
                           datatype_axioms=False).expand(graph)
    return set(graph)


def test_owlrl_closure_over_the_indexed_graph_is_rdflibs():
    fast, plain = _closure(_IndexedGraph()), _closure(Graph())
    assert fast == plain
    assert (URIRef(EX + "a"), URIRef(EX + "partOf"), URIRef(EX + "d")) in fast
    assert (URIRef(EX + "d"), URIRef(EX + "hasPart"), URIRef(EX + "a")) in fast


def test_owlrl_with_resolved_vocabulary_gives_the_same_closure():
    with _resolved_vocabulary():
        resolved = _closure(_IndexedGraph())
        assert type(owlrl.OWLRL.OWL).__name__ == "_ResolvedNamespace"
    assert type(owlrl.OWLRL.OWL).__name__ != "_ResolvedNamespace"  # restored afterwards
    assert resolved == _closure(_IndexedGraph())


def test_inference_is_the_same_with_and_without_resolved_vocabulary():
    ontology, asserted = Graph(), Graph()
    ontology.parse(data=TBOX, format="turtle")
    asserted.parse(data=ABOX, format="turtle")
    fast = infer(asserted, ontology, EX)
    assert fast == infer(asserted, ontology, EX, resolve_vocabulary=False)
    assert (URIRef(EX + "a"), RDF.type, URIRef(EX + "Initiative")) in fast


def test_indexed_graph_answers_every_pattern_like_rdflib():
    fast, plain = _IndexedGraph(), Graph()
    for graph in (fast, plain):
        graph.parse(data=TBOX + ABOX, format="turtle")
        graph.remove((URIRef(EX + "a"), None, URIRef(EX + "e")))
    assert len(fast) == len(plain)
    terms = [None, URIRef(EX + "a"), URIRef(EX + "partOf"), URIRef(EX + "b"), RDF.type,
             URIRef(EX + "Task"), Literal("a", lang="en"), URIRef(EX + "e")]
    for s in terms:
        for p in terms:
            for o in terms:
                assert set(fast.triples((s, p, o))) == set(plain.triples((s, p, o))), (s, p, o)



def test_indexed_graph_holds_one_object_per_term():
    """Equal terms added as different objects come back as one object (the canonical one
    when given), so owlrl's lookups hit by identity; the triples are the same."""
    canonical = URIRef(EX + "partOf")
    graph = _IndexedGraph([canonical])
    graph.add((URIRef(EX + "a"), URIRef(EX + "partOf"), URIRef(EX + "b")))
    graph.add((URIRef(EX + "b"), URIRef(EX + "partOf"), URIRef(EX + "a")))
    (s1, p1, o1), (s2, p2, o2) = sorted(graph.triples((None, None, None)))
    assert p1 is canonical and p2 is canonical
    assert s1 is o2 and o1 is s2
    assert len(graph) == 2 and (URIRef(EX + "a"), URIRef(EX + "partOf"), URIRef(EX + "b")) in graph


def test_sparql_is_answered_by_oxigraph_and_sees_later_changes():
    graph = data_graph([(URIRef(EX + "a"), URIRef(EX + "p"), Literal("x", lang="zh-Hans"))])
    store = graph.store
    assert isinstance(store, OxigraphQueryMemory)
    rows = list(graph.query(f"SELECT ?s WHERE {{ ?s <{EX}p> ?o }}"))
    assert rows == [(URIRef(EX + "a"),)] and store._oxigraph is not None
    graph.add((URIRef(EX + "b"), URIRef(EX + "p"), Literal("y")))
    rows = {row[0] for row in graph.query(f"SELECT ?s WHERE {{ ?s <{EX}p> ?o }}")}
    assert rows == {URIRef(EX + "a"), URIRef(EX + "b")}
    # LANG() keeps rdflib's answer (oxigraph would lower-case the tag).
    (row,) = graph.query(f"SELECT (LANG(?o) AS ?l) WHERE {{ <{EX}a> <{EX}p> ?o }}")
    assert str(row[0]) == "zh-Hans"
    assert bool(graph.query(f"ASK {{ ?s <{EX}p> \"y\" }}"))
    # Initial bindings (pyshacl's $this) stay rdflib's: it binds unprojected variables.
    bound = graph.query(f"SELECT ?o WHERE {{ ?s <{EX}p> ?o }}", initBindings={"s": URIRef(EX + "b")})
    assert [row[0] for row in bound] == [Literal("y")]




def test_langmatches_is_answered_by_oxigraph_but_a_bare_lang_is_not():
    """LANGMATCHES ignores case in both engines, so only a bare LANG() needs rdflib."""
    graph = data_graph([(URIRef(EX + "a"), URIRef(EX + "p"), Literal("x", lang="zh-Hans"))])
    query = f'SELECT ?s WHERE {{ ?s <{EX}p> ?o FILTER(LANGMATCHES(LANG(?o), "zh-Hans")) }}'
    assert [row[0] for row in graph.query(query)] == [URIRef(EX + "a")]
    assert graph.store._oxigraph is not None
    graph.add((URIRef(EX + "b"), URIRef(EX + "p"), Literal("y", lang="en")))
    assert graph.store._oxigraph is None
    (row,) = graph.query(f'SELECT ?s WHERE {{ ?s <{EX}p> ?o FILTER(LANG(?o) = "zh-Hans") }}')
    assert row[0] == URIRef(EX + "a") and graph.store._oxigraph is None  # rdflib answered

def test_sparql_copy_can_come_from_the_callers_quads_until_a_change():
    """External data arrives as pyoxigraph quads: those seed the SPARQL copy directly."""
    import pyoxigraph as ox

    quads = [ox.Quad(ox.NamedNode(EX + "a"), ox.NamedNode(EX + "p"), ox.Literal("x"))]
    graph = data_graph([(URIRef(EX + "a"), URIRef(EX + "p"), Literal("x"))], oxigraph=quads)
    copy = graph.store._oxigraph
    assert copy is not None and len(copy) == 1
    assert [row[0] for row in graph.query(f"SELECT ?s WHERE {{ ?s <{EX}p> ?o }}")] == [URIRef(EX + "a")]
    assert graph.store._oxigraph is copy  # answered from the given quads, not a new copy
    graph.add((URIRef(EX + "b"), URIRef(EX + "p"), Literal("y")))
    assert {row[0] for row in graph.query(f"SELECT ?s WHERE {{ ?s <{EX}p> ?o }}")} == {
        URIRef(EX + "a"), URIRef(EX + "b")}

def test_sparql_target_still_finds_its_violation():
    shapes = Graph().parse(data=f"""
        @prefix sh: <http://www.w3.org/ns/shacl#> .
        <{EX}Shape> a sh:NodeShape ;
            sh:target [ a sh:SPARQLTarget ;
                        sh:select "SELECT ?this WHERE {{ ?this <{EX}start> ?s ; <{EX}end> ?e . FILTER(?e < ?s) }}" ] ;
            sh:property [ sh:path <{EX}end> ; sh:maxCount 0 ] .
        """, format="turtle")
    data = Graph().parse(data=f"""
        @prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
        <{EX}ok> <{EX}start> "2024-01-01"^^xsd:date ; <{EX}end> "2024-12-31"^^xsd:date .
        <{EX}bad> <{EX}start> "2024-12-31"^^xsd:date ; <{EX}end> "2024-01-01"^^xsd:date .
        """, format="turtle")
    conforms, report, _ = validate(data, shapes)
    focus = {str(o) for o in report.objects(None, URIRef("http://www.w3.org/ns/shacl#focusNode"))}
    assert not conforms and focus == {EX + "bad"}
    assert len(data) == 4  # the caller's graph is left as it was


@pytest.mark.parametrize("fork", [True, False])
def test_external_shacl_failure_fails_the_build_with_its_message(tmp_path, sources, monkeypatch, fork):
    if not fork:
        monkeypatch.setattr(build_module.multiprocessing, "get_all_start_methods", lambda: [])
    wrong = ("PREFIX geo: <http://www.opengis.net/ont/geosparql#>\n"
             "CONSTRUCT { <https://w3id.org/bjkg/id/division/110000> geo:sfWithin "
             "<https://w3id.org/bjkg/id/division/110112> } WHERE {}\n")
    manifest = _mini_manifest(tmp_path, MINI_ROWS, extra_rule=wrong)
    with pytest.raises(BuildError, match="within the divisions its code starts with") as caught:
        compile_dataset(ROOT, sources, external_manifest=manifest)
    assert "external.toml:1: dataset 'mini'" in str(caught.value)



@pytest.mark.parametrize("fork", [True, False])
def test_broken_external_input_fails_the_build_with_its_message(tmp_path, sources, monkeypatch, fork):
    """The external datasets are read in the second process (or here, without fork); a
    file that does not match its checksum still fails the build, naming the manifest."""
    if not fork:
        monkeypatch.setattr(build_module.multiprocessing, "get_all_start_methods", lambda: [])
    manifest = _mini_manifest(tmp_path, MINI_ROWS)
    (tmp_path / "mini.csv").write_text("adcode,name,longitude,latitude\r\n", encoding="utf-8")
    with pytest.raises(BuildError, match="SHA-256 mismatch for .*mini.csv") as caught:
        compile_dataset(ROOT, sources, external_manifest=manifest)
    assert "external.toml:1: dataset 'mini'" in str(caught.value)


# Text that looks like a tag, inside literals of every kind, next to real tags.
_TRICKY_TEXTS = ["plain", "ends with a backslash\\", 'has "@zh-hans inside', '"@zh-hans', "@zh-hans",
                 '"@language": "zh-hans"', '\\"@zh-hant\\\\', 'quote at the end"', "通州\n区", ""]


@pytest.mark.parametrize("fmt", ["N_QUADS", "TRIG", "JSON_LD"])
def test_dump_language_tags_are_fixed_and_nothing_else(fmt):
    """The dumps restore zh-Hans/zh-Hant/zh-Latn-pinyin after oxigraph lower-cased them,
    only where a tag is written; the result parses to the same quads, and differs only in
    the case of those tags."""
    import pyoxigraph as ox

    label = ox.NamedNode("http://www.w3.org/2000/01/rdf-schema#label")
    quads = [ox.Quad(ox.NamedNode(f"https://w3id.org/bjkg/id/x{i}"), label,
                     ox.Literal(text, language=lang) if lang else ox.Literal(text),
                     ox.NamedNode("https://w3id.org/bjkg/graph/test"))
             for i, text in enumerate(_TRICKY_TEXTS)
             for lang in ("zh-Hans", "zh-Hant", "zh-Latn-pinyin", "en", "zh-Hans-CN", None)]
    form = getattr(ox.RdfFormat, fmt)
    data = ox.serialize(quads, format=form)
    fixed = build_module._canonical_language_case(data, form, build_module._tagged_literals(quads))
    assert set(ox.parse(fixed, format=form)) == set(quads)
    assert fixed.lower() == data.lower()
    if fmt == "N_QUADS":  # rdflib keeps a tag's case as written
        from rdflib import Dataset

        langs = {o.language for *_, o, _ in Dataset().parse(data=fixed, format="nquads").quads()
                 if isinstance(o, Literal) and o.language}
        assert langs == {"zh-Hans", "zh-Hant", "zh-Latn-pinyin", "en", "zh-hans-cn"}


def test_dump_language_tag_fix_refuses_a_count_it_cannot_explain():
    """The fix proves itself by counting: one fixed tag per quad whose literal has one."""
    import pyoxigraph as ox

    quad = ox.Quad(ox.NamedNode("https://w3id.org/bjkg/id/x"),
                   ox.NamedNode("http://www.w3.org/2000/01/rdf-schema#label"),
                   ox.Literal("通州", language="zh-Hans"), ox.NamedNode("https://w3id.org/bjkg/graph/t"))
    data = ox.serialize([quad], format=ox.RdfFormat.N_QUADS)
    with pytest.raises(BuildError, match="1 language tags fixed .* 2 expected"):
        build_module._canonical_language_case(data, ox.RdfFormat.N_QUADS, build_module._tagged_literals([quad, quad]))


def test_records_parse_alike_with_libyaml_and_errors_keep_the_python_wording(tmp_path):
    """The records are read with libyaml when PyYAML has it; the structure and its lines
    are the pure-Python parser's, and a syntax error is reported in its words."""
    import yaml

    from bjkg.graph.records import yamlsrc

    def shape(x):
        if isinstance(x, dict):
            return ("map", x.line, sorted(x.key_lines.items()), [(k, shape(v)) for k, v in x.items()])
        if isinstance(x, list):
            return ("seq", x.line, x.item_lines, [shape(v) for v in x])
        return x

    path = ROOT / "graph" / "reference" / "places.yaml"
    fast = yamlsrc.load(path)
    slow = yaml.load(path.read_text(encoding="utf-8"),  # noqa: S506 - SafeLoader subclass
                     Loader=yamlsrc._loader_for(str(path), yaml.SafeLoader))
    assert shape(fast) == shape(slow)
    broken = tmp_path / "broken.yaml"
    broken.write_text("places:\n  - id: place/x\n\tzh: 通州\n", encoding="utf-8")
    with pytest.raises(yamlsrc.RecordError, match=r"broken.yaml:3: YAML syntax error: found character '\\t'"):
        yamlsrc.load(broken, "broken.yaml")
