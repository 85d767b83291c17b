"""``python -m bjkg.graph.records check``: read every record and check every quote (fast)."""
from __future__ import annotations

import sys
from pathlib import Path

from bjkg.graph.records.catalog import RecordsInvalid, read_catalog
from bjkg.graph.records.quotes import QuoteError, check_quotes


def main(argv: list[str]) -> int:
    """`python -m bjkg.graph.records check`: read all records (and quotes, if the corpus is there)."""
    root = Path(__file__).resolve().parents[2]  # the checkout: graph/records/__main__.py
    try:
        catalog = read_catalog(root)
        sources = root.parent / "shared" / "sources"
        status = check_quotes(catalog, sources)
    except (RecordsInvalid, QuoteError) as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"ok: {len(catalog.entities)} entities, {len(catalog.documents)} documents, "
          f"{len(catalog.relations)} relations, {len(catalog.observations)} observations; "
          f"quotes: {status}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
