"""Cutting over to a new build without a restart, as docs/deploy.md tells operators to:
switch the symlink `bjkg serve --build` was given, then `kill -HUP` the server.

Every answer after the reload must be the new build's — SPARQL (evaluated apart from the
connections), the dataset description and the entity pages — and the server must keep
answering through the cut-over (no request refused with a reset or a 5xx)."""
from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tests.conftest import DATA, make_tiny_build
from tests.server.conftest import start_server, stop_server

EXTRA = """
@prefix ex: <https://w3id.org/bjkg/id/> .
<https://w3id.org/bjkg/graph/reload-test> {
  ex:reload-marker <http://www.w3.org/2000/01/rdf-schema#label> "reload marker"@en .
}
"""
COUNT = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"


def _count(url: str) -> int:
    request = urllib.request.Request(
        f"{url}/sparql?query={urllib.parse.quote(COUNT)}", headers={"Accept": "application/sparql-results+json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(json.load(response)["results"]["bindings"][0]["n"]["value"])


def test_a_hup_after_switching_the_symlink_serves_the_new_build(tmp_path):
    old = make_tiny_build(tmp_path / "old")
    trig = tmp_path / "new.trig"
    trig.write_text((DATA / "tiny.trig").read_text(encoding="utf-8") + EXTRA, encoding="utf-8")
    new = make_tiny_build(tmp_path / "new", trig=trig)
    old_triples = json.loads((old / "build.json").read_text())["triples"]
    new_triples = json.loads((new / "build.json").read_text())["triples"]
    assert new_triples == old_triples + 1
    current = tmp_path / "current"
    current.symlink_to(old)
    server = start_server(["--build", str(current)])
    try:
        assert _count(server.url) == old_triples
        next_link = tmp_path / "next"
        next_link.symlink_to(new)
        os.replace(next_link, current)  # atomic, as `mv -T` in docs/deploy.md
        os.kill(server.process.pid, signal.SIGHUP)
        # granian replaces the workers one at a time: old and new answer side by side for a
        # while; then every answer is the new build's (twenty in a row: each worker's)
        failures, streak, seen, deadline = [], 0, None, time.monotonic() + 90
        while streak < 20 and time.monotonic() < deadline:
            try:
                seen = _count(server.url)
            except urllib.error.HTTPError as exc:
                failures.append(exc.code)
            except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
                failures.append(repr(exc))
            streak = streak + 1 if seen == new_triples else 0
            time.sleep(0.1)
        assert streak >= 20, f"still answering from the old build ({seen} triples) 90 s after HUP"
        assert not failures, failures
        with urllib.request.urlopen(f"{server.url}/id/reload-marker", timeout=10) as page:
            assert "reload marker" in page.read().decode("utf-8")
        assert server.process.poll() is None
    finally:
        stop_server(server)
