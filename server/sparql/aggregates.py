"""Star aggregates prepared once per build: `COUNT … GROUP BY` over one subject's predicates.

The aggregate a statistics client asks most is a count of subjects grouped by the values of
some of their predicates, with others fixed::

    SELECT ?indicator (COUNT(?obs) AS ?n) WHERE {
      ?obs bjkg:indicator ?indicator ; sdmx-dimension:refArea <…/place/beijing> .
    } GROUP BY ?indicator

pyoxigraph evaluates it as an index nested loop: the selective pattern first, then one
RocksDB seek per row for the other pattern (≈250–370 ms at 1M triples when the fixed value
selects 10,000 observations, where Virtuoso needs ≈7 ms), and it reads every quad of the
predicate for the plain facet (`SELECT ?o (COUNT(?s) AS ?n) WHERE { ?s <p> ?o } GROUP BY ?o`).

A build never changes while it is served, so `bjkg serve` reads once (`compute`), for every
predicate with at least `MIN_TRIPLES` triples, its pairs (subject, object) of the union
default graph as integer codes, sorted by subject, with each pair's *multiplicity*: the
number of named graphs that hold the triple (the engine's union default graph answers a
triple once per graph, so a count does too) — unless it has more than `MAX_OBJECTS` distinct
objects (labels, quotes, values: not what one groups by). A query is then a join on the
subject code over a few sorted integer arrays and a grouped count (numpy), well under a
millisecond at 1M triples.

It answers only what it recognises on the query's tokens (`match`): one subject variable;
triple patterns ``?s <p> ?var`` or ``?s <p> <constant or literal>`` (``a`` included; ``;``
and ``,`` lists); no FILTER, OPTIONAL, UNION, GRAPH, subquery, path, BIND, VALUES, HAVING or
FROM (and the caller passes no dataset); SELECT of grouping variables and ``COUNT(*)``,
``COUNT(?var)``, ``COUNT(DISTINCT ?var)`` of the pattern's variables; GROUP BY variables
(or none: one row); ORDER BY of the outputs when each key's values rank as the engine
ranks them (all IRIs by their text, all plain strings by theirs, all numbers and counts by
value); LIMIT/OFFSET; otherwise None, and the engine evaluates the query as written.

One more shape counts every triple: the pattern ``?s ?p ?o`` alone, grouped by ?p or not
(how many triples each predicate has, how many in all: the first question asked of a new
endpoint, and a full scan for the engine, ≈0.5–0.7 s at 1M triples). It is answered from
the per-predicate counts `compute` reads anyway (``COUNT(*)`` and ``COUNT(DISTINCT ?o)`` per
predicate over the union default graph, in the engine's order): ``COUNT`` of anything,
``COUNT(DISTINCT ?p)``, and, grouped by ?p, ``COUNT(DISTINCT ?o)``; ``COUNT(DISTINCT ?s)``
and a grouping by ?s or ?o go to the engine.
Literal constants are read by the engine itself (a VALUES row on an empty store), so ``05``
and ``"5"^^xsd:integer`` are the one term the store holds. Without ORDER BY the rows of a
plain facet come in the engine's own order on the store on disk (kept from its answer at
prepare time), other shapes in an order of the same kind; rows tied on every ORDER BY key
come in that order too. SPARQL leaves both orders open (so ``ORDER BY DESC(?n) LIMIT 10``
may keep other rows tied on the tenth count than the engine would: never other counts). A
blank node is never a value of an answer from here (its label is the one the store on disk
gave it). Differential tests against the engine: tests/server/test_aggregates.py.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from bjkg.server.core import prepared
from bjkg.server.sparql.text import FOREIGN_SPACE, SparqlTextError, Token, prologue, token_iri, tokenize

FORMAT = 3
MIN_TRIPLES = 100  # a predicate with fewer triples is cheap for the engine anyway (≈0.5 ms)
MAX_OBJECTS = 10_000  # more distinct objects than this: no column
MAX_JOINED_ROWS = 1_000_000  # a join of multi-valued predicates larger than this goes to the engine (≈40 MB)

XSD = "http://www.w3.org/2001/XMLSchema#"
XSD_INTEGER, XSD_STRING = XSD + "integer", XSD + "string"
_NUMERIC = frozenset(XSD + t for t in ("integer", "decimal", "float", "double"))
_COUNT_TERM = '{"type":"literal","value":"%d","datatype":"' + XSD_INTEGER + '"}'
_UNION = {"use_default_graph_as_union": True}

_PREDICATES_QUERY = """
SELECT ?p (COUNT(*) AS ?n) (COUNT(DISTINCT ?o) AS ?k) WHERE { ?s ?p ?o } GROUP BY ?p
"""
_PAIRS_QUERY = "SELECT ?s ?o WHERE {{ ?s <{p}> ?o }}"
_NUMBERED_PAIRS_QUERY = "SELECT ?s ?i WHERE {{ VALUES (?o ?i) {{ {values} }} ?s <{p}> ?o }}"
_FACET_QUERY = "SELECT ?o (COUNT(*) AS ?n) WHERE {{ ?s <{p}> ?o }} GROUP BY ?o"


# ---------------------------------------------------------------- the query shape

@dataclass(frozen=True)
class Pattern:
    """``?s <predicate> object``: `kind` "var" (object names a variable), "iri" (an IRI) or
    "literal" (the literal's text, with its datatype IRI written out)."""

    predicate: str
    kind: str
    object: str


@dataclass(frozen=True)
class Count:
    """``(COUNT([DISTINCT] arg) AS ?name)``; arg None for ``*``."""

    name: str
    arg: str | None
    distinct: bool


@dataclass(frozen=True)
class Star:
    """A recognised star aggregate."""

    subject: str
    patterns: tuple[Pattern, ...]
    outputs: tuple[str | Count, ...]  # projected: a grouping variable's name, or a count
    group: tuple[str, ...]
    distinct: bool = False
    order: tuple[tuple[str, bool], ...] = ()  # (output or grouping variable, descending)
    limit: int | None = None
    offset: int = 0
    names: tuple[str, ...] = field(default=())  # the output variables, in order
    any_predicate: str | None = None  # ``?s ?p ?o``: the predicate's variable (`patterns` holds ?o)

    @property
    def is_facet(self) -> bool:
        """The plain facet: one pattern ``?s <p> ?o`` grouped by ?o."""
        return (self.any_predicate is None and len(self.patterns) == 1 and self.patterns[0].kind == "var"
                and self.group == (self.patterns[0].object,))


class _NoMatch(Exception):
    pass


class _Reader:
    """A cursor over the tokens after the prologue."""

    def __init__(self, toks: list[Token], prefixes: dict[str, str]) -> None:
        self.toks, self.prefixes, self.i = toks, prefixes, 0

    def peek(self, offset: int = 0) -> Token | None:
        j = self.i + offset
        return self.toks[j] if j < len(self.toks) else None

    def next(self) -> Token:
        tok = self.peek()
        if tok is None:
            raise _NoMatch
        self.i += 1
        return tok

    def word(self, *words: str) -> bool:
        """Consume the next token if it is one of these keywords (any case)."""
        tok = self.peek()
        if tok is not None and tok.kind == "WORD" and tok.text.upper() in words:
            self.i += 1
            return True
        return False

    def punct(self, text: str) -> bool:
        tok = self.peek()
        if tok is not None and tok.kind == "PUNCT" and tok.text == text:
            self.i += 1
            return True
        return False

    def expect_word(self, *words: str) -> None:
        if not self.word(*words):
            raise _NoMatch

    def expect_punct(self, text: str) -> None:
        if not self.punct(text):
            raise _NoMatch

    def var(self) -> str:
        tok = self.next()
        if tok.kind != "VAR":
            raise _NoMatch
        return tok.text[1:]  # ?x and $x are the same variable

    def integer(self) -> int:
        tok = self.next()
        if tok.kind != "NUMBER" or not tok.text.isascii() or not tok.text.isdigit() or len(tok.text) > 18:
            raise _NoMatch
        return int(tok.text)


def match(text: str) -> Star | None:
    """The star aggregate `text` asks, or None when the query is anything else (or not
    one the engine would read: `FOREIGN_SPACE`)."""
    if FOREIGN_SPACE.search(text):
        return None
    try:
        toks = list(tokenize(text))
    except (SparqlTextError, ValueError):
        return None
    head = prologue(toks)
    if head is None:
        return None
    prefixes, start = head
    try:
        return _star(_Reader(toks[start:], prefixes))
    except _NoMatch:
        return None


def _star(r: _Reader) -> Star:
    r.expect_word("SELECT")
    distinct = r.word("DISTINCT")
    if not distinct and r.word("REDUCED"):
        distinct = True  # rows of a grouped answer are distinct whenever REDUCED could matter
    outputs: list[str | Count] = []
    while True:
        tok = r.peek()
        if tok is None:
            raise _NoMatch
        if tok.kind == "VAR":
            outputs.append(r.var())
        elif r.punct("("):
            r.expect_word("COUNT")
            r.expect_punct("(")
            counted_distinct = r.word("DISTINCT")
            arg = None if r.punct("*") else r.var()
            r.expect_punct(")")
            r.expect_word("AS")
            name = r.var()
            r.expect_punct(")")
            outputs.append(Count(name, arg, counted_distinct))
        else:
            break
    if not outputs:
        raise _NoMatch
    r.word("WHERE")
    subject, patterns, any_predicate = _patterns(r)
    group: list[str] = []
    if r.word("GROUP"):
        r.expect_word("BY")
        while (tok := r.peek()) is not None and tok.kind == "VAR":
            name = r.var()
            if name not in group:
                group.append(name)
        if not group:
            raise _NoMatch
    order: list[tuple[str, bool]] = []
    if r.word("ORDER"):
        r.expect_word("BY")
        while True:
            tok = r.peek()
            if tok is not None and tok.kind == "VAR":
                order.append((r.var(), False))
            elif tok is not None and tok.kind == "WORD" and tok.text.upper() in ("ASC", "DESC"):
                descending = r.next().text.upper() == "DESC"
                r.expect_punct("(")
                order.append((r.var(), descending))
                r.expect_punct(")")
            else:
                break
        if not order:
            raise _NoMatch
    limit, offset = None, None
    while r.peek() is not None:
        if limit is None and r.word("LIMIT"):
            limit = r.integer()
        elif offset is None and r.word("OFFSET"):
            offset = r.integer()
        else:
            raise _NoMatch
    return _checked(Star(subject, tuple(patterns), tuple(outputs), tuple(group), distinct,
                         tuple(order), limit, offset or 0, any_predicate=any_predicate))


def _patterns(r: _Reader) -> tuple[str, list[Pattern], str | None]:
    """``{ ?s verb object (, object)* (; verb objects)* (. ?s …)* }``, one subject variable;
    or ``{ ?s ?p ?o }`` alone (its predicate's variable third)."""
    r.expect_punct("{")
    subject = r.var()
    tok = r.peek()
    if tok is not None and tok.kind == "VAR":  # ?s ?p ?o: every triple, and nothing else
        predicate, obj = r.var(), r.var()
        r.punct(".")
        r.expect_punct("}")
        if len({subject, predicate, obj}) != 3:
            raise _NoMatch
        return subject, [Pattern("", "var", obj)], predicate
    patterns: list[Pattern] = []
    while True:
        predicate = _verb(r)
        patterns.append(_object(r, predicate))
        while r.punct(","):
            patterns.append(_object(r, predicate))
        if r.punct(";"):
            while r.punct(";"):
                pass
            tok = r.peek()
            if tok is not None and tok.kind == "PUNCT" and tok.text in (".", "}"):
                pass  # a trailing ';'
            else:
                continue
        if r.punct("."):
            if r.punct("}"):
                return subject, patterns, None
            if r.var() != subject:
                raise _NoMatch
            continue
        r.expect_punct("}")
        return subject, patterns, None


def _verb(r: _Reader) -> str:
    tok = r.next()
    if tok.kind not in ("IRI", "PNAME") and not (tok.kind == "WORD" and tok.text == "a"):
        raise _NoMatch
    iri = token_iri(tok, r.prefixes)
    if iri is None:
        raise _NoMatch
    return iri


def _object(r: _Reader, predicate: str) -> Pattern:
    tok = r.next()
    if tok.kind == "VAR":
        return Pattern(predicate, "var", tok.text[1:])
    if tok.kind in ("IRI", "PNAME"):
        iri = token_iri(tok, r.prefixes)
        if iri is None:
            raise _NoMatch
        return Pattern(predicate, "iri", iri)
    if tok.kind == "NUMBER" or (tok.kind == "WORD" and tok.text in ("true", "false")):
        return Pattern(predicate, "literal", tok.text)
    if tok.kind == "STRING":
        text = tok.text
        after = r.peek()
        if after is not None and after.kind == "LANGTAG":
            text += r.next().text
        elif after is not None and after.kind == "PUNCT" and after.text == "^^":
            r.next()
            datatype = r.next()
            if datatype.kind not in ("IRI", "PNAME"):
                raise _NoMatch
            iri = token_iri(datatype, r.prefixes)
            if iri is None or ">" in iri:
                raise _NoMatch
            text += f"^^<{iri}>"
        return Pattern(predicate, "literal", text)
    raise _NoMatch


def _checked(star: Star) -> Star:
    """The star if its variables are used as SPARQL allows and as the table can count."""
    pattern_vars = {p.object for p in star.patterns if p.kind == "var"} | (
        {star.any_predicate} if star.any_predicate else set())
    if star.subject in pattern_vars or not set(star.group) <= pattern_vars:
        raise _NoMatch
    names: list[str] = []
    for out in star.outputs:
        if isinstance(out, Count):
            if out.name in pattern_vars or out.name == star.subject or out.name in star.group:
                raise _NoMatch
            if out.arg is not None and out.arg != star.subject and out.arg not in pattern_vars:
                raise _NoMatch
            names.append(out.name)
        else:
            if out not in star.group:
                raise _NoMatch
            names.append(out)
    if len(set(names)) != len(names):
        raise _NoMatch
    if star.distinct and not set(star.group) <= set(names):
        raise _NoMatch  # DISTINCT would merge groups
    for name, _ in star.order:
        if name not in names and name not in star.group:
            raise _NoMatch
    return Star(star.subject, star.patterns, star.outputs, star.group, star.distinct, star.order,
                star.limit, star.offset, tuple(names), star.any_predicate)


# ---------------------------------------------------------------- the table

class Column:
    """One predicate's distinct (subject, object) pairs of the union default graph, sorted
    by subject then object: `subjects` and `objects` (codes), `counts` the number of quads of
    each pair (None when all are 1), `functional` when each subject has one pair,
    `facet_order` the object codes in the order of the engine's facet answer."""

    __slots__ = ("subjects", "objects", "counts", "functional", "facet_order")

    def __init__(self, subjects, objects, counts, facet_order) -> None:
        import numpy as np

        self.subjects, self.objects, self.counts, self.facet_order = subjects, objects, counts, facet_order
        self.functional = bool(len(subjects) < 2 or np.all(subjects[1:] != subjects[:-1]))

    def __getstate__(self):
        return (self.subjects, self.objects, self.counts, self.facet_order)

    def __setstate__(self, state) -> None:
        self.__init__(*state)


class StarTable:
    """The build's columns, and its object terms: `keys` (N-Triples → code), `terms` (code → the
    engine's SPARQL JSON of the term, serialised), `iri_rank` (code → rank of the IRI's text
    among the objects' IRIs, -1 for other terms; -2 for a blank node, whose label is the
    store's: a worker reading the build's dump into memory labels it anew, so a blank node is
    never answered from here), `literal_ranks` (the same for plain strings by their text, and
    for numbers by value, equal values sharing a rank); `predicates` every predicate of the
    build, `predicate_counts` each one's (IRI, triples, distinct objects) in the engine's
    order."""

    def __init__(self, columns: dict[str, Column], keys: dict[str, int], terms: list[str],
                 iri_rank, literal_ranks: tuple, predicates: frozenset[str],
                 predicate_counts: tuple[tuple[str, int, int], ...] = ()) -> None:
        self.columns, self.keys, self.terms, self.iri_rank, self.literal_ranks, self.predicates = \
            columns, keys, terms, iri_rank, literal_ranks, predicates
        self.predicate_counts = predicate_counts

    def answer(self, star: Star, max_rows: int | None = None) -> bytes | None:
        """SPARQL JSON results of `star`, or None: not answerable from the table (a predicate
        without a column, an order that would differ from the engine's …), or longer than
        `max_rows` (the general path then refuses it: RowLimitExceeded)."""
        try:
            rows = _evaluate(self, star, max_rows)
        except _NoMatch:
            return None
        if rows is None:
            return None
        names = star.names
        head = json.dumps({"vars": list(names)}, ensure_ascii=False, separators=(",", ":"))
        keys = [json.dumps(name, ensure_ascii=False) + ":" for name in names]
        bindings = ",".join("{" + ",".join(k + v for k, v in zip(keys, row)) + "}" for row in rows)
        return ('{"head":' + head + ',"results":{"bindings":[' + bindings + "]}}").encode("utf-8")


def _evaluate(table: StarTable, star: Star, max_rows: int | None = None) -> list[tuple[str, ...]] | None:
    """The answer's rows, each the serialised JSON terms of `star.names`; None when it is
    longer than `max_rows` or ordered otherwise than the engine would; raises _NoMatch."""
    import numpy as np

    if star.any_predicate:
        return _every_triple(table, star, max_rows)
    subjects, weights, values, one_row_per_subject = _join(table, star)
    n = len(subjects)
    # groups: a dense id per row, and the grouping variables' codes of each group
    if len(star.group) == 1:  # codes < len(terms): count them in place
        codes = values[star.group[0]]
        group_ids = np.flatnonzero(np.bincount(codes, minlength=len(table.terms)))
        dense = np.zeros(len(table.terms), dtype=np.int64)
        dense[group_ids] = np.arange(len(group_ids))
        gid, groups, group_codes = dense[codes], len(group_ids), {star.group[0]: group_ids}
    elif star.group:
        gid = np.zeros(n, dtype=np.int64)
        for name in star.group:
            codes = values[name].astype(np.int64)
            _, gid = np.unique(gid * (int(codes.max(initial=0)) + 1) + codes, return_inverse=True)
            gid = gid.reshape(-1)
        groups = int(gid.max(initial=-1)) + 1
        first = np.zeros(groups, dtype=np.int64)
        first[gid] = np.arange(n)  # any row of the group: they share its codes
        group_codes = {name: values[name][first] for name in star.group}
    else:
        gid, groups, group_codes = np.zeros(n, dtype=np.int64), 1, {}
    counts: dict[str, np.ndarray] = {}
    for out in star.outputs:
        if not isinstance(out, Count):
            continue
        if not out.distinct or out.arg in star.group:
            if out.distinct:  # a grouping variable: one value per group
                counts[out.name] = np.ones(groups, dtype=np.int64) if n else np.zeros(groups, dtype=np.int64)
            elif weights is None:
                counts[out.name] = np.bincount(gid, minlength=groups)
            else:
                counts[out.name] = np.bincount(gid, weights=weights, minlength=groups).astype(np.int64)
            continue
        if out.arg is None:
            raise _NoMatch  # COUNT(DISTINCT *)
        if out.arg == star.subject and one_row_per_subject:
            counts[out.name] = np.bincount(gid, minlength=groups)
            continue
        codes = subjects if out.arg == star.subject else values[out.arg]
        pairs = np.unique(gid * (int(codes.max(initial=0)) + 1) + codes)
        counts[out.name] = np.bincount(pairs // (int(codes.max(initial=0)) + 1), minlength=groups)
    order = _order(table, star, groups, group_codes, counts)
    if order is None or (max_rows and len(order) > max_rows):
        return None
    terms = table.terms
    columns = []
    for name in star.names:
        if name in group_codes and len(order) and table.iri_rank[group_codes[name][order]].min() == -2:
            raise _NoMatch  # a blank node's label would be this store's, not the worker's
    for out in star.outputs:
        if isinstance(out, Count):
            columns.append([_COUNT_TERM % c for c in counts[out.name][order].tolist()])
        else:
            columns.append([terms[c] for c in group_codes[out][order].tolist()])
    return list(zip(*columns)) if columns else []


def _every_triple(table: StarTable, star: Star, max_rows: int | None) -> list[tuple[str, ...]] | None:
    """The rows of ``?s ?p ?o`` grouped by ?p (in the engine's order of the predicates unless
    ORDER BY says otherwise; ties keep it) or not (one row), from `predicate_counts`."""
    p, o = star.any_predicate, star.patterns[0].object
    if star.group not in ((), (p,)):
        raise _NoMatch
    grouped = bool(star.group)
    rows = [(iri, n, k) for iri, n, k in table.predicate_counts]
    if not grouped:
        rows = [("", sum(n for _, n, _ in rows), None)]

    def count(out: Count, row) -> int:
        iri, n, k = row
        if not out.distinct:
            return n
        if out.arg == p:
            return (1 if n else 0) if grouped else len(table.predicate_counts)
        if out.arg == o and grouped:
            return k
        raise _NoMatch  # COUNT(DISTINCT ?s), COUNT(DISTINCT *), or ?o over every predicate

    table_rows = [{out.name if isinstance(out, Count) else out:
                   count(out, row) if isinstance(out, Count) else row[0] for out in star.outputs}
                  for row in rows]
    for name, descending in reversed(star.order):  # stable sorts: ties keep the engine's order
        table_rows.sort(key=lambda r: r[name], reverse=descending)
    end = None if star.limit is None else star.offset + star.limit
    table_rows = table_rows[star.offset:end]
    if max_rows and len(table_rows) > max_rows:
        return None
    return [tuple(_COUNT_TERM % r[name] if isinstance(r[name], int)
                  else json.dumps({"type": "uri", "value": r[name]}, ensure_ascii=False, separators=(",", ":"))
                  for name in star.names) for r in table_rows]


def _order(table: StarTable, star: Star, groups: int, group_codes, counts):
    """The groups' order (indexes), cut by OFFSET/LIMIT; None where a key's terms are of
    kinds the table does not rank as the engine does.

    ORDER BY keys rank as the engine ranks them; rows tied on every key, and the rows of a
    query without ORDER BY, come in the order of the engine's facet answers (SPARQL leaves
    both open, so a LIMIT may keep other tied rows than the engine would, never other keys)."""
    import numpy as np

    order = _facet_order(table, star, groups, group_codes)
    if star.order:
        keys = []
        for name, descending in star.order:
            if name in counts:
                key = counts[name].astype(np.int64)
            else:  # all IRIs, all plain strings or all numbers; other terms are the engine's to order
                for rank in (table.iri_rank, *table.literal_ranks):
                    key = rank[group_codes[name]].astype(np.int64)
                    if not len(key) or key.min() >= 0:
                        break
                else:
                    return None
            keys.append(-key if descending else key)
        tie = np.empty(groups, dtype=np.int64)
        tie[order] = np.arange(groups)
        order = np.lexsort([tie, *keys[::-1]])
    end = None if star.limit is None else star.offset + star.limit
    return order[star.offset:end]


def _facet_order(table: StarTable, star: Star, groups: int, group_codes):
    """Groups in the order of the engine's facet answer of each grouping variable's column
    (the engine's own order for a plain facet)."""
    import numpy as np

    if not star.group or not groups:
        return np.arange(groups)
    keys = []
    for name in star.group:
        column = table.columns[next(p.predicate for p in star.patterns if p.object == name and p.kind == "var")]
        rank = np.full(len(table.terms), len(table.terms), dtype=np.int64)
        rank[column.facet_order] = np.arange(len(column.facet_order))
        keys.append(rank[group_codes[name]])
    return np.lexsort(keys[::-1])


def _join(table: StarTable, star: Star):
    """(subject codes, weights or None, variable → object codes, whether each subject has
    one row) of the star's solutions: one row per distinct (subject, objects…) with its
    number of solutions as weight (None: all 1). Raises _NoMatch for what the table cannot
    answer."""
    import numpy as np

    steps = []
    absent = False  # a predicate the build does not hold: no solutions
    for pattern in star.patterns:
        column = table.columns.get(pattern.predicate)
        if column is None:
            if pattern.predicate in table.predicates:
                raise _NoMatch  # below MIN_TRIPLES: the engine's scan is cheap
            absent = True
            continue
        steps.append((pattern, column))
    constants = _constants(table, star)
    if absent or constants is None:  # … or a constant that is no object of the build
        values = {p.object: np.zeros(0, dtype=np.int32) for p in star.patterns if p.kind == "var"}
        return np.zeros(0, dtype=np.int32), None, values, True
    # the most selective pattern first: a constant's matches, else the shortest column
    sizes = []
    for pattern, column in steps:
        if pattern.kind != "var":
            sizes.append(int(np.count_nonzero(column.objects == constants[pattern])))
        else:
            sizes.append(len(column.subjects))
    steps = [steps[i] for i in np.argsort(sizes, kind="stable")]
    subjects = weights = None
    values: dict[str, np.ndarray] = {}
    unique = True
    for pattern, column in steps:
        if subjects is None:
            unique = pattern.kind != "var" or column.functional  # distinct pairs, one object
            if pattern.kind != "var":
                at = np.flatnonzero(column.objects == constants[pattern])
            else:
                at = np.arange(len(column.subjects))
            subjects = column.subjects[at]
        else:
            lo = np.searchsorted(column.subjects, subjects, side="left")
            if column.functional:
                lo = np.minimum(lo, len(column.subjects) - 1)
                keep = column.subjects[lo] == subjects if len(column.subjects) else np.zeros(len(subjects), bool)
                at = lo[keep]
                subjects = subjects[keep]
                weights = None if weights is None else weights[keep]
                values = {k: v[keep] for k, v in values.items()}
            else:
                hi = np.searchsorted(column.subjects, subjects, side="right")
                width = hi - lo
                total = int(width.sum())
                if total > MAX_JOINED_ROWS:
                    raise _NoMatch
                unique = unique and int(width.max(initial=0)) <= 1
                starts = np.repeat(np.cumsum(width) - width, width)
                at = np.arange(total) - starts + np.repeat(lo, width)
                subjects = np.repeat(subjects, width)
                weights = None if weights is None else np.repeat(weights, width)
                values = {k: np.repeat(v, width) for k, v in values.items()}
            keep = None
            if pattern.kind != "var":
                keep = column.objects[at] == constants[pattern]
            elif pattern.object in values:
                keep = column.objects[at] == values[pattern.object]
            if keep is not None:
                at, subjects = at[keep], subjects[keep]
                weights = None if weights is None else weights[keep]
                values = {k: v[keep] for k, v in values.items()}
        if column.counts is not None:
            w = column.counts[at].astype(np.int64)
            weights = w if weights is None else weights * w
        if pattern.kind == "var" and pattern.object not in values:
            values[pattern.object] = column.objects[at]
    return subjects, weights, values, unique


_SCRATCH = None


def _constants(table: StarTable, star: Star) -> dict[Pattern, int] | None:
    """Each constant pattern's object code; None when one is not an object in the build.
    Literals are read by the engine (a VALUES row on an empty store), which writes them in
    the store's canonical form ("05"^^xsd:integer → 5, language tags in lower case)."""
    global _SCRATCH
    constants: dict[Pattern, int] = {}
    literals = [p for p in star.patterns if p.kind == "literal"]
    keys: dict[Pattern, str] = {p: f"<{p.object}>" for p in star.patterns if p.kind == "iri"}
    if literals:
        import pyoxigraph as ox

        if _SCRATCH is None:
            _SCRATCH = ox.Store()
        names = " ".join(f"?c{i}" for i in range(len(literals)))
        row = " ".join(p.object for p in literals)
        try:
            solution = next(iter(_SCRATCH.query(f"SELECT * WHERE {{ VALUES ({names}) {{ ({row}) }} }}")))
        except (SyntaxError, ValueError, OSError, StopIteration):
            raise _NoMatch from None
        for i, pattern in enumerate(literals):
            term = solution[f"c{i}"]
            if term is None:
                raise _NoMatch
            keys[pattern] = str(term)
    for pattern, key in keys.items():
        code = table.keys.get(key)
        if code is None:
            return None
        constants[pattern] = code
    return constants


# ---------------------------------------------------------------- computing the table

def compute(store, *, min_triples: int | None = None, max_objects: int | None = None,
            threads: int = 2) -> StarTable:
    """Read the columns from `store` (a pyoxigraph Store) with the engine itself, over the
    union of its graphs, `threads` predicates at a time (the engine decodes terms without
    holding the GIL). Most of the time is the engine decoding each subject's IRI (≈4 µs a
    row on disk at 1M), so objects are not decoded per row: the facet answer lists each
    predicate's distinct objects once, and a VALUES join numbers them."""
    import numpy as np
    import pyoxigraph as ox

    min_triples = MIN_TRIPLES if min_triples is None else min_triples
    max_objects = MAX_OBJECTS if max_objects is None else max_objects
    predicates: set[str] = set()
    predicate_counts: list[tuple[str, int, int]] = []
    chosen: list[str] = []
    for row in store.query(_PREDICATES_QUERY, **_UNION):
        p, n, k = row["p"], int(row["n"].value), int(row["k"].value)
        if isinstance(p, ox.NamedNode):
            predicates.add(p.value)
            predicate_counts.append((p.value, n, k))
            if n >= min_triples and k <= max_objects and ">" not in p.value:
                chosen.append(p.value)
    objects: dict[bytes, int] = {}
    subjects: dict[bytes, int] = {}  # one code per distinct subject text, over all columns
    read: list[tuple[str, object, object, object, list[int]]] = []
    for predicate, answer in _each(lambda p: _read(store, p), chosen, threads):
        if answer is None:
            continue  # no column: its queries go to the engine
        facet, subject_texts, numbers = answer
        order = [objects.setdefault(text, len(objects)) for text in facet]
        new = dict.fromkeys(subject_texts).keys() - subjects.keys()
        subjects.update(zip(new, range(len(subjects), len(subjects) + len(new))))
        s = np.fromiter(map(subjects.__getitem__, subject_texts), dtype=np.int32, count=len(subject_texts))
        o = np.asarray(order, dtype=np.int32)[numbers]
        del subject_texts, numbers
        sort = np.lexsort((o, s))  # by subject, then object; then each distinct pair once, counted
        s, o = s[sort], o[sort]
        first = np.ones(len(s), dtype=bool)
        first[1:] = (s[1:] != s[:-1]) | (o[1:] != o[:-1])
        starts = np.flatnonzero(first)
        counts = np.diff(np.append(starts, len(s)))
        m = None if not len(counts) or counts.max() == 1 else counts.astype(np.uint16 if counts.max() < 65536 else np.int64)
        read.append((predicate, s[starts], o[starts], m, order))
    keys, terms, iri_rank, literal_ranks = _object_terms(list(objects))
    columns = {predicate: Column(s, o, m, np.asarray(order, dtype=np.int32)) for predicate, s, o, m, order in read}
    return StarTable(columns, keys, terms, iri_rank, literal_ranks, frozenset(predicates),
                     tuple(predicate_counts))


def _each(fn, items: list, threads: int):
    """(item, fn(item)) in the order of `items`, `threads` computed at a time ahead of the
    caller (the engine reads without the GIL, while the caller codes the last answer)."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max(1, threads)) as pool:
        pending = deque()
        for item in items:
            pending.append((item, pool.submit(fn, item)))
            if len(pending) > threads:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()


def _read(store, predicate: str):
    """One predicate's distinct objects (TSV texts, in the order of the engine's facet
    answer), and for each of its quads the subject's TSV text and its object's number in
    that list (a numpy array); None if the engine's answers cannot be read so (logged)."""
    try:
        return _read_pairs(store, predicate)
    except (SyntaxError, ValueError, OSError, KeyError) as exc:
        import logging

        logging.getLogger("bjkg.aggregates").warning("no star aggregates for %s: %s", predicate, exc)
        return None


def _read_pairs(store, predicate: str):
    import numpy as np

    facet = _tsv_rows(store, _FACET_QUERY.format(p=predicate))
    texts = [row[0] for row in facet]
    expected = sum(int(row[1]) for row in facet)
    if not any(t.startswith(b"_:") for t in texts):  # VALUES takes no blank nodes
        rows = " ".join(f"({t.decode()} {i})" for i, t in enumerate(texts))
        fields = _tsv_fields(store, _NUMBERED_PAIRS_QUERY.format(values=rows, p=predicate))
        if len(fields) == 2 * expected:
            return texts, fields[0::2], np.array(fields[1::2], dtype=bytes).astype(np.int64)
    # blank nodes, or VALUES did not match every object: objects decoded per row
    number = {t: i for i, t in enumerate(texts)}
    fields = _tsv_fields(store, _PAIRS_QUERY.format(p=predicate))
    if len(fields) != 2 * expected:
        raise ValueError(f"{predicate}: the pairs do not add up to the facet counts")
    return texts, fields[0::2], np.array([number[o] for o in fields[1::2]], dtype=np.int64)


def _tsv_fields(store, query: str) -> list[bytes]:
    """The terms of a two-variable SELECT's TSV answer, row after row, without its header
    (TSV escapes tabs and line breaks inside terms)."""
    body = _tsv(store, query)
    fields = body[body.index(b"\n") + 1:].replace(b"\n", b"\t").split(b"\t")
    return fields[:-1]  # the answer ends with a line break


def _tsv(store, query: str) -> bytes:
    import pyoxigraph as ox

    return store.query(query, **_UNION).serialize(format=ox.QueryResultsFormat.TSV)


def _tsv_rows(store, query: str) -> list[list[bytes]]:
    """The rows of a SELECT as lists of TSV terms (the engine's own text of each term)."""
    return [line.split(b"\t") for line in _tsv(store, query).split(b"\n")[1:] if line]


def _object_terms(texts: list[bytes]):
    """For the objects' TSV texts: N-Triples → code, code → serialised SPARQL JSON term (as the
    engine writes it), code → rank of its IRI text."""
    import numpy as np
    import pyoxigraph as ox

    document = b"?o\n" + b"".join(t + b"\n" for t in texts)
    parsed = [solution["o"] for solution in ox.parse_query_results(document, ox.QueryResultsFormat.TSV)]
    as_json = ox.parse_query_results(document, ox.QueryResultsFormat.TSV).serialize(format=ox.QueryResultsFormat.JSON)
    bindings = json.loads(as_json)["results"]["bindings"]
    if len(parsed) != len(texts) or len(bindings) != len(texts):
        raise ValueError("the engine's TSV terms did not read back one for one")
    keys = {str(term): code for code, term in enumerate(parsed)}
    terms = [json.dumps(b["o"], ensure_ascii=False, separators=(",", ":")) for b in bindings]
    iri_rank = np.full(len(texts), -1, dtype=np.int64)
    iri_rank[[code for code, t in enumerate(parsed) if isinstance(t, ox.BlankNode)]] = -2
    iris = sorted((t.value, code) for code, t in enumerate(parsed) if isinstance(t, ox.NamedNode))
    for rank, (_, code) in enumerate(iris):
        iri_rank[code] = rank
    strings = np.full(len(texts), -1, dtype=np.int64)
    for rank, (_, code) in enumerate(sorted((t.value, code) for code, t in enumerate(parsed)
                                            if isinstance(t, ox.Literal) and t.datatype.value == XSD_STRING)):
        strings[code] = rank
    numbers = np.full(len(texts), -1, dtype=np.int64)
    values = {code: _number(t) for code, t in enumerate(parsed)}
    values = {code: v for code, v in values.items() if v is not None}
    if values:  # float() never reverses two values' order; values it makes equal share a rank
        _, ranks = np.unique(np.array(list(values.values()), dtype=np.float64), return_inverse=True)
        numbers[list(values)] = ranks.reshape(-1)
    return keys, terms, iri_rank, (strings, numbers)


def _number(term) -> float | None:
    """A numeric literal's value (xsd:integer, decimal, float, double), else None (NaN too)."""
    import math

    import pyoxigraph as ox

    if not isinstance(term, ox.Literal) or term.datatype.value not in _NUMERIC:
        return None
    try:
        value = float(term.value)
    except ValueError:
        return None
    return None if math.isnan(value) else value


KIND = prepared.Kind("aggregates", FORMAT, StarTable, compute)
load = KIND.load  # (cache_dir, build hash) → the build's StarTable, or None
prepare = KIND.prepare  # (store path, cache_dir, build hash): computed once per build
