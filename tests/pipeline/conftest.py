"""Fixtures for build tests: the real corpus, a copy of the repo's data, one real build."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bjkg.graph.build import build_dataset
from tests.conftest import corpus

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def sources() -> Path:
    return corpus()


@pytest.fixture(scope="session")
def built(tmp_path_factory, sources) -> Path:
    """One real build of the repository's records, shared by the read-only tests."""
    out = tmp_path_factory.mktemp("build") / "out"
    build_dataset(ROOT, out, sources)
    return out


@pytest.fixture
def repo_copy(tmp_path) -> Path:
    """A writable copy of ontology/, shapes/ and graph/ records, for breaking things."""
    for name in ("ontology", "shapes"):
        shutil.copytree(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "graph", tmp_path / "graph",
                    ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return tmp_path
