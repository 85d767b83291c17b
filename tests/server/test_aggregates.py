"""Star aggregates (bjkg.server.sparql.aggregates) give the engine's answers, or none.

Differential: Hypothesis draws small datasets (subjects with zero, one or more values per
predicate, IRIs, blank nodes, literals with language tags and datatypes — some written in
two lexical forms of one value —, the same triple in two named graphs) and queries from a
grammar (star patterns with fixed values present or absent, grouping variables, COUNT
variants, ORDER BY, LIMIT/OFFSET, and decorations that must fall back: FILTER, OPTIONAL,
HAVING, UNION, GRAPH, paths …). Both the engine (pyoxigraph over the same store, union
default graph, as the server queries it) and the table answer; whenever the table answers,
its rows are the engine's as a multiset of RDF terms (in order where the query or the facet
shape fixes one). Plain tests then pin which shapes the table does answer, and which not,
and the wiring through the SPARQL endpoint in every results format.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from decimal import Decimal, InvalidOperation

import pyoxigraph as ox
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bjkg.server.sparql import aggregates

E = "http://e/"
XSD = "http://www.w3.org/2001/XMLSchema#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
PREFIXES = f"PREFIX e: <{E}> PREFIX xsd: <{XSD}>\n"

SUBJECTS = [ox.NamedNode(f"{E}s{i}") for i in range(5)] + [ox.BlankNode("b0"), ox.BlankNode("b1")]
PREDICATES = [f"{E}p0", f"{E}p1", f"{E}p2", RDF_TYPE]
OBJECTS = [
    ox.NamedNode(f"{E}o0"), ox.NamedNode(f"{E}o1"), ox.NamedNode(f"{E}O2"), ox.NamedNode(f"{E}é"),
    ox.NamedNode(f"{E}o1/x"), ox.BlankNode("b1"),
    ox.Literal("a"), ox.Literal("a", language="en"), ox.Literal("a", language="en-GB"),
    ox.Literal("5", datatype=ox.NamedNode(XSD + "integer")), ox.Literal("05", datatype=ox.NamedNode(XSD + "integer")),
    ox.Literal("1.0", datatype=ox.NamedNode(XSD + "decimal")), ox.Literal("x", datatype=ox.NamedNode(E + "dt")),
    ox.Literal("true", datatype=ox.NamedNode(XSD + "boolean")), ox.Literal("5", datatype=ox.NamedNode(XSD + "string")),
    ox.Literal("b"), ox.Literal("é"), ox.Literal("B"), ox.Literal("-2.5", datatype=ox.NamedNode(XSD + "decimal")),
    ox.Literal("1e3", datatype=ox.NamedNode(XSD + "double")), ox.Literal("10", datatype=ox.NamedNode(XSD + "integer")),
    ox.Literal("1", datatype=ox.NamedNode(XSD + "float")), ox.Literal("NaN", datatype=ox.NamedNode(XSD + "double")),
    ox.Literal("x1", datatype=ox.NamedNode(XSD + "integer")),
]
GRAPHS = [ox.NamedNode(f"{E}g0"), ox.NamedNode(f"{E}g1")]

# how a query may write a fixed object: some terms of OBJECTS in several forms, and absent ones
CONSTANTS = ["e:o0", f"<{E}o1>", "e:O2", f"<{E}é>", "e:none", "'a'", '"a"@en', '"a"@EN-gb', "5", '"05"^^xsd:integer',
             "1.0", "1.00", f'"x"^^<{E}dt>', "true", '"5"^^xsd:string', '"zzz"', "6"]
VERBS = ["e:p0", f"<{E}p1>", "e:p2", "a"] * 4 + ["e:absent"]
VARS = ["x", "y", "z"]
COUNTS = ["(COUNT(*) AS ?n)", "(COUNT(?s) AS ?n)", "(COUNT(DISTINCT ?s) AS ?n)", "(COUNT(?{v}) AS ?n)",
          "(COUNT(DISTINCT ?{v}) AS ?n)"]
# each must make the table decline: the engine evaluates these as written
DECORATIONS = [
    ("pattern", "FILTER(?{v} != e:o0)"), ("pattern", "OPTIONAL {{ ?s e:p1 ?w }}"),
    ("pattern", "{{ ?s e:p0 ?w }} UNION {{ ?s e:p1 ?w }}"), ("pattern", "GRAPH ?g {{ ?s e:p0 ?w }}"),
    ("pattern", "BIND(1 AS ?w)"), ("pattern", "VALUES ?w {{ 1 2 }}"), ("pattern", "?s e:p0/e:p1 ?w"),
    ("pattern", "?s ^e:p0 ?w"), ("pattern", "?w e:p0 ?s"), ("pattern", "{{ SELECT ?s WHERE {{ ?s e:p0 ?w }} }}"),
    ("pattern", "MINUS {{ ?s e:p1 e:o0 }}"), ("pattern", "?s e:p0 [ e:p1 ?w ]"), ("pattern", "?s ?w e:o0"),
    ("tail", "HAVING (COUNT(*) > 1)"), ("tail", "VALUES ?{v} {{ e:o0 }}"),
    ("head", "FROM e:g0"), ("head", "FROM NAMED e:g0"),
]


KINDS = [  # a predicate's values: all IRIs, all plain strings, all numbers, or any terms
    [o for o in OBJECTS if isinstance(o, ox.NamedNode)],
    [o for o in OBJECTS if isinstance(o, ox.Literal) and o.datatype.value == XSD + "string"],
    [o for o in OBJECTS if isinstance(o, ox.Literal) and o.datatype.value.split("#")[-1] in
     ("integer", "decimal", "float", "double")],
    OBJECTS,
]


@st.composite
def datasets(draw):
    """Each subject has zero, one or two values of each predicate, each in one graph or both."""
    subjects = SUBJECTS[:draw(st.integers(1, len(SUBJECTS)))]
    quads = []
    for p in PREDICATES:
        objects = st.sampled_from(draw(st.lists(st.sampled_from(draw(st.sampled_from(KINDS))), min_size=1,
                                                unique_by=str)))  # few values, or many
        for s in subjects:
            for o in draw(st.lists(objects, max_size=draw(st.sampled_from([0, 1, 1, 2, 2])))):
                for g in draw(st.sampled_from([GRAPHS[:1], GRAPHS[1:], GRAPHS[:1], GRAPHS])):
                    quads.append(ox.Quad(s, ox.NamedNode(p), o, g))
    return quads


@st.composite
def queries(draw):
    """A star aggregate, sometimes decorated with what must fall back (True as second)."""
    patterns = []
    for _ in range(draw(st.integers(1, 3))):
        verb = draw(st.sampled_from(VERBS))
        if draw(st.integers(0, 2)):
            obj = "?" + draw(st.sampled_from(VARS))
        else:
            obj = draw(st.sampled_from(CONSTANTS))
        patterns.append((verb, obj))
    used = [o[1:] for _, o in patterns if o.startswith("?")]
    group = [v for v in dict.fromkeys(used) if draw(st.booleans())]  # some variables left ungrouped
    shown = draw(st.permutations(group)) if group else []
    shown = shown[:draw(st.integers(0, len(shown)))] if draw(st.integers(0, 4)) == 0 else shown
    counts = []
    for template in draw(st.lists(st.sampled_from(COUNTS), max_size=2, unique=True)):
        if "{v}" in template:
            if not used:
                continue
            template = template.replace("{v}", draw(st.sampled_from(used)))
        counts.append(template.replace("?n", f"?n{len(counts)}"))
    outputs = [f"?{v}" for v in shown] + counts
    if not outputs:
        outputs = ["(COUNT(*) AS ?n9)"]
    outputs = draw(st.permutations(outputs))
    names = [o.split()[-1].rstrip(")") if o.startswith("(") else o for o in outputs]
    body = _body(draw, patterns)
    head = "SELECT " + ("DISTINCT " if draw(st.integers(0, 5)) == 0 else "")
    tail = ""
    if group or draw(st.booleans()) and used:
        tail += " GROUP BY " + " ".join(f"?{v}" for v in (group or [draw(st.sampled_from(used))]))
    if draw(st.integers(0, 2)) == 0:
        keys = draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
        if group and draw(st.booleans()):  # every grouping variable: a total order
            keys = keys[:draw(st.integers(0, 1))] + [f"?{v}" for v in draw(st.permutations(group))]
            keys = list(dict.fromkeys(keys))
        tail += " ORDER BY " + " ".join(draw(st.sampled_from(["{}", "ASC({})", "DESC({})"])).format(k) for k in keys)
    if draw(st.integers(0, 3)) == 0:
        tail += f" LIMIT {draw(st.integers(0, 4))}"
    if draw(st.integers(0, 3)) == 0:
        tail += f" OFFSET {draw(st.integers(0, 3))}"
    decorated = False
    if draw(st.integers(0, 5)) == 0:
        where, text = draw(st.sampled_from(DECORATIONS))
        text = text.format(v=used[0] if used else "s")
        decorated = True
        if where == "pattern":
            body = body[:-1] + " . " + text + " }"
        elif where == "tail":
            tail = _insert_after_group(tail, text)
        else:
            head_from = text
            return (PREFIXES + head + " ".join(outputs) + f" {head_from} WHERE " + body + tail, decorated)
    return PREFIXES + head + " ".join(outputs) + " WHERE " + body + tail, decorated


def _body(draw, patterns) -> str:
    text = "{ ?s"
    for i, (verb, obj) in enumerate(patterns):
        if i:
            text += draw(st.sampled_from([" ;", " . ?s", " ; ; "]))
        text += f" {verb} {obj}"
    return text + draw(st.sampled_from([" }", " . }", " ; }"]))


def _insert_after_group(tail: str, text: str) -> str:
    if "VALUES" in text:
        return tail + " " + text
    at = tail.find(" ORDER BY")
    at = tail.find(" LIMIT") if at < 0 else at
    at = tail.find(" OFFSET") if at < 0 else at
    return (tail + " " + text) if at < 0 else tail[:at] + " " + text + tail[at:]


def _store(quads) -> ox.Store:
    store = ox.Store()
    store.extend(quads)
    return store


def engine_answer(store, query: str):
    """(variables, bindings) as the engine gives them, or None when it refuses the query."""
    try:
        body = store.query(query, use_default_graph_as_union=True).serialize(format=ox.QueryResultsFormat.JSON)
    except (SyntaxError, ValueError, OSError):
        return None
    document = json.loads(body)
    return document["head"]["vars"], document["results"]["bindings"]


def table_answer(table, query: str):
    star = aggregates.match(query)
    body = table.answer(star) if star is not None else None
    if body is None:
        return None
    document = json.loads(body)
    return document["head"]["vars"], document["results"]["bindings"]


def _multiset(bindings) -> Counter:
    return Counter(json.dumps(b, sort_keys=True, ensure_ascii=False) for b in bindings)


def _uncut(query: str) -> str:
    """The query without its LIMIT and OFFSET (the generated ones end the text)."""
    return re.sub(r"\s+(LIMIT|OFFSET)\s+\d+", "", query)


_XSD = "http://www.w3.org/2001/XMLSchema#"
_NUMERIC = {_XSD + name for name in (
    "integer decimal float double long int short byte nonNegativeInteger positiveInteger "
    "nonPositiveInteger negativeInteger unsignedLong unsignedInt unsignedShort unsignedByte").split()}


def _rank(binding: dict | None) -> str:
    """An ORDER BY key as the engine ranks it: numbers by value, so that "1"^^xsd:float and
    1.0 are one key (tied: SPARQL leaves their order open), anything else as the term."""
    if binding and binding.get("type") == "literal" and binding.get("datatype") in _NUMERIC:
        try:
            return "number " + str(Decimal(binding["value"].strip()).normalize())
        except InvalidOperation:
            pass
    return json.dumps(binding, sort_keys=True)


def assert_agrees(store, table, query: str, decorated: bool = False) -> bool:
    """The table's answer is one the engine's evaluation allows (True), or the table
    declines (False): the same rows in the engine's order, except that rows tied on every
    ORDER BY key (and the rows of a query without ORDER BY) may come in another order, so a
    LIMIT or OFFSET may keep other tied rows — never other keys, never another count."""
    fast = table_answer(table, query)
    if fast is None:
        return False
    assert not decorated, f"the table answered a shape it must leave to the engine:\n{query}"
    engine = engine_answer(store, query)
    assert engine is not None, f"the table answered a query the engine refuses:\n{query}"
    assert fast[0] == engine[0], query
    star = aggregates.match(query)
    shown = f"{query}\ntable:  {fast[1]}\nengine: {engine[1]}"
    if star.limit is None and not star.offset:
        assert _multiset(fast[1]) == _multiset(engine[1]), shown
    else:
        whole = engine_answer(store, _uncut(query))
        assert len(fast[1]) == len(engine[1]), shown
        assert not _multiset(fast[1]) - _multiset(whole[1]), shown
    if star.order:
        def keys(bindings):
            return [tuple(_rank(b.get(name)) for name, _ in star.order) for b in bindings]

        assert keys(fast[1]) == keys(engine[1]), f"order differs:\n{shown}"
        untied = keys(engine_answer(store, _uncut(query))[1])
        if len(set(untied)) == len(untied):
            assert fast[1] == engine[1], f"order differs:\n{shown}"
    elif star.is_facet and len(star.outputs) <= 2:
        assert fast[1] == engine[1], f"order differs:\n{shown}"
    return True


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(datasets(), st.lists(queries(), min_size=1, max_size=8), st.sampled_from([1, 1, 1, 2, 3]),
       st.sampled_from([100, 100, 100, 3]))
def test_the_table_answers_as_the_engine_does(quads, drawn, min_triples, max_objects):
    store = _store(quads)
    table = aggregates.compute(store, min_triples=min_triples, max_objects=max_objects)
    for query, decorated in drawn:
        answered = assert_agrees(store, table, query, decorated)
        event("answered by the table" if answered else "left to the engine")
        if answered:
            star = aggregates.match(query)
            rows = len(table_answer(table, query)[1])
            event("answered, rows: " + ("0" if not rows else "1" if rows == 1 else "2 or more"))
            for feature, present in (("ORDER BY", star.order), ("LIMIT/OFFSET", star.limit is not None or star.offset),
                                     ("a literal", any(p.kind == "literal" for p in star.patterns)),
                                     ("several patterns", len(star.patterns) > 1), ("no GROUP BY", not star.group),
                                     ("COUNT(DISTINCT)", any(isinstance(o, aggregates.Count) and o.distinct
                                                             for o in star.outputs))):
                if present:
                    event(f"answered, with {feature}")


EVERY_TRIPLE_COUNTS = ["(COUNT(*) AS ?n{i})", "(COUNT(?s) AS ?n{i})", "(COUNT(?p) AS ?n{i})", "(COUNT(?o) AS ?n{i})",
                      "(COUNT(DISTINCT ?p) AS ?n{i})", "(COUNT(DISTINCT ?o) AS ?n{i})", "(COUNT(DISTINCT ?s) AS ?n{i})"]


@st.composite
def every_triple_queries(draw):
    """``?s ?p ?o`` grouped by ?p or not, with counts, ORDER BY, LIMIT and OFFSET drawn."""
    grouped = draw(st.booleans())
    counts = [t.format(i=i) for i, t in enumerate(draw(st.lists(st.sampled_from(EVERY_TRIPLE_COUNTS),
                                                                   min_size=0 if grouped else 1, max_size=3)))]
    outputs = draw(st.permutations((["?p"] if grouped else []) + counts)) or ["?p"]
    names = [o.split()[-1].rstrip(")") if o.startswith("(") else o for o in outputs]
    text = "SELECT " + ("DISTINCT " if draw(st.integers(0, 4)) == 0 else "") + " ".join(outputs)
    text += " WHERE { ?s ?p ?o" + draw(st.sampled_from([" }", " . }"]))
    if grouped:
        text += " GROUP BY ?p"
    if draw(st.booleans()):
        keys = draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
        text += " ORDER BY " + " ".join(draw(st.sampled_from(["{}", "ASC({})", "DESC({})"])).format(k) for k in keys)
    if draw(st.integers(0, 2)) == 0:
        text += f" LIMIT {draw(st.integers(0, 4))}"
    if draw(st.integers(0, 3)) == 0:
        text += f" OFFSET {draw(st.integers(0, 3))}"
    return PREFIXES + text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(datasets(), st.lists(every_triple_queries(), min_size=1, max_size=6))
def test_counts_of_every_triple_are_the_engines(quads, drawn):
    """``?s ?p ?o`` grouped by the predicate, or not: the per-predicate counts give the
    engine's rows (the same triple in two graphs counted twice, as the engine does)."""
    store = _store(quads)
    table = aggregates.compute(store, min_triples=1)
    for query in drawn:
        answered = assert_agrees(store, table, query)
        event("answered by the table" if answered else "left to the engine")
        if not answered:
            assert "DISTINCT ?s" in query or ("DISTINCT ?o" in query and "GROUP BY" not in query), query


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(KINDS), st.data())
def test_groups_ordered_by_their_values_come_in_the_engines_order(kind, data):
    """ORDER BY a grouping variable whose values are all IRIs, all plain strings or all
    numbers (of several datatypes, some equal in value): the table's order is the engine's,
    or the table declines."""
    values = data.draw(st.lists(st.sampled_from(kind), min_size=2, unique_by=str))
    quads = [ox.Quad(ox.NamedNode(f"{E}s{i}"), ox.NamedNode(f"{E}p0"), value, GRAPHS[i % 2])
             for i, value in enumerate(data.draw(st.lists(st.sampled_from(values), min_size=2, max_size=12)))]
    store = _store(quads)
    table = aggregates.compute(store, min_triples=1)
    direction = data.draw(st.sampled_from(["?v", "ASC(?v)", "DESC(?v)"]))
    count_first = data.draw(st.sampled_from(["", "DESC(?n) ", "?n "]))
    query = (PREFIXES + "SELECT ?v (COUNT(*) AS ?n) WHERE { ?s e:p0 ?v } GROUP BY ?v "
             f"ORDER BY {count_first}{direction}")
    answered = assert_agrees(store, table, query)
    event("answered" if answered else "left to the engine")


