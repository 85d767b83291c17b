"""Search across scripts and pinyin, ranking, HTML and JSON twins."""
from __future__ import annotations

import pytest

from bjkg.server.pages.search_index import SearchIndex, hanzi_key, latin_key, split_words
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


def test_a_query_of_several_words_finds_labels_holding_every_word_after_the_phrase():
    """`北京 通州` is a phrase of one label only; resources whose labels hold both words come
    after those holding the phrase, shown by the label with most words (then the shorter);
    a word may be in another label of the resource (its English one), in either script or
    in pinyin; a word in hanzi matches hanzi only."""
    idx = SearchIndex([
        ("a", "北京市通州区", "zh-Hans", False),
        ("b", "北京通州", "zh-Hans", False),
        ("c", "通州区", "zh-Hans", False), ("c", "Tongzhou, Beijing", "en", False),
        ("d", "北京", "zh-Hans", False),
        ("e", "通州", "zh-Hans", True), ("e", "北京的區", "zh-Hant", True),
    ])
    hits = idx.search("北京 通州")
    assert [(h.iri, h.match) for h in hits] == [("b", 3), ("a", 0), ("e", 0)]  # b: spaces fold away
    assert [h.text for h in hits] == ["北京通州", "北京市通州区", "通州"]
    # a latin word matches pinyin and English labels too: b and a hold both words in one label
    assert [h.iri for h in idx.search("beijing 通州")] == ["b", "a", "c", "e"]
    assert idx.search("北京 西城") == [] and idx.search("北京  ") == idx.search("北京")


def test_keys_fold_scripts_and_tones():
    assert hanzi_key("數字經濟") == hanzi_key("数字经济") == "数字经济"
    assert latin_key("数字经济") == latin_key("Shùzì jīngjì") == "shuzijingji"
    assert latin_key("“五子”联动") == "wuziliandong"


@pytest.mark.parametrize("q", ["北京，通州", "北京,通州", "北京、通州", "北京;通州", "北京；通州", "北京/通州",
                               "「北京」「通州」", "北京\u3000通州", "北京 ,通州"])
def test_words_are_split_at_punctuation_as_at_spaces(q):
    """A list typed with Chinese or Latin punctuation is words, as with spaces: `北京，通州`
    finds what `北京 通州` finds."""
    idx = SearchIndex([("a", "北京市通州区", "zh-Hans", False), ("b", "北京通州", "zh-Hans", False),
                       ("c", "北京", "zh-Hans", False), ("e", "通州", "zh-Hans", True),
                       ("e", "北京的區", "zh-Hant", True)])
    expected = [(h.iri, h.match) for h in idx.search("北京 通州")]
    assert expected == [("b", 3), ("a", 0), ("e", 0)]
    assert [(h.iri, h.match) for h in idx.search(q)] == expected


def test_a_number_keeps_its_point_and_commas_as_one_word():
    """Punctuation between two digits is part of a number (5.2, 4,400), not a break."""
    idx = SearchIndex([("a", "GDP 5.2%", "en", False), ("b", "GDP 2 of 5", "en", False)])
    assert [h.iri for h in idx.search("GDP, 5.2")] == ["a"]


def test_search_json_splits_words_at_punctuation(client):
    assert _iris(client, "数字经济，2023") == _iris(client, "数字经济 2023") != []


def test_pinyin_u_umlaut_is_v_as_in_the_index():
    """pypinyin writes ü as v (吕梁 → lvliang): ü, Ü and ǖǘǚǜ typed in a query are v
    too, not u with its dots dropped (which would find 陆良, luliang)."""
    assert latin_key("吕梁") == latin_key("Lüliang") == latin_key("LÜLIANG") == latin_key("Lǚliáng") == "lvliang"
    assert latin_key("lüse") == latin_key("lǜsè") == latin_key("lu\u0308se") == latin_key("绿色") == "lvse"
    assert {latin_key(c) for c in "ǖǘǚǜǕǗǙǛ"} == {"v"}
    idx = SearchIndex([("lvliang", "吕梁市", "zh-Hans", False), ("luliang", "陆良县", "zh-Hans", False),
                       ("green", "绿色发展", "zh-Hans", False)])
    assert [h.iri for h in idx.search("Lüliang")] == ["lvliang"]
    assert [h.iri for h in idx.search("lüse")] == [h.iri for h in idx.search("lvse")] == ["green"]


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


