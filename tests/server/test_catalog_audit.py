"""The catalogue audit's findings: the links the catalogue makes from a graph's name are
URLs that lead to that graph (its page, its dump) whatever the name holds; each external
dataset's distribution carries the dataset's own licence; titles in the reader's script;
VoID's uriSpace, vocabularies and subset titles as the data makes them true."""
from __future__ import annotations

import re
import pyoxigraph
import pytest
from pyoxigraph import RdfFormat

from tests.server.conftest import BASE, TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}
VOID = "http://rdfs.org/ns/void#"
DCAT = "http://www.w3.org/ns/dcat#"
PUBLIC = BASE  # an app without PUBLIC_URL serves its links from BASE_IRI

# graph names a user of a writable store may choose: a query and fragment, an escaped space,
# and dot segments that, left as they are, climb out of /dumps/graph/ to an entity's path
AWKWARD = {"q?x=1#frag": "<https://example.org/a> <https://example.org/p> \"query\" .",
           "sp%20ace": "<https://example.org/b> <https://example.org/p> \"space\" .",
           "x/../../id/place/evil": "<https://example.org/c> <https://example.org/p> \"dots\" ."}


def _load(client) -> None:
    text = "INSERT DATA { " + " ".join(f"GRAPH <{BASE}graph/{name}> {{ {triple} }}"
                                       for name, triple in AWKWARD.items()) + " }"
    answer = client.post("/sparql", data=text.encode("utf-8"), content_type="application/sparql-update",
                         headers=AUTH)
    assert answer.status_code in (200, 204), answer.data


def browser_path(path: str) -> str:
    """`path` with its dot segments removed as a browser does (WHATWG URL: `%2e` counts as a
    dot too), so a test sees where a link really leads."""
    out: list[str] = []
    for segment in path.split("/"):
        low = segment.lower()
        if low in (".", "%2e"):
            continue
        if low in ("..", ".%2e", "%2e.", "%2e%2e"):
            if len(out) > 1:
                out.pop()
            continue
        out.append(segment)
    return "/".join(out)


def _local(url: str) -> str:
    assert url.startswith(PUBLIC), url
    return "/" + url[len(PUBLIC):]


def test_dump_and_graph_links_lead_to_the_graph_whatever_its_name(writable_client):
    """Audit finding 3: `q?x=1#frag`, `sp%20ace` and `x/../../id/place/evil` were put into
    URLs as they are (404, or a link resolving to /id/place/evil.nt). Every dump URL of the
    RDF catalogue, the catalogue page and the graph page now answers with that graph's dump."""
    _load(writable_client)
    triples = list(pyoxigraph.parse(writable_client.get("/catalog.ttl").data, format=RdfFormat.TURTLE))
    for name, triple in AWKWARD.items():
        graph = f"{BASE}graph/{name}"
        dumps = {t.object.value for t in triples if t.subject.value == graph and t.predicate.value == VOID + "dataDump"}
        assert len(dumps) == 1, (name, dumps)
        dump = _local(dumps.pop())
        downloads = {t.object.value for t in triples if t.predicate.value == DCAT + "downloadURL"}
        assert PUBLIC + dump[1:] in downloads
        assert "?" not in dump and "#" not in dump
        assert browser_path(dump) == dump and dump.startswith("/dumps/graph/"), dump
        answer = writable_client.get(dump)
        assert answer.status_code == 200, (name, dump)
        got = list(pyoxigraph.parse(answer.data, format=RdfFormat.N_TRIPLES))
        assert got == list(pyoxigraph.parse(triple.encode(), format=RdfFormat.N_TRIPLES)), name

        page_href = next(g["href"] for g in writable_client.get("/catalog.json").get_json()["graphs"]
                         if g["iri"] == graph)
        assert browser_path(page_href) == page_href and "#" not in page_href, page_href
        page = writable_client.get(page_href, headers={"Accept": "text/html"}, follow_redirects=True)
        assert page.status_code == 200, (name, page_href)
        html = page.get_data(as_text=True)
        links = set(re.findall(r'href="(/dumps/graph/[^"]+)"', html))
        assert links == {dump}, (name, links)
        for alternate in re.findall(r'<(/graph/[^>]+)>; rel="alternate"', page.headers["Link"]):
            assert browser_path(alternate) == alternate and "#" not in alternate
            assert writable_client.get(alternate).status_code == 200, alternate

    dotted = writable_client.get("/resource", query_string={"iri": f"{BASE}graph/x/../../id/place/evil"})
    assert dotted.status_code != 301, dotted.headers.get("Location")  # it led to /id/place/evil
    catalogue = writable_client.get("/catalog", headers={"Accept": "text/html"}).get_data(as_text=True)
    for href in re.findall(r'href="(/(?:graph|dumps/graph)/[^"]+)"', catalogue):
        assert browser_path(unquote_amp(href)) == unquote_amp(href), href


def unquote_amp(href: str) -> str:
    return href.replace("&amp;", "&")


