"""Entity pages: paths, negotiation, suffixes, languages, provenance, paging, escaping."""
from __future__ import annotations

import json
import urllib.parse

import pyoxigraph
import pytest

from tests.server.conftest import TOKEN
from tests.server.html_app import client, html_app  # noqa: F401  (fixtures)

ID = "https://w3id.org/bjkg/id/"
HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_entity_path_serves_html_with_label_types_and_links(client):
    r = client.get("/id/place/tongzhou", headers=HTML)
    assert r.status_code == 200 and r.mimetype == "text/html"
    page = r.get_data(as_text=True)
    assert "通州区" in page and "Tongzhou District" in page and "Tōngzhōu Qū" in page
    assert 'href="/id/place/beijing"' in page            # linked value under the base
    assert 'href="/ontology#District"' in page           # type links to the ontology page
    assert "Accept" in r.headers["Vary"]
    link = r.headers["Link"]
    for suffix, media in (("ttl", "text/turtle"), ("jsonld", "application/ld+json"),
                          ("json", "application/json")):
        assert f'</id/place/tongzhou.{suffix}>; rel="alternate"; type="{media}"' in link
    assert "/sparql#query=" in page                      # prefilled query link


@pytest.mark.parametrize("accept, media", [
    ("text/turtle", "text/turtle"),
    ("application/ld+json", "application/ld+json"),
    ("application/n-triples", "application/n-triples"),
    ("application/rdf+xml", "application/rdf+xml"),
    ("*/*", "text/turtle"),
    ("application/xhtml+xml", "text/html"),  # another name of HTML
    ("application/x-turtle", "text/turtle"),  # an older name of Turtle
    ("text/turtle;q=0, */*", "application/n-triples"),  # refused: not sent because */* matches an alias
])
def test_negotiation_on_the_same_url(client, accept, media):
    r = client.get("/id/place/tongzhou", headers={"Accept": accept})
    assert r.status_code == 200
    assert r.mimetype == media
    assert "Accept" in r.headers["Vary"]
    if media == "text/html":
        assert b"<html" in r.data
        return
    fmt = pyoxigraph.RdfFormat.from_media_type(media)
    triples = list(pyoxigraph.parse(r.data, format=fmt))
    subjects = {t.subject.value for t in triples}
    assert ID + "place/tongzhou" in subjects


@pytest.mark.parametrize("suffix, media", [
    ("ttl", "text/turtle"), ("jsonld", "application/ld+json"), ("nt", "application/n-triples"),
    ("rdf", "application/rdf+xml"),
])
def test_suffix_forms(client, suffix, media):
    r = client.get(f"/id/place/tongzhou.{suffix}", headers=HTML)
    assert r.status_code == 200 and r.mimetype == media
    assert r.headers["Content-Type"].count("charset") <= 1
    triples = list(pyoxigraph.parse(r.data, format=pyoxigraph.RdfFormat.from_media_type(media)))
    within = [t for t in triples if t.predicate.value.endswith("#within")]
    assert any(t.object.value == ID + "place/beijing" for t in within)


def test_unacceptable_type_is_406(client):
    r = client.get("/id/place/tongzhou", headers={"Accept": "image/png"})
    assert r.status_code == 406


def test_an_unknown_format_name_is_406_naming_every_name_taken(client):
    r = client.get("/id/place/tongzhou?format=bogus")
    assert r.status_code == 406
    message = r.get_json()["error"]["message"]
    for name in ("json", "jsonld", "ttl", "html"):
        assert name in message.split("use one of:")[1]
    assert client.get("/id/place/tongzhou?format=json").is_json


