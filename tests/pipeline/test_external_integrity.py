"""What an external dataset may not say (graph/datasets/iris.py, docs/external.md): facts
about bjkg's own resources (a subject under the base IRI, or in bjkg's ontology) and `file:`
IRIs. Refused by `bjkg load` (incremental or rebuilding) and `bjkg build` alike, naming the
dataset, the file and the line; bjkg IRIs as objects, the divisions' `id/division/` and the
links graph are unaffected."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyoxigraph as ox
import pytest

from bjkg.graph.build import BuildError
from bjkg.graph.datasets import rdf_input
from bjkg.graph.datasets.iris import ExternalIris
from bjkg.graph.datasets.manifest import ManifestError, read_manifest
from bjkg.graph.datasets.rdf_input import RdfInputError, read_quads
from bjkg.graph.datasets.read import ExternalError, link_external, read_external
from bjkg.graph.load import load_files

from .conftest import ROOT, copy_workspace

BASE = "https://w3id.org/bjkg/"
BEIJING = f"{BASE}id/place/beijing"
GRAPH = f"{BASE}graph/external/x"
SKOLEM = f"{BASE}.well-known/genid/x/"
BJKG = "https://w3id.org/bjkg/ontology#"
SKOS = "http://www.w3.org/2004/02/skos/core#"
DIVISION_FILES = ROOT / "graph" / "external" / "cpca-divisions"
OWN = "its subject <{}> is in bjkg's own namespace"
FILE = "is a file: IRI"


def _read(tmp_path: Path, name: str, text: str, fmt: str, *, as_nquads: bool = False,
          base: str = BASE):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return read_quads(path, fmt, f"{base}graph/external/x", f"{base}.well-known/genid/x/",
                      label=name, as_nquads=as_nquads, iris=ExternalIris(base, "x"))


# --------------------------------------------------------------------------- reading

REFUSED = [
    # an N-Triples statement about a bjkg place (line 4: a comment and a blank line before)
    ("about.nt", "ntriples", '<http://example.org/a> <http://example.org/p> "a" .\n# c\n\n'
     f'<{BEIJING}> <http://example.org/p> "b" .\n', 4, OWN.format(BEIJING)),
    # the same in Turtle, over two lines: the line it ends on
    ("about.ttl", "turtle", "@prefix ex: <http://example.org/> .\nex:a ex:p ex:b .\n"
     f"<{BEIJING}>\n    ex:p ex:c .\n", 4, OWN.format(BEIJING)),
    # a relative IRI: against the graph IRI <…/graph/external/x>, into bjkg's id/
    ("relative.ttl", "turtle", '@prefix ex: <http://example.org/> .\nex:a ex:p ex:b .\n'
     '<../../id/place/beijing> ex:p "x" .\n', 3, OWN.format(BEIJING)),
    ("hash.ttl", "turtle", '<#me> <http://example.org/p> "x" .\n', 1, OWN.format(GRAPH + "#me")),
    ("base.ttl", "turtle", '@base <https://w3id.org/bjkg/id/agency/> .\n\n<x> <http://example.org/p> 1 .\n',
     3, OWN.format(f"{BASE}id/agency/x")),
    # another dataset's blank nodes, and bjkg's ontology (redefining a term)
    ("genid.nt", "ntriples", f'<{BASE}.well-known/genid/cpca-divisions/1> <http://example.org/p> "x" .\n',
     1, OWN.format(f"{BASE}.well-known/genid/cpca-divisions/1")),
    ("ontology.ttl", "turtle", "@prefix bjkg: <https://w3id.org/bjkg/ontology#> .\n"
     "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n"
     'bjkg:Place rdfs:label "not a place"@en .\n', 3, f"its subject <{BJKG}Place> is in bjkg's ontology"),
    ("json.jsonld", "jsonld", '[\n{"@id": "http://example.org/a",\n "http://example.org/b": "x"},\n'
     f'{{"@id": "{BEIJING}",\n "http://example.org/b": "y"}}\n]\n', 5, OWN.format(BEIJING)),
    # file: IRIs in every position, and made by a base
    ("subject.nt", "ntriples", '<file:///home/me/a> <http://example.org/p> "x" .\n', 1,
     f"the subject <file:///home/me/a> {FILE}"),
    ("predicate.nt", "ntriples", '<http://example.org/a> <file:///p> "x" .\n', 1, f"the predicate <file:///p> {FILE}"),
    ("object.ttl", "turtle", '<http://example.org/a> <http://example.org/p> [ <http://example.org/q> '
     '<FILE:///etc/passwd> ] .\n', 1, f"the object <FILE:///etc/passwd> {FILE}"),
    ("datatype.ttl", "turtle", '@prefix ex: <http://example.org/> .\nex:a ex:p ex:b .\n'
     'ex:a ex:q "x"^^<file:///types/t> .\n', 3, f"the datatype <file:///types/t> {FILE}"),
    ("xmlbase.rdf", "rdfxml", '<?xml version="1.0"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
     '22-rdf-syntax-ns#" xmlns:ex="http://example.org/" xml:base="file:///tmp/">\n'
     '<rdf:Description rdf:about="http://example.org/a">\n<ex:b>x</ex:b>\n</rdf:Description>\n'
     '<rdf:Description rdf:about="c">\n<ex:b>y</ex:b>\n</rdf:Description>\n</rdf:RDF>\n', 7,
     f"the subject <file:///tmp/c> {FILE}"),
]


@pytest.mark.parametrize("as_nquads", [False, True])
@pytest.mark.parametrize("name, fmt, text, line, message", REFUSED, ids=[r[0] for r in REFUSED])
def test_a_refused_statement_names_the_file_and_line(tmp_path, name, fmt, text, line, message, as_nquads):
    """Either way a file is read (quads for the build, N-Quads text for `bjkg load`)."""
    with pytest.raises(RdfInputError) as caught:
        _read(tmp_path, name, text, fmt, as_nquads=as_nquads)
    assert str(caught.value).startswith(f"{name}:{line}: "), str(caught.value)
    assert message in str(caught.value)


@pytest.mark.parametrize("as_nquads", [False, True])
def test_bjkg_iris_as_objects_and_the_room_given_to_external_data_pass(tmp_path, as_nquads):
    """bjkg's entities and terms as objects, predicates and datatypes; subjects in
    id/division/ and the dataset's own skolem IRIs; text that looks like a refused IRI
    inside a literal (the N-Quads scan finds it and the statement is then read whole)."""
    text = (f"@prefix bjkg: <{BJKG}> .\n@prefix skos: <{SKOS}> .\n"
            f"<http://example.org/a> skos:exactMatch <{BEIJING}> ; a bjkg:Place ;\n"
            f'  bjkg:divisionLevel bjkg:CountyLevel ; skos:notation "110112"^^bjkg:GBT2260Code .\n'
            f"<{BASE}id/division/110112> skos:closeMatch <{BEIJING}> .\n"
            f"<{BASE}id/division/110112/geometry> a <http://www.opengis.net/ont/geosparql#Geometry> .\n"
            f'[] <http://example.org/p> <{BASE}graph/reference> .\n'
            f"<{SKOLEM}9> <http://example.org/p> <{BJKG}Place> .\n"
            '<http://example.org/b> <http://example.org/p> "see <file:///etc/x> and \\n'
            f'<{BEIJING}> <x> \\"y\\"" .\n')
    read = _read(tmp_path, "fine.ttl", text, "turtle", as_nquads=as_nquads)
    quads = list(ox.parse(read, format=ox.RdfFormat.N_QUADS)) if as_nquads else read
    assert len(quads) == 9
    assert {q.subject.value for q in quads} >= {f"{BASE}id/division/110112", f"{SKOLEM}9", f"{SKOLEM}1"}


def test_another_base_keeps_the_ontology_out_but_not_the_default_base(tmp_path):
    """Under --base http://localhost/kg/, w3id's id/ is not this build's; its ontology is."""
    local = "http://localhost/kg/"
    text = f'<{BEIJING}> <http://example.org/p> "x" .\n'
    assert len(_read(tmp_path, "w3id.nt", text, "ntriples", base=local)) == 1
    with pytest.raises(RdfInputError, match=r"^local\.nt:1: .*is in bjkg's own namespace <http://localhost/kg/>"):
        _read(tmp_path, "local.nt", f'<{local}id/place/beijing> <http://example.org/p> "x" .\n',
              "ntriples", base=local)
    with pytest.raises(RdfInputError, match=r"^onto\.nt:1: .*is in bjkg's ontology"):
        _read(tmp_path, "onto.nt", '<https://w3id.org/bjkg/ontology> <http://example.org/p> "x" .\n',
              "ntriples", base=local)
    assert len(_read(tmp_path, "division.nt", f'<{local}id/division/1> <http://example.org/p> "x" .\n',
                     "ntriples", base=local)) == 1


