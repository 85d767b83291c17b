"""External datasets in the build: the manifest, checksums, RDF and CSVW inputs, the cpca
divisions with their codes, containment, points and links, and `bjkg load`'s atomicity."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pyoxigraph as ox
import pytest

from bjkg.graph.build import BuildError, build_dataset, compile_dataset
from bjkg.graph.datasets.csvw import CsvwError, expand_template, read_metadata, table_triples
from bjkg.graph.datasets.read import ExternalError, link_external, read_external
from bjkg.graph.load import load_files
from bjkg.graph.datasets.manifest import ManifestError, read_manifest
from bjkg.graph.datasets.rdf_input import RdfInputError, read_quads

from .conftest import ROOT, copy_workspace

BASE = "https://w3id.org/bjkg/"
DIVISIONS = f"{BASE}graph/external/cpca-divisions"
LINKS = f"{BASE}graph/links/cpca-divisions"
BJKG = "https://w3id.org/bjkg/ontology#"
SKOS = "http://www.w3.org/2004/02/skos/core#"
GEO = "http://www.opengis.net/ont/geosparql#"
DIVISION_FILES = ROOT / "graph" / "external" / "cpca-divisions"


def _ask(store: ox.Store, query: str) -> bool:
    return bool(store.query(query, use_default_graph_as_union=True))


@pytest.fixture(scope="module")
def manifest(built):
    return json.loads((built / "build.json").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- the manifest

def test_manifest_declares_the_divisions_from_the_installed_package():
    (dataset,) = read_manifest(ROOT / "graph" / "external.toml")
    assert dataset.name == "cpca-divisions"
    assert dataset.graph_iri(BASE) == DIVISIONS
    assert dataset.inputs[0].resource == "cpca:resources/adcodes.csv"
    assert dataset.format == "csvw" and dataset.licence and dataset.publisher and dataset.retrieved
    copies = [p for folder in ("graph", "shapes", "ontology") for p in (ROOT / folder).rglob("*.csv")]
    assert not copies, "the table is read from the installed package, not copied into the repo"


def test_a_package_resource_is_read_without_importing_the_package(tmp_path):
    """cpca's own start-up (its address matcher) is not needed to read its table; a
    missing package or file is named."""
    import subprocess
    import sys

    (dataset,) = read_manifest(ROOT / "graph" / "external.toml")
    item = dataset.inputs[0]
    script = ("import sys; from pathlib import Path; from bjkg.graph.datasets.read import _read_input\n"
              f"loaded = _read_input('x', Path({str(ROOT)!r}), {item!r})\n"
              "print(loaded.size, 'cpca' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", "from bjkg.graph.datasets.manifest import Input\n" + script],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    size, imported = done.stdout.split()
    assert int(size) > 100_000 and imported == "False"
    from bjkg.graph.datasets.read import ExternalError, _read_input
    from bjkg.graph.datasets.manifest import Input

    with pytest.raises(ExternalError, match="package 'no_such_package_bjkg' is not installed"):
        _read_input("x", ROOT, Input(None, "no_such_package_bjkg:data.csv", item.sha256, "csv"))
    with pytest.raises(ExternalError, match="has no file resources/missing.csv"):
        _read_input("x", ROOT, Input(None, "cpca:resources/missing.csv", item.sha256, "csv"))


def test_manifest_errors_name_the_line(tmp_path):
    path = tmp_path / "external.toml"
    path.write_text('# comment\n\n[[dataset]]\nname = "x"\ntitle = "X"\nformat = "turtle"\n'
                    'file = "x.ttl"\nsha256 = "' + "0" * 64 + '"\ncolour = "red"\n', encoding="utf-8")
    with pytest.raises(ManifestError, match=r"external\.toml:9: unknown field 'colour'"):
        read_manifest(path)
    path.write_text('[[dataset]]\nname = "x"\ntitle = "X"\nformat = "turtle"\nfile = "x.ttl"\n'
                    'sha256 = "abc"\n', encoding="utf-8")
    with pytest.raises(ManifestError, match=r"external\.toml:6: sha256 must be"):
        read_manifest(path)


def test_sha256_mismatch_fails_the_build_naming_the_manifest_line(repo_copy, sources):
    manifest = repo_copy / "graph" / "external.toml"
    text = manifest.read_text(encoding="utf-8")
    good = "66948fa1519ba053f22b8c2d05c897c9b19c44cdc3044e464b52f0143ff418fe"
    manifest.write_text(text.replace(good, "0" * 64), encoding="utf-8")
    line = text[: text.index("[[dataset]]")].count("\n") + 1
    with pytest.raises(BuildError) as failure:
        compile_dataset(repo_copy, sources)
    message = str(failure.value)
    assert f"graph/external.toml:{line}: dataset 'cpca-divisions'" in message
    assert "SHA-256 mismatch" in message and good in message and "0" * 64 in message


# --------------------------------------------------------------------------- RDF inputs

def test_rdf_input_skolemises_blank_nodes_in_order(tmp_path):
    path = tmp_path / "data.ttl"
    path.write_text("@prefix ex: <http://example.org/> .\nex:a ex:p [ ex:q 1 ] , _:x .\n_:x ex:q 2 .\n",
                    encoding="utf-8")
    graph = f"{BASE}graph/external/example"
    first = read_quads(path, "turtle", graph, f"{BASE}.well-known/genid/example/", label="data.ttl")
    again = read_quads(path, "turtle", graph, f"{BASE}.well-known/genid/example/", label="data.ttl")
    assert first == again and len(first) == 4
    assert all(q.graph_name == ox.NamedNode(graph) for q in first)
    assert not any(isinstance(t, ox.BlankNode) for q in first for t in (q.subject, q.object))
    assert {q.subject.value for q in first} >= {f"{BASE}.well-known/genid/example/1"}


def test_rdf_syntax_error_names_file_and_line(tmp_path):
    path = tmp_path / "broken.ttl"
    path.write_text("@prefix ex: <http://example.org/> .\nex:a ex:b ex:c .\nex:d ex:e ex:f ex:g .\n"
                    "ex:g ex:h ex:i .\n", encoding="utf-8")
    with pytest.raises(RdfInputError, match=r"broken\.ttl:3:"):
        read_quads(path, "turtle", f"{BASE}graph/external/x", "x:", label="broken.ttl")


def test_remote_jsonld_context_is_refused(tmp_path):
    path = tmp_path / "remote.jsonld"
    path.write_text('{\n  "@id": "http://example.org/a",\n  "@context": "https://schema.org/",\n'
                    '  "name": "A"\n}\n', encoding="utf-8")
    with pytest.raises(RdfInputError, match=r"remote\.jsonld:3: remote JSON-LD @context "
                                            r"'https://schema\.org/' refused"):
        read_quads(path, "jsonld", f"{BASE}graph/external/x", "x:", label="remote.jsonld")
    path.write_text('{"@context": {"name": "http://schema.org/name"}, "@id": "http://example.org/a",'
                    ' "name": "A"}', encoding="utf-8")
    (quad,) = read_quads(path, "jsonld", f"{BASE}graph/external/x", "x:", label="local.jsonld")
    assert quad.predicate.value == "http://schema.org/name"


_XML_HEAD = ('<?xml version="1.0"?>\n<!DOCTYPE rdf:RDF [\n{entities}]>\n'
             '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:ex="http://example.org/">\n')


def _rdfxml(tmp_path, entities: str, body: str):
    path = tmp_path / "data.rdf"
    path.write_text(_XML_HEAD.format(entities=entities) + body + "</rdf:RDF>\n", encoding="utf-8")
    return path


def test_rdfxml_entities_that_could_expand_without_bound_are_refused_before_parsing(tmp_path):
    """The parser expands RDF/XML entities in memory: a 991-byte 'billion laughs' took 24 GB
    before the load was killed. Entities are measured first: one that expands past
    MAX_ENTITY_EXPANSION, one within itself, parameter and external entities, and references
    expanding past it in all are refused; entities that spell namespaces (even one within
    another) still load."""
    import resource

    from bjkg.graph.datasets import rdf_input

    graph = f"{BASE}graph/external/x"
    laughs = '<!ENTITY lol0 "lol">\n' + "".join(
        f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">\n' for n in range(1, 10))
    cases = {
        "laughs": (laughs, '<rdf:Description rdf:about="http://example.org/a"><ex:p>&lol9;</ex:p></rdf:Description>',
                   "the entity 'lol8' expands into more than the 64 MB"),
        "itself": ('<!ENTITY a "x&b;">\n<!ENTITY b "&a;">\n', '', "refers to itself"),
        "external": ('<!ENTITY x SYSTEM "file:///etc/passwd">\n',
                     '<rdf:Description rdf:about="http://example.org/a"><ex:p>&x;</ex:p></rdf:Description>',
                     "external entity 'x' is refused"),
        "parameter": ('<!ENTITY % p "x">\n', '', "parameter entity 'p' is refused"),
        "quadratic": (f'<!ENTITY big "{"x" * 100_000}">\n',
                      '<rdf:Description rdf:about="http://example.org/a"><ex:p>' + "&big;" * 1_000
                      + '</ex:p></rdf:Description>', "expand into 100 MB"),
    }
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for name, (entities, body, message) in cases.items():
        with pytest.raises(RdfInputError, match=rf"data\.rdf: .*{re.escape(message)}"):
            read_quads(_rdfxml(tmp_path, entities, body), "rdfxml", graph, "x:", label="data.rdf")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KB: nothing expanded
    assert rdf_input.MAX_ENTITY_EXPANSION < 100_000 * 1_000
    namespaces = _rdfxml(tmp_path, '<!ENTITY w3 "http://www.w3.org/">\n<!ENTITY xsd "&w3;2001/XMLSchema#">\n',
                         '<rdf:Description rdf:about="http://example.org/a">'
                         '<ex:p rdf:datatype="&xsd;integer">5</ex:p></rdf:Description>\n')
    (quad,) = read_quads(namespaces, "rdfxml", graph, "x:", label="data.rdf")
    assert quad.object == ox.Literal("5", datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#integer"))


def test_entity_references_are_counted_across_the_pieces_the_file_is_read_in(tmp_path):
    from bjkg.graph.datasets.rdf_input import _entity_expansion

    values = {b"e": 1_000}
    for at in range((1 << 20) - 20, (1 << 20) + 5):  # a reference across the first piece's end
        data = b"x" * at + b"&e;" + b"y" * 300 + b"&e;"
        assert _entity_expansion(data, values) == 2_000, at


def test_a_byte_order_mark_is_no_statement(tmp_path):
    """A UTF-8 BOM before the first statement (Windows editors write one) is read past; it
    was refused as "﻿ is not a valid subject" at 1:1."""
    graph = f"{BASE}graph/external/x"
    for fmt, text in (("ntriples", '<http://example.org/a> <http://example.org/p> "x" .\n'),
                      ("turtle", '@prefix ex: <http://example.org/> .\nex:a ex:p "x" .\n'),
                      ("jsonld", '{"@id": "http://example.org/a", "http://example.org/p": "x"}')):
        path = tmp_path / f"bom.{fmt}"
        path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
        (quad,) = read_quads(path, fmt, graph, "x:", label=path.name)
        assert quad.subject.value == "http://example.org/a", fmt


def test_a_repeated_context_key_is_checked_in_every_value(tmp_path):
    """JSON keeps the last of a repeated key, the JSON-LD parser may read the first: each
    value of a repeated `@context` is checked for a remote reference."""
    path = tmp_path / "twice.jsonld"
    path.write_text('{"@context": "http://127.0.0.1:9/ctx.jsonld", "@context": {"name": "http://schema.org/name"},'
                    ' "@id": "http://example.org/a", "name": "A"}', encoding="utf-8")
    with pytest.raises(RdfInputError, match=r"twice\.jsonld:1: remote JSON-LD @context 'http://127\.0\.0\.1:9/ctx"):
        read_quads(path, "jsonld", f"{BASE}graph/external/x", "x:", label="twice.jsonld")


def test_a_statement_past_the_parsers_limit_is_named_as_such(tmp_path):
    from bjkg.graph.datasets.rdf_input import MAX_STATEMENT_BYTES

    path = tmp_path / "big.nt"
    path.write_text('<http://example.org/a> <http://example.org/p> "' + "x" * (MAX_STATEMENT_BYTES + 10)
                    + '" .\n', encoding="utf-8")
    with pytest.raises(RdfInputError, match=r"big\.nt \(at or before byte \d+\): a statement longer than the 16 MB"):
        read_quads(path, "ntriples", f"{BASE}graph/external/x", "x:", label="big.nt")


# --------------------------------------------------------------------------- CSVW

def test_uri_template_prefix_modifier():
    assert expand_template("id/division/{adcode:6}", {"adcode": "110112000000"}) == "id/division/110112"
    assert expand_template("a/{x}/{+y}", {"x": "a b/c", "y": "a/b"}) == "a/a%20b%2Fc/a/b"


def _table(tmp_path: Path, rows: str) -> tuple:
    csv = tmp_path / "adcodes.csv"
    csv.write_text("adcode,name,longitude,latitude\r\n" + rows, encoding="utf-8")
    return read_metadata(DIVISION_FILES / "adcodes.csv-metadata.json"), csv


def test_csvw_rows_become_typed_triples(tmp_path):
    table, csv = _table(tmp_path, "110112000000,通州区,116.656434,39.909946\r\n130201000000,市辖区,,\r\n")
    triples = list(table_triples(table, csv.read_bytes(), base=BASE, source="adcodes.csv"))
    tongzhou = ox.NamedNode(f"{BASE}id/division/110112")
    assert ox.Triple(tongzhou, ox.NamedNode(SKOS + "notation"),
                     ox.Literal("110112000000", datatype=ox.NamedNode(BJKG + "StatisticalDivisionCode"))) in triples
    assert ox.Triple(tongzhou, ox.NamedNode("http://www.w3.org/2000/01/rdf-schema#label"),
                     ox.Literal("通州区", language="zh-Hans")) in triples
    empty = [t for t in triples if t.subject.value.endswith("/130201")]
    assert len(empty) == 3  # code, name, type: empty cells are null and give no triple


def test_csvw_bad_cell_names_line_row_and_column(tmp_path):
    table, csv = _table(tmp_path, "110000000000,北京市,116.4,39.9\r\n110112000000,通州区,east,39.9\r\n")
    with pytest.raises(CsvwError, match=r"adcodes\.csv:3: row 2, column 'longitude': 'east' is not a decimal"):
        list(table_triples(table, csv.read_bytes(), base=BASE, source="adcodes.csv"))
    table, csv = _table(tmp_path, "110000000000,北京市,116.4,39.9\r\n110000000000,北京,116.4,39.9\r\n")
    with pytest.raises(CsvwError, match="repeats the primary key"):
        list(table_triples(table, csv.read_bytes(), base=BASE, source="adcodes.csv"))


def _mini_manifest(tmp_path: Path, rows: str, extra_rule: str | None = None) -> Path:
    """A manifest with the cpca mapping, rules and shapes over a small table of our own."""
    csv = tmp_path / "mini.csv"
    csv.write_text("adcode,name,longitude,latitude\r\n" + rows, encoding="utf-8")
    derive = [str(DIVISION_FILES / f"{n}.rq") for n in ("codes", "containment", "geometry")]
    if extra_rule:
        (tmp_path / "extra.rq").write_text(extra_rule, encoding="utf-8")
        derive.append(str(tmp_path / "extra.rq"))
    manifest = tmp_path / "external.toml"
    manifest.write_text(
        '[[dataset]]\nname = "mini"\ntitle = "Mini"\nformat = "csvw"\n'
        f'file = "{csv}"\nsha256 = "{hashlib.sha256(csv.read_bytes()).hexdigest()}"\n'
        f'mapping = "{DIVISION_FILES / "adcodes.csv-metadata.json"}"\n'
        f"derive = {json.dumps(derive)}\n"
        f'links = "{DIVISION_FILES / "links.rq"}"\n'
        f'shapes = "{ROOT / "shapes" / "external" / "cpca-divisions.ttl"}"\n', encoding="utf-8")
    return manifest


MINI_ROWS = ("110000000000,北京市,116.407394,39.904211\r\n110100000000,市辖区,116.407394,39.904211\r\n"
             "110112000000,通州区,116.656434,39.909946\r\n")


def test_shapes_gate_the_derived_data(tmp_path):
    manifest = _mini_manifest(tmp_path, MINI_ROWS)
    prepared = read_external(ROOT, BASE, manifest=manifest)
    result = link_external(ROOT, BASE, prepared, lambda: [])
    assert result.graphs[f"{BASE}graph/external/mini"] > 0
    wrong = ("PREFIX geo: <http://www.opengis.net/ont/geosparql#>\n"
             "CONSTRUCT { <https://w3id.org/bjkg/id/division/110000> geo:sfWithin "
             "<https://w3id.org/bjkg/id/division/110112> } WHERE {}\n")
    manifest = _mini_manifest(tmp_path, MINI_ROWS, extra_rule=wrong)
    prepared = read_external(ROOT, BASE, manifest=manifest)
    with pytest.raises(ExternalError, match="within the divisions its code starts with"):
        link_external(ROOT, BASE, prepared, lambda: [])



_NOTATION = ox.NamedNode(SKOS + "notation")


def _without(quads: list, subject: str, datatype: str | None) -> list:
    """The quads without `subject`'s codes of `datatype` (all its codes when None)."""
    return [q for q in quads if not (q.subject.value == subject and q.predicate == _NOTATION and (
        datatype is None or q.object.datatype.value == datatype))]


