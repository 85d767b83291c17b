"""Where a GROUP BY's time goes in pyoxigraph, and what other engines take for the same answer.

A measurement for issue #17, not part of the benchmark run or of bjkg: it times the two
aggregate shapes of the benchmark's families over one build (`bench/load.py`'s folder),

* F5 — ``COUNT`` of subjects ``GROUP BY`` the objects of one predicate (bjkg:indicator);
* F6 — the same with one more triple pattern: observations per indicator for one area
  (Beijing, a quarter of them; one district, a few) or one status (a third);

in pyoxigraph (the store on disk as `bjkg serve` opens it, and in memory), DuckDB and Polars
over the build's quads (strings, and dictionary-encoded integers), a per-build Data Cube
table (observations × their dimensions, as integer codes), bjkg's own star aggregates
(`bjkg.server.sparql.aggregates`, what the server now answers these from) and maplib, checking that every
candidate gives the same rows. Each answer time is the median of `--repeat` runs after one
warm-up; load times are one run. DuckDB, Polars and maplib are not bjkg dependencies: run it
in a venv of its own,

    python -m venv /tmp/study && /tmp/study/bin/pip install pyoxigraph==0.5.* duckdb polars maplib numpy
    /tmp/study/bin/python bench/groupby_study.py /tmp/bench-1M-build [--json out.json]

and profile pyoxigraph's share with perf (it ships its symbols), e.g.
``perf record -g python bench/groupby_study.py BUILD --only pyoxigraph --repeat 50``.
"""
from __future__ import annotations

import argparse
import json
import pickle
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

BJKG = "https://w3id.org/bjkg/ontology#"
SDMX_DIM = "http://purl.org/linked-data/sdmx/2009/dimension#"
ID = "https://w3id.org/bjkg/id/"
INDICATOR, AREA, PERIOD, STATUS = BJKG + "indicator", SDMX_DIM + "refArea", SDMX_DIM + "refPeriod", BJKG + "status"
DIMS = {"indicator": INDICATOR, "area": AREA, "period": PERIOD, "status": STATUS}

# (name, group-by predicate, filter predicate or None, filter value or None)
CASES = [
    ("F5 per indicator", INDICATOR, None, None),
    ("F6 per indicator, area = Beijing", INDICATOR, AREA, ID + "place/beijing"),
    ("F6 per indicator, area = one district", INDICATOR, AREA, ID + "place/p-00005"),
    ("F6 per indicator, status = Target", INDICATOR, STATUS, BJKG + "Target"),
    ("F6 per period, indicator = i-0001", PERIOD, INDICATOR, ID + "indicator/i-0001"),
]


def sparql(group: str, where: str | None, value: str | None) -> str:
    extra = f" ; <{where}> <{value}>" if where else ""
    return f"SELECT ?g (COUNT(?s) AS ?n) WHERE {{ ?s <{group}> ?g{extra} }} GROUP BY ?g"


def timed(fn, repeat: int) -> tuple[float, object]:
    """Median milliseconds over `repeat` runs after one warm-up, and the last answer."""
    answer = fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        answer = fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), answer


