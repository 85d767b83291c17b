"""Pages in 繁體 convert Simplified-only labels from the conversions `bjkg serve` prepared.

OpenCC's `s2t` converter grew an HTTP process by ≈ 21–27 MB at the first page in 繁體 that
showed a label the graph has only in Simplified, for the life of the process and in every
HTTP process. The preparation now converts those texts once (bjkg.server.core.traditional,
kept with the label table), and an HTTP process that has them makes no converter; the
text shown is OpenCC's conversion either way.
"""
from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap

import pytest

from bjkg.server.core import traditional
from bjkg.server.core.traditional import Conversions
from bjkg.server.stores import label_table

from tests.conftest import DATA, make_tiny_build

EXTRA = """
g:reference {
    id:place\\/jianli a bjkg:County, bjkg:Place ;
        rdfs:label "监利县"@zh-Hans, "Jianli County"@en ;
        bjkg:within id:place\\/tongzhou .
}
"""
TITLE = "中国行政区划代码与坐标（测试）"


@pytest.fixture(scope="module")
def simplified_build(tmp_path_factory):
    """The tiny build with one place named only in Simplified (as the external datasets'
    divisions are) and an external dataset titled only in Simplified."""
    folder = tmp_path_factory.mktemp("simplified")
    trig = folder / "data.trig"
    trig.write_text((DATA / "tiny.trig").read_text(encoding="utf-8") + EXTRA, encoding="utf-8")
    build = make_tiny_build(folder / "build", trig=trig)
    manifest = json.loads((build / "build.json").read_text(encoding="utf-8"))
    manifest["external"] = [{"name": "test", "title": "Test divisions", "title_zh": TITLE,
                             "graph": "https://w3id.org/bjkg/graph/external/test"}]
    (build / "build.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    return build


def test_conversions_answer_what_they_hold_and_only_that():
    table = Conversions([("监利县", "監利縣"), ("北京市", "北京市"), ("数字经济", "數字經濟")])
    assert table.get("监利县") == "監利縣"
    assert table.get("北京市") == "北京市"  # its own conversion: held, not converted again
    assert table.get("数字经济") == "數字經濟"
    assert table.get("雄安新区") is None  # not held: the caller converts it itself
    assert table.get("") is None
    again = pickle.loads(pickle.dumps(table, protocol=pickle.HIGHEST_PROTOCOL))
    assert [again.get(t) for t in ("监利县", "北京市", "雄安新区")] == ["監利縣", "北京市", None]


def test_the_label_table_converts_what_a_page_in_traditional_converts(simplified_build):
    import pyoxigraph

    store = pyoxigraph.Store.read_only(str(simplified_build / "store"))
    table = label_table.compute(store, [TITLE])
    converter = traditional._s2t()
    for text in ("监利县", TITLE):
        assert table.conversions.get(text) == converter.convert(text)
    # a place with a label in Traditional is never shown converted: its labels are not kept
    assert table.conversions.get("通州区") is None
    assert table.conversions.get("Jianli County") is None  # no CJK ideograph: nothing to convert
    # every label a 繁體 page would convert is held (`best_for`, on every IRI's labels)
    from bjkg.server.pages.labels import best_for

    for iri in table.rdfs:
        for pref in (False, True):
            labels = table.labels(iri, pref=pref)
            shown = best_for(labels, "zh-Hant")
            if shown is not None and shown.lang == "zh-Hant" and all(
                    not traditional.is_traditional_tag(tag) for _, tag in labels):
                assert any(table.conversions.get(text) == str(shown) for text, _ in labels), (iri, labels)


_PAGE = textwrap.dedent("""
    import json, sys
    from bjkg.server.app import create_app
    from bjkg.server.core import traditional
    from bjkg.server.runtime.serve import _warm

    settings = json.loads(sys.argv[1])
    app = _warm(create_app(settings))
    client = app.test_client()
    html = {"Accept": "text/html"}
    place = client.get("/id/place/tongzhou?lang=zh-Hant", headers=html)
    division = client.get("/id/place/jianli?lang=zh-Hant", headers=html)
    print(json.dumps({"statuses": [place.status_code, division.status_code],
                      "pages": place.get_data(as_text=True) + division.get_data(as_text=True),
                      "converters": traditional._s2t.cache_info().currsize}))
""")


def _pages_in_traditional(build, cache) -> dict:
    """Two pages in 繁體 asked of a fresh HTTP process warmed as under `bjkg serve`."""
    settings = {"BUILD_DIR": str(build), "CACHE_DIR": str(cache), "QUERY_MODE": "inline", "TESTING": True}
    done = subprocess.run([sys.executable, "-c", _PAGE, json.dumps(settings)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_an_http_process_with_the_prepared_table_makes_no_converter(simplified_build, tmp_path):
    cache = tmp_path / "cache"
    manifest = json.loads((simplified_build / "build.json").read_text(encoding="utf-8"))
    label_table.prepare(str(simplified_build / "store"), cache, manifest["hash"], [TITLE])
    answer = _pages_in_traditional(simplified_build, cache)
    assert answer["statuses"] == [200, 200]
    assert "監利縣" in answer["pages"]  # the Simplified-only label, converted
    assert answer["converters"] == 0


def test_without_the_prepared_table_the_process_converts_by_itself(simplified_build, tmp_path):
    answer = _pages_in_traditional(simplified_build, tmp_path / "empty-cache")
    assert answer["statuses"] == [200, 200]
    assert "監利縣" in answer["pages"]  # the same text, from OpenCC in the process
    assert answer["converters"] == 1
