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

Two more rewrites work the same way, on token boundaries and with validated terms only:
`redirect_services` points each (already allow-listed) SERVICE target at the federation
relay (`bjkg.server.sparql.federation`), and `substitute` binds variables to terms for stores without
SEP-0007 substitution (`bjkg.server.stores.remote`). `Analysis.engine_functions` lists IRIs in
Virtuoso's ``bif:``/``sql:`` namespaces: through them a remote Virtuoso calls built-in SQL
procedures (``bif:http_get`` fetches a URL), so they are refused whatever the store.
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple
from urllib.parse import urljoin

from pyoxigraph import NamedNode

from bjkg.server.core.errors import shown

_BASE = ("A-Za-z\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u02FF\u0370-\u037D\u037F-\u1FFF\u200C-\u200D"
         "\u2070-\u218F\u2C00-\u2FEF\u3001-\uD7FF\uF900-\uFDCF\uFDF0-\uFFFD\U00010000-\U000EFFFF")
_CHARS = _BASE + r"_\-0-9\u00B7\u0300-\u036F\u203F-\u2040"
_PLX = r"%[0-9A-Fa-f]{2}|\\[_~.\-!$&'()*+,;=/?#@%]"

_WS = re.compile(r"[ \t\r\n\f\v\u00A0\u2028\u2029\ufeff]+")
# what `_WS` takes as white space (so that no check can be dodged with it) and SPARQL does
# not (WS is space, tab, CR, LF): the engine refuses a query holding one outside a string,
# so a shortcut that answers without the engine declines a text that holds one
FOREIGN_SPACE = re.compile("[\f\v\u00A0\u2028\u2029\ufeff]")
_COMMENT = re.compile(r"#[^\r\n]*")
_IRI = re.compile(r"<(?:[^<>\"{}|^`\\\x00-\x20]|\\u[0-9A-Fa-f]{4}|\\U[0-9A-Fa-f]{8})*>")
_STRING = re.compile(r'"""(?:[^"\\]|\\.|"(?!""))*"""|\'\'\'(?:[^\'\\]|\\.|\'(?!\'\'))*\'\'\''
                     r'|"(?:[^"\\\r\n]|\\.)*"|\'(?:[^\'\\\r\n]|\\.)*\'', re.S)
_VAR = re.compile(rf"[?$][{_CHARS}]+")
_LANGTAG = re.compile(r"@[a-zA-Z]+(?:-[a-zA-Z0-9]+)*(?:--[a-zA-Z]+)?")
# [0-9], not \d: a number is ASCII digits (str.isdigit() also takes ² and ٣, which SPARQL does not)
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?")
_MAX_LIMIT_DIGITS = 18  # a LIMIT longer than this is no row bound the server can use
_PUNCT2 = ("^^", "&&", "||", "<=", ">=", "!=", "<<", ">>", "{|", "|}", "~")

_UCHAR = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")
_LOCAL_ESCAPE = re.compile(r"\\(.)")

QUERY_FORMS = ("SELECT", "CONSTRUCT", "DESCRIBE", "ASK")
UPDATE_WORDS = ("INSERT", "DELETE", "LOAD", "CLEAR", "CREATE", "DROP", "COPY", "MOVE", "ADD", "WITH")


class SparqlTextError(ValueError):
    """The text cannot even be split into SPARQL tokens (e.g. an unterminated string)."""


class NestingTooDeep(ValueError):
    """The text nests deeper than the server lets the engine parse (setting MAX_NESTING)."""

    def __init__(self, depth: int, limit: int) -> None:
        super().__init__(
            f"The request nests {depth} levels deep (brackets, braces, parentheses, paths, "
            f"negations and chains such as OPTIONAL, UNION or ||, as counted before parsing); "
            f"this server accepts at most {limit} (setting MAX_NESTING). Flatten the query: "
            "fewer nested groups or brackets, VALUES or IN instead of long chains of "
            "UNION or ||.")
        self.depth = depth
        self.limit = limit


class DatasetConflict(ValueError):
    """using-graph-uri/using-named-graph-uri given for an update that names its own dataset."""


class Token(NamedTuple):
    """A SPARQL token: its kind (IRI STRING VAR PNAME WORD NUMBER LANGTAG PUNCT), its text
    as written and where it starts. A named tuple: a query's tokens are made on every
    request, and a frozen dataclass took four times as long to make."""

    kind: str
    text: str
    start: int

    @property
    def head(self) -> str:
        """For words and prefixed names: the part before the first colon, upper-cased."""
        return self.text.split(":", 1)[0].upper()