# ---------------------------------------------------------------- examples, kept

DATA = f"""
<{E}s0> <{E}p0> <{E}o0> <{E}g0> .
<{E}s0> <{E}p0> <{E}o0> <{E}g1> .
<{E}s0> <{E}p1> "5"^^<{XSD}integer> <{E}g0> .
<{E}s0> <{RDF_TYPE}> <{E}C> <{E}g0> .
<{E}s0> <{RDF_TYPE}> <{E}D> <{E}g0> .
<{E}s1> <{E}p0> <{E}o1> <{E}g0> .
<{E}s1> <{E}p1> "05"^^<{XSD}integer> <{E}g1> .
<{E}s1> <{E}p2> "a"@en <{E}g1> .
<{E}s1> <{RDF_TYPE}> <{E}C> <{E}g0> .
<{E}s2> <{E}p0> <{E}o1> <{E}g0> .
<{E}s2> <{E}p2> "a"@en <{E}g1> .
<{E}s2> <{E}p2> "b" <{E}g1> .
_:b0 <{E}p0> <{E}o0> <{E}g0> .
_:b0 <{E}p1> _:b1 <{E}g0> .
"""

ANSWERED = [
    "SELECT ?o (COUNT(?s) AS ?n) WHERE { ?s e:p0 ?o } GROUP BY ?o",
    "SELECT ?o (COUNT(*) AS ?n) WHERE { ?s e:p0 ?o . } GROUP BY ?o",
    "SELECT ?o (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s e:p0 ?o } GROUP BY ?o",
    "SELECT ?c (COUNT(?s) AS ?n) WHERE { ?s a ?c } GROUP BY ?c",
    "SELECT ?o (COUNT(?s) AS ?n) WHERE { ?s e:p0 ?o ; e:p1 5 } GROUP BY ?o",
    "SELECT ?o (COUNT(?s) AS ?n) WHERE { ?s e:p0 ?o ; e:p1 '05'^^xsd:integer } GROUP BY ?o",
    "SELECT ?o (COUNT(?s) AS ?n) WHERE { ?s e:p0 ?o ; a e:C } GROUP BY ?o",
    "SELECT ?o (COUNT(?s) AS ?n) WHERE { ?s e:p0 ?o . ?s e:p2 'a'@EN } GROUP BY ?o",
    "SELECT ?o ?v (COUNT(*) AS ?n) WHERE { ?s e:p0 ?o ; e:p2 ?v } GROUP BY ?o ?v",
    "SELECT ?o (COUNT(DISTINCT ?l) AS ?n) WHERE { ?s e:p0 ?o ; e:p2 ?l } GROUP BY ?o",
    "SELECT ?o (COUNT(DISTINCT ?s) AS ?n) (COUNT(?s) AS ?m) WHERE { ?s e:p0 ?o ; e:p2 ?l } GROUP BY ?o",
    "SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s a ?c }",
    "SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s e:p0 ?o ; a ?c }",
    "SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s e:p0 e:o1 ; e:p2 ?l }",  # one subject, two rows
    "SELECT (COUNT(*) AS ?n) WHERE { ?s e:p0 e:o0 }",
    "SELECT (COUNT(*) AS ?n) WHERE { ?s e:p0 e:nothing }",
    "SELECT ?o (COUNT(?s) AS ?n) WHERE { ?s e:p0 ?o ; e:absent ?x } GROUP BY ?o",
    "SELECT ?o (COUNT(?s) AS ?n) WHERE { ?s e:p0 ?o } GROUP BY ?o ORDER BY ?o",
    "SELECT ?o (COUNT(?s) AS ?n) WHERE { ?s e:p0 ?o } GROUP BY ?o ORDER BY DESC(?o) LIMIT 1",
    "SELECT ?o (COUNT(?s) AS ?n) WHERE { ?s e:p0 ?o } GROUP BY ?o LIMIT 2",
    "SELECT DISTINCT ?o WHERE { ?s e:p0 ?o } GROUP BY ?o",
    "SELECT ?o (COUNT(?s) AS ?n) WHERE { $s e:p0 $o } GROUP BY ?o",
    "SELECT ?o (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s e:p0 ?o } GROUP BY ?o ORDER BY DESC(?n)",  # tied counts
    "SELECT ?o (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s e:p0 ?o } GROUP BY ?o ORDER BY DESC(?n) LIMIT 1",
    "SELECT ?o ?v (COUNT(*) AS ?n) WHERE { ?s e:p0 ?o ; e:p2 ?v } GROUP BY ?o ?v LIMIT 1",
    "SELECT ?o (COUNT(?s) AS ?n) WHERE { ?s e:p0 ?o } GROUP BY ?o LIMIT 1 OFFSET 1",
    # every triple: ?s ?p ?o, grouped by ?p or not
    "SELECT ?p (COUNT(*) AS ?n) WHERE { ?s ?p ?o } GROUP BY ?p",
    "SELECT ?p (COUNT(?s) AS ?n) (COUNT(DISTINCT ?o) AS ?k) WHERE { ?s ?p ?o . } GROUP BY ?p ORDER BY DESC(?n) ?p",
    "SELECT ?p (COUNT(?o) AS ?n) WHERE { ?s ?p ?o } GROUP BY ?p ORDER BY ?n LIMIT 2 OFFSET 1",
    "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }",
    "SELECT (COUNT(DISTINCT ?p) AS ?n) (COUNT(?p) AS ?m) WHERE { ?s ?p ?o }",
    "SELECT DISTINCT ?p WHERE { ?s ?p ?o } GROUP BY ?p",
]
DECLINED = [
    "SELECT ?o (COUNT(?s) AS ?n) WHERE { ?s e:p0 ?o } GROUP BY ?o HAVING (COUNT(?s) > 1)",
    "SELECT ?o (COUNT(?s) AS ?n) WHERE { ?s e:p0 ?o FILTER(?o != e:o0) } GROUP BY ?o",
    "SELECT ?o (COUNT(?s) AS ?n) WHERE { ?s e:p0 ?o OPTIONAL { ?s e:p1 ?v } } GROUP BY ?o",
    "SELECT ?o (COUNT(?s) AS ?n) FROM e:g0 WHERE { ?s e:p0 ?o } GROUP BY ?o",
    "SELECT ?o (COUNT(?s) AS ?n) WHERE { GRAPH ?g { ?s e:p0 ?o } } GROUP BY ?o",
    "SELECT ?o (COUNT(?s) AS ?n) WHERE { ?s e:p0/e:p1 ?o } GROUP BY ?o",
    "SELECT ?o (SUM(?v) AS ?n) WHERE { ?s e:p0 ?o ; e:p1 ?v } GROUP BY ?o",
    "SELECT ?s (COUNT(?o) AS ?n) WHERE { ?s e:p0 ?o } GROUP BY ?s",
    "SELECT ?o (COUNT(?x) AS ?n) WHERE { ?s e:p0 ?o } GROUP BY ?o",
    "SELECT ?p (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s ?p ?o } GROUP BY ?p",  # not counted per predicate
    "SELECT (COUNT(DISTINCT ?o) AS ?n) WHERE { ?s ?p ?o }",
    "SELECT ?o (COUNT(*) AS ?n) WHERE { ?s ?p ?o } GROUP BY ?o",
    "SELECT ?s (COUNT(*) AS ?n) WHERE { ?s ?p ?o } GROUP BY ?s",
    "SELECT ?p (COUNT(*) AS ?n) WHERE { ?s ?p ?s } GROUP BY ?p",
    "SELECT ?p (COUNT(*) AS ?n) WHERE { ?s ?p ?o ; e:p0 ?x } GROUP BY ?p",
    "SELECT ?p (COUNT(*) AS ?n) WHERE { ?s ?p ?o FILTER(?p != e:p0) } GROUP BY ?p",
    "SELECT ?p (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?p",
    "SELECT ?p (COUNT(*) AS ?n) WHERE { ?s ?p ?o } GROUP BY ?p HAVING (COUNT(*) > 1)",
    "SELECT ?o ?v (COUNT(?s) AS ?n) WHERE { ?s e:p0 ?o ; e:p1 ?v } GROUP BY ?o",
    "SELECT ?o ?n WHERE { ?s e:p0 ?o } GROUP BY ?o",
    "SELECT * WHERE { ?s e:p0 ?o }",
    "SELECT ?o (COUNT(?s) AS ?n) WHERE { ?s e:p1 ?o } GROUP BY ?o ORDER BY ?o",  # literals and a blank node
    "SELECT ?o (COUNT(?s) AS ?n) WHERE { ?s e:p1 ?o } GROUP BY ?o",  # a blank node: its label is the store's
    "BASE <http://e/> SELECT ?o (COUNT(?s) AS ?n) WHERE { ?s <p0> ?o } GROUP BY ?o",
    "SELECT ?o (COUNT(?s) AS ?n) WHERE { ?s e:small ?o } GROUP BY ?o",  # below MIN_TRIPLES
]


