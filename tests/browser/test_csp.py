"""The Content-Security-Policy in a real Chromium: every page works under it, nothing breaks it.

Each page is opened with a listener for ``securitypolicyviolation`` events (installed before
any page script) and the console recorded; the editor runs a typed query and an example and
shows their rows, the entity page draws its map, the indicator page its SVG chart — all
with zero violations and no CSP message in the console. A page that tried an inline script
or eval would report one here. Skipped without /usr/bin/chromium unless
BJKG_REQUIRE_BROWSER=1 (then a failure).
"""
from __future__ import annotations

import pytest

from tests.browser.conftest import require_chromium

require_chromium()

_WATCH = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI + " " + (e.sample || ""));
});
"""


@pytest.fixture()
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.add_init_script(_WATCH)
    pg = context.new_page()
    pg.console = []
    pg.on("console", lambda message: pg.console.append(f"{message.type}: {message.text}"))
    pg.base = live_server
    yield pg
    context.close()


def _no_violations(page) -> None:
    violations = page.evaluate("window.__cspViolations")
    csp_console = [m for m in page.console if "Content Security Policy" in m or "Content-Security-Policy" in m]
    assert violations == [] and csp_console == [], (violations, csp_console)


def test_every_page_carries_the_policy(page):
    answer = page.goto(page.base + "/sparql")
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in policy
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_the_editor_runs_a_typed_query_under_the_policy(page):
    from playwright.sync_api import expect

    page.goto(page.base + "/sparql")
    page.wait_for_selector("#yasgui .yasqe .CodeMirror")
    page.evaluate("() => window.bjkgYasgui.getTab().setQuery("
                  "'SELECT ?label WHERE { <https://w3id.org/bjkg/id/place/tongzhou> "
                  "<http://www.w3.org/2000/01/rdf-schema#label> ?label }') && undefined")
    page.evaluate("() => { window.bjkgYasgui.getTab().query(); }")
    rows = page.locator("#yasgui .yasr table tbody tr")
    rows.first.wait_for(timeout=15_000)
    assert rows.count() >= 2
    assert "通州区" in page.locator("#yasgui .yasr table").inner_text()
    page.click("[data-example=gdp-2023-actual-vs-2024-target]")
    # a locator, not wait_for_function("…"): Playwright evaluates a string condition with
    # eval, which this very policy blocks when the condition is not true at the first look
    expect(page.locator("#yasgui .yasr table")).to_contain_text("Target", timeout=15_000)
    _no_violations(page)


def test_pages_maps_and_charts_work_under_the_policy(page):
    for path in ("/", "/search?q=Tongzhou", "/id/place/tongzhou", "/id/indicator/gdp-growth-rate",
                 "/ontology", "/.well-known/void", "/-/settings", "/nope"):
        page.goto(page.base + path)
        page.wait_for_load_state("load")
        _no_violations(page)
    page.goto(page.base + "/id/indicator/gdp-growth-rate")
    assert page.locator("figure.chart svg g.bar").count() == 3


def test_an_injected_inline_script_would_be_blocked(page):
    """The positive control: the policy does block inline script on these pages."""
    page.goto(page.base + "/")
    page.evaluate("""() => { const s = document.createElement('script');
                             s.textContent = 'window.__ran = true'; document.body.appendChild(s); }""")
    page.wait_for_timeout(100)
    assert page.evaluate("window.__ran === undefined")
    assert page.evaluate("window.__cspViolations.length") >= 1


def test_a_query_url_opened_in_the_browser_shows_its_rows_and_opens_in_the_editor(page):
    """A browser's own Accept (its navigation) gets the answer as a page, under the policy;
    its editor link opens the query editor with the query filled in."""
    from urllib.parse import quote

    query = ("SELECT ?label WHERE { <https://w3id.org/bjkg/id/place/tongzhou> "
             "<http://www.w3.org/2000/01/rdf-schema#label> ?label }")
    answer = page.goto(page.base + "/sparql?query=" + quote(query, safe=""))
    assert answer.headers["content-type"].startswith("text/html")
    rows = page.locator("#results tbody tr")
    assert rows.count() >= 2 and "通州区" in page.locator("#results").inner_text()
    assert page.locator("#downloads a[type='application/sparql-results+json']").count() == 1
    _no_violations(page)
    page.click("a[href^='/sparql#query=']")
    page.wait_for_selector("#yasgui .yasqe .CodeMirror")
    assert "tongzhou" in page.evaluate("() => window.bjkgYasgui.getTab().getQuery()")
    _no_violations(page)