# One pattern for the next token, whitespace and comments before it skipped, so that one
# `finditer` walks the text (the lexer runs on every request: ≈ 60 → 44 µs for a 50-token
# query, against a test per kind). The alternatives are tried in order and each begins
# with its own characters, so the first that matches is the token's kind; a name ends
# before its trailing dots (the longest run ending in a name character or an escape), and
# `unterminated` is a quote no string closes. Some alternative matches at every position
# (a lone character is PUNCT), so no character is ever skipped.
_PREFIX_NAME = rf"[{_BASE}_](?:[{_CHARS}.]*[{_CHARS}])?"
_TOKEN = re.compile(
    rf"(?:{_WS.pattern}|{_COMMENT.pattern})*"
    rf"(?:(?P<IRI>{_IRI.pattern})|(?P<STRING>{_STRING.pattern})|(?P<unterminated>[\"'])"
    rf"|(?P<VAR>{_VAR.pattern})|(?P<LANGTAG>{_LANGTAG.pattern})|(?P<NUMBER>{_NUMBER.pattern})"
    rf"|(?P<PNAME>(?:{_PREFIX_NAME})?:(?:(?:[{_CHARS}:.]|{_PLX})*(?:[{_CHARS}:]|{_PLX}))?)"
    rf"|(?P<WORD>{_PREFIX_NAME})"
    rf"|(?P<PUNCT>{'|'.join(re.escape(p) for p in _PUNCT2)}|.)|\Z)", re.S)


def tokenize(text: str) -> Iterator[Token]:
    """Split SPARQL text into tokens, dropping whitespace and comments."""
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind is None:  # only whitespace and comments were left
            return
        if kind == "unterminated":
            line, col = _line_col(text, m.start(kind))
            raise SparqlTextError(f"unterminated string starting at line {line}, column {col}")
        yield Token(kind, m.group(kind), m.start(kind))


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _decode_iri(token_text: str) -> str:
    """The IRI with its \\u/\\U escapes decoded; an escape that names no character (a
    surrogate, or beyond U+10FFFF) is kept as written, and the engine will refuse it."""
    value = token_text[1:-1]
    return _UCHAR.sub(_decode_escape, value) if "\\" in value else value


def _decode_escape(match: re.Match) -> str:
    code = int(match.group(1) or match.group(2), 16)
    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return match.group()
    return chr(code)


RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"


def prologue(toks: Sequence[Token]) -> tuple[dict[str, str], int] | None:
    """(prefix → namespace, index of the first token after them) of the PREFIX
    declarations that open a query; None for a BASE (relative IRIs are left to the
    engine) or a malformed declaration. For the server's shortcuts that read a query's
    shape (bjkg.server.sparql.aggregates, bjkg.server.sparql.literal_index)."""
    prefixes: dict[str, str] = {}
    i = 0
    while i < len(toks) and toks[i].kind == "WORD" and toks[i].text.upper() in ("PREFIX", "BASE"):
        if toks[i].text.upper() == "BASE":
            return None
        if i + 2 >= len(toks) or toks[i + 1].kind != "PNAME" or toks[i + 2].kind != "IRI":
            return None
        if "\\" in toks[i + 2].text:
            return None  # an escaped namespace (`\u006F`): the engine reads it (as `token_iri` leaves <\…>)
        prefixes[toks[i + 1].text.split(":", 1)[0]] = toks[i + 2].text[1:-1]
        i += 3
    return prefixes, i


def token_iri(tok: Token, prefixes: Mapping[str, str]) -> str | None:
    """The absolute IRI a token names (<iri>, a prefixed name, or `a`), or None: escapes,
    relative IRIs and unknown prefixes are left to the engine."""
    if tok.kind == "IRI" and "\\" not in tok.text:
        value = tok.text[1:-1]
        return value if ":" in value else None
    if tok.kind == "PNAME" and "\\" not in tok.text and "%" not in tok.text:
        prefix, _, local = tok.text.partition(":")
        if prefix in prefixes and ":" in prefixes[prefix]:
            return prefixes[prefix] + local
    if tok.kind == "WORD" and tok.text == "a":
        return RDF_TYPE
    return None


@dataclass(frozen=True)
class ServiceCall:
    """A SERVICE in the text: its resolved target IRI (None when it cannot be known), and
    `span`, the (start, end) of the characters naming the target, for `redirect_services`."""

    target: str | None
    line: int
    column: int
    silent: bool = False
    span: tuple[int, int] | None = None
    word: str = "SERVICE"  # the token as written (``service:x``, ``SERVICESILENT``, ``trueSERVICE`` …)


ENGINE_SCHEMES = ("bif:", "sql:")  # Virtuoso's built-in function namespaces


@dataclass(frozen=True)
class EngineFunction:
    """An IRI in an engine's built-in function namespace (``bif:``/``sql:``), where written."""

    iri: str
    line: int
    column: int


