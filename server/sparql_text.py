"""Reading SPARQL text without running it: query form, dataset clauses, SERVICE and LOAD.

pyoxigraph exposes no parsed algebra, yet the server must know *before* evaluation whether
a request would make the engine call out (SERVICE in a query or update, LOAD in an update),
which family of formats to negotiate (the query form) and whether the query names its own
dataset (FROM / FROM NAMED). A small lexer that knows SPARQL's strings, IRIs, comments,
prefixed names and language tags answers these questions; text inside strings, IRIs and
comments can never trigger or hide a keyword.

The SERVICE check is deliberately conservative. Oxigraph's parser does not require a word
boundary after keywords (``SERVICE:x``, ``SERVICESILENT <…>`` and ``trueSERVICE <…>`` all
reach the network), so any bare word or prefix that *contains* SERVICE counts as a SERVICE
call, and its target must resolve to an allow-listed IRI. Oxigraph also decodes ``\\u``
escapes inside IRIs, so targets are decoded the same way before comparison.

`add_using` applies the protocol's ``using-graph-uri``/``using-named-graph-uri`` to an update
by inserting validated ``USING <iri>`` clauses at token boundaries (pyoxigraph's update API
takes no dataset), refusing the combinations the protocol calls conflicts.
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import urljoin

from pyoxigraph import NamedNode

_BASE = ("A-Za-z\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u02FF\u0370-\u037D\u037F-\u1FFF\u200C-\u200D"
         "\u2070-\u218F\u2C00-\u2FEF\u3001-\uD7FF\uF900-\uFDCF\uFDF0-\uFFFD\U00010000-\U000EFFFF")
_CHARS = _BASE + r"_\-0-9\u00B7\u0300-\u036F\u203F-\u2040"
_PLX = r"%[0-9A-Fa-f]{2}|\\[_~.\-!$&'()*+,;=/?#@%]"

_WS = re.compile(r"[ \t\r\n\f\v\u00A0\u2028\u2029\ufeff]+")
_COMMENT = re.compile(r"#[^\r\n]*")
_IRI = re.compile(r"<(?:[^<>\"{}|^`\\\x00-\x20]|\\u[0-9A-Fa-f]{4}|\\U[0-9A-Fa-f]{8})*>")
_STRING = re.compile(r'"""(?:[^"\\]|\\.|"(?!""))*"""|\'\'\'(?:[^\'\\]|\\.|\'(?!\'\'))*\'\'\''
                     r'|"(?:[^"\\\r\n]|\\.)*"|\'(?:[^\'\\\r\n]|\\.)*\'', re.S)
_VAR = re.compile(rf"[?$][{_CHARS}]+")
_NAME = re.compile(rf"[{_BASE}_][{_CHARS}.]*")
_LOCAL = re.compile(rf"(?:[{_CHARS}:.]|{_PLX})*")
_LANGTAG = re.compile(r"@[a-zA-Z]+(?:-[a-zA-Z0-9]+)*(?:--[a-zA-Z]+)?")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?")
_PUNCT2 = ("^^", "&&", "||", "<=", ">=", "!=", "<<", ">>", "{|", "|}", "~")

_UCHAR = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")
_LOCAL_ESCAPE = re.compile(r"\\(.)")

QUERY_FORMS = ("SELECT", "CONSTRUCT", "DESCRIBE", "ASK")
UPDATE_WORDS = ("INSERT", "DELETE", "LOAD", "CLEAR", "CREATE", "DROP", "COPY", "MOVE", "ADD", "WITH")


class SparqlTextError(ValueError):
    """The text cannot even be split into SPARQL tokens (e.g. an unterminated string)."""


class DatasetConflict(ValueError):
    """using-graph-uri/using-named-graph-uri given for an update that names its own dataset."""


@dataclass(frozen=True)
class Token:
    kind: str  # IRI STRING VAR PNAME WORD NUMBER LANGTAG PUNCT
    text: str
    start: int

    @property
    def head(self) -> str:
        """For words and prefixed names: the part before the first colon, upper-cased."""
        return self.text.split(":", 1)[0].upper()


def tokenize(text: str) -> Iterator[Token]:
    """Split SPARQL text into tokens, dropping whitespace and comments."""
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        m = _WS.match(text, i)
        if m:
            i = m.end()
            continue
        if ch == "#":
            i = _COMMENT.match(text, i).end()
            continue
        if ch == "<":
            m = _IRI.match(text, i)
            if m:
                yield Token("IRI", m.group(), i)
                i = m.end()
                continue
        if ch in "\"'":
            m = _STRING.match(text, i)
            if not m:
                line, col = _line_col(text, i)
                raise SparqlTextError(f"unterminated string starting at line {line}, column {col}")
            yield Token("STRING", m.group(), i)
            i = m.end()
            continue
        if ch in "?$":
            m = _VAR.match(text, i)
            if m:
                yield Token("VAR", m.group(), i)
                i = m.end()
                continue
        if ch == "@":
            m = _LANGTAG.match(text, i)
            if m:
                yield Token("LANGTAG", m.group(), i)
                i = m.end()
                continue
        if ch.isdigit() or (ch == "." and i + 1 < n and text[i + 1].isdigit()):
            m = _NUMBER.match(text, i)
            yield Token("NUMBER", m.group(), i)
            i = m.end()
            continue
        m = _NAME.match(text, i)
        if m or ch == ":":
            end = m.end() if m else i
            while end > i and text[end - 1] == ".":
                end -= 1
            if end < n and text[end] == ":":
                local = _LOCAL.match(text, end + 1)
                stop = local.end()
                while stop > end + 1 and text[stop - 1] == "." and text[stop - 2] != "\\":
                    stop -= 1
                yield Token("PNAME", text[i:stop], i)
                i = stop
            else:
                yield Token("WORD", text[i:end], i)
                i = end
            continue
        two = text[i:i + 2]
        if two in _PUNCT2:
            yield Token("PUNCT", two, i)
            i += 2
            continue
        yield Token("PUNCT", ch, i)
        i += 1


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _decode_iri(token_text: str) -> str:
    body = token_text[1:-1]
    return _UCHAR.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)), body)


@dataclass(frozen=True)
class ServiceCall:
    """A SERVICE in the text: its resolved target IRI (None when it cannot be known)."""

    target: str | None
    line: int
    column: int
    silent: bool = False


@dataclass
class Analysis:
    """What the server needs to know about a query or update before running it."""

    form: str | None = None  # SELECT, CONSTRUCT, DESCRIBE, ASK, UPDATE, or None
    services: list[ServiceCall] = field(default_factory=list)
    loads: list[tuple[int, int]] = field(default_factory=list)  # (line, column) of each LOAD
    dataset_clause: bool = False  # FROM / FROM NAMED present

    def refused_services(self, allowlist: Sequence[str]) -> list[ServiceCall]:
        allowed = set(allowlist)
        return [s for s in self.services if s.target is None or s.target not in allowed]


class _Names:
    """PREFIX and BASE declarations seen so far, to resolve SERVICE targets."""

    def __init__(self, base_iri: str | None) -> None:
        self.base = base_iri
        self.prefixes: dict[str, str] = {}

    def iri(self, token_text: str) -> str:
        value = _decode_iri(token_text)
        if self.base and not re.match(r"[A-Za-z][A-Za-z0-9+.\-]*:", value):
            return urljoin(self.base, value)
        return value

    def pname(self, text: str) -> str | None:
        prefix, _, local = text.partition(":")
        namespace = self.prefixes.get(prefix)
        if namespace is None:
            return None
        return namespace + _LOCAL_ESCAPE.sub(r"\1", local)


def analyse(text: str, *, base_iri: str | None = None) -> Analysis:
    """Lex `text` (a query or an update) and report its form, SERVICE targets, LOADs, FROMs."""
    toks = list(tokenize(text))
    names = _Names(base_iri)
    result = Analysis()
    i = 0
    while i < len(toks):
        tok = toks[i]
        if tok.kind == "WORD" and tok.head == "PREFIX" and i + 2 < len(toks) \
                and toks[i + 1].kind == "PNAME" and toks[i + 2].kind == "IRI":
            names.prefixes[toks[i + 1].text[:-1] if toks[i + 1].text.endswith(":")
                           else toks[i + 1].text.split(":", 1)[0]] = names.iri(toks[i + 2].text)
            i += 3
            continue
        if tok.kind == "WORD" and tok.head == "BASE" and i + 1 < len(toks) and toks[i + 1].kind == "IRI":
            names.base = names.iri(toks[i + 1].text)
            i += 2
            continue
        if tok.kind in ("WORD", "PNAME"):
            head = tok.head
            if result.form is None and tok.kind == "WORD" and head != "VERSION":
                result.form = next((f for f in QUERY_FORMS if head.startswith(f)), None) or \
                    ("UPDATE" if any(head.startswith(w) for w in UPDATE_WORDS) else None)
            if tok.kind == "WORD" and head.startswith("FROM"):
                result.dataset_clause = True
            if head.startswith("LOAD"):
                result.loads.append(_line_col(text, tok.start))
            if "SERVICE" in head:
                result.services.append(_service_call(text, toks, i, names))
        i += 1
    return result


def _service_call(text: str, toks: list[Token], i: int, names: _Names) -> ServiceCall:
    tok = toks[i]
    line, col = _line_col(text, tok.start)
    rest = tok.text[tok.text.upper().find("SERVICE") + len("SERVICE"):]
    silent = False
    j = i + 1
    if rest.upper().startswith("SILENT"):
        silent, rest = True, rest[len("SILENT"):]
    if not rest and j < len(toks) and toks[j].kind in ("WORD", "PNAME") \
            and toks[j].text.upper().startswith("SILENT") and not silent:
        silent, rest, j = True, toks[j].text[len("SILENT"):], j + 1
    target: str | None = None
    if rest:
        if ":" in rest:
            target = names.pname(rest)
    elif j < len(toks):
        nxt = toks[j]
        if nxt.kind == "IRI":
            target = names.iri(nxt.text)
        elif nxt.kind == "PNAME":
            target = names.pname(nxt.text)
    return ServiceCall(target, line, col, silent)


# --------------------------------------------------------------------------- updates

def add_using(text: str, default_graphs: Sequence[str], named_graphs: Sequence[str]) -> str:
    """Apply protocol ``using-graph-uri``/``using-named-graph-uri`` to every DELETE/INSERT … WHERE.

    The IRIs are validated as `NamedNode`s and written in N-Triples form, so nothing but a
    well-formed ``USING <iri>`` is ever inserted. An operation that already has USING or WITH
    raises `DatasetConflict` (the protocol requires refusing it), as does DELETE WHERE, whose
    grammar has no place for USING.
    """
    if not default_graphs and not named_graphs:
        return text
    clause = " ".join([f"USING {NamedNode(g)}" for g in default_graphs]
                      + [f"USING NAMED {NamedNode(g)}" for g in named_graphs])
    insert_at: list[int] = []
    for op in _operations(list(tokenize(text))):
        first = _first_operation_word(op)
        if first is None:
            continue
        if first.head == "WITH" or "USING" in _depth0_heads(op):
            raise DatasetConflict(
                "using-graph-uri/using-named-graph-uri cannot be combined with an update that "
                "names its own dataset (USING or WITH); remove one of them.")
        if first.head in ("INSERT", "DELETE"):
            nxt = _next_token(op, first)
            if nxt is not None and nxt.kind == "WORD" and nxt.head == "DATA":
                continue
            if first.head == "DELETE" and nxt is not None and nxt.kind == "WORD" and nxt.head == "WHERE":
                raise DatasetConflict(
                    "using-graph-uri/using-named-graph-uri cannot apply to DELETE WHERE; write it "
                    "as DELETE { … } WHERE { … }.")
            where = _depth0_where(op)
            if where is not None:
                insert_at.append(where.start)
    for pos in sorted(insert_at, reverse=True):
        text = f"{text[:pos]}{clause} {text[pos:]}"
    return text


def _operations(toks: list[Token]) -> Iterator[list[Token]]:
    depth, current = 0, []
    for tok in toks:
        if tok.kind == "PUNCT" and tok.text in "{([":
            depth += 1
        elif tok.kind == "PUNCT" and tok.text in "})]":
            depth -= 1
        if depth == 0 and tok.kind == "PUNCT" and tok.text == ";":
            yield current
            current = []
        else:
            current.append(tok)
    yield current


def _first_operation_word(op: list[Token]) -> Token | None:
    i = 0
    while i < len(op):
        tok = op[i]
        if tok.kind == "WORD" and tok.head == "PREFIX":
            i += 3
        elif tok.kind == "WORD" and tok.head == "BASE":
            i += 2
        elif tok.kind == "WORD" and tok.head == "VERSION":
            i += 2
        elif tok.kind == "WORD":
            return tok
        else:
            return None
    return None


def _next_token(op: list[Token], tok: Token) -> Token | None:
    index = op.index(tok)
    return op[index + 1] if index + 1 < len(op) else None


def _depth0(op: list[Token]) -> Iterator[Token]:
    depth = 0
    for tok in op:
        if tok.kind == "PUNCT" and tok.text in "{([":
            depth += 1
        elif tok.kind == "PUNCT" and tok.text in "})]":
            depth -= 1
        elif depth == 0:
            yield tok


def _depth0_heads(op: list[Token]) -> list[str]:
    return [t.head for t in _depth0(op) if t.kind == "WORD"]


def _depth0_where(op: list[Token]) -> Token | None:
    return next((t for t in _depth0(op) if t.kind == "WORD" and t.head == "WHERE"), None)


def dataset_iris(values: Sequence[str], parameter: str) -> tuple[str, ...]:
    """Validate graph IRIs given as protocol parameters; ValueError names the parameter."""
    out = []
    for value in values:
        try:
            out.append(NamedNode(value).value)
        except ValueError:
            raise ValueError(f"{parameter}={value!r} is not an absolute IRI") from None
    return tuple(out)

