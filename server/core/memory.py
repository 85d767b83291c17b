"""Handing freed memory back to the system.

glibc keeps the arenas a burst of allocations used (a store's quads read once, rows of a
large query) after they are freed, so a long-lived process that did one big job once goes
on counting it in its resident memory. `release_memory` collects garbage and trims them.
"""
from __future__ import annotations

import ctypes
import gc


def release_memory() -> None:
    """Collect garbage, then return the free heap to the system (glibc only; a no-op elsewhere)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
