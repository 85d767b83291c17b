"""A browser that opens a query's URL gets its answer as a page; every other client the answer.

`/sparql?query=…` negotiates: text/html preferred over every SPARQL answer format (a
browser's navigation), or ``format=html``, gets a table of the rows (or triples, or the
boolean) with each IRI linked to a page of this server, the query, a link into the editor
and links to the whole answer in each format. ``*/*``, no Accept, and SPARQL clients' Accept
headers get the answer itself, as before. An answer longer than a page shows is refused on
the page, never cut. Both ways a query can take are checked: Flask's view (test client)
and the HTTP front's query lane (a live server).
"""
from __future__ import annotations

import html
import re
import urllib.parse
import urllib.request

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bjkg.server.views.sparql import PAGE_ROWS
from tests.server.conftest import BASE
from tests.server.test_fuzz import FUZZ, percent_encoded

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
TONGZHOU = f"{BASE}id/place/tongzhou"
LABELS = (f"SELECT ?label WHERE {{ <{TONGZHOU}> <http://www.w3.org/2000/01/rdf-schema#label> ?label }} "
          "ORDER BY ?label")


def _rows(page: str) -> list[list[str]]:
    body = page.split('<tbody>', 1)[1].split('</tbody>', 1)[0]
    return [re.findall(r"<td>(.*?)</td>", row, re.S) for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def test_a_browser_gets_the_rows_as_a_page_and_a_client_the_answer(client):
    page = client.get("/sparql", query_string={"query": LABELS}, headers={"Accept": BROWSER})
    assert page.status_code == 200 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    labels = [b["label"]["value"] for b in client.get(
        "/sparql", query_string={"query": LABELS}, headers={"Accept": "application/sparql-results+json"}
    ).get_json()["results"]["bindings"]]
    shown = [html.unescape(re.sub(r"<[^>]+>", "", cell)).strip().split("\n")[0] for [cell] in _rows(text)]
    assert labels and [s.split(" @")[0] for s in shown] == labels
    assert "@zh-hans" in text or "@en" in text  # the language of each label
    assert html.escape(LABELS, quote=False) in text  # the query itself
    # the whole answer in each results format, in the page and as Link: rel=alternate
    for name, media in (("json", "application/sparql-results+json"), ("csv", "text/csv")):
        href = "/sparql?" + urllib.parse.urlencode({"query": LABELS, "format": name})
        assert f'href="{html.escape(href)}"' in text and f"<{href}>" in page.headers["Link"]
        assert client.get(href).mimetype == media
    assert "Accept" in page.headers["Vary"] and "Accept-Language" in page.headers["Vary"]
    for accept in ("*/*", None, "application/sparql-results+json", "application/sparql-results+xml, */*;q=0.5",
                   "text/*"):
        answer = client.get("/sparql", query_string={"query": LABELS}, headers={"Accept": accept} if accept else {})
        assert answer.status_code == 200 and answer.mimetype != "text/html", accept


def test_iris_link_to_pages_here_and_nothing_is_rendered_unescaped(client):
    query = ('SELECT ?x ?y WHERE { VALUES (?x ?y) { (<' + TONGZHOU + '> "<script>alert(1)</script>"@en) '
             '(<javascript:alert(1)> "a & b"^^<http://www.w3.org/2001/XMLSchema#token>) } }')
    text = client.get("/sparql", query_string={"query": query, "format": "html"}).get_data(as_text=True)
    rows = _rows(text)
    assert len(rows) == 2
    assert 'href="/id/place/tongzhou"' in rows[0][0]
    assert "<script>alert" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in rows[0][1]
    assert 'href="javascript' not in text
    assert 'href="/resource?iri=javascript%3Aalert%281%29"' in rows[1][0]
    assert "a &amp; b" in rows[1][1] and "xsd:token" in rows[1][1]


def test_iris_read_as_their_labels_in_the_readers_language(client):
    query = f"SELECT ?place WHERE {{ VALUES ?place {{ <{TONGZHOU}> <urn:x-unlabelled> }} }}"
    english = client.get("/sparql", query_string={"query": f"SELECT ?l WHERE {{ <{TONGZHOU}> "
                                                  "<http://www.w3.org/2000/01/rdf-schema#label> ?l "
                                                  "FILTER(lang(?l) = 'en') }", "format": "json"}).get_json()
    label = english["results"]["bindings"][0]["l"]["value"]
    for lang, expected in (("en", label), ("zh-Hans", "通州区")):
        rows = _rows(client.get("/sparql", query_string={"query": query, "lang": lang},
                                headers={"Accept": BROWSER}).get_data(as_text=True))
        assert f">{html.escape(label if lang == 'en' else expected)}</a>" in rows[0][0]
        assert "id:place/tongzhou" in rows[0][0]  # and its compact name beside it
        assert ">urn:x-unlabelled</a>" in rows[1][0] and rows[1][0].count("urn:x-unlabelled") == 2  # href, text


def test_ask_and_construct_as_pages(client):
    asked = client.get("/sparql", query_string={"query": f"ASK {{ <{TONGZHOU}> ?p ?o }}"},
                       headers={"Accept": BROWSER}).get_data(as_text=True)
    assert 'id="boolean"' in asked and "true" in asked.split('id="boolean"')[1].split("</p>")[0]
    construct = f"CONSTRUCT {{ <{TONGZHOU}> ?p ?o }} WHERE {{ <{TONGZHOU}> ?p ?o }} LIMIT 4"
    page = client.get("/sparql", query_string={"query": construct, "format": "html"})
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and len(_rows(text)) == 4
    assert all('href="/id/place/tongzhou"' in row[0] for row in _rows(text))
    assert "format=ttl" in page.headers["Link"] and "format=json&" not in text


def test_an_answer_longer_than_a_page_is_refused_on_the_page_not_cut(client):
    query = "SELECT ?s ?p ?o WHERE { ?s ?p ?o }"
    whole = client.get("/sparql", query_string={"query": query, "format": "json"}).get_json()
    assert len(whole["results"]["bindings"]) > PAGE_ROWS  # the tiny build has more triples than that
    page = client.get("/sparql", query_string={"query": query}, headers={"Accept": BROWSER})
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="too-long"' in text and "<tbody>" not in text
    assert f"{PAGE_ROWS}" in text.split('id="too-long"')[1].split("</p>")[0]
    assert "format=json" in page.headers["Link"]


def test_a_page_reads_no_more_of_an_answer_than_it_shows(client, monkeypatch):
    """One row can be longer than a page (a GROUP_CONCAT of every literal): the page reads at
    most PAGE_BYTES of the answer as the engine writes it, stops the evaluation, and says
    the answer is too long; the slot is free again and the next page answers."""
    from bjkg.server.views import sparql as view

    monkeypatch.setattr(view, "PAGE_BYTES", 10_000)
    concat = "SELECT (GROUP_CONCAT(STR(?o)) AS ?all) WHERE { ?s ?p ?o }"
    whole = client.get("/sparql", query_string={"query": concat, "format": "json"})
    assert len(whole.get_data()) > 5 * 10_000  # one row, far longer than the page reads
    hundred = " ".join(str(i) for i in range(100))
    many = f"SELECT * WHERE {{ VALUES ?a {{ {hundred} }} VALUES ?b {{ {hundred} }} VALUES ?c {{ 1 2 3 4 5 }} }}"
    streamed = client.get("/sparql", query_string={"query": many, "format": "json"})
    assert len(streamed.get_data()) > 2 << 20  # long enough to come in chunks
    for query in [concat, many] * 4:  # more times than the client has slots: each was given back
        page = client.get("/sparql", query_string={"query": query}, headers={"Accept": BROWSER})
        assert page.status_code == 200 and 'id="too-long"' in page.get_data(as_text=True)
    shown = client.get("/sparql", query_string={"query": LABELS}, headers={"Accept": BROWSER})
    assert "<tbody>" in shown.get_data(as_text=True)


def test_a_bad_query_from_a_browser_is_a_4xx_page(client):
    page = client.get("/sparql", query_string={"query": "SELEC ?x"}, headers={"Accept": BROWSER})
    assert page.status_code == 400 and page.mimetype == "text/html"
    refused = client.get("/sparql", query_string={"query": "SELECT * WHERE { SERVICE <http://example.org/> { ?s ?p ?o } }"},
                         headers={"Accept": BROWSER})
    assert refused.status_code == 400


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_the_live_server_answers_a_browser_with_the_page(live_server, method):
    """Through the HTTP front: its query lane leaves the page to Flask, and answers the rest."""
    data = urllib.parse.urlencode({"query": LABELS}).encode()
    url = live_server.url + "/sparql" + ("?" + data.decode() if method == "GET" else "")
    request = urllib.request.Request(url, data=data if method == "POST" else None, method=method,
                                     headers={"Accept": BROWSER})
    with urllib.request.urlopen(request, timeout=20) as response:
        assert response.status == 200 and response.headers.get_content_type() == "text/html"
        assert "<tbody>" in response.read().decode("utf-8")
    plain = urllib.request.Request(url, data=data if method == "POST" else None, method=method)
    with urllib.request.urlopen(plain, timeout=20) as response:
        assert response.headers.get_content_type() == "application/sparql-results+json"


@FUZZ
@given(query=percent_encoded(), via_format=st.booleans(),
       extra=st.sampled_from(["", "&default-graph-uri=urn:x", "&named-graph-uri=%FF", "&format=json"]))
def test_no_5xx_for_any_query_a_browser_opens(client, writable_client, query, via_format, extra):
    """The page takes the same input as the endpoint: hypothesis-drawn query texts (the
    fuzz suite's snippets, arbitrary unicode, broken escapes), as `format=html` and with a
    browser's Accept, over a build and over the writable dataset — a 2xx-4xx each time."""
    for app_client in (client, writable_client):
        answer = app_client.get(f"/sparql?query={query}{'&format=html' if via_format else ''}{extra}",
                                headers={} if via_format else {"Accept": BROWSER})
        answer.get_data()
        assert answer.status_code < 500 or answer.status_code == 503, (query, answer.status_code,
                                                                       answer.get_data(as_text=True)[:300])


def test_a_store_without_a_label_table_labels_the_rows_by_query(writable_client):
    """A writable dataset (as a remote store) has no prepared label table: the page reads
    the labels of its IRIs with queries, as its entity pages do (IRIs showed only their
    compact names)."""
    from tests.server.conftest import TOKEN

    place = "http://example.org/place/p1"
    written = writable_client.post("/sparql", headers={"Authorization": f"Bearer {TOKEN}"}, data={
        "update": f'INSERT DATA {{ <{place}> <http://www.w3.org/2000/01/rdf-schema#label> '
                  '"第一区"@zh-Hans, "District One"@en }'})
    assert written.status_code in (200, 204), written.get_data(as_text=True)
    query = f"SELECT ?p WHERE {{ VALUES ?p {{ <{place}> <urn:x-unlabelled> }} }}"
    for lang, expected in (("en", "District One"), ("zh-Hans", "第一区")):
        rows = _rows(writable_client.get("/sparql", query_string={"query": query, "lang": lang},
                                         headers={"Accept": BROWSER}).get_data(as_text=True))
        assert f">{expected}</a>" in rows[0][0], rows
        assert ">urn:x-unlabelled</a>" in rows[1][0]
