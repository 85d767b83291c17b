"""Fixtures for build tests: the real corpus, a copy of the repo's data, one real build."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bjkg.graph.build import build_dataset

ROOT = Path(__file__).resolve().parents[2]


def corpus() -> Path:
    import os
    path = Path(os.environ.get("BJKG_SOURCES", ROOT.parent / "shared" / "sources"))
    if not path.is_dir():
        pytest.fail(f"the source corpus is needed at {path} (set BJKG_SOURCES)")
    return path


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
