"""`graph/external.toml`: the external datasets a build loads, one `[[dataset]]` table each.

The manifest is what makes a build with external data reproducible: it names each input
(a file in the checkout, or a file inside an installed package), pins its SHA-256, says
how to turn it into RDF (an RDF format, or a CSVW mapping) and into which named graph, and
carries the licence, publisher and retrieval date that the build's VoID/DCAT description
repeats. Errors name the manifest's line. `bjkg load` appends entries with `append_entry`,
which writes TOML text (Python reads TOML but has no writer), so comments survive.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

MANIFEST = Path("graph") / "external.toml"
NAME_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
GRAPH_PREFIX = "graph/external/"
LINKS_PREFIX = "graph/links/"
RDF_FORMATS = ("turtle", "ntriples", "nquads", "trig", "rdfxml", "jsonld")
FORMATS = RDF_FORMATS + ("csvw",)

# field → (kind, help); the one table of what an entry may hold.
FIELDS: dict[str, tuple[str, str]] = {
    "name": ("str", "slug naming the dataset (a-z, 0-9, '-')"),
    "title": ("str", "title in English"),
    "title_zh": ("str", "title in Simplified Chinese (optional)"),
    "description": ("str", "one paragraph in English (optional)"),
    "graph": ("str", "named graph, relative to the base IRI: graph/external/<name> (the default)"),
    "file": ("str", "input file, relative to the checkout (or absolute)"),
    "resource": ("str", "input inside an installed package: 'package:path/in/package'"),
    "inputs": ("list", "several inputs: [{file = …, sha256 = …, format = …}, …]"),
    "sha256": ("str", "SHA-256 of the input's bytes (hex)"),
    "format": ("str", "one of " + ", ".join(FORMATS)),
    "mapping": ("str", "CSVW metadata file (format = 'csvw')"),
    "derive": ("list", "SPARQL CONSTRUCT files whose results are added to the dataset's graph"),
    "links": ("str", "SPARQL CONSTRUCT file linking bjkg's entities to the dataset (own graph)"),
    "shapes": ("str", "SHACL shapes (Turtle) the dataset and its links must conform to"),
    "licence": ("str", "licence IRI (e.g. https://spdx.org/licenses/MIT)"),
    "publisher": ("str", "who publishes the data"),
    "retrieved": ("date", "the date the input was obtained (YYYY-MM-DD)"),
    "source": ("str", "where the input was obtained (URL)"),
    "landing_page": ("str", "the dataset's home page (URL)"),
}
_INPUT_FIELDS = {"file", "resource", "sha256", "format"}


class ManifestError(Exception):
    """The manifest is malformed; the message names its file and line."""


@dataclass(frozen=True)
class Input:
    """One input file of a dataset: a path in the checkout or a package resource."""
    file: str | None
    resource: str | None
    sha256: str
    format: str

    @property
    def label(self) -> str:
        return self.file or f"{self.resource} (package resource)"


@dataclass(frozen=True)
class ExternalDataset:
    name: str
    title: str
    graph: str                       # relative to the base IRI
    inputs: tuple[Input, ...]
    format: str
    line: int                        # of its [[dataset]] header in the manifest
    title_zh: str | None = None
    description: str | None = None
    mapping: str | None = None
    derive: tuple[str, ...] = ()
    links: str | None = None
    shapes: str | None = None
    licence: str | None = None
    publisher: str | None = None
    retrieved: str | None = None
    source: str | None = None
    landing_page: str | None = None

    def graph_iri(self, base: str) -> str:
        return base + self.graph

    def links_graph_iri(self, base: str) -> str:
        return f"{base}{LINKS_PREFIX}{self.name}"


def read_manifest(path: Path) -> list[ExternalDataset]:
    """Every dataset of the manifest, checked; [] when there is no manifest."""
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise ManifestError(f"{path}{':' + line.group(1) if line else ''}: not valid TOML: {exc}") from None
    unknown = set(doc) - {"dataset"}
    if unknown:
        raise ManifestError(f"{path}:{_line(text, sorted(unknown)[0] + ' ')}: unknown top-level key "
                            f"{sorted(unknown)[0]!r}; datasets are [[dataset]] tables")
    entries = doc.get("dataset", [])
    starts = [n for n, line in enumerate(text.splitlines(), start=1)
              if re.match(r"\s*\[\[\s*dataset\s*\]\]", line)]
    datasets, names, graphs = [], {}, {}
    for index, entry in enumerate(entries):
        start = starts[index] if index < len(starts) else 1
        end = starts[index + 1] if index + 1 < len(starts) else None
        dataset = _dataset(path, text, entry, start, end)
        if dataset.name in names:
            raise ManifestError(f"{path}:{start}: dataset name {dataset.name!r} is already used "
                                f"at line {names[dataset.name]}")
        if dataset.graph in graphs:
            raise ManifestError(f"{path}:{start}: graph {dataset.graph!r} is already the graph of "
                                f"the dataset at line {graphs[dataset.graph]}")
        names[dataset.name], graphs[dataset.graph] = start, start
        datasets.append(dataset)
    return datasets


def _line(text: str, needle: str, start: int = 1, end: int | None = None) -> int:
    """The line of the first `needle` (a key) between lines start and end, else start."""
    lines = text.splitlines()
    for number in range(start, (end or len(lines) + 1)):
        if number - 1 < len(lines) and lines[number - 1].lstrip().startswith(needle):
            return number
    return start


def _dataset(path: Path, text: str, entry: dict, start: int, end: int | None) -> ExternalDataset:
    def fail(message: str, key: str | None = None) -> ManifestError:
        line = _line(text, key, start, end) if key else start
        return ManifestError(f"{path}:{line}: {message}")

    for key in entry:
        if key not in FIELDS:
            raise fail(f"unknown field {key!r}; fields are: {', '.join(FIELDS)}", key)
    for key, value in entry.items():
        kind = FIELDS[key][0]
        ok = (isinstance(value, str) if kind == "str" else isinstance(value, list) if kind == "list"
              else isinstance(value, (dt.date, str)))
        if not ok:
            raise fail(f"{key} must be a {kind}: {FIELDS[key][1]}", key)
    for key in ("name", "title", "format"):
        if key not in entry:
            raise fail(f"dataset needs {key!r} ({FIELDS[key][1]})")
    name = entry["name"]
    if not NAME_RE.match(name):
        raise fail(f"name {name!r} is not a slug (a-z, 0-9, '-')", "name")
    fmt = entry["format"]
    if fmt not in FORMATS:
        raise fail(f"format {fmt!r} is not one of {', '.join(FORMATS)}", "format")
    graph = entry.get("graph", GRAPH_PREFIX + name)
    if not graph.startswith(GRAPH_PREFIX) or not NAME_RE.match(graph[len(GRAPH_PREFIX):]):
        raise fail(f"graph {graph!r} must be {GRAPH_PREFIX}<slug> (relative to the base IRI)", "graph")
    sources = [k for k in ("file", "resource", "inputs") if k in entry]
    if len(sources) != 1:
        raise fail("give exactly one of file, resource or inputs")
    if "inputs" in entry:
        if "sha256" in entry:
            raise fail("with inputs, give each input its own sha256", "sha256")
        raw_inputs = entry["inputs"]
        if not raw_inputs:
            raise fail("inputs is empty", "inputs")
    else:
        raw_inputs = [{k: entry[k] for k in ("file", "resource", "sha256") if k in entry}]
    inputs = []
    for raw in raw_inputs:
        if not isinstance(raw, dict) or set(raw) - _INPUT_FIELDS:
            raise fail(f"an input is a table of {', '.join(sorted(_INPUT_FIELDS))}", "inputs")
        if ("file" in raw) == ("resource" in raw):
            raise fail("an input has either file or resource", sources[0])
        digest = raw.get("sha256", "")
        if not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise fail("sha256 must be the 64-digit lower-case hex digest of the input",
                       "sha256" if "inputs" not in entry else "inputs")
        if "resource" in raw and ":" not in raw["resource"]:
            raise fail("resource must be 'package:path/in/package'", "resource")
        input_format = raw.get("format", fmt)
        if input_format not in FORMATS or (input_format == "csvw") != (fmt == "csvw"):
            raise fail(f"input format {input_format!r} does not fit the dataset's format {fmt!r}",
                       "inputs")
        inputs.append(Input(raw.get("file"), raw.get("resource"), digest, input_format))
    if fmt == "csvw":
        if "mapping" not in entry:
            raise fail("format 'csvw' needs a mapping (the CSVW metadata file)", "format")
        if len(inputs) != 1:
            raise fail("a CSVW dataset has one input table", "inputs")
    elif "mapping" in entry:
        raise fail(f"mapping applies to format 'csvw' only, not {fmt!r}", "mapping")
    retrieved = entry.get("retrieved")
    if isinstance(retrieved, dt.datetime):
        retrieved = retrieved.date()
    if isinstance(retrieved, str):
        try:
            retrieved = dt.date.fromisoformat(retrieved)
        except ValueError:
            raise fail(f"retrieved {retrieved!r} is not a date (YYYY-MM-DD)", "retrieved") from None
    for key in ("derive",):
        if not all(isinstance(x, str) for x in entry.get(key, [])):
            raise fail(f"{key} is a list of file names", key)
    return ExternalDataset(
        name=name, title=entry["title"], graph=graph, inputs=tuple(inputs), format=fmt,
        line=start, title_zh=entry.get("title_zh"), description=entry.get("description"),
        mapping=entry.get("mapping"), derive=tuple(entry.get("derive", ())),
        links=entry.get("links"), shapes=entry.get("shapes"), licence=entry.get("licence"),
        publisher=entry.get("publisher"),
        retrieved=retrieved.isoformat() if retrieved else None, source=entry.get("source"),
        landing_page=entry.get("landing_page"))


# --------------------------------------------------------------------------- writing

_CONTROL = re.compile(r"[\x7f-\x9f]")


def _toml_value(value) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        if value and isinstance(value[0], dict):
            return "[\n" + "".join(f"  {_toml_value(v)},\n" for v in value) + "]"
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def _toml_string(text: str) -> str:
    """A TOML basic string holding exactly `text`. JSON's escapes are TOML's, but JSON leaves
    DEL raw, which TOML refuses (a file name holding one made the manifest unreadable), so
    it is escaped too, with the C1 controls that follow it (allowed, but invisible)."""
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(text, ensure_ascii=False))


def render_entry(fields: dict, comment: str | None = None) -> str:
    """A `[[dataset]]` table with the fields in FIELDS order (None values left out)."""
    lines = ["", *(f"# {c}" for c in (comment.splitlines() if comment else ())), "[[dataset]]"]
    for key in FIELDS:
        if fields.get(key) is not None:
            lines.append(f"{key} = {_toml_value(fields[key])}")
    return "\n".join(lines) + "\n"


def append_entry(text: str, fields: dict, comment: str | None = None) -> str:
    """The manifest text with one more dataset at the end."""
    if text and not text.endswith("\n"):
        text += "\n"
    return text + render_entry(fields, comment)
