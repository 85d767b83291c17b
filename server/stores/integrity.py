"""Is this build whole? Checked before `bjkg serve` starts, and again before a file is served.

A build folder can be damaged after it was built: a copy cut short, a disk that filled up, a
file edited by hand. Serving it anyway would answer with partial or wrong data, and dumps
whose ``Digest`` header claims a checksum they do not have. So:

* `verify_build` (``bjkg serve``, before any worker starts): build.json is complete and valid
  (`load_manifest`, which every reader of a build uses), the store opens and holds the number of quads build.json
  states, and every dump build.json lists is there, with its size and SHA-256. Any failure
  is a `BuildDamaged` naming the file and saying to rebuild; the command prints it on one
  line and exits 1.
* `file_matches` (each worker, before a dump is sent or read into memory): the file still
  has the SHA-256 build.json gives it. The answer is kept per process for the file's size,
  modification time and inode, so each dump is hashed once, not once per download.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

import pyoxigraph

from bjkg.server.core.memory import release_memory

log = logging.getLogger("bjkg.store")

_CHUNK = 1 << 20
_verified: dict[tuple[str, str], tuple[int, int, int, bool]] = {}
_lock = threading.Lock()


class BuildNotFound(Exception):
    """The folder is not a build (no build.json or no store/)."""


class BuildDamaged(BuildNotFound):
    """The folder is a build, but a file of it cannot be used as it is (truncated or invalid
    build.json, a store that does not open or holds other data, a dump that does not match
    its checksum); the message names the file and says to rebuild."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}. The build is damaged: rebuild it with "
                         f"`bjkg build --out {path.parent}`.")
        self.path = path


def load_manifest(build_dir: Path) -> dict[str, Any]:
    """Read ``build.json``; BuildNotFound with a helpful message if this is not a build,
    BuildDamaged if build.json cannot be read or lacks what the server relies on."""
    manifest_path = build_dir / "build.json"
    if not manifest_path.is_file() or not (build_dir / "store").is_dir():
        raise BuildNotFound(f"{build_dir} is not a built graph (expected build.json and store/); "
                            f"run `bjkg build --out {build_dir}` first, or serve --empty.")
    return read_manifest(manifest_path)


def read_manifest(manifest_path: Path) -> dict[str, Any]:
    """A build.json, checked for what the server relies on; BuildDamaged otherwise."""
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BuildDamaged(manifest_path, f"cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise BuildDamaged(manifest_path, f"is not UTF-8 (byte {exc.start})") from None
    except ValueError as exc:  # json.JSONDecodeError: truncated or not JSON
        raise BuildDamaged(manifest_path, f"is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict):
        raise BuildDamaged(manifest_path, "is not a JSON object")
    for key, kind in (("hash", str), ("triples", int), ("graphs", dict)):
        if not isinstance(manifest.get(key), kind) or isinstance(manifest.get(key), bool):
            raise BuildDamaged(manifest_path, f"has no valid {key!r} ({kind.__name__})")
    dumps = manifest.get("dumps", {})
    if not isinstance(dumps, dict) or not all(isinstance(v, dict) for v in dumps.values()):
        raise BuildDamaged(manifest_path, "has no valid 'dumps' (an object of objects)")
    return manifest


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, read in 1 MB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_matches(path: Path, sha256: str) -> bool:
    """Whether `path` has the SHA-256 `sha256` now (cached for an unchanged file)."""
    try:
        stat = os.stat(path)
    except OSError:
        return False
    key = (str(path), sha256)
    seen = _verified.get(key)
    if seen is not None and seen[:3] == (stat.st_size, stat.st_mtime_ns, stat.st_ino):
        return seen[3]
    try:
        matches = sha256_of(path) == sha256.lower()
    except OSError:
        return False
    with _lock:
        _verified[key] = (stat.st_size, stat.st_mtime_ns, stat.st_ino, matches)
    if not matches:
        log.error("%s does not match its SHA-256 in build.json (%s…): not served", path, sha256[:12])
    return matches


def verify_build(build_dir: Path) -> dict[str, Any]:
    """build.json, the store and the dumps of `build_dir`, all checked; the manifest, or
    `BuildDamaged` (`BuildNotFound` when the folder is no build at all)."""
    build_dir = Path(build_dir)
    manifest = load_manifest(build_dir)
    _verify_store(build_dir / "store", manifest)
    for name, info in manifest.get("dumps", {}).items():
        _verify_dump(build_dir, name, info)
    return manifest


def _verify_store(path: Path, manifest: dict[str, Any]) -> None:
    """The store opens read-only, and holds every named graph and as many quads as build.json says."""
    try:
        store = pyoxigraph.Store.read_only(str(path))
    except (OSError, RuntimeError, ValueError) as exc:  # RocksDB reports corruption as RuntimeError
        raise BuildDamaged(path, f"the store cannot be opened ({_one_line(exc)})") from None
    try:
        missing = [g for g in manifest["graphs"] if not store.contains_named_graph(pyoxigraph.NamedNode(g))]
        if missing:
            raise BuildDamaged(path, f"the store lacks {len(missing)} of the graphs build.json lists "
                                     f"(e.g. <{missing[0]}>)")
        count = len(store)
        if count != manifest["triples"]:
            raise BuildDamaged(path, f"the store holds {count} quads, build.json says {manifest['triples']}")
    except (OSError, ValueError, RuntimeError) as exc:
        raise BuildDamaged(path, f"the store cannot be read ({_one_line(exc)})") from None
    finally:
        del store
        # closes RocksDB before the server forks processes that open it again, and gives back
        # what counting every quad took (≈35 MB at 1M triples), which `bjkg serve` would
        # otherwise hold for as long as it runs
        release_memory()


def _verify_dump(build_dir: Path, name: str, info: dict[str, Any]) -> None:
    path = build_dir / name
    if "/" in name or "\\" in name or name.startswith("."):
        raise BuildDamaged(build_dir / "build.json", f"lists a dump with an unsafe name {name!r}")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise BuildDamaged(path, f"this dump cannot be read ({exc.strerror or exc})") from None
    expected = info.get("bytes")
    if isinstance(expected, int) and size != expected:
        raise BuildDamaged(path, f"this dump has {size} bytes, build.json says {expected}")
    sha256 = info.get("sha256")
    if sha256 is not None:
        try:
            actual = sha256_of(path)
        except OSError as exc:
            raise BuildDamaged(path, f"this dump cannot be read ({exc.strerror or exc})") from None
        if actual != str(sha256).lower():
            raise BuildDamaged(path, f"this dump's SHA-256 is {actual[:12]}…, build.json says "
                                     f"{str(sha256)[:12]}…")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] + ("…" if len(text) > 300 else "")
