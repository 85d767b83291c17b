"""Prove that every quote in the records really occurs in its source document.

A quote matches when it occurs in the document after both are folded (Traditional →
Simplified, pinyin glosses dropped, punctuation and white space normalised: see
`textnorm.fold`). Each document's bytes must also match the SHA-256 its record states,
so a quote is checked against exactly the text the graph says it came from.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from bjkg.graph.records.catalog import REFERENCE_DOC, Catalog
from bjkg.graph.records.textnorm import fold


class QuoteError(Exception):
    """Quotes not found in their documents, or documents that differ from their hash."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        shown = "\n  ".join(problems[:200])
        super().__init__(f"{len(problems)} quote problem(s):\n  {shown}")


def check_quotes(catalog: Catalog, sources: Path) -> str:
    """Check all quotes; return a status line, or raise QuoteError naming file and line.

    With no corpus folder, nothing can be proven: say so rather than pass silently.
    """
    if not sources.is_dir():
        return f"skipped: no corpus at {sources}"
    problems: list[str] = []
    folded: dict[str, str] = {}
    for doc in catalog.documents.values():
        path = sources / doc.file
        if not path.is_file():
            problems.append(f"{doc.where}: corpus file {doc.file} not found in {sources}")
            continue
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest != doc.sha256:
            problems.append(f"{doc.where}: {doc.file} has sha256 {digest}, the record says "
                            f"{doc.sha256}")
            continue
        folded[doc.id] = fold(data.decode("utf-8"))
    checked = 0
    for evidence in catalog.quotes():
        if evidence.doc == REFERENCE_DOC:
            continue
        if evidence.doc not in folded:
            if evidence.doc in catalog.documents:
                continue  # already reported: file missing or hash mismatch
            problems.append(f"{evidence.where}: quote cites {evidence.doc}, which has no "
                            "source record")
            continue
        needle = fold(evidence.quote)
        if not needle or needle not in folded[evidence.doc]:
            problems.append(f"{evidence.where}: quote not found in {evidence.doc}: "
                            f"{evidence.quote!r}")
        checked += 1
    if problems:
        raise QuoteError(problems)
    return f"passed ({checked} quotes in {len(folded)} documents)"