@pytest.fixture(scope="module")
def example():
    store = ox.Store()
    store.load(DATA + f"<{E}t> <{E}small> <{E}o0> <{E}g0> .\n", format=ox.RdfFormat.N_QUADS)
    return store, aggregates.compute(store, min_triples=2)


@pytest.mark.parametrize("query", ANSWERED)
def test_the_table_answers_the_shapes_it_claims(example, query):
    store, table = example
    assert assert_agrees(store, table, PREFIXES + query), query


@pytest.mark.parametrize("query", DECLINED)
def test_the_table_declines_every_other_shape(example, query):
    store, table = example
    assert table_answer(table, PREFIXES + query) is None


def test_an_escaped_namespace_is_left_to_the_engine(example):
    """A PREFIX whose namespace is written with \\u escapes names the same IRI for the engine:
    the table read it undecoded, found no such predicate and answered no rows."""
    store, table = example
    escaped = "PREFIX e: <http://\\u0065/> PREFIX xsd: <" + XSD + ">\n"
    query = "SELECT ?o (COUNT(?s) AS ?n) WHERE { ?s e:p0 ?o } GROUP BY ?o"
    assert table_answer(table, PREFIXES + query) is not None
    assert table_answer(table, escaped + query) is None
    assert len(list(store.query(escaped + query, use_default_graph_as_union=True))) > 0


