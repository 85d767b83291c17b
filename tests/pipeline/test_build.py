"""The build: reproducible, atomic, and precise about what is wrong."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyoxigraph as ox
import pytest

from bjkg.graph.build import BuildError, build_dataset, compile_dataset

from .conftest import ROOT


def _build_in_subprocess(out: Path, sources: Path, seed: str) -> None:
    """A build in a fresh interpreter, so hash randomisation differs between runs."""
    env = dict(os.environ, PYTHONHASHSEED=seed)
    code = ("import sys; from pathlib import Path; from bjkg.graph.build import build_dataset; "
            "build_dataset(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))")
    subprocess.run([sys.executable, "-c", code, str(ROOT), str(out), str(sources)],
                   check=True, env=env, cwd=ROOT)


def test_two_builds_are_byte_identical(tmp_path, sources):
    _build_in_subprocess(tmp_path / "a", sources, "1")
    _build_in_subprocess(tmp_path / "b", sources, "2")
    for name in ("bjkg.trig", "bjkg.nq", "bjkg.jsonld", "shapes.ttl", "validation.ttl",
                 "build.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_artifact_is_complete(built):
    manifest = json.loads((built / "build.json").read_text(encoding="utf-8"))
    assert manifest["quotes"]["verified"] is True and manifest["quotes"]["quotes"] > 1000
    graphs = manifest["graphs"]
    base = manifest["base"]
    assert f"{base}graph/reference" in graphs
    assert f"{base}graph/ontology" in graphs
    assert graphs[f"{base}graph/inferred"] > 0
    assert len(manifest["sources"]) == 5
    for source in manifest["sources"]:
        assert graphs[source["graph"]] > 0, source
    store = ox.Store.read_only(str(built / "store"))
    assert len(store) == manifest["triples"]
    assert "sh:conforms true" in (built / "validation.ttl").read_text(encoding="utf-8")


def test_no_blank_nodes(built):
    for quad in ox.parse(path=str(built / "bjkg.nq"), format=ox.RdfFormat.N_QUADS):
        assert not isinstance(quad.subject, ox.BlankNode)
        assert not isinstance(quad.object, ox.BlankNode)


def test_dumps_agree(built):
    trig = set(ox.parse(path=str(built / "bjkg.trig"), format=ox.RdfFormat.TRIG))
    nq = set(ox.parse(path=str(built / "bjkg.nq"), format=ox.RdfFormat.N_QUADS))
    jsonld = set(ox.parse(path=str(built / "bjkg.jsonld"), format=ox.RdfFormat.JSON_LD))
    assert trig == nq == jsonld


def _break(repo: Path, relative: str, old: str, new: str) -> int:
    """Replace text in a record file; return the (1-based) line of the change."""
    path = repo / relative
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    line = text[: text.index(old)].count("\n") + 1
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return line


def test_the_store_holds_the_dumps_terms_as_written(built, store):
    """Every quad of the dump is in the store as the same RDF term: the endpoint and the
    entity pages (which read the store) say what the dumps say. pyoxigraph's store keeps
    only xsd:integer of the integer types (a "5"^^xsd:nonNegativeInteger read back as
    xsd:integer: 2,020 quote offsets differed between the endpoint and the dumps)."""
    import pyoxigraph as ox

    dumped = set(ox.parse(path=str(built / "bjkg.nq"), format=ox.RdfFormat.N_QUADS))
    stored = set(store)
    assert len(stored) == len(dumped)
    differ = sorted(str(q) for q in dumped - stored)
    assert not differ, f"{len(differ)} quads of the dump are not in the store as written, e.g. {differ[:3]}"


def test_failed_build_leaves_previous_build_untouched(repo_copy, sources, tmp_path):
    out = tmp_path / "out"
    build_dataset(repo_copy, out, sources)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    line = _break(repo_copy, "graph/reference/places.yaml", "zh: 通州区", "zh: [通州区")
    with pytest.raises(BuildError, match=rf"graph/reference/places.yaml:{line}"):
        build_dataset(repo_copy, out, sources)
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert before == after
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]


def test_quote_not_in_source_names_file_and_line(repo_copy, sources):
    line = _break(repo_copy, "graph/reference/initiatives.yaml",
                  "第一“子”,是建設國際科技創新中心", "第一“子”,是建設世界科技創新中心")
    with pytest.raises(BuildError) as err:
        compile_dataset(repo_copy, sources)
    assert f"graph/reference/initiatives.yaml:{line}: quote not found" in str(err.value)
    assert str(err.value).count("quote not found") == 1  # once, though it backs several facts


def test_a_quote_too_short_names_file_and_line(repo_copy, sources):
    """The shapes want two characters at least; the records check says so with the file
    and line (SHACL named only the entity, in a report of thirty lines)."""
    line = _break(repo_copy, "graph/sources/tongzhou-new-productive-forces.yaml",
                  "  quote: 孟景伟\n", "  quote: 孟\n")
    with pytest.raises(BuildError) as err:
        compile_dataset(repo_copy, sources)
    assert f"graph/sources/tongzhou-new-productive-forces.yaml:{line}: a quote of 1 character" in str(err.value)


def test_unknown_entity_names_file_and_line(repo_copy, sources):
    line = _break(repo_copy, "graph/reference/places.yaml",
                  "  - place/beijing\n  source: document/reference-identifiers\n"
                  "- id: place/chaoyang",
                  "  - place/atlantis\n  source: document/reference-identifiers\n"
                  "- id: place/chaoyang")
    with pytest.raises(BuildError, match=r"unknown entity place/atlantis"):
        compile_dataset(repo_copy, sources)
    with pytest.raises(BuildError, match=rf"graph/reference/places.yaml:{line}"):
        compile_dataset(repo_copy, sources)


def test_duplicate_iri_names_both_places(repo_copy, sources):
    path = repo_copy / "graph" / "reference" / "people.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("people:\n", "people:\n- id: person/yin-li\n  zh: 尹力\n"
                                 "  en: Yin Li\n", 1), encoding="utf-8")
    with pytest.raises(BuildError, match=r"person/yin-li is defined twice \(first at "
                                         r"graph/reference/people.yaml:\d+\)"):
        compile_dataset(repo_copy, sources)


def test_duplicate_yaml_key_is_refused(repo_copy, sources):
    line = _break(repo_copy, "graph/reference/people.yaml", "- id: person/yin-li\n",
                  "- id: person/yin-li\n  id: person/yin-li-2\n")
    with pytest.raises(BuildError, match=rf"people.yaml:{line + 1}: duplicate key 'id'"):
        compile_dataset(repo_copy, sources)


def test_a_record_file_named_yml_is_refused_not_left_out(repo_copy):
    """A record file saved as .yml (or .YAML) was skipped: its facts were silently missing
    from the graph. It is named, with what to do."""
    from bjkg.graph.records.catalog import RecordsInvalid, read_catalog

    source = repo_copy / "graph/sources/tongzhou-new-productive-forces.yaml"
    source.rename(source.with_suffix(".yml"))
    with pytest.raises(RecordsInvalid, match=r"graph/sources/tongzhou-new-productive-forces\.yml:1: record files "
                                             r"are read only when named \*\.yaml.*rename it to "
                                             r"tongzhou-new-productive-forces\.yaml"):
        read_catalog(repo_copy)
    (repo_copy / "graph/sources/tongzhou-new-productive-forces.yml").rename(source)
    (repo_copy / "graph/reference/notes.YAML").write_text("[]\n", encoding="utf-8")
    with pytest.raises(RecordsInvalid, match=r"graph/reference/notes\.YAML:1"):
        read_catalog(repo_copy)


def test_bytes_that_are_not_utf8_are_named_at_their_line(repo_copy, sources):
    """A stray Latin-1 byte deep in a file is reported at its own line, not at line 1."""
    path = repo_copy / "graph/reference/people.yaml"
    data = path.read_bytes()
    at = data.index("- id: person/yin-li\n".encode())
    path.write_bytes(data[:at] + b"# caf\xe9\n" + data[at:])
    line = data.count(b"\n", 0, at) + 1
    with pytest.raises(BuildError, match=rf"people.yaml:{line}: not UTF-8 text \(invalid "
                                         r"continuation byte at byte \d+: 0xe9\)"):
        compile_dataset(repo_copy, sources)


def test_tampered_source_is_refused(repo_copy, sources, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in sources.glob("*.txt"):
        (corpus / path.name).write_bytes(path.read_bytes())
    target = next(corpus.glob("000_*.txt"))
    target.write_bytes(target.read_bytes() + b"\n")
    with pytest.raises(BuildError, match=r"has sha256 [0-9a-f]{64}, the record says"):
        compile_dataset(repo_copy, corpus)


def test_missing_corpus_is_said_not_hidden(repo_copy, tmp_path):
    compiled = compile_dataset(repo_copy, tmp_path / "nowhere")
    assert compiled.quote_check.verified is False
    assert compiled.quote_check.summary.startswith("NOT verified: no corpus")


def test_cli_build_and_query(tmp_path, sources):
    out = tmp_path / "cli-out"
    run = subprocess.run([sys.executable, "-m", "bjkg.server.cli", "build", "--out", str(out),
                          "--sources", str(sources)], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "quote check: passed" in run.stdout
    query = subprocess.run(
        [sys.executable, "-m", "bjkg.server.cli", "query", "--build", str(out), "--format", "csv",
         "SELECT (COUNT(*) AS ?n) WHERE { ?o a <http://purl.org/linked-data/cube#Observation> }"],
        cwd=ROOT, capture_output=True, text=True)
    assert query.returncode == 0, query.stderr
    assert int(query.stdout.splitlines()[1]) > 20
    for fmt, header in (("csv", "subject,predicate,object"), ("table", "subject")):
        star = subprocess.run(  # SELECT * columns in the order of the query, as the endpoint's
            [sys.executable, "-m", "bjkg.server.cli", "query", "--build", str(out), "--format", fmt,
             "SELECT * WHERE { ?subject ?predicate ?object } LIMIT 1"], cwd=ROOT, capture_output=True, text=True)
        assert star.returncode == 0 and star.stdout.split()[0].startswith(header), star.stdout
    stats = subprocess.run([sys.executable, "-m", "bjkg.server.cli", "stats", "--build", str(out),
                            "--json"], cwd=ROOT, capture_output=True, text=True)
    assert json.loads(stats.stdout)["triples"] > 1000


def test_cli_build_failure_exits_nonzero_with_message(repo_copy, tmp_path, sources):
    _break(repo_copy, "graph/reference/places.yaml", "zh: 通州区", "zh: [通州区")
    code = ("import sys; from pathlib import Path; from bjkg.graph.build import build_dataset, "
            "BuildError\ntry:\n build_dataset(Path(sys.argv[1]), Path(sys.argv[2]), "
            "Path(sys.argv[3]))\nexcept BuildError as e:\n print(e, file=sys.stderr); sys.exit(1)")
    run = subprocess.run([sys.executable, "-c", code, str(repo_copy), str(tmp_path / "o"),
                          str(sources)], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 1
    assert "graph/reference/places.yaml" in run.stderr
    assert not (tmp_path / "o").exists()


def test_folded_quote_is_accepted(repo_copy, sources):
    """A quote typed in Simplified, without the glosses, still proves a glossed Traditional
    source (the check folds both sides); one word changed does not."""
    _break(repo_copy, "graph/reference/documents.yaml",
           "1月21日上午,北京市十六屆人大二次會議在北京會議中心開幕",
           "1月21日上午，北京市十六届人大二次会议在北京会议中心开幕")
    assert compile_dataset(repo_copy, sources).quote_check.verified
    _break(repo_copy, "graph/reference/documents.yaml", "北京会议中心开幕", "北京饭店开幕")
    with pytest.raises(BuildError, match="quote not found"):
        compile_dataset(repo_copy, sources)


def test_a_base_that_is_not_an_iri_is_refused_at_once():
    from bjkg.graph.build import resolve_base

    with pytest.raises(BuildError, match="not an absolute IRI"):
        resolve_base("http://example.org/x y/")
    with pytest.raises(BuildError, match="must end with '/'"):
        resolve_base("http://example.org/x")
    assert resolve_base("http://example.org/x/") == "http://example.org/x/"


def test_an_output_folder_that_cannot_be_written_is_one_line_not_a_traceback(monkeypatch):
    from click.testing import CliRunner

    import bjkg.graph.build as build_module
    from bjkg.server.cli import main

    def unwritable(*args, **kwargs):
        raise FileNotFoundError(2, "No such file or directory", "/proc/.x.building-1")

    monkeypatch.setattr(build_module, "build_dataset", unwritable)
    run = CliRunner().invoke(main, ["build", "--out", "/proc/x"])
    assert run.exit_code == 1
    assert "build failed: No such file or directory: /proc/.x.building-1" in run.output
    assert "Traceback" not in run.output


def test_two_builds_swapped_into_one_folder_at_once_replace_it_in_turn(tmp_path, monkeypatch):
    """The renames of two builds to one --out are serialised: both end, the folder holds
    the last one whole, and no old build is left behind (a race left a traceback and a
    hidden copy). The gap between the two renames is widened to make the race certain."""
    import threading
    import time

    from bjkg.graph.build import _swap_into_place

    out = tmp_path / "out"
    out.mkdir()
    (out / "build.json").write_text('{"which": "old"}')
    stagings = []
    for which in ("a", "b"):
        folder = tmp_path / f".out.building-{which}"
        folder.mkdir()
        (folder / "build.json").write_text(f'{{"which": "{which}"}}')
        stagings.append(folder)
    rename = Path.rename

    def slow_rename(self, target):
        result = rename(self, target)
        time.sleep(0.2)
        return result

    monkeypatch.setattr(Path, "rename", slow_rename)
    errors = []

    def swap(folder):
        try:
            _swap_into_place(folder, out)
        except Exception as exc:  # noqa: BLE001 - recorded for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=swap, args=(folder,)) for folder in stagings]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert (out / "build.json").read_text() in ('{"which": "a"}', '{"which": "b"}')
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_an_explicit_sources_folder_that_does_not_exist_is_refused(tmp_path):
    """A mistyped --sources is an error, not a build whose quotes go unverified in place of
    a verified one (the missing default corpus of a fresh clone is still only a warning)."""
    from click.testing import CliRunner

    from bjkg.server.cli import main

    for command in (["build", "--out", str(tmp_path / "out")], ["validate"]):
        run = CliRunner().invoke(main, [*command, "--sources", str(tmp_path / "no-such-corpus")])
        assert run.exit_code == 2, run.output
        assert "no-such-corpus" in run.output and "does not exist" in run.output
    assert not (tmp_path / "out").exists()


def test_what_killed_builds_left_beside_the_output_is_swept_by_the_next(tmp_path):
    """A build killed outright leaves its staging folder (and, between its two renames,
    the old build under another name); the next build to the same folder removes the
    staging folders no running build holds, and puts a half-replaced old build back."""
    import fcntl

    from bjkg.graph.build import _sweep_abandoned, staged

    out = tmp_path / "out"
    out.mkdir()
    (out / "build.json").write_text('{"which": "old"}')
    abandoned = tmp_path / ".out.building-dead"
    (abandoned / "store").mkdir(parents=True)
    running = tmp_path / ".out.building-alive"
    running.mkdir()
    held = os.open(running, os.O_RDONLY)
    fcntl.flock(held, fcntl.LOCK_EX)  # as a build that is still writing holds its folder
    retired = tmp_path / ".out.old-4242"
    retired.mkdir()
    other = tmp_path / ".outer.building-x"  # another output's: not ours to touch
    other.mkdir()
    try:
        with staged(out) as staging:
            (staging.folder / "build.json").write_text('{"which": "new"}')
        assert json.loads((out / "build.json").read_text()) == {"which": "new"}
        assert not abandoned.exists() and not retired.exists()
        assert running.is_dir() and other.is_dir()
        assert sorted(p.name for p in tmp_path.iterdir()) == [".out.building-alive", ".outer.building-x", "out"]
    finally:
        os.close(held)
    (tmp_path / "out").rename(tmp_path / ".out.old-4243")  # killed between the two renames
    _sweep_abandoned(out)
    assert json.loads((out / "build.json").read_text()) == {"which": "new"}


def test_a_terminated_build_leaves_no_staging_folder(tmp_path, sources):
    """SIGTERM (a kill, a cancelled CI job) ends `bjkg build` as Ctrl-C does: the staging
    folder is removed and the previous build is kept (by default Python ended at once and
    left a hidden copy of a build behind). The build is held inside its staging folder
    (after its last file is written) until the signal comes, so the test cannot race it."""
    import signal
    import time

    out = tmp_path / "out"
    out.mkdir()
    (out / "build.json").write_text('{"which": "old"}')
    script = ("import sys, time\n"
              "import bjkg.graph.build as build\n"
              "write_inputs = build.write_inputs\n"
              "def held(folder, inputs):\n"
              "    write_inputs(folder, inputs)\n"
              "    time.sleep(120)\n"
              "build.write_inputs = held\n"
              "sys.argv = ['bjkg', *sys.argv[1:]]\n"
              "from bjkg.server.cli import program\n"
              "program()\n")
    process = subprocess.Popen([sys.executable, "-c", script, "build", "--out", str(out), "--sources", str(sources)],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not list(tmp_path.glob(".out.building-*/build-inputs.json")):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert json.loads((out / "build.json").read_text()) == {"which": "old"}
