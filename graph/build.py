"""Build the knowledge graph: records → checked catalogue → quads → inference → SHACL →
artifact folder.

`compile_dataset` does everything in memory and raises `BuildError` on the first stage
that fails; `build_dataset` then writes the artifact into a temporary sibling folder and
swaps it into place, so a failed build never replaces a good one. Output is sorted and
free of timestamps, so the same inputs give byte-identical RDF files.
"""
from __future__ import annotations

import gc
import glob
import hashlib
import importlib.metadata
import json
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import traceback
from itertools import chain
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import pyoxigraph as ox
from rdflib import BNode, Graph, URIRef
from rdflib.namespace import OWL, RDF

from bjkg.graph.datasets.manifest import MANIFEST, ManifestError, read_manifest
from bjkg.graph.datasets.read import ExternalError, ExternalResult, link_external, read_external
from bjkg.graph.terms import TermError, to_oxigraph
from bjkg.graph.unique import DuplicateTriples, check_one_graph_per_triple
from bjkg.graph.vocab import DEFAULT_BASE, ONTOLOGY_IRI, PREFIXES, Iris
from bjkg.graph.files import sha256_file as _sha256
from bjkg.graph.store_load import MergedTerms, load_nquads, refuse_merged_terms

if TYPE_CHECKING:
    from bjkg.graph.records.quotes import QuoteCheck

FORMAT_VERSION = 1
# Beside build.json: the hashes of everything the build read (`build_inputs`), so that
# `bjkg load` can tell whether the build is still what a full build would write.
INPUTS_FILE = "build-inputs.json"


class BuildError(Exception):
    """The build cannot go on; the message says what to fix and where."""


@dataclass
class Compiled:
    graphs: dict[URIRef, set]          # named graph → triples (ontology and inferred included)
    shapes: Graph
    shape_files: list[Path]
    report: Graph
    quote_check: QuoteCheck
    base: str
    sources: list[dict] = field(default_factory=list)
    ontology_version: str | None = None
    external: ExternalResult = field(default_factory=ExternalResult)

    @property
    def triples(self) -> int:
        return sum(len(t) for t in self.graphs.values()) + len(self.external.quads)


def _log_nothing(message: str) -> None:
    pass


def resolve_base(base: str | None) -> str:
    base = base or os.environ.get("BJKG_BASE") or DEFAULT_BASE
    if not base.endswith(("/", "#")):
        raise BuildError(f"base IRI {base!r} must end with '/'")
    try:  # every IRI of the graph starts with it: refused here, not deep in a worker
        import pyoxigraph

        pyoxigraph.NamedNode(base)
    except ValueError as exc:
        raise BuildError(f"base IRI {base!r} is not an absolute IRI: {exc}") from None
    return base


def load_ontology(root: Path) -> Graph:
    """Parse ontology/*.ttl; a syntax error names the file and line."""
    ontology = Graph()
    files = sorted((root / "ontology").glob("*.ttl"))
    if not files:
        raise BuildError(f"no ontology found in {root / 'ontology'}")
    for path in files:
        try:
            ontology.parse(path, format="turtle")
        except Exception as exc:  # rdflib raises several parser exception types
            raise BuildError(f"{path.relative_to(root)}: cannot parse the ontology: {exc}") from None
    return ontology