def test_a_text_the_engine_would_refuse_is_not_answered_from_the_table(example):
    """White space SPARQL does not have (a no-break space, U+2028, form feed …): the engine
    refuses the query, so the table does not answer it."""
    store, table = example
    query = "SELECT ?o (COUNT(?s) AS ?n) WHERE {{{space}?s e:p0 ?o }} GROUP BY ?o"
    for space in ("\u00a0", "\u2028", "\u2029", "\f", "\v"):
        assert table_answer(table, PREFIXES + query.format(space=space)) is None, repr(space)
        with pytest.raises(SyntaxError):
            store.query(PREFIXES + query.format(space=space))
    assert table_answer(table, PREFIXES + query.format(space=" ")) is not None


def test_the_same_triple_in_two_graphs_counts_twice_as_in_the_engine(example):
    store, table = example
    fast = table_answer(table, PREFIXES + "SELECT (COUNT(*) AS ?n) (COUNT(DISTINCT ?s) AS ?d) WHERE { ?s e:p0 e:o0 }")
    assert [(b["n"]["value"], b["d"]["value"]) for b in fast[1]] == [("3", "2")]


def test_the_table_pickles_and_answers_the_same(example):
    import pickle

    store, table = example
    again = pickle.loads(pickle.dumps(table))
    query = aggregates.match(PREFIXES + ANSWERED[4])
    assert again.answer(query) == table.answer(query) is not None


