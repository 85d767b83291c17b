"""Post holdings: the asserted graphs say org:heldBy (the ORG term of the reference list);
org:holds, its inverse in the ontology, is an OWL-RL entailment and lives only in
graph/inferred, while the union default graph still answers queries that use it."""
from __future__ import annotations


ORG = "http://www.w3.org/ns/org#"
ID = "https://w3id.org/bjkg/id/"
INFERRED = "https://w3id.org/bjkg/graph/inferred"


def _pairs(store, query: str, **kw) -> list[tuple[str, str, str]]:
    return [tuple(t.value for t in row) for row in store.query(query, **kw)]


def test_holds_is_inferred_not_asserted(store):
    held_by = _pairs(store, f"SELECT ?g ?post ?person WHERE {{ GRAPH ?g {{ ?post <{ORG}heldBy> ?person }} }}")
    holds = _pairs(store, f"SELECT ?g ?person ?post WHERE {{ GRAPH ?g {{ ?person <{ORG}holds> ?post }} }}")
    assert held_by and all(g != INFERRED for g, _, _ in held_by)  # asserted, in the sources' graphs
    assert {g for g, _, _ in holds} == {INFERRED}  # no asserted graph holds the entailment
    assert sorted((person, post) for _, person, post in holds) == \
        sorted((person, post) for _, post, person in held_by)


def test_the_union_default_graph_answers_holds(store):
    """Queries that use org:holds keep their answers, each once (inferred included)."""
    union = {"use_default_graph_as_union": True}
    holds = _pairs(store, f"SELECT ?person ?post WHERE {{ ?person <{ORG}holds> ?post }}", **union)
    held_by = _pairs(store, f"SELECT ?person ?post WHERE {{ ?post <{ORG}heldBy> ?person }}", **union)
    assert len(holds) == len(set(holds)) and sorted(holds) == sorted(held_by)
    assert (f"{ID}person/yin-yong", f"{ID}post/beijing-acting-mayor") in holds


def test_has_post_is_inferred_from_post_in(store):
    """org:hasPost, the inverse of the asserted org:postIn in the ontology (as in the W3C
    ORG Recommendation), is kept among the entailments: an organisation's posts are found
    from either side (it was computed by the reasoner and dropped)."""
    post_in = _pairs(store, f"SELECT ?g ?post ?org WHERE {{ GRAPH ?g {{ ?post <{ORG}postIn> ?org }} }}")
    has_post = _pairs(store, f"SELECT ?g ?org ?post WHERE {{ GRAPH ?g {{ ?org <{ORG}hasPost> ?post }} }}")
    assert post_in and INFERRED not in {g for g, _, _ in post_in}
    assert {g for g, _, _ in has_post} == {INFERRED}
    assert sorted((org, post) for _, org, post in has_post) == sorted((org, post) for _, post, org in post_in)