def test_the_distributions_minted_for_awkward_graphs_dereference(writable_client):
    """The distribution IRI minted for a graph's dump leads to the catalogue (303), as the
    other IRIs the catalogue mints do, whatever the graph's name."""
    _load(writable_client)
    triples = list(pyoxigraph.parse(writable_client.get("/catalog.ttl").data, format=RdfFormat.TURTLE))
    minted = {t.subject.value for t in triples if t.subject.value.startswith(BASE + "dataset/distribution/graph/")}
    assert len(minted) == len(AWKWARD)
    for iri in minted:
        assert "#" not in iri and "?" not in iri, iri
        answer = writable_client.get("/" + iri[len(BASE):])
        assert answer.status_code == 303, iri


# --------------------------------------------------------------------------- a build with an external dataset

EXTERNAL = BASE + "graph/external/cpca-divisions"
DOCUMENT_GRAPH = BASE + "graph/peoples-daily-2023-01-11-interview"
DOCUMENT = BASE + "id/document/peoples-daily-2023-01-11-interview"
MIT = "https://spdx.org/licenses/MIT"
ENTRY = {"name": "cpca-divisions", "graph": EXTERNAL,
         "title": "China's administrative divisions: codes and points from the cpca package",
         "title_zh": "中国行政区划代码与坐标（cpca 软件包）", "licence": MIT, "triples": 2, "links": 0, "retrieved": "2026-11-21",
         "source": "https://pypi.org/project/cpca/0.5.5/", "publisher": "DQinYuan",
         "landing_page": "https://github.com/DQinYuan/chinese_province_city_area_mapper"}
EXTERNAL_TRIG = f"""
<{EXTERNAL}> {{
    <{BASE}id/division/110000> a <https://w3id.org/bjkg/ontology#ListedDivision> ;
        <http://www.w3.org/2000/01/rdf-schema#label> "北京市"@zh-Hans .
}}
"""