@dataclass
class Analysis:
    """What the server needs to know about a query or update before running it."""

    form: str | None = None  # SELECT, CONSTRUCT, DESCRIBE, ASK, UPDATE, or None
    services: list[ServiceCall] = field(default_factory=list)
    loads: list[tuple[int, int]] = field(default_factory=list)  # (line, column) of each LOAD
    dataset_clause: bool = False  # FROM / FROM NAMED present
    from_graphs: list[str] = field(default_factory=list)  # resolved FROM IRIs
    from_named_graphs: list[str] = field(default_factory=list)  # resolved FROM NAMED IRIs
    engine_functions: list[EngineFunction] = field(default_factory=list)
    # The top level after the WHERE group (bjkg.server.sparql.evaluate lets the engine serialise an
    # answer whose length is bounded): the query's LIMIT, and whether one may be appended.
    row_bound: int | None = None
    limit_appendable: bool = False
    select_star: bool = False  # the outermost projection is `*` (see `select_star`)

    def refused_services(self, allowlist: Sequence[str]) -> list[ServiceCall]:
        allowed = set(allowlist)
        return [s for s in self.services if s.target is None or s.target not in allowed]


class IriNames:
    """PREFIX and BASE declarations seen so far, to resolve SERVICE targets (and, in
    bjkg.server.stores.remote, the graph IRIs of GRAPH patterns)."""

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
        return namespace + (_LOCAL_ESCAPE.sub(r"\1", local) if "\\" in local else local)


def _engine_iri(value: str | None) -> bool:
    return value is not None and value.lower().startswith(ENGINE_SCHEMES)


def check_nesting(text: str, limit: int) -> None:
    """Raise `NestingTooDeep` when `text` nests deeper than `limit` (see `nesting_depth`).

    Most queries are settled by `_nesting_bound`, an upper bound made of character counts
    (≈ 30 µs for a page of SPARQL, the full scan ≈ 200 µs)."""
    if _nesting_bound(text) <= limit:
        return
    depth = nesting_depth(text)
    if depth > limit:
        raise NestingTooDeep(depth, limit)


def analyse(text: str, *, base_iri: str | None = None, max_nesting: int | None = None) -> Analysis:
    """Lex `text` (a query or an update) and report its form, SERVICE targets, LOADs, FROMs
    and engine function IRIs. With `max_nesting`, first raise `NestingTooDeep` for a text
    too deep for the engine to parse (`check_nesting`)."""
    if max_nesting is not None:
        check_nesting(text, max_nesting)
    toks = list(tokenize(text))
    names = IriNames(base_iri)
    result = Analysis()
    for tok in toks:  # every IRI, declarations included: `PREFIX b: <bif:>` leads there too
        if tok.kind == "IRI" and _engine_iri(_decode_iri(tok.text)):
            result.engine_functions.append(EngineFunction(_decode_iri(tok.text), *_line_col(text, tok.start)))
    i = 0
    while i < len(toks):
        tok = toks[i]
        if tok.kind not in ("WORD", "PNAME"):
            i += 1
            continue
        head = tok.head
        if tok.kind == "PNAME":
            resolved = names.pname(tok.text)
            if _engine_iri(resolved) or (resolved is None and _engine_iri(tok.text.split(":", 1)[0] + ":")):
                result.engine_functions.append(EngineFunction(tok.text, *_line_col(text, tok.start)))
        if tok.kind == "WORD" and head == "PREFIX" and i + 2 < len(toks) \
                and toks[i + 1].kind == "PNAME" and toks[i + 2].kind == "IRI":
            names.prefixes[toks[i + 1].text[:-1] if toks[i + 1].text.endswith(":")
                           else toks[i + 1].text.split(":", 1)[0]] = names.iri(toks[i + 2].text)
            i += 3
            continue
        if tok.kind == "WORD" and head == "BASE" and i + 1 < len(toks) and toks[i + 1].kind == "IRI":
            names.base = names.iri(toks[i + 1].text)
            i += 2
            continue
        if result.form is None and tok.kind == "WORD" and head != "VERSION":
            result.form = next((f for f in QUERY_FORMS if head.startswith(f)), None) or \
                ("UPDATE" if any(head.startswith(w) for w in UPDATE_WORDS) else None)
        if tok.kind == "WORD" and head.startswith("FROM"):
            result.dataset_clause = True
            _from_clause(toks, i, names, result)
        if head.startswith("LOAD"):
            result.loads.append(_line_col(text, tok.start))
        if "SERVICE" in head:
            result.services.append(_service_call(text, toks, i, names))
        i += 1
    if result.form == "SELECT":
        result.row_bound, result.limit_appendable = _top_level_limit(toks)
        result.select_star = _star(toks) is not None
    return result


