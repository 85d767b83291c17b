"""What the served site says about its build: whether the quotes were verified (home page in
each UI script, index.json, VoID), and nothing of the builder's machine (no absolute paths).
"""
from __future__ import annotations

import html
import json

import pyoxigraph
import pytest

from bjkg.server.app import create_app
from bjkg.server.pages import i18n
from tests.conftest import make_tiny_build
from tests.server.conftest import close_app

HTML = {"Accept": "text/html"}
LANGS = ("zh-Hans", "zh-Hant", "en")
RDFS_COMMENT = "http://www.w3.org/2000/01/rdf-schema#comment"


def _app_over(build, **settings):
    return create_app({"BUILD_DIR": str(build), "TESTING": True, "QUERY_WORKERS": 1, **settings})


def _build_with(tmp_path, quotes):
    """A tiny build whose build.json says `quotes` (or nothing, for None)."""
    build = make_tiny_build(tmp_path / "build")
    manifest = json.loads((build / "build.json").read_text(encoding="utf-8"))
    manifest.pop("quotes", None)
    if quotes is not None:
        manifest["quotes"] = quotes
    (build / "build.json").write_text(json.dumps(manifest), encoding="utf-8")
    return build


@pytest.fixture(scope="module")
def unverified_app(tmp_path_factory):
    app = _app_over(_build_with(tmp_path_factory.mktemp("unverified"),
                                {"verified": False, "reason": "no corpus: the source texts were "
                                                              "not available to the build"}))
    yield app
    close_app(app)


def _void_comments(client) -> dict[str, str]:
    body = client.get("/.well-known/void.nt").get_data()
    return {t.object.language: t.object.value
            for t in pyoxigraph.parse(body, format=pyoxigraph.RdfFormat.N_TRIPLES)
            if t.predicate.value == RDFS_COMMENT and t.subject.value == "https://w3id.org/bjkg/dataset"}


@pytest.mark.parametrize("lang", LANGS)
def test_home_says_quotes_not_verified_in_each_script(unverified_app, lang):
    client = unverified_app.test_client()
    page = client.get(f"/?lang={lang}", headers=HTML).get_data(as_text=True)
    notice = i18n.text("quotes_not_verified", lang)
    assert 'id="quotes-not-verified"' in page and notice in page
    assert i18n.text("quotes_not_verified_detail", lang) in html.unescape(page)
    for other in LANGS:  # the short notice in every script, whatever the page's language
        assert i18n.text("quotes_not_verified", other) in page, other
    data = client.get(f"/index.json?lang={lang}").get_json()
    assert data["quotes"]["verified"] is False and data["quotes"]["notice"] == notice
    assert data["quotes"]["notices"] == {code: i18n.text("quotes_not_verified", code) for code in LANGS}
    assert "no corpus" in data["quotes"]["reason"]


def test_the_three_notices_differ_and_english_says_it_plainly():
    assert i18n.text("quotes_not_verified", "en") == "quotes not verified in this build"
    assert len({i18n.text("quotes_not_verified", lang) for lang in LANGS}) == 3


def test_void_states_that_quotes_were_not_verified(unverified_app):
    comments = _void_comments(unverified_app.test_client())
    assert {tag.lower() for tag in comments} == {lang.lower() for lang in LANGS}
    assert comments["en"].startswith("quotes not verified in this build")


def test_a_verified_build_shows_no_notice(tmp_path):
    app = _app_over(_build_with(tmp_path, {"verified": True, "quotes": 12, "documents": 2}))
    try:
        client = app.test_client()
        for lang in LANGS:
            page = client.get(f"/?lang={lang}", headers=HTML).get_data(as_text=True)
            assert "quotes-not-verified" not in page
            assert i18n.text("quotes_not_verified", lang) not in page
        assert client.get("/index.json").get_json()["quotes"] == {"verified": True, "quotes": 12,
                                                                  "documents": 2}
        assert _void_comments(client) == {}
    finally:
        close_app(app)


