"""The lexical checks run before any query: form, FROM, SERVICE targets, LOAD, USING rewrite."""
from __future__ import annotations

import re

import pyoxigraph
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bjkg.server.sparql.text import (DatasetConflict, SparqlTextError, add_using, analyse, select_star,
                                     tokenize)

U = "http://127.0.0.1:9/"


@pytest.mark.parametrize("query", [
    f"SELECT * {{ SERVICE <{U}s> {{ ?s ?p ?o }} }}",
    f"select * {{ service <{U}s> {{ ?s ?p ?o }} }}",
    f"SELECT * {{ SERVICE<{U}s>{{ ?s ?p ?o }} }}",
    f"SELECT * {{ SERVICE SILENT <{U}s> {{ ?s ?p ?o }} }}",
    f"SELECT * {{ SERVICESILENT <{U}s> {{ ?s ?p ?o }} }}",
    f"PREFIX : <{U}> SELECT * {{ SERVICE:s {{ ?s ?p ?o }} }}",
    f"PREFIX x: <{U}> SELECT * {{ SERVICE x:s {{ ?s ?p ?o }} }}",
    f"PREFIX x: <{U}> SELECT * {{ SERVICEx:s {{ ?s ?p ?o }} }}",
    f"PREFIX : <{U}> SELECT * {{ SERVICE SILENT:s {{ ?s ?p ?o }} }}",
    f"SELECT * {{ ?s ?p trueSERVICE <{U}s> {{ ?s ?p ?o }} }}",
    f"SELECT * {{ ?s ?p 1 SERVICE <{U}s> {{ ?s ?p ?o }} }}",
    f"BASE <{U}> SELECT * {{ SERVICE <s> {{ ?s ?p ?o }} }}",
    f"SELECT * {{ SERVICE #comment\n <{U}s> {{ ?s ?p ?o }} }}",
    f"SELECT * {{ OPTIONAL {{ SERVICE <{U}s> {{ ?s ?p ?o }} }} }}",
    f"SELECT * {{ FILTER EXISTS {{ SERVICE <{U}s> {{ ?s ?p ?o }} }} }}",
    f"ASK {{ SERVICE <{U}s> {{ ?s ?p ?o }} }}",
    f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ SERVICE <{U}s> {{ ?s ?p ?o }} }}",
    f"DESCRIBE ?s {{ SERVICE <{U}s> {{ ?s ?p ?o }} }}",
    f"SELECT * {{ SERVICE <http://127.0.0.1\\u003A9/s> {{ ?s ?p ?o }} }}",
])
def test_every_spelling_of_service_is_found_with_its_target(query):
    services = analyse(query).services
    assert len(services) == 1
    assert services[0].target == f"{U}s"
    assert analyse(query).refused_services([]) == services
    assert analyse(query).refused_services([f"{U}s"]) == []


def test_service_with_a_variable_has_no_known_target_and_is_always_refused():
    analysis = analyse("SELECT * { VALUES ?u { <http://a> } SERVICE ?u { ?s ?p ?o } }")
    assert [s.target for s in analysis.services] == [None]
    assert analysis.refused_services(["http://a"]) == analysis.services


@pytest.mark.parametrize("query", [
    f"SELECT * {{ ?s ?p 'SERVICE <{U}s> {{}}' }}",
    f'SELECT * {{ ?s ?p """ a "quoted" \n SERVICE <{U}s> {{}} """ }}',
    f"SELECT * {{ ?s ?p ?o # SERVICE <{U}s> {{}}\n }}",
    f"SELECT * {{ ?s <{U}SERVICE> ?o }}",
    f"PREFIX ex: <{U}> SELECT * {{ ?s ex:SERVICE ?o }}",
    "SELECT ?service WHERE { ?service ?p ?o }",
    'SELECT * { ?s ?p "x"@service }',
])
def test_service_in_strings_iris_comments_names_and_variables_is_not_a_call(query):
    assert analyse(query).services == []


def test_query_form_and_dataset_clause():
    assert analyse("PREFIX a: <http://a/> BASE <http://b/> select * {}").form == "SELECT"
    assert analyse('VERSION "1.2" ASK {}').form == "ASK"
    assert analyse("# hi\nCONSTRUCT WHERE { ?s ?p ?o }").form == "CONSTRUCT"
    assert analyse("describe <http://a>").form == "DESCRIBE"
    assert analyse("INSERT DATA { <http://a> <http://b> <http://c> }").form == "UPDATE"
    assert analyse("SELECT * FROM <http://g> { ?s ?p ?o }").dataset_clause
    assert analyse("SELECT * FROM NAMED <http://g> { GRAPH ?g { ?s ?p ?o } }").dataset_clause
    assert not analyse("SELECT ?from { ?from ?p 'FROM' }").dataset_clause


def test_load_is_found_in_updates():
    assert analyse(f"LOAD <{U}x>").loads == [(1, 1)]
    assert analyse(f"CLEAR ALL ;\nLOAD<{U}x> INTO GRAPH <http://g>").loads == [(2, 1)]
    assert analyse(f"LOAD SILENT <{U}x>").loads
    assert not analyse("INSERT DATA { <http://a> <http://b> 'LOAD <x>' }").loads


def test_lexer_errors_name_the_place():
    with pytest.raises(SparqlTextError, match="line 2, column 6"):
        list(tokenize("SELECT *\n{ ?s 'abc }"))


