"""String filters answered from an index of the build's string literals, prepared once per build.

A label search in SPARQL is written as a filter on the object of one predicate::

    ?s rdfs:label ?label . FILTER(CONTAINS(?label, "龙凤"))

pyoxigraph has no text index: it reads every ``rdfs:label`` quad, decodes each literal and
tests it — about 110 ms at 1M triples for 68,000 labels, where Virtuoso takes 40 ms. A build
never changes while it is served, so `bjkg serve` lists once (`prepare`) every distinct
string literal (``xsd:string`` or language-tagged) of every predicate, packed per predicate
into one string with offsets. For a filter of that shape the server finds the literals that
pass it (``str.find`` over the packed text, well under a millisecond) and adds them to the
filter's own group as ``VALUES ?label { … }``; the engine then looks the few literals up in
its object index (0.2 ms).

Why the answer cannot change: the filter stays where it was, and ?label is bound by a
triple pattern at the top level of the same group (not in an OPTIONAL, UNION or nested
group), so every solution of the group has ?label bound to an object of that predicate.
Joining with VALUES keeps exactly the solutions whose ?label is one of the listed
literals; a solution it drops has a ?label that fails the filter (every literal of the
predicate that passes is listed, in every graph — a superset of any dataset's), so the
filter would have dropped it too. `CONTAINS`, `STRSTARTS` and `STRENDS` with a plain string
constant are recognised, alone or as a top-level conjunct of the filter (``&&``); anything
else — a language-tagged or typed constant, a variable bound elsewhere, a property path,
more than `MAX_MATCHES` matching literals — is evaluated by the engine as written.
"""
from __future__ import annotations

import dataclasses
import threading
import time
from array import array
from bisect import bisect_right
from dataclasses import dataclass

from bjkg.server.core import prepared
from bjkg.server.sparql.text import SparqlTextError, Token, prologue, token_iri, tokenize

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bjkg.server.sparql.evaluate import QueryRequest

FORMAT = 1
MAX_MATCHES = 1000  # more literals than this: VALUES would cost more than it saves
FUNCTIONS = ("CONTAINS", "STRSTARTS", "STRENDS")
XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
_SEP = "\x00"


# ---------------------------------------------------------------- the index

class _Packed:
    """One predicate's distinct string literals: their lexical forms, each preceded and
    followed by NUL, in one string with offsets, and each literal's N-Triples suffix
    (``@zh-hans`` …, "" for xsd:string) by number."""

    __slots__ = ("text", "starts", "suffix_ids", "suffixes")

    def __init__(self, literals: list[tuple[str, str]]) -> None:
        suffixes = sorted({suffix for _, suffix in literals})
        number = {s: i for i, s in enumerate(suffixes)}
        self.suffixes = suffixes
        self.starts = array("q")
        self.suffix_ids = array("l")
        offset = 1
        for lexical, suffix in literals:
            self.starts.append(offset)
            self.suffix_ids.append(number[suffix])
            offset += len(lexical) + 1
        self.starts.append(offset)  # the end sentinel
        self.text = _SEP + "".join(lexical + _SEP for lexical, _ in literals)

    def find(self, function: str, needle: str) -> list[int] | None:
        """Numbers of the literals passing `function(literal, needle)`, or None when there are
        more than `MAX_MATCHES`. `needle` holds no NUL, so each occurrence of the pattern —
        NUL + needle for STRSTARTS, needle + NUL for STRENDS — lies within one literal, and
        each is a match: the search never looks at a literal twice."""
        pattern = {"STRSTARTS": _SEP + needle, "STRENDS": needle + _SEP}.get(function, needle)
        shift = 1 if function == "STRSTARTS" else 0
        found: list[int] = []
        text, starts = self.text, self.starts
        pos = text.find(pattern)
        while pos >= 0:
            i = bisect_right(starts, pos + shift) - 1
            found.append(i)
            if len(found) > MAX_MATCHES:
                return None
            pos = text.find(pattern, starts[i + 1] - shift)  # from the next literal on
        return found

    def terms(self, numbers: list[int]) -> list[str]:
        """The literals, in SPARQL (N-Triples) syntax."""
        from pyoxigraph import Literal

        out = []
        for i in numbers:
            lexical = self.text[self.starts[i]:self.starts[i + 1] - 1]
            out.append(str(Literal(lexical)) + self.suffixes[self.suffix_ids[i]])
        return out