def rss_mb() -> float:
    """This process's resident memory now (Linux), to see what a candidate's data costs."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return float("nan")
    import os

    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def as_counts(pairs) -> Counter:
    return Counter({str(k): int(v) for k, v in pairs})


# ---------------------------------------------------------------- candidates

def pyoxigraph_cases(build: Path, repeat: int, report: dict, in_memory: bool) -> dict:
    import pyoxigraph as ox

    if in_memory:
        started = time.perf_counter()
        store = ox.Store()
        store.bulk_load(path=str(build / "bjkg.nq"), format=ox.RdfFormat.N_QUADS)
        report["load_s"] = time.perf_counter() - started
    else:
        store = ox.Store.read_only(str(build / "store"))
    out = {}
    for name, group, where, value in CASES:
        text = sparql(group, where, value)
        ms, rows = timed(lambda: list(store.query(text, use_default_graph_as_union=True)), repeat)
        out[name] = (ms, as_counts((r[0].value, r[1].value) for r in rows))
    # the parts of F5: the scan alone (COUNT(*) without grouping), and COUNT(*) grouped
    scan = f"SELECT (COUNT(*) AS ?n) WHERE {{ ?s <{INDICATOR}> ?g }}"
    report["F5 scan only (COUNT(*), no GROUP BY) ms"] = timed(
        lambda: list(store.query(scan, use_default_graph_as_union=True)), repeat)[0]
    star = f"SELECT ?g (COUNT(*) AS ?n) WHERE {{ ?s <{INDICATOR}> ?g }} GROUP BY ?g"
    report["F5 with COUNT(*) ms"] = timed(lambda: list(store.query(star, use_default_graph_as_union=True)), repeat)[0]
    return out


def _duckdb_quads(con, nquads: Path) -> None:
    """The N-Quads file as a table of strings (s, p, o, g), split by DuckDB's own reader."""
    con.execute(f"""
        CREATE TABLE lines AS SELECT line FROM read_csv('{nquads}', columns={{'line': 'VARCHAR'}},
            delim='\\x01', quote='', escape='', header=false, auto_detect=false);
        CREATE TABLE quads AS SELECT
            regexp_extract(line, '^(\\S+) (\\S+) (.*) (\\S+) \\.$', 1) AS s,
            regexp_extract(line, '^(\\S+) (\\S+) (.*) (\\S+) \\.$', 2) AS p,
            regexp_extract(line, '^(\\S+) (\\S+) (.*) (\\S+) \\.$', 3) AS o,
            regexp_extract(line, '^(\\S+) (\\S+) (.*) (\\S+) \\.$', 4) AS g FROM lines;
        DROP TABLE lines;""")


def duckdb_cases(build: Path, repeat: int, report: dict) -> dict:
    import duckdb

    con = duckdb.connect()
    started = time.perf_counter()
    _duckdb_quads(con, build / "bjkg.nq")
    report["load_s"] = time.perf_counter() - started
    started = time.perf_counter()
    con.execute("""
        CREATE TABLE terms AS SELECT t, row_number() OVER () AS id FROM
            (SELECT DISTINCT t FROM (SELECT s AS t FROM quads UNION ALL SELECT p FROM quads
                                     UNION ALL SELECT o FROM quads));
        CREATE TABLE iq AS SELECT ts.id AS s, tp.id AS p, tob.id AS o FROM quads q
            JOIN terms ts ON ts.t = q.s JOIN terms tp ON tp.t = q.p JOIN terms tob ON tob.t = q.o;""")
    report["dictionary_encode_s"] = time.perf_counter() - started
    out, out_int = {}, {}
    for name, group, where, value in CASES:
        if where:
            text = (f"SELECT a.o, count(*) FROM quads a JOIN quads b ON a.s = b.s WHERE a.p = '<{group}>' "
                    f"AND b.p = '<{where}>' AND b.o = '<{value}>' GROUP BY a.o")
        else:
            text = f"SELECT o, count(*) FROM quads WHERE p = '<{group}>' GROUP BY o"
        ms, rows = timed(lambda: con.execute(text).fetchall(), repeat)
        out[name] = (ms, as_counts((k[1:-1], v) for k, v in rows))
        ids = {t: i for t, i in con.execute("SELECT t, id FROM terms WHERE t IN (?, ?, ?)",
                                            [f"<{group}>", f"<{where}>", f"<{value}>"]).fetchall()}
        if where:
            text = (f"SELECT a.o, count(*) FROM iq a JOIN iq b ON a.s = b.s WHERE a.p = {ids[f'<{group}>']} "
                    f"AND b.p = {ids[f'<{where}>']} AND b.o = {ids.get(f'<{value}>', -1)} GROUP BY a.o")
        else:
            text = f"SELECT o, count(*) FROM iq WHERE p = {ids[f'<{group}>']} GROUP BY o"
        ms, rows = timed(lambda: con.execute(text).fetchall(), repeat)
        names = dict(con.execute("SELECT id, t FROM terms WHERE id IN (SELECT unnest(?))",
                                 [[k for k, _ in rows]]).fetchall()) if rows else {}
        out_int[name] = (ms, as_counts((names[k][1:-1], v) for k, v in rows))
    report["int"] = {k: v[0] for k, v in out_int.items()}
    report["int_agree"] = None  # filled by the caller
    report["_int_answers"] = out_int
    return out


