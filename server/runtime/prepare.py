"""What `bjkg serve` prepares once per build, before its HTTP workers start.

Run as ``python -m server.prepare SETTINGS-JSON`` (a separate process, so the memory the
preparation takes is returned when it ends): the search index (`server.views.search`), the
facet counts (`server.facets`), the string literals (`server.literal_index`) and the labels
(`server.label_table`), written into CACHE_DIR under the build hash. Every HTTP worker loads
them; if they cannot be written, each worker builds the search index itself, facet queries
and string filters are evaluated by the engine as written, and pages read labels from the
store.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def prepare(settings: dict) -> list[str]:
    from server import facets, label_table, literal_index
    from server.settings import load_settings
    from server.store import load_manifest
    from server.views import search

    done = [str(search.prepare(settings) or "")]
    config = load_settings(settings)
    build_dir = Path(config["BUILD_DIR"]).resolve()
    build_hash = load_manifest(build_dir).get("hash")
    if build_hash:
        store, cache = str(build_dir / "store"), search.cache_dir(config)
        done.append(str(facets.prepare(store, cache, build_hash) or ""))
        done.append(str(literal_index.prepare(store, cache, build_hash) or ""))
        done.append(str(label_table.prepare(store, cache, build_hash) or ""))
    return done


if __name__ == "__main__":
    print("\n".join(prepare(json.loads(sys.argv[1]))))