def compile_dataset(root: Path, sources: Path, base: str | None = None,
                    log: Callable[[str], None] = _log_nothing, *,
                    external_manifest: Path | None = None, progress: bool = False) -> Compiled:
    """Read, check, generate, infer and validate; nothing is written.

    External datasets (`graph/external.toml`, or `external_manifest`) are read and
    validated beside the curated graph, in a second process; their links rules read the
    curated graph once it has been reasoned about.
    """
    # The records' and reasoning's modules are imported here, not with the module:
    # `bjkg load` into a current build needs none of them (pypinyin, owlrl and pyshacl
    # take most of a second to import).
    from bjkg.graph.infer import infer
    from bjkg.graph.records.catalog import RecordsInvalid, read_catalog, warn_duplicate_labels
    from bjkg.graph.records.quotes import QuoteError, check_quotes, unverified_warning
    from bjkg.graph.records.rdfgen import generate
    from bjkg.graph.validate import load_shapes, validate

    base = resolve_base(base)
    iris = Iris(base)
    started = time.perf_counter()
    try:
        catalog = read_catalog(root)
    except RecordsInvalid as exc:
        raise BuildError(str(exc)) from None
    log(f"records: {len(catalog.entities)} entities, {len(catalog.observations)} observations, "
        f"{len(catalog.relations)} relations")
    warn_duplicate_labels(catalog)
    try:
        quote_check = check_quotes(catalog, sources)
    except QuoteError as exc:
        raise BuildError(str(exc)) from None
    log(f"quotes: {quote_check.summary}")
    # The external datasets are read, linked and validated in a second process from now
    # on: their reading, links and pyshacl run take seconds and need the curated graph
    # only for the links, after inference.
    external_job = _External(
        lambda: read_external(root, base, manifest=external_manifest, progress=progress),
        lambda prepared, curated_quads, log_external: link_external(
            root, base, prepared, curated_quads, log=log_external))
    try:
        graphs = generate(catalog, iris, quotes_verified=quote_check.verified)
        ontology = load_ontology(root)
        graphs[iris.ontology_graph] = set(ontology)
        asserted = Graph()
        for name, triples in graphs.items():
            if name != iris.ontology_graph:
                for triple in triples:
                    asserted.add(triple)
        external_job.check(log)  # a broken external file fails the build before inference
        inferred = infer(asserted, ontology, f"{base}id/")
        graphs[iris.inferred_graph] = inferred
        log(f"inference: {len(inferred)} triples kept")
        _refuse_blank_nodes(graphs)
        curated = {name: triples for name, triples in graphs.items() if name != iris.ontology_graph}
        curated_quads = _quads(curated)
        external_job.send_curated(lambda: curated_quads)
        ontology_quads = _quads({iris.ontology_graph: graphs[iris.ontology_graph]})
        _check_cube(root, curated_quads, ontology_quads, iris, log)
        shapes = load_shapes(root)
        conforms, report, text = validate(chain(asserted, inferred, ontology), shapes)
        if not conforms:
            raise BuildError("SHACL validation failed:\n" + _shorten(text))
        log(f"shacl: conforms ({time.perf_counter() - started:.1f}s so far)")
        external = external_job.result(log)
        _check_unique(graphs, external.quads)
    finally:
        external_job.stop()
    if not quote_check.verified:  # last, where the eye lands when the build ends
        log(unverified_warning(catalog, sources))
    version = next((str(o) for o in ontology.objects(ONTOLOGY_IRI, OWL.versionInfo)), None)
    docs = [{"document": str(iris.entity(d.id)), "file": d.file, "sha256": d.sha256,
             "graph": str(iris.doc_graph(d.id))}
            for d in sorted(catalog.documents.values(), key=lambda d: d.file)]
    return Compiled(graphs=graphs, shapes=shapes, report=report,
                    shape_files=sorted((root / "shapes").glob("*.ttl")) + external.shape_files,
                    quote_check=quote_check, base=base, sources=docs, ontology_version=version,
                    external=external)