def polars_cases(build: Path, repeat: int, report: dict) -> dict:
    import polars as pl

    started = time.perf_counter()
    lines = pl.read_csv(build / "bjkg.nq", has_header=False, separator="\x01", quote_char=None,
                        new_columns=["line"], schema_overrides={"line": pl.Utf8})
    pattern = r"^(\S+) (\S+) (.*) (\S+) \.$"
    quads = lines.select(pl.col("line").str.extract(pattern, 1).alias("s"),
                         pl.col("line").str.extract(pattern, 2).alias("p"),
                         pl.col("line").str.extract(pattern, 3).alias("o"))
    quads = quads.with_columns(pl.col("s").cast(pl.Categorical), pl.col("p").cast(pl.Categorical),
                               pl.col("o").cast(pl.Categorical))
    report["load_s"] = time.perf_counter() - started
    out = {}
    for name, group, where, value in CASES:
        def run(group=group, where=where, value=value):
            left = quads.lazy().filter(pl.col("p") == f"<{group}>")
            if where:
                right = quads.lazy().filter((pl.col("p") == f"<{where}>") & (pl.col("o") == f"<{value}>"))
                left = left.join(right.select("s"), on="s")
            return left.group_by("o").agg(pl.len().alias("n")).collect()
        ms, frame = timed(run, repeat)
        out[name] = (ms, as_counts((str(k)[1:-1], v) for k, v in frame.iter_rows()))
    return out


def cube_cases(build: Path, repeat: int, report: dict) -> dict:
    """Observations × their dimensions as integer codes, read once per build from the store;
    an aggregate over the cube's own dimensions is then a filter and a bincount."""
    import numpy as np
    import pyoxigraph as ox

    store = ox.Store.read_only(str(build / "store"))
    started = time.perf_counter()
    names = list(DIMS)
    text = ("SELECT ?obs " + " ".join(f"?{d}" for d in names) + " WHERE { ?obs a <http://purl.org/linked-data/cube#Observation> "
            + " ".join(f"OPTIONAL {{ ?obs <{DIMS[d]}> ?{d} }}" for d in names) + " }")
    values: dict[str, dict[str, int]] = {d: {} for d in names}
    codes: dict[str, list[int]] = {d: [] for d in names}
    for row in store.query(text, use_default_graph_as_union=True):
        for k, d in enumerate(names, start=1):
            term = row[k]
            v = term.value if term is not None else ""
            codes[d].append(values[d].setdefault(v, len(values[d])))
    cube = {d: np.asarray(codes[d], dtype=np.int32) for d in names}
    labels = {d: np.array(list(values[d]), dtype=object) for d in names}
    report["build_s"] = time.perf_counter() - started
    report["observations"] = int(len(cube[names[0]]))
    report["bytes"] = int(sum(a.nbytes for a in cube.values()))
    by_iri = {iri: d for d, iri in DIMS.items()}
    out = {}
    for name, group, where, value in CASES:
        g = by_iri[group]

        def run(g=g, where=where, value=value):
            column = cube[g]
            if where:
                w = by_iri[where]
                code = values[w].get(value, -1)
                column = column[cube[w] == code]
            counts = np.bincount(column, minlength=len(labels[g]))
            hit = np.nonzero(counts)[0]
            return list(zip(labels[g][hit], counts[hit]))
        ms, pairs = timed(run, repeat)
        out[name] = (ms, as_counts(pairs))
    return out


