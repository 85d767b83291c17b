"""What the data process imports (bjkg.server.sparql.workers).

Every evaluator is forked from the data process and starts with its memory, so a module the
data process imports without using it is paid for once more in each evaluator. A real data
process is started (by a pool, as the server starts it), opens its store, applies writes and
forks evaluators that answer queries; each import it and its evaluators make is reported by
``PYTHONPROFILEIMPORTTIME`` on stderr. The HTTP side's libraries must never be among them, nor
the standard modules that only the HTTP side or a rare path uses (imported where used).
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

# Never in the data process nor in an evaluator.
FORBIDDEN = {
    # the HTTP side's libraries, and the build's
    "flask", "werkzeug", "jinja2", "markupsafe", "granian", "click", "yaml", "numpy",
    "opencc", "pypinyin", "cpca", "rdflib", "owlrl", "pyshacl",
    # standard modules the data process does not use: OpenSSL's hashes (≈ 3.8 MB; the client
    # key of admission, a dump's SHA-256), logging (the supervisor's, the pools'), typing
    "hashlib", "_hashlib", "logging", "typing",
}
# The rooms of bjkg above `sparql` (and the build's package), none of which it may import.
FORBIDDEN_PACKAGES = ("bjkg.graph", "bjkg.server.stores", "bjkg.server.pages", "bjkg.server.views",
                      "bjkg.server.web", "bjkg.server.runtime", "bjkg.server.app", "bjkg.server.cli")

# Run in a fresh interpreter, which imports only the pool's side; the data process it starts
# (and the evaluators forked from it) report their imports on the stderr they inherit.
DRIVER = """
import os, sys
from bjkg.server.sparql.evaluate import QueryRequest
from bjkg.server.sparql.workers import QueryWorkerPool

spec = {"writable": True} if sys.argv[1] == "writable" else {"store": sys.argv[2]}
if "store" in spec:
    import pyoxigraph
    store = pyoxigraph.Store(spec["store"])
    store.add(pyoxigraph.Quad(pyoxigraph.NamedNode("urn:a"), pyoxigraph.NamedNode("urn:b"),
                              pyoxigraph.Literal("c")))
    store.flush()
    del store
os.environ["PYTHONPROFILEIMPORTTIME"] = "1"  # for the data process only: read at its start
pool = QueryWorkerPool(spec, 2, isolate_network=False)
try:
    if "writable" in spec:
        pool.write("update", "INSERT DATA { <urn:a> <urn:b> 'c' }", None, 10)
        pool.write("update", "INSERT { ?s <urn:d> ?o } WHERE { ?s <urn:b> ?o }", None, 10)  # tried first
        assert pool.read("graphs") == []
    json = "application/sparql-results+json"
    streamed = pool.run(QueryRequest("SELECT ?s ?o WHERE { ?s <urn:b> ?o }", results_format=json), 10)
    assert b"urn:a" in streamed.content(), streamed
    limited = pool.run(QueryRequest("SELECT ?s WHERE { ?s ?p ?o }", max_rows=10), 10)
    assert limited.rows, limited
    assert pool.run(QueryRequest("ASK { <urn:a> <urn:b> 'c' }"), 10).boolean is True
finally:
    pool.close()
print("done")
"""


def _imported(stderr: str) -> set[str]:
    """The modules named by PYTHONPROFILEIMPORTTIME's lines ("import time: self | cumulative | name")."""
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "imported package" not in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


@pytest.mark.parametrize("kind", ["writable", "on-disk"])
def test_the_data_process_and_its_evaluators_import_only_what_they_use(kind, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPROFILEIMPORTTIME"}
    run = subprocess.run([sys.executable, "-c", DRIVER, kind, str(tmp_path / "store")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0 and "done" in run.stdout, run.stderr[-3000:]
    imported = _imported(run.stderr)
    # the data process's own report (it runs `workers` as __main__, which is not imported)
    assert {"pyoxigraph", "bjkg.server.sparql.evaluate", "bjkg.server.sparql.data_process"} <= imported
    found = sorted(imported & FORBIDDEN)
    found += sorted(m for m in imported if m.startswith(FORBIDDEN_PACKAGES))
    assert not found, f"the data process (or an evaluator) imported {found}"