@pytest.fixture(scope="module")
def external_client(tmp_path_factory):
    """The tiny build with an external graph and a source document named in build.json."""
    import json

    from bjkg.server.app import create_app
    from tests.conftest import DATA, make_tiny_build
    from tests.server.conftest import close_app

    folder = tmp_path_factory.mktemp("external")
    trig = folder / "data.trig"
    trig.write_text((DATA / "tiny.trig").read_text(encoding="utf-8") + EXTERNAL_TRIG, encoding="utf-8")
    build = make_tiny_build(folder / "build", trig=trig)
    manifest = json.loads((build / "build.json").read_text(encoding="utf-8"))
    manifest["external"] = [ENTRY]
    manifest["sources"] = [{"document": DOCUMENT, "file": "000_dd7758795b522a1b.txt", "sha256": "d2" * 32,
                            "graph": DOCUMENT_GRAPH}]
    (build / "build.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    app = create_app({"BUILD_DIR": str(build), "TESTING": True, "CACHE_DIR": str(folder / "cache")})
    yield app.test_client()
    close_app(app)


def _catalogue(client) -> list:
    return list(pyoxigraph.parse(client.get("/catalog.nt").data, format=RdfFormat.N_TRIPLES))


def _objects(triples, subject: str, predicate: str) -> list[str]:
    return sorted(t.object.value for t in triples if t.subject.value == subject and t.predicate.value == predicate)


DCT = "http://purl.org/dc/terms/"


def test_an_external_graphs_distribution_carries_its_own_licence(external_client):
    """Audit finding 4: cpca-divisions is MIT-licensed, but its dump was declared CC BY 4.0."""
    triples = _catalogue(external_client)
    dump = next(t.object.value for t in triples if t.subject.value == EXTERNAL and t.predicate.value == VOID + "dataDump")
    dist = next(t.subject.value for t in triples if t.predicate.value == DCAT + "downloadURL" and t.object.value == dump)
    assert _objects(triples, dist, DCT + "license") == [MIT] == _objects(triples, EXTERNAL, DCT + "license")
    assert DCT + "LicenseDocument" in _objects(triples, MIT, "http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
    # the build's own graphs keep the catalogue's licence
    own = next(t.subject.value for t in triples if t.predicate.value == DCAT + "downloadURL"
               and t.object.value.endswith("/dumps/graph/reference.nt"))
    assert _objects(triples, own, DCT + "license") == ["http://publications.europa.eu/resource/authority/licence/CC_BY_4_0"]


def test_the_catalogue_with_an_external_licence_meets_dcat_ap_3(external_client):
    """SEMIC's DCAT-AP 3.0.0 shapes (mandatory and recommended) report nothing, but for
    the place's box and centroid, which the tiny build has no divisions table to give."""
    import pyshacl
    import rdflib

    from tests.server.test_catalog import _semic_shapes

    shapes = _semic_shapes()
    data = rdflib.Graph().parse(data=external_client.get("/catalog.ttl").data, format="turtle")
    _, report, text = pyshacl.validate(data, shacl_graph=shapes, inference="none")
    sh = rdflib.Namespace("http://www.w3.org/ns/shacl#")
    results = [(str(report.value(r, sh.focusNode)), str(report.value(r, sh.resultPath)))
               for r in report.subjects(rdflib.RDF.type, sh.ValidationResult)]
    places = {"https://sws.geonames.org/2038349/", "http://www.wikidata.org/entity/Q956"}
    assert [r for r in results if not (r[0] in places and r[1] in (DCAT + "bbox", DCAT + "centroid"))] == [], text[:4000]


HANT = "中國行政區劃代碼與座標（cpca 軟件包）"


@pytest.mark.parametrize("lang, title, tag", [("zh-Hans", ENTRY["title_zh"], None), ("zh-Hant", HANT, None),
                                              ("en", ENTRY["title"], None)])
def test_the_external_datasets_title_is_in_the_readers_script_everywhere(external_client, lang, title, tag):
    """Audit finding 5: the home page's list showed the Simplified title on a 繁體 page, the
    graph page the English one on both Chinese pages, neither marked with its language."""
    from markupsafe import escape

    title = str(escape(title))
    home = external_client.get("/", query_string={"lang": lang}).get_data(as_text=True)
    listed = home.split('<ul class="links external">', 1)[1].split("</ul>", 1)[0]
    assert f">{title}<" in listed, listed
    if lang == "zh-Hant":
        assert ENTRY["title_zh"] not in listed
    page = external_client.get("/graph/external/cpca-divisions", query_string={"lang": lang},
                               headers={"Accept": "text/html"}).get_data(as_text=True)
    assert f"<h1>{title}</h1>" in page and f"<title>{title}" in page


def test_a_title_in_another_language_than_the_page_is_marked_with_it(external_client):
    """A graph with an English title only (the reference graph) says so on a Chinese page."""
    page = external_client.get("/graph/reference", query_string={"lang": "zh-Hans"},
                               headers={"Accept": "text/html"}).get_data(as_text=True)
    assert '<h1 lang="en">' in page
    english = external_client.get("/graph/reference", query_string={"lang": "en"},
                                  headers={"Accept": "text/html"}).get_data(as_text=True)
    assert "<h1>" in english


# --------------------------------------------------------------------------- VoID details (finding 6)

def _answer(client, query: str) -> list:
    answer = client.get("/sparql", query_string={"query": query},
                        headers={"Accept": "application/sparql-results+json"})
    assert answer.status_code == 200, answer.data
    return list(pyoxigraph.parse_query_results(answer.data, pyoxigraph.QueryResultsFormat.JSON))


def test_uri_space_is_stated_only_where_every_subject_lies_in_it(external_client):
    """void:uriSpace says every entity URI of a dataset starts with it (VoID §3.6.1): not
    true of the whole dataset, whose ontology graph's terms lie outside <base>id/."""
    triples = _catalogue(external_client)
    space = BASE + "id/"
    assert _objects(triples, BASE + "dataset", VOID + "uriSpace") == []
    stated = {t.subject.value for t in triples if t.predicate.value == VOID + "uriSpace"}
    assert all(_objects(triples, g, VOID + "uriSpace") == [space] for g in stated)
    graphs = {r["g"].value for r in _answer(external_client, "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }")}
    outside = {r["g"].value for r in _answer(
        external_client, "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } "
                         f'FILTER(isIRI(?s) && !STRSTARTS(STR(?s), "{space}")) }}')}
    assert BASE + "graph/ontology" in outside and BASE + "graph/reference" not in outside
    assert stated == graphs - outside


def _namespace(iri: str) -> str:
    return iri[:max(iri.rfind("#"), iri.rfind("/")) + 1]


def test_the_vocabularies_listed_are_those_the_data_uses(external_client):
    triples = _catalogue(external_client)
    listed = set(_objects(triples, BASE + "dataset", VOID + "vocabulary"))
    terms = {r["p"].value for r in _answer(external_client, "SELECT DISTINCT ?p WHERE { ?s ?p ?o }")}
    terms |= {r["c"].value for r in _answer(external_client, "SELECT DISTINCT ?c WHERE { ?s a ?c }")}
    assert listed == {_namespace(t) for t in terms}
    for namespace in ("http://purl.org/linked-data/cube#", "http://www.w3.org/ns/org#", "http://www.w3.org/ns/prov#",
                      "http://www.w3.org/2004/02/skos/core#", "https://schema.org/", BASE + "ontology#"):
        assert namespace in listed


def test_a_document_subset_is_titled_by_its_document_not_its_file(external_client):
    triples = _catalogue(external_client)
    titles = _objects(triples, DOCUMENT_GRAPH, DCT + "title")
    assert titles and not any("000_dd7758795b522a1b.txt" in t for t in titles)
    assert any("“Five-pronged” linkage drives Beijing's high-quality development" in t for t in titles)
    assert any("“五子”联动推动北京高质量发展" in t for t in titles)
    page = external_client.get("/graph/peoples-daily-2023-01-11-interview", query_string={"lang": "en"},
                               headers={"Accept": "text/html"}).get_data(as_text=True)
    assert "Five-pronged" in page.split("<h1", 1)[1].split("</h1>", 1)[0]
