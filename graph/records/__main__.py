"""``python -m bjkg.graph.records check``: read every record and check every quote (fast)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from bjkg.graph.records.catalog import RecordsInvalid, read_catalog, warn_duplicate_labels
from bjkg.graph.records.quotes import QuoteError, check_quotes, unverified_warning


def main(argv: list[str]) -> int:
    """`python -m bjkg.graph.records check`: read all records (and quotes, if the corpus is there)."""
    root = Path(__file__).resolve().parents[2]  # the checkout: graph/records/__main__.py
    try:
        catalog = read_catalog(root)
        sources = Path(os.environ.get("BJKG_SOURCES") or root.parent / "shared" / "sources")
        status = check_quotes(catalog, sources)
    except (RecordsInvalid, QuoteError) as exc:
        print(exc, file=sys.stderr)
        return 1
    if not status.verified:
        print(unverified_warning(catalog, sources), file=sys.stderr)
    warn_duplicate_labels(catalog)
    print(f"ok: {len(catalog.entities)} entities, {len(catalog.documents)} documents, "
          f"{len(catalog.relations)} relations, {len(catalog.observations)} observations; "
          f"quotes: {status.summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
