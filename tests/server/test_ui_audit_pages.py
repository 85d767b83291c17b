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