def select_star(text: str) -> tuple[int, tuple[str, ...], bool] | None:
    """For a query whose outermost projection is `*` (``SELECT * …``, ``SELECT DISTINCT *``):
    where that `*` is in `text`, the names of the variables in the order they first appear
    after it, and whether it calls a SERVICE; None for any other text.

    SPARQL leaves the column order of `SELECT *` open; pyoxigraph sorts the names (`?s ?p
    ?o` comes back as o, p, s), where Jena, Virtuoso and Blazegraph keep the order of the
    query. `bjkg.server.sparql.evaluate` writes the engine's own variables out in this order."""
    try:
        toks = list(tokenize(text))
    except SparqlTextError:
        return None
    at = _star(toks)
    if at is None:
        return None
    order = dict.fromkeys(t.text[1:] for t in toks[at + 1:] if t.kind == "VAR")
    service = any(t.kind in ("WORD", "PNAME") and "SERVICE" in t.head for t in toks)
    return toks[at].start, tuple(order), service


def _star(toks: list[Token]) -> int | None:
    """The index of the `*` projecting the outermost SELECT, if it is one."""
    form = next((i for i, t in enumerate(toks) if t.kind == "WORD" and t.head in QUERY_FORMS), None)
    if form is None or toks[form].head != "SELECT":
        return None
    at = form + 1
    if at < len(toks) and toks[at].kind == "WORD" and toks[at].head in ("DISTINCT", "REDUCED"):
        at += 1
    return at if at < len(toks) and toks[at].kind == "PUNCT" and toks[at].text == "*" else None


def _top_level_limit(toks: list[Token]) -> tuple[int | None, bool]:
    """(LIMIT n of the outermost query or None, whether `LIMIT n` may be appended to the text).

    Solution modifiers of the outermost query are the depth-0 tokens after its first `{`
    (the WHERE group; a subquery's LIMIT sits inside braces). A trailing VALUES block or a
    second operation makes appending unsafe; so does anything the lexer cannot place.
    """
    depth = 0
    seen_group = False
    limit: int | None = None
    appendable = True
    for index, tok in enumerate(toks):
        if tok.kind == "PUNCT" and tok.text == "{":
            depth += 1
            seen_group = True
            continue
        if tok.kind == "PUNCT" and tok.text == "}":
            depth -= 1
            continue
        if depth or not seen_group:
            continue
        if tok.kind == "WORD" and tok.head in ("VALUES", "SELECT", "CONSTRUCT", "ASK", "DESCRIBE"):
            appendable = False
        elif tok.kind == "PUNCT" and tok.text == ";":
            appendable = False
        elif tok.kind == "WORD" and tok.head == "LIMIT":
            following = toks[index + 1] if index + 1 < len(toks) else None
            if following is not None and _plain_integer(following):
                limit = int(following.text)
            appendable = False
    if depth != 0 or not seen_group:
        return None, False
    return limit, appendable and limit is None


def _plain_integer(tok: Token) -> bool:
    """A token that is an integer the server can use as a row count (ASCII digits only,
    and few enough of them: `int` refuses texts of more than 4,300 digits)."""
    return tok.kind == "NUMBER" and tok.text.isascii() and tok.text.isdigit() \
        and len(tok.text) <= _MAX_LIMIT_DIGITS


def _from_clause(toks: list[Token], i: int, names: IriNames, result: Analysis) -> None:
    """Record the graph of ``FROM [NAMED] <iri>`` starting at token `i` (when it is one)."""
    j = i + 1
    named = j < len(toks) and toks[j].kind == "WORD" and toks[j].text.upper() == "NAMED"
    j += 1 if named else 0
    if toks[i].text.upper() != "FROM" or j >= len(toks):
        return
    target = toks[j]
    iri = names.iri(target.text) if target.kind == "IRI" else (
        names.pname(target.text) if target.kind == "PNAME" else None)
    if iri is not None:
        (result.from_named_graphs if named else result.from_graphs).append(iri)


def _service_call(text: str, toks: list[Token], i: int, names: IriNames) -> ServiceCall:
    tok = toks[i]
    line, col = _line_col(text, tok.start)
    cut = tok.text.upper().find("SERVICE") + len("SERVICE")
    rest, rest_start = tok.text[cut:], tok.start + cut
    silent = False
    j = i + 1
    if rest.upper().startswith("SILENT"):
        silent, rest, rest_start = True, rest[len("SILENT"):], rest_start + len("SILENT")
    if not rest and j < len(toks) and toks[j].kind in ("WORD", "PNAME") \
            and toks[j].text.upper().startswith("SILENT") and not silent:
        silent, rest, rest_start, j = True, toks[j].text[len("SILENT"):], toks[j].start + len("SILENT"), j + 1
    target: str | None = None
    span: tuple[int, int] | None = None
    if rest:
        if ":" in rest:
            target = names.pname(rest)
            span = (rest_start, rest_start + len(rest))
    elif j < len(toks):
        nxt = toks[j]
        if nxt.kind == "IRI":
            target = names.iri(nxt.text)
        elif nxt.kind == "PNAME":
            target = names.pname(nxt.text)
        span = (nxt.start, nxt.start + len(nxt.text))
    return ServiceCall(target, line, col, silent, span if target is not None else None, tok.text)


