"""The token-level rewrites: SERVICE redirection, variable binding, DESCRIBE, FROM, LIMIT, engine IRIs.

Each rewrite is checked by what pyoxigraph makes of the result: it must parse, and give
the same answers as the original query (or as SEP-0007 substitution) on a small store.
"""
from __future__ import annotations

import pyoxigraph
import pytest
from pyoxigraph import Literal, NamedNode, Quad

from bjkg.server.sparql.text import (analyse, describe_as_construct, limit_rows, redirect_services,
                                strip_dataset_clauses, substitute)
from bjkg.server.stores.remote import parse_only
from tests.server.test_sparql_text import test_every_spelling_of_service_is_found_with_its_target as spellings

U = "http://127.0.0.1:9/"
EX = "http://example.org/"
SERVICE_SPELLINGS = [mark.args[1] for mark in spellings.pytestmark if mark.name == "parametrize"][0]


@pytest.fixture(scope="module")
def store():
    data = pyoxigraph.Store()
    n = lambda x: NamedNode(EX + x)  # noqa: E731
    for s, p, o in [("a", "p", n("b")), ("b", "p", n("c")), ("a", "q", Literal("x", language="en")),
                    ("c", "p", n("a")), ("b", "q", Literal("y"))]:
        data.add(Quad(n(s), n(p), o, NamedNode(EX + "g")))
    return data


def answers(store, query, **options):
    result = store.query(query, use_default_graph_as_union=True, **options)
    if isinstance(result, pyoxigraph.QueryBoolean):
        return bool(result)
    if isinstance(result, pyoxigraph.QuerySolutions):
        names = [v.value for v in result.variables]
        return sorted(tuple(str(row[name]) for name in names) for row in result)
    return sorted(str(t) for t in result)


@pytest.mark.parametrize("query", SERVICE_SPELLINGS)
def test_every_spelling_of_service_can_be_redirected(query):
    relay = "http://127.0.0.1:1/secret/0"
    rewritten = redirect_services(query, analyse(query).services, lambda target: relay)
    assert [call.target for call in analyse(rewritten).services] == [relay]
    assert f"{U}s" not in rewritten.replace("\\u003A", ":")
    parse_only(pyoxigraph.Store(), rewritten, None)


@pytest.mark.parametrize("query, bound", [
    ("SELECT ?s ?o WHERE { ?s ?p ?o }", {"s": NamedNode(EX + "a")}),
    ("SELECT * WHERE { ?s ?p ?o }", {"s": NamedNode(EX + "b")}),
    ("SELECT ?s ?p (COUNT(?o) AS ?n) WHERE { ?s ?p ?o } GROUP BY ?s ?p", {"s": NamedNode(EX + "a")}),
    ("SELECT ?s ?x WHERE { { SELECT DISTINCT ?s ?x WHERE { ?x ?p ?s FILTER(isIRI(?x)) } } } ORDER BY ?x",
     {"s": NamedNode(EX + "a")}),
    ("SELECT ?s ?o WHERE { ?s ?p ?o FILTER(STR(?o) != STR(?s)) }", {"s": NamedNode(EX + "b")}),
    ("SELECT ?s ?o WHERE { ?s ?p ?o }", {"o": Literal("x", language="en")}),
    ("ASK { ?s ?p ?o }", {"s": NamedNode(EX + "nothing")}),
    ("CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }", {"s": NamedNode(EX + "a")}),
    ("CONSTRUCT WHERE { ?s ?p ?o }", {"p": NamedNode(EX + "q")}),
])
def test_binding_by_text_answers_as_substitution_does(store, query, bound):
    rewritten = substitute(query, bound)
    assert answers(store, rewritten) == answers(store, query, substitutions={
        pyoxigraph.Variable(k): v for k, v in bound.items()})


def test_bound_terms_are_serialised_never_pasted():
    text = substitute("SELECT ?o WHERE { ?s ?p ?o }", {"s": Literal('x" } ; DROP ALL ; #')})
    parse_only(pyoxigraph.Store(), text, None)
    assert analyse(text).form == "SELECT"
    with pytest.raises(ValueError):
        substitute("SELECT ?o WHERE { ?s ?p ?o }", {"s": pyoxigraph.BlankNode()})


@pytest.mark.parametrize("query", [
    f"DESCRIBE <{EX}a>",
    f"PREFIX : <{EX}> DESCRIBE :a <{EX}b>",
    f"DESCRIBE ?x WHERE {{ ?x <{EX}p> ?y }} ORDER BY ?x LIMIT 1",
    f"DESCRIBE ?x ?y {{ ?x <{EX}q> ?z . ?x <{EX}p> ?y }}",
    f"DESCRIBE ?y <{EX}c> {{ ?x <{EX}p> ?y }} VALUES ?x {{ <{EX}a> }}",
    f"DESCRIBE <{EX}nothing>",
])
def test_describe_as_construct_gives_the_embedded_stores_answer(store, query):
    assert answers(store, describe_as_construct(query)) == answers(store, query)


