"""Pages for people (issue #16) in a real browser, over a real build of this checkout: a
journalist's desktop (1280×900) and phone (390×844) in headless Chromium.

Each test asserts content against what the graph says (asked through /sparql, not through
the page code), records every request the browser makes (route interception) and fails if
one goes to another host, and writes a screenshot to tests/browser/screenshots/ (not
committed) so a person can look. Skipped without /usr/bin/chromium unless
BJKG_REQUIRE_BROWSER=1; skipped without the source corpus (the real build needs it).
`BJKG_TEST_BUILD=DIR` serves an existing build instead of building one.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import require_chromium, served

ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(__file__).resolve().parent / "screenshots"
ID = "https://w3id.org/bjkg/id/"
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}

require_chromium()


@pytest.fixture(scope="module")
def people_build(tmp_path_factory):
    """A real build (or BJKG_TEST_BUILD)."""
    given = os.environ.get("BJKG_TEST_BUILD")
    if given:
        return Path(given)
    from bjkg.graph.build import build_dataset
    from tests.conftest import corpus

    sources = corpus()  # skips naming the reason, or fails with BJKG_REQUIRE_CORPUS=1
    out = tmp_path_factory.mktemp("people") / "build"
    build_dataset(ROOT, out, sources)
    return out


@pytest.fixture(scope="module")
def server(people_build):
    with served(people_build) as url:
        yield url


@pytest.fixture(params=sorted(VIEWPORTS))
def viewport(request):
    return request.param


def open_page(browser, server, viewport: str, locale: str = "zh-CN"):
    """A page in a fresh context that records every request's host (and refuses any other
    host than the server's, so nothing can leave even if a page tried)."""
    context = browser.new_context(viewport=VIEWPORTS[viewport], locale=locale,
                                  is_mobile=viewport == "phone", has_touch=viewport == "phone")
    page = context.new_page()
    page.hosts, page.errors, page.failed = [], [], []
    local = urlsplit(server).netloc

    def route(r):
        parts = urlsplit(r.request.url)
        page.hosts.append(parts.netloc or parts.scheme)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.netloc != local:
            r.abort()
        else:
            r.continue_()

    context.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
    page.on("response", lambda r: r.status >= 400 and page.failed.append((r.status, r.url)))
    page.base, page.viewport_name = server, viewport
    return page


def shoot(page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}-{page.viewport_name}.png"), full_page=True)


def only_local(page) -> None:
    local = urlsplit(page.base).netloc
    assert page.hosts and set(page.hosts) <= {local, "data", "blob", "about"}, set(page.hosts)


def sparql(server: str, query: str) -> list[dict]:
    """Rows of a query asked of the server's endpoint (the graph's answer, not the page's)."""
    from urllib.parse import urlencode
    from urllib.request import Request, urlopen

    request = Request(server + "/sparql?" + urlencode({"query": query}),
                      headers={"Accept": "application/sparql-results+json"})
    with urlopen(request, timeout=30) as response:
        data = json.load(response)
    return [{k: v["value"] for k, v in row.items()} for row in data["results"]["bindings"]]


PREFIXES = """PREFIX bjkg: <https://w3id.org/bjkg/ontology#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX schema: <https://schema.org/>
PREFIX qb: <http://purl.org/linked-data/cube#>
PREFIX sdmx-dimension: <http://purl.org/linked-data/sdmx/2009/dimension#>
"""


# ------------------------------------------------------------------ home page

def test_home_names_every_target_before_any_class_table(browser, server, viewport):
    years = sparql(server, PREFIXES + """SELECT (MAX(SUBSTR(STR(?s), 1, 4)) AS ?y) WHERE {
        ?o bjkg:status bjkg:Target ; sdmx-dimension:refPeriod/schema:startDate ?s }""")
    year = years[0]["y"]
    targets = sparql(server, PREFIXES + f"""SELECT DISTINCT ?label WHERE {{
        ?o bjkg:status bjkg:Target ; bjkg:indicator ?i ; sdmx-dimension:refPeriod/schema:startDate ?s .
        FILTER(STRSTARTS(STR(?s), "{year}")) ?i rdfs:label ?label FILTER(lang(?label) = "en") }}""")
    assert targets
    page = open_page(browser, server, viewport, locale="en-GB")
    page.goto(server + "/")
    text = page.locator("main").inner_text()
    classes_at = text.index(page.locator("table.classes thead").inner_text().split("\t")[0].strip())
    for row in targets:
        assert row["label"] in text and text.index(row["label"]) < classes_at, row["label"]
    # the structure of the programme and the sources, as many as the graph has
    pillars = sparql(server, PREFIXES + "SELECT (COUNT(DISTINCT ?p) AS ?n) WHERE { ?p a bjkg:Pillar }")[0]["n"]
    assert page.locator("section.structure-Pillar li").count() == int(pillars)
    docs = sparql(server, PREFIXES + "SELECT (COUNT(DISTINCT ?d) AS ?n) WHERE { ?d a bjkg:SourceDocument }")[0]["n"]
    assert page.locator("#sources tbody tr").count() == int(docs)
    assert page.locator("#places a.chip").count() >= 3
    # each figure links to its observation, on this site
    first = page.locator("#figures td.figure a").first
    assert first.get_attribute("href").startswith("/id/observation/")
    first.click()
    page.wait_for_url("**/id/observation/**")
    assert page.locator("q").count() >= 1  # the verbatim quote
    shoot(page, "observation-from-home")
    page.goto(server + "/")
    shoot(page, "home")
    assert page.errors == [] and page.failed == [], (page.errors, page.failed)  # favicon found
    only_local(page)
    page.context.close()


