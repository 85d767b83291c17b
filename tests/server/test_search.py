"""Search across scripts and pinyin, ranking, HTML and JSON twins."""
from __future__ import annotations

import pytest

from server.search_index import SearchIndex, hanzi_key, latin_key
from tests.server.html_app import client, html_app  # noqa: F401  (fixtures)

ID = "https://w3id.org/bjkg/id/"


def _iris(client, q, **headers):
    r = client.get("/search.json", query_string={"q": q}, headers=headers)
    assert r.status_code == 200
    return [hit["iri"] for hit in r.get_json()["results"]]


@pytest.mark.parametrize("q", ["數字經濟", "数字经济", "shuzi jingji", "ShuZiJingJi", "Digital economy"])
def test_digital_economy_in_any_script_or_pinyin(client, q):
    iris = _iris(client, q)
    assert ID + "initiative/wuzi-3-digital-economy" in iris[:2]
    assert ID + "theme/digital-economy" in iris[:2]


@pytest.mark.parametrize("q", ["Tongzhou", "tongzhou", "通州", "通州區", "Tōngzhōu", "副中心"])
def test_tongzhou(client, q):
    assert _iris(client, q)[0] == ID + "place/tongzhou"


def test_ranking_exact_then_prefix_then_substring_and_label_before_alt():
    idx = SearchIndex([
        ("a", "数字经济", "zh-Hans", False),
        ("b", "数字经济标杆城市", "zh-Hans", False),
        ("c", "建设数字经济", "zh-Hans", False),
        ("d", "数字经济", "zh-Hans", True),
    ])
    hits = idx.search("数字经济")
    assert [h.iri for h in hits] == ["a", "d", "b", "c"]
    assert [h.match for h in hits] == [3, 3, 2, 1]


def test_keys_fold_scripts_and_tones():
    assert hanzi_key("數字經濟") == hanzi_key("数字经济") == "数字经济"
    assert latin_key("数字经济") == latin_key("Shùzì jīngjì") == "shuzijingji"
    assert latin_key("“五子”联动") == "wuziliandong"


def test_hanzi_queries_do_not_match_homophones():
    idx = SearchIndex([("a", "数字", "zh-Hans", False), ("b", "树子", "zh-Hans", False)])
    assert [h.iri for h in idx.search("数字")] == ["a"]
    assert {h.iri for h in idx.search("shuzi")} == {"a", "b"}


def test_json_by_accept_and_suffix_and_html(client):
    r = client.get("/search?q=Tongzhou", headers={"Accept": "application/json"})
    assert r.mimetype == "application/json" and r.get_json()["results"][0]["iri"] == ID + "place/tongzhou"
    r = client.get("/search?q=Tongzhou", headers={"Accept": "text/html"})
    page = r.get_data(as_text=True)
    assert r.mimetype == "text/html" and 'href="/id/place/tongzhou"' in page
    assert 'rel="alternate"' in r.headers["Link"]


def test_result_shows_label_in_chosen_language_and_types(client):
    hit = client.get("/search.json?q=shuzi+jingji&lang=en").get_json()["results"][0]
    assert hit["label"] == "Digital economy" and hit["match"] == "exact"
    assert hit["types"]


def test_empty_and_escaped_queries(client):
    assert client.get("/search.json?q=").get_json()["results"] == []
    page = client.get("/search?q=%3Cscript%3Ealert(1)%3C/script%3E", headers={"Accept": "text/html"})
    text = page.get_data(as_text=True)
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;" in text


def test_index_is_built_once_per_process(client, html_app, monkeypatch):
    import server.views.search as search

    client.get("/search.json?q=a")
    calls = []
    monkeypatch.setattr(search, "build_index", lambda: calls.append(1))
    client.get("/search.json?q=Tongzhou")
    assert calls == []
    assert search.INDEX_KEY in html_app.extensions
