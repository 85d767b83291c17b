"""Memory a serving process gives back (bjkg.server.core.memory)."""
from __future__ import annotations

import json
import subprocess
import sys
import threading

from tests.server.conftest import ROOT

# A heap with free pages between live blocks: glibc keeps them (only the top of the heap is
# given back by itself), so they count in the resident memory until the heap is trimmed.
_FRAGMENTED = """
import json, time
from bjkg.server.core.memory import keep_trimming

def rss():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmRSS"))

blocks = [bytearray(64 * 1024) for _ in range(2000)]  # 125 MB below the mmap threshold
kept = blocks[::16] + [blocks[-1]]  # every 16th, and the top one: the heap cannot shrink
del blocks
before = rss()
time.sleep(0.5)
untrimmed = rss()
trimmer = keep_trimming(0.1)
time.sleep(0.5)
print(json.dumps({"before": before, "untrimmed": untrimmed, "trimmed": rss(),
                  "alive": trimmer.is_alive(), "kept": len(kept)}))
"""


def test_keep_trimming_gives_back_the_free_pages_between_live_blocks():
    run = subprocess.run([sys.executable, "-c", _FRAGMENTED], cwd=ROOT, capture_output=True, text=True,
                         timeout=60, check=True)
    seen = json.loads(run.stdout)
    assert seen["alive"]
    assert seen["untrimmed"] > seen["before"] - 10, seen  # left alone, the free pages stay resident
    assert seen["trimmed"] < seen["untrimmed"] - 60, seen  # ≈ 117 of the 125 MB are free


def test_every_http_worker_trims_its_heap(tiny_build, monkeypatch):
    from bjkg.server.runtime import front
    from bjkg.server.runtime.serve import SETTINGS_ENV

    monkeypatch.setenv(SETTINGS_ENV, json.dumps({"BUILD_DIR": str(tiny_build)}))
    before = {t.ident for t in threading.enumerate()}
    worker = front.application()
    started = [t for t in threading.enumerate() if t.ident not in before and t.name == "bjkg-trim-heap"]
    try:
        assert len(started) == 1 and started[0].is_alive()
    finally:
        for thread in started:
            thread.stop()
        worker.on_shutdown()  # the store and its query pool