# ---------------------------------------------------------------- through the SPARQL endpoint

FORMATS = ["application/sparql-results+json", "application/sparql-results+xml", "text/csv",
           "text/tab-separated-values"]
BJKG = "https://w3id.org/bjkg/ontology#"
SERVED = [
    "SELECT ?c (COUNT(?s) AS ?n) WHERE { ?s a ?c } GROUP BY ?c",  # the plain facet: the engine's rows in order
    f"SELECT ?i (COUNT(*) AS ?n) WHERE {{ ?s <{BJKG}indicator> ?i ; a <http://purl.org/linked-data/cube#Observation> }} GROUP BY ?i",
    f"SELECT ?i ?a (COUNT(DISTINCT ?s) AS ?n) WHERE {{ ?s <{BJKG}indicator> ?i ; "
    "<http://purl.org/linked-data/sdmx/2009/dimension#refArea> ?a } GROUP BY ?i ?a ORDER BY ?i ?a",
]


@pytest.fixture(scope="module")
def served(tiny_build, tmp_path_factory):
    """The tiny build served inline from its store on disk, with its table prepared (MIN_TRIPLES 1),
    and the same build with nothing prepared (every query evaluated by the engine)."""
    from bjkg.server.app import create_app
    from bjkg.server.runtime.prepare import prepare

    saved, aggregates.MIN_TRIPLES = aggregates.MIN_TRIPLES, 1
    settings = {"BUILD_DIR": str(tiny_build), "QUERY_MODE": "inline", "TESTING": True, "IN_MEMORY_MAX_TRIPLES": 0}
    try:
        fast_settings = {**settings, "CACHE_DIR": str(tmp_path_factory.mktemp("prepared"))}
        prepare(fast_settings)
    finally:
        aggregates.MIN_TRIPLES = saved
    apps = (create_app(fast_settings), create_app({**settings, "CACHE_DIR": str(tmp_path_factory.mktemp("none"))}))
    yield apps
    for app in apps:
        app.extensions["bjkg"].store.close()