def test_results_past_one_page_are_paged_never_cut(client):
    """More than a page of matches: each page says whether more follow and links the next;
    the pages together are the ranking, each resource once; a bad page number is a 400."""
    first = client.get("/search.json?q=a").get_json()
    assert first["count"] == first["limit"] == 50 and first["more"] is True and first["page"] == 1
    assert first["previous"] is None and first["first"] == 1 and first["last"] == 50
    seen, data, pages = [], first, 0
    while True:
        pages += 1
        seen += [hit["iri"] for hit in data["results"]]
        if not data["more"]:
            assert data["next"] is None
            break
        assert data["next"] == f"/search.json?q=a&page={data['page'] + 1}"
        data = client.get(data["next"]).get_json()
        assert data["previous"] is not None and data["first"] == (data["page"] - 1) * 50 + 1
    assert pages > 1 and len(seen) == len(set(seen)) > 50
    everything = client.get("/search.json?q=a&page=1").get_json()  # the same first page again
    assert [hit["iri"] for hit in everything["results"]] == seen[:50]
    page = client.get("/search?q=a", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert 'rel="next" href="/search?q=a&amp;page=2"' in page
    second = client.get("/search?q=a&page=2", headers={"Accept": "text/html"})
    assert "</search.json?q=a&page=2>" in second.headers["Link"]  # its data twin is that page's
    beyond = client.get(f"/search.json?q=a&page={pages + 1}").get_json()
    assert beyond["results"] == [] and beyond["more"] is False and beyond["first"] is None
    for bad in ("0", "-1", "x", "1.5", "99999999999"):
        assert client.get(f"/search.json?q=a&page={bad}").status_code == 400


def test_index_is_built_once_per_process(client, html_app, monkeypatch):
    import bjkg.server.web.search as search

    client.get("/search.json?q=a")
    calls = []
    monkeypatch.setattr(search, "build_index", lambda: calls.append(1))
    client.get("/search.json?q=Tongzhou")
    assert calls == []
    assert search.INDEX_KEY in html_app.extensions


# ---------------------------------------------------------------- the packed keys

def _reference_search(index: SearchIndex, query: str, limit: int = 50) -> list[tuple]:
    """What `search` must answer: the query compared with every key, one label at a time;
    then, for a query of 2 to MAX_TERMS words, each other resource with every word in some
    label of it, shown by the label with the most words. A latin key matches in either
    spelling of the endings `other_spellings` swaps."""
    from bjkg.server.pages.search_index import (EXACT, MAX_TERMS, PREFIX, SUBSTRING, TERMS, _has_hanzi,
                                                other_spellings)

    def match(q: str, key: str) -> int:
        if not q or not key:
            return 0
        return EXACT if key == q else PREFIX if key.startswith(q) else SUBSTRING if q in key else 0

    qh = hanzi_key(query)
    ql = "" if _has_hanzi(query) else latin_key(query)
    qls = (ql, *other_spellings(ql)) if ql else ()
    best: dict[str, tuple] = {}
    for e in index.entries:
        score = max(match(qh, e.hanzi), *(match(q, e.latin) for q in qls), 0)
        if score:
            rank = (-score, e.is_alt, len(e.text), e.iri, e.text)
            if e.iri not in best or rank < best[e.iri][0]:
                best[e.iri] = (rank, e.text, e.lang, e.is_alt, score)
    words = [(hanzi_key(w), "" if _has_hanzi(w) else latin_key(w)) for w in dict.fromkeys(split_words(query))]
    words = [(wh, (wl, *other_spellings(wl)) if wl else ()) for wh, wl in words if wh or wl]
    if 2 <= len(words) <= MAX_TERMS:
        def holds(word, e) -> bool:
            return bool(word[0] and word[0] in e.hanzi) or any(wl in e.latin for wl in word[1])

        def held(e) -> int:
            return sum(holds(word, e) for word in words)

        by_iri: dict[str, list] = {}
        for e in index.entries:
            by_iri.setdefault(e.iri, []).append(e)
        for iri in set(by_iri) - set(best):
            labels = by_iri[iri]
            if all(any(holds(word, e) for e in labels) for word in words):
                e = min((e for e in labels if held(e)), key=lambda e: (-held(e), e.is_alt, len(e.text), e.text))
                first = -(TERMS + held(e) / (MAX_TERMS + 1))
                best[iri] = ((first, e.is_alt, len(e.text), iri, e.text), e.text, e.lang, e.is_alt, TERMS)
    return [(iri, *rest[1:]) for iri, rest in sorted(best.items(), key=lambda kv: kv[1][0])][:limit]


def _answers(index: SearchIndex, query: str, limit: int = 50) -> list[tuple]:
    return [(h.iri, h.text, h.lang, h.is_alt, h.match) for h in index.search(query, limit)]


LABELS = ["通州区", "通州", "北京城市副中心", "城市副中心", "南通市通州区", "數字經濟", "数字经济标杆城市",
          "Tongzhou District", "Beijing", "京津冀协同发展", "中关村", "中关村科学城", "a", "aa", "aaa",
          "雄安新区", "Xiong'an New Area", "五子联动", "“五子”联动", "GDP", "1 2 3", "长安街",
          "Beijing Sub-centre", "Digitalisation", "Organization", "Data Center", "specialised parks"]


def _small_index() -> SearchIndex:
    rows = [(f"https://example.org/{i // 2}", text, "zh-Hans" if i % 3 else "en", i % 5 == 0)
            for i, text in enumerate(LABELS)]
    return SearchIndex(rows)


@pytest.mark.parametrize("query", ["通州", "通", "州区", "副中心", "中关村", "a", "aa", "aaa", "aaaa",
                                   "tongzhou", "zhou", "Beijing", "bei", "京", "市", "gdp", "12", "3",
                                   "xiongan", "五子", "wuzi", "不存在", "zz", "t", "n", "區", "經濟",
                                   "通州 区", "北京 通州", "通 tong", "a 3", "中心 城市 副", "1 2 3", "· a",
                                   "sub-center", "centre", "center", "digitalization", "organisation",
                                   "organiza", "organis", "specialized", "specialized parks", "data centre"])
def test_packed_search_answers_as_comparing_every_key(query):
    index = _small_index()
    assert _answers(index, query) == _reference_search(index, query)
    assert _answers(index, query, 2) == _reference_search(index, query, 2)


def test_packed_search_on_random_labels_and_queries():
    from hypothesis import given, settings, strategies as st

    alphabet = st.sampled_from(list("通州区北京市中心城副关村数字经济abcAB12 ·“”-"))
    label = st.text(alphabet, min_size=0, max_size=8)

    @settings(max_examples=300, deadline=None, derandomize=True)
    @given(st.lists(label, max_size=12), st.lists(label, min_size=1, max_size=4))
    def check(texts, queries):
        index = SearchIndex([(f"https://example.org/{i % 4}", t, "zh-Hans", i % 2 == 1)
                             for i, t in enumerate(texts)])
        for query in queries + [t[1:3] for t in texts]:
            assert _answers(index, query) == _reference_search(index, query)

    check()


def test_text_without_cjk_is_its_own_pinyin():
    """latin_key skips pypinyin below U+2E80: the same keys as pypinyin gives, for any text."""
    from hypothesis import given, settings, strategies as st
    from pypinyin import Style, lazy_pinyin

    from bjkg.server.pages.search_index import _pinyin

    @settings(max_examples=500, deadline=None, derandomize=True)
    @given(st.text(st.characters(max_codepoint=0x2E7F, exclude_categories=("Cs",)), max_size=20)
           | st.text(st.sampled_from(list("Tōngzhōu ü·-,. 通州區數字1²٣ǅ\u3000")), max_size=12))
    def check(text):
        assert _pinyin(text) == "".join(lazy_pinyin(text, style=Style.NORMAL, errors="default"))

    check()


def test_searching_a_prepared_index_loads_no_pinyin_dictionary(tmp_path):
    """An HTTP worker unpickles the index and answers hanzi and latin queries without
    importing pypinyin (its dictionaries are ≈58 MB per process)."""
    import pickle
    import subprocess
    import sys

    path = tmp_path / "index.pickle"
    index = SearchIndex([("https://example.org/a", "通州區", "zh-Hant", False),
                         ("https://example.org/b", "Tongzhou District", "en", True)])
    path.write_bytes(pickle.dumps(index))
    code = ("import pickle, sys; index = pickle.load(open(sys.argv[1], 'rb')); "
            "hits = [h.iri for q in ('通州', 'tongzhou', 'Tōngzhōu', 'district') for h in index.search(q)]; "
            "print(hits, 'pypinyin' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    assert out.stdout.split("] ")[-1].strip() == "False", out.stdout
    assert "example.org/a" in out.stdout and "example.org/b" in out.stdout


def test_real_build_search_answers_as_comparing_every_key(real_build):
    from bjkg.server.app import create_app
    from bjkg.server.web.search import build_index

    app = create_app({"BUILD_DIR": str(real_build), "TESTING": True})
    try:
        with app.app_context():
            index = build_index()
        queries = {e.text[i:i + n] for e in index.entries[::7] for n in (1, 2, 4) for i in (0, 1)}
        queries |= {e.latin[:5] for e in index.entries[::11]} | {"tongzhou", "北京", "區"}
        for query in sorted(queries):
            assert _answers(index, query) == _reference_search(index, query), query
    finally:
        app.extensions["bjkg"].store.close()


def test_real_build_index_holds_each_iris_labels_and_types(real_build):
    """The columns give back, for every labelled IRI, the labels, alt labels and types the store holds."""
    import pyoxigraph as ox

    from bjkg.server.app import create_app
    from bjkg.server.pages.labels import canonical_lang
    from bjkg.server.web.search import build_index

    app = create_app({"BUILD_DIR": str(real_build), "TESTING": True})
    try:
        with app.app_context():
            index = build_index()
    finally:
        app.extensions["bjkg"].store.close()
    store = ox.Store.read_only(str(real_build / "store"))
    rdfs, alt = "http://www.w3.org/2000/01/rdf-schema#label", "http://www.w3.org/2004/02/skos/core#altLabel"
    expected: dict[tuple[str, bool], set] = {}
    for predicate, is_alt in ((rdfs, False), (alt, True)):
        for q in store.quads_for_pattern(None, ox.NamedNode(predicate), None):
            if isinstance(q.subject, ox.NamedNode) and isinstance(q.object, ox.Literal) and q.object.value.strip():
                expected.setdefault((q.subject.value, is_alt), set()).add(
                    (q.object.value, canonical_lang(q.object.language)))
    iris = sorted({iri for iri, _ in expected})
    assert len(index.entries) == sum(len(v) for v in expected.values())
    for iri in iris[::5]:
        for is_alt in (False, True):
            assert set(index.labels_of(iri, alt=is_alt)) == expected.get((iri, is_alt), set()), iri
        types = {q.object.value for q in store.quads_for_pattern(ox.NamedNode(iri), ox.NamedNode(
            "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"), None) if isinstance(q.object, ox.NamedNode)}
        assert set(index.types_of(iri)) == types and len(index.types_of(iri)) == len(types), iri
    assert index.labels_of("https://example.org/not-there") == [] and index.types_of("urn:x") == []


def test_american_and_british_spellings_find_each_other():
    """The graph's English labels are mostly British ("Sub-centre", "Digitalisation"), a few
    American ("Organization"): a reader's spelling finds either, and a prefix of a label in
    its own spelling still matches."""
    index = _small_index()
    found = lambda query: {h.text for h in index.search(query)}  # noqa: E731
    assert "Beijing Sub-centre" in found("sub-center") and "Beijing Sub-centre" in found("Sub Center")
    assert "Digitalisation" in found("digitalization")
    assert "Organization" in found("organisation") and "Organization" in found("organiza")
    assert "specialised parks" in found("specialized") and "specialised parks" in found("parks specialized")
    assert "Data Center" in found("data centre")
    assert "Digitalisation" not in found("organization")


def test_the_search_page_advertises_its_json_twin_with_or_without_a_query(client):
    for url, twin in (("/search", "/search.json"), ("/search?q=%E9%80%9A%E5%B7%9E", "/search.json?q=")):
        page = client.get(url, headers={"Accept": "text/html"})
        assert page.status_code == 200
        assert f'<{twin}' in page.headers["Link"] and 'type="application/json"' in page.headers["Link"]
        assert client.get(page.headers["Link"].split(">")[0].lstrip("<")).is_json


def test_a_query_longer_than_search_takes_is_refused_not_cut(client):
    """A query past MAX_QUERY_CHARS was searched cut to its first 200 characters, without a
    word: now a 400 that says so (in JSON and as a page); the form's maxlength keeps a
    browser from sending one."""
    from bjkg.server.pages.search_index import MAX_QUERY_CHARS

    longest = "通" * MAX_QUERY_CHARS
    assert client.get("/search.json?q=" + longest).status_code == 200
    refused = client.get("/search.json?q=" + longest + "州")
    assert refused.status_code == 400
    assert str(MAX_QUERY_CHARS) in refused.get_json()["error"]["message"]
    page = client.get("/search?q=" + longest + "州", headers={"Accept": "text/html"})
    assert page.status_code == 400 and page.mimetype == "text/html"
    form = client.get("/search", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert f'maxlength="{MAX_QUERY_CHARS}"' in form
