"""The catalogue's spatial coverage joins the graph: the place it names (dct:spatial, with
its dcat:centroid and dcat:bbox) is an IRI the built graph itself uses, not a twin of it."""
from __future__ import annotations

import pyoxigraph as ox

from bjkg.server.pages.catalog import Counts, Site, catalogue_triples

DCTERMS = "http://purl.org/dc/terms/"
DCAT = "http://www.w3.org/ns/dcat#"


def _catalogue() -> list[ox.Triple]:
    site = Site(base="https://w3id.org/bjkg/", public="https://bjkg.example.org/",
                titles={"en": "bjkg"}, descriptions={"en": "bjkg"})
    counts = Counts(place_points={"110000": "POINT(116.4 39.9)", "110112": "POINT(116.6 39.9)",
                                  "110108": "POINT(116.3 40.0)"})
    return catalogue_triples(site, {}, counts)


def test_catalogue_spatial_iris_are_ones_the_graph_uses(built):
    triples = _catalogue()
    spatial = {t.object.value for t in triples if t.predicate.value == DCTERMS + "spatial"}
    assert spatial
    store = ox.Store()
    store.bulk_load(path=str(built / "bjkg.nq"), format=ox.RdfFormat.N_QUADS)
    for iri in spatial:
        used = store.query(f"ASK {{ GRAPH ?g {{ {{ ?s ?p <{iri}> }} UNION {{ <{iri}> ?p ?o }} }} }}")
        assert bool(used), f"the catalogue's dct:spatial {iri} is not an IRI of the graph"
    # the GeoNames feature is named the way the graph names it (https://sws.geonames.org/<id>/)
    assert "https://sws.geonames.org/2038349/" in spatial
    # centroid and box sit on those same IRIs
    placed = {t.subject.value for t in triples if t.predicate.value in (DCAT + "centroid", DCAT + "bbox")}
    assert placed == spatial