@pytest.mark.parametrize("change, message", [
    ("no six-digit code", "exactly one six-digit code"),
    ("two six-digit codes", "exactly one six-digit code"),
    ("a five-digit code", "exactly one six-digit code"),
    ("no twelve-digit code", "keeps its twelve-digit code"),
    ("two twelve-digit codes", "keeps its twelve-digit code"),
    ("no code at all", "exactly one six-digit code"),
    ("a point that is not WKT", "a geometry is one WKT POINT"),
])
def test_each_division_has_one_code_of_each_kind(tmp_path, change, message):
    """The divisions' code counts (whole-graph SPARQL targets in the shapes) catch a missing,
    doubled or malformed code, and a division without any code; a division's point is
    checked too."""
    from bjkg.graph.datasets.read import _validate

    shapes = ROOT / "shapes" / "external" / "cpca-divisions.ttl"
    prepared = read_external(ROOT, BASE, manifest=_mini_manifest(tmp_path, MINI_ROWS))
    quads = list(prepared[0].quads)
    _validate(shapes, quads, [], [], "mini")  # conforms as read
    division, graph = f"{BASE}id/division/110112", quads[0].graph_name
    six, twelve = BJKG + "GBT2260Code", BJKG + "StatisticalDivisionCode"

    def code(text, datatype):
        return ox.Quad(ox.NamedNode(division), _NOTATION, ox.Literal(text, datatype=ox.NamedNode(datatype)), graph)

    changed = {
        "no six-digit code": lambda: _without(quads, division, six),
        "two six-digit codes": lambda: quads + [code("110113", six)],
        "a five-digit code": lambda: _without(quads, division, six) + [code("11011", six)],
        "no twelve-digit code": lambda: _without(quads, division, twelve),
        "two twelve-digit codes": lambda: quads + [code("110112000001", twelve)],
        "no code at all": lambda: _without(quads, division, None),
        "a point that is not WKT": lambda: [q for q in quads if q.predicate.value != GEO + "asWKT"] + [
            ox.Quad(ox.NamedNode(division + "/geometry"), ox.NamedNode(GEO + "asWKT"),
                    ox.Literal("116.6 39.9", datatype=ox.NamedNode(GEO + "wktLiteral")), graph)],
    }[change]()
    with pytest.raises(ExternalError, match=message):
        _validate(shapes, changed, [], [], "mini")