# ------------------------------------------------------------------ place roll-up

def test_tongzhou_page_links_the_observations_of_its_places(browser, server, viewport):
    expected = {row["o"] for row in sparql(server, PREFIXES + """SELECT DISTINCT ?o WHERE {
        ?place bjkg:within* <https://w3id.org/bjkg/id/place/tongzhou> .
        ?o a qb:Observation ; sdmx-dimension:refArea|bjkg:aboutPlace ?place }""")}
    assert len(expected) >= 10
    page = open_page(browser, server, viewport)
    page.goto(server + "/id/place/tongzhou")
    hrefs = set(page.locator("table.obs td.num a").evaluate_all("els => els.map(e => e.getAttribute('href'))"))
    assert {ID + h[len("/id/"):] for h in hrefs} >= expected
    places = page.locator("table.obs td.col-place").all_inner_texts()
    assert "北京城市副中心" in places  # labelled with the place each figure is about
    page.goto(server + "/id/place/beijing")  # the most specific place, not the page's own
    assert "北京城市副中心" in page.locator("table.obs td.col-place").all_inner_texts()
    shoot(page, "tongzhou")
    only_local(page)
    page.context.close()


# ------------------------------------------------------------------ one row per meaning

@pytest.mark.parametrize("path", ["/id/place/tongzhou", "/id/document/npc-2024-opening-news",
                                  "/id/indicator/gdp-growth-rate", "/id/division/110112",
                                  "/id/initiative/wuzi-liandong"])
def test_no_table_repeats_a_row_label(browser, server, path):
    page = open_page(browser, server, "desktop")
    page.goto(server + path)
    title = page.locator("h1#label").inner_text()
    for table in page.locator("main table:not(details table)").all():
        rows = table.locator(":scope > tbody > tr > th[scope=row]").all_inner_texts()
        assert len(rows) == len(set(rows)), (path, rows)
    for table in page.locator("table.obs").all():
        heads = table.locator("thead th").all_inner_texts()
        for index in range(len(heads)):
            cells = table.locator(f"tbody tr td:nth-child({index + 1})").all_inner_texts()
            assert not cells or set(cells) != {title}, (path, heads[index])
    if path.startswith("/id/division/"):  # the joined facts neither link to the page itself
        assert page.locator(f"main a[href='{path}']").count() == 0  # nor show the geometry's CURIE
        assert "id:division/" not in page.locator("main").inner_text()
        assert "POINT(" in page.locator("table.props").inner_text()
    labels = page.locator("main a").evaluate_all("els => els.map(e => e.textContent || \"\")")
    assert not [t for t in labels if re.search(r"[0-9a-f]{12}", t)], "hash IRIs as link text"
    only_local(page)
    page.context.close()


# ------------------------------------------------------------------ document reading view

def test_document_page_shows_its_quotes_in_text_order(browser, server, viewport, people_build):
    from bjkg.graph.records.textnorm import fold

    manifest = json.loads((people_build / "build.json").read_text(encoding="utf-8"))
    source = next(s for s in manifest["sources"] if s["document"].endswith("/npc-2024-opening-news"))
    from tests.conftest import corpus

    text = fold((corpus() / source["file"]).read_text(encoding="utf-8"))
    page = open_page(browser, server, viewport)
    page.goto(server + "/id/document/npc-2024-opening-news")
    shoot(page, "document")
    positions, pages = [], 0
    while True:
        pages += 1
        quotes = page.locator("#reading blockquote").all_inner_texts()
        assert quotes
        for quote in quotes:
            position = text.find(fold(quote))
            assert position >= 0, quote
            positions.append(position)
        assert page.locator("#reading li.quote-item").first.locator("ul.facts li").count() >= 1
        following = page.locator("#reading .pager a[rel=next]")
        if not following.count():
            break
        following.click()
        page.wait_for_load_state()
    assert pages >= 2 and positions == sorted(positions)
    # figures with value and unit, relations with both ends, linked by name not hash
    assert page.locator("#reading .fact-observation, #reading .fact-relation").count() >= 1
    only_local(page)
    page.context.close()


