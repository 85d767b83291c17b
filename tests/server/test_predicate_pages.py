"""An IRI the dataset uses as a predicate has a page (audit finding 1): every entity page
links its predicates to /resource?iri=…, and rdfs:comment, owl:sameAs, rdf:type … were
404 there because they occur only in the predicate position."""
from __future__ import annotations

from urllib.parse import unquote

import pyoxigraph
import pytest
from pyoxigraph import QueryResultsFormat, RdfFormat

from tests.server.conftest import BASE, TOKEN

RDFS_COMMENT = "http://www.w3.org/2000/01/rdf-schema#comment"
VOID = "http://rdfs.org/ns/void#"
UNKNOWN = "https://example.org/never-used-anywhere"


def _rows(client, query: str) -> list:
    answer = client.get("/sparql", query_string={"query": query},
                        headers={"Accept": "application/sparql-results+json"})
    assert answer.status_code == 200, answer.data
    return list(pyoxigraph.parse_query_results(answer.data, QueryResultsFormat.JSON))


def _uses(client, predicate: str) -> int:
    return int(_rows(client, "SELECT (COUNT(*) AS ?n) WHERE { SELECT DISTINCT ?s ?o WHERE "
                             f"{{ ?s <{predicate}> ?o }} }}")[0]["n"].value)


@pytest.mark.parametrize("path", ["/id/place/beijing", "/id/place/xss", "/id/place/tongzhou"])
def test_every_predicate_link_of_an_entity_page_answers(client, path):
    data = client.get(path + ".json").get_json()
    hrefs = {p["predicate"]["href"] for p in data["properties"]}
    hrefs |= {g["predicate"]["href"] for g in data["inbound"]}
    if path != "/id/place/tongzhou":  # owl:sameAs, rdfs:comment
        assert any(h.startswith("/resource?iri=") for h in hrefs)
    for href in sorted(hrefs):
        assert client.get(href.split("#")[0]).status_code == 200, href


def test_every_predicate_of_the_dataset_has_a_page(client):
    predicates = {r["p"].value for r in _rows(client, "SELECT DISTINCT ?p WHERE { ?s ?p ?o }")}
    assert RDFS_COMMENT in predicates
    for predicate in sorted(predicates):
        answer = client.get("/resource", query_string={"iri": predicate}, follow_redirects=True)
        assert answer.status_code == 200, predicate


def test_a_predicate_page_says_how_many_triples_use_it_and_how_to_list_them(client):
    page = client.get("/resource", query_string={"iri": RDFS_COMMENT, "lang": "en"},
                      headers={"Accept": "text/html"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    data = client.get("/resource.json", query_string={"iri": RDFS_COMMENT}).get_json()
    uses = data["uses"]
    assert uses["triples"] == _uses(client, RDFS_COMMENT) > 0
    assert 'id="uses"' in html and uses["sparql_href"].split("#", 1)[1] in html
    assert f"{uses['triples']:,}" in html
    query = unquote(uses["sparql_href"].split("#query=", 1)[1])
    assert len(_rows(client, query)) == uses["triples"]


@pytest.mark.parametrize("suffix, fmt", [("ttl", RdfFormat.TURTLE), ("nt", RdfFormat.N_TRIPLES),
                                         ("jsonld", RdfFormat.JSON_LD), ("rdf", RdfFormat.RDF_XML)])
def test_a_predicate_pages_rdf_twins_answer_and_name_its_partition(client, suffix, fmt):
    answer = client.get(f"/resource.{suffix}", query_string={"iri": RDFS_COMMENT})
    assert answer.status_code == 200
    triples = list(pyoxigraph.parse(answer.data, format=fmt))
    parts = [t.subject for t in triples if t.predicate.value == VOID + "property" and t.object.value == RDFS_COMMENT]
    assert len(parts) == 1
    count = [t.object.value for t in triples if t.subject == parts[0] and t.predicate.value == VOID + "triples"]
    assert count == [str(_uses(client, RDFS_COMMENT))]
    # the same partition node as the catalogue's
    catalogue = list(pyoxigraph.parse(client.get("/catalog.nt").data, format=RdfFormat.N_TRIPLES))
    assert (parts[0].value, VOID + "property", RDFS_COMMENT) in {
        (t.subject.value, t.predicate.value, t.object.value) for t in catalogue}


@pytest.mark.parametrize("accept", ["text/html", "text/turtle", "application/json"])
def test_an_iri_the_dataset_never_uses_is_still_404(client, accept):
    answer = client.get("/resource", query_string={"iri": UNKNOWN}, headers={"Accept": accept})
    assert answer.status_code == 404


def test_a_predicate_of_a_writable_store_has_a_page_too(writable_client):
    predicate = "https://example.org/vocab#only-a-predicate"
    text = f"INSERT DATA {{ GRAPH <{BASE}graph/g> {{ <https://example.org/s> <{predicate}> 1, 2 }} }}"
    answer = writable_client.post("/sparql", data=text, content_type="application/sparql-update",
                                  headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code in (200, 204)
    data = writable_client.get("/resource.json", query_string={"iri": predicate}).get_json()
    assert data["uses"]["triples"] == 2
    assert writable_client.get("/resource.ttl", query_string={"iri": predicate}).status_code == 200
    assert writable_client.get("/resource", query_string={"iri": UNKNOWN}).status_code == 404
