"""Prove that every quote in the records really occurs in its source document.

A quote matches when it occurs in the document after both are folded (Traditional →
Simplified, pinyin glosses dropped, punctuation and white space normalised: see
`textnorm.fold`). Each document's bytes must also match the SHA-256 its record states,
so a quote is checked against exactly the text the graph says it came from.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from bjkg.graph.records.catalog import REFERENCE_DOC, Catalog
from bjkg.graph.records.textnorm import fold


class QuoteError(Exception):
    """Quotes not found in their documents, or documents that differ from their hash."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        shown = "\n  ".join(problems[:200])
        super().__init__(f"{len(problems)} quote problem(s):\n  {shown}")


@dataclass(frozen=True)
class QuoteCheck:
    """What the quote check proved. `verified` is False only when there was no corpus to
    check against (a corpus that disagrees with the records is a QuoteError instead)."""

    verified: bool
    quotes: int = 0
    documents: int = 0
    reason: str | None = None

    @property
    def summary(self) -> str:
        """One line for logs and the CLI (no paths: it may be shown to anyone)."""
        if self.verified:
            return f"passed ({self.quotes} quotes in {self.documents} documents)"
        return f"NOT verified: {self.reason}"

    def as_manifest(self) -> dict:
        """The `quotes` entry of build.json."""
        if self.verified:
            return {"verified": True, "quotes": self.quotes, "documents": self.documents}
        return {"verified": False, "reason": self.reason}


NO_CORPUS_REASON = "no corpus: the source texts were not available to the build"


def unverified_warning(catalog: Catalog, sources: Path) -> str:
    """The build's warning when there is no corpus: what was not done, and how to do it.

    Printed on stderr by `bjkg build`, `load` and `validate`; meant to be read by someone who
    has just cloned the repository without the texts beside it."""
    docs = sorted(catalog.documents.values(), key=lambda d: d.file)
    rows = "\n".join(f"    {d.file}  sha256 {d.sha256}  ({d.where})" for d in docs)
    return (
        "WARNING: quotes NOT verified in this build: no corpus at "
        f"{sources}\n"
        "  Every fact in the graph cites a verbatim quote from a source text; without the texts\n"
        "  the build cannot prove one of them. It still builds, records\n"
        '  "quotes": {"verified": false} in build.json (the build hash differs from a verified\n'
        "  build's), and the site says \"quotes not verified in this build\".\n"
        f"  To verify, put the {len(docs)} source texts named in the records' `document:` blocks\n"
        "  (UTF-8, as received; each must match its SHA-256) in that folder, or pass\n"
        "  --sources DIR or set BJKG_SOURCES=DIR:\n"
        f"{rows}")


def check_quotes(catalog: Catalog, sources: Path) -> QuoteCheck:
    """Check all quotes; return what was proven, or raise QuoteError naming file and line.

    With no corpus folder, nothing can be proven: say so (`verified` False) rather than
    pass silently.
    """
    if not sources.is_dir():
        return QuoteCheck(verified=False, reason=NO_CORPUS_REASON)
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
        position = folded[evidence.doc].find(needle) if needle else -1
        if position < 0:
            problems.append(f"{evidence.where}: quote not found in {evidence.doc}: "
                            f"{evidence.quote!r}")
        else:
            evidence.offset = position  # reading order, written as bjkg:quoteOffset
        checked += 1
    if problems:
        # one quote backs several facts (a record's labels, year, links): said once
        raise QuoteError(list(dict.fromkeys(problems)))
    return QuoteCheck(verified=True, quotes=checked, documents=len(folded))