# ------------------------------------------------------------------ language

def test_accept_language_and_lang_links(browser, server):
    page = open_page(browser, server, "desktop", locale="en-US")
    page.goto(server + "/id/place/tongzhou")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1#label").inner_text() == "Tongzhou District"
    page.context.close()
    page = open_page(browser, server, "desktop", locale="zh-TW")
    page.goto(server + "/id/place/tongzhou")
    assert page.locator("h1#label").inner_text() == "通州區"
    # external (Simplified-only) names read in Traditional too: the division table's title
    division = page.locator("#division").inner_text()
    assert "行政區劃" in division and "行政区划" not in division
    page.goto(server + "/id/division/110112?lang=zh-Hant")
    assert page.locator("h1#label").inner_text() == "通州區"
    # ?lang= carries to the links, and no cookie is set unless asked
    page.goto(server + "/?lang=en")
    page.locator("#places a.chip").first.click()
    page.wait_for_load_state()
    assert "lang=en" in page.url and page.locator("html").get_attribute("lang") == "en"
    assert page.context.cookies() == []
    page.locator("nav.langs a.remember").click()
    page.wait_for_load_state()
    assert [c["value"] for c in page.context.cookies() if c["name"] == "bjkg_lang"] == ["en"]
    page.goto(server + "/id/place/beijing")
    assert page.locator("html").get_attribute("lang") == "en"
    only_local(page)
    page.context.close()


# ------------------------------------------------------------------ SPARQL results

def test_sparql_results_link_to_local_pages_only(browser, server, viewport):
    page = open_page(browser, server, viewport, locale="en-US")
    page.goto(server + "/sparql")
    page.wait_for_selector("#yasgui .yasqe .CodeMirror")
    page.click("[data-example=gdp-2023-actual-vs-2024-target]")
    page.locator("#yasgui .yasr table tbody tr").first.wait_for(timeout=15_000)
    links = page.locator("#yasgui .yasr table a")
    hrefs = links.evaluate_all("els => els.map(e => [e.getAttribute('href'), e.getAttribute('target')])")
    assert hrefs and all(h.startswith("/") and t is None for h, t in hrefs), hrefs
    assert page.locator("#yasgui .yasr .iri-search").count() >= 1  # xsd:decimal: text + search
    if viewport == "phone":  # run/share must not cover the query's first line
        # Both are laid out again while the results render; wait until each is shown.
        buttons_at = page.locator(".yasqe .yasqe_buttons")
        line_at = page.locator(".yasqe .CodeMirror-line").first
        for _ in range(50):
            buttons_at.wait_for(state="visible")
            line_at.wait_for(state="visible")
            buttons, first_line = buttons_at.bounding_box(), line_at.bounding_box()
            if buttons and first_line:
                break
            page.wait_for_timeout(100)
        assert buttons and first_line, (buttons, first_line)
        assert first_line["y"] >= buttons["y"] + buttons["height"] - 1 or \
            first_line["x"] + first_line["width"] <= buttons["x"]
    shoot(page, "sparql")
    page.locator("#yasgui .yasr table a[href^='/id/']").first.click()
    page.wait_for_url("**/id/**")
    assert urlsplit(page.url).netloc == urlsplit(server).netloc
    only_local(page)
    page.context.close()


# ------------------------------------------------------------------ search, dataset description

def test_search_tells_same_named_divisions_apart(browser, server, viewport):
    page = open_page(browser, server, viewport)
    page.goto(server + "/search?q=通州区")
    items = page.locator("#results li")
    same = [items.nth(i).inner_text() for i in range(items.count())
            if items.nth(i).locator("a.result").inner_text() == "通州区"]
    assert len(same) >= 2 and len(set(same)) == len(same), same
    assert any("110112" in s for s in same) and any("320612" in s for s in same)
    kinds = page.locator("#results .kind").all_inner_texts()
    assert not [k for k in kinds if re.fullmatch(r"[a-z]+", k)], kinds  # no untranslated kind
    shoot(page, "search")
    only_local(page)
    page.context.close()


def test_dataset_description_reads_as_tables(browser, server, viewport):
    page = open_page(browser, server, viewport)
    page.goto(server + "/.well-known/void")
    assert page.locator("table.graphs tbody tr").count() >= 5
    assert page.locator("table.distributions tbody tr").count() >= 3
    assert page.locator("pre").count() == 0
    names = page.locator("table.graphs tbody tr td:first-child").all_inner_texts()
    assert len(names) == len(set(names))
    shoot(page, "void")
    only_local(page)
    page.context.close()
