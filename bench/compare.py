"""Two versions of bjkg on the same build and the same requests, measured in turns.

    python bench/compare.py --before /path/to/old/.venv/bin/python --after .venv/bin/python \\
        --build DIR --requests DIR/requests [--rounds 5] [--duration 3] [--pages /id/place/tongzhou]

"Before and after in the same run": both servers run side by side (each started by its own
interpreter, so each is the code installed in that virtualenv), and every family of
`bench/families.py` (the request files `bench/run.py` wrote into its work folder, e.g.
``WORKDIR/size-100k/requests``) is measured on one, then the other, `--rounds` times, with
wrk at 8 connections for `--duration` seconds each. Alternating in short turns spreads a
busy minute of a shared machine over both. It prints, per family and per page, the median
throughput of each and the ratio after ÷ before, and last one line:

    compare: after/before c=8 (median of N rounds): family R, ...; min R, geomean R
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.peers import start_bjkg  # noqa: E402
from bench.run import RESULTS_ACCEPT, wrk  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="python of the virtualenv with the old version")
    parser.add_argument("--after", required=True, help="python of the virtualenv with the new version")
    parser.add_argument("--build", required=True)
    parser.add_argument("--requests", type=Path, required=True, help="folder of FAMILY.post request files")
    parser.add_argument("--pages", default="", help="comma-separated page paths to measure too")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=3.0)
    options = parser.parse_args()
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"bjkg-compare-{os.getpid()}"
    workdir.mkdir(parents=True, exist_ok=True)
    servers = {"before": start_bjkg(Path(options.build), workdir, python=options.before)}
    try:
        servers["after"] = start_bjkg(Path(options.build), workdir, python=options.after)
    except BaseException:
        servers["before"].stop()
        raise
    cases = [(f.stem, "POST", f) for f in sorted(options.requests.glob("*.post"))]
    cases += [(page, "GET", page) for page in options.pages.split(",") if page]
    figures: dict[str, dict[str, list[float]]] = {name: {"before": [], "after": []} for name, _, _ in cases}
    try:
        for round_ in range(options.rounds):
            for name, method, what in cases:
                for which in (("before", "after") if round_ % 2 == 0 else ("after", "before")):
                    base = servers[which].base
                    if method == "POST":
                        result = wrk(base + "/sparql", connections=8, duration=options.duration, method="POST",
                                     requests=what, workdir=workdir, accept=RESULTS_ACCEPT)
                    else:
                        result = wrk(base + what, connections=8, duration=options.duration,
                                     accept="text/html", workdir=workdir)
                    bad = result["errors"] + result["bad_status"]
                    good = result["rps"] * (1 - bad / max(1, result["requests"]))
                    figures[name][which].append(good)
            print(f"compare: round {round_ + 1}/{options.rounds} done", file=sys.stderr, flush=True)
    finally:
        for server in servers.values():
            server.stop()
    ratios = {}
    for name, by in figures.items():
        before, after = statistics.median(by["before"]), statistics.median(by["after"])
        ratios[name] = after / before if before else float("nan")
        print(f"{name}: before {before:.0f} req/s, after {after:.0f} req/s, after/before {ratios[name]:.2f} "
              f"(rounds: {json.dumps({k: [round(v) for v in vs] for k, vs in by.items()})})")
    finite = [r for r in ratios.values() if r > 0 and math.isfinite(r)]
    geomean = math.exp(sum(math.log(r) for r in finite) / len(finite)) if finite else float("nan")
    print(f"compare: after/before c=8 (median of {options.rounds} rounds): "
          + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items())
          + f"; min {min(finite):.2f}, geomean {geomean:.2f}")


if __name__ == "__main__":
    main()
