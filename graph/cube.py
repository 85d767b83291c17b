"""Data Cube gate: the build fails unless the observations form a well-formed cube.

The W3C RDF Data Cube Recommendation ("Well-formed cubes") defines a normalisation
algorithm (two SPARQL Updates) and 21 integrity constraints (SPARQL ASK queries, true when
violated). Their text is kept verbatim as data in `shapes/qb-integrity/`:

- `normalize-phase-1.ru`, `normalize-phase-2.ru`: the normalisation, run on a copy;
- `ic-NN.rq` (`ic-19-1.rq`, `ic-19-2.rq`: IC-19 is two queries): the constraints;
- `ic-20.rq`, `ic-21.rq` are templates over `$p`, run once per IRI that their
  `.instantiate.rq` (the Recommendation's instantiation queries) selects;
- `ic-12.diagnose.rq`: not in the Recommendation; names the pairs IC-12 finds.

Two things of the Recommendation's text matter here. IC-17 is adapted (its HAVING
repeats the aggregate, since SPARQL 1.1 leaves the SELECT alias unbound there; see the
file). IC-20 and IC-21 are instantiated once per parent-child property of any
hierarchical code list, not per list, as written; bjkg has no hierarchical code list.

`check_cube` loads the quads given (the build passes the asserted curated graphs and the
ontology) into an in-memory pyoxigraph store, normalises it, and asks every constraint.
A violated constraint is reported with the offending resources: the ASK's own pattern
run as `SELECT DISTINCT *` (or the IC's `.diagnose.rq`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pyoxigraph as ox

QUERY_DIR = Path("shapes") / "qb-integrity"
_ROWS_SHOWN = 20


# The structures of graph/cube: which dimensions an observation has decides its
# qb:DataStructureDefinition (ontology/bjkg.ttl) and so its data set. Key (used in data set
# IRIs, `id/dataset/<document>--<key>`) → (local name in the ontology, zh, en).
STRUCTURES = {
    "indicator-area-period": ("ObservationStructure", "指标×地区×时期", "indicator × area × period"),
    "indicator-area": ("StructureIndicatorArea", "指标×地区", "indicator × area"),
    "indicator-period": ("StructureIndicatorPeriod", "指标×时期", "indicator × period"),
    "indicator": ("StructureIndicator", "指标", "indicator"),
    "indicator-area-period-subject": ("StructureIndicatorAreaPeriodSubject",
                                      "指标×地区×时期×对象", "indicator × area × period × subject"),
    "indicator-area-subject": ("StructureIndicatorAreaSubject", "指标×地区×对象",
                               "indicator × area × subject"),
    "indicator-period-subject": ("StructureIndicatorPeriodSubject", "指标×时期×对象",
                                 "indicator × period × subject"),
    "indicator-subject": ("StructureIndicatorSubject", "指标×对象", "indicator × subject"),
}


def structure_key(area: bool, period: bool, subject: bool) -> str:
    """The STRUCTURES key of an observation with these dimensions (indicator always)."""
    return "-".join(["indicator"] + [name for name, present in
                                     (("area", area), ("period", period), ("subject", subject))
                                     if present])


def observation_subject(links: dict) -> str | None:
    """The subject dimension's value: the one entity (initiative, place, agency or theme)
    the record ties the observation to; none if it ties it to none or to several."""
    linked = [ident for values in links.values() for ident in values]
    return linked[0] if len(linked) == 1 else None


class CubeError(Exception):
    """Data Cube integrity constraints are violated; the message names them and the offenders."""


@dataclass(frozen=True)
class Constraint:
    name: str          # "IC-12", "IC-19" …
    file: str          # "ic-12.rq"
    title: str         # first comment line of the file
    ask: str
    instantiate: str | None = None   # SELECT ?p … for the templates IC-20 and IC-21
    diagnose: str | None = None      # SELECT naming the offenders, if `ask` cannot


def _title(text: str) -> str:
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        if lines and not line.startswith("#  "):
            break
        lines.append(line.lstrip("# ").strip())
    return " ".join(lines)


def load_constraints(root: Path) -> tuple[list[str], list[Constraint]]:
    """(normalisation updates, constraints in IC order) from `root/shapes/qb-integrity`."""
    folder = root / QUERY_DIR
    updates = [(folder / f"normalize-phase-{n}.ru").read_text(encoding="utf-8") for n in (1, 2)]
    constraints = []
    for path in sorted(folder.glob("ic-*.rq")):
        match = re.fullmatch(r"ic-(\d+)(?:-(\d+))?\.rq", path.name)
        if not match:  # ic-20.instantiate.rq, ic-12.diagnose.rq: companions
            continue
        text = path.read_text(encoding="utf-8")
        companion = lambda kind: (path.with_name(f"ic-{match[1]}.{kind}.rq")  # noqa: E731
                                  if match[2] is None else None)
        inst, diag = companion("instantiate"), companion("diagnose")
        constraints.append(Constraint(
            name=f"IC-{int(match[1])}", file=path.name, title=_title(text), ask=text,
            instantiate=inst.read_text(encoding="utf-8") if inst and inst.is_file() else None,
            diagnose=diag.read_text(encoding="utf-8") if diag and diag.is_file() else None))
    constraints.sort(key=lambda c: tuple(int(n) for n in re.findall(r"\d+", c.file)))
    return updates, constraints


def normalised_store(quads: Iterable[ox.Quad], updates: list[str]) -> ox.Store:
    """A new in-memory store of the quads' triples (default graph), normalised."""
    store = ox.Store()
    store.extend(ox.Quad(q.subject, q.predicate, q.object) for q in quads)
    for update in updates:
        store.update(update)
    return store


def _term(term) -> str:
    return str(term) if term is not None else "(unbound)"


def _offenders(store: ox.Store, constraint: Constraint, ask: str) -> list[str]:
    if constraint.diagnose:
        query = constraint.diagnose
    else:  # the ASK's own pattern, with its variables
        query = re.sub(r"\bASK\s*\{", "SELECT DISTINCT * WHERE {", ask, count=1)
    try:
        solutions = store.query(query)
    except (SyntaxError, ValueError) as exc:
        return [f"(cannot list them: {exc})"]
    names = [v.value for v in solutions.variables]
    rows = []
    for row in solutions:
        rows.append("  " + ", ".join(f"?{n} = {_term(row[n])}" for n in names))
        if len(rows) > _ROWS_SHOWN:
            rows[-1] = "  …"
            break
    return rows


def violations(store: ox.Store, constraints: list[Constraint]) -> list[str]:
    """One message per violated constraint (empty if the cube is well formed)."""
    failed = []
    for constraint in constraints:
        asks = [constraint.ask]
        if constraint.instantiate is not None:
            asks = [constraint.ask.replace("$p", row["p"].value)
                    for row in store.query(constraint.instantiate)]
        for ask in asks:
            if bool(store.query(ask)):
                failed.append(f"{constraint.name} violated ({constraint.file}): {constraint.title}\n"
                              + "\n".join(_offenders(store, constraint, ask)))
    return failed


def check_cube(quads: Iterable[ox.Quad], root: Path) -> int:
    """CubeError unless all integrity constraints hold on the normalised quads; returns
    the number of ASK queries run."""
    updates, constraints = load_constraints(root)
    store = normalised_store(quads, updates)
    failed = violations(store, constraints)
    if failed:
        raise CubeError("Data Cube integrity check failed (W3C Data Cube, \"Well-formed "
                        "cubes\", after normalisation):\n" + "\n".join(failed))
    return len(constraints)