@pytest.mark.parametrize("query", SERVED)
def test_the_endpoint_answers_from_the_table_as_the_engine_in_every_format(served, query, monkeypatch):
    fast, plain = served
    store = fast.extensions["bjkg"].store
    assert store._prepared_data(aggregates) is not None
    expected = {fmt: plain.test_client().post("/sparql", data={"query": query}, headers={"Accept": fmt}) for fmt in FORMATS}

    def no_engine(*args, **kwargs):
        raise AssertionError("evaluated by the engine")

    monkeypatch.setattr(store, "_run", no_engine)  # the table answers, or the test fails
    for fmt in FORMATS:
        response = fast.test_client().post("/sparql", data={"query": query}, headers={"Accept": fmt})
        assert response.status_code == expected[fmt].status_code == 200, response.data
        assert response.mimetype == expected[fmt].mimetype
        if "ORDER BY" in query or query == SERVED[0]:
            assert response.data == expected[fmt].data, fmt
        else:
            assert sorted(response.data.splitlines()) == sorted(expected[fmt].data.splitlines()), fmt


def test_the_endpoint_leaves_other_shapes_to_the_engine(served, monkeypatch):
    fast, _ = served
    store = fast.extensions["bjkg"].store
    evaluated = []
    original = store._run
    monkeypatch.setattr(store, "_run", lambda request, timeout: evaluated.append(request.sparql) or original(request, timeout))
    query = SERVED[0].replace("GROUP BY ?c", "GROUP BY ?c HAVING (COUNT(?s) > 1)")
    response = fast.test_client().post("/sparql", data={"query": query}, headers={"Accept": FORMATS[0]})
    assert response.status_code == 200 and evaluated == [query]


