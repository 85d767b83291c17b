"""A clone without the corpus: the build still builds, but says loudly — on stderr, in
build.json, in the RDF and so in the build hash — that no quote was verified.

The unverified build runs here whether or not the corpus exists; only the comparison with a
verified build needs it (and skips, naming the reason, without it).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bjkg.graph.records.catalog import read_catalog

ROOT = Path(__file__).resolve().parents[2]
QUOTES_VERIFIED = "<https://w3id.org/bjkg/ontology#quotesVerified>"
QUOTE_OFFSET = "<https://w3id.org/bjkg/ontology#quoteOffset>"


@pytest.fixture(scope="module")
def unverified(tmp_path_factory):
    """`bjkg build` with BJKG_SOURCES naming a folder that does not exist: (folder, run)."""
    work = tmp_path_factory.mktemp("no-corpus")
    out = work / "build"
    env = dict(os.environ, BJKG_SOURCES=str(work / "no-such-corpus"))
    run = subprocess.run([sys.executable, "-m", "bjkg.server.cli", "build", "--out", str(out)],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return out, run


def test_build_without_corpus_warns_how_to_provide_the_texts(unverified):
    _, run = unverified
    assert "quotes NOT verified in this build: no corpus at" in run.stderr
    assert "no-such-corpus" in run.stderr  # which folder it looked in
    assert "--sources DIR" in run.stderr and "BJKG_SOURCES" in run.stderr
    catalog = read_catalog(ROOT)
    assert len(catalog.documents) >= 5
    for doc in catalog.documents.values():  # each text by file name, with its hash and record
        assert f"{doc.file}  sha256 {doc.sha256}  ({doc.where})" in run.stderr
    assert "quote check: NOT verified" in run.stdout


def test_build_json_and_the_rdf_record_it(unverified):
    out, _ = unverified
    manifest = json.loads((out / "build.json").read_text(encoding="utf-8"))
    assert manifest["quotes"]["verified"] is False
    assert "no corpus" in manifest["quotes"]["reason"]
    assert "no-such-corpus" not in json.dumps(manifest)  # the builder's paths stay with the builder
    claims = [line for line in (out / "bjkg.nq").read_text(encoding="utf-8").splitlines()
              if line.split(" ", 2)[1] == QUOTES_VERIFIED]
    assert len(claims) == len(manifest["sources"]) == len(read_catalog(ROOT).documents)
    assert all('"false"^^<http://www.w3.org/2001/XMLSchema#boolean>' in line for line in claims)


def test_verified_and_unverified_builds_differ_in_hash_and_only_in_that_claim(unverified, built):
    """They differ in the claim, and in what only the corpus can give: where each quote
    stands in its document (bjkg:quoteOffset, written by the quote check)."""
    out, _ = unverified
    verified = json.loads((built / "build.json").read_text(encoding="utf-8"))
    unverified_manifest = json.loads((out / "build.json").read_text(encoding="utf-8"))
    assert verified["quotes"]["verified"] is True
    assert verified["hash"] != unverified_manifest["hash"]
    a = set((built / "bjkg.nq").read_text(encoding="utf-8").splitlines())
    b = set((out / "bjkg.nq").read_text(encoding="utf-8").splitlines())
    assert a ^ b and all(line.split(" ", 2)[1] in (QUOTES_VERIFIED, QUOTE_OFFSET) for line in a ^ b)
    assert not any(line.split(" ", 2)[1] == QUOTE_OFFSET for line in b)  # offsets need the texts
    claims_a = {line for line in a - b if line.split(" ", 2)[1] == QUOTES_VERIFIED}
    assert claims_a and all('"true"' in line for line in claims_a)
    assert b - a and all('"false"' in line for line in b - a)


def test_records_check_without_corpus_says_so(tmp_path):
    env = dict(os.environ, BJKG_SOURCES=str(tmp_path / "nowhere"))
    run = subprocess.run([sys.executable, "-m", "bjkg.graph.records", "check"], cwd=ROOT, env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "quotes: NOT verified" in run.stdout
    assert "quotes NOT verified in this build" in run.stderr
