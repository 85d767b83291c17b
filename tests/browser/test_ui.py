"""Browser tests: a real Chromium against a live server on 127.0.0.1.

They open the home page, search, open an entity page, switch language, and run an example
query in the editor and see rows — recording every request the page makes and failing if
one leaves the machine. Skipped when /usr/bin/chromium is missing, unless
BJKG_REQUIRE_BROWSER=1 (then missing Chromium is a failure).
"""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import require_chromium

require_chromium()


@pytest.fixture()
def page(browser, live_server):
    """A fresh page that records every request it makes."""
    context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="zh-CN")
    pg = context.new_page()
    pg.requests = []
    pg.on("request", lambda request: pg.requests.append(request.url))
    pg.base = live_server
    yield pg
    context.close()


def _outside(urls, base):
    """Requests that would leave the machine (anything but this server, data: and blob:)."""
    host = urlsplit(base).hostname
    return [u for u in urls if urlsplit(u).scheme in ("http", "https", "ws", "wss")
            and urlsplit(u).hostname not in (host, "localhost")]


def test_home_search_entity_and_language(page):
    page.goto(page.base + "/")
    assert page.locator("h1").first.inner_text()
    assert page.locator("#examples li").count() >= 8

    page.fill("form.search input[name=q]", "Tongzhou")
    page.press("form.search input[name=q]", "Enter")
    page.wait_for_url("**/search?q=Tongzhou")
    first = page.locator("#results a.result").first
    assert first.get_attribute("href") == "/id/place/tongzhou"

    first.click()
    page.wait_for_url("**/id/place/tongzhou")
    assert page.locator("h1#label").inner_text() == "通州区"
    assert page.locator("table.props").count() == 1

    page.click("nav.langs a[data-lang=en]")
    page.wait_for_url("**lang=en")
    assert page.locator("h1#label").inner_text() == "Tongzhou District"
    page.click("nav.langs a[data-lang=zh-Hant]")
    assert page.locator("h1#label").inner_text() == "通州區"
    # ?lang= alone is not remembered: a new page follows the browser (zh-CN)
    page.goto(page.base + "/id/place/beijing")
    assert page.locator("html").get_attribute("lang") == "zh-Hans"
    # remembered when the reader asks: a new page without ?lang= keeps Traditional
    page.goto(page.base + "/id/place/tongzhou?lang=zh-Hant")
    page.click("nav.langs a.remember")
    page.wait_for_load_state()
    page.goto(page.base + "/id/place/beijing")
    assert page.locator("html").get_attribute("lang") == "zh-Hant"
    assert _outside(page.requests, page.base) == []


def test_xss_label_shows_as_text(page):
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(page.base + "/id/place/xss")
    assert page.locator("h1#label").inner_text() == "<script>alert(1)</script>"
    page.wait_for_timeout(200)
    assert dialogs == []


def test_indicator_chart_renders(page):
    page.goto(page.base + "/id/indicator/gdp-growth-rate")
    assert page.locator("figure.chart svg g.bar").count() == 3
    assert page.locator("figure.chart svg g.bar-Target").count() == 2


def test_editor_runs_an_example_and_shows_rows(page):
    page.goto(page.base + "/sparql")
    page.wait_for_selector("#yasgui .yasqe .CodeMirror")
    page.click("[data-example=gdp-2023-actual-vs-2024-target]")
    rows = page.locator("#yasgui .yasr table tbody tr")
    rows.first.wait_for(timeout=15_000)
    assert rows.count() == 2
    text = page.locator("#yasgui .yasr table").inner_text()
    assert "Actual" in text and "Target" in text
    assert _outside(page.requests, page.base) == []


def test_prefilled_query_link_from_an_entity_page(page):
    page.goto(page.base + "/id/place/tongzhou")
    page.click("#open-query")
    page.wait_for_selector("#yasgui .yasqe .CodeMirror")
    value = page.evaluate("window.bjkgYasgui.getTab().getQuery()")
    assert "https://w3id.org/bjkg/id/place/tongzhou" in value
    assert _outside(page.requests, page.base) == []