# --------------------------------------------------------------------------- the divisions

def test_divisions_have_their_own_graph_and_description(store, manifest):
    (entry,) = manifest["external"]
    assert entry["graph"] == DIVISIONS and manifest["graphs"][DIVISIONS] == entry["triples"]
    assert entry["links_graph"] == LINKS and manifest["graphs"][LINKS] == entry["links"] >= 15
    assert entry["licence"] == "https://spdx.org/licenses/MIT"
    assert entry["publisher"] and entry["retrieved"] and entry["inputs"][0]["sha256"]
    assert manifest["classes"][BJKG + "ListedDivision"] == 3511
    graphs = {row["g"].value for row in store.query(
        f"SELECT DISTINCT ?g WHERE {{ GRAPH ?g {{ ?d a <{BJKG}ListedDivision> }} }}")}
    assert graphs == {DIVISIONS}


def test_the_catalogue_describes_the_external_dataset(manifest):
    from bjkg.server.pages.catalog import Counts, Site, catalogue_triples

    site = Site(base=BASE, public="http://localhost/", titles={"en": "t"}, descriptions={"en": "d"})
    counts = Counts(triples=1, graphs=dict(manifest["graphs"]))
    triples = {(t.subject.value, t.predicate.value, t.object.value)
               for t in catalogue_triples(site, manifest, counts)}
    node = DIVISIONS  # each named graph is a subset of the dataset, at its own IRI
    assert (BASE + "dataset", "http://rdfs.org/ns/void#subset", node) in triples
    for p, o in (("http://www.w3.org/1999/02/22-rdf-syntax-ns#type", "http://rdfs.org/ns/void#Dataset"),
                 ("http://www.w3.org/ns/sparql-service-description#name", DIVISIONS),
                 ("http://purl.org/dc/terms/license", "https://spdx.org/licenses/MIT"),
                 ("http://purl.org/pav/retrievedOn", "2026-11-21"),
                 ("http://rdfs.org/ns/void#triples", str(manifest["graphs"][DIVISIONS]))):
        assert (node, p, o) in triples, p
    assert any(s == node and p == "http://rdfs.org/ns/void#dataDump" for s, p, _ in triples)


