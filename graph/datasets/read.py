"""Load the external datasets of `graph/external.toml` into their own named graphs.

For each dataset, in manifest order:

1. find each input (a file in the checkout, or a file inside an installed package read
   with importlib.resources) and check its SHA-256 against the manifest, so a rebuild
   uses exactly the bytes that were reviewed;
2. turn it into RDF: an RDF file through oxigraph's streaming parser (`rdf_input`), a
   table through its CSVW metadata (`csvw`);
3. run the dataset's `derive` rules (SPARQL CONSTRUCT, in order) and add what they
   construct to its graph: what a table mapping cannot say, such as a code's parent;
4. run its `links` rule over bjkg's graphs and the dataset together; the links go into
   `<base>graph/links/<name>`, so the dataset's graph holds only what the source says;
5. validate the dataset, its links and the linked bjkg entities against its `shapes`.

Steps 1–3 (`read_external`) run before the curated graph is built, so a broken file fails
fast; 4–5 (`link_external`) after it passed its own checks, since the links read it.
Nothing here reads the network or writes anything; the build writes the quads with the
rest. External data is not fed to OWL-RL inference, and the curated graph is not changed.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.resources
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pyoxigraph as ox
from rdflib import Graph

from bjkg.graph.datasets.csvw import CsvwError, read_metadata, table_triples
from bjkg.graph.datasets.manifest import MANIFEST, ExternalDataset, Input, ManifestError, read_manifest
from bjkg.graph.datasets.rdf_input import RdfInputError, read_quads
from bjkg.graph.terms import to_rdflib
from bjkg.graph.files import sha256_file as _sha256_file

SHACL_CACHE_VERSION = "1"


class ExternalError(Exception):
    """An external dataset cannot be loaded; the message names the file and line."""


@dataclass
class ExternalResult:
    """What the external datasets add to a build."""
    quads: list[ox.Quad] = field(default_factory=list)
    datasets: list[dict] = field(default_factory=list)    # build.json "external"
    graphs: dict[str, int] = field(default_factory=dict)  # graph IRI → triples
    shape_files: list[Path] = field(default_factory=list)


@dataclass
class Prepared:
    """One dataset read, mapped and derived, before its links and its validation."""
    dataset: ExternalDataset
    where: str                  # "graph/external.toml:11: dataset 'name'", for messages
    inputs: list                # of _Loaded
    quads: list[ox.Quad]
    seconds: float
    # read_external(as_nquads=True): the quads as N-Quads bytes instead (unsorted, repeats
    # kept; `quads` empty until `materialise`)
    nquads: bytes | None = None

    def materialise(self) -> None:
        """`quads` from `nquads`, deduplicated, as read_external would have given them."""
        if self.nquads is not None:
            self.quads = list(dict.fromkeys(ox.parse(self.nquads, format=ox.RdfFormat.N_QUADS)))
            self.nquads = None


def read_external(root: Path, base: str, *, manifest: Path | None = None,
                  progress: bool = False, only: set[str] | None = None,
                  as_nquads: bool = False,
                  on_piece: Callable[[bytes], None] | None = None) -> list[Prepared]:
    """Steps 1–3 for every dataset of the manifest (default `root/graph/external.toml`),
    or for those named in `only` (`bjkg load` into an existing build reads the new one).
    `as_nquads`: an RDF dataset without derive rules is handed over as N-Quads bytes
    (`Prepared.nquads`), which a large file reaches several times faster than quads;
    `on_piece` gets those N-Quads piece by piece as they are read (`read_quads`).

    Runs before the curated graph is built, so that a broken external file fails the
    build in seconds rather than after inference and SHACL.
    """
    manifest = manifest or root / MANIFEST
    try:
        datasets = read_manifest(manifest)
    except ManifestError as exc:
        raise ExternalError(str(exc)) from None
    prepared = []
    for dataset in datasets:
        if only is not None and dataset.name not in only:
            continue
        started = time.perf_counter()
        where = f"{_shown(manifest, root)}:{dataset.line}: dataset {dataset.name!r}"
        graph = ox.NamedNode(dataset.graph_iri(base))
        inputs = [_read_input(where, root, item) for item in dataset.inputs]
        if as_nquads and dataset.format != "csvw" and not dataset.derive:
            nquads = b"".join(_rdf_input(loaded, dataset, graph, base, where, progress, True,
                                         on_piece) for loaded in inputs)
            _refuse_empty(where, inputs, bool(nquads.strip()))
            prepared.append(Prepared(dataset, where, inputs, [], time.perf_counter() - started,
                                     nquads=nquads))
            continue
        quads = _dataset_quads(root, dataset, inputs, graph, base, where, progress)
        quads = _derive(root, dataset, quads, graph, where)
        _refuse_empty(where, inputs, bool(quads))
        prepared.append(Prepared(dataset, where, inputs, quads, time.perf_counter() - started))
    return prepared


def _refuse_empty(where: str, inputs: list, has_statements: bool) -> None:
    """A dataset without a single triple is an error naming its files: its named graph
    would be empty, which a store does not keep (the build would then not match its own
    manifest), and loading nothing is not what anyone meant."""
    if not has_statements:
        raise ExternalError(f"{where}: {', '.join(loaded.label for loaded in inputs)} holds no "
                            "triples; an empty dataset would leave an empty named graph. Give it "
                            "data, or leave it out.")


def link_external(root: Path, base: str, prepared: list[Prepared],
                  bjkg_quads: Callable[[], list[ox.Quad]], *,
                  log: Callable[[str], None] = lambda m: None) -> ExternalResult:
    """Steps 4–5: each dataset's links to the curated graph, then its SHACL validation.

    `bjkg_quads` returns the curated graph's quads (asserted and inferred); it is called
    only when a dataset has a links rule.
    """
    result = ExternalResult()
    # Each dataset's own graph for pyshacl is built first: the build calls this while
    # the curated graph is still being reasoned about, so `bjkg_quads` may have to wait.
    checks = [_Validation(_path(root, item.dataset.shapes), item.quads, item.where)
              if item.dataset.shapes else None for item in prepared]
    for check in checks:
        if check is not None:
            check.prepare()
    curated: list[ox.Quad] | None = None
    for item, check in zip(prepared, checks):
        started = time.perf_counter()
        dataset, where, quads = item.dataset, item.where, item.quads
        links: list[ox.Quad] = []
        if dataset.links:
            if curated is None:
                curated = bjkg_quads()
            links = _links(root, dataset, quads, curated,
                           ox.NamedNode(dataset.links_graph_iri(base)), where)
        if check is not None:
            check.finish(links, curated or [])
            result.shape_files.append(check.shapes)
        result.quads += quads + links
        result.graphs[dataset.graph_iri(base)] = len(quads)
        if dataset.links:
            result.graphs[dataset.links_graph_iri(base)] = len(links)
        result.datasets.append(describe(dataset, base, item.inputs, len(quads), len(links)))
        log(f"external {dataset.name}: {len(quads)} triples, {len(links)} links "
            f"({item.seconds + time.perf_counter() - started:.1f}s)")
    return result


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def _path(root: Path, name: str) -> Path:
    path = Path(name)
    return path if path.is_absolute() else root / path


# --------------------------------------------------------------------------- inputs

@dataclass
class _Loaded:
    item: Input
    data: Path | bytes          # a file is streamed; a package resource is read whole
    label: str
    size: int


def _read_input(where: str, root: Path, item: Input) -> _Loaded:
    """The input's path or bytes, after its SHA-256 matched the manifest."""
    if item.file is not None:
        path = _path(root, item.file)
        if not path.is_file():
            raise ExternalError(f"{where}: input {item.file} does not exist")
        digest, size, data, label = _sha256_file(path), path.stat().st_size, path, item.file
        hint = ""
    else:
        package, _, inner = item.resource.partition(":")
        try:
            resource = _package_file(package, inner)
        except ModuleNotFoundError:
            raise ExternalError(f"{where}: package {package!r} is not installed; it provides "
                                f"{item.resource} (pip install -e . installs it)") from None
        if not resource.is_file():
            raise ExternalError(f"{where}: the installed package {package} "
                                f"{_version(package)} has no file {inner}")
        data = resource.read_bytes()
        digest, size, label = hashlib.sha256(data).hexdigest(), len(data), item.label
        hint = f" (installed: {package} {_version(package)}; the pinned version is in pyproject.toml)"
    if digest != item.sha256:
        raise ExternalError(f"{where}: SHA-256 mismatch for {label}: the file has {digest}, "
                            f"the manifest pins {item.sha256}{hint}. If the new bytes are "
                            "intended, review them and update sha256 and retrieved.")
    return _Loaded(item, data, label, size)


