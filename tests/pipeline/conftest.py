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


@pytest.fixture(scope="session")
def store(built):
    """The real build's store, opened read-only once for the tests that query it."""
    import pyoxigraph as ox

    return ox.Store.read_only(str(built / "store"))


def copy_checkout(root: Path) -> Path:
    """Copy ontology/, shapes/ and graph/'s data (no code) into `root`; returns `root`."""
    for name in ("ontology", "shapes"):
        shutil.copytree(ROOT / name, root / name)
    shutil.copytree(ROOT / "graph", root / "graph",
                    ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return root


def copy_workspace(built: Path, root: Path) -> tuple[Path, Path]:
    """A writable checkout copy in `root` with a copy of the build `built` as its _build."""
    copy_checkout(root)
    out = root / "_build"
    shutil.copytree(built, out)
    return root, out


@pytest.fixture
def repo_copy(tmp_path) -> Path:
    """A writable copy of ontology/, shapes/ and graph/ records, for breaking things."""
    return copy_checkout(tmp_path)