def test_tongzhou_links_to_110112_not_to_nantongs_tongzhou(store):
    place, division = f"{BASE}id/place/tongzhou", f"{BASE}id/division/"
    assert _ask(store, f"ASK {{ GRAPH <{LINKS}> {{ <{place}> <{SKOS}exactMatch> <{division}110112> }} }}")
    assert not _ask(store, f"ASK {{ <{place}> <{SKOS}exactMatch> <{division}320612> }}")
    # the trap is real: 南通's 通州区 is in the table, under the same name
    assert _ask(store, f'ASK {{ <{division}320612> <http://www.w3.org/2000/01/rdf-schema#label> "通州区"@zh-Hans ; '
                       f'<{GEO}sfWithin> <{division}320600> }}')
    links = {(r["p"].value, r["d"].value) for r in store.query(
        f"SELECT ?p ?d WHERE {{ GRAPH <{LINKS}> {{ ?p <{SKOS}exactMatch> ?d }} }}")}
    assert all(p.startswith(f"{BASE}id/place/") and d.startswith(division) for p, d in links)


def test_containment_follows_the_code(store):
    division = f"{BASE}id/division/"
    within = f"<{GEO}sfWithin>"
    assert _ask(store, f"ASK {{ <{division}110112> {within} <{division}110000>, <{division}110100> }}")
    assert _ask(store, f"ASK {{ <{division}110100> {within} <{division}110000> }}")
    assert not _ask(store, f"ASK {{ <{division}110000> {within} ?any }}")
    assert not _ask(store, f"ASK {{ <{division}320612> {within} <{division}110000> }}")
    assert _ask(store, f"ASK {{ <{division}110112> <{BJKG}divisionLevel> <{BJKG}CountyLevel> ; "
                       f'<{SKOS}notation> "110112"^^<{BJKG}GBT2260Code>, "110112000000"^^<{BJKG}StatisticalDivisionCode> }}')


