"""Pages for people (issue #16), over the tiny build and each store backend: the home
page's figures, language negotiation, one row per meaning, the dataset description as
HTML, the favicon, search context, and every UI string in three scripts."""
from __future__ import annotations

import re
from pathlib import Path

from pyoxigraph import Literal, NamedNode

from tests.server.html_app import client, html_app  # noqa: F401  (fixtures)

ID = "https://w3id.org/bjkg/id/"
HTML = {"Accept": "text/html"}
TEMPLATES = Path(__file__).resolve().parents[2] / "server" / "templates"


# ------------------------------------------------------------------ every UI string, three scripts

def test_every_ui_key_has_three_scripts_and_every_used_key_exists():
    from bjkg.server.pages import i18n

    for key in i18n.ui_keys():
        texts = i18n._UI[key]
        assert len(texts) == 3 and all(t.strip() for t in texts), f"{key} lacks a script: {texts}"
    used = set()
    for path in TEMPLATES.rglob("*.html"):
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_A-Z0-9]+)["']""", path.read_text(encoding="utf-8")))
    from bjkg.server.pages.describe import _COLUMNS
    from bjkg.server.pages.search_index import MATCH_NAMES
    used |= set(_COLUMNS) | {"place"}  # the observation table's headers are t(column)
    assert "match_" in used  # t("match_" ~ kind): every kind of match has its words
    used = {k for k in used if not k.endswith("_")} | {"match_" + m for m in MATCH_NAMES.values()}
    missing = sorted(k for k in used if not i18n.has(k))
    assert missing == [], f"templates use UI strings with no translation: {missing}"


def test_an_untranslated_key_is_caught():
    from bjkg.server.pages import i18n

    assert not i18n.has("surely_not_a_key")
    assert i18n.text("surely_not_a_key", "en") == "surely_not_a_key"  # what the test above rejects


# ------------------------------------------------------------------ language

def test_accept_language_chooses_the_first_language(client):
    en = client.get("/id/place/tongzhou", headers={**HTML, "Accept-Language": "en-GB,en;q=0.8"})
    assert '<html lang="en">' in en.get_data(as_text=True)
    assert "<h1 id=\"label\">Tongzhou District</h1>" in en.get_data(as_text=True)
    assert "Accept-Language" in en.headers["Vary"]
    tw = client.get("/id/place/tongzhou", headers={**HTML, "Accept-Language": "zh-TW,en;q=0.5"})
    assert "<h1 id=\"label\">通州區</h1>" in tw.get_data(as_text=True)
    # a language we have no words for falls through to the next acceptable one
    fr = client.get("/id/place/tongzhou.json", headers={"Accept-Language": "fr, en;q=0.3"})
    assert fr.get_json()["lang"] == "en" and "Accept-Language" in fr.headers["Vary"]
    # ?lang= beats the header; a remembered cookie beats the header too
    assert client.get("/id/place/tongzhou.json?lang=zh-Hans",
                      headers={"Accept-Language": "en"}).get_json()["lang"] == "zh-Hans"
    client.set_cookie("bjkg_lang", "zh-Hant")
    assert client.get("/id/place/tongzhou.json", headers={"Accept-Language": "en"}).get_json()["lang"] == "zh-Hant"


def test_lang_parameter_applies_to_links_and_sets_no_cookie(client):
    r = client.get("/?lang=en", headers=HTML)
    page = r.get_data(as_text=True)
    assert "Set-Cookie" not in r.headers
    local = re.findall(r'<a (?![^>]*hreflang)[^>]*href="(/(?!/)[^"]*)"', page)  # not the switcher
    pages = [h for h in local if not h.startswith(("/static/", "/dumps/", "/favicon"))]
    assert len(pages) > 10 and all("lang=en" in h for h in pages), [h for h in pages if "lang=en" not in h][:5]
    assert '<input type="hidden" name="lang" value="en">' in page  # the search form keeps it too
    remember = client.get("/?lang=en&remember=1", headers=HTML)
    assert "bjkg_lang=en" in remember.headers["Set-Cookie"]
    forget = client.get("/?remember=0", headers=HTML)
    assert "bjkg_lang=;" in forget.headers["Set-Cookie"]


# ------------------------------------------------------------------ home page

def test_home_leads_with_targets_beside_results_before_the_class_table(client):
    data = client.get("/index.json?lang=en").get_json()
    figures = data["figures"]
    assert figures["year"] == "2024" and figures["previous"] == "2023"
    gdp = next(r for r in figures["rows"] if r["indicator"]["iri"] == ID + "indicator/gdp-growth-rate")
    assert gdp["target"]["value"] == "5" and gdp["actual"]["value"] == "5.2"
    assert gdp["target"]["href"] == "/id/observation/2024-gdp-growth-target"
    page = client.get("/", headers={**HTML, "Accept-Language": "en"}).get_data(as_text=True)
    assert page.index('id="figures"') < page.index('table class="classes"')
    assert page.index(gdp["indicator"]["label"]) < page.index('table class="classes"')
    assert "2023-gdp-growth-target" not in page  # a 2023 target is not a 2024 one


