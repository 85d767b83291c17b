"""bench/groupby_study.py compares engines only where they agree: its candidates at hand
(pyoxigraph and the Data Cube table; DuckDB, Polars and maplib are not bjkg dependencies)
give pyoxigraph's answers on a 10k build, and a wrong answer is reported as differing."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from bench import generate, groupby_study, load

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    folder = tmp_path_factory.mktemp("study")
    generate.write("10k", folder / "data.nq", seed=5, ontology=ROOT / "ontology")
    load.load(folder / "data.nq", folder / "build")
    return folder / "build"


def test_cube_table_answers_as_pyoxigraph_does(build, tmp_path):
    out = tmp_path / "study.json"
    assert groupby_study.main([str(build), "--repeat", "1", "--only", "pyoxigraph (on,data cube",
                               "--json", str(out)]) == 0
    results = json.loads(out.read_text(encoding="utf-8"))
    assert set(results) == {"pyoxigraph (on disk, as served)", "Data Cube table (numpy)"}
    cube = results["Data Cube table (numpy)"]
    assert all(cube["agree"].values()), cube["agree"]
    assert cube["groups"] == results["pyoxigraph (on disk, as served)"]["groups"]
    assert cube["groups"]["F5 per indicator"] > 1 and cube["observations"] > 0


def test_a_wrong_answer_is_reported_as_differing(build, tmp_path, monkeypatch):
    real = groupby_study.cube_cases

    def off_by_one(b, r, report):
        answers = real(b, r, report)
        ms, counts = answers["F5 per indicator"]
        answers["F5 per indicator"] = (ms, counts + Counter({next(iter(counts)): 1}))
        return answers

    monkeypatch.setitem(groupby_study.CANDIDATES, "Data Cube table (numpy)", off_by_one)
    out = tmp_path / "study.json"
    groupby_study.main([str(build), "--repeat", "1", "--only", "pyoxigraph (on,data cube", "--json", str(out)])
    cube = json.loads(out.read_text(encoding="utf-8"))["Data Cube table (numpy)"]
    assert cube["agree"]["F5 per indicator"] is False
    assert all(v for k, v in cube["agree"].items() if k != "F5 per indicator")


def test_star_aggregates_answer_as_pyoxigraph_does(build, tmp_path, monkeypatch):
    from bjkg.server.sparql import aggregates

    monkeypatch.setattr(aggregates, "MIN_TRIPLES", 1)  # a 10k build has few triples per predicate
    out = tmp_path / "study.json"
    assert groupby_study.main([str(build), "--repeat", "1", "--only", "pyoxigraph (on,bjkg star",
                               "--json", str(out)]) == 0
    star = json.loads(out.read_text(encoding="utf-8"))["bjkg star aggregates"]
    assert all(star["agree"].values()), star
    assert star["groups"]["F5 per indicator"] > 1 and star["columns"] > 0