def star_cases(build: Path, repeat: int, report: dict) -> dict:
    """bjkg's own star aggregates (`bjkg.server.sparql.aggregates`), as the server answers: the
    query text recognised on its tokens, then joined and counted over the build's integer
    columns, and written as SPARQL JSON."""
    import pyoxigraph as ox

    from bjkg.server.sparql import aggregates

    store = ox.Store.read_only(str(build / "store"))
    started = time.perf_counter()
    table = aggregates.compute(store)
    report["build_s"] = time.perf_counter() - started
    report["bytes"] = len(pickle.dumps(table, protocol=pickle.HIGHEST_PROTOCOL))
    report["columns"] = len(table.columns)
    out = {}
    for name, group, where, value in CASES:
        text = sparql(group, where, value)
        ms, body = timed(lambda: table.answer(aggregates.match(text)), repeat)
        if body is None:
            raise RuntimeError(f"{name}: not answered from the table")
        rows = json.loads(body)["results"]["bindings"]
        out[name] = (ms, as_counts((r["g"]["value"], r["n"]["value"]) for r in rows))
    return out


def maplib_cases(build: Path, repeat: int, report: dict) -> dict:
    from maplib import Model

    nt = build.parent / (build.name + "-study.nt")
    if not nt.exists():
        with (build / "bjkg.nq").open(encoding="utf-8") as src, nt.open("w", encoding="utf-8") as dst:
            for line in src:
                head, _graph, _dot = line.rstrip("\n").rsplit(" ", 2)
                dst.write(head + " .\n")
    model = Model()
    started = time.perf_counter()
    model.read(str(nt), format="ntriples")
    report["load_s"] = time.perf_counter() - started
    out = {}
    for name, group, where, value in CASES:
        text = sparql(group, where, value)
        ms, frame = timed(lambda: model.query(text), repeat)
        pairs = []
        for k, v in frame.iter_rows():
            pairs.append((str(k).strip("<>"), v))
        out[name] = (ms, as_counts(pairs))
    return out


CANDIDATES = {
    "pyoxigraph (on disk, as served)": lambda b, r, rep: pyoxigraph_cases(b, r, rep, in_memory=False),
    "pyoxigraph (in memory)": lambda b, r, rep: pyoxigraph_cases(b, r, rep, in_memory=True),
    "DuckDB (quads as strings)": duckdb_cases,
    "Polars (quads, categorical)": polars_cases,
    "Data Cube table (numpy)": cube_cases,
    "bjkg star aggregates": star_cases,
    "maplib": maplib_cases,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build", type=Path, help="a folder made by bench/load.py (bjkg.nq and store/)")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--only", default="", help="comma-separated prefixes of candidate names")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    # Memory grows by what each candidate holds, and is not all given back after it: run one
    # candidate per process (`--only`) to read its `rss_growth_mb` alone.
    chosen = [c for c in CANDIDATES if not args.only or any(c.lower().startswith(o.strip().lower())
                                                           for o in args.only.split(","))]
    reference = None
    results = {}
    for candidate in chosen:
        report: dict = {}
        before = rss_mb()
        try:
            answers = CANDIDATES[candidate](args.build, args.repeat, report)
            report["rss_growth_mb"] = round(rss_mb() - before, 1)
        except Exception as exc:  # noqa: BLE001 - a missing package or API must not lose the others
            print(f"{candidate}: failed: {type(exc).__name__}: {str(exc)[:300]}", file=sys.stderr)
            results[candidate] = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
            continue
        if reference is None:
            reference = answers
        extra = report.pop("_int_answers", None)
        if extra is not None:
            report["int_agree"] = all(extra[n][1] == reference[n][1] for n in extra)
        results[candidate] = {"ms": {n: round(a[0], 3) for n, a in answers.items()},
                              "agree": {n: a[1] == reference[n][1] for n, a in answers.items()},
                              "groups": {n: len(a[1]) for n, a in answers.items()}, **report}
        print(f"{candidate}: " + json.dumps(results[candidate], default=str), file=sys.stderr, flush=True)
    print("| case | " + " | ".join(results) + " |")
    print("|---|" + "---:|" * len(results))
    for name, *_ in CASES:
        cells = []
        for data in results.values():
            if "ms" not in data:
                cells.append("failed")
                continue
            cells.append(f"{data['ms'][name]:.2f}" + ("" if data["agree"][name] else " (differs)"))
        print(f"| {name} | " + " | ".join(cells) + " |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