def redirect_services(text: str, calls: Sequence[ServiceCall], route) -> str:
    """Replace each SERVICE target by ``route(target)`` (an absolute IRI, validated here).

    Every call must have a known target (refuse the others first); the replacement is the
    N-Triples form of a `NamedNode`, padded with spaces so it can follow ``SERVICE`` or
    ``SILENT`` directly.
    """
    edits = []
    for call in calls:
        if call.target is None or call.span is None:
            raise ValueError(f"SERVICE at line {call.line} has no known target to redirect")
        edits.append((call.span, f" {NamedNode(route(call.target))} "))
    for (start, end), replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


# --------------------------------------------------------------------------- nesting

# One pass over the text for `nesting_depth`: strings, comments and language tags are
# skipped, and IRIs; brackets, operators and words are counted.
_SCAN_SKIP = (r'"""(?:[^"\\]|\\.|"(?!""))*"""|' r"'''(?:[^'\\]|\\.|'(?!''))*'''|"
              r'"(?:[^"\\\r\n]|\\.)*"|' r"'(?:[^'\\\r\n]|\\.)*'|#[^\r\n]*|@[A-Za-z][A-Za-z0-9\-]*")
_SCAN_ESCAPE = r"\\[_~.\-!$&'()*+,;=/?#@%]|%[0-9A-Fa-f]{2}"  # in prefixed names, as SPARQL has them
_SCAN_REST = (r"|(?P<open><<|[{(\[])|(?P<close>>>|[})\]])"
              r"|(?P<op>\|\||&&|!=|<=|>=|[!^|/*+\-=<>.;,])"
              rf"|(?P<word>[?$]?(?:\w|{_SCAN_ESCAPE})(?:(?:[\w\-.:]|{_SCAN_ESCAPE})*(?:[\w\-:]|{_SCAN_ESCAPE}))?"
              rf"|:(?:[\w\-.]|{_SCAN_ESCAPE})*)")
_SCAN_WITH_IRIS = re.compile(rf"(?P<skip>{_SCAN_SKIP})|(?P<iri>{_IRI.pattern}){_SCAN_REST}", re.S)
_SCAN_WITHOUT_IRIS = re.compile(rf"(?P<skip>{_SCAN_SKIP}){_SCAN_REST}", re.S)
# Words that join the group they stand in to the next element (a left-deep algebra tree).
_CHAIN_WORDS = frozenset({"UNION", "OPTIONAL", "MINUS", "FILTER", "BIND", "SERVICE", "GRAPH",
                          "VALUES", "EXISTS", "NOT", "SELECT", "LATERAL"})
_RAW_BRACKETS = re.compile(r"[{(\[]|[})\]]")
_MAX_READINGS = 16  # texts with more ways to be read than this are not measured: refused


def nesting_depth(text: str) -> int:
    """How deep the engine's parser and evaluator would have to recurse for `text`, as a
    count: an upper bound, computed by a few linear scans, without parsing.

    Why: pyoxigraph parses and evaluates recursively on the native stack, and a query
    nested a few thousand levels deep (``{{{{…``, ``((((…``, ``!!!!…``, nested paths or
    OPTIONALs) overflows it: the process dies of SIGSEGV, which Python cannot catch. So the
    server measures the text first and refuses it (MAX_NESTING) before the engine sees it.

    What counts: each open bracket (``{ ( [ <<``) one level, two when a word, IRI or
    literal stands right before it (a keyword such as OPTIONAL or EXISTS, or a function
    call, costs the engine a level of its own); and, since a flat sequence is folded into a
    left-deep tree (``a || b || c``, ``{…} UNION {…} UNION …``, a row of OPTIONALs, BINDs or
    triple patterns), every operator, separator (``.``; ``;`` and ``,`` inside braces and
    brackets) and group keyword (`_CHAIN_WORDS`) one level more, in its bracket, until the
    bracket closes. Text in strings, comments and language tags never counts. The
    separators and GRAPH blocks of INSERT DATA / DELETE DATA do not count: the engine reads
    quad data into a list (1,000 triples in one block are one level, not a thousand).

    SPARQL cannot be lexed without parsing it: whether ``<`` opens an IRI or means "less
    than" depends on the grammar. Inside parentheses (but not in a VALUES block), after an
    operand, ``<…>`` may be either; its content is then counted as code too (``?x<((((…))))>0`` is a comparison),
    and where the two readings would split the rest of the text differently into strings
    and comments (`_splits_differently`), the text is scanned both ways, for each such
    place, and the largest count is the answer; a text with more than `_MAX_READINGS`
    readings counts as too deep. The raw characters are scanned too (every bracket,
    wherever it stands).
    """
    deepest = _raw_depth(text)
    readings, done = [()], 0
    while readings:
        choices = readings.pop()
        done += 1
        if done > _MAX_READINGS:
            return max(deepest, 1 << 30)  # not measurable: refused whatever the limit
        depth, forks = _scan(text, choices)
        deepest = max(deepest, depth)
        # every place this reading met beyond its own choices: read it the other way too
        readings.extend(choices + (False,) * k + (True,) for k in range(forks - len(choices)))
    return deepest


