"""`bjkg serve` answers before its per-build tables are prepared (issue 17, load → first answer).

The tables (search index, star aggregates, literal index, label table) are prepared in one
process beside the server (bjkg.server.runtime.serve._prepare_in_background); each HTTP worker
(`_warm`) starts its query workers, answers at once, and picks the tables up from a thread as
they appear. Until then SPARQL is the engine's answer as written, the search a 503 with
Retry-After; once they are there the fast paths are taken. A failed preparation leaves each
worker to build its own search index.
"""
from __future__ import annotations

import gc
import time

import pytest

from bjkg.server.app import create_app
from bjkg.server.core.prepared import STATE_ENV
from bjkg.server.sparql import aggregates

BJKG = "https://w3id.org/bjkg/ontology#"
STAR = (f"SELECT ?i (COUNT(*) AS ?n) WHERE {{ ?s <{BJKG}indicator> ?i ; "
        "a <http://purl.org/linked-data/cube#Observation> } GROUP BY ?i ORDER BY ?i")
JSON = "application/sparql-results+json"


@pytest.fixture()
def warming(tiny_build, tmp_path, monkeypatch):
    """A worker warmed as under `bjkg serve` whose preparation has not ended yet: (app, settings, state file)."""
    from bjkg.server.runtime.serve import _warm

    monkeypatch.setattr(aggregates, "MIN_TRIPLES", 1)  # the tiny build's predicates are small
    state = tmp_path / "prepared"
    monkeypatch.setenv(STATE_ENV, str(state))
    settings = {"BUILD_DIR": str(tiny_build), "CACHE_DIR": str(tmp_path / "cache"), "QUERY_MODE": "inline",
                "TESTING": True, "IN_MEMORY_MAX_TRIPLES": 0}
    app = _warm(create_app(settings))
    try:
        yield app, settings, state
    finally:
        app.extensions["bjkg"].store.prepared_pending = False
        state.write_text("done\n")  # the worker's thread stops
        gc.unfreeze()
        app.extensions["bjkg"].store.close()


def _ready(store, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while store.prepared_pending:
        assert time.monotonic() < deadline, "the prepared tables were never picked up"
        time.sleep(0.05)


def _engine_answer(tiny_build, tmp_path) -> bytes:
    plain = create_app({"BUILD_DIR": str(tiny_build), "CACHE_DIR": str(tmp_path / "none"), "QUERY_MODE": "inline",
                        "TESTING": True, "IN_MEMORY_MAX_TRIPLES": 0})
    try:
        response = plain.test_client().post("/sparql", data={"query": STAR}, headers={"Accept": JSON})
        assert response.status_code == 200
        return response.data
    finally:
        plain.extensions["bjkg"].store.close()


def test_before_the_tables_are_ready_sparql_is_the_engines_and_after_the_tables_answer(
        warming, tiny_build, tmp_path, monkeypatch):
    from bjkg.server.runtime.prepare import prepare

    app, settings, state = warming
    store = app.extensions["bjkg"].store
    client = app.test_client()
    expected = _engine_answer(tiny_build, tmp_path)

    engine_runs = []
    run = store._run
    monkeypatch.setattr(store, "_run", lambda *a, **k: engine_runs.append(1) or run(*a, **k))
    assert store.prepared_pending
    response = client.post("/sparql", data={"query": STAR}, headers={"Accept": JSON})
    assert response.status_code == 200 and response.data == expected
    assert engine_runs == [1]  # nothing prepared yet: the engine answered, as written
    assert aggregates.__name__ not in store._prepared  # and no request loaded (or gave up on) the table

    searched = client.get("/search.json?q=Tongzhou")
    assert searched.status_code == 503 and searched.headers["Retry-After"] == "5"
    assert "being prepared" in searched.get_data(as_text=True)
    assert client.get("/id/place/tongzhou", headers={"Accept": "text/html"}).status_code == 200  # pages work

    prepare(settings)  # what the background process writes into CACHE_DIR
    state.write_text("done\n")
    _ready(store)
    assert store._prepared_data(aggregates) is not None and store.label_table() is not None

    engine_runs.clear()
    response = client.post("/sparql", data={"query": STAR}, headers={"Accept": JSON})
    assert response.status_code == 200 and response.data == expected
    assert engine_runs == []  # the star aggregate came from the table
    searched = client.get("/search.json?q=Tongzhou")
    assert searched.status_code == 200 and searched.get_json()["count"] >= 1


def test_each_table_is_picked_up_as_its_file_appears(warming):
    from bjkg.server.stores import label_table

    app, settings, state = warming
    store = app.extensions["bjkg"].store
    cache, build_hash = settings["CACHE_DIR"], store.manifest["hash"]
    label_table.prepare(str(store.build_dir / "store"), cache, build_hash)
    deadline = time.monotonic() + 20
    while store._prepared.get(label_table.__name__) is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert store.prepared_pending and aggregates.__name__ not in store._prepared  # the others still awaited


def test_a_failed_preparation_leaves_the_worker_to_build_its_search_index(warming):
    app, _settings, state = warming
    store = app.extensions["bjkg"].store
    state.write_text("failed: exit status 1\n")  # nothing was written into CACHE_DIR
    _ready(store)
    assert store._prepared == {"bjkg.server.sparql.aggregates": None, "bjkg.server.stores.label_table": None,
                               "bjkg.server.sparql.literal_index": None}
    searched = app.test_client().get("/search.json?q=Tongzhou")
    assert searched.status_code == 200 and searched.get_json()["count"] >= 1
    response = app.test_client().post("/sparql", data={"query": STAR}, headers={"Accept": JSON})
    assert response.status_code == 200 and response.get_json()["results"]["bindings"]