class _External:
    """The external datasets (`read`, then `link`) in a forked process, on the second
    core, while this process builds, reasons about and validates the curated graph.

    The child reads the datasets at once, then waits for the curated quads (asserted and
    inferred: the links rules read them), which this process sends as N-Quads once
    inference is done (`send_curated`); a broken external file is reported by the next
    `check`. The child sends back its result (the quads as N-Quads bytes, which parse far
    faster than pickled quads), its log lines (replayed here in order, after the curated
    graph's), or its ExternalError. Without fork (not Linux/macOS) the datasets are read
    here at once and linked when the result is asked for.
    """

    def __init__(self, read: Callable[[], list],
                 link: Callable[[list, Callable[[], list[ox.Quad]], Callable[[str], None]], ExternalResult]) -> None:
        self._read, self._link = read, link
        self._process = None
        self._answer = None  # the child's message, once received
        self._sending: threading.Thread | None = None  # closes the curated pipe when done
        self._curated: Callable[[], list[ox.Quad]] = list
        if "fork" in multiprocessing.get_all_start_methods():
            context = multiprocessing.get_context("fork")
            self._receiver, sender = context.Pipe(duplex=False)
            curated_receiver, self._curated_sender = context.Pipe(duplex=False)
            self._process = context.Process(target=self._run, args=(sender, curated_receiver),
                                            daemon=True)
            self._process.start()
            sender.close()
            curated_receiver.close()
        else:
            try:
                self._prepared = read()
            except ExternalError as exc:
                raise BuildError(str(exc)) from None

    def _run(self, sender, curated_receiver) -> None:
        self._receiver.close()  # this process's copies of the parent's ends
        self._curated_sender.close()
        lines: list[str] = []
        try:
            prepared = self._read()
            result = self._link(prepared, lambda: list(ox.parse(
                curated_receiver.recv_bytes(), format=ox.RdfFormat.N_QUADS)), lines.append)
            sender.send(("ok", lines, ox.serialize(result.quads, format=ox.RdfFormat.N_QUADS),
                         result.datasets, result.graphs, result.shape_files))
        except ExternalError as exc:
            sender.send(("error", lines, str(exc)))
        except BaseException:  # noqa: BLE001 - reported by the parent, which raises
            sender.send(("crash", lines, traceback.format_exc()))
        finally:
            sender.close()

    def check(self, log: Callable[[str], None]) -> None:
        """BuildError now if the child has already failed; never waits."""
        if self._process is not None and self._answer is None and self._receiver.poll():
            self._answer = self._receive()
            if self._answer[0] != "ok":
                self._raise_or_return(log)

    def send_curated(self, quads: Callable[[], list[ox.Quad]]) -> None:
        """Hand the curated quads to the job. A writer thread sends them, so this process
        goes on even if the child is not reading yet (or never does: no links rule)."""
        if self._process is None:
            self._curated = quads
            return
        data = ox.serialize(quads(), format=ox.RdfFormat.N_QUADS)

        def send() -> None:
            try:
                self._curated_sender.send_bytes(data)
            except OSError:
                pass  # the child has ended; its answer says how
            finally:
                self._curated_sender.close()

        self._sending = threading.Thread(target=send, name="bjkg-send-curated", daemon=True)
        self._sending.start()

    def result(self, log: Callable[[str], None]) -> ExternalResult:
        """The job's result, or BuildError with its message; its log lines go to `log`."""
        if self._process is None:
            try:
                return self._link(self._prepared, self._curated, log)
            except ExternalError as exc:
                raise BuildError(str(exc)) from None
        if self._answer is None:
            self._answer = self._receive()
        return self._raise_or_return(log)

    def _receive(self) -> tuple:
        try:
            return self._receiver.recv()
        except EOFError:
            return ("crash", [], "the external datasets' process ended without a result "
                                 f"(exit code {self._process.exitcode})")

    def _raise_or_return(self, log: Callable[[str], None]) -> ExternalResult:
        kind, lines, *rest = self._answer
        for line in lines:
            log(line)
        if kind == "error":
            raise BuildError(rest[0])
        if kind == "crash":
            raise BuildError("internal error in the external datasets' process:\n" + rest[0])
        nquads, datasets, graphs, shape_files = rest
        try:
            quads = list(ox.parse(nquads, format=ox.RdfFormat.N_QUADS))
        except (SyntaxError, ValueError, MemoryError) as exc:  # read_quads refuses what it can foresee
            raise BuildError(f"the external datasets' statements could not be read back: {exc}") from None
        return ExternalResult(quads=quads, datasets=datasets, graphs=graphs, shape_files=shape_files)

    def stop(self) -> None:
        """End the child (if the build failed before asking for its result) and reap it."""
        if self._process is not None:
            if self._process.is_alive():
                self._process.terminate()
            self._process.join()
            self._receiver.close()
            if self._sending is None:  # the build failed before the curated graph was ready
                self._curated_sender.close()
            self._process = None