def _scan(text: str, choices: tuple[bool, ...]) -> tuple[int, int]:
    """(the count for one reading, how many ambiguous `<` it met). `choices[i]` says how the
    i-th ambiguous `<` is read: True "less than", False (or missing) an IRI."""
    # [opener, weight, items, in a VALUES block, in quad data] per open bracket; the root first
    frames: list[list] = [["", 0, 0, False, False]]
    total = deepest = 0
    pending = 0  # 1 right after a word, IRI or literal: the next bracket costs one more
    operand = False  # the last token ends an operand: a `<` now may mean "less than"
    values = False  # after VALUES, until its block opens: rows hold terms, never a comparison
    data = False  # after INSERT DATA / DELETE DATA, until its block opens
    previous = ""  # the last word, upper-cased
    forks = 0
    pos, end = 0, len(text)
    while pos < end:
        match = _SCAN_WITH_IRIS.search(text, pos)
        if match is None:
            break
        kind, token = match.lastgroup, match.group()
        pos = match.end()
        frame = frames[-1]
        if kind == "iri":
            if operand and frame[0] == "(" and not frame[3]:  # may be "less than" the content
                deepest = max(deepest, total + 1 + _scan_code(token[1:-1]))
                if _splits_differently(text, match):
                    less_than = forks < len(choices) and choices[forks]
                    forks += 1
                    if less_than:
                        kind, token = "op", "<"
                        pos = match.start() + 1
            if kind == "iri":
                pending, operand = 1, True
                continue
        if kind == "skip":
            if token[0] in "\"'":
                pending, operand = 1, True
            continue
        operand = kind == "word" or token in (")", "]")
        if kind == "open":
            weight = 1 + pending
            frames.append([token, weight, 0, frame[3] or values, frame[4] or (data and token == "{")])
            values = values and token != "{"
            data = data and token != "{"
            total += weight
            pending = 0
        elif kind == "close":
            pending = 0
            if len(frames) > 1:
                _, weight, items, _, _ = frames.pop()
                total -= weight + items
            continue
        elif kind == "op":
            pending = 0
            if token in ";," and frame[0] not in ("{", "["):
                continue
            if frame[4] and token in ".;,":  # quad data is a list to the parser, not a tree
                continue
            frame[2] += 1
            total += 1
        else:
            pending = 1
            upper = token.upper()
            values = values or upper == "VALUES"
            data = data or (upper == "DATA" and previous in ("INSERT", "DELETE"))
            previous = upper
            if upper in _CHAIN_WORDS and not frame[4]:
                frame[2] += 1
                total += 1
        if total > deepest:
            deepest = total
    return deepest, forks


def _splits_differently(text: str, match: re.Match) -> bool:
    """Whether reading this ``<…>`` as "less than" would put other text into strings or
    comments than reading it as an IRI: a ``'`` in it opens a string up to the next ``'`` on
    the line; a ``#`` in it a comment to the end of the line, which matters only if the IRI
    reading then opens a long string (``\"\"\"`` or ``\'\'\'``) on that line."""
    token, stop = match.group(), match.end()
    line_end = min((i for i in (text.find("\n", stop), text.find("\r", stop)) if i >= 0), default=len(text))
    rest = text[stop:line_end]
    if "'" in token and ("'" in token[token.index("'") + 1:] or "'" in rest):
        return True
    return "#" in token and ('"""' in rest or "'''" in rest)


def _nesting_bound(text: str) -> int:
    """An upper bound of `nesting_depth` from character counts alone: every bracket at its
    heaviest (2), every character that may be or begin an operator (1: ``<<`` is two of them,
    worth 2), every occurrence of a chain word, even inside another word."""
    upper = text.upper()
    return (2 * (text.count("{") + text.count("(") + text.count("["))
            + sum(text.count(ch) for ch in "!^|/*+-=<>.;,&")
            + sum(upper.count(word) for word in _CHAIN_WORDS))


def _scan_code(text: str) -> int:
    """The count for a piece of text read as code (no IRIs in it): the content of ``<…>``."""
    frames, total, deepest = [0], 0, 0
    for match in _SCAN_WITHOUT_IRIS.finditer(text):
        kind = match.lastgroup
        if kind == "open":
            frames.append(0)
            total += 1
        elif kind == "close":
            if len(frames) > 1:
                total -= 1 + frames.pop()
        elif kind == "op":
            frames[-1] += 1
            total += 1
        deepest = max(deepest, total)
    return deepest