class LiteralIndex:
    """predicate IRI → its packed string literals; `skipped`: predicates not indexed."""

    def __init__(self, packed: dict[str, _Packed], skipped: set[str]) -> None:
        self.packed = packed
        self.skipped = skipped

    def matching(self, predicate: str, function: str, needle: str) -> list[str] | None:
        """The string literals of `predicate` that pass the filter, as SPARQL terms; None
        when the index cannot say (predicate skipped, too many matches)."""
        if predicate in self.skipped or not needle or _SEP in needle:
            return None
        packed = self.packed.get(predicate)
        if packed is None:
            return []  # the predicate has no string literal: no solution passes the filter
        numbers = packed.find(function, needle)
        return None if numbers is None else packed.terms(numbers)


_LITERALS_QUERY = """SELECT DISTINCT ?p ?o WHERE {
  ?s ?p ?o FILTER(isLiteral(?o) && (lang(?o) != "" || datatype(?o) = <%s>))
}""" % XSD_STRING


def compute(store) -> LiteralIndex:
    """Every distinct string literal of `store` (a pyoxigraph Store), by predicate."""
    from pyoxigraph import Literal, NamedNode

    by_predicate: dict[str, list[tuple[str, str]]] = {}
    skipped: set[str] = set()
    for p, o in store.query(_LITERALS_QUERY, use_default_graph_as_union=True):
        if not isinstance(p, NamedNode) or not isinstance(o, Literal):
            continue
        if _SEP in o.value:
            skipped.add(p.value)
            continue
        suffix = str(o)[len(str(Literal(o.value))):]
        by_predicate.setdefault(p.value, []).append((o.value, suffix))
    packed = {p: _Packed(sorted(set(lits))) for p, lits in sorted(by_predicate.items()) if p not in skipped}
    return LiteralIndex(packed, skipped)


KIND = prepared.Kind("literals", FORMAT, LiteralIndex, compute)
load = KIND.load  # (cache_dir, build hash) → the build's LiteralIndex, or None
prepare = KIND.prepare  # (store path, cache_dir, build hash): computed once per build


# ---------------------------------------------------------------- the rewrite

@dataclass(frozen=True)
class StringFilter:
    """One recognised filter: `function(?variable, "needle")`, bound by `predicate` in the
    same group; `insert_at` is where its VALUES goes (just after the FILTER)."""

    function: str
    variable: str
    needle: str
    predicate: str
    insert_at: int


def rewrite(text: str, index: LiteralIndex) -> str | None:
    """`text` with a VALUES block after each filter the index can answer; None if none."""
    try:
        toks = list(tokenize(text))
    except SparqlTextError:
        return None
    head = prologue(toks)
    if head is None:
        return None
    prefixes = head[0]
    edits = []
    for found in string_filters(toks, prefixes):
        terms = index.matching(found.predicate, found.function, found.needle)
        if terms is not None:
            edits.append((found.insert_at, f" VALUES {found.variable} {{ {' '.join(terms)} }}"))
    if not edits:
        return None
    for at, block in sorted(edits, reverse=True):
        text = text[:at] + block + text[at:]
    return text


def string_filters(toks: list[Token], prefixes: dict[str, str]) -> list[StringFilter]:
    """The filters of the query that `rewrite` may answer from the index."""
    out = []
    for i, tok in enumerate(toks):
        if tok.kind != "WORD" or tok.text.upper() != "FILTER":
            continue
        group = _enclosing_group(toks, i)
        if group is None:
            continue
        expression = _filter_expression(toks, i)
        if expression is None:
            continue
        start, end = expression  # toks[start:end] is the constraint, parentheses included
        for call in _conjuncts(toks, start, end):
            function, variable, needle = call
            predicate = _binding_predicate(toks, group, variable, prefixes)
            if predicate is not None:
                close = toks[end - 1]
                out.append(StringFilter(function, variable, needle, predicate, close.start + len(close.text)))
                break
    return out


