"""String filters answered from the literal index (bjkg.server.sparql.literal_index) give the engine's answers.

Every query is run twice on the same store — as written, and as `rewrite` makes it — and the
solutions must be the same multiset; the shapes the rewrite must leave alone are checked to be
left alone, and the server is checked to use the index end to end.
"""
from __future__ import annotations

import json
import random
from collections import Counter

import pyoxigraph
import pytest

from bjkg.server.app import create_app
from bjkg.server.sparql import literal_index
from bjkg.server.runtime.prepare import prepare

RDFS = "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\nPREFIX bjkg: <https://w3id.org/bjkg/ontology#>\n"


def solutions(store, text: str) -> Counter:
    result = store.query(text, use_default_graph_as_union=True)
    if isinstance(result, pyoxigraph.QueryBoolean):
        return Counter([bool(result)])
    return Counter(tuple(str(t) for t in row) for row in result)


@pytest.fixture(scope="module")
def seed_store(real_build):
    return pyoxigraph.Store.read_only(str(real_build / "store"))


@pytest.fixture(scope="module")
def index(seed_store):
    return literal_index.compute(seed_store)


REWRITTEN = [
    'SELECT ?s ?l WHERE { ?s rdfs:label ?l . FILTER(CONTAINS(?l, "通州")) }',
    'SELECT ?s ?l WHERE { ?s rdfs:label ?l FILTER CONTAINS(?l, "通州") }',
    'SELECT ?s ?l WHERE { ?s rdfs:label ?l . FILTER(STRSTARTS(?l, "北京")) }',
    'SELECT ?s ?l WHERE { ?s rdfs:label ?l . FILTER(STRENDS(?l, "区")) }',
    'SELECT ?s ?l WHERE { ?s <http://www.w3.org/2000/01/rdf-schema#label> $l . FILTER(contains(?l, "Tongzhou")) }',
    'SELECT ?s ?l WHERE { ?s a bjkg:Place ; rdfs:label ?l . FILTER(CONTAINS(?l, "副中心") && lang(?l) = "zh-hans") }',
    'SELECT ?s ?l WHERE { ?s rdfs:label ?l . FILTER((CONTAINS(?l, "中关村"))) }',
    'SELECT ?s ?l ?q WHERE { ?s rdfs:label ?l ; bjkg:quote ?q . FILTER(CONTAINS(?q, "五子")) }',
    'SELECT ?s ?q WHERE { ?s bjkg:quote ?q . FILTER(CONTAINS(?q, "\\u901a\\u5dde")) }',
    'SELECT ?s WHERE { ?s a ?c . FILTER(CONTAINS(?c, "Place")) }',  # IRIs: never a string
    'SELECT ?s ?l WHERE { ?s rdfs:label ?l . FILTER(CONTAINS(?l, "no such text anywhere")) }',
    'SELECT ?s ?l WHERE { GRAPH ?g { ?s rdfs:label ?l . FILTER(CONTAINS(?l, "雄安")) } }',
    'SELECT ?p ?l WHERE { ?p a bjkg:Place . OPTIONAL { ?p rdfs:label ?l FILTER(CONTAINS(?l, "通州")) } }',
    'SELECT ?p WHERE { ?p a bjkg:Place . FILTER NOT EXISTS { ?p rdfs:label ?l FILTER(CONTAINS(?l, "通州")) } }',
    'SELECT ?s ?l WHERE { [] bjkg:involvesPlace ?s . ?s rdfs:label ?l . FILTER(CONTAINS(?l, "通州")) } ORDER BY ?s ?l LIMIT 5',
    'ASK { ?s rdfs:label ?l FILTER(STRSTARTS(?l, "北京市")) }',
]

LEFT_ALONE = [
    'SELECT ?s ?l WHERE { ?s rdfs:label ?l . FILTER(CONTAINS(?l, "通州") || CONTAINS(?l, "雄安")) }',
    'SELECT ?s ?l WHERE { ?s rdfs:label ?l . FILTER(CONTAINS(?l, "通州"@zh-hans)) }',
    'SELECT ?s ?l WHERE { ?s rdfs:label ?l . FILTER(CONTAINS(STR(?l), "通州")) }',
    'SELECT ?s ?l WHERE { ?s rdfs:label/rdfs:label ?l . FILTER(CONTAINS(?l, "通州")) }',
    'SELECT ?s ?l WHERE { ?s ^rdfs:label ?l . FILTER(CONTAINS(?l, "通州")) }',
    'SELECT ?s ?l WHERE { ?s a bjkg:Place . OPTIONAL { ?s rdfs:label ?l } FILTER(CONTAINS(?l, "通州")) }',
    'SELECT ?s ?l WHERE { { ?s rdfs:label ?l } UNION { ?s bjkg:quote ?l } FILTER(CONTAINS(?l, "通州")) }',
    'SELECT ?s ?l WHERE { ?s rdfs:label ?l . FILTER(CONTAINS(?l, "")) }',
    'BASE <https://w3id.org/> SELECT ?s ?l WHERE { ?s <x> ?l . FILTER(CONTAINS(?l, "通州")) }',
    'SELECT ?s ?l WHERE { ?s ?p ?l . FILTER(CONTAINS(?l, "通州")) }',
]