def _raw_depth(text: str) -> int:
    """The bracket depth of the raw characters, strings, IRIs and comments included."""
    depth = deepest = 0
    for match in _RAW_BRACKETS.finditer(text):
        if match.group() in "{([":
            depth += 1
            deepest = max(deepest, depth)
        elif depth:
            depth -= 1
    return deepest


# --------------------------------------------------------------------------- substitution

def sparql_term(term) -> str:
    """A `NamedNode` or `Literal` in SPARQL syntax (its N-Triples form, which SPARQL reads)."""
    from pyoxigraph import Literal

    if isinstance(term, (NamedNode, Literal)):
        return str(term)
    raise ValueError(f"only IRIs and literals can be substituted, not {term!r}")


def substitute(text: str, bindings: Mapping[str, object]) -> str:
    """Bind variables to terms for a store without SEP-0007 substitution.

    Inside the query's braces each bound variable is replaced by its term (in an inner
    SELECT's projection by ``(term AS ?v)``), so the store can use the constant. For
    SELECT and DESCRIBE a ``VALUES`` block at the start of the WHERE group binds the
    variables once more for the projection, GROUP BY and ORDER BY (a trailing VALUES
    clause would do in SPARQL, but Virtuoso drops every row when its variables are not in
    the pattern). Terms are validated pyoxigraph terms written in N-Triples form, never
    text from a request.
    """
    if not bindings:
        return text
    terms = {name.lstrip("?$"): sparql_term(term) for name, term in bindings.items()}
    toks = list(tokenize(text))
    edits: list[tuple[int, int, str]] = []
    depth = parens = 0
    projection = False  # inside an inner SELECT's projection
    form = None
    where_open: int | None = None  # just after the `{` opening the top-level WHERE group
    for tok in toks:
        if form is None and tok.kind == "WORD" and tok.text.upper() in QUERY_FORMS:
            form = tok.text.upper()
        if tok.kind == "PUNCT" and tok.text == "{":
            if depth == 0 and where_open is None and form in ("SELECT", "DESCRIBE"):
                where_open = tok.start + 1
            depth += 1
            projection = False
        elif tok.kind == "PUNCT" and tok.text == "}":
            depth -= 1
        elif tok.kind == "PUNCT" and tok.text == "(":
            parens += 1
        elif tok.kind == "PUNCT" and tok.text == ")":
            parens -= 1
        elif tok.kind == "WORD" and depth >= 1 and tok.text.upper() == "SELECT":
            projection, parens = True, 0
        elif tok.kind == "WORD" and tok.text.upper() == "WHERE":
            projection = False
        elif tok.kind == "VAR" and depth >= 1 and tok.text[1:] in terms:
            term = terms[tok.text[1:]]
            replacement = f"({term} AS {tok.text})" if projection and parens == 0 else term
            edits.append((tok.start, tok.start + len(tok.text), replacement))
    if where_open is not None:
        names = " ".join(f"?{name}" for name in terms)
        edits.append((where_open, where_open, f" VALUES ({names}) {{ ({' '.join(terms.values())}) }} "))
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


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
    """Validate graph IRIs given as protocol parameters, each once (the default graph is the
    merge of the graphs named, and the named graphs a set: a graph named twice must not
    count its triples twice, as the engine would); ValueError names the parameter."""
    out = []
    for value in values:
        try:
            out.append(NamedNode(value).value)
        except ValueError:
            raise ValueError(f"{parameter}={shown(value)!r} is not an absolute IRI") from None
    return tuple(dict.fromkeys(out))



# --------------------------------------------------------------------------- DESCRIBE

_DESCRIBED = "?__bjkg_described"