def _package_file(package: str, inner: str):
    """A file shipped inside an installed package, found without importing the package
    when it is a plain folder: importing runs the package's own start-up (cpca builds its
    address matcher, ≈0.1 s, through the deprecated pkg_resources), and only a data file
    is wanted. Otherwise (a zip, say) through importlib.resources, which imports it."""
    import importlib.util

    if "." not in package:  # a subpackage's spec would import its parent anyway
        spec = importlib.util.find_spec(package)
        if spec is None:
            raise ModuleNotFoundError(package)
        folders = list(spec.submodule_search_locations or [])
        if len(folders) == 1 and Path(folders[0]).is_dir():
            return Path(folders[0]).joinpath(*inner.split("/"))
    return importlib.resources.files(package).joinpath(inner)


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "(version unknown)"


def _dataset_quads(root: Path, dataset: ExternalDataset, inputs: list[_Loaded],
                   graph: ox.NamedNode, base: str, where: str, progress: bool) -> list[ox.Quad]:
    """The dataset's own statements, from RDF files or through its CSVW mapping."""
    out: list[ox.Quad] = []
    if dataset.format == "csvw":
        mapping = _path(root, dataset.mapping)
        loaded = inputs[0]
        data = loaded.data.read_bytes() if isinstance(loaded.data, Path) else loaded.data
        try:
            table = read_metadata(mapping)
            out = [ox.Quad(t.subject, t.predicate, t.object, graph)
                   for t in table_triples(table, data, base=base, source=loaded.label)]
        except (CsvwError, FileNotFoundError) as exc:
            raise ExternalError(f"{where}: {exc}") from None
        return out
    for loaded in inputs:
        out += _rdf_input(loaded, dataset, graph, base, where, progress, False)
    return out