def test_a_statement_in_a_later_piece_is_named_by_its_line(tmp_path, monkeypatch):
    """`bjkg load` hands the N-Quads on in pieces: the line counts across them, and a
    file with blank nodes (read again quad by quad) is checked too."""
    monkeypatch.setattr(rdf_input, "PIECE_QUADS", 2)
    lines = [f'<http://example.org/{n}> <http://example.org/p> "{n}" .\n' for n in range(7)]
    lines[5] = f'<{BEIJING}> <http://example.org/p> "5" .\n'
    with pytest.raises(RdfInputError, match=r"^pieces\.nt:6: "):
        _read(tmp_path, "pieces.nt", "".join(lines), "ntriples", as_nquads=True)
    lines[0] = '_:b <http://example.org/p> "0" .\n'
    with pytest.raises(RdfInputError, match=r"^blank\.nt:6: "):
        _read(tmp_path, "blank.nt", "".join(lines), "ntriples", as_nquads=True)


# --------------------------------------------------------------------------- CSVW and rules

_MAPPING = {
    "@context": "http://www.w3.org/ns/csvw",
    "url": "table.csv",
    "tableSchema": {
        "aboutUrl": "{+about}",
        "columns": [
            {"name": "about", "titles": "about", "suppressOutput": True},
            {"name": "label", "titles": "label", "propertyUrl": "rdfs:label"},
        ],
    },
}