def describe_as_construct(text: str) -> str | None:
    """A DESCRIBE query as the CONSTRUCT of what the embedded store answers: every triple
    whose subject is a described resource.

    SPARQL leaves DESCRIBE's answer to the store (Virtuoso adds the triples pointing *at*
    the resource, Oxigraph does not), so a remote store is sent this CONSTRUCT instead,
    and both stores give the same graph. The query's prologue, dataset clauses, pattern,
    modifiers and VALUES are kept as written, inside a sub-SELECT. None for ``DESCRIBE *``
    (sent as it is).
    """
    toks = list(tokenize(text))
    start = next((i for i, t in enumerate(toks) if t.kind == "WORD" and t.text.upper() == "DESCRIBE"), None)
    if start is None:
        return None
    i = start + 1
    targets: list[Token] = []
    while i < len(toks) and toks[i].kind in ("VAR", "IRI", "PNAME"):
        targets.append(toks[i])
        i += 1
    if not targets:
        return None  # DESCRIBE * (or not a DESCRIBE): leave it to the store
    dataset_start = toks[i].start if i < len(toks) else len(text)
    while i < len(toks) and toks[i].kind == "WORD" and toks[i].text.upper() in ("FROM", "NAMED") \
            or (i < len(toks) and toks[i].kind in ("IRI", "PNAME")):
        i += 1
    dataset_end = toks[i].start if i < len(toks) else len(text)
    if i < len(toks) and toks[i].kind == "WORD" and toks[i].text.upper() == "WHERE":
        i += 1
    prologue = text[:toks[start].start]
    dataset = text[dataset_start:dataset_end]
    variables = [t.text for t in targets if t.kind == "VAR"]
    if i >= len(toks) or toks[i].text != "{":
        if variables:
            return None  # variables but no pattern: nothing to describe, as the store sees it
        choices = " ".join(t.text for t in targets)
        inner = f"VALUES {_DESCRIBED} {{ {choices} }}"
    else:
        pattern_and_modifiers = text[toks[i].start:]
        projection = " ".join(variables) if variables else "(1 AS ?__bjkg_hit)"
        pick = targets[-1].text
        for index in range(len(targets) - 1, 0, -1):
            pick = f"IF(?__bjkg_k = {index}, {targets[index - 1].text}, {pick})"
        inner = (f"{{ SELECT {projection} WHERE {pattern_and_modifiers} }} "
                 f"VALUES ?__bjkg_k {{ {' '.join(str(n) for n in range(1, len(targets) + 1))} }} "
                 f"BIND({pick} AS {_DESCRIBED}) FILTER(isIRI({_DESCRIBED}) || isBlank({_DESCRIBED}))")
    return (f"{prologue}CONSTRUCT {{ {_DESCRIBED} ?__bjkg_p ?__bjkg_o }} {dataset}"
            f"WHERE {{ {{ SELECT DISTINCT {_DESCRIBED} WHERE {{ {inner} }} }} "
            f"{_DESCRIBED} ?__bjkg_p ?__bjkg_o }}")


def strip_dataset_clauses(text: str) -> str:
    """The query without its ``FROM``/``FROM NAMED`` clauses.

    For a store that merges a query's FROM with the protocol's ``default-graph-uri``
    instead of letting the protocol win (Virtuoso does): the dataset is then sent only as
    protocol parameters, computed from those clauses (`Analysis.from_graphs`).
    """
    toks = list(tokenize(text))
    cuts: list[tuple[int, int]] = []
    depth = 0
    i = 0
    while i < len(toks):
        tok = toks[i]
        if tok.kind == "PUNCT" and tok.text in "{":
            depth += 1
        elif tok.kind == "PUNCT" and tok.text in "}":
            depth -= 1
        elif depth == 0 and tok.kind == "WORD" and tok.text.upper() == "FROM":
            j = i + 1
            if j < len(toks) and toks[j].kind == "WORD" and toks[j].text.upper() == "NAMED":
                j += 1
            if j < len(toks) and toks[j].kind in ("IRI", "PNAME"):
                cuts.append((tok.start, toks[j].start + len(toks[j].text)))
                i = j
        i += 1
    for start, end in reversed(cuts):
        text = text[:start] + " " + text[end:]
    return text


def limit_rows(text: str, rows: int) -> str:
    """A SELECT query that yields at most `rows` solutions: its own top-level LIMIT if that
    is smaller, else ``LIMIT rows`` (so a remote store stops there instead of computing,
    and sending, rows the server would not read). The same first rows come back.

    An ordered query is left as it is: Virtuoso refuses a LIMIT above its MaxSortedTopRows
    (10,000 by default) on a sorted result, and a sort must see every row anyway.
    """
    toks = list(tokenize(text))
    depth = 0
    seen_group = False
    insert_at = len(text.rstrip())
    for index, tok in enumerate(toks):
        if tok.kind == "PUNCT" and tok.text == "{":
            depth += 1
        elif tok.kind == "PUNCT" and tok.text == "}":
            depth -= 1
            seen_group = seen_group or depth == 0
        elif depth == 0 and seen_group and tok.kind == "WORD" and tok.text.upper() == "ORDER":
            return text
        elif depth == 0 and seen_group and tok.kind == "WORD" and tok.text.upper() == "LIMIT":
            number = toks[index + 1] if index + 1 < len(toks) else None
            if number is None or not _plain_integer(number):
                return text  # not a plain LIMIT: the parser will have refused it
            if int(number.text) <= rows:
                return text
            return text[:number.start] + str(rows) + text[number.start + len(number.text):]
        elif depth == 0 and seen_group and tok.kind == "WORD" and tok.text.upper() == "VALUES":
            insert_at = tok.start
            break
    return f"{text[:insert_at]} LIMIT {rows} {text[insert_at:]}"
