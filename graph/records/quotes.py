"""Prove that every quote in the records really occurs in its source document.

A quote is verbatim (docs/records.md: same script, same punctuation, pinyin glosses left
in): it must occur, character for character, in the document's text as received. Each
document's bytes must also match the SHA-256 its record states, so a quote is checked
against exactly the text the graph says it came from. A quote that is found only after
folding (`textnorm.fold`: Traditional → Simplified, glosses dropped, punctuation and white
space normalised) is an error too, but its message shows the document's own text to copy.
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
    texts: dict[str, tuple[str, str]] = {}  # document id → (file name, text as received)
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
        texts[doc.id] = (doc.file, data.decode("utf-8"))
    checked = 0
    for evidence in catalog.quotes():
        if evidence.doc == REFERENCE_DOC:
            continue
        if evidence.doc not in texts:
            if evidence.doc in catalog.documents:
                continue  # already reported: file missing or hash mismatch
            problems.append(f"{evidence.where}: quote cites {evidence.doc}, which has no "
                            "source record")
            continue
        file, text = texts[evidence.doc]
        position = text.find(evidence.quote) if evidence.quote.strip() else -1
        if position >= 0:
            evidence.offset = position  # written as bjkg:quoteOffset: text[offset:] starts with it
        else:
            problems.append(_not_found(evidence.where, evidence.doc, evidence.quote, file, text))
        checked += 1
    if problems:
        # one quote backs several facts (a record's labels, year, links): said once
        raise QuoteError(list(dict.fromkeys(problems)))
    return QuoteCheck(verified=True, quotes=checked, documents=len(texts))


def _not_found(where: str, doc: str, quote: str, file: str, text: str) -> str:
    """The problem line for a quote that is not in its document verbatim: where the
    document has it after folding, if it does (with its own words, to copy), else plain
    "not found"."""
    needle = fold(quote)
    if not needle or needle not in fold(text):
        return f"{where}: quote not found in {doc}: {quote!r}"
    found = _verbatim(text, needle, len(quote))
    if found is None:
        place = ""
    else:
        line, words = found
        place = f"; {file} line {line} has it as {words!r}"
    return (f"{where}: quote is not verbatim (it matches {doc} only with script, punctuation, "
            f"spacing or pinyin glosses folded){place}: copy the document's text exactly")


def _verbatim(text: str, needle: str, length: int) -> tuple[int, str] | None:
    """(line number, exact words) of the first line of `text` whose folded form holds
    `needle`, the folded quote; None if it spans lines or cannot be pinned down. Only
    for error messages: a window of the quote's length, glosses allowed for, is folded at
    each start of that line."""
    window = 12 * length + 16  # a gloss such as `(zhuàng)` adds ≤ 10 characters to one
    for number, line in enumerate(text.splitlines(), start=1):
        if needle not in fold(line):
            continue
        starts = [s for s in range(len(line)) if fold(line[s:s + window]).startswith(needle)]
        if not starts:
            return None
        start = starts[-1]  # the latest start that still holds it: no folded-away prefix
        limit = min(len(line), start + window)
        for end in range(start + 1, limit + 1):
            if fold(line[start:end]).startswith(needle):
                # a gloss after the last character belongs to it: the longest end that folds the same
                same = [e for e in range(end, min(limit, end + 12) + 1)
                        if fold(line[start:e]) == fold(line[start:end])]
                return number, line[start:same[-1]].rstrip()
        return None
    return None