def _csvw_manifest(tmp_path: Path, rows: str, *, derive: str | None = None,
                   links: str | None = None) -> Path:
    csv = tmp_path / "table.csv"
    csv.write_text("about,label\r\n" + rows, encoding="utf-8")
    mapping = tmp_path / "table.csv-metadata.json"
    mapping.write_text(json.dumps(_MAPPING), encoding="utf-8")
    entry = ('[[dataset]]\nname = "x"\ntitle = "X"\nformat = "csvw"\n'
             f'file = "{csv}"\nsha256 = "{hashlib.sha256(csv.read_bytes()).hexdigest()}"\n'
             f'mapping = "{mapping}"\n')
    if derive is not None:
        (tmp_path / "derive.rq").write_text(derive, encoding="utf-8")
        entry += f"derive = {json.dumps([str(tmp_path / 'derive.rq')])}\n"
    if links is not None:
        (tmp_path / "links.rq").write_text(links, encoding="utf-8")
        entry += f"links = {json.dumps(str(tmp_path / 'links.rq'))}\n"
    manifest = tmp_path / "external.toml"
    manifest.write_text(entry, encoding="utf-8")
    return manifest


@pytest.mark.parametrize("about, message", [
    ("id/place/beijing", OWN.format(BEIJING)),                  # relative: against the base
    (BEIJING, OWN.format(BEIJING)),
    ("https://w3id.org/bjkg/ontology#Place", "is in bjkg's ontology"),
    ("file:///home/me/x", f"the subject <file:///home/me/x> {FILE}"),
])
def test_a_csvw_table_is_refused_with_its_row_and_line(tmp_path, about, message):
    manifest = _csvw_manifest(tmp_path, f"http://example.org/a,A\r\n{about},B\r\n")
    with pytest.raises(ExternalError) as caught:
        read_external(ROOT, BASE, manifest=manifest)
    text = str(caught.value)
    assert "external.toml:1: dataset 'x': " in text and "table.csv:3: row 2: " in text, text
    assert message in text