def test_graph_names_are_distinct_and_counts_grouped(client):
    data = client.get("/index.json").get_json()
    names = [g["name"] for g in data["graphs"]]
    assert len(names) == len(set(names))
    page = client.get("/", headers=HTML).get_data(as_text=True)
    assert f"{data['triples']:,}" in page


# ------------------------------------------------------------------ one row per meaning

def test_aligned_properties_with_equal_values_are_shown_once():
    from bjkg.server.pages.equivalence import Alignments, merge_inbound, merge_properties

    sub = "http://www.w3.org/2000/01/rdf-schema#subPropertyOf"
    inv = "http://www.w3.org/2002/07/owl#inverseOf"
    within, sf = "https://w3id.org/bjkg/ontology#within", "http://www.opengis.net/ont/geosparql#sfWithin"
    contains = "https://w3id.org/bjkg/ontology#contains"
    alignments = Alignments([(within, sub, sf), (within, inv, contains)])

    def prop(p, *iris, inferred=False):
        return {"predicate": {"iri": p, "label": p},
                "values": [{"type": "iri", "iri": i, "inferred": inferred} for i in iris]}

    shown, alternatives = merge_properties(
        [prop(sf, "a", "b", inferred=True), prop(within, "a", "b")], alignments)
    assert [p["predicate"]["iri"] for p in shown] == [within]
    assert alternatives[0]["predicate"]["iri"] == sf and alternatives[0]["same_as"]["iri"] == within
    # overlapping but different values: both stay
    shown, alternatives = merge_properties([prop(sf, "a", "b"), prop(within, "a")], alignments)
    assert len(shown) == 2 and not alternatives
    # x within this == this contains x
    group = {"predicate": {"iri": within}, "total": 2, "items": [{"iri": "a"}, {"iri": "b"}]}
    shown_in, alt_in = merge_inbound([group], [prop(contains, "a", "b")], alignments)
    assert shown_in == [] and alt_in[0]["same_as"]["iri"] == contains
    shown_in, _ = merge_inbound([group], [prop(contains, "a", "c")], alignments)
    assert shown_in == [group]


def test_no_property_table_repeats_a_row_label(client):
    for path in ("/id/place/tongzhou", "/id/indicator/gdp-growth-rate", "/id/initiative/zgc-24-reforms"):
        page = client.get(path, headers=HTML).get_data(as_text=True)
        main = page.split('<details class="alternatives"')[0]
        rows = re.findall(r'<th scope="row"><a [^>]*>([^<]*)</a></th>', main)
        assert rows and len(rows) == len(set(rows)), (path, rows)


def test_observation_table_does_not_repeat_the_page(client):
    data = client.get("/id/indicator/gdp-growth-rate.json").get_json()
    assert data["observations"] and "indicator" not in data["observation_columns"]
    page = client.get("/id/indicator/gdp-growth-rate", headers=HTML).get_data(as_text=True)
    assert 'class="col-indicator"' not in page


def test_observation_columns_drop_only_the_focus():
    from bjkg.server.pages.describe import observation_columns

    focus = ID + "place/tongzhou"
    rows = [{"indicator": {"iri": "i1"}, "place": {"iri": focus}},
            {"indicator": {"iri": "i2"}, "place": {"iri": ID + "place/sub-centre"}}]
    assert "place" in observation_columns(rows, focus)
    assert "place" not in observation_columns(rows[:1], focus)
    assert "indicator" not in observation_columns([{"indicator": {"iri": "i1"}}], "i1")


# ------------------------------------------------------------------ dataset description, favicon, robots.txt

def test_dataset_description_is_readable_html_and_rdf_by_negotiation(client):
    html = client.get("/.well-known/void", headers=HTML).get_data(as_text=True)
    assert "@prefix" not in html and 'table class="graphs"' in html and 'table class="distributions"' in html
    turtle = client.get("/.well-known/void", headers={"Accept": "text/turtle"})
    assert turtle.mimetype == "text/turtle" and b"void:Dataset" in turtle.data
    import pyoxigraph

    triples = list(pyoxigraph.parse(turtle.data, format=pyoxigraph.RdfFormat.TURTLE))
    licences = {t.object.value for t in triples if t.predicate.value == "http://purl.org/dc/terms/license"}
    assert licences and any(licence in html for licence in licences)  # the page shows what the RDF says
    graphs = {t.object.value for t in triples
              if t.predicate.value == "http://www.w3.org/ns/sparql-service-description#name"}
    assert graphs and all(f'title="{g}"' in html for g in graphs)