@pytest.mark.parametrize("query", REWRITTEN)
def test_rewritten_filters_give_the_engines_answer(seed_store, index, query):
    text = RDFS + query
    rewritten = literal_index.rewrite(text, index)
    assert rewritten is not None and "VALUES" in rewritten
    assert solutions(seed_store, rewritten) == solutions(seed_store, text)


@pytest.mark.parametrize("query", LEFT_ALONE)
def test_other_shapes_are_left_to_the_engine(index, query):
    assert literal_index.rewrite(RDFS + query, index) is None


def test_a_namespace_written_with_escapes_is_left_to_the_engine(seed_store, index):
    """`PREFIX r: <…rdf-schema\\u0023>` names rdfs: for the engine; the rewrite read the
    namespace undecoded, found no literal of such a predicate and answered no rows."""
    text = ("PREFIX r: <http://www.w3.org/2000/01/rdf-schema\\u0023>\n"
            'SELECT ?s ?l WHERE { ?s r:label ?l . FILTER(CONTAINS(?l, "北京")) }')
    assert literal_index.rewrite(text, index) is None
    assert sum(solutions(seed_store, text).values()) > 0


def test_the_rewrite_actually_narrows_the_candidates(index):
    text = RDFS + 'SELECT ?s WHERE { ?s rdfs:label ?l . FILTER(CONTAINS(?l, "通州")) }'
    values = literal_index.rewrite(text, index).split("VALUES ?l {", 1)[1].split("}", 1)[0]
    assert values.count('"') >= 2 and all("通州" in term for term in values.split('" ')[:-1])
    assert '@zh-hans' in values  # language tags as the store holds them


def test_random_needles_agree_with_the_engine(seed_store, index):
    """Substrings of real labels and quotes, at random positions (fixed seed)."""
    rng = random.Random(5)
    labels = [row[0].value for row in seed_store.query(
        "SELECT DISTINCT ?l WHERE { ?s <http://www.w3.org/2000/01/rdf-schema#label> ?l }",
        use_default_graph_as_union=True)]
    for _ in range(40):
        label = rng.choice(labels)
        start = rng.randrange(len(label))
        needle = label[start:start + rng.randint(1, 4)]
        function = rng.choice(literal_index.FUNCTIONS)
        escaped = needle.replace("\\", "\\\\").replace('"', '\\"')
        text = RDFS + f'SELECT ?s ?l WHERE {{ ?s rdfs:label ?l . FILTER({function}(?l, "{escaped}")) }}'
        rewritten = literal_index.rewrite(text, index)
        if rewritten is not None:
            assert solutions(seed_store, rewritten) == solutions(seed_store, text), (function, needle)


def test_too_many_matching_literals_are_left_to_the_engine(index, monkeypatch):
    text = RDFS + 'SELECT ?s ?l WHERE { ?s rdfs:label ?l . FILTER(CONTAINS(?l, "e")) }'
    monkeypatch.setattr(literal_index, "MAX_MATCHES", 3)
    assert literal_index.rewrite(text, index) is None


def test_literal_lookup_bounds():
    packed = literal_index._Packed([("abc", ""), ("xabcx", "@en"), ("ab", "@zh-hans")])
    assert packed.find("CONTAINS", "abc") == [0, 1]
    assert packed.find("STRSTARTS", "ab") == [0, 2]
    assert packed.find("STRENDS", "bc") == [0]
    assert packed.find("CONTAINS", "zz") == []
    assert packed.find("STRENDS", "abc") == [0]
    assert packed.find("STRSTARTS", "xabcx") == [1] and packed.find("STRENDS", "xabcx") == [1]
    assert packed.find("CONTAINS", "c") == [0, 1] and packed.find("STRSTARTS", "b") == []
    assert packed.terms([1, 2]) == ['"xabcx"@en', '"ab"@zh-hans']
    index = literal_index.LiteralIndex({"http://e/p": packed}, {"http://e/skipped"})
    assert index.matching("http://e/skipped", "CONTAINS", "a") is None
    assert index.matching("http://e/other", "CONTAINS", "a") == []
    assert index.matching("http://e/p", "CONTAINS", "") is None


def test_the_server_answers_string_filters_from_the_prepared_index(real_build, tmp_path, seed_store):
    cache = tmp_path / "cache"
    settings = {"BUILD_DIR": str(real_build), "CACHE_DIR": str(cache), "QUERY_MODE": "inline", "TESTING": True}
    prepare(settings)
    assert list(cache.glob("literals-*.pickle"))
    application = create_app(settings)
    try:
        store = application.extensions["bjkg"].store
        query = RDFS + 'SELECT ?s ?l WHERE { ?s rdfs:label ?l . FILTER(CONTAINS(?l, "通州")) }'
        assert store._string_filters(query) is not None
        response = application.test_client().post(
            "/sparql", data={"query": query}, headers={"Accept": "application/sparql-results+json"})
        assert response.status_code == 200
        got = Counter((b["s"]["value"], b["l"]["value"], b["l"].get("xml:lang"))
                      for b in json.loads(response.data)["results"]["bindings"])
        want = Counter((row[0].value, row[1].value, row[1].language)
                       for row in seed_store.query(query, use_default_graph_as_union=True))
        assert got == want and got
        bad = application.test_client().post(
            "/sparql", data={"query": RDFS + 'SELECT * WHERE { ?s rdfs:label ?l FILTER(CONTAINS(?l, "通州")) } ORDER'})
        assert bad.status_code == 400
    finally:
        application.extensions["bjkg"].store.close()