def _is(tok: Token, text: str) -> bool:
    return tok.kind == "PUNCT" and tok.text == text


def _enclosing_group(toks: list[Token], at: int) -> tuple[int, int] | None:
    """(index of `{`, index of its `}`) of the group holding toks[at]."""
    depth = 0
    open_at = None
    for j in range(at - 1, -1, -1):
        if _is(toks[j], "}"):
            depth += 1
        elif _is(toks[j], "{"):
            if depth == 0:
                open_at = j
                break
            depth -= 1
    if open_at is None:
        return None
    depth = 0
    for j in range(at + 1, len(toks)):
        if _is(toks[j], "{"):
            depth += 1
        elif _is(toks[j], "}"):
            if depth == 0:
                return open_at, j
            depth -= 1
    return None


def _filter_expression(toks: list[Token], at: int) -> tuple[int, int] | None:
    """The token range of FILTER's constraint: a bracketed expression or a function call."""
    j = at + 1
    if j < len(toks) and toks[j].kind == "WORD" and toks[j].text.upper() in FUNCTIONS:
        j += 1  # FILTER CONTAINS(…): the call is the constraint
    if j >= len(toks) or not _is(toks[j], "("):
        return None
    depth = 0
    for k in range(j, len(toks)):
        if _is(toks[k], "("):
            depth += 1
        elif _is(toks[k], ")"):
            depth -= 1
            if depth == 0:
                return at + 1, k + 1
        elif toks[k].kind == "PUNCT" and toks[k].text in "{}":
            return None
    return None


def _conjuncts(toks: list[Token], start: int, end: int) -> list[tuple[str, str, str]]:
    """The `FUNCTION(?var, "string")` calls that must all hold for the constraint to hold."""
    inner = toks[start:end]
    while len(inner) >= 2 and _is(inner[0], "(") and _is(inner[-1], ")") and _balanced(inner[1:-1]):
        inner = inner[1:-1]
    parts, depth, current = [], 0, []
    for tok in inner:
        if _is(tok, "("):
            depth += 1
        elif _is(tok, ")"):
            depth -= 1
        if depth == 0 and tok.kind == "PUNCT" and tok.text == "||":
            return []  # a disjunction: no conjunct has to hold
        if depth == 0 and tok.kind == "PUNCT" and tok.text == "&&":
            parts.append(current)
            current = []
        else:
            current.append(tok)
    parts.append(current)
    calls = []
    for part in parts:
        while len(part) >= 2 and _is(part[0], "(") and _is(part[-1], ")") and _balanced(part[1:-1]):
            part = part[1:-1]
        if (len(part) == 6 and part[0].kind == "WORD" and part[0].text.upper() in FUNCTIONS
                and _is(part[1], "(") and part[2].kind == "VAR" and _is(part[3], ",")
                and part[4].kind == "STRING" and _is(part[5], ")")):
            needle = _string_value(part[4].text)
            if needle is not None:
                calls.append((part[0].text.upper(), "?" + part[2].text[1:], needle))
    return calls


def _balanced(toks: list[Token]) -> bool:
    depth = 0
    for tok in toks:
        if _is(tok, "("):
            depth += 1
        elif _is(tok, ")"):
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


_ESCAPES = {"t": "\t", "b": "\b", "n": "\n", "r": "\r", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


def _string_value(token_text: str) -> str | None:
    """The value of a SPARQL string token (None for an escape we do not know)."""
    quote = 3 if token_text[:3] in ('"""', "'''") else 1
    body = token_text[quote:-quote]
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1:i + 2]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt in ("u", "U"):
            width = 4 if nxt == "u" else 8
            digits = body[i + 2:i + 2 + width]
            if len(digits) != width or any(c not in "0123456789abcdefABCDEF" for c in digits):
                return None
            code = int(digits, 16)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                return None
            out.append(chr(code))
            i += 2 + width
        else:
            return None
    return "".join(out)


