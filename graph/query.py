"""`bjkg query`: run SPARQL over a built store from the command line."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyoxigraph as ox


class QueryError(Exception):
    """The query could not be parsed or run."""


def _cell(term) -> str:
    if term is None:
        return ""
    return term.value if hasattr(term, "value") else str(term)


def run_query(build: Path, sparql: str, fmt: str = "table") -> str:
    """Evaluate `sparql` on the read-only store of a build (union default graph)."""
    store_path = build / "store"
    if not store_path.is_dir():
        raise QueryError(f"{build} has no store; run `bjkg build --out {build}` first")
    store = ox.Store.read_only(str(store_path))
    try:
        result = store.query(sparql, use_default_graph_as_union=True)
    except SyntaxError as exc:
        raise QueryError(f"syntax error: {exc}") from None
    except OSError as exc:
        raise QueryError(str(exc)) from None
    if isinstance(result, bool) or isinstance(result, ox.QueryBoolean):
        value = bool(result)
        return json.dumps({"boolean": value}) if fmt == "json" else str(value).lower()
    if isinstance(result, ox.QuerySolutions):
        if fmt == "json":
            return result.serialize(format=ox.QueryResultsFormat.JSON).decode("utf-8")
        if fmt == "csv":
            return result.serialize(format=ox.QueryResultsFormat.CSV).decode("utf-8")
        names = [v.value for v in result.variables]
        rows = [[_cell(solution[name]) for name in names] for solution in result]
        return _table(names, rows)
    return ox.serialize(result, format=ox.RdfFormat.TURTLE).decode("utf-8")


def _table(names: list[str], rows: list[list[str]]) -> str:
    widths = [max([len(n)] + [len(r[i]) for r in rows]) for i, n in enumerate(names)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    out = [line(names), line(["-" * w for w in widths])] + [line(r) for r in rows]
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out) + "\n"