def _check_cube(root: Path, curated: list[ox.Quad], ontology: list[ox.Quad], iris: Iris,
                log: Callable[[str], None]) -> None:
    """The Data Cube gate (bjkg.graph.cube): IC-1…IC-21 over the asserted curated graphs and the
    ontology, normalised on a copy; inferred triples are not part of the input."""
    from bjkg.graph.cube import CubeError, check_cube

    started = time.perf_counter()
    inferred = ox.NamedNode(str(iris.inferred_graph))
    try:
        asked = check_cube(chain((q for q in curated if q.graph_name != inferred), ontology), root)
    except CubeError as exc:
        raise BuildError(str(exc)) from None
    log(f"data cube: IC-1…IC-21 hold ({asked} queries, {time.perf_counter() - started:.2f}s)")


def _check_unique(graphs: dict[URIRef, set], external: list[ox.Quad]) -> None:
    """Each triple in exactly one named graph (bjkg.graph.unique), external datasets included."""
    try:
        check_one_graph_per_triple(graphs, external)
    except DuplicateTriples as exc:
        raise BuildError(str(exc)) from None


def _shorten(text: str, limit: int = 12000) -> str:
    return text if len(text) <= limit else text[:limit] + "\n… (report truncated)"


def _refuse_blank_nodes(graphs: dict[URIRef, set]) -> None:
    for name, triples in graphs.items():
        for triple in triples:
            if any(isinstance(term, BNode) for term in triple):
                raise BuildError(f"blank node in graph {name}: {triple} — give it an IRI")


# ---------------------------------------------------------------- writing

def _ox_term(term):
    try:
        return to_oxigraph(term)
    except TermError as exc:
        raise BuildError(str(exc)) from None


def _quads(graphs: dict[URIRef, set]) -> list[ox.Quad]:
    return [ox.Quad(_ox_term(s), _ox_term(p), _ox_term(o), ox.NamedNode(str(g)))
            for g, triples in graphs.items() for s, p, o in triples]


def _quad_order(quad: ox.Quad) -> tuple:
    """The dumps' fixed order: graph, subject, predicate, object (by their N-Triples form),
    for all quads, curated and external."""
    return (quad.graph_name.value, str(quad.subject), str(quad.predicate), str(quad.object))


def write_artifact(compiled: Compiled, folder: Path) -> dict:
    """Write every artifact file into `folder` (which must be new and empty)."""
    quads = _quads(compiled.graphs) + compiled.external.quads
    prefixes = dict(PREFIXES)
    prefixes["id"] = f"{compiled.base}id/"
    with ThreadPoolExecutor(max_workers=1) as loader:
        store_loaded = loader.submit(_load_store, folder / "store",
                                     ox.serialize(quads, format=ox.RdfFormat.N_QUADS))
        quads.sort(key=_quad_order)
        tagged = _tagged_literals(quads)
        for name, fmt in (("bjkg.nq", ox.RdfFormat.N_QUADS), ("bjkg.trig", ox.RdfFormat.TRIG),
                          ("bjkg.jsonld", ox.RdfFormat.JSON_LD)):
            data = ox.serialize(quads, format=fmt,
                                prefixes=prefixes if fmt == ox.RdfFormat.TRIG else None)
            (folder / name).write_bytes(_canonical_language_case(data, fmt, tagged))
        store_loaded.result()
    try:
        refuse_merged_terms(folder / "store", len(quads), lambda: quads)
    except MergedTerms as exc:
        raise BuildError(str(exc)) from None
    # The shapes as written (with their comments), so readers see what gated the build.
    (folder / "shapes.ttl").write_bytes(b"\n".join(
        path.read_bytes() for path in compiled.shape_files))
    (folder / "validation.ttl").write_bytes(
        ox.serialize(_sorted_triples(_skolemize(compiled.report, compiled.base, "validation")),
                     format=ox.RdfFormat.TURTLE,
                     prefixes={"sh": "http://www.w3.org/ns/shacl#"}))
    dumps = {name: {"sha256": _sha256(folder / name), "bytes": (folder / name).stat().st_size}
             for name in ("bjkg.trig", "bjkg.nq", "bjkg.jsonld")}
    manifest = {
        "format": FORMAT_VERSION,
        "base": compiled.base,
        "hash": dumps["bjkg.trig"]["sha256"],
        "triples": len(quads),
        "graphs": dict(sorted({**{str(g): len(t) for g, t in compiled.graphs.items()},
                               **compiled.external.graphs}.items())),
        "classes": _class_counts(quads),
        "dumps": dumps,
        "sources": compiled.sources,
        "external": compiled.external.datasets,
        "quotes": compiled.quote_check.as_manifest(),
        "ontology_version": compiled.ontology_version,
    }
    (folder / "build.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n",
                                       encoding="utf-8")
    return manifest


