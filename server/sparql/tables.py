"""The string filters' literals looked up in the literal index `bjkg serve` prepares for a
build (`bjkg.server.sparql.literal_index`), where queries are evaluated.

The evaluator process (`PreparedTables`, in `bjkg.server.sparql.workers`), whose lanes
answer every HTTP process's queries, loads the index once for the whole server instead of
each HTTP process holding its own copy (issue #17: at 1M triples ≈ 20 MB per HTTP process
with what rewriting left in its heap); the build store of QUERY_MODE=inline, which
evaluates in its own process, uses `string_filters` itself (`bjkg.server.stores.embedded`).
The facet table (`bjkg.server.sparql.aggregates`) stays in the HTTP processes: answered
there, a star aggregate needs no evaluator at all, and in the evaluator process the
star-aggregate families ran at 0.5–0.65× (one GIL for what two HTTP processes did).
May import: evaluate, and literal_index when an index is loaded.
"""
from __future__ import annotations

import dataclasses
import threading
import time

from bjkg.server.sparql.evaluate import QueryRequest

LOOK_EVERY = 0.25  # seconds between two looks for an index not prepared yet (a stat call)


def string_filters(index, sparql: str) -> str | None:
    """The query with its string filters' literals looked up in `index`; None to run it as written."""
    if index is None or "(" not in sparql:
        return None
    head = sparql[:20000].upper()
    if "CONTAINS" not in head and "STRSTARTS" not in head and "STRENDS" not in head:
        return None
    from bjkg.server.sparql import literal_index

    return literal_index.rewrite(sparql, index)


class PreparedTables:
    """The literal index of one build, in an evaluator process: loaded when its file
    appears in the cache folder (the preparation runs beside the server), looked for at
    most every LOOK_EVERY seconds until it is there. Thread-safe."""

    def __init__(self, prepared: list | tuple | None) -> None:
        self.folder, self.build_hash = prepared if prepared else (None, None)
        self.literals = None
        self._settled = self.folder is None
        self._looked = 0.0
        self._lock = threading.Lock()

    def _look(self) -> None:
        now = time.monotonic()
        if self._settled or now - self._looked < LOOK_EVERY or not self._lock.acquire(blocking=False):
            return
        try:
            self._looked = now
            from bjkg.server.sparql import literal_index

            self.literals = literal_index.load(self.folder, self.build_hash)
            self._settled = self.literals is not None
        finally:
            self._lock.release()

    def rewrite(self, request: QueryRequest) -> QueryRequest | None:
        """The request with its string filters' literals looked up, or None."""
        if request.substitutions:
            return None
        self._look()
        rewritten = string_filters(self.literals, request.sparql)
        return dataclasses.replace(request, sparql=rewritten) if rewritten is not None else None
