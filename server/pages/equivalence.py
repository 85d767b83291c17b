"""One row per meaning: properties that say the same thing are shown once.

The graph keeps every alignment a reader of another vocabulary might query: `bjkg:within`
and its super-property `geo:sfWithin`, `schema:sha256` and its `http://schema.org/` twin,
`bjkg:contains` beside the inverse links of `bjkg:within`. On a page these are the same
fact twice under labels a reader cannot tell apart. The ontology says which properties are
aligned (rdfs:subPropertyOf, owl:equivalentProperty, owl:inverseOf); when two aligned
properties of a page hold exactly the same values, the page shows the one a reader of this
dataset knows (bjkg's own, asserted before inferred) and moves the other into
`alternatives`, which the HTML shows behind a "details" toggle and the JSON twin keeps.
Properties that only overlap are both shown: nothing is hidden that is not said elsewhere.
"""
from __future__ import annotations

from collections.abc import Iterable

from bjkg.server.core import vocab as V

RELATIONS_QUERY = """
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX owl: <http://www.w3.org/2002/07/owl#>
SELECT DISTINCT ?p ?r ?q WHERE {
  VALUES ?r { rdfs:subPropertyOf owl:equivalentProperty owl:inverseOf }
  ?p ?r ?q FILTER(isIRI(?p) && isIRI(?q) && ?p != ?q)
}
"""
_SUB, _EQUIV, _INVERSE = V.RDFS + "subPropertyOf", V.OWL + "equivalentProperty", V.OWL + "inverseOf"


class Alignments:
    """The property alignments of the ontology: which properties may say the same thing
    (`same`, symmetric) and which are inverses of each other (`inverse`, symmetric)."""

    def __init__(self, rows: Iterable[tuple[str, str, str]] = ()) -> None:
        self.same: dict[str, set[str]] = {}
        self.inverse: dict[str, set[str]] = {}
        for p, relation, q in rows:
            table = self.inverse if relation == _INVERSE else self.same
            table.setdefault(p, set()).add(q)
            table.setdefault(q, set()).add(p)

    @classmethod
    def from_bindings(cls, rows: Iterable[dict]) -> "Alignments":
        return cls((row["p"].value, row["r"].value, row["q"].value) for row in rows)

    def inverses(self, p: str) -> set[str]:
        """Inverses of p, and of what p is aligned with (`contains` for `sfWithin` too)."""
        out = set(self.inverse.get(p, ()))
        for q in self.same.get(p, ()):
            out |= self.inverse.get(q, set())
        return out


def _rank(predicate: str, values: list[dict]) -> tuple:
    """Which of two same-meaning properties to show: bjkg's own, then asserted, then https
    schema.org before http, then the shorter name."""
    own = 0 if predicate.startswith(V.BJKG) else 1
    inferred = 1 if values and all(v.get("inferred") for v in values) else 0
    legacy = 1 if predicate.startswith("http://schema.org/") else 0
    return (own, inferred, legacy, len(predicate), predicate)


def _value_key(value: dict) -> tuple:
    return (value.get("type"), value.get("iri") or value.get("value"), value.get("lang"),
            value.get("datatype"))


def merge_properties(properties: list[dict], alignments: Alignments) -> tuple[list[dict], list[dict]]:
    """(shown, alternatives): of each group of aligned properties with equal value sets,
    only the best-ranked is shown; each alternative names the property it repeats (`same_as`)."""
    keys = {p["predicate"]["iri"]: frozenset(_value_key(v) for v in p["values"]) for p in properties}
    by_iri = {p["predicate"]["iri"]: p for p in properties}
    hidden: dict[str, str] = {}
    for prop in sorted(properties, key=lambda p: _rank(p["predicate"]["iri"], p["values"])):
        iri = prop["predicate"]["iri"]
        if iri in hidden:
            continue
        for other in alignments.same.get(iri, ()):
            if other in by_iri and other not in hidden and keys[other] == keys[iri]:
                hidden[other] = iri
    shown = [p for p in properties if p["predicate"]["iri"] not in hidden]
    alternatives = [{**p, "same_as": by_iri[hidden[p["predicate"]["iri"]]]["predicate"]}
                    for p in properties if p["predicate"]["iri"] in hidden]
    return shown, alternatives


def merge_inbound(groups: list[dict], properties: list[dict],
                  alignments: Alignments) -> tuple[list[dict], list[dict]]:
    """(shown, alternatives) of inbound groups: a group `x P this` is the same fact as the
    shown `this Q x` when P and Q are inverses and the subjects are the values; two aligned
    inbound groups with the same subjects are one."""
    outbound = {p["predicate"]["iri"]: p for p in properties}
    hidden: dict[str, dict] = {}
    for group in groups:
        p = group["predicate"]["iri"]
        subjects = {item["iri"] for item in group["items"]}
        complete = len(subjects) == group["total"]
        for q in sorted(alignments.inverses(p)):
            prop = outbound.get(q)
            if prop is None:
                continue
            objects = {v.get("iri") for v in prop["values"] if v.get("type") == "iri"}
            if len(objects) == group["total"] and (not complete or objects == subjects):
                hidden[p] = prop["predicate"]
                break
    remaining = [g for g in groups if g["predicate"]["iri"] not in hidden]
    for group in sorted(remaining, key=lambda g: _rank(g["predicate"]["iri"], [])):
        p = group["predicate"]["iri"]
        if p in hidden:
            continue
        subjects = {item["iri"] for item in group["items"]}
        for other in remaining:
            q = other["predicate"]["iri"]
            if (q != p and q not in hidden and q in alignments.same.get(p, ())
                    and other["total"] == group["total"]
                    and {item["iri"] for item in other["items"]} == subjects):
                hidden[q] = group["predicate"]
    shown = [g for g in groups if g["predicate"]["iri"] not in hidden]
    alternatives = [{**g, "same_as": hidden[g["predicate"]["iri"]]} for g in groups
                    if g["predicate"]["iri"] in hidden]
    return shown, alternatives
