"""The literal index answers in the evaluator process (issue #17).

`bjkg serve` prepares it once per build; every HTTP process's queries are evaluated in
lanes of one evaluator process, which loads it once (`bjkg.server.sparql.literal_index.PreparedTables`) instead
of each HTTP process holding its own copy. To see that the evaluator looks the string
filters up in it — the engine's answer is the same by design — the test puts in the cache
an index made from slightly different data: the answer then follows the index.
"""
from __future__ import annotations

import json
import pickle

import pyoxigraph as ox
import pytest

from bjkg.server.app import create_app
from bjkg.server.runtime.prepare import prepare
from bjkg.server.sparql import aggregates, literal_index

RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
JSON = "application/sparql-results+json"


@pytest.fixture()
def prepared(tiny_build, tmp_path):
    """The tiny build's tables prepared in a cache of its own: the settings of a pool-mode
    app over it, the cache, and the build's quads in memory."""
    settings = {"BUILD_DIR": str(tiny_build), "CACHE_DIR": str(tmp_path / "cache"), "TESTING": True,
                "IN_MEMORY_MAX_TRIPLES": 0}
    prepare(settings)
    copy = ox.Store()
    copy.extend(ox.Store.read_only(str(tiny_build / "store")))
    return settings, tmp_path / "cache", copy


def test_string_filters_are_looked_up_in_the_literal_index_by_the_evaluator_process(prepared):
    settings, cache, copy = prepared
    labels = [q for q in copy.quads_for_pattern(None, ox.NamedNode(RDFS_LABEL), None) if len(q.object.value) >= 3]
    counts: dict[str, int] = {}
    for quad in labels:
        counts[quad.object.value] = counts.get(quad.object.value, 0) + 1
    quad = next(q for q in labels if counts[q.object.value] == 1 and '"' not in q.object.value
                and "\\" not in q.object.value)
    copy.remove(quad)
    [path] = cache.glob("literals-*.pickle")  # replaced by an index without that one label
    path.write_bytes(pickle.dumps(literal_index.compute(copy), protocol=pickle.HIGHEST_PROTOCOL))
    query = f'SELECT ?s WHERE {{ ?s <{RDFS_LABEL}> ?l . FILTER(CONTAINS(?l, "{quad.object.value}")) }}'

    app = create_app(settings)
    store = app.extensions["bjkg"].store
    try:
        assert store.pool is not None, "the queries go to the evaluator process"
        engine = {row["s"].value for row in ox.Store.read_only(settings["BUILD_DIR"] + "/store").query(
            query, use_default_graph_as_union=True)}
        assert quad.subject.value in engine
        response = app.test_client().post("/sparql", data={"query": query}, headers={"Accept": JSON})
        assert response.status_code == 200, response.data
        answered = {b["s"]["value"] for b in json.loads(response.data)["results"]["bindings"]}
        assert quad.subject.value not in answered, "the literals the index holds, looked up"
        bad = app.test_client().post("/sparql", data={"query": query + " ORDER"}, headers={"Accept": JSON})
        assert bad.status_code == 400, "a text the engine refuses is refused as sent"

        store.load_prepared(final=True)
        assert literal_index.__name__ not in store._prepared, "the HTTP process holds no literal index"
        assert aggregates.__name__ in store._prepared, "the facet table is answered in the HTTP process"
    finally:
        store.close()