def test_a_csvw_table_of_its_own_resources_and_divisions_passes(tmp_path):
    manifest = _csvw_manifest(tmp_path, "http://example.org/a,A\r\nid/division/110112,B\r\n")
    (item,) = read_external(ROOT, BASE, manifest=manifest)
    assert {q.subject.value for q in item.quads} == {"http://example.org/a", f"{BASE}id/division/110112"}


@pytest.mark.parametrize("construct, message", [
    (f"<{BEIJING}> <http://example.org/p> ?s", OWN.format(BEIJING)),
    ("?s <http://example.org/p> <file:///x>", f"the object <file:///x> {FILE}"),
])
def test_a_derive_rule_that_constructs_them_is_refused_naming_the_rule(tmp_path, construct, message):
    manifest = _csvw_manifest(tmp_path, "http://example.org/a,A\r\n",
                              derive=f"CONSTRUCT {{ {construct} }} WHERE {{ ?s ?p ?o }}\n")
    with pytest.raises(ExternalError) as caught:
        read_external(ROOT, BASE, manifest=manifest)
    text = str(caught.value)
    assert f"external.toml:1: dataset 'x': {tmp_path / 'derive.rq'} constructs " in text, text
    assert message in text


def test_the_links_graph_states_facts_about_bjkg_entities_but_no_file_iris(tmp_path):
    """The links rule is bjkg's own: its subjects are bjkg's entities by design."""
    curated = [ox.Quad(ox.NamedNode(BEIJING), ox.NamedNode(f"{SKOS}notation"),
                       ox.Literal("110000", datatype=ox.NamedNode(f"{BJKG}GBT2260Code")),
                       ox.NamedNode(f"{BASE}graph/reference"))]
    links = (f"PREFIX skos: <{SKOS}>\nCONSTRUCT {{ ?place skos:closeMatch ?x }} "
             "WHERE { ?place skos:notation ?code . ?x <http://www.w3.org/2000/01/rdf-schema#label> ?l }\n")
    manifest = _csvw_manifest(tmp_path, "http://example.org/a,A\r\n", links=links)
    result = link_external(ROOT, BASE, read_external(ROOT, BASE, manifest=manifest), lambda: curated)
    assert result.graphs[f"{BASE}graph/links/x"] == 1
    assert [q.subject.value for q in result.quads if q.graph_name.value.endswith("links/x")] == [BEIJING]
    manifest = _csvw_manifest(tmp_path, "http://example.org/a,A\r\n",
                              links=links.replace("?place skos:closeMatch ?x", "?place skos:closeMatch <file:///x>"))
    with pytest.raises(ExternalError, match=r"links\.rq constructs .*the object <file:///x> is a file: IRI"):
        link_external(ROOT, BASE, read_external(ROOT, BASE, manifest=manifest), lambda: curated)


@pytest.mark.parametrize("key", ["licence", "source", "landing_page"])
def test_the_manifest_refuses_file_iris_it_would_publish(tmp_path, key):
    manifest = tmp_path / "external.toml"
    manifest.write_text('[[dataset]]\nname = "x"\ntitle = "X"\nformat = "turtle"\n'
                        f'file = "x.ttl"\nsha256 = "{"0" * 64}"\n{key} = "File:///home/me/x"\n',
                        encoding="utf-8")
    with pytest.raises(ManifestError, match=rf"external\.toml:7: {key} 'File:///home/me/x' is a file: IRI"):
        read_manifest(manifest)


