"""Every import is declared in pyproject.toml, checked by deptry (its `[tool.deptry]` table).

A fresh virtualenv has only what pyproject.toml declares, so an import that works here only
because the package came in through another one (DEP003), or is missing altogether (DEP001),
fails a new user; a declared package nothing uses (DEP002) costs every install. The code,
tests/ and bench/ are checked with the test extra counted as declared; the runtime code
(graph/, server/) is checked again with the test extra as development-only (DEP004), because
`pip install -e .` without `[test]` must be enough to build and serve.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _deptry(*args: str, cwd: Path = ROOT) -> list[dict]:
    """Run deptry (as a program, like a user would) and return its issues as dicts."""
    handle, name = tempfile.mkstemp(suffix=".json", prefix="deptry-")
    os.close(handle)
    out = Path(name)
    out.unlink()
    try:
        result = subprocess.run([sys.executable, "-m", "deptry", *args, "--no-ansi", "-o", str(out)],
                                cwd=cwd, capture_output=True, text=True, timeout=300)
        assert out.is_file(), f"deptry did not run:\n{result.stdout}{result.stderr}"
        return json.loads(out.read_text(encoding="utf-8"))
    finally:
        out.unlink(missing_ok=True)


def _describe(issues: list[dict]) -> str:
    return "\n".join(f"{i['location']['file']}:{i['location'].get('line') or ''}: "
                     f"{i['error']['code']} {i['error']['message']}" for i in issues)


def test_every_import_of_code_tests_and_bench_is_declared():
    issues = _deptry(".")
    assert not issues, "fix pyproject.toml (dependencies, the test extra or [tool.deptry]):\n" + _describe(issues)


def test_runtime_code_needs_nothing_from_the_test_extra():
    issues = _deptry("graph", "server", "--optional-dependencies-dev-groups", "test")
    assert not issues, "graph/ and server/ must run with `pip install -e .` alone:\n" + _describe(issues)


def test_the_check_catches_an_undeclared_and_a_test_only_import(tmp_path):
    """The same configuration over a module that imports a package nobody declared and one
    the test extra declares: both are reported, so the two checks above can fail."""
    shutil.copyfile(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "server").mkdir()
    (tmp_path / "server" / "leaky.py").write_text(
        "import yaml\nimport requests_toolbelt_not_declared\nimport pytest\n", encoding="utf-8")
    issues = _deptry("server", "--optional-dependencies-dev-groups", "test", cwd=tmp_path)
    found = {(i["error"]["code"], i["module"]) for i in issues}
    assert ("DEP001", "requests_toolbelt_not_declared") in found, _describe(issues)
    assert ("DEP004", "pytest") in found, _describe(issues)
    assert not any(module == "yaml" for _, module in found), _describe(issues)
