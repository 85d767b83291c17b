"""Turn an N-Quads file into a bjkg artifact folder that `bjkg serve --build DIR` serves.

The curated-records build (`bjkg build`) checks quotes, reasons and validates; synthetic
benchmark data needs none of that, only the artifact's shape (docs/artifact.md): `bjkg.nq`,
the pyoxigraph `store/` (filled by `bjkg.graph.store_load.load_nquads`, the build's own loading
path: concurrent `Store.bulk_load`s of line-aligned pieces, then compaction) and
`build.json` (hash, counts per graph and class). The load time reported is from the N-Quads
file to a compacted, flushed and closed store (the manifest's counts are timed apart, on
the store reopened read-only as `bjkg serve` opens it).

    python bench/load.py /tmp/bench-1M.nq --out /tmp/bench-1M-build
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import pyoxigraph as ox
from bjkg.graph.files import sha256_file as _sha256
from bjkg.graph.store_load import load_nquads

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("nquads", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    info = load(args.nquads, args.out)
    print(f"load: {info['triples']} triples in {info['load_seconds']:.2f} s "
          f"({info['triples_per_second']:,.0f} triples/s) → {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