def test_points_are_geosparql_wkt(store):
    geometry = f"{BASE}id/division/110112/geometry"
    assert _ask(store, f"ASK {{ <{BASE}id/division/110112> <{GEO}hasGeometry> <{geometry}> . "
                       f'<{geometry}> <{GEO}asWKT> "POINT(116.656434 39.909946)"^^<{GEO}wktLiteral> }}')


# --------------------------------------------------------------------------- bjkg load

@pytest.fixture(scope="module")
def workspace(built, tmp_path_factory):
    """A writable checkout copy with a build of it (a copy of the session's real build)."""
    return copy_workspace(built, tmp_path_factory.mktemp("load"))


def _snapshot(root: Path, out: Path) -> dict:
    return {"manifest": (root / "graph" / "external.toml").read_bytes(),
            "build.json": (out / "build.json").read_bytes(), "nq": (out / "bjkg.nq").read_bytes(),
            "store": sorted((p.name, p.stat().st_mtime_ns) for p in (out / "store").iterdir()),
            "siblings": sorted(p.name for p in out.parent.iterdir()),
            "graph_dir": sorted(p.name for p in (root / "graph").iterdir())}


def test_broken_file_fails_the_load_and_leaves_everything_untouched(workspace, sources, tmp_path):
    root, out = workspace
    before = _snapshot(root, out)
    broken = tmp_path / "broken.ttl"
    broken.write_text("@prefix ex: <http://example.org/> .\nex:a ex:b ex:c .\n"
                      "ex:d ex:e \"unterminated .\nex:f ex:g ex:h .\n", encoding="utf-8")
    with pytest.raises(BuildError, match=r"broken\.ttl:3:\d+: not valid turtle"):
        load_files(root, out, sources, [broken], graph=f"{BASE}graph/external/broken")
    remote = tmp_path / "remote.jsonld"
    remote.write_text('{"@context": "http://schema.org/", "@id": "http://example.org/a", "name": "A"}',
                      encoding="utf-8")
    with pytest.raises(BuildError, match="remote JSON-LD @context 'http://schema.org/' refused"):
        load_files(root, out, sources, [remote], name="remote")
    assert _snapshot(root, out) == before
    store = ox.Store.read_only(str(out / "store"))
    assert not _ask(store, f"ASK {{ GRAPH <{BASE}graph/external/broken> {{ ?s ?p ?o }} }}")