def test_json_twin_is_the_page_data(client):
    r = client.get("/id/place/tongzhou.json")
    assert r.status_code == 200 and r.mimetype == "application/json"
    data = r.get_json()
    assert data["iri"] == ID + "place/tongzhou"
    assert data["labels"]["zh-Hans"] == ["通州区"] and data["labels"]["zh-Hant"] == ["通州區"]
    assert data["labels"]["zh-Latn-pinyin"] == ["Tōngzhōu Qū"]
    assert {t["iri"].rsplit("#", 1)[1] for t in data["types"]} >= {"District", "Place"}
    predicates = [p["predicate"]["curie"] for p in data["properties"]]
    assert "bjkg:within" in predicates
    # the same dict drives the HTML: the page shows what the JSON holds
    page = client.get("/id/place/tongzhou", headers=HTML).get_data(as_text=True)
    for prop in data["properties"]:
        assert prop["predicate"]["label"] in page
    # Accept: application/json gets the twin too
    assert client.get("/id/place/tongzhou", headers={"Accept": "application/json"}).get_json()["iri"] == data["iri"]


def test_property_order_comes_from_the_table(client):
    from bjkg.server.pages.describe import PROPERTY_ORDER

    data = client.get("/id/initiative/zgc-24-reforms.json").get_json()
    predicates = [p["predicate"]["iri"] for p in data["properties"]]
    known = [p for p in predicates if p in PROPERTY_ORDER]
    assert known == sorted(known, key=PROPERTY_ORDER.index)
    assert predicates.index("https://w3id.org/bjkg/ontology#quote") < predicates.index(
        "https://w3id.org/bjkg/ontology#involvesPlace")


def test_language_fallback_switch_and_cookie(client):
    zh = client.get("/id/place/tongzhou.json").get_json()
    assert zh["lang"] == "zh-Hans" and zh["label"] == "通州区"
    r = client.get("/id/place/tongzhou?lang=zh-Hant", headers=HTML)
    assert "<h1 id=\"label\">通州區</h1>" in r.get_data(as_text=True)
    # ?lang= applies to the page and its links; a cookie only when the reader asks for it
    assert "Set-Cookie" not in r.headers
    assert 'href="/id/place/beijing?lang=zh-Hant"' in r.get_data(as_text=True)
    r = client.get("/id/place/tongzhou?lang=zh-Hant&remember=1", headers=HTML)
    assert "bjkg_lang=zh-Hant" in r.headers["Set-Cookie"]
    # remembered: the next page without ?lang= uses the cookie
    client.set_cookie("bjkg_lang", "en")
    assert client.get("/id/place/tongzhou.json").get_json()["label"] == "Tongzhou District"
    # fallback: the XSS probe has no zh-Hant label, so zh-Hans is shown
    client.set_cookie("bjkg_lang", "zh-Hant")
    assert client.get("/id/place/xss.json").get_json()["label"] == "<script>alert(1)</script>"
    # an unknown language is ignored
    assert client.get("/id/place/tongzhou.json?lang=fr").get_json()["lang"] == "zh-Hant"


def test_provenance_from_assertions_and_records(client):
    data = client.get("/id/initiative/zgc-24-reforms.json").get_json()
    by_pred = {p["predicate"]["curie"]: p for p in data["properties"]}
    place = by_pred["bjkg:involvesPlace"]["values"][0]
    assert place["iri"] == ID + "place/zhongguancun"
    prov = place["provenance"][0]
    assert prov["via"] == "assertion"
    assert prov["quote"] == "中關村新一輪24條先行先試改革政策"
    assert prov["document"]["iri"] == ID + "document/peoples-daily-2023-01-11-interview"
    agency = by_pred["bjkg:involvesAgency"]["values"][0]
    assert agency["provenance"][0]["via"] == "record"
    assert agency["provenance"][0]["quote"] == "部市聯動推出了中關村新一輪24條先行先試改革政策"
    page = client.get("/id/initiative/zgc-24-reforms", headers=HTML).get_data(as_text=True)
    assert "中關村新一輪24條先行先試改革政策</q>" in page


def test_inferred_values_are_marked(client):
    data = client.get("/id/place/beijing.json").get_json()
    contains = next(p for p in data["properties"] if p["predicate"]["curie"] == "bjkg:contains")
    assert all(v["inferred"] for v in contains["values"])


