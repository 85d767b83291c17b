"""`bjkg load FILE… --graph IRI`: add a dataset to the manifest and to the built store.

The new entry is written to a temporary copy of `graph/external.toml`, and the build is
written again from that copy into a sibling folder of the build (the build's own atomic
swap). When the build in place is exactly what `bjkg build` would write from the checkout
(its `build-inputs.json` says so), only the new dataset is read, checked and added to a
checkpoint of the store and to the dumps (`bjkg.graph.append`); otherwise, or with
`rebuild=True`, the whole graph is rebuilt. Only when that passed (parse, SHA-256, mapping,
rules, SHACL, each triple in one graph) does the copy replace the manifest; a file that
fails leaves both the manifest and the served build untouched, and the error names the file
and the line (or byte offset) at fault. Either way the result keeps the dumps, counts and
VoID consistent with the store, and byte-identical with a later `bjkg build` from the same
manifest. Each load holds a lock on its copy while it runs, so the next load can remove the
copies of loads killed outright.
"""
from __future__ import annotations

import datetime as dt
import glob
import json
import os
import re
from pathlib import Path
from typing import Callable

from bjkg.graph.append import append_dataset, why_not_append
from bjkg.graph.build import BuildError, _hold, _locked, _remove_unless_held, build_dataset, resolve_base
from bjkg.graph.datasets.manifest import (FORMATS, GRAPH_PREFIX, MANIFEST, NAME_RE, ManifestError,
                                append_entry, read_manifest)
from bjkg.graph.datasets.rdf_input import guess_format
from bjkg.graph.files import sha256_file as _sha256


def load_files(root: Path, out: Path, sources: Path, files: list[Path], *,
               graph: str | None = None, fmt: str | None = None, name: str | None = None,
               title: str | None = None, licence: str | None = None,
               publisher: str | None = None, mapping: Path | None = None,
               retrieved: dt.date | None = None, source: str | None = None,
               base: str | None = None, log: Callable[[str], None] = lambda m: None,
               progress: bool = False, rebuild: bool = False) -> dict:
    """Append a dataset of `files` to the manifest and add it to `out` (incrementally when
    the build is current, else, or with `rebuild`, by a full rebuild); returns build.json."""
    base = resolve_base(base or _built_base(out))
    manifest = root / MANIFEST
    _refuse_undecodable(files, mapping, graph=graph, name=name, title=title, licence=licence,
                        publisher=publisher, source=source)
    name, graph_rel = _name_and_graph(base, graph, name, files)
    formats = [fmt or guess_format(path) for path in files]
    for path, found in zip(files, formats):
        if found is None:
            raise BuildError(f"{path}: cannot tell the format from the name; give --format "
                             f"({', '.join(FORMATS)})")
        if found not in FORMATS:
            raise BuildError(f"{path}: unknown format {found!r}; use one of {', '.join(FORMATS)}")
    if len(set(formats)) > 1 and "csvw" in formats:
        raise BuildError("a CSVW table is loaded on its own, not with RDF files")
    dataset_format = formats[0]
    if dataset_format == "csvw":
        if len(files) != 1:
            raise BuildError("load one CSV table at a time (each with its CSVW metadata)")
        mapping = mapping or _csvw_metadata(files[0])
    elif mapping is not None:
        raise BuildError("--mapping applies to CSV tables (CSVW metadata) only")
    inputs = [{"file": _relative(root, path), "sha256": _sha256(path),
               **({"format": f} if f != dataset_format else {})}
              for path, f in zip(files, formats)]
    fields = {
        "name": name, "title": title or name, "graph": graph_rel, "format": dataset_format,
        "mapping": _relative(root, mapping) if mapping else None,
        "licence": licence, "publisher": publisher,
        "retrieved": retrieved or dt.date.today(), "source": source,
    }
    if len(inputs) == 1 and "format" not in inputs[0]:
        fields.update(file=inputs[0]["file"], sha256=inputs[0]["sha256"])
    else:
        fields["inputs"] = inputs
    text = manifest.read_text(encoding="utf-8") if manifest.is_file() else ""
    as_manifest = _about_the_manifest(root, manifest, name, new_from=len(text.splitlines()) + 1)
    pending, held = _pending_copy(manifest)
    try:
        pending.write_text(append_entry(text, fields, comment=f"added by bjkg load on "
                                                               f"{dt.date.today().isoformat()}"),
                           encoding="utf-8")
        try:
            read_manifest(pending)
        except ManifestError as exc:
            raise BuildError(as_manifest(str(exc))) from None
        log(f"loading {len(files)} file(s) into {base}{graph_rel}")
        try:
            summary = None
            reason = "asked to rebuild" if rebuild else why_not_append(out, root, sources, base,
                                                                       manifest)
            if reason is None:
                summary = append_dataset(root, out, sources, base, pending, name, log,
                                         progress=progress)
            else:
                log(f"full rebuild: {reason}")
            if summary is None:
                summary = build_dataset(root, out, sources, base, log, external_manifest=pending,
                                        progress=progress)
        except BuildError as exc:
            raise BuildError(as_manifest(str(exc))) from None
        os.replace(pending, manifest)
    finally:
        pending.unlink(missing_ok=True)
        os.close(held)
    return summary