@pytest.mark.parametrize("rebuild", [False, True])
def test_literals_the_store_keeps_as_one_term_fail_the_load_not_the_server(workspace, sources, tmp_path, rebuild):
    """"01"^^xsd:int, "1"^^xsd:long and "1"^^xsd:integer are one term in the store: a
    dataset stating them for one subject and predicate was loaded, and its build had fewer
    triples in the store than build.json said, so `bjkg serve` refused it as damaged. The
    load (incremental or a full rebuild) fails, naming them, and nothing changes."""
    root, out = workspace
    before = {name: (out / name).read_bytes() for name in ("build.json", "bjkg.nq")}
    manifest = (root / "graph" / "external.toml").read_bytes()
    data = tmp_path / "numbers.ttl"
    data.write_text('@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .\n'
                    '<http://example.org/a> <http://example.org/n> 1, "01"^^xsd:integer, "1"^^xsd:int ;\n'
                    '  <http://example.org/m> 2 .\n', encoding="utf-8")
    with pytest.raises(BuildError, match=r"(?s)2 statement\(s\) are the same RDF term as another once stored.*"
                                         r"<http://example\.org/a> <http://example\.org/n> "):
        load_files(root, out, sources, [data], graph=f"{BASE}graph/external/numbers", rebuild=rebuild,
                   licence="https://creativecommons.org/publicdomain/zero/1.0/", publisher="Example")
    assert {name: (out / name).read_bytes() for name in before} == before
    assert (root / "graph" / "external.toml").read_bytes() == manifest