def test_observation_table_for_places_initiatives_and_indicators(client):
    beijing = client.get("/id/place/beijing.json").get_json()
    values = {(o["period_label"], o["status"], o["value"]) for o in beijing["observations"]}
    assert ("2023年", "Actual", "5.2") in values and ("2024年", "Target", "5") in values
    obs = next(o for o in beijing["observations"] if o["status"] == "Actual")
    assert obs["unit_label"] == "%" and obs["qualifier"] == "Exact"
    assert obs["quote"] == "2023年北京市地區生產總值增長5.2%"
    pillar = client.get("/id/initiative/wuzi-3-digital-economy.json").get_json()
    assert [o["value"] for o in pillar["observations"]] == ["42.7"]
    page = client.get("/id/place/beijing", headers=HTML).get_data(as_text=True)
    assert 'class="obs"' in page and "地區生產總值增長5%左右" in page


def test_indicator_chart_shows_targets_and_actuals_side_by_side(client):
    data = client.get("/id/indicator/gdp-growth-rate.json").get_json()
    chart = data["charts"][0]
    assert chart["statuses"] == ["Actual", "Target"]
    assert [label["text"] for label in chart["period_labels"]] == ["2023年", "2024年"]
    bars_2023 = [b for b in chart["bars"] if b["title"].startswith("2023")]
    assert {b["status"] for b in bars_2023} == {"Actual", "Target"}
    page = client.get("/id/indicator/gdp-growth-rate", headers=HTML).get_data(as_text=True)
    assert "<svg" in page and 'class="bar bar-Target"' in page and 'class="bar bar-Actual"' in page
    assert "<script" not in page.split("<svg", 1)[1].split("</svg>", 1)[0]


def test_chart_bars_are_links_with_names_in_a_group_not_an_image(client):
    """Each bar linking to its observation is named as its tooltip says, and an SVG holding
    links is a group (role="img" would hide them from assistive technology)."""
    import html
    import re

    data = client.get("/id/indicator/gdp-growth-rate.json").get_json()
    bars = [b for b in data["charts"][0]["bars"] if b["href"]]
    assert bars
    page = client.get("/id/indicator/gdp-growth-rate", headers=HTML).get_data(as_text=True)
    svg = page.split('<figure class="chart">', 1)[1].split("</svg>", 1)[0]
    assert 'role="img"' not in svg and re.search(r'<svg [^>]*role="group" aria-label="[^"]+"', svg)
    for bar in bars:
        named = '<a href="%s" aria-label="%s">' % (html.escape(bar["href"]), html.escape(bar["title"]))
        assert named in svg, bar
    assert svg.count("<a ") == len(bars)


def test_inbound_links_are_grouped_and_paged(client, monkeypatch):
    import bjkg.server.pages.describe as describe

    monkeypatch.setattr(describe, "INBOUND_PAGE_SIZE", 2)
    cls = "https://w3id.org/bjkg/ontology#Place"
    data = client.get("/resource.json?iri=" + cls.replace("#", "%23")).get_json()
    types = next(g for g in data["inbound"] if g["predicate"]["curie"] == "rdf:type")
    assert types["total"] > 2 and len(types["items"]) == 2 and types["has_next"]
    second = client.get("/resource.json?iri=" + cls.replace("#", "%23")
                        + "&inbound=http%3A%2F%2Fwww.w3.org%2F1999%2F02%2F22-rdf-syntax-ns%23type&page=2").get_json()
    types2 = next(g for g in second["inbound"] if g["predicate"]["curie"] == "rdf:type")
    assert types2["page"] == 2 and not {i["iri"] for i in types2["items"]} & {i["iri"] for i in types["items"]}


def test_bad_page_number_is_400(client):
    assert client.get("/id/place/beijing?page=abc").status_code == 400
    assert client.get("/id/place/beijing?page=0").status_code == 400


def test_other_iris_at_resource_and_canonical_redirect(client):
    r = client.get("/resource?iri=http%3A%2F%2Fwww.wikidata.org%2Fentity%2FQ956", headers=HTML)
    assert r.status_code == 200 and "Q956" in r.get_data(as_text=True)
    r = client.get("/resource?iri=https%3A%2F%2Fw3id.org%2Fbjkg%2Fid%2Fplace%2Ftongzhou")
    assert r.status_code == 301 and r.headers["Location"].endswith("/id/place/tongzhou")
    assert client.get("/resource?iri=not%20an%20iri").status_code == 400
    assert client.get("/resource").status_code == 400