def _pending_copy(manifest: Path) -> tuple[Path, int]:
    """This load's pending copy of the manifest, created empty, and a descriptor holding an
    exclusive flock on it until closed (or until the process ends, however it ends). Copies
    left by loads killed outright (SIGKILL, the OOM killer) are removed first: those whose
    lock can be taken. Both under a lock on the folder, so that no other load's sweep finds
    this copy between its creation and its lock."""
    pending = _pending_path(manifest)
    with _locked(manifest.parent):
        _sweep_pending(manifest)
        held = _hold(pending, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    return pending, held


def _pending_path(manifest: Path) -> Path:
    return manifest.with_name(f".{manifest.name}.pending-{os.getpid()}")


def _sweep_pending(manifest: Path) -> None:
    """Remove the pending copies of the manifest that no running load holds (as
    `bjkg.graph.build._sweep_abandoned` does for staging folders): a killed load's copy
    stayed for good, through later loads and builds."""
    for leftover in manifest.parent.glob(f".{glob.escape(manifest.name)}.pending-*"):
        if leftover.is_file() and not leftover.is_symlink():
            _remove_unless_held(leftover, lambda path: path.unlink(missing_ok=True))


def _about_the_manifest(root: Path, manifest: Path, name: str,
                        new_from: int) -> Callable[[str], str]:
    """A function that rewrites a message about this load's pending copy as one about the
    manifest: a line of an entry it shares with the manifest keeps its number, but the new
    entry (from line `new_from` of the copy) is in no manifest yet, and its line in the copy
    is no line of the manifest (which errors cited), so it is named as the new dataset."""
    pending = _pending_path(manifest)
    spellings = sorted({str(pending), str(pending.relative_to(root)), pending.name},
                       key=len, reverse=True)
    where = re.compile(f"({'|'.join(map(re.escape, spellings))})"
                       r"(?::(\d+))?(: dataset '[^']*')?")

    def rewrite(match: re.Match) -> str:
        path, line, dataset = match.groups()
        if line and int(line) >= new_from:
            return f"new dataset {name!r} (bjkg load)"
        return (path[:-len(pending.name)] + manifest.name + (f":{line}" if line else "")
                + (dataset or ""))

    return lambda message: where.sub(rewrite, message)


def _refuse_undecodable(files: list[Path], mapping: Path | None, **options: str | None) -> None:
    """The manifest is UTF-8 TOML: a file name (or option) that is not valid UTF-8 (its
    bytes kept by Python as lone surrogates) cannot be recorded in it, so it is refused by
    name before anything is written, not met as a UnicodeEncodeError while writing."""
    for path in [*files, *([mapping] if mapping else [])]:
        if not _is_utf8(str(path)):
            raise BuildError(f"{_printable(str(path))}: the file name is not valid UTF-8, so "
                             "the manifest (UTF-8 TOML) cannot record it; rename the file")
    for option, value in options.items():
        if value is not None and not _is_utf8(value):
            raise BuildError(f"--{option} {_printable(value)} is not valid UTF-8, so the "
                             "manifest (UTF-8 TOML) cannot record it")


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(text: str) -> str:
    """`text` with the bytes that were not UTF-8 shown as \\xff escapes."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _built_base(out: Path) -> str | None:
    """The base IRI of the existing build, so a load keeps it."""
    try:
        return json.loads((out / "build.json").read_text(encoding="utf-8")).get("base")
    except (OSError, ValueError):
        return None


def _name_and_graph(base: str, graph: str | None, name: str | None,
                    files: list[Path]) -> tuple[str, str]:
    """(name, graph relative to base): from --graph, else --name, else the first file."""
    if graph:
        rel = graph[len(base):] if graph.startswith(base) else graph
        if not rel.startswith(GRAPH_PREFIX) or not NAME_RE.match(rel[len(GRAPH_PREFIX):]):
            raise BuildError(f"--graph {graph} must be {base}{GRAPH_PREFIX}<name> "
                             "(external data gets a graph of its own under the base IRI)")
        name = name or rel[len(GRAPH_PREFIX):]
        return name, rel
    if not name:
        stem = files[0].name.split(".")[0].lower()
        name = re.sub(r"[^a-z0-9]+", "-", stem).strip("-") or "dataset"
    if not NAME_RE.match(name):
        raise BuildError(f"--name {name!r} is not a slug (a-z, 0-9, '-')")
    return name, GRAPH_PREFIX + name


def _csvw_metadata(table: Path) -> Path:
    """CSVW's default locations: `<table>-metadata.json`, then `csv-metadata.json` beside it."""
    for candidate in (table.with_name(table.name + "-metadata.json"),
                      table.with_name("csv-metadata.json")):
        if candidate.is_file():
            return candidate
    raise BuildError(f"{table}: no CSVW metadata found ({table.name}-metadata.json or "
                     "csv-metadata.json beside it); give --mapping")


def _relative(root: Path, path: Path) -> str:
    """The path as the manifest keeps it: relative to the checkout when inside it. A symlink
    stays itself, not its target (only the folders it is in are resolved): it is what the
    user named, and the errors about the file quote the recorded name (they named a target,
    such as /etc/passwd, the user never gave)."""
    path = path.absolute().parent.resolve() / path.name
    try:
        return path.relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)