_SUBJECT_END = ("VAR", "IRI", "PNAME")


def _binding_predicate(toks: list[Token], group: tuple[int, int], variable: str,
                       prefixes: dict[str, str]) -> str | None:
    """The predicate IRI of a triple pattern at the top level of `group` whose object is
    `variable` (so that every solution of the group binds it), or None."""
    open_at, close_at = group
    braces = parens = 0
    for j in range(open_at + 1, close_at):
        tok = toks[j]
        if _is(tok, "{"):
            braces += 1
        elif _is(tok, "}"):
            braces -= 1
        elif _is(tok, "("):
            parens += 1
        elif _is(tok, ")"):
            parens -= 1
        if braces or parens or tok.kind != "VAR" or "?" + tok.text[1:] != variable:
            continue
        # … subject-or-; PREDICATE ?var  followed by  . ; , } or the next keyword
        if j - 2 <= open_at:
            continue
        pred, before, after = toks[j - 1], toks[j - 2], toks[j + 1]
        if not (before.kind in _SUBJECT_END or _is(before, ";") or _is(before, "[") or _is(before, "]")):
            continue
        if j - 3 > open_at and toks[j - 3].kind == "WORD" and toks[j - 3].text.upper() in (
                "FILTER", "BIND", "VALUES", "GRAPH", "SERVICE", "AS"):
            continue  # `FILTER <fn> ?x`-like shapes are not triples
        if not (after.kind == "PUNCT" and after.text in (".", ";", ",", "}", "]")
                or after.kind == "WORD" and after.text.upper() in ("FILTER", "OPTIONAL", "MINUS", "BIND", "VALUES")):
            continue
        iri = token_iri(pred, prefixes)
        if iri is not None:
            return iri
    return None


# ------------------------------------------------------------------ where queries are evaluated
#
# The evaluator process (`PreparedTables`, in `bjkg.server.sparql.workers`), whose lanes
# answer every HTTP process's queries, loads the index once for the whole server instead of
# each HTTP process holding its own copy (issue #17: at 1M triples ≈ 20 MB per HTTP process
# with what rewriting left in its heap); the build store of QUERY_MODE=inline, which
# evaluates in its own process, uses `filters_looked_up` itself (`bjkg.server.stores.embedded`).
# The facet table (`bjkg.server.sparql.aggregates`) stays in the HTTP processes: answered
# there, a star aggregate needs no evaluator, and in the evaluator process the two
# group-by families ran at 0.5–0.65× (one GIL for what two HTTP processes did).

LOOK_EVERY = 0.25  # seconds between two looks for an index not prepared yet (a stat call)


def filters_looked_up(index, sparql: str) -> str | None:
    """The query with its string filters' literals looked up in `index`; None to run it as written."""
    if index is None or "(" not in sparql:
        return None
    head = sparql[:20000].upper()
    if "CONTAINS" not in head and "STRSTARTS" not in head and "STRENDS" not in head:
        return None
    return rewrite(sparql, index)


class PreparedTables:
    """The literal index of one build, in an evaluator process: loaded when its file
    appears in the cache folder (the preparation runs beside the server), looked for at
    most every LOOK_EVERY seconds until it is there. Thread-safe."""

    def __init__(self, prepared: list | tuple | None) -> None:
        self.folder, self.build_hash = prepared if prepared else (None, None)
        self.literals = None
        self._settled = self.folder is None
        self._looked = 0.0
        self._lock = threading.Lock()

    def _look(self) -> None:
        now = time.monotonic()
        if self._settled or now - self._looked < LOOK_EVERY or not self._lock.acquire(blocking=False):
            return
        try:
            self._looked = now
            self.literals = load(self.folder, self.build_hash)
            self._settled = self.literals is not None
        finally:
            self._lock.release()

    def rewrite(self, request: "QueryRequest") -> "QueryRequest | None":
        """The request with its string filters' literals looked up, or None."""
        if request.substitutions:
            return None
        self._look()
        rewritten = filters_looked_up(self.literals, request.sparql)
        return dataclasses.replace(request, sparql=rewritten) if rewritten is not None else None