def _rdf_input(loaded: _Loaded, dataset: ExternalDataset, graph: ox.NamedNode, base: str,
               where: str, progress: bool, as_nquads: bool,
               on_piece: Callable[[bytes], None] | None = None) -> list[ox.Quad] | bytes:
    try:
        return read_quads(loaded.data, loaded.item.format, graph.value,
                          f"{base}.well-known/genid/{dataset.name}/", label=loaded.label,
                          progress=progress, as_nquads=as_nquads, on_piece=on_piece)
    except RdfInputError as exc:
        raise ExternalError(f"{where}: {exc}") from None


# --------------------------------------------------------------------------- rules

def _construct(root: Path, rule: str, store: ox.Store, where: str) -> list[ox.Triple]:
    """The triples a CONSTRUCT file builds over the store's union graph (no blank nodes)."""
    path = _path(root, rule)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ExternalError(f"{where}: cannot read rule {rule}: {exc}") from None
    try:
        result = store.query(text, use_default_graph_as_union=True)
    except SyntaxError as exc:
        raise ExternalError(f"{where}: {rule}: SPARQL syntax error: {exc}") from None
    if not isinstance(result, ox.QueryTriples):
        raise ExternalError(f"{where}: {rule} is not a CONSTRUCT query")
    triples = list(result)
    for triple in triples:
        if isinstance(triple.subject, ox.BlankNode) or isinstance(triple.object, ox.BlankNode):
            raise ExternalError(f"{where}: {rule} constructs a blank node ({triple}); "
                                "give every node an IRI")
    return triples


def _derive(root: Path, dataset: ExternalDataset, quads: list[ox.Quad], graph: ox.NamedNode,
            where: str) -> list[ox.Quad]:
    """The dataset's quads plus what each derive rule constructs, in rule order, deduplicated."""
    if not dataset.derive:  # deduplicated without a round trip through a store
        return list(dict.fromkeys(quads))
    store = ox.Store()
    store.extend(quads)
    for rule in dataset.derive:
        store.extend(ox.Quad(t.subject, t.predicate, t.object, graph)
                     for t in _construct(root, rule, store, where))
    return list(store.quads_for_pattern(None, None, None, graph))


def _links(root: Path, dataset: ExternalDataset, quads: list[ox.Quad], curated: list[ox.Quad],
           links_graph: ox.NamedNode, where: str) -> list[ox.Quad]:
    """What the links rule constructs over bjkg's graphs and the dataset, in the links graph."""
    store = ox.Store()
    store.extend(curated)
    store.extend(quads)
    triples = _construct(root, dataset.links, store, where)
    return sorted({ox.Quad(t.subject, t.predicate, t.object, links_graph) for t in triples},
                  key=str)


# --------------------------------------------------------------------------- shapes

def _validate(shapes: Path, quads: list[ox.Quad], links: list[ox.Quad], curated: list[ox.Quad],
              where: str) -> None:
    """pyshacl over the dataset, its links and the curated statements about linked entities
    (see `_Validation`), in one step."""
    _Validation(shapes, quads, where).finish(links, curated)