@pytest.mark.parametrize("text, tokens", [
    ("a:b. ?x", [("PNAME", "a:b"), ("PUNCT", "."), ("VAR", "?x")]),  # a name ends before its dots
    ("x.:y", [("WORD", "x"), ("PUNCT", "."), ("PNAME", ":y")]),
    (":a.b..", [("PNAME", ":a.b"), ("PUNCT", "."), ("PUNCT", ".")]),
    ("ex:a\\..", [("PNAME", "ex:a\\."), ("PUNCT", ".")]),  # an escaped dot is the name's
    ("ex:%41b.", [("PNAME", "ex:%41b"), ("PUNCT", ".")]),
    ("_:b1.", [("PNAME", "_:b1"), ("PUNCT", ".")]),
    ("PREFIX sdmx-dim: <x> sdmx-dim:a.b",
     [("WORD", "PREFIX"), ("PNAME", "sdmx-dim:"), ("IRI", "<x>"), ("PNAME", "sdmx-dim:a.b")]),
    ("<a <= <http://x/> <<", [("PUNCT", "<"), ("WORD", "a"), ("PUNCT", "<="), ("IRI", "<http://x/>"),
                              ("PUNCT", "<<")]),
    (".5e3 1. 1.e2", [("NUMBER", ".5e3"), ("NUMBER", "1."), ("NUMBER", "1.e2")]),
    ("?x ? $", [("VAR", "?x"), ("PUNCT", "?"), ("PUNCT", "$")]),
    ("@en-US @ 'a' \"\"\"b\n\"\"\"", [("LANGTAG", "@en-US"), ("PUNCT", "@"), ("STRING", "'a'"),
                                    ("STRING", '"""b\n"""')]),
    ("a#c\n:b #", [("WORD", "a"), ("PNAME", ":b")]),
    ("x\u00a0y\u2028z\t", [("WORD", "x"), ("WORD", "y"), ("WORD", "z")]),
    ("^^ && || != ~ {| |}", [("PUNCT", p) for p in ("^^", "&&", "||", "!=", "~", "{|", "|}")]),
])
def test_the_lexer_splits_tricky_text(text, tokens):
    assert [(t.kind, t.text) for t in tokenize(text)] == tokens


_SPACE = " \t\r\n\f\v\u00a0\u2028\u2029\ufeff"
_LEXER_PIECES = [" ", "\n", "\r", "\t", "\u00a0", "#", "<", ">", '"', "'", "?", "$", "@", "0", "5", ".", ":", "_",
                 "-", "a", "Z", "é", "中", "^", "&", "|", "=", "!", "{", "}", "(", ")", "~", "*", "\\", "%",
                 "e", "\x00", '"""', "'''", "<http://x/>", "SELECT", "a:b", "\\u0041", "@en", "1.5e3"]


def _skipped(gap: str) -> bool:
    """Whether `gap` is only whitespace and comments (a comment ends at a line break)."""
    return re.fullmatch(f"(?:[{_SPACE}]+|#[^\\r\\n]*)*", gap) is not None


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_LEXER_PIECES), max_size=30).map("".join))
def test_tokens_cover_the_text_but_whitespace_and_comments(text):
    """Every character is in a token, in order, or in whitespace or a comment between
    them; an unterminated string is the one error."""
    try:
        tokens = list(tokenize(text))
    except SparqlTextError:
        assert "'" in text or '"' in text
        return
    at = 0
    for token in tokens:
        assert token.start >= at and text[token.start:token.start + len(token.text)] == token.text
        assert token.text and _skipped(text[at:token.start])
        at = token.start + len(token.text)
    assert _skipped(text[at:])


def test_add_using_inserts_validated_clauses_before_where():
    update = ("PREFIX dc: <http://purl.org/dc/terms/> CLEAR ALL ; "
              "INSERT DATA { GRAPH <http://a> { <http://a> a <http://b> } } ; "
              "INSERT { GRAPH <http://t> { ?s a dc:X } } WHERE { ?s a dc:Y }")
    rewritten = add_using(update, ["http://d1"], ["http://n1"])
    assert rewritten.endswith("USING <http://d1> USING NAMED <http://n1> WHERE { ?s a dc:Y }")
    assert rewritten.count("USING") == 2
    pyoxigraph.Store().update(rewritten)  # still valid SPARQL Update
    assert add_using(update, [], []) == update


@pytest.mark.parametrize("update", [
    "WITH <http://a> DELETE { ?s ?p ?o } WHERE { ?s ?p ?o }",
    "DELETE { ?s ?p ?o } USING <http://x> WHERE { ?s ?p ?o }",
    "DELETE WHERE { ?s ?p ?o }",
])
def test_add_using_refuses_conflicts(update):
    with pytest.raises(DatasetConflict):
        add_using(update, ["http://d"], [])


def test_add_using_rejects_invalid_iris():
    with pytest.raises(ValueError):
        add_using("INSERT { ?s ?p ?o } WHERE { ?s ?p ?o }", ["not an iri"], [])


@pytest.mark.parametrize("text, found", [
    ("SELECT * WHERE { ?s ?p ?o }", (7, ("s", "p", "o"), False)),
    ("PREFIX a: <x:>\nselect distinct* { ?zz a:b $aa . ?zz a:c ?b }", (30, ("zz", "aa", "b"), False)),
    ("# SELECT ?x\nSELECT * { { SELECT * { ?b ?a ?c } } }", (19, ("b", "a", "c"), False)),
    ("SELECT * { SERVICE <http://x/> { ?s ?p ?o } }", (7, ("s", "p", "o"), True)),
    ("SELECT ?x { ?x ?p ?o }", None),
    ("SELECT (1 AS ?x) {}", None),
    ("ASK { ?a ?b ?c }", None),
    ("CONSTRUCT { ?s ?p ?o } WHERE { { SELECT * { ?s ?p ?o } } }", None),
    ('SELECT * { ?s ?p "unterminated }', None),
])
def test_select_star_finds_the_outermost_star_and_the_variables_in_order(text, found):
    assert select_star(text) == found
    if found:
        assert text[found[0]] == "*" and analyse(text).select_star
