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