def test_a_build_that_does_not_say_is_not_taken_as_verified(tmp_path):
    app = _app_over(_build_with(tmp_path, None))
    try:
        client = app.test_client()
        assert client.get("/index.json").get_json()["quotes"]["verified"] is False
        assert 'id="quotes-not-verified"' in client.get("/?lang=en", headers=HTML).get_data(as_text=True)
    finally:
        close_app(app)


def test_an_empty_server_has_no_quote_notice():
    app = create_app({"EMPTY": True, "TESTING": True})
    client = app.test_client()
    assert client.get("/index.json").get_json()["quotes"] is None
    assert "quotes-not-verified" not in client.get("/", headers=HTML).get_data(as_text=True)


PAGES = ["/", "/index.json", "/?lang=en", "/-/settings", "/-/settings.json", "/.well-known/void", "/catalog",
         "/dataset", "/graph/reference",
         "/.well-known/void.ttl", "/.well-known/void.jsonld", "/.well-known/void.html", "/ontology",
         "/shapes", "/dumps/SHA256SUMS", "/sparql", "/search?q=tongzhou", "/search.json?q=tongzhou",
         "/id/place/tongzhou", "/id/place/tongzhou.json", "/id/place/nowhere",
         "/sparql?query=SELECT%20*%20WHERE%20%7B%20%3Fs%20%3Fp%20%3Fo%20%7D%20LIMIT%205",
         "/sparql?query=SELEC", "/no/such/page", "/dumps/no-such-dump"]


def test_nothing_served_shows_the_builders_absolute_paths(tmp_path):
    """The build and cache folders sit under a telltale name; no page, JSON, RDF or error
    (HTML or JSON) may show it, nor a path the builder recorded in a legacy build.json."""
    home = tmp_path / "home-of-alice-the-builder"
    build = make_tiny_build(home / "build")
    manifest = json.loads((build / "build.json").read_text(encoding="utf-8"))
    manifest["quote_check"] = f"skipped: no corpus at {home}/shared/sources"  # an older build's line
    (build / "build.json").write_text(json.dumps(manifest), encoding="utf-8")
    app = _app_over(build, CACHE_DIR=str(home / "cache"))
    try:
        client = app.test_client()
        for path in PAGES:
            for accept in ("text/html", "application/json", "*/*"):
                body = client.get(path, headers={"Accept": accept}).get_data(as_text=True)
                assert "home-of-alice-the-builder" not in body, (path, accept)
                assert str(tmp_path) not in body, (path, accept)
        shown = {s["name"]: s["value"] for s in client.get("/-/settings.json").get_json()["settings"]}
        assert shown["BUILD_DIR"] == "(set)" and shown["CACHE_DIR"] == "(set)"
    finally:
        close_app(app)


def test_store_and_engine_errors_name_the_servers_folders_relative_to_the_build(tmp_path):
    """A worker that cannot open the store, or an engine error, may quote a file path; the
    client sees it relative to the build (`<build>/store/LOCK`), the log keeps it whole."""
    from bjkg.server.sparql.evaluate import QueryFailed
    from bjkg.server.sparql.workers import StoreUnavailable

    home = tmp_path / "home-of-alice-the-builder"
    build = make_tiny_build(home / "build")
    app = _app_over(build, CACHE_DIR=str(home / "cache"))
    errors = {"/boom/store": StoreUnavailable(f"IO error: lock {build.resolve()}/store/LOCK: busy"),
              "/boom/engine": QueryFailed(500, f"cannot read {home / 'cache'}/facets.pickle")}
    for path, exc in errors.items():
        app.add_url_rule(path, path, lambda exc=exc: (_ for _ in ()).throw(exc))
    try:
        client = app.test_client()
        for path, shown in (("/boom/store", "<build>/store/LOCK"), ("/boom/engine", "<cache>/facets.pickle")):
            for accept in ("text/html", "application/json"):
                response = client.get(path, headers={"Accept": accept})
                body = response.get_data(as_text=True)
                assert response.status_code in (500, 503), (path, response.status_code)
                assert "home-of-alice-the-builder" not in body and str(tmp_path) not in body, body
                assert shown in html.unescape(body), body
    finally:
        close_app(app)
