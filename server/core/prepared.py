"""Per-build data that `bjkg serve` computes once and every HTTP worker loads: one pickle
per kind and build hash in CACHE_DIR (facet counts, string literals, labels).

`bjkg serve` computes them in the background while it already serves (one process,
`bjkg.server.runtime.prepare`), and names in STATE_ENV a file that appears when that
process has ended; until then each HTTP worker answers without them (`BuildStore.prepared_pending`).

A build never changes while it is served, so what is computed from it stays true; the file
name carries the build hash and the format version, and it is written to a temporary name
and renamed, so a worker never reads half a file. Each kind is a `Kind`: its name, format
version, class and how to compute it from the build's store.
"""
from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


STATE_ENV = "BJKG_PREPARED_STATE"  # the file `bjkg serve` writes when its preparation has ended


@dataclass(frozen=True)
class Kind:
    """One kind of prepared data: `compute(store)` gives a `cls` from a read-only store."""

    name: str
    version: int
    cls: type
    compute: Callable[[object], object]

    def path(self, cache_dir: str | Path, build_hash: str) -> Path:
        return path_for(cache_dir, self.name, build_hash, self.version)

    def load(self, cache_dir: str | Path, build_hash: str):
        """The prepared object of the build, or None (not prepared, stale or broken)."""
        return load(self.path(cache_dir, build_hash), self.cls)

    def prepare(self, store_path: str, cache_dir: str | Path, build_hash: str) -> Path | None:
        """Compute and write it for a build (once per build hash); None if not writable."""
        import pyoxigraph as ox

        return prepare(self.path(cache_dir, build_hash),
                       lambda: self.compute(ox.Store.read_only(store_path)))


def path_for(cache_dir: str | Path, kind: str, build_hash: str, version: int) -> Path:
    return Path(cache_dir) / f"{kind}-{build_hash[:24]}-v{version}.pickle"


def load(path: Path, cls: type):
    """The object pickled at `path` if it is a `cls`, else None (missing, stale or broken)."""
    try:
        with path.open("rb") as handle:
            value = pickle.load(handle)  # written by `prepare`, for this build hash
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        return None
    return value if isinstance(value, cls) else None


def prepare(path: Path, compute: Callable[[], object]) -> Path | None:
    """Write `compute()` to `path` unless it is there already; None if it cannot be written."""
    if path.is_file():
        return path
    value = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        with tmp.open("wb") as handle:
            pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(path)
    except OSError:
        return None
    return path


def load_or_make(path: Path, cls: type, compute: Callable[[], object]):
    """The `cls` kept at `path`, else `compute()`, written there for the next process."""
    value = load(path, cls)
    if value is None:
        value = compute()
        prepare(path, lambda: value)
    return value


def cache_dir(config) -> Path:
    """CACHE_DIR, else $XDG_CACHE_HOME/bjkg, else ~/.cache/bjkg."""
    if config.get("CACHE_DIR"):
        return Path(config["CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bjkg"
