"""bjkg's benchmark: bjkg serve against Virtuoso, Oxigraph's server and rdflib-endpoint, same data, same requests.

    python bench/run.py --sizes 10k,100k,1M          # installs missing peers, then runs
    python bench/run.py --sizes 10k --duration 1 --peers bjkg,pyoxigraph --out /tmp/r

First the seed graph, while the machine is quiet: it is built with `bjkg build` (uncached
three times, the median reported; then with a warm build cache) and served for its entity
page and search. Then, for each size: generate the synthetic data (bench/generate.py, fixed seed), load it into a
bjkg artifact (bench/load.py, timed), draw the query families' requests from it
(bench/families.py: 500 per family, parameters from the data, fixed seed), then start each
peer alone on 127.0.0.1 (timed to its first answer) and measure every family with `wrk`
(bench/wrk/request.lua draws one of the family's requests at random for each request):
latency and throughput at concurrency 1 and 8, for a bounded duration each, while sampling
the memory of the peer's processes. The row counts of a fixed sample of each family's
requests are compared across peers. bjkg's entity page and search are measured too, uncached and then with its cache
(HTTP revalidation by build hash: the client sends the ETag and gets 304). pyoxigraph is
measured in this process, as the floor for latency.

Writes ``results.json``, ``results.md`` and ``ratios.png`` into --out (bench/results by
default) and prints, last, one line: the geometric-mean throughput ratios over the families
at c=8 for the largest size run, bjkg's load throughput and the seed entity page's p99 at c=8.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import families, generate, load, peers  # noqa: E402
from bench.families import DESCRIPTIONS, NAMES  # noqa: E402

LUA = ROOT / "bench" / "wrk" / "request.lua"
RESULTS_ACCEPT = "application/sparql-results+json"
SEED_ENTITY = "/id/place/tongzhou"
SEED_SEARCH = "通州"
ALL_PEERS = ("bjkg", "virtuoso", "oxigraph", "rdflib-endpoint", "pyoxigraph")
COMPARED = ("virtuoso", "oxigraph", "rdflib-endpoint")  # the peers bjkg's ratios are against
ROW_SAMPLE = 10  # requests per family whose row counts every peer reports
CACHED_REQUESTS = 20  # requests per family whose ETag is fetched for the cached runs


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- load generator

def wrk(url: str, *, connections: int, duration: float, method: str = "GET", body: bytes | None = None,
        content_type: str | None = None, accept: str = RESULTS_ACCEPT, etag: str | None = None,
        requests: Path | None = None, workdir: Path, seed: int = 1) -> dict:
    """One bounded wrk run against `url` on loopback; its summary (requests/s, percentiles).

    `requests` is a file of requests, one a line (see bench/wrk/request.lua), of which wrk
    draws one at random for every request; otherwise the one request (`body`, `etag`).
    """
    env = dict(os.environ, BENCH_METHOD=method, BENCH_ACCEPT=accept, BENCH_SEED=str(seed))
    if requests is not None:
        env["BENCH_REQUESTS"] = str(requests)
        env["BENCH_CTYPE"] = content_type or "application/x-www-form-urlencoded"
    elif body is not None:
        body_file = workdir / "wrk-body"
        body_file.write_bytes(body)
        env["BENCH_BODY"] = str(body_file)
        env["BENCH_CTYPE"] = content_type or "application/x-www-form-urlencoded"
    if etag:
        env["BENCH_ETAG"] = etag
    seconds = max(1, int(round(duration)))
    args = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "60s", "-s", str(LUA), url]
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=seconds + 120)
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line[len("BENCH_JSON "):])
    raise RuntimeError(f"wrk gave no summary: {done.stdout[-2000:]} {done.stderr[-2000:]}")


def fetch(url: str, *, method: str = "GET", body: bytes | None = None, content_type: str | None = None,
          accept: str = RESULTS_ACCEPT, timeout: float = 600) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers={"Accept": accept})
    if body is not None:
        request.add_header("Content-Type", content_type or "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def fetch_answer(url: str, body: bytes, tries: int = 4) -> tuple[int, dict, bytes]:
    """POST a query as a well-behaved client does: told 429 or 503 with Retry-After (e.g.
    bjkg still cancelling the queries of the connections wrk has just closed, which count
    against this client's share), wait (at most 2 s) and ask again."""
    for attempt in range(tries):
        status, headers, answer = fetch(url, method="POST", body=body)
        retry_after = {k.lower(): v for k, v in headers.items()}.get("retry-after")
        if status not in (429, 503) or retry_after is None or attempt == tries - 1:
            break
        time.sleep(min(2.0, float(retry_after) if retry_after.isdigit() else 1.0))
    return status, headers, answer


def form(query: str) -> bytes:
    return urllib.parse.urlencode({"query": query}).encode("ascii")


# ---------------------------------------------------------------- memory

class MemorySampler:
    """Peak RSS of a process tree, sampled every 0.2 s (per process and in total), and peak
    PSS in total, every 2 s: RSS counts a page shared by several processes (bjkg's forked
    evaluators share their data process's) once in each; PSS divides it among them, so the
    PSS total is the memory the tree really takes."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self.peak_process = 0
        self.peak_total = 0
        self.peak_pss = 0
        self.processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemorySampler:
        if self.pid is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        samples = 0
        while not self._stop.is_set():
            samples += 1
            try:
                procs = [root, *root.children(recursive=True)]
                if samples % 10 == 1:
                    self.peak_pss = max(self.peak_pss, _pss(procs))
                sizes = []
                for proc in procs:
                    try:
                        sizes.append(proc.memory_info().rss)
                    except psutil.Error:
                        pass
                if sizes:
                    self.peak_process = max(self.peak_process, max(sizes))
                    self.peak_total = max(self.peak_total, sum(sizes))
                    self.processes = max(self.processes, len(sizes))
            except psutil.Error:
                return
            self._stop.wait(0.2)

    def result(self) -> dict:
        return {"peak_rss_process_mb": round(self.peak_process / 1e6, 1),
                "peak_rss_total_mb": round(self.peak_total / 1e6, 1),
                "peak_pss_total_mb": round(self.peak_pss / 1e6, 1), "processes": self.processes}


def _pss(procs) -> int:
    """The summed proportional set size of `procs` (0 where the system does not tell it)."""
    import psutil

    total = 0
    for proc in procs:
        try:
            total += getattr(proc.memory_full_info(), "pss", 0)
        except psutil.Error:
            pass
    return total


# ---------------------------------------------------------------- measuring one peer

def rows_of(body: bytes) -> int | None:
    try:
        return len(json.loads(body)["results"]["bindings"])
    except (ValueError, KeyError, TypeError):
        return None


def request_files(requests: dict[str, list[families.Request]], folder: Path) -> dict[str, Path]:
    """Each family's POST bodies, one a line, for wrk's script to draw from."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, family in requests.items():
        path = folder / f"{name}.post"
        path.write_text("".join(r.body() + "\n" for r in family), encoding="ascii")
        out[name] = path
    return out


def measure_sparql(running: peers.Running, requests: dict[str, list[families.Request]], files: dict[str, Path],
                   *, duration: float, workdir: Path, cached: bool = False) -> dict:
    """Every family against one peer: sample rows (a check), c=1 latency/throughput, c=8 throughput/p99.

    Uncached: wrk POSTs a request drawn at random from the family's file for each request.
    Cached: GETs of the first CACHED_REQUESTS requests, each with the ETag it was given.
    """
    out = {}
    for name, family in requests.items():
        rows, statuses = [], []
        for index in families.sample(family, ROW_SAMPLE):
            status, _, answer = fetch_answer(running.sparql, family[index].body().encode("ascii"))
            statuses.append(status)
            rows.append(rows_of(answer) if status == 200 else None)
        entry = {"status": max(statuses, key=lambda s: s != 200), "rows": rows}
        if cached:  # GET with the query in the URL, revalidated by its ETag
            path = urllib.parse.urlsplit(running.sparql).path
            lines = []
            for request in family[:CACHED_REQUESTS]:
                target = path + "?" + request.body()
                _, headers, _ = fetch(running.base + target)
                if headers.get("ETag"):
                    lines.append(target + "\t" + headers["ETag"] + "\n")
            entry["etag"] = bool(lines)
            if not lines:
                out[name] = entry
                continue
            listing = workdir / f"{name}.get"
            listing.write_text("".join(lines), encoding="ascii")
            runs = {c: wrk(running.base + path, connections=c, duration=duration, requests=listing, workdir=workdir)
                    for c in (1, 8)}
        else:
            runs = {c: wrk(running.sparql, connections=c, duration=duration, method="POST", requests=files[name],
                           workdir=workdir) for c in (1, 8)}
        entry.update(_summary(runs))
        out[name] = entry
        log(f"  {running.name}{' (cached)' if cached else ''} {name}: rows {rows[:4]}…, "
            f"c=1 p50 {_fmt(entry['c1']['p50_ms'], 2)} ms, c=8 {entry['c8']['rps']:.0f} req/s")
    return out


def _summary(runs: dict[int, dict]) -> dict:
    return {f"c{c}": {"rps": r["rps"], "ok_rps": (r["requests"] - r["bad_status"]) / r["seconds"] if r["seconds"] else 0.0,
                      "p50_ms": r["p50_ms"] if r["requests"] else None,
                      "p99_ms": r["p99_ms"] if r["requests"] else None, "seconds": r["seconds"],
                      "requests": r["requests"], "errors": r["errors"], "bad_status": r["bad_status"]}
            for c, r in runs.items()}


def measure_pages(running: peers.Running, paths: dict[str, str], *, duration: float, workdir: Path,
                  cached: bool = False) -> dict:
    """bjkg's own HTML pages (entity page, search), uncached or revalidated."""
    out = {}
    for name, path in paths.items():
        url = running.base + path
        status, headers, _ = fetch(url, accept="text/html")
        etag = headers.get("ETag") if cached else None
        if cached and not etag:
            out[name] = {"status": status, "etag": False}
            continue
        runs = {c: wrk(url, connections=c, duration=duration, accept="text/html", etag=etag, workdir=workdir)
                for c in (1, 8)}
        out[name] = {"status": status, **_summary(runs)}
        log(f"  bjkg{' (cached)' if cached else ''} {name} {path}: c=1 p50 {_fmt(out[name]['c1']['p50_ms'], 2)} ms, "
            f"c=8 {out[name]['c8']['rps']:.0f} req/s p99 {_fmt(out[name]['c8']['p99_ms'])} ms")
    return out


def measure_in_process(store_dir: Path, requests: dict[str, list[families.Request]], *, duration: float,
                       seed: int = 1) -> dict:
    """pyoxigraph in this process, answers serialised to JSON: the floor for latency.

    Like wrk, every call draws one of the family's requests at random.
    """
    import random

    import pyoxigraph as ox

    store = ox.Store.read_only(str(store_dir))

    def once(text: str) -> bytes:
        return store.query(text, use_default_graph_as_union=True).serialize(format=ox.QueryResultsFormat.JSON)

    out = {}
    for name, family in requests.items():
        texts = [r.query for r in family]
        rows = [rows_of(once(texts[i])) for i in families.sample(family, ROW_SAMPLE)]
        rng = random.Random(seed)
        latencies = []
        stop = time.perf_counter() + duration
        while time.perf_counter() < stop or len(latencies) < 5:
            text = rng.choice(texts)
            started = time.perf_counter()
            once(text)
            latencies.append((time.perf_counter() - started) * 1000)
        latencies.sort()
        total = sum(latencies) / 1000
        counter = [0]
        lock = threading.Lock()
        end = time.perf_counter() + duration

        def loop(k: int) -> None:
            draw = random.Random(seed * 100 + k)
            while time.perf_counter() < end:
                once(draw.choice(texts))
                with lock:
                    counter[0] += 1

        threads = [threading.Thread(target=loop, args=(k,)) for k in range(8)]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began
        out[name] = {"rows": rows, "c1": {"rps": len(latencies) / total, "p50_ms": _pct(latencies, 50),
                                          "p99_ms": _pct(latencies, 99), "requests": len(latencies)},
                     "c8": {"rps": counter[0] / elapsed, "p50_ms": None, "p99_ms": None,
                            "requests": counter[0]}}
        log(f"  pyoxigraph {name}: rows {rows[:4]}…, c=1 p50 {out[name]['c1']['p50_ms']:.2f} ms")
    del store
    return out


def _pct(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, math.ceil(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


# ---------------------------------------------------------------- one size

def run_size(size: str, *, peer_names: list[str], duration: float, workdir: Path, install: bool,
             seed: int, oxigraph_timeout: float | None = None) -> dict:
    sizedir = workdir / f"size-{size}"
    sizedir.mkdir(parents=True, exist_ok=True)
    nquads = sizedir / f"data-{seed}.nq"
    info = generate.write(size, nquads, seed=seed, ontology=ROOT / "ontology")
    triples = info["quads"]
    log(f"{size}: {triples} triples generated")
    result: dict = {"size": size, "triples": triples, "seed": seed, "peers": {}, "load": {}}

    build_dir = sizedir / "bjkg-build"
    loaded = load.load(nquads, build_dir)
    result["load"]["bjkg"] = {"seconds": loaded["load_seconds"], "triples_per_second": loaded["triples_per_second"]}
    log(f"{size}: bjkg load {loaded['triples_per_second']:,.0f} triples/s")

    import pyoxigraph as ox

    store = ox.Store.read_only(str(build_dir / "store"))
    requests = families.generate(store, seed=seed)
    del store
    files = request_files(requests, sizedir / "requests")
    result["families"] = {name: {"description": DESCRIPTIONS[name], "requests": len(family),
                                 "distinct": len({r.query for r in family}),
                                 "sample_indexes": families.sample(family, ROW_SAMPLE),
                                 "sample": [{"params": family[i].params, "query": family[i].query}
                                            for i in families.sample(family, ROW_SAMPLE)]}
                          for name, family in requests.items()}
    log(f"{size}: " + ", ".join(f"{n} {f['distinct']} distinct" for n, f in result["families"].items()))
    probe = next(iter(requests.values()))[0].body().encode("ascii")  # a real query, not ASK {}

    entity = "/id/" + info["samples"]["initiative"].split("/id/", 1)[1]
    pages = {"entity page": entity, "search": "/search?q=" + urllib.parse.quote("龙凤")}

    for name in peer_names:
        try:
            if name == "pyoxigraph":
                result["peers"][name] = {"queries": measure_in_process(build_dir / "store", requests,
                                                                       duration=duration)}
                continue
            if name == "bjkg":
                for variant in ("bjkg", "bjkg (cached)"):
                    running = peers.start_bjkg(build_dir, sizedir, probe=probe)
                    try:
                        with MemorySampler(running.process.pid) as memory:
                            cached = variant != "bjkg"
                            q = measure_sparql(running, requests, files, duration=duration, workdir=sizedir,
                                               cached=cached)
                            p = measure_pages(running, pages, duration=duration, workdir=sizedir, cached=cached)
                        result["peers"][variant] = {"queries": q, "pages": p, "memory": memory.result(),
                                                    "first_answer_seconds": running.first_answer_seconds}
                    finally:
                        running.stop()
                result["load"]["bjkg"]["first_answer_seconds"] = result["peers"]["bjkg"]["first_answer_seconds"]
                continue
            if name == "virtuoso":
                if not peers.virtuoso_available():
                    log("virtuoso: not installed (apt-get install -y virtuoso-opensource); skipped")
                    continue
                running = peers.start_virtuoso(nquads, sizedir, triples=triples, probe=probe)
            elif name == "oxigraph":
                exe = peers.ensure_oxigraph(workdir / "oxigraph-venv", install=install)
                if exe is None:
                    log("oxigraph: not installed (run with --install); skipped")
                    continue
                running = peers.start_oxigraph(exe, nquads, sizedir, triples=triples, probe=probe,
                                               timeout_s=oxigraph_timeout)
            elif name == "rdflib-endpoint":
                exe = peers.ensure_rdflib_endpoint(workdir / "rdflib-endpoint-venv", install=install)
                if exe is None:
                    log("rdflib-endpoint: not installed (run with --install); skipped")
                    continue
                nt = peers.to_ntriples(nquads, sizedir / f"data-{seed}.nt")
                running = peers.start_rdflib_endpoint(exe, nt, sizedir, triples=triples, probe=probe)
            else:
                raise ValueError(f"unknown peer {name}")
            try:
                result["load"][name] = {"seconds": running.load_seconds,
                                        "triples_per_second": triples / running.load_seconds
                                        if running.load_seconds else None,
                                        "first_answer_seconds": running.first_answer_seconds}
                log(f"{size}: {name} load {running.load_seconds:.2f} s, first answer "
                    f"{running.first_answer_seconds:.2f} s after its start")
                with MemorySampler(running.process.pid if running.process else None) as memory:
                    q = measure_sparql(running, requests, files, duration=duration, workdir=sizedir)
                result["peers"][name] = {"queries": q, "memory": memory.result(),
                                         "first_answer_seconds": running.first_answer_seconds}
            finally:
                running.stop()
        except Exception as exc:  # noqa: BLE001 - one failing peer must not lose the others' figures
            log(f"{name} at {size} failed: {exc}")
            result["peers"].setdefault(name, {})["error"] = str(exc)[:2000]
    if "bjkg" in peer_names and (workdir / "seed-build" / "build.json").is_file():
        result["load"]["bjkg load"] = load_into_seed(nquads, workdir / "seed-build", sizedir, probe)
    for name, entry in result["load"].items():
        # the wait from the data file to a first answer: load, then start (rdflib-endpoint
        # loads as it starts, so its first answer holds its load)
        first = entry.get("first_answer_seconds")
        if first is not None:
            entry["file_to_first_answer_seconds"] = first + (0 if name == "rdflib-endpoint" else entry["seconds"] or 0)
    result["agreement"] = agreement(result)
    for peer, mismatches in result["agreement"].items():
        for m in mismatches:
            log(f"{size}: rows differ for {peer} on {m['family']} #{m['index']}: {m['rows']} vs {m['reference']} "
                f"(reference {m['against']})")
    result["ratios"] = ratios(result)
    return result


def agreement(size_result: dict) -> dict[str, list[dict]]:
    """Row counts of each peer on the sampled requests against the reference (pyoxigraph in
    process, else bjkg): the mismatches per peer (an empty list: every count agrees)."""
    measured = {p: d["queries"] for p, d in size_result["peers"].items() if d.get("queries")}
    against = "pyoxigraph" if "pyoxigraph" in measured else "bjkg"
    reference = measured.get(against)
    out: dict[str, list[dict]] = {}
    if not reference:
        return out
    for peer, queries in measured.items():
        if peer == against:
            continue
        out[peer] = []
        for name, ref in reference.items():
            mine = queries.get(name, {}).get("rows") or []
            for k, (a, b) in enumerate(zip(mine, ref.get("rows") or [])):
                if a != b:
                    index = size_result.get("families", {}).get(name, {}).get("sample_indexes", [])
                    out[peer].append({"family": name, "index": index[k] if k < len(index) else k,
                                      "rows": a, "reference": b, "against": against})
    return out


def ratios(size_result: dict) -> dict:
    """bjkg's c=8 throughput (answers that succeeded) ÷ each peer's, per family, with the geometric mean."""
    ours = size_result["peers"].get("bjkg", {}).get("queries")
    out = {}
    if not ours:
        return out
    for peer in COMPARED:
        theirs = size_result["peers"].get(peer, {}).get("queries")
        if not theirs:
            continue
        per, bounds = {}, []
        for name in NAMES:
            mine, other = ours.get(name, {}).get("c8", {}), theirs.get(name, {}).get("c8", {})
            a, b = mine.get("ok_rps", mine.get("rps")), other.get("ok_rps", other.get("rps"))
            if a and b is not None and not b and other.get("seconds"):
                # not one answer within the run: it took longer than the run, so bjkg's ratio
                # is at least its throughput × the run's length
                b = 1 / other["seconds"]
                bounds.append(name)
            if a and b:
                per[name] = a / b
        if per:
            out[peer] = {"per_query": per, "at_least": bounds,
                         "geomean": math.exp(sum(math.log(v) for v in per.values()) / len(per))}
    return out


def load_into_seed(nquads: Path, seed_build: Path, sizedir: Path, probe: bytes) -> dict:
    """The real `bjkg load` of the size's data into a copy of the seed build (incremental:
    bench/load.py `into_seed`), then `bjkg serve` of the result timed to its first answer."""
    size = sizedir.name
    try:
        into = load.into_seed(nquads, seed_build, sizedir / "bjkg-load-build", workdir=sizedir)
        running = peers.start_bjkg(sizedir / "bjkg-load-build", sizedir, probe=probe)
        running.stop()
    except Exception as exc:  # noqa: BLE001 - reported beside the other figures
        log(f"{size}: bjkg load into the seed build failed: {exc}")
        return {"error": str(exc)[:2000]}
    log(f"{size}: bjkg load into the seed build {into['load_seconds']:.2f} s "
        f"({'incremental' if into['incremental'] else 'full rebuild'}), first answer "
        f"{running.first_answer_seconds:.2f} s after its start")
    return {"seconds": into["load_seconds"], "triples_per_second": into["triples_per_second"],
            "first_answer_seconds": running.first_answer_seconds, "incremental": into["incremental"],
            "triples": into["triples"], "left_out": into["left_out"], "build_triples": into["build_triples"]}


# ---------------------------------------------------------------- the seed graph

def _seed_build(out_dir: Path, cache_dir: str) -> tuple[float, subprocess.CompletedProcess]:
    """`bjkg build` of the curated records, timed; `cache_dir` "" turns the build cache off."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "bjkg.server.cli", "build", "--out", str(out_dir)], cwd=ROOT,
                          capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), BJKG_CACHE_DIR=cache_dir))
    return time.perf_counter() - started, done


SEED_BUILD_RUNS = 3


def run_seed(*, duration: float, workdir: Path) -> dict:
    """Build the seed graph uncached (the target) and with a warm build cache, then serve it.

    The uncached build is timed SEED_BUILD_RUNS times and the median reported (each run is
    listed too): a single run of a few seconds moved by a second with what else the VM ran.
    """
    out_dir = workdir / "seed-build"
    runs = []
    for _ in range(SEED_BUILD_RUNS):
        seconds, done = _seed_build(out_dir, "")
        if done.returncode != 0:
            return {"error": (done.stdout + done.stderr)[-2000:]}
        runs.append(seconds)
    seconds = statistics.median(runs)
    cache = workdir / "build-cache"
    shutil.rmtree(cache, ignore_errors=True)
    _seed_build(workdir / "seed-build-warm", str(cache))  # fills the cache
    cached_seconds, done = _seed_build(workdir / "seed-build-warm", str(cache))
    manifest = json.loads((out_dir / "build.json").read_text(encoding="utf-8"))
    log(f"seed: bjkg build {seconds:.2f} s uncached (median of {', '.join(f'{r:.2f}' for r in runs)}), "
        f"{cached_seconds:.2f} s cached ({manifest['triples']} triples)")
    result = {"build_seconds": seconds, "build_runs": runs,
              "build_seconds_cached": cached_seconds if done.returncode == 0 else None,
              "triples": manifest["triples"]}
    pages = {"entity page": SEED_ENTITY, "search": "/search?q=" + urllib.parse.quote(SEED_SEARCH)}
    for variant in ("bjkg", "bjkg (cached)"):
        running = peers.start_bjkg(out_dir, workdir)
        try:
            with MemorySampler(running.process.pid) as memory:
                result[variant] = measure_pages(running, pages, duration=duration, workdir=workdir,
                                                cached=variant != "bjkg")
            result[variant]["memory"] = memory.result()
        finally:
            running.stop()
    return result


# ---------------------------------------------------------------- reports

def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    try:
        import psutil

        memory = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": memory, "system": platform.platform(),
            "python": platform.python_version()}


def final_line(results: dict) -> str:
    sizes = results["sizes"]
    largest = sizes[-1] if sizes else None
    label = largest["size"] if largest else "?"

    def ratio(peer: str) -> str:
        value = (largest or {}).get("ratios", {}).get(peer, {}).get("geomean")
        return f"{value:.2f}" if value else "n/a"

    loaded = (largest or {}).get("load", {}).get("bjkg", {}).get("triples_per_second")
    seed = results.get("seed", {}).get("bjkg", {}).get("entity page", {})
    p99 = seed.get("c8", {}).get("p99_ms")
    if p99 is None:  # no seed run: the synthetic entity page of the largest size
        p99 = (largest or {}).get("peers", {}).get("bjkg", {}).get("pages", {}).get("entity page", {}) \
            .get("c8", {}).get("p99_ms")
    ratios_text = ", ".join(f"vs {peer} {ratio(peer)}" for peer in COMPARED)
    return (f"bench: ratios at {label} c=8 (geomean families throughput): {ratios_text}; "
            f"load {loaded or 0:.0f} triples/s; "
            f"entity page p99 {p99 if p99 is not None else float('nan'):.1f} ms")


def _fmt(value, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}"


def markdown(results: dict) -> str:
    m = results["machine"]
    lines = [f"# bjkg benchmark — {results['date']}", "",
             f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; {m['system']}; "
             f"Python {m['python']}. Duration per measurement: {results['duration']} s; wrk, 1 thread, "
             "loopback. Throughput in requests/s; latency in ms. Uncached unless marked.", ""]
    for size in results["sizes"]:
        lines += [f"## {size['size']} ({size['triples']:,} triples)", "",
                  "| family | peer | rows (sample) | c=1 p50 | c=1 p99 | c=1 req/s | c=8 req/s | c=8 p99 |",
                  "|---|---|---|---:|---:|---:|---:|---:|"]
        for name in NAMES:
            for peer, data in size["peers"].items():
                q = data.get("queries", {}).get(name)
                if not q or "c1" not in q:
                    continue
                rows = q.get("rows")
                rows = " ".join("–" if r is None else str(r) for r in rows) if isinstance(rows, list) else rows
                lines.append(f"| {name} | {peer} | {rows} | {_fmt(q['c1']['p50_ms'], 2)} | "
                             f"{_fmt(q['c1']['p99_ms'], 2)} | {_fmt(q['c1']['rps'], 0)} | "
                             f"{_fmt(q['c8']['rps'], 0)} | {_fmt(q['c8'].get('p99_ms'), 1)} |")
        for peer, data in size["peers"].items():
            for page, q in data.get("pages", {}).items():
                if "c1" in q:
                    lines.append(f"| {page} | {peer} | – | {_fmt(q['c1']['p50_ms'], 2)} | "
                                 f"{_fmt(q['c1']['p99_ms'], 2)} | {_fmt(q['c1']['rps'], 0)} | "
                                 f"{_fmt(q['c8']['rps'], 0)} | {_fmt(q['c8']['p99_ms'], 1)} |")
        lines += ["", "| ratio (bjkg ÷ peer, c=8 req/s) | " + " | ".join(NAMES) + " | geomean |",
                  "|---|" + "---:|" * (len(NAMES) + 1)]
        for peer, r in size.get("ratios", {}).items():
            lines.append(f"| vs {peer} | " + " | ".join(("≥ " if n in r.get("at_least", ()) else "")
                                                         + _fmt(r["per_query"].get(n), 2) for n in NAMES)
                         + f" | **{'≥ ' if r.get('at_least') else ''}{_fmt(r['geomean'], 2)}** |")
        lines += ["", "| peer | load (triples/s) | load (s) | start → first answer (s) | file → first answer (s) "
                  "| peak RSS per process (MB) | peak RSS total (MB) | peak PSS total (MB) | processes |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for peer, data in size["peers"].items():
            loaded = size["load"].get(peer, {}) if "(cached)" not in peer else {}
            mem = data.get("memory", {})
            lines.append(f"| {peer} | {_fmt(loaded.get('triples_per_second'), 0)} | {_fmt(loaded.get('seconds'), 2)} | "
                         f"{_fmt(loaded.get('first_answer_seconds'), 2)} | "
                         f"{_fmt(loaded.get('file_to_first_answer_seconds'), 2)} | "
                         f"{_fmt(mem.get('peak_rss_process_mb'))} | {_fmt(mem.get('peak_rss_total_mb'))} | "
                         f"{_fmt(mem.get('peak_pss_total_mb'))} | {mem.get('processes', '–')} |")
        for peer, loaded in size["load"].items():
            if peer not in size["peers"] and "seconds" in loaded:  # `bjkg load` into the seed build
                lines.append(f"| {peer} (into the seed build, "
                             f"{'incremental' if loaded.get('incremental') else 'full rebuild'}) | "
                             f"{_fmt(loaded.get('triples_per_second'), 0)} | {_fmt(loaded.get('seconds'), 2)} | "
                             f"{_fmt(loaded.get('first_answer_seconds'), 2)} | "
                             f"{_fmt(loaded.get('file_to_first_answer_seconds'), 2)} | – | – | – | – |")
        agreement = size.get("agreement", {})
        if agreement:
            lines.append("")
            for peer, mismatches in agreement.items():
                if mismatches:
                    lines.append(f"Row counts of {peer} differ on {len(mismatches)} sampled requests: "
                                 + "; ".join(f"{m['family']} #{m['index']} {m['rows']} vs {m['reference']}"
                                             for m in mismatches[:10]) + ".")
                else:
                    lines.append(f"Row counts of {peer} agree with {'pyoxigraph' if 'pyoxigraph' in size['peers'] else 'bjkg'} "
                                 f"on every sampled request.")
        errors = {p: d["error"] for p, d in size["peers"].items() if "error" in d}
        for peer, error in errors.items():
            lines.append(f"\n{peer} failed: `{error[:300]}`")
        lines.append("")
    seed = results.get("seed")
    if seed:
        lines += ["## Seed graph", ""]
        if "error" in seed:
            lines.append(f"build failed: `{seed['error'][:500]}`")
        else:
            cached = seed.get("build_seconds_cached")
            runs = seed.get("build_runs") or [seed["build_seconds"]]
            lines += [f"`bjkg build`: {seed['build_seconds']:.2f} s uncached (`BJKG_CACHE_DIR=`; median of "
                      f"{len(runs)} runs: {', '.join(f'{r:.2f}' for r in runs)} s)"
                      + (f", {cached:.2f} s with a warm build cache" if cached else "")
                      + f", for {seed['triples']:,} triples.", "",
                      "| page | variant | c=1 p50 | c=1 p99 | c=8 req/s | c=8 p99 |", "|---|---|---:|---:|---:|---:|"]
            for variant in ("bjkg", "bjkg (cached)"):
                for page, q in seed.get(variant, {}).items():
                    if isinstance(q, dict) and "c1" in q:
                        lines.append(f"| {page} | {variant} | {_fmt(q['c1']['p50_ms'], 2)} | {_fmt(q['c1']['p99_ms'], 2)} | "
                                     f"{_fmt(q['c8']['rps'], 0)} | {_fmt(q['c8']['p99_ms'], 1)} |")
        lines.append("")
    lines += ["Families (500 requests each, drawn at random for every request): "
              + "; ".join(f"{n}: {DESCRIPTIONS[n]}" for n in NAMES) + ".", "",
              final_line(results), ""]
    return "\n".join(lines)


def chart(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [s for s in results["sizes"] if s.get("ratios")]
    fig, axes = plt.subplots(1, max(1, len(sizes)), figsize=(5 * max(1, len(sizes)), 4), squeeze=False)
    for ax, size in zip(axes[0], sizes or [None]):
        if size is None:
            ax.text(0.5, 0.5, "no peer to compare with", ha="center", va="center")
            ax.set_axis_off()
            continue
        shown = sorted(size["ratios"].items())
        width = 0.8 / len(shown)
        for i, (peer, r) in enumerate(shown):
            values = [r["per_query"].get(n, 0) for n in NAMES] + [r["geomean"]]
            xs = [j + (i - (len(shown) - 1) / 2) * width for j in range(len(values))]
            ax.bar(xs, values, width, label=f"vs {peer}")
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_yscale("log")
        ax.set_xticks(range(len(NAMES) + 1), [*NAMES, "geomean"], rotation=30, ha="right", fontsize=8)
        ax.set_title(f"{size['size']}: bjkg ÷ peer, c=8 throughput")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10k,100k,1M", help="comma-separated: 10k, 100k, 1M or numbers")
    parser.add_argument("--peers", default=",".join(ALL_PEERS), help="comma-separated subset of " + ", ".join(ALL_PEERS))
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run (and per in-process run)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--workdir", type=Path, default=None, help="data, builds and peers' files (default: a temp dir)")
    parser.add_argument("--seed", type=int, default=20240121)
    parser.add_argument("--no-seed-graph", action="store_true", help="skip building and serving the seed graph")
    parser.add_argument("--oxigraph-timeout-s", type=float, default=None,
                        help="Oxigraph's --timeout-s (off by default: its 0.5 server keeps a thread per query for "
                             "that long, and runs out of threads under a sustained load)")
    parser.add_argument("--install", action=argparse.BooleanOptionalAction, default=True,
                        help="install missing peers (wrk and Virtuoso with apt-get, Oxigraph's server and rdflib-endpoint "
                             "in their own venvs)")
    args = parser.parse_args(argv)
    peer_names = [p.strip() for p in args.peers.split(",") if p.strip()]
    unknown = set(peer_names) - set(ALL_PEERS)
    if unknown:
        parser.error(f"unknown peers: {', '.join(sorted(unknown))}")
    if args.install:
        install_system_peers(peer_names)
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (apt-get install -y wrk)")
    workdir = args.workdir or Path(tempfile.gettempdir()) / "bjkg-bench"
    workdir.mkdir(parents=True, exist_ok=True)
    results = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
               "duration": args.duration, "peers": peer_names, "sizes": []}
    # The seed graph first, while nothing else has run: its build is timed in seconds, and
    # the 1M runs leave the machine busy for a while (page cache writeback, Virtuoso's exit).
    if not args.no_seed_graph and "bjkg" in peer_names:
        results["seed"] = run_seed(duration=args.duration, workdir=workdir)
    for size in [s.strip() for s in args.sizes.split(",") if s.strip()]:
        results["sizes"].append(run_size(size, peer_names=peer_names, duration=args.duration, workdir=workdir,
                                         install=args.install, seed=args.seed,
                                         oxigraph_timeout=args.oxigraph_timeout_s))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    (args.out / "results.md").write_text(markdown(results), encoding="utf-8")
    chart(results, args.out / "ratios.png")
    log(f"wrote {args.out / 'results.json'}, results.md, ratios.png")
    print(final_line(results), flush=True)
    return 0


def install_system_peers(peer_names: list[str]) -> None:
    """apt-get install what is missing (wrk always, Virtuoso if asked for); quiet if present."""
    missing = []
    if shutil.which("wrk") is None:
        missing.append("wrk")
    if "virtuoso" in peer_names and shutil.which("virtuoso-t") is None:
        missing.append("virtuoso-opensource")
    if not missing or shutil.which("apt-get") is None:
        return
    log(f"installing {' '.join(missing)} with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], env=env, check=False)


if __name__ == "__main__":
    sys.exit(main())
