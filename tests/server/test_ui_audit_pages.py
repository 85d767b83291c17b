"""What a browser audit of the HTML pages found, checked on the served HTML and headers:
the language cookie's responses are never cached, format labels name the format, page
titles hold no bidi controls, the editor and error pages keep `?lang=`, the editor works
without JavaScript and advertises its machine-readable twin, and every page has a skip link.
"""
from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, quote, urlsplit

import pytest

HTML = {"Accept": "text/html"}
FORMAT_NAMES = {"ttl", "jsonld", "nt", "rdf", "json", "trig", "nq"}


def _page(client, path: str) -> str:
    answer = client.get(path, headers=HTML)
    return answer.get_data(as_text=True)


def _local_links(html: str) -> list[str]:
    return [unescape(h) for h in re.findall(r'\shref="(/(?!/)[^"#]*)', html)
            if not h.startswith(("/static/", "/dumps/", "/favicon"))]


@pytest.mark.parametrize("path", ["/?lang=en&remember=1", "/id/place/tongzhou?lang=zh-Hant&remember=1",
                                  "/?remember=0"])
def test_a_response_that_sets_or_deletes_the_cookie_is_never_cached(client, path):
    """A cached answer to the second click on "remember" would never apply its Set-Cookie."""
    first = client.get(path, headers=HTML)
    assert first.status_code == 200
    assert "bjkg_lang=" in first.headers["Set-Cookie"]
    assert first.headers["Cache-Control"] == "no-store"
    assert "ETag" not in first.headers
    again = client.get(path, headers={**HTML, "If-None-Match": '*, W/"x"'})
    assert again.status_code == 200 and "bjkg_lang=" in again.headers["Set-Cookie"]


def test_a_page_without_a_cookie_keeps_its_validator(client):
    answer = client.get("/?lang=en", headers=HTML)
    assert "Set-Cookie" not in answer.headers
    assert answer.headers["ETag"] and "max-age" in answer.headers["Cache-Control"]


@pytest.mark.parametrize("path", ["/search?q=gdp.growth",
                                  "/class?iri=" + quote("https://w3id.org/bjkg/ontology#District", safe=""),
                                  "/id/place/tongzhou", "/ontology"])
def test_format_links_are_named_by_their_format(client, path):
    html = _page(client, path)
    footer = html[html.index('<p class="formats">'):]
    footer = footer[:footer.index("</p>")]
    names = re.findall(r'<a href="[^"]*" type="[^"]*">([^<]*)</a>', footer)
    assert names and set(names) <= FORMAT_NAMES, names


def test_the_title_holds_no_bidi_controls(client):
    html = _page(client, "/search?q=" + quote("\u202egnp.exe"))
    title = re.search(r"<title>(.*?)</title>", html, re.S).group(1)
    assert title.endswith(" · bjkg")
    assert not re.search("[\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]", title), ascii(title)
    assert "gnp.exe" in title
    assert "<bdi>\u202egnp.exe</bdi>" in html  # the query itself is shown, isolated


@pytest.mark.parametrize("path", ["/sparql?lang=zh-Hant", "/no/such/page?lang=zh-Hant",
                                  "/graph/nothing-here?lang=zh-Hant"])
def test_the_editor_and_error_pages_keep_the_language(client, path):
    html = _page(client, path)
    links = [h for h in _local_links(html) if not re.search(r"[?&]lang=(zh-Hans|en)\b", h)]
    assert links
    missing = [h for h in links if "lang=zh-Hant" not in h]
    assert missing == []


def test_the_editor_tells_its_script_the_pages_language(client):
    html = _page(client, "/sparql?lang=en")
    assert '"lang": "en"' in html
    assert '"lang": null' in _page(client, "/sparql")


def test_the_no_script_editor_has_a_label_and_working_examples(client):
    html = _page(client, "/sparql")
    noscript = html[html.index("<noscript>"):html.index("</noscript>")]
    textarea = re.search(r"<textarea[^>]*>", noscript).group(0)
    ident = re.search(r'id="([^"]+)"', textarea).group(1)
    assert f'<label for="{ident}">' in noscript
    examples = re.findall(r'<a href="([^"]+)" data-example=', html)
    assert examples and all(h.startswith("/sparql?query=") for h in examples)


def test_the_editor_page_is_prefilled_from_edit(client):
    query = "SELECT ?s WHERE { ?s a <urn:x> } # <&>"
    html = _page(client, "/sparql?edit=" + quote(query, safe=""))
    noscript = html[html.index("<noscript>"):html.index("</noscript>")]
    assert "SELECT ?s WHERE { ?s a &lt;urn:x&gt; } # &lt;&amp;&gt;</textarea>" in noscript
    assert '"defaultQuery": "SELECT ?s WHERE' in html


def test_a_sparql_error_page_links_back_to_the_query(client):
    query = "SELECT * WHERE {"
    answer = client.get("/sparql?query=" + quote(query, safe=""), headers=HTML)
    assert answer.status_code == 400
    html = answer.get_data(as_text=True)
    link = re.search(r'<a id="edit-query" href="([^"]+)"', html).group(1)
    args = parse_qs(urlsplit(unescape(link)).query)
    assert urlsplit(unescape(link)).path == "/sparql" and args["edit"] == [query]


def test_the_editor_page_advertises_its_service_description(client):
    html = _page(client, "/sparql")
    assert '<link rel="alternate" type="text/turtle" href="/sparql">' in html
    described = client.get("/sparql", headers={"Accept": "text/turtle"})
    assert described.mimetype == "text/turtle" and b"sd:Service" in described.data


@pytest.mark.parametrize("path", ["/", "/sparql", "/search?q=tongzhou", "/id/place/tongzhou", "/no/such/page"])
def test_every_page_starts_with_a_skip_link(client, path):
    html = _page(client, path)
    body = html[html.index("<body>") + len("<body>"):].lstrip()
    assert body.startswith('<a class="skip" href="#main">')
    assert '<main id="main"' in html


def test_chinese_in_an_english_template_text_is_marked(client):
    html = _page(client, "/sparql?lang=en")
    assert 'The pillars of <span lang="zh-Hans">五子联动</span> (Wuzi Liandong)' in html

