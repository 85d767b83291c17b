"""Turn an N-Quads file into a bjkg artifact folder that `bjkg serve --build DIR` serves.

The curated-records build (`bjkg build`) checks quotes, reasons and validates; synthetic
benchmark data needs none of that, only the artifact's shape (docs/artifact.md): `bjkg.nq`,
the pyoxigraph `store/` (filled by `bjkg.graph.store_load.load_nquads`, the build's own loading
path: concurrent `Store.bulk_load`s of line-aligned pieces, then compaction) and
`build.json` (hash, counts per graph and class). The load time reported is from the N-Quads
file to a compacted, flushed and closed store (the manifest's counts are timed apart, on
the store reopened read-only as `bjkg serve` opens it).

    python bench/load.py /tmp/bench-1M.nq --out /tmp/bench-1M-build

`into_seed` times the real thing beside it: `bjkg load` of the same data (less the triples
the seed build holds already: its ontology graph, the periods, a few places) into a copy of the seed build (`bjkg build`), in a
fresh process as the command runs, on a copy of the checkout's data so that the repository's
graph/external.toml is not changed.

    python bench/load.py /tmp/bench-1M.nq --out /tmp/bench-1M-loaded --into-seed /tmp/seed-build
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pyoxigraph as ox
from bjkg.graph.files import sha256_file as _sha256
from bjkg.graph.store_load import load_nquads

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
ROOT = Path(__file__).resolve().parent.parent
# The command `into_seed` runs: load_files on the copied checkout, as `bjkg load` does.
_LOAD = """
import sys, time
from pathlib import Path
from bjkg.graph.load import load_files
root, out, sources, data = map(Path, sys.argv[1:5])
summary = load_files(root, out, sources, [data], name="bench", log=lambda m: print(m, file=sys.stderr))
print(summary["triples"])
"""


def load(nquads: Path, out: Path, *, base: str = "https://w3id.org/bjkg/") -> dict:
    """Write the artifact folder `out` (replaced if present); returns timings and counts."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copyfile(nquads, out / "bjkg.nq")
    started = time.perf_counter()
    load_nquads(out / "store", out / "bjkg.nq")
    load_seconds = time.perf_counter() - started
    started = time.perf_counter()
    store = ox.Store.read_only(str(out / "store"))
    graphs = {row["g"].value: int(row["n"].value) for row in store.query(
        "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g")}
    classes = {row["c"].value: int(row["n"].value) for row in store.query(
        f"SELECT ?c (COUNT(DISTINCT ?s) AS ?n) WHERE {{ GRAPH ?g {{ ?s <{RDF_TYPE}> ?c }} "
        f"FILTER(?g != <{base}graph/ontology>) }} GROUP BY ?c")}
    triples = sum(graphs.values())
    del store
    digest = _sha256(out / "bjkg.nq")
    manifest = {
        "format": 1,
        "base": base,
        "hash": digest,
        "triples": triples,
        "graphs": dict(sorted(graphs.items())),
        "classes": dict(sorted(classes.items())),
        "dumps": {"bjkg.nq": {"sha256": digest, "bytes": (out / "bjkg.nq").stat().st_size}},
        "sources": [],
        "quotes": {"verified": False, "reason": "synthetic benchmark data"},
        "ontology_version": None,
    }
    (out / "build.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n",
                                    encoding="utf-8")
    return {"triples": triples, "load_seconds": load_seconds,
            "triples_per_second": triples / load_seconds if load_seconds else None,
            "manifest_seconds": time.perf_counter() - started}


def _triple(line: bytes) -> bytes:
    """An N-Quads line's triple, language tags in lower case (oxigraph's) for comparison."""
    return line.rsplit(b" ", 2)[0].lower()


def into_seed(nquads: Path, seed_build: Path, out: Path, *, workdir: Path,
              sources: Path | None = None, base: str = "https://w3id.org/bjkg/") -> dict:
    """`bjkg load` of `nquads` (without its ontology graph) into a copy of `seed_build`
    at `out`, timed from the process's start to its end; returns timings and counts."""
    root = workdir / "load-root"
    shutil.rmtree(root, ignore_errors=True)
    for name in ("ontology", "shapes"):
        shutil.copytree(ROOT / name, root / name)
    shutil.copytree(ROOT / "graph", root / "graph", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    data = workdir / "load-data.nq"
    # Each triple lives in one graph: what the seed build already holds (its ontology,
    # periods, a few places) is left out, as the build would refuse it.
    held = {_triple(line) for line in (seed_build / "bjkg.nq").open("rb")}
    dropped = 0
    with nquads.open("rb") as src, data.open("wb") as dst:
        for line in src:
            if _triple(line) in held:
                dropped += 1
            else:
                dst.write(line)
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(seed_build, out)
    sources = sources or Path(os.environ.get("BJKG_SOURCES") or ROOT.parent / "shared" / "sources")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _LOAD, str(root), str(out), str(sources), str(data)],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"bjkg load failed: {done.stderr[-2000:]}")
    added = sum(1 for _ in data.open("rb"))
    return {"triples": added, "left_out": dropped, "build_triples": int(done.stdout.split()[-1]), "load_seconds": seconds,
            "triples_per_second": added / seconds if seconds else None,
            "incremental": "full rebuild" not in done.stderr, "log": done.stderr[-2000:]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("nquads", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--into-seed", type=Path, default=None, metavar="SEED_BUILD",
                        help="time `bjkg load` into a copy of this build instead")
    args = parser.parse_args(argv)
    if args.into_seed:
        info = into_seed(args.nquads, args.into_seed, args.out, workdir=args.out.parent)
        print(info["log"], file=sys.stderr)
        print(f"bjkg load: {info['triples']} triples in {info['load_seconds']:.2f} s "
              f"({'incremental' if info['incremental'] else 'full rebuild'}) → {args.out}",
              file=sys.stderr)
        return 0
    info = load(args.nquads, args.out)
    print(f"load: {info['triples']} triples in {info['load_seconds']:.2f} s "
          f"({info['triples_per_second']:,.0f} triples/s) → {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
