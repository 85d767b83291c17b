"""What an external dataset may not say: facts about bjkg's own resources, and `file:` IRIs.

bjkg's curated graph is the source of truth, every fact with its quote; an external dataset
is published beside it in a graph of its own, and the server shows every graph's
statements about an IRI on that IRI's page. So an external dataset describes resources of
its own, and may point to bjkg's (a bjkg IRI as an object); it does not state facts about
them. Refused, in what a dataset's inputs give and what its derive rules construct:

- a subject under the build's base IRI (`<base>id/place/beijing`, a relative IRI, which
  resolves against the dataset's graph IRI and so lands there too, another graph's IRI),
  except where bjkg gives external data room: `<base>id/<kind>/` for the kinds of
  EXTERNAL_KINDS (docs/model.md: `id/division/` for the divisions of a code table), and
  the skolem IRIs bjkg makes for the dataset's own blank nodes
  (`<base>.well-known/genid/<dataset>/`);
- a subject in bjkg's ontology (`https://w3id.org/bjkg/ontology`, `…#Term`, `…/0.1.0`),
  whatever the base: a dataset uses bjkg's terms, it does not define or describe them;
- a `file:` IRI anywhere in a statement (subject, predicate, object, a literal's datatype,
  inside a triple term): it names a path on the machine that wrote the data (an `@base`,
  `xml:base` or CSVW URL can make one) and links to nothing once published.

The links graph, which bjkg's own rule makes, states facts about bjkg's entities by
design: only its `file:` IRIs are refused.

The check is one pass over the statements: `first_problem` over quads, `first_problem_in_nquads`
over N-Quads text, which two regular-expression scans read at a few hundred MB/s (a line
they find is parsed to confirm it: the text can also be inside a literal).
"""
from __future__ import annotations

import itertools
import re

import pyoxigraph as ox

from bjkg.graph.vocab import ONTOLOGY_IRI

# The kinds of `<base>id/<kind>/` that external datasets mint (docs/model.md)
EXTERNAL_KINDS = ("division",)
SKOLEM_PATH = ".well-known/genid/"
_ONTOLOGY = str(ONTOLOGY_IRI)
_FILE = tuple("".join(letters) + ":" for letters in itertools.product("fF", "iI", "lL", "eE"))
_FILE_TEXT = re.compile(rb"(?i)<file:")
_SHOWN = 300  # characters of a statement shown in a message


def skolem_prefix(base: str, name: str) -> str:
    """The IRIs that stand for the blank nodes of dataset `name`."""
    return f"{base}{SKOLEM_PATH}{name}/"


