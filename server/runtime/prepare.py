"""What `bjkg serve` prepares once per build, beside its HTTP workers, which answer meanwhile.

Run as ``python -m bjkg.server.runtime.prepare SETTINGS-JSON`` (a separate process, so the memory the
preparation takes is returned when it ends): the search index (`bjkg.server.web.search`), the
star aggregates (`bjkg.server.sparql.aggregates`), the string literals (`bjkg.server.sparql.literal_index`) and the labels
(`bjkg.server.stores.label_table`), the counts the catalogue publishes
(`bjkg.server.views.catalog`) and the home page's rows (`bjkg.server.views.meta`), written into CACHE_DIR under the build hash. Every HTTP worker loads
each as its file appears (`bjkg.server.runtime.serve._warm`); if they cannot be written, each worker builds the search index itself, aggregates
and string filters are evaluated by the engine as written, and pages read labels from the
store.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def prepare(settings: dict) -> list[str]:
    from bjkg.server.core.prepared import cache_dir
    from bjkg.server.core.settings import load_settings
    from bjkg.server.sparql import aggregates, literal_index
    from bjkg.server.stores import label_table
    from bjkg.server.stores.embedded import load_manifest

    done = [str(_prepare_search_index(settings) or "")]
    config = load_settings(settings)
    build_dir = Path(config["BUILD_DIR"]).resolve()
    manifest = load_manifest(build_dir)
    build_hash = manifest.get("hash")
    if build_hash:
        store, cache = str(build_dir / "store"), cache_dir(config)
        # the cheapest first: each is used by the HTTP workers as soon as its file appears
        titles = [entry["title_zh"] for entry in manifest.get("external", []) if entry.get("title_zh")]
        done.append(str(label_table.prepare(store, cache, build_hash, titles) or ""))
        done.append(str(aggregates.prepare(store, cache, build_hash) or ""))
        done.append(str(literal_index.prepare(store, cache, build_hash) or ""))
    return done


def _prepare_search_index(settings: dict) -> Path | None:
    """The label search index, built through the app (as a worker would) and written once."""
    from bjkg.server.app import create_app
    from bjkg.server.web.search import prepare_index

    app = create_app({**settings, "QUERY_MODE": "inline"})
    try:
        from bjkg.server.views.catalog import published_counts
        from bjkg.server.views.meta import build_overview_rows

        with app.app_context():
            published_counts()  # the catalogue's counts, into CACHE_DIR (bjkg.server.views.catalog)
            build_overview_rows()  # the home page's rows, likewise (bjkg.server.views.meta)
        return prepare_index(app)
    finally:
        app.extensions["bjkg"].store.close()


if __name__ == "__main__":
    print("\n".join(prepare(json.loads(sys.argv[1]))))
