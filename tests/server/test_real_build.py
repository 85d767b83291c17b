"""The server over a real build of this checkout: the artifact contract holds end to end,
over the embedded store and over Virtuoso after `bjkg publish`."""
from __future__ import annotations

import json

import pyoxigraph
import pytest
from pyoxigraph import QueryResultsFormat

from bjkg.server.app import create_app
from tests.server.backends import BACKENDS, remote_app
from tests.server.conftest import close_app

ID = "https://w3id.org/bjkg/id/"


@pytest.fixture(scope="module", params=BACKENDS)
def real_client(request, real_build):
    """The real build served by the embedded store, and published into Virtuoso."""
    if request.param == "virtuoso":
        app = remote_app(request.getfixturevalue("virtuoso_real"))
    else:
        app = create_app({"BUILD_DIR": str(real_build), "TESTING": True})
    yield app.test_client()
    close_app(app)


def number(client, query: str) -> int:
    response = client.get("/sparql", query_string={"query": query})
    assert response.status_code == 200, response.data
    return int(next(iter(pyoxigraph.parse_query_results(response.data, QueryResultsFormat.JSON)))["n"].value)


def test_counts_match_the_manifest(real_client, real_build):
    manifest = json.loads((real_build / "build.json").read_text(encoding="utf-8"))
    assert number(real_client, "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }") == manifest["triples"]
    for graph, n in manifest["graphs"].items():
        assert number(real_client, f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}") == n


def test_every_class_count_is_reachable(real_client, real_build):
    manifest = json.loads((real_build / "build.json").read_text(encoding="utf-8"))
    ontology = f"{manifest['base']}graph/ontology"  # build.json counts instances outside the ontology
    for cls, n in list(manifest["classes"].items())[:10]:
        assert number(real_client, f"SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE {{ GRAPH ?g {{ ?s a <{cls}> }} "
                                   f"FILTER(?g != <{ontology}>) }}") == n


def test_service_description_lists_the_builds_graphs(real_client, real_build):
    manifest = json.loads((real_build / "build.json").read_text(encoding="utf-8"))
    response = real_client.get("/sparql", headers={"Accept": "application/n-triples"})
    names = {t.object.value for t in pyoxigraph.parse(response.data, format=pyoxigraph.RdfFormat.N_TRIPLES)
             if t.predicate.value.endswith("#name")}
    assert names == set(manifest["graphs"])


def test_a_quote_offset_orders_the_reading_view_but_is_no_row_of_a_page(real_client):
    """bjkg:quoteOffset (where a quote stands in its document) is in the RDF of a resource,
    not a row of its page: a reader meets it as the order of the document's reading view."""
    body = real_client.get("/sparql", query_string={"query": (
        "SELECT ?x WHERE { ?x <https://w3id.org/bjkg/ontology#quoteOffset> ?n } LIMIT 1")},
        headers={"Accept": "application/sparql-results+json"}).get_json()
    iri = body["results"]["bindings"][0]["x"]["value"]
    path = iri.removeprefix("https://w3id.org/bjkg")
    assert "quoteOffset" in real_client.get(path + ".ttl").get_data(as_text=True)
    page = real_client.get(path, headers={"Accept": "text/html"})
    assert page.status_code == 200 and "quoteOffset" not in page.get_data(as_text=True)


@pytest.mark.parametrize("limit", [1, 200])
def test_a_place_page_counts_its_own_and_its_inner_places_figures_once(real_client, monkeypatch, limit):
    """通州's page shows the figures about it and about every place within it (城市副中心 …),
    at most OBSERVATION_LIMIT rows, and counts each figure once: the total is the SPARQL
    count of distinct observations however few rows the page has room for (past its room
    only the figures' IRIs are read, on either kind of store)."""
    from bjkg.server.pages import describe

    monkeypatch.setattr(describe, "OBSERVATION_LIMIT", limit)
    place = ID + "place/tongzhou"
    expected = number(real_client, f"""
        PREFIX bjkg: <https://w3id.org/bjkg/ontology#>
        PREFIX qb: <http://purl.org/linked-data/cube#>
        PREFIX sdmx-dimension: <http://purl.org/linked-data/sdmx/2009/dimension#>
        SELECT (COUNT(DISTINCT ?obs) AS ?n) WHERE {{
          {{ BIND(<{place}> AS ?p) }} UNION {{ ?p bjkg:within <{place}> }}
          VALUES ?link {{ sdmx-dimension:refArea bjkg:aboutPlace bjkg:aboutInitiative
                         bjkg:aboutAgency bjkg:indicator }}
          ?obs ?link ?p ; a qb:Observation .
        }}""")
    inner = number(real_client, f"SELECT (COUNT(*) AS ?n) WHERE {{ ?p <https://w3id.org/bjkg/ontology#within> <{place}> }}")
    assert expected > 1 and inner > 0
    asked = []
    for source in (describe.IndexPages, describe.QuerySource):
        read = source.observations
        monkeypatch.setattr(source, "observations",
                            lambda self, node, rows=None, read=read: asked.append(rows) or read(self, node, rows))
    page = real_client.get("/id/place/tongzhou.json").get_json()
    if limit == 1:  # 通州's own figures fill the page: the inner places' rows are not read
        assert len(asked) == 1 + inner and all(rows == 0 for rows in asked[1:]), asked
    assert page["observations_total"] == expected
    assert len(page["observations"]) == min(expected, limit)
    assert len({o["iri"] for o in page["observations"]}) == len(page["observations"])


@pytest.mark.parametrize("path", ["place/tongzhou", "place/beijing", "document/analysis-2024-eleven-areas",
                                  "indicator/work-area-aspects-count", "agency/beijing-party-committee"])
def test_the_rdf_of_a_page_is_the_same_whether_or_not_its_observations_are_read(real_client, path):
    """The RDF representations describe a resource without reading its observations' rows,
    charts or division data (only whether it has observations, which hides their links): the
    triples are those of the full description the HTML page is made from."""
    from bjkg.server.pages.describe import description_triples, describe
    from bjkg.server.views.pages import _indexes, alignments
    from bjkg.server.web.extension import get_store

    iri = ID + path
    app = real_client.application
    with app.test_request_context():
        store = get_store()
        made = [describe(store, iri, base=app.config["BASE_IRI"], lang="en", indexes=_indexes(store),
                         alignments=alignments(store), links_only=links_only) for links_only in (False, True)]
        assert made[0] is not None, iri
        (full, complete), (links, _) = (description_triples(store, iri, d) for d in made)
    assert complete  # a build has no blank nodes
    assert full == links and full
    served = real_client.get(f"/id/{path}.nt")
    assert served.status_code == 200
    assert {str(t) for t in full} == {line.rstrip(" .") for line in served.get_data(as_text=True).splitlines()
                                      if line.strip()}