def test_unknown_iri_is_404_with_search_link(client):
    r = client.get("/id/place/atlantis", headers=HTML)
    assert r.status_code == 404
    page = r.get_data(as_text=True)
    assert 'href="/search?q=atlantis"' in page
    r = client.get("/id/place/atlantis.json")
    assert r.status_code == 404 and r.get_json()["error"]["status"] == 404


def test_labels_are_escaped(client):
    page = client.get("/id/place/xss", headers=HTML).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page
    # linked from elsewhere (class listing) it is escaped too
    listing = client.get("/class?iri=https%3A%2F%2Fw3id.org%2Fbjkg%2Fontology%23Site", headers=HTML)
    assert "<script>alert(1)</script>" not in listing.get_data(as_text=True)


def test_graph_iris_have_pages(client):
    r = client.get("/graph/reference", headers=HTML)
    # a graph IRI is described by what the data says about it (here: nothing) → 404 page
    assert r.status_code in (200, 404)


def _rows_of_page_query(client, path: str) -> list[tuple[str, str, str]]:
    """Run the query the page's "query behind this page" link opens in the editor."""
    href = client.get(path + ".json").get_json()["sparql_href"]
    query = urllib.parse.unquote(href.split("#query=", 1)[1])
    answer = client.post("/sparql", data={"query": query}, headers={"Accept": "application/sparql-results+json"})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return [(row.get("graph", {}).get("value", ""), row["property"]["value"], row["value"]["value"])
            for row in answer.get_json()["results"]["bindings"]]


def test_the_page_query_lists_each_statement_once_per_graph(client):
    rows = _rows_of_page_query(client, "/id/place/tongzhou")
    assert rows and all(graph for graph, _, _ in rows)  # the union default graph: named graphs only
    assert len(rows) == len(set(rows))


def test_the_page_query_lists_the_default_graphs_statements_where_it_is_its_own(writable_client):
    """``--empty``: the default graph is a graph of its own, and the page shows its
    statements, so the query behind the page lists them too (?graph unbound)."""
    stored = writable_client.post("/graph-store?default",
                                  data=f"<{ID}x> <http://www.w3.org/2000/01/rdf-schema#label> \"in the default graph\" .\n",
                                  headers={**AUTH, "Content-Type": "application/n-triples"})
    assert stored.status_code in (200, 201, 204), stored.get_data(as_text=True)
    stored = writable_client.post(f"/graph-store?graph={urllib.parse.quote(ID + 'g')}",
                                  data=f"<{ID}x> <http://www.w3.org/2000/01/rdf-schema#comment> \"in g\" .\n",
                                  headers={**AUTH, "Content-Type": "application/n-triples"})
    assert stored.status_code in (200, 201, 204), stored.get_data(as_text=True)
    rows = _rows_of_page_query(writable_client, "/id/x")
    assert ("", "http://www.w3.org/2000/01/rdf-schema#label", "in the default graph") in rows
    assert (ID + "g", "http://www.w3.org/2000/01/rdf-schema#comment", "in g") in rows
    assert len(rows) == 2


NESTED = f"""
@prefix ex: <{ID}> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
ex:thing rdfs:label "thing" ;
  ex:address [ rdfs:label "nested" ; ex:geo [ ex:lat 39.9 ] ] ;
  ex:steps ( "one" "two" "three" ) .
ex:loop ex:p _:a . _:a ex:p _:b . _:b ex:p _:a .
"""


def _put(writable_client, turtle: str) -> None:
    answer = writable_client.put("/graph-store?default", data=turtle.encode("utf-8"),
                                 headers={**AUTH, "Content-Type": "text/turtle"})
    assert answer.status_code in (201, 204), answer.get_data(as_text=True)