class ExternalIris:
    """The rule for one dataset of a build with base IRI `base`."""

    def __init__(self, base: str, name: str) -> None:
        self.base = base
        self.allowed = (*(f"{base}id/{kind}/" for kind in EXTERNAL_KINDS), skolem_prefix(base, name))
        self.watched = (base, _ONTOLOGY)  # a subject starting with neither passes at once
        allowed = "|".join(re.escape(prefix[len(base):]) for prefix in self.allowed)
        # a line whose subject is under the base and not allowed there, or in the ontology
        self._subject_text = re.compile(
            rb"\n<(?:" + re.escape(base.encode()) + rb"(?!" + allowed.encode() + rb")"
            + (b"" if _ONTOLOGY.startswith(base) else
               rb"|" + re.escape(_ONTOLOGY.encode()) + rb"[#/>]") + rb")")

    def subject_problem(self, iri: str) -> str | None:
        """Why a statement about the IRI `iri` is refused, or None."""
        if not iri.startswith(self.watched):
            return None
        if iri == _ONTOLOGY or iri.startswith((_ONTOLOGY + "#", _ONTOLOGY + "/")):
            return (f"its subject <{iri}> is in bjkg's ontology: an external dataset may use "
                    "bjkg's terms, not define or describe them")
        if iri.startswith(self.base) and not iri.startswith(self.allowed):
            room = ", ".join(f"<{prefix}…>" for prefix in self.allowed[:-1])
            return (f"its subject <{iri}> is in bjkg's own namespace <{self.base}> (relative "
                    "IRIs resolve there too): an external dataset states facts about resources "
                    "of its own, not about bjkg's (it may point to them as objects; links from "
                    "bjkg's entities are made by its links rule); under bjkg's base it may mint "
                    f"only {room}")
        return None

    def problem(self, statement: ox.Quad | ox.Triple, *, subjects: bool = True) -> str | None:
        """Why `statement` is refused, or None; `subjects=False` looks for `file:` IRIs only."""
        subject = statement.subject
        if subjects and type(subject) is ox.NamedNode:
            found = self.subject_problem(subject.value)
            if found:
                return f"{_shown(statement)}: {found}"
        for role, iri in _iris(statement):
            if iri.startswith(_FILE):
                return (f"{_shown(statement)}: the {role} <{iri}> is a file: IRI, which names a "
                        "path on the machine that wrote the data and links to nothing once "
                        "published; give an http(s) IRI")
        return None

    def first_problem(self, statements, *, subjects: bool = True) -> tuple[int, str] | None:
        """(index, why) of the first refused statement of `statements`, or None."""
        named, literal, blank = ox.NamedNode, ox.Literal, ox.BlankNode
        # the usual statement is settled by a few prefix comparisons: an IRI starting with
        # an `f` (or about something under the base) is looked at closely
        subject_watch = (*self.watched, "f", "F") if subjects else ("f", "F")
        f = ("f", "F")
        for index, statement in enumerate(statements):
            subject, obj = statement.subject, statement.object
            kind = type(obj)
            if ((type(subject) is named and subject.value.startswith(subject_watch))
                    or statement.predicate.value.startswith(f)
                    or (obj.value.startswith(f) if kind is named else
                        obj.datatype.value.startswith(f) if kind is literal else
                        kind is not blank)):  # a triple term: looked into
                found = self.problem(statement, subjects=subjects)
                if found:
                    return index, found
        return None

    def first_problem_in_nquads(self, data: bytes) -> tuple[int, str] | None:
        """(line index, why) of the first refused statement of N-Quads (or N-Triples)
        text, one statement a line as oxigraph writes it, or None."""
        found: list[tuple[int, str]] = []
        first_end = data.find(b"\n") + 1 or len(data)
        for pattern in (self._subject_text, _FILE_TEXT):
            # the first line has no newline before it: matched on its own
            hits = itertools.chain(
                [0] if pattern is self._subject_text and pattern.match(b"\n" + data[:first_end])
                else [], (m.start() + (pattern is self._subject_text) for m in pattern.finditer(data)))
            for at in hits:
                start = data.rfind(b"\n", 0, at) + 1
                end = data.find(b"\n", at) + 1 or len(data)
                if found and start >= found[0][0]:
                    break
                (statement,) = ox.parse(data[start:end], format=ox.RdfFormat.N_QUADS)
                why = self.problem(statement)
                if why:
                    found = [(start, why)]
                    break
        if not found:
            return None
        start, why = found[0]
        return data.count(b"\n", 0, start), why


def _iris(statement) -> list[tuple[str, str]]:
    """(role, IRI) for each IRI of a statement, triple terms included."""
    out = []
    for role, term in (("subject", statement.subject), ("predicate", statement.predicate),
                       ("object", statement.object)):
        if type(term) is ox.NamedNode:
            out.append((role, term.value))
        elif type(term) is ox.Literal:
            out.append(("datatype", term.datatype.value))
        elif type(term) is ox.Triple:
            out += [(f"{role}'s {inner}", iri) for inner, iri in _iris(term)]
    return out


def _shown(statement) -> str:
    text = str(statement.triple if type(statement) is ox.Quad else statement)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + " …"
