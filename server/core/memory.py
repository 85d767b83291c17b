"""Handing freed memory back to the system.

glibc keeps the arenas a burst of allocations used (a store's quads read once, rows of a
large query) after they are freed, so a long-lived process that did one big job once goes
on counting it in its resident memory. `release_memory` collects garbage and trims them;
`keep_trimming` trims a serving process's heap once a second.
"""
from __future__ import annotations

import ctypes
import gc
import threading

TRIM_INTERVAL = 1.0  # seconds between two trims of a serving HTTP worker's heap (`keep_trimming`)


def _malloc_trim():
    """glibc's malloc_trim, or None (another C library: nothing to call)."""
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def trim_heap() -> bool:
    """Return the free pages of the heap to the system, wherever they lie in it; False
    where there is no malloc_trim."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


def release_memory() -> None:
    """Collect garbage, then return the free heap to the system (glibc only; a no-op elsewhere)."""
    gc.collect()
    trim_heap()


class HeapTrimmer(threading.Thread):
    """The daemon thread of `keep_trimming`; `stop` ends it."""

    def __init__(self, trim, interval: float) -> None:
        super().__init__(name="bjkg-trim-heap", daemon=True)
        self._trim, self._interval, self._stop = trim, interval, threading.Event()

    def run(self) -> None:
        while not self._stop.wait(self._interval):
            self._trim(0)

    def stop(self) -> None:
        self._stop.set()


def keep_trimming(interval: float = TRIM_INTERVAL) -> HeapTrimmer | None:
    """Trim this process's heap every `interval` seconds from a daemon thread, for as long
    as the process lives; None where there is no malloc_trim.

    Why: an HTTP worker's requests allocate and free buffers of every size (query texts,
    answers, rows, pages), and glibc only gives back free memory at the top of its heap, so
    the free pages between live blocks go on counting in the worker's resident memory:
    ≈ 10 MB more per worker after the benchmark's families at 1M triples (bench/README). A
    trim takes well under a millisecond; an A/B in turns measured no change in throughput.
    (An evaluator's memory is mostly RocksDB's caches, which trimming does not touch.)"""
    trim = _malloc_trim()
    if trim is None:
        return None
    trimmer = HeapTrimmer(trim, interval)
    trimmer.start()
    return trimmer