def _load_store(path: Path, nquads: bytes) -> None:
    """The on-disk store, bulk-loaded from the build's quads serialised as N-Quads (in no
    particular order: the store's order is its own).

    Oxigraph parses and loads without the GIL, so this runs in a thread while the quads
    are sorted and the dumps written. `load_nquads` is the one store-writing path;
    lenient, as the quads are already terms oxigraph made (validated).
    """
    load_nquads(path, nquads, lenient=True)


# Oxigraph lower-cases language tags (they are case-insensitive); the dumps use the
# registered BCP 47 case, which many tools compare literally. In N-Quads and TriG a tag
# follows a literal's closing quote: the pattern reads the dump literal by literal, from
# each opening quote to its closing one (IRIs and prefixes hold no quote), so that text
# inside a literal is never taken for a tag. In JSON-LD a tag is the value of a
# "@language" key; a quote inside a JSON string is escaped, so that key cannot be
# mistaken for text either.
_TAG_CASE = {"zh-hans": "zh-Hans", "zh-hant": "zh-Hant", "zh-latn-pinyin": "zh-Latn-pinyin"}
_TAGS = "|".join(_TAG_CASE)
_TAG = {
    ox.RdfFormat.N_QUADS: re.compile(
        rf'"(?:[^"\\\n]|\\.)*"(?:@({_TAGS})(?![A-Za-z0-9-]))?'.encode()),
    ox.RdfFormat.JSON_LD: re.compile(rf'"@language": ?"({_TAGS})"'.encode()),
}
_TAG[ox.RdfFormat.TRIG] = _TAG[ox.RdfFormat.N_QUADS]


def _tagged_literals(quads: list) -> int:
    """How many quads have a literal tagged zh-Hans, zh-Hant or zh-Latn-pinyin."""
    return sum(1 for quad in quads
               if isinstance(quad.object, ox.Literal) and quad.object.language in _TAG_CASE)


def _canonical_language_case(data: bytes, fmt, tagged: int) -> bytes:
    """Restore `zh-Hans` etc. in a dump written by oxigraph, and prove that every such
    literal was fixed and nothing else: one fix per quad whose object carries one of these
    tags (`tagged`: each format writes every quad's object once)."""
    found = 0

    def fix(match: re.Match) -> bytes:
        nonlocal found
        tag = match.group(1)
        if tag is None:  # another literal
            return match.group(0)
        found += 1
        whole, cut = match.group(0), match.start(1) - match.start(0)
        return whole[:cut] + _TAG_CASE[tag.decode()].encode() + whole[cut + len(tag):]

    fixed = _TAG[fmt].sub(fix, data)
    if found != tagged:
        raise BuildError(f"internal error: {found} language tags fixed in the {fmt} output, "
                         f"{tagged} expected")
    return fixed


def _sorted_triples(graph: Graph) -> list[ox.Triple]:
    triples = [ox.Triple(_ox_term(s), _ox_term(p), _ox_term(o)) for s, p, o in graph]
    triples.sort(key=lambda t: (str(t.subject), str(t.predicate), str(t.object)))
    return triples


def _skolemize(graph: Graph, base: str, name: str) -> Graph:
    """Give blank nodes (SHACL lists, pyshacl's report) IRIs so the output has none."""
    mapping: dict[BNode, URIRef] = {}

    def iri(term):
        if not isinstance(term, BNode):
            return term
        if term not in mapping:
            mapping[term] = URIRef(f"{base}id/{name}/node-{len(mapping) + 1}")
        return mapping[term]

    ordered = sorted(graph, key=lambda t: tuple(
        "" if isinstance(x, BNode) else str(x) for x in t))
    out = Graph()
    for s, p, o in ordered:
        out.add((iri(s), p, iri(o)))
    return out