# --------------------------------------------------------------------------- bjkg load and build

@pytest.fixture
def workspace(built, tmp_path):
    return copy_workspace(built, tmp_path / "root")


def _snapshot(root: Path, out: Path) -> dict:
    return {"manifest": (root / "graph" / "external.toml").read_bytes(),
            **{p.name: p.read_bytes() for p in out.iterdir() if p.is_file()},
            "store": sorted((p.name, p.stat().st_mtime_ns) for p in (out / "store").iterdir()),
            "siblings": sorted(p.name for p in out.parent.iterdir())}


@pytest.mark.parametrize("rebuild", [False, True])
def test_bjkg_load_refuses_them_and_changes_nothing(workspace, sources, tmp_path, rebuild):
    """Incremental, and as a full `bjkg build` of the new manifest (`rebuild`)."""
    root, out = workspace
    before = _snapshot(root, out)
    about = tmp_path / "about.nt"
    about.write_text(f'<http://example.org/a> <{SKOS}exactMatch> <{BEIJING}> .\n'
                     f'<{BEIJING}> <http://www.w3.org/2000/01/rdf-schema#label> "北京"@zh-Hans .\n',
                     encoding="utf-8")
    with pytest.raises(BuildError, match=r"^new dataset 'about' \(bjkg load\): \S*/about\.nt:2: .*"
                                         + OWN.format(BEIJING).replace("(", r"\(")):
        load_files(root, out, sources, [about], rebuild=rebuild)
    local = tmp_path / "local.ttl"
    local.write_text('@base <file:///home/me/data/> .\n<a> <http://example.org/p> "x" .\n', encoding="utf-8")
    with pytest.raises(BuildError, match=r"^new dataset 'local' \(bjkg load\): \S*/local\.ttl:2: .*"
                                         r"the subject <file:///home/me/data/a> is a file: IRI"):
        load_files(root, out, sources, [local], rebuild=rebuild)
    assert _snapshot(root, out) == before


def test_bjkg_load_takes_bjkg_iris_as_objects(workspace, sources, tmp_path):
    root, out = workspace
    data = tmp_path / "pointing.nt"
    data.write_text(f'<http://example.org/a> <{SKOS}exactMatch> <{BEIJING}> .\n'
                    f'<http://example.org/a> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{BJKG}Place> .\n', encoding="utf-8")
    summary = load_files(root, out, sources, [data])
    assert summary["external"][-1]["triples"] == 2
    store = ox.Store.read_only(str(out / "store"))
    assert store.query(f"ASK {{ GRAPH <{BASE}graph/external/pointing> {{ <http://example.org/a> "
                       f"<{SKOS}exactMatch> <{BEIJING}> }} }}")
    # the divisions and their links, in bjkg's namespace, are built as before
    assert store.query(f"ASK {{ GRAPH <{BASE}graph/links/cpca-divisions> {{ ?place <{SKOS}exactMatch> ?d "
                       f"FILTER(STRSTARTS(STR(?place), '{BASE}id/place/')) }} }}")


def test_a_division_triple_the_build_holds_is_still_refused_as_a_repeat(workspace, sources, tmp_path):
    """A subject external data may use (id/division/) reaches the check of each triple in
    one graph as before (a bjkg entity's triple is now refused before it)."""
    root, out = workspace
    store = ox.Store.read_only(str(out / "store"))
    held = next(iter(store.quads_for_pattern(ox.NamedNode(f"{BASE}id/division/110112"), None, None)))
    del store
    repeat = tmp_path / "repeat.nt"
    repeat.write_text(f"{held.subject} {held.predicate} {held.object} .\n", encoding="utf-8")
    before = _snapshot(root, out)
    with pytest.raises(BuildError, match=r"1 triple\(s\) in more than one named graph"):
        load_files(root, out, sources, [repeat])
    assert _snapshot(root, out) == before