def test_an_answer_longer_than_max_rows_is_left_to_the_engine(example):
    store, table = example
    star = aggregates.match(PREFIXES + ANSWERED[0])
    rows = len(json.loads(table.answer(star))["results"]["bindings"])
    assert rows == 2 and table.answer(star, max_rows=2) is not None and table.answer(star, max_rows=1) is None


def test_a_join_larger_than_its_cap_is_left_to_the_engine(example, monkeypatch):
    store, table = example
    query = PREFIXES + "SELECT ?l (COUNT(*) AS ?n) WHERE { ?s e:p2 ?l , ?m } GROUP BY ?l"  # 5 rows joined
    assert table_answer(table, query) is not None
    monkeypatch.setattr(aggregates, "MAX_JOINED_ROWS", 2)
    assert table_answer(table, query) is None


def test_a_predicate_that_cannot_be_read_has_no_column(example, monkeypatch, caplog):
    store, _ = example
    real = aggregates._read_pairs

    def failing(store, predicate):
        if predicate == f"{E}p2":
            raise ValueError("the pairs do not add up")
        return real(store, predicate)

    monkeypatch.setattr(aggregates, "_read_pairs", failing)
    with caplog.at_level("WARNING", logger="bjkg.aggregates"):
        table = aggregates.compute(store, min_triples=2)
    assert f"{E}p2" not in table.columns and f"{E}p0" in table.columns and "p2" in caplog.text
    assert table_answer(table, PREFIXES + "SELECT ?l (COUNT(*) AS ?n) WHERE { ?s e:p2 ?l } GROUP BY ?l") is None
    assert assert_agrees(store, table, PREFIXES + ANSWERED[0])