def test_from_clauses_are_removed_and_reported(store):
    query = f"PREFIX : <{EX}> SELECT * FROM :g FROM NAMED <{EX}h> WHERE {{ GRAPH ?g {{ ?s ?p ?o }} }}"
    analysis = analyse(query)
    assert analysis.from_graphs == [f"{EX}g"] and analysis.from_named_graphs == [f"{EX}h"]
    stripped = strip_dataset_clauses(query)
    assert "FROM" not in stripped and not analyse(stripped).dataset_clause
    parse_only(pyoxigraph.Store(), stripped, None)


@pytest.mark.parametrize("query", [
    "SELECT (<bif:http_get>('http://x/') AS ?x) {}",
    "SELECT (<BIF:http_get>('http://x/') AS ?x) {}",
    "SELECT (<\\u0062if:http_get>('http://x/') AS ?x) {}",
    "SELECT (<sql:RDF_SPONGE_UP>('http://x/') AS ?x) {}",
    "PREFIX v: <bif:> SELECT (v:http_get('http://x/') AS ?x) {}",
    "BASE <bif:> SELECT (<http_get>('http://x/') AS ?x) {}",
    "SELECT (bif:http_get('http://x/') AS ?x) {}",
])
def test_engine_function_iris_are_found_however_written(query):
    assert analyse(query).engine_functions


def test_ordinary_iris_are_not_engine_functions():
    assert not analyse(f"PREFIX bif: <{EX}> SELECT * {{ ?s bif:p 'bif:x' ; <{EX}sql:x> ?o }}").engine_functions


@pytest.mark.parametrize("query, expected", [
    ("SELECT * WHERE { ?s ?p ?o }", 3),
    ("SELECT * WHERE { ?s ?p ?o } LIMIT 2", 2),
    ("SELECT * WHERE { ?s ?p ?o } ORDER BY ?s LIMIT 100 OFFSET 1", 100),  # ordered: left as it is
    ("SELECT * WHERE { { SELECT * WHERE { ?s ?p ?o } LIMIT 4 } }", 3),
    ("SELECT ?s (COUNT(*) AS ?n) WHERE { ?s ?p ?o } GROUP BY ?s", 3),
    ("SELECT * WHERE { ?s ?p ?o } VALUES ?p { <http://example.org/p> }", 3),
])
def test_limit_rows_keeps_the_first_rows(store, query, expected):
    limited = limit_rows(query, 3)
    parse_only(pyoxigraph.Store(), limited, None)
    full = list(store.query(query, use_default_graph_as_union=True))
    cut = list(store.query(limited, use_default_graph_as_union=True))
    assert len(cut) == min(expected, len(full))


@pytest.mark.parametrize("query, order", [
    ("SELECT * WHERE { ?s ?p ?o }", ["s", "p", "o"]),
    ("SELECT DISTINCT * WHERE { ?zz <http://example.org/p> ?y FILTER(?unbound != 1) }", ["zz", "y"]),
    ("SELECT * { VALUES (?b ?a) { (1 2) } BIND(?a + ?b AS ?c) }", ["b", "a", "c"]),
    ("SELECT * { { SELECT ?x (COUNT(*) AS ?n) { ?x ?p ?o } GROUP BY ?x } OPTIONAL { ?x <http://example.org/q> ?l } }",
     ["x", "n", "l"]),
    ("SELECT * { ?s ?p ?o MINUS { ?s ?q ?hidden } } ORDER BY ?o", ["s", "p", "o"]),
    ("SELECT * { ?s ?p ?o } VALUES ?w { 1 }", ["s", "p", "o", "w"]),
])
def test_select_star_is_written_out_in_the_order_of_the_query_with_the_same_answers(store, query, order):
    """`evaluate` writes the engine's own in-scope variables of `SELECT *` in the order they
    first appear (a variable only in a FILTER or a MINUS is not one), and the answers stay
    those of the query as sent."""
    from bjkg.server.sparql.evaluate import QueryRequest, evaluate

    answer = evaluate(store, QueryRequest(sparql=query, union_default_graph=True, select_star=True))
    assert list(answer.variables) == order
    plain = evaluate(store, QueryRequest(sparql=query, union_default_graph=True))
    assert sorted(plain.variables) == sorted(order)
    rows = lambda a: sorted(tuple(str(r.get(v)) for v in order) for r in a.bindings())  # noqa: E731
    assert rows(answer) == rows(plain)


def test_select_star_of_a_service_query_is_not_asked_of_the_engine_twice():
    """Finding the columns of `SELECT *` evaluates the query over an empty store; with a
    SERVICE in it that would call the service once more (ORDER BY evaluates at once), so
    such a query keeps the engine's order and nobody is called."""
    import socket
    import threading

    from bjkg.server.sparql.evaluate import in_query_order

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.3)
    port = listener.getsockname()[1]
    text = f"SELECT * {{ SERVICE <http://127.0.0.1:{port}/sparql> {{ ?s ?p ?o }} }} ORDER BY ?o"
    answers = []
    asking = threading.Thread(target=lambda: answers.append(in_query_order(text)), daemon=True)
    try:
        asking.start()  # a call would wait for the listener's answer for good: not in the test's thread
        with pytest.raises(TimeoutError):
            listener.accept()[0].close()
        asking.join(5)
        assert answers == [text]
    finally:
        listener.close()
