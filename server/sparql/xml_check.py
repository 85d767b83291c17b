"""Whether an answer pyoxigraph wrote as XML (SPARQL results XML, RDF/XML) is well-formed.

pyoxigraph's XML writers write what they are given: a literal with U+0001 or U+0000 (which
a query can make: ``BIND("\\u0001" AS ?x)``) goes out raw, though XML 1.0 has no way to
carry it, and a predicate with no XML local name (``<http://e/1>``, ``<http://e/p#>``)
becomes an element named ``prefix:``. Either way a client's XML parser fails on an answer
served as 200. So the server looks at the bytes: a whole answer that is not XML is refused
(406, naming the fault and the formats that can carry it); a streamed one is broken off.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from bjkg.server.sparql.evaluate import QueryFailed

XML_MEDIA_TYPES = frozenset({"application/sparql-results+xml", "application/rdf+xml"})

# UTF-8 bytes of the characters XML 1.0 excludes (Char production): C0 controls but tab,
# LF and CR (a multi-byte sequence never holds a byte below 0x80), and U+FFFE, U+FFFF
_BAD_CHAR = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]|\xef\xbf[\xbe\xbf]")
# an element (start) tag whose name ends with its prefix's colon: an empty local name
_EMPTY_LOCAL_NAME = re.compile(rb"<[A-Za-z_][\w.\-]*:[\s/>]")
_CARRY = 512  # bytes of one chunk looked at again with the next (a fault across the boundary)


def xml_fault(data: bytes) -> str | None:
    """What makes `data` not well-formed XML, of the two faults above, or None."""
    bad = _BAD_CHAR.search(data)
    if bad is not None:
        character = ord(bad.group().decode("utf-8"))
        return (f"it holds U+{character:04X}, a character XML 1.0 cannot carry (in a literal "
                "or an IRI of the answer)")
    if _EMPTY_LOCAL_NAME.search(data):
        return ("a predicate IRI of the answer has no XML local name (it ends with '#', '/' or "
                "a digit), so RDF/XML cannot name it")
    return None


def refusal(media_type: str, fault: str) -> str:
    """The message for an answer that cannot be written in `media_type`."""
    other = "Turtle or N-Triples" if media_type == "application/rdf+xml" else "JSON, CSV or TSV"
    return f"The answer cannot be written as {media_type}: {fault}. Ask for {other} instead."


def xml_checked(chunks: Iterable[bytes], media_type: str) -> Iterator[bytes]:
    """`chunks` passed on while they are well-formed XML; QueryFailed (406) at the first
    fault (the response is then broken off, or answered 406 if none of it was sent yet:
    never a malformed answer taken for a whole one).
    Closing this generator closes `chunks` (the evaluator's stream ends with it)."""
    tail = b""
    try:
        for chunk in chunks:
            fault = xml_fault(tail + chunk)
            if fault is not None:
                raise QueryFailed(406, refusal(media_type, fault))
            tail = chunk[-_CARRY:]
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