def test_a_description_carries_the_blank_nodes_it_reaches(writable_client):
    """A blank node has no IRI to be looked up by, so a resource's RDF carries the
    statements of the blank nodes its statements reach, transitively (its Concise Bounded
    Description): the page's Turtle is the stored data about the resource, whole."""
    _put(writable_client, NESTED)
    answer = writable_client.get("/id/thing.ttl")
    assert "Bjkg-Blank-Nodes" not in answer.headers  # every blank node is in it
    served = pyoxigraph.Store()
    served.load(answer.get_data(), pyoxigraph.RdfFormat.TURTLE)
    ask = ("ASK { ?t <%(id)saddress> [ <%(id)sgeo> [ <%(id)slat> 39.9 ] ] ; "
           "<%(id)ssteps> ( \"one\" \"two\" \"three\" ) }" % {"id": ID})
    assert served.query(ask)
    assert len(served) == 12  # its own 3; the address 2 and its geo 1; the list 3 × (first, rest)


def test_an_entity_page_shows_blank_nodes_inside_their_values(writable_client):
    _put(writable_client, NESTED)
    page = writable_client.get("/id/thing", headers=HTML).get_data(as_text=True)
    assert page.count('class="props blank"') == 2  # the address, and its geo inside it
    assert ">nested<" in page and ">39.9<" in page
    # an RDF list is drawn as the list, in order, not as cells nested ever deeper
    steps = page[page.index('class="rdf-list"'):]
    steps = steps[:steps.index("</ol>")]
    assert steps.index(">one<") < steps.index(">two<") < steps.index(">three<")
    data = writable_client.get("/id/thing.json").get_json()
    assert data["blank_nodes_complete"] is True and len(data["blank_nodes"]) == 5
    assert [[item["value"] for item in items] for items in data["blank_lists"].values()] == [["one", "two", "three"]]
    # a cycle of blank nodes ends: every blank node is read once, and drawn a few levels deep
    loop = writable_client.get("/id/loop", headers=HTML)
    assert loop.status_code == 200 and 0 < loop.get_data(as_text=True).count('class="props blank"') <= 6
    assert len(writable_client.get("/id/loop.json").get_json()["blank_nodes"]) == 2


def test_more_blank_nodes_than_a_page_reads_is_said_not_cut_silently(writable_client, monkeypatch):
    from bjkg.server.pages import describe

    monkeypatch.setattr(describe, "BLANK_NODE_LIMIT", 2)
    _put(writable_client, NESTED)
    data = writable_client.get("/id/thing.json").get_json()
    assert data["blank_nodes_complete"] is False and len(data["blank_nodes"]) == 2
    page = writable_client.get("/id/thing", headers=HTML).get_data(as_text=True)
    assert 'id="blank-nodes-cut"' in page
    assert 'id="blank-nodes-cut"' not in writable_client.get("/id/loop", headers=HTML).get_data(as_text=True)
    # the RDF cannot say it; its response does (and lets a browser's script read it)
    rdf = writable_client.get("/id/thing.ttl", headers={"Origin": "https://example.org"})
    assert "not all expanded" in rdf.headers["Bjkg-Blank-Nodes"]
    assert "Bjkg-Blank-Nodes" in rdf.headers["Access-Control-Expose-Headers"]
    assert "Bjkg-Blank-Nodes" not in writable_client.get("/id/loop.ttl").headers