_RDF_TYPE = ox.NamedNode(str(RDF.type))


def _class_counts(quads: list[ox.Quad]) -> dict[str, int]:
    """Distinct instances per class, outside the ontology graph."""
    instances: dict[str, set] = {}
    for quad in quads:
        if quad.predicate == _RDF_TYPE and not quad.graph_name.value.endswith("/graph/ontology") \
                and isinstance(quad.object, ox.NamedNode):
            instances.setdefault(quad.object.value, set()).add(quad.subject)
    return {cls: len(members) for cls, members in sorted(instances.items())}


@contextmanager
def _cycle_collector_paused():
    """Pause Python's cycle collector for the build, and restore it afterwards.

    The build holds a few million long-lived objects (rdflib terms and graphs, pyshacl's
    shapes); every collection walks all of them, which cost more than a tenth of the
    build. Its garbage is freed by reference counting or, after the build, by the
    collector again.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def build_dataset(root: Path, out: Path, sources: Path, base: str | None = None,
                  log: Callable[[str], None] = _log_nothing, *,
                  external_manifest: Path | None = None, progress: bool = False) -> dict:
    """Compile and write the artifact to `out`, replacing it only if everything passed."""
    with _cycle_collector_paused():
        compiled = compile_dataset(root, sources, base, log, external_manifest=external_manifest,
                                   progress=progress)
        out = out.resolve()
        with staged(out) as staging:
            manifest = write_artifact(compiled, staging.folder)
            write_inputs(staging.folder, build_inputs(root, sources, compiled.base,
                                                      external_manifest or root / MANIFEST))
    log(f"wrote {out}")
    return manifest


@dataclass
class Staging:
    """A new folder beside the build being written (`staged`); `abandon()` to keep the
    build as it is."""

    folder: Path
    abandoned: bool = False

    def abandon(self) -> None:
        self.abandoned = True


@contextmanager
def staged(out: Path):
    """A new, empty sibling folder of `out` to write a build into: swapped into place when
    the block ends (`_swap_into_place`), removed when it raises or is abandoned — so a
    failed build, full or incremental (bjkg.graph.append), never replaces a good one."""
    out.parent.mkdir(parents=True, exist_ok=True)
    _sweep_abandoned(out)
    staging = Staging(Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent)))
    held = _hold(staging.folder)  # while this build lives: `_sweep_abandoned` leaves it alone
    try:
        yield staging
        if not staging.abandoned:
            _swap_into_place(staging.folder, out)
            return
    except BaseException:
        shutil.rmtree(staging.folder, ignore_errors=True)
        raise
    finally:
        os.close(held)
    shutil.rmtree(staging.folder, ignore_errors=True)


def _hold(path: Path, flags: int = os.O_RDONLY) -> int:
    """An open descriptor on `path` (a folder, or a file opened with `flags`) with an
    exclusive flock on it, released when the descriptor is closed or the process ends,
    however it ends: what a build or a load holds while it writes (`_remove_unless_held`)."""
    import fcntl

    fd = os.open(path, flags, 0o666)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _remove_unless_held(path: Path, remove: Callable[[Path], None]) -> None:
    """`remove(path)` unless a running process holds it (`_hold`): what a build or load
    killed outright left behind has no holder, whose lock ended with it."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return  # a build or load is writing it
    else:
        remove(path)
    finally:
        os.close(fd)


def _sweep_abandoned(out: Path) -> None:
    """Remove what builds to `out` that were killed left beside it: their staging folders
    (`.OUT.building-*`, each locked by its build while that runs, so one whose lock can be
    taken has no build) and old builds half replaced (`.OUT.old-*`, which exist only inside
    `_swap_into_place`, under the parent's lock). A build killed by SIGKILL, or by a SIGTERM
    before `bjkg build` handled it, left them for good: up to a whole build's size each."""
    with _locked(out.parent):
        for leftover in sorted(out.parent.glob(f".{glob.escape(out.name)}.*")):
            if not leftover.is_dir() or leftover.is_symlink():
                continue
            if leftover.name.startswith(f".{out.name}.old-"):
                if not out.exists() and (leftover / "build.json").is_file():
                    leftover.rename(out)  # killed between its two renames: the old build is the build
                else:
                    shutil.rmtree(leftover, ignore_errors=True)
                continue
            if leftover.name.startswith(f".{out.name}.building-"):
                _remove_unless_held(leftover, lambda path: shutil.rmtree(path, ignore_errors=True))


