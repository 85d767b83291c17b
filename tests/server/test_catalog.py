"""The dataset's description (issue 15): a DCAT-AP 3 catalogue that SEMIC's shapes accept,
counts that are the endpoint's own answers, every named graph dereferenceable with its dump,
and absolute links from PUBLIC_URL whatever Host a request names."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pyoxigraph
import pytest
from pyoxigraph import QueryResultsFormat, RdfFormat

from bjkg.server.app import create_app
from tests.server.conftest import close_app

ROOT = Path(__file__).resolve().parents[2]
SHAPES = ROOT.parent / "shared" / "reference" / "dcat-ap-3.0.0"
PUBLIC = "https://bjkg.example.org/"
VOID = "http://rdfs.org/ns/void#"
SD = "http://www.w3.org/ns/sparql-service-description#"
DCAT = "http://www.w3.org/ns/dcat#"
TTL = {"Accept": "text/turtle"}


@pytest.fixture(scope="module")
def real_app(real_build):
    app = create_app({"BUILD_DIR": str(real_build), "PUBLIC_URL": PUBLIC, "TESTING": True})
    yield app
    close_app(app)


@pytest.fixture
def real(real_app):
    return real_app.test_client()


def turtle(client, path: str, **headers) -> list[pyoxigraph.Triple]:
    response = client.get(path, headers={**TTL, **headers})
    assert response.status_code == 200, (path, response.data[:300])
    return list(pyoxigraph.parse(response.data, format=RdfFormat.TURTLE))


def rows(client, query: str) -> list[dict]:
    response = client.get("/sparql", query_string={"query": query})
    assert response.status_code == 200, response.data
    return list(pyoxigraph.parse_query_results(response.data, QueryResultsFormat.JSON))


def values(triples, subject: str, predicate: str) -> list[str]:
    return [t.object.value for t in triples if t.subject.value == subject and t.predicate.value == predicate]


# --------------------------------------------------------------------------- DCAT-AP 3

def _semic_shapes():
    if not SHAPES.is_dir():
        if os.environ.get("BJKG_REQUIRE_CORPUS") == "1":
            pytest.fail(f"SEMIC's DCAT-AP 3.0.0 shapes are not at {SHAPES} (BJKG_REQUIRE_CORPUS=1)")
        pytest.skip(f"SEMIC's DCAT-AP 3.0.0 shapes are not at {SHAPES} (../shared/reference)")
    import rdflib

    shapes = rdflib.Graph()
    for name in ("dcat-ap-SHACL.ttl", "shapes_recommended.ttl"):
        shapes.parse(SHAPES / name, format="turtle")
    return shapes


@pytest.mark.parametrize("path, accept, rdflib_format", [
    ("/catalog", "text/turtle", "turtle"), ("/.well-known/void", "application/ld+json", "json-ld"),
    ("/catalog", "application/rdf+xml", "xml")])
def test_semic_dcat_ap_3_shapes_mandatory_and_recommended_report_nothing(real, path, accept, rdflib_format):
    import pyshacl
    import rdflib

    shapes = _semic_shapes()
    response = real.get(path, headers={"Accept": accept})
    assert response.status_code == 200
    data = rdflib.Graph().parse(data=response.data, format=rdflib_format)
    assert (None, rdflib.RDF.type, rdflib.URIRef(DCAT + "Catalog")) in data
    conforms, report, text = pyshacl.validate(data, shacl_graph=shapes, inference="none",
                                              allow_warnings=False, allow_infos=False)
    results = list(report.subjects(rdflib.RDF.type, rdflib.URIRef("http://www.w3.org/ns/shacl#ValidationResult")))
    assert conforms and not results, text[:4000]


def test_the_semic_shapes_do_catch_a_gap(real):
    """The check can fail: the same catalogue without its keywords gets warnings."""
    import pyshacl
    import rdflib

    shapes = _semic_shapes()
    data = rdflib.Graph().parse(data=real.get("/catalog", headers=TTL).data, format="turtle")
    data.remove((None, rdflib.URIRef(DCAT + "keyword"), None))
    conforms, report, _ = pyshacl.validate(data, shacl_graph=shapes, inference="none")
    assert not conforms


def test_catalogue_structure(real, real_build):
    triples = turtle(real, "/catalog")
    base = json.loads((real_build / "build.json").read_text())["base"]
    catalog, dataset = base + "catalog", base + "dataset"
    assert values(triples, catalog, DCAT + "dataset") == [dataset]
    service = values(triples, catalog, DCAT + "service")[0]
    assert values(triples, service, DCAT + "endpointURL") == [PUBLIC + "sparql"]
    assert values(triples, service, DCAT + "endpointDescription") == [PUBLIC + "sparql"]
    assert values(triples, dataset, "http://purl.org/dc/terms/identifier") == [dataset]
    assert set(values(triples, dataset, "http://purl.org/dc/terms/spatial")) == {
        "https://sws.geonames.org/2038349/", "http://www.wikidata.org/entity/Q956"}
    distributions = values(triples, dataset, DCAT + "distribution")
    downloads = {u for d in distributions for u in values(triples, d, DCAT + "downloadURL")}
    assert {PUBLIC + "dumps/bjkg.trig", PUBLIC + "dumps/bjkg.nq", PUBLIC + "dumps/bjkg.jsonld"} <= downloads
    graphs = {r["g"].value for r in rows(real, "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }")}
    assert {g.replace(base, PUBLIC.rstrip("/") + "/dumps/", 1) + ".nt" for g in graphs} <= downloads
    for url in downloads:  # every download is served here
        path = url[len(PUBLIC) - 1:]
        response = real.get(path)
        assert response.status_code == 200, path
        response.close()


def test_identity_is_stable_across_builds_and_hosts(tiny_build, real_app, real):
    """The dataset IRI and dct:identifier depend on BASE_IRI only: not the build, not the host."""
    tiny = create_app({"BUILD_DIR": str(tiny_build), "PUBLIC_URL": "http://other.example:8080/", "TESTING": True})
    try:
        base_real, base_tiny = real_app.config["BASE_IRI"], tiny.config["BASE_IRI"]
        assert base_real == base_tiny
        first = turtle(real, "/catalog", Host="one.example")
        second = turtle(tiny.test_client(), "/catalog", Host="two.example")
        for triples in (first, second):
            assert values(triples, base_real + "dataset", "http://purl.org/dc/terms/identifier") == [base_real + "dataset"]
    finally:
        close_app(tiny)


# --------------------------------------------------------------------------- counts

def _number(client, query: str) -> int:
    return int(rows(client, query)[0]["n"].value)


@pytest.mark.parametrize("which", ["tiny", "real"])
def test_every_published_count_is_what_the_endpoint_answers(which, request, tiny_build):
    if which == "real":
        client = request.getfixturevalue("real")
    else:
        app = create_app({"BUILD_DIR": str(tiny_build), "TESTING": True})
        request.addfinalizer(lambda: close_app(app))
        client = app.test_client()
    triples = turtle(client, "/.well-known/void")
    base = client.application.config["BASE_IRI"]
    dataset = base + "dataset"
    # the dataset: its distinct triples
    assert int(values(triples, dataset, VOID + "triples")[0]) == _number(
        client, "SELECT (COUNT(*) AS ?n) WHERE { SELECT DISTINCT ?s ?p ?o WHERE { ?s ?p ?o } }")
    # every named graph
    subsets = values(triples, dataset, VOID + "subset")
    graphs = {r["g"].value for r in rows(client, "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }")}
    assert set(subsets) == graphs
    for graph in graphs:
        assert int(values(triples, graph, VOID + "triples")[0]) == _number(
            client, f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}"), graph
    # every class partition, and every property partition
    classes = {r["c"].value: int(r["n"].value) for r in rows(
        client, "SELECT ?c (COUNT(DISTINCT ?x) AS ?n) WHERE { ?x a ?c } GROUP BY ?c")}
    published = {}
    for part in values(triples, dataset, VOID + "classPartition"):
        published[values(triples, part, VOID + "class")[0]] = int(values(triples, part, VOID + "entities")[0])
    assert published == classes
    properties = {}
    for part in values(triples, dataset, VOID + "propertyPartition"):
        properties[values(triples, part, VOID + "property")[0]] = int(values(triples, part, VOID + "triples")[0])
    for prop, n in list(properties.items())[:40]:
        assert n == _number(client, f"SELECT (COUNT(*) AS ?n) WHERE {{ SELECT DISTINCT ?s ?o WHERE {{ ?s <{prop}> ?o }} }}")
    assert sum(properties.values()) == int(values(triples, dataset, VOID + "triples")[0])
    # the service description and the home page say the same
    sd = list(pyoxigraph.parse(client.get("/sparql", headers={"Accept": "application/n-triples"}).data,
                               format=RdfFormat.N_TRIPLES))
    named = {t.subject: t.object.value for t in sd if t.predicate.value == SD + "name"}
    graph_node = {t.subject: t.object for t in sd if t.predicate.value == SD + "graph"}
    counts = {t.subject: int(t.object.value) for t in sd if t.predicate.value == VOID + "triples"}
    for node, name in named.items():
        assert counts[graph_node[node]] == int(values(triples, name, VOID + "triples")[0])
    home = client.get("/index.json").get_json()
    assert home["triples"] == int(values(triples, dataset, VOID + "triples")[0])
    assert {g["iri"]: g["count"] for g in home["graphs"]} == {g: int(values(triples, g, VOID + "triples")[0])
                                                              for g in graphs}
    assert {c["iri"]: c["count"] for c in home["classes"]} == classes


# --------------------------------------------------------------------------- /graph/…

def test_every_named_graph_dereferences(real):
    sd = list(pyoxigraph.parse(real.get("/sparql", headers={"Accept": "application/n-triples"}).data,
                               format=RdfFormat.N_TRIPLES))
    names = {t.object.value for t in sd if t.predicate.value == SD + "name"}
    home = real.get("/index.json").get_json()
    assert names == {g["iri"] for g in home["graphs"]} and len(names) >= 8
    base = real.application.config["BASE_IRI"]
    for name in names:
        path = "/" + name[len(base):]
        html = real.get(path, headers={"Accept": "text/html"})
        assert html.status_code == 200 and html.mimetype == "text/html", path
        page = html.get_data(as_text=True)
        assert name in page and f"/dumps{path}.nt" in page
        description = turtle(real, path)
        count = int(values(description, name, VOID + "triples")[0])
        assert values(description, name, VOID + "dataDump") == [f"{PUBLIC}dumps{path}.nt"]
        jsonld = real.get(path, headers={"Accept": "application/ld+json"})
        assert jsonld.mimetype == "application/ld+json"
        assert len(list(pyoxigraph.parse(jsonld.data, format=RdfFormat.JSON_LD))) == len(description)
        dump = real.get(f"/dumps{path}.nt")
        assert dump.status_code == 200
        assert len(list(pyoxigraph.parse(dump.data, format=RdfFormat.N_TRIPLES))) == count
    assert real.get("/graph/no-such-graph").status_code == 404
    assert real.get("/dumps/graph/no-such-graph.nt").status_code == 404


def test_a_graph_page_speaks_the_readers_language(real):
    """The graph page's headings come from the UI texts, like every other page's (they were
    English on Chinese pages)."""
    for lang, words in (("zh-Hans", ("来源文献", "类别", "实例")), ("zh-Hant", ("來源文獻", "類別", "實例")),
                        ("en", ("Source document", "Classes", "Instances"))):
        page = real.get("/graph/peoples-daily-2023-01-11-interview", query_string={"lang": lang},
                        headers={"Accept": "text/html"}).get_data(as_text=True)
        assert all(word in page for word in words), (lang, [w for w in words if w not in page])
        if lang != "en":
            assert "Source document" not in page and "<h2>Classes</h2>" not in page


def test_a_document_graph_names_its_source(real, real_build):
    manifest = json.loads((real_build / "build.json").read_text())
    source = manifest["sources"][0]
    path = "/" + source["graph"][len(manifest["base"]):]
    page = real.get(path, headers={"Accept": "text/html"}).get_data(as_text=True)
    assert source["document"] in page and source["sha256"] in page
    description = turtle(real, path)
    assert values(description, source["graph"], "http://www.w3.org/ns/prov#wasDerivedFrom") == [source["document"]]


# --------------------------------------------------------------------------- PUBLIC_URL

@pytest.mark.parametrize("path, headers", [
    ("/catalog", TTL), ("/.well-known/void", {"Accept": "application/ld+json"}),
    ("/sparql", TTL), ("/graph/reference", TTL), ("/graph/reference", {"Accept": "text/html"}),
    ("/", {"Accept": "text/html"}), ("/index.json", {})])
def test_a_spoofed_host_changes_nothing(real, path, headers):
    plain = real.get(path, headers=headers)
    spoofed = real.get(path, headers={**headers, "Host": "evil.example", "X-Forwarded-Host": "evil.example"})
    assert spoofed.status_code == plain.status_code == 200
    assert spoofed.data == plain.data
    assert b"evil.example" not in spoofed.data and b"localhost" not in spoofed.data
    assert spoofed.headers.get("ETag") == plain.headers.get("ETag")
    assert "evil.example" not in spoofed.headers.get("Link", "")


def test_a_new_public_url_is_a_new_etag(real_build, real):
    other = create_app({"BUILD_DIR": str(real_build), "PUBLIC_URL": "https://elsewhere.example/", "TESTING": True})
    try:
        moved = other.test_client().get("/catalog", headers=TTL)
        assert b"https://elsewhere.example/sparql" in moved.data
        assert moved.headers["ETag"] != real.get("/catalog", headers=TTL).headers["ETag"]
    finally:
        close_app(other)


def test_graph_store_location_uses_public_url():
    app = create_app({"EMPTY": True, "UPDATE_TOKEN": "t0k3n", "PUBLIC_URL": PUBLIC, "TESTING": True})
    try:
        response = app.test_client().post("/graph-store", data="<http://a> <http://b> <http://c> .",
                                          headers={"Content-Type": "application/n-triples", "Host": "evil.example",
                                                   "Authorization": "Bearer t0k3n"})
        assert response.status_code == 201
        assert response.headers["Location"].startswith(PUBLIC + "graph-store?graph=")
    finally:
        close_app(app)


def test_public_url_is_validated():
    from bjkg.server.core.settings import SettingsError, load_settings

    assert load_settings({"PUBLIC_URL": "https://x.example/bjkg"}, environ={})["PUBLIC_URL"] == "https://x.example/bjkg/"
    for bad in ("ftp://x.example/", "x.example", "https://x.example/?a=b"):
        with pytest.raises(SettingsError, match="PUBLIC_URL"):
            load_settings({"PUBLIC_URL": bad}, environ={})


@pytest.mark.parametrize("path, twin", [("/catalog", "/catalog.json"), ("/.well-known/void", "/catalog.json"),
                                        ("/graph/reference", "/graph/reference.json")])
def test_the_catalogue_and_graph_pages_advertise_their_json_twin(client, path, twin):
    """Every HTML page has a JSON twin, named in its Link header and its <link rel=alternate>
    beside the RDF forms; an RDF answer names it too, as an entity's does."""
    page = client.get(path, headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert f'<{twin}>; rel="alternate"; type="application/json"' in page.headers["Link"]
    assert f'<link rel="alternate" type="application/json" href="{twin}">' in page.get_data(as_text=True)
    assert f'<{twin}>; rel="alternate"; type="application/json"' in client.get(path, headers=TTL).headers["Link"]
    data = client.get(twin)
    assert data.status_code == 200 and data.mimetype == "application/json" and data.get_json()


@pytest.mark.parametrize("path", ["/catalog", "/.well-known/void", "/graph/reference"])
def test_the_catalogue_and_graph_pages_honour_format_as_entity_pages_do(client, path):
    """`?format=` names the representation, as on an entity page (the same names, a 406
    naming the known ones for any other), over what Accept asks for."""
    html = {"Accept": "text/html"}
    for name, media in (("ttl", "text/turtle"), ("turtle", "text/turtle"), ("jsonld", "application/ld+json"),
                        ("nt", "application/n-triples"), ("rdf", "application/rdf+xml"),
                        ("text/turtle", "text/turtle"), ("json", "application/json"),
                        ("application/json", "application/json")):
        answer = client.get(path, query_string={"format": name}, headers=html)
        assert answer.status_code == 200 and answer.mimetype == media, (name, answer.mimetype)
    assert client.get(path, query_string={"format": "html"}, headers=TTL).mimetype == "text/html"
    assert client.get(path + "?format=ttl", headers=html).data == client.get(path, headers=TTL).data
    refused = client.get(path, query_string={"format": "bogus"}, headers=html)
    entity = client.get("/id/place/tongzhou", query_string={"format": "bogus"}, headers=html)
    assert refused.status_code == entity.status_code == 406


def test_the_iris_the_catalogue_mints_dereference(client):
    """Every IRI the catalogue mints under the base (its SPARQL service and distributions,
    publisher, contact …) leads to the catalogue that describes it (303), as do the dataset's
    own IRI with a suffix and the ontology's version IRI; an IRI it does not mint is a 404."""
    import pyoxigraph

    base = "https://w3id.org/bjkg/"
    turtle = client.get("/catalog.ttl").data
    minted = {t.subject.value for t in pyoxigraph.parse(turtle, format=pyoxigraph.RdfFormat.TURTLE)
              if isinstance(t.subject, pyoxigraph.NamedNode) and t.subject.value.startswith(base + "dataset/")}
    assert base + "dataset/service/sparql" in minted and len(minted) >= 3
    for iri in minted:
        answer = client.get("/" + iri[len(base):] + "?format=ttl")
        assert answer.status_code == 303, iri
        assert answer.headers["Location"].endswith("/catalog?format=ttl")
        assert iri.encode() in client.get(answer.headers["Location"]).data
    assert client.get("/dataset/nothing-of-the-kind").status_code == 404
    assert client.get("/dataset.ttl").mimetype == "text/turtle"
    version = next(t.object.value for t in pyoxigraph.parse(client.get("/ontology.ttl").data,
                                                               format=pyoxigraph.RdfFormat.TURTLE)
                   if t.predicate.value == "http://www.w3.org/2002/07/owl#versionIRI")
    assert version.startswith(base + "ontology/")
    answer = client.get("/" + version[len(base):])
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/ontology")
    assert client.get("/ontology/0.0.0-not-this-one").status_code == 404


@pytest.mark.parametrize("url", ["/catalog", "/ontology"])
def test_the_catalogue_and_ontology_negotiate_as_entity_pages_do(client, url):
    """One negotiation for every page with RDF forms (`conneg.page_media_type`): every name
    of a format, the JSON twin, a q=0 refusal honoured."""
    assert client.get(url, headers={"Accept": "application/xhtml+xml"}).mimetype == "text/html"
    assert client.get(url, headers={"Accept": "application/x-turtle"}).mimetype == "text/turtle"
    assert client.get(url, headers={"Accept": "application/json"}).mimetype == "application/json"
    assert client.get(url, headers={"Accept": "text/turtle;q=0, */*"}).mimetype != "text/turtle"
    assert client.get(url, headers={"Accept": "image/png"}).status_code == 406