def test_over_a_remote_store_blank_nodes_are_said_unexpanded():
    """A remote SPARQL store gives a blank node no name a later query can use: its page
    says the blank nodes are not expanded (and answers 200, not an error)."""
    import urllib.request

    from bjkg.server.app import create_app
    from tests.server.conftest import close_app, start_server, stop_server

    server = start_server(["--empty", "--update-token", TOKEN])
    try:
        put = urllib.request.Request(f"{server.url}/graph-store?default", data=NESTED.encode("utf-8"), method="PUT",
                                     headers={**AUTH, "Content-Type": "text/turtle"})
        assert urllib.request.urlopen(put, timeout=30).status in (201, 204)
        # no build folder: the store's own dataset (a _build beside the tests, as CI makes,
        # would otherwise name the published graphs, which this store does not hold)
        app = create_app({"SPARQL_ENDPOINT": server.sparql, "BUILD_DIR": "", "TESTING": True})
        try:
            client = app.test_client()
            answer = client.get("/id/thing.json")
            assert answer.status_code == 200, answer.get_data(as_text=True)
            data = answer.get_json()
            assert data["blank_nodes_complete"] is False and data["blank_nodes"] == {}
            page = client.get("/id/thing", headers=HTML)
            assert page.status_code == 200 and 'id="blank-nodes-cut"' in page.get_data(as_text=True)
            rdf = client.get("/id/thing.ttl")
            assert rdf.status_code == 200 and "Bjkg-Blank-Nodes" in rdf.headers
        finally:
            close_app(app)
    finally:
        stop_server(server)


def test_a_long_rdf_list_is_drawn_whole_and_a_malformed_one_as_its_cells(writable_client):
    items = " ".join(f'"item {i}"' for i in range(60))
    _put(writable_client, f"""<{ID}long> <{ID}steps> ( {items} ) .
<{ID}odd> <{ID}steps> _:c . _:c <http://www.w3.org/1999/02/22-rdf-syntax-ns#first> "x" ;
  <http://www.w3.org/1999/02/22-rdf-syntax-ns#rest> <http://www.w3.org/1999/02/22-rdf-syntax-ns#nil> ;
  <{ID}note> "a cell with more to say" .""")
    page = writable_client.get("/id/long", headers=HTML).get_data(as_text=True)
    drawn = page[page.index('class="rdf-list"'):]
    drawn = drawn[:drawn.index("</ol>")]
    assert drawn.count("<li>") == 60 and ">item 59<" in drawn
    odd = writable_client.get("/id/odd", headers=HTML).get_data(as_text=True)
    assert 'class="rdf-list"' not in odd and 'class="props blank"' in odd and "a cell with more to say" in odd


def test_a_literal_shows_its_datatype_even_one_without_a_prefix(writable_client):
    _put(writable_client, f'<{ID}v> <{ID}p> "x"^^<http://example.org/dt>, "1"^^<http://www.w3.org/2001/XMLSchema#integer> .')
    page = writable_client.get("/id/v", headers=HTML).get_data(as_text=True)
    assert '<span class="tag" title="http://example.org/dt">http://example.org/dt</span>' in page
    assert '<span class="tag" title="http://www.w3.org/2001/XMLSchema#integer">xsd:integer</span>' in page


def test_an_rdf_list_item_is_drawn_as_any_value_blank_nodes_included(writable_client):
    _put(writable_client, f'<{ID}t> <{ID}p> ( "a" [ <{ID}q> "inside" ] <{ID}t> ) .')
    page = writable_client.get("/id/t", headers=HTML).get_data(as_text=True)
    drawn = page[page.index('class="rdf-list"'):]
    drawn = drawn[:drawn.index("</ol>")]
    assert drawn.count('class="props blank"') == 1 and ">inside<" in drawn and 'href="/id/t"' in drawn


@pytest.mark.parametrize("path, query", [("/resource", {"iri": "http://www.wikidata.org/entity/Q956"}),
                                         ("/id/place/tongzhou", {})])
def test_format_buttons_are_named_by_their_format_not_cut_from_the_href(client, path, query):
    """Audit: the buttons were labelled by cutting the href at its last dot, so on a
    /resource?iri=… page every one read `org%2Fentity%2FQ956` (and overflowed a phone's
    width). Each alternate carries its format's name, and the button shows it."""
    import re

    html = client.get(path, query_string=query, headers={"Accept": "text/html"}).get_data(as_text=True)
    actions = html.split('<p class="actions">', 1)[1].split("</p>", 1)[0]
    names = re.findall(r'<a class="button" href="[^"]*" type="[^"]*">([^<]*)</a>', actions)
    data = client.get(path, query_string={**query, "format": "json"}).get_json()
    assert names == [alt["name"] for alt in data["alternates"]] == ["ttl", "jsonld", "nt", "rdf", "json"]
