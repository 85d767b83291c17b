"""The benchmark keeps working: a 10k run with a very short duration and the peers at hand.

It needs `wrk` (Debian package) and runs bjkg, Oxigraph's server (its CLI installed from PyPI
into the run's work folder, ≈4 s) and pyoxigraph, so it passes without Virtuoso or
rdflib-endpoint. It checks that the result files are written, that the last line printed has
the documented shape, that every family was measured with the same row counts on every
peer, and that each server's first answer and memory were recorded; it never asserts a time.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RATIO = r"(\d+\.\d\d|n/a)"
LINE = re.compile(rf"^bench: ratios at 10k c=8 \(geomean families throughput\): "
                  rf"vs virtuoso {RATIO}, vs oxigraph (\d+\.\d\d), vs rdflib-endpoint {RATIO}; "
                  r"load \d+ triples/s; entity page p99 \d+\.\d ms$")
FAMILIES = ("entity", "inbound", "contains", "series", "group-by", "group-by-filtered", "join")


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install -y wrk)")
def test_bench_runs_at_10k(tmp_path):
    out = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--sizes", "10k", "--peers", "bjkg,oxigraph,pyoxigraph",
         "--duration", "1", "--no-seed-graph", "--install", "--out", str(out),
         "--workdir", str(tmp_path / "work")],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    last = done.stdout.strip().splitlines()[-1]
    assert LINE.match(last), last
    for name in ("results.json", "results.md", "ratios.png"):
        assert (out / name).stat().st_size > 0
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    size = results["sizes"][0]
    assert size["size"] == "10k" and size["triples"] > 5000
    assert set(size["families"]) == set(FAMILIES)
    bjkg = size["peers"]["bjkg"]["queries"]
    oxigraph = size["peers"]["oxigraph"]["queries"]
    floor = size["peers"]["pyoxigraph"]["queries"]
    for name in FAMILIES:
        family = size["families"][name]
        assert family["requests"] == 500 and family["distinct"] > 1
        assert bjkg[name]["status"] == 200
        assert len(bjkg[name]["rows"]) == len(family["sample_indexes"]) > 1
        assert bjkg[name]["rows"] == floor[name]["rows"] == oxigraph[name]["rows"]  # same answers, per request
        assert bjkg[name]["c8"]["requests"] > 0 and oxigraph[name]["c8"]["requests"] > 0
    assert size["agreement"]["bjkg"] == [] and size["agreement"]["oxigraph"] == []
    assert set(size["ratios"]) == {"oxigraph"} and set(size["ratios"]["oxigraph"]["per_query"]) == set(FAMILIES)
    for peer in ("bjkg", "oxigraph"):
        assert size["load"][peer]["first_answer_seconds"] > 0
        assert size["load"][peer]["file_to_first_answer_seconds"] > size["load"][peer]["first_answer_seconds"]
        assert size["peers"][peer]["memory"]["peak_rss_total_mb"] > 0
        assert 0 < size["peers"][peer]["memory"]["peak_pss_total_mb"] <= size["peers"][peer]["memory"]["peak_rss_total_mb"] * 1.05
    markdown = (out / "results.md").read_text(encoding="utf-8")
    assert "first answer" in markdown and "| vs oxigraph |" in markdown
    assert markdown.rstrip().splitlines()[-1] == last
