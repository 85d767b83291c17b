"""Settings declared once: defaults → BJKG_* environment → create_app mapping; documented."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from bjkg.server.app import create_app
from bjkg.server.cli import main
from bjkg.server.core.settings import SETTINGS, SettingsError, describe_settings, load_settings, public_settings
from bjkg.server.stores.embedded import BuildNotFound


def test_defaults():
    settings = load_settings(environ={})
    assert settings["QUERY_TIMEOUT"] == 30.0
    assert settings["SERVICE_ALLOWLIST"] == ()
    assert settings["UPDATE_TOKEN"] is None
    assert settings["BASE_IRI"] == "https://w3id.org/bjkg/"


def test_environment_then_mapping():
    environ = {"BJKG_QUERY_TIMEOUT": "5", "BJKG_MAX_ROWS": "10", "BJKG_EMPTY": "yes",
               "BJKG_SERVICE_ALLOWLIST": "http://a/sparql, http://b/sparql"}
    settings = load_settings({"max_rows": 20, "TESTING": True}, environ=environ)
    assert settings["QUERY_TIMEOUT"] == 5.0
    assert settings["MAX_ROWS"] == 20  # the mapping wins over the environment
    assert settings["EMPTY"] is True
    assert settings["SERVICE_ALLOWLIST"] == ("http://a/sparql", "http://b/sparql")
    assert settings["TESTING"] is True  # Flask keys pass through


@pytest.mark.parametrize("name, value", [("QUERY_TIMEOUT", "soon"), ("MAX_ROWS", "-1"), ("EMPTY", "maybe"),
                                         ("SERVICE_ALLOWLIST", "not-an-iri")])
def test_bad_values_name_the_setting(name, value):
    with pytest.raises(SettingsError, match=name):
        load_settings({name: value}, environ={})
    with pytest.raises(SettingsError, match=f"BJKG_{name}"):
        load_settings(environ={f"BJKG_{name}": value})


def test_every_setting_is_documented():
    text = describe_settings()
    for setting in SETTINGS:
        assert setting.help and len(setting.help) > 20, setting.name
        assert setting.name in text and setting.env in text
    result = CliRunner().invoke(main, ["serve", "--help-settings"])
    assert result.exit_code == 0
    for setting in SETTINGS:
        assert setting.name in result.output


def test_public_settings_hide_the_token():
    shown = public_settings(load_settings({"UPDATE_TOKEN": "hunter2"}, environ={}))
    assert shown["UPDATE_TOKEN"] == "(set)"
    assert "hunter2" not in repr(shown)
    assert set(shown) == {s.name for s in SETTINGS}


def test_create_app_refuses_a_folder_that_is_not_a_build(tmp_path):
    with pytest.raises(BuildNotFound, match="bjkg build"):
        create_app({"BUILD_DIR": str(tmp_path)})


def test_create_app_opens_nothing_at_import_and_one_store_per_app(tiny_build):
    app = create_app({"BUILD_DIR": str(tiny_build), "QUERY_WORKERS": 1})
    try:
        state = app.extensions["bjkg"]
        assert state.manifest["hash"]
        assert state.store.pool._started is False  # worker processes start on first use
        with app.app_context():
            from bjkg.server.app import get_manifest, get_store

            assert get_store() is state.store
            assert get_manifest() is state.manifest
    finally:
        state.store.close()


def test_server_sizing_defaults_and_bounds(monkeypatch):
    import os

    from bjkg.server.runtime import serve

    monkeypatch.setattr(serve, "default_workers", lambda: 2)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})

    def settings(**values):
        return load_settings(values, environ={})

    assert serve.workers_for(settings()) == 2            # a build: default_workers()
    assert serve.workers_for(settings(EMPTY=True)) == 1  # one data process for --empty
    assert serve.workers_for(settings(), 5) == 5
    # query lane: every slot and queue place has a thread, plus two to refuse more at once
    assert serve.lanes(settings()) == (16 + 64 + 2, 2)
    assert serve.lanes(settings(QUERY_WORKERS=3, QUERY_QUEUE=1, PAGE_THREADS=4)) == (3 + 1 + 2, 4)
    assert serve.lanes(settings(SPARQL_ENDPOINT="http://x/sparql")) == (82, 8)  # page threads wait on it
    # the server's query slots on 2 cores: 16 (8 clients' runaways leave room), a quarter per client
    from bjkg.server.web.extension import query_limits

    assert query_limits(settings()) == {"size": 16, "queue": 64, "client_slots": 4, "memory_mb": 512,
                                        "cores": 2}
    assert query_limits(settings(QUERY_WORKERS=2))["client_slots"] == 1
    # QUERY_CPUS (0: one per core) is shared out among the HTTP workers `bjkg serve` started
    assert query_limits(settings(WORKERS=2))["cores"] == 1
    assert query_limits(settings(WORKERS=3))["cores"] == 1
    assert query_limits(settings(QUERY_CPUS=8, WORKERS=2))["cores"] == 4


def test_default_http_workers_are_one_per_core_at_least_two(monkeypatch):
    import os

    from bjkg.server.runtime import serve

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    assert serve.default_workers() == 2
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert serve.default_workers() == 2
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    assert serve.default_workers() == 8


def test_the_build_folder_is_a_setting_like_the_others(tiny_build, monkeypatch):
    """`--help-settings` lists BUILD_DIR with BJKG_BUILD_DIR, and `-s` sets any setting: both
    name the folder to serve when --build is not given (the default `_build` won over them)."""
    from bjkg.server.cli import main

    monkeypatch.chdir(tiny_build.parent)  # no _build folder here
    ways = (({}, ["-s", "BUILD_DIR", str(tiny_build)]), ({"BJKG_BUILD_DIR": str(tiny_build)}, []))
    for env, args in ways:
        result = CliRunner().invoke(main, ["serve", *args, "--get", "/index.json"], env=env)
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["triples"] > 0
    explicit = CliRunner().invoke(main, ["serve", "--build", str(tiny_build / "nope"), "-s", "BUILD_DIR",
                                         str(tiny_build), "--get", "/index.json"])
    assert explicit.exit_code != 0  # --build, when given, is the folder served


def test_a_misspelt_setting_is_refused_naming_the_closest(tiny_build):
    from bjkg.server.cli import main

    result = CliRunner().invoke(main, ["serve", "--build", str(tiny_build), "-s", "QUERY_TIMOUT", "10",
                                       "--get", "/index.json"])
    assert result.exit_code == 2
    assert "-s QUERY_TIMOUT: no such setting (did you mean QUERY_TIMEOUT" in result.output
    lower = CliRunner().invoke(main, ["serve", "--build", str(tiny_build), "-s", "query_timeout", "10",
                                      "--get", "/index.json"])
    assert lower.exit_code == 0, lower.output  # names are matched case-insensitively, as before