def test_favicon(client):
    r = client.get("/favicon.ico")
    assert r.status_code == 200 and r.mimetype.startswith("image/") and r.data[:4] == b"\x00\x00\x01\x00"


def test_robots_txt_keeps_crawlers_out_of_the_endless_spaces_only(client):
    """Crawlers may read the pages and the dumps; every query text, search word and IRI
    would be a URL of /sparql, /search and /resource without end."""
    from urllib.robotparser import RobotFileParser

    r = client.get("/robots.txt")
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/plain; charset=utf-8"
    robots = RobotFileParser()
    robots.parse(r.get_data(as_text=True).splitlines())
    base = "http://example.org"
    for path in ("/", "/id/place/tongzhou", "/catalog", "/dumps/bjkg.nq", "/ontology", "/graph/inferred"):
        assert robots.can_fetch("AnyBot", base + path), path
    for path in ("/sparql?query=ASK%7B%7D", "/search?q=%E9%80%9A", "/resource?iri=urn%3Ax"):
        assert not robots.can_fetch("AnyBot", base + path), path


# ------------------------------------------------------------------ search context, 繁體 conversion

def test_search_results_carry_kind_code_and_parents(client):
    data = client.get("/search.json?q=Tongzhou&lang=en").get_json()
    first = data["results"][0]
    assert first["iri"] == ID + "place/tongzhou"
    assert set(first) >= {"codes", "parents", "kind_label"}
    for result in data["results"]:
        assert result["kind_label"]


def test_simplified_only_labels_read_in_traditional():
    from bjkg.server.pages.labels import best_for

    assert best_for([("通州区", "zh-Hans")], "zh-Hant") == "通州區"
    assert best_for([("通州区", "zh")], "zh-Hant") == "通州區"
    assert best_for([("通州区", "zh-Hans"), ("通州區", "zh-Hant")], "zh-Hant") == "通州區"
    assert best_for([("通州区", "zh-Hans")], "zh-Hans") == "通州区"
    assert best_for([("Tongzhou", "en")], "zh-Hant") == "Tongzhou"


def test_reading_view_orders_quotes_by_offset_and_never_shows_hashes():
    from bjkg.server.pages.describe import Linker
    from bjkg.server.pages.overview import read_document

    doc = ID + "document/d"
    rows = [
        {"x": NamedNode(ID + "assertion/ffff"), "quote": Literal("second", language="zh-Hans"),
         "offset": Literal("40"), "s": NamedNode(ID + "a"), "p": NamedNode("https://w3id.org/bjkg/ontology#partOf"),
         "o": NamedNode(ID + "b")},
        {"x": NamedNode(ID + "observation/1"), "quote": Literal("first", language="zh-Hans"),
         "offset": Literal("3"), "value": Literal("5.2"), "indicator": NamedNode(ID + "indicator/gdp")},
    ]

    def select(store, text, max_rows=None, **bound):
        if "wasDerivedFrom" in text:  # the facts: node, quote, offset
            return [{k: row[k] for k in ("x", "quote", "offset")} for row in rows]
        if "?x ?p ?o" in text:  # what each fact node says, as quads
            rdf, bjkg = "http://www.w3.org/1999/02/22-rdf-syntax-ns#", "https://w3id.org/bjkg/ontology#"
            return [{"x": rows[0]["x"], "p": NamedNode(rdf + "subject"), "o": rows[0]["s"]},
                    {"x": rows[0]["x"], "p": NamedNode(rdf + "predicate"), "o": rows[0]["p"]},
                    {"x": rows[0]["x"], "p": NamedNode(rdf + "object"), "o": rows[0]["o"]},
                    {"x": rows[1]["x"], "p": NamedNode(rdf + "type"),
                     "o": NamedNode("http://purl.org/linked-data/cube#Observation")},
                    {"x": rows[1]["x"], "p": NamedNode("http://purl.org/linked-data/sdmx/2009/measure#obsValue"),
                     "o": rows[1]["value"]},
                    {"x": rows[1]["x"], "p": NamedNode(bjkg + "indicator"), "o": rows[1]["indicator"]}]
        return []

    found = read_document(select, None, Linker("https://w3id.org/bjkg/", "en"), doc, "en", 1)
    assert [q["quote"] for q in found["quotes"]] == ["first", "second"]
    relation = found["quotes"][1]["facts"][0]
    assert relation["kind"] == "relation" and relation["subject"]["iri"] == ID + "a"
    observation = found["quotes"][0]["facts"][0]
    assert observation["kind"] == "observation" and observation["value"] == "5.2"
    assert found["ordered_by"] == "text"

