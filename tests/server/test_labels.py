"""The label a page shows for a linked IRI (bjkg.server.pages.labels.best) is the one `pick` chooses
from all of its labels grouped by language, in every language and fallback case."""
from __future__ import annotations

import itertools

import pytest

from bjkg.server.pages.labels import LANGS, best, group_labels, pick

PAIRS = [("通州区", "zh-hans"), ("通州", "zh-Hans"), ("通州區", "zh-hant"), ("Tongzhou", "en"),
         ("Tongzhou District", "en-GB"), ("Tōngzhōu Qū", "zh-latn-pinyin"), ("tz", ""),
         ("tz", None), ("Tongzhou", "de"), ("通州", "zh"), ("通州區", "zh-TW"), ("つうしゅう", "ja")]


@pytest.mark.parametrize("lang", LANGS)
def test_best_is_pick_of_the_grouped_labels(lang):
    for size in range(4):
        for pairs in itertools.combinations(PAIRS, size):
            found = pick(group_labels(pairs), lang)
            assert best(pairs, lang) == (found[0] if found else None), (pairs, lang)


def test_the_language_helpers_are_installed_once(app):
    """The template helpers are one context processor for the app: each page computes them once."""
    from bjkg.server.views.common import template_globals

    processors = [f for fs in app.template_context_processors.values() for f in fs]
    assert processors.count(template_globals) == 1


HTML = {"Accept": "text/html"}


@pytest.mark.parametrize("header, expected", [
    ("zh-TW;q=0, fr", None),               # refused, and French is not offered
    ("en;q=0", None),
    ("zh-TW;q=0, en;q=0.5", "en"),
    ("zh-Hant;q=0.0, zh-CN;q=0.3", "zh-Hans"),
    ("fr, zh-HK;q=0.5", "zh-Hant"),
    ("EN-gb", "en"),
])
def test_accept_language_q0_is_not_acceptable(header, expected):
    """RFC 9110 §12.4.2: a range with q=0 is "not acceptable", never the reader's choice."""
    from werkzeug.datastructures import LanguageAccept
    from werkzeug.http import parse_accept_header

    from bjkg.server.pages.labels import lang_from_accept

    assert lang_from_accept(parse_accept_header(header, LanguageAccept)) == expected


def test_a_page_refused_in_a_language_is_not_shown_in_it(client):
    for header in ("zh-TW;q=0, fr", "en;q=0"):
        r = client.get("/id/place/tongzhou", headers={**HTML, "Accept-Language": header})
        assert '<html lang="zh-Hans">' in r.get_data(as_text=True), header


@pytest.mark.parametrize("given, expected", [
    ("zh-hant", "zh-Hant"), ("ZH-HANT", "zh-Hant"), ("EN", "en"), ("en-GB", "en"), ("en-gb", "en"),
    ("zh-Hant-TW", "zh-Hant"), ("zh-TW", "zh-Hant"), ("zh-CN", "zh-Hans"), ("zh", "zh-Hans"),
    (" zh-Hans ", "zh-Hans"), ("fr", None), ("", None), ("zha", None),
])
def test_supported_lang_reads_tags_case_insensitively_with_extra_subtags(given, expected):
    from bjkg.server.pages.labels import supported_lang

    assert supported_lang(given) == expected


@pytest.mark.parametrize("given, expected", [("zh-hant", "zh-Hant"), ("en-GB", "en"), ("zh-TW", "zh-Hant")])
def test_lang_parameter_is_normalised_and_carried_on_links(client, given, expected):
    """`?lang=` is a BCP 47 tag: any case, and extra subtags read as Accept-Language's do;
    the page's links then carry the canonical tag."""
    r = client.get("/id/place/tongzhou", query_string={"lang": given}, headers=HTML)
    page = r.get_data(as_text=True)
    assert f'<html lang="{expected}">' in page
    assert f'href="/id/place/beijing?lang={expected}"' in page
    assert f'<input type="hidden" name="lang" value="{expected}">' in page
    assert "Set-Cookie" not in r.headers
    r = client.get("/id/place/tongzhou", query_string={"lang": given, "remember": "1"}, headers=HTML)
    assert f"bjkg_lang={expected};" in r.headers["Set-Cookie"]


FALLBACK = """
@prefix ex: <https://w3id.org/bjkg/id/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
ex:county rdfs:label "监利县"@zh-Hans ; ex:within ex:city .
ex:city rdfs:label "荆州市"@zh-Hans, "Jingzhou"@en .
ex:town rdfs:label "<b>镇</b>"@zh-hans ; ex:near ex:county , ex:spelt .
ex:spelt rdfs:label "Jiānlì"@zh-Latn-pinyin .
"""


def test_a_label_in_a_fallback_language_is_marked_with_its_language(writable_client):
    """WCAG 2.1 SC 3.1.2: a label shown in another language than the page's (the graph has
    no English one) is wrapped in an element with its `lang`, escaped as before; a label in
    the page's language is not, and <title> holds text only."""
    from tests.server.conftest import TOKEN

    put = writable_client.put("/graph-store?default", data=FALLBACK.encode("utf-8"),
                              headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/turtle"})
    assert put.status_code in (201, 204), put.get_data(as_text=True)

    def page(path):
        return writable_client.get(path, headers=HTML).get_data(as_text=True)

    county = page("/id/county?lang=en")
    assert '<html lang="en">' in county
    assert '<h1 id="label"><span lang="zh-Hans">监利县</span></h1>' in county
    assert "<title>监利县 · bjkg</title>" in county
    assert '>Jingzhou</a>' in county                       # a link label in English: as it is
    town = page("/id/town?lang=en")
    assert '<h1 id="label"><span lang="zh-Hans">&lt;b&gt;镇&lt;/b&gt;</span></h1>' in town
    assert '<span lang="zh-Hans">监利县</span></a>' in town  # a link label in Chinese
    assert '<span lang="zh-Latn-pinyin">Jiānlì</span></a>' in town
    assert '<h1 id="label">监利县</h1>' in page("/id/county")                # the page's own language
    assert '<h1 id="label">監利縣</h1>' in page("/id/county?lang=zh-Hant")  # converted to the page's script
    assert '<span lang="zh-Latn-pinyin">Jiānlì</span></a>' in page("/id/town")
    results = page("/search?q=%E7%9B%91%E5%88%A9&lang=en")  # 监利
    assert 'title="https://w3id.org/bjkg/id/county"><span lang="zh-Hans">监利县</span></a>' in results
    # the JSON twin is unchanged: the label is its text
    assert writable_client.get("/id/county.json?lang=en").get_json()["label"] == "监利县"