def test_load_adds_a_dataset_and_a_rebuild_gives_the_same_bytes(workspace, sources, tmp_path):
    root, out = workspace
    data = tmp_path / "extra.nt"
    data.write_text('<http://example.org/a> <http://www.w3.org/2000/01/rdf-schema#label> "A"@en .\n'
                    '<http://example.org/a> <http://example.org/p> _:b1 .\n', encoding="utf-8")
    summary = load_files(root, out, sources, [data], graph=f"{BASE}graph/external/extra",
                         licence="https://creativecommons.org/publicdomain/zero/1.0/",
                         publisher="Example")
    entry = summary["external"][-1]
    assert entry["name"] == "extra" and entry["triples"] == 2
    assert entry["inputs"][0]["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    text = (root / "graph" / "external.toml").read_text(encoding="utf-8")
    assert 'name = "extra"' in text and text.count("[[dataset]]") == 2
    store = ox.Store.read_only(str(out / "store"))
    assert _ask(store, f"ASK {{ GRAPH <{BASE}graph/external/extra> {{ <http://example.org/a> "
                       f"<http://example.org/p> <{BASE}.well-known/genid/extra/1> }} }}")
    again = root / "_again"
    build_dataset(root, again, sources)
    for name in ("bjkg.trig", "bjkg.nq", "build.json"):
        assert (again / name).read_bytes() == (out / name).read_bytes(), name