def build_inputs(root: Path, sources: Path, base: str, manifest: Path) -> dict[str, str]:
    """A hash of each kind of input the build reads, so a later `bjkg load` can tell
    whether the build in place is still what `bjkg build` would write from these inputs
    (it then adds only the new dataset; otherwise it rebuilds).

    Conservative: every file of the records, ontology and shapes folders, the corpus, the
    external manifest's text and every file it names beside its inputs (mappings, rules,
    shapes; the inputs themselves are pinned by their SHA-256 in the manifest), the build
    code and the versions of the libraries whose output ends up in the artifact.
    """
    code = Path(__file__).resolve().parent
    versions = [f"python {sys.version.split()[0]}"]
    for package in ("pyoxigraph", "rdflib", "pyshacl", "owlrl"):
        try:
            versions.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{package} absent")
    named: list[Path] = []
    try:
        for dataset in read_manifest(manifest):
            for name in (dataset.mapping, *dataset.derive, dataset.links, dataset.shapes):
                if name:
                    named.append(Path(name) if Path(name).is_absolute() else root / name)
    except ManifestError:
        named = []  # the build itself fails on it
    return {
        "base": base,
        "code": _tree_digest([p for p in code.rglob("*.py") if "__pycache__" not in p.parts],
                             code, extra=versions),
        "records": _tree_digest(
            [p for p in (root / "graph").rglob("*") if p.is_file()
             and not p.relative_to(root / "graph").parts[0].startswith(("external", "."))
             and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts], root / "graph"),
        "ontology": _tree_digest(list((root / "ontology").rglob("*")), root / "ontology"),
        "shapes": _tree_digest(list((root / "shapes").rglob("*")), root / "shapes"),
        "corpus": _tree_digest(list(Path(sources).rglob("*")) if Path(sources).is_dir() else [],
                               Path(sources)),
        "manifest": _sha256(manifest) if manifest.is_file() else "absent",
        "external rules": _tree_digest(named, root),
    }


def _tree_digest(files: list[Path], folder: Path, extra: list[str] = ()) -> str:
    """SHA-256 over the files' names (relative to `folder`) and bytes, in name order."""
    digest = hashlib.sha256()
    for line in extra:
        digest.update(line.encode() + b"\0")
    for path in sorted((p for p in files if p.is_file()), key=lambda p: str(p)):
        try:
            name = path.relative_to(folder).as_posix()
        except ValueError:
            name = str(path)
        digest.update(name.encode() + b"\0" + bytes.fromhex(_sha256(path)))
    for path in files:
        if not path.exists():
            digest.update(b"missing\0" + str(path).encode())
    return digest.hexdigest()


def write_inputs(folder: Path, inputs: dict[str, str]) -> None:
    (folder / INPUTS_FILE).write_text(json.dumps(inputs, indent=2, sort_keys=True) + "\n",
                                      encoding="utf-8")


def read_inputs(folder: Path) -> dict | None:
    try:
        return json.loads((folder / INPUTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _swap_into_place(staging: Path, out: Path) -> None:
    """Replace `out` with `staging` by renames; the old build is removed only afterwards.
    Under a lock on the parent folder: two builds to one `--out` then replace it one after
    the other (the last one wins), where the second could find the first's renames half
    done (a traceback, and the old build left behind as a hidden folder)."""
    with _locked(out.parent):
        if out.exists():
            if not (out / "build.json").is_file() and any(out.iterdir()):
                raise BuildError(f"{out} exists and is not a bjkg build; refusing to replace it")
            retired = out.with_name(f".{out.name}.old-{os.getpid()}")
            out.rename(retired)
            staging.rename(out)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            staging.rename(out)


@contextmanager
def _locked(folder: Path):
    """An exclusive flock on `folder` itself (no lock file to leave behind) while held."""
    import fcntl

    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # and with it the lock