class _Validation:
    """One dataset's pyshacl run over the dataset, its links and the curated statements
    about the linked entities, in two steps: `prepare` reads the shapes and builds the
    dataset's own graph (most of the data) before the links exist; `finish` adds the
    links and the linked statements and validates.

    A conforming result is remembered by the hash of exactly what was validated (data,
    shapes, pyshacl version), so unchanged external data is not re-validated on every
    build. A failure is never cached.
    """

    def __init__(self, shapes: Path, quads: list[ox.Quad], where: str) -> None:
        self.shapes, self.quads, self.where = shapes, quads, where
        try:
            self.shapes_bytes = shapes.read_bytes()
        except OSError as exc:
            raise ExternalError(f"{where}: cannot read shapes {shapes}: {exc}") from None
        self._term = functools.lru_cache(maxsize=None)(to_rdflib)  # terms recur on every line
        self._graph: Graph | None = None
        self._shapes_graph: Graph | None = None

    def _triples(self, quads: list[ox.Quad]):
        term = self._term
        return ((term(q.subject), term(q.predicate), term(q.object)) for q in quads)

    def prepare(self) -> None:
        from bjkg.graph.validate import data_graph

        self._shapes_graph = Graph()
        try:
            self._shapes_graph.parse(data=self.shapes_bytes, format="turtle")
        except Exception as exc:  # rdflib raises several parser exception types
            raise ExternalError(f"{self.where}: cannot parse shapes {self.shapes}: {exc}") from None
        self._graph = data_graph(self._triples(self.quads))

    def finish(self, links: list[ox.Quad], curated: list[ox.Quad]) -> None:
        """Validate; ExternalError with pyshacl's report if the data does not conform."""
        linked = {q.subject for q in links}
        added = links + [q for q in curated if q.subject in linked]
        data = self.quads + added
        cache = _cache_dir()
        marker = cache / "shacl" / _validation_key(data, self.shapes_bytes) if cache else None
        if marker is not None and marker.is_file():
            return
        from bjkg.graph.validate import validate

        if self._graph is None:
            self.prepare()
        graph = self._graph
        graph.addN((s, p, o, graph) for s, p, o in self._triples(added))
        graph.store.use_copy(data)
        conforms, _report, text = validate(graph, self._shapes_graph)
        self._graph = None  # pyshacl may have worked on it in place
        if not conforms:
            text = text if len(text) < 8000 else text[:8000] + "\n… (report truncated)"
            raise ExternalError(f"{self.where}: SHACL validation against {self.shapes} failed:\n{text}")
        if marker is not None:
            try:
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.write_text("conforms\n", encoding="utf-8")
            except OSError:
                pass  # a read-only cache only costs time


def _validation_key(data: list[ox.Quad], shapes: bytes) -> str:
    import pyshacl

    digest = hashlib.sha256()
    for part in (SHACL_CACHE_VERSION, pyshacl.__version__):
        digest.update(part.encode() + b"\0")
    digest.update(hashlib.sha256(shapes).digest())
    for line in sorted(str(q) for q in data):
        digest.update(line.encode("utf-8") + b"\n")
    return digest.hexdigest()


def _cache_dir() -> Path | None:
    """$BJKG_CACHE_DIR, else $XDG_CACHE_HOME/bjkg or ~/.cache/bjkg; BJKG_CACHE_DIR='' disables."""
    if "BJKG_CACHE_DIR" in os.environ:
        value = os.environ["BJKG_CACHE_DIR"]
        return Path(value) if value else None
    home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(home) / "bjkg"


# --------------------------------------------------------------------------- description

def describe(dataset: ExternalDataset, base: str, inputs: list[_Loaded], triples: int,
              links: int) -> dict:
    """The dataset's entry in build.json (and so in the server's VoID/DCAT description)."""
    entry = {
        "name": dataset.name, "title": dataset.title, "title_zh": dataset.title_zh,
        "description": dataset.description,
        "graph": dataset.graph_iri(base), "triples": triples,
        "links_graph": dataset.links_graph_iri(base) if dataset.links else None,
        "links": links if dataset.links else None,
        "format": dataset.format, "mapping": dataset.mapping,
        "derive": list(dataset.derive) or None, "links_rule": dataset.links,
        "shapes": dataset.shapes,
        "inputs": [{k: v for k, v in (("file", x.item.file), ("resource", x.item.resource),
                                      ("format", x.item.format), ("sha256", x.item.sha256),
                                      ("bytes", x.size)) if v is not None} for x in inputs],
        "licence": dataset.licence, "publisher": dataset.publisher,
        "retrieved": dataset.retrieved, "source": dataset.source,
        "landing_page": dataset.landing_page,
    }
    return {k: v for k, v in entry.items() if v is not None}
