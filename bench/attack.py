"""Availability attacks on a `bjkg serve` of this machine, bounded, and the figures they give.

    python bench/attack.py --build DIR [--port 8150] [--empty-port 8151] [--only slow,runaway,hangup,memory,share,chunked,nesting,fuzz,crowd,empty]

It starts `bjkg serve` itself (default settings unless `-s NAME VALUE`), on 127.0.0.1, and
sends traffic only there: every connection goes to 127.0.0.1 (source addresses
127.0.0.2–127.0.0.99 stand for distinct clients). Each attack is bounded in connections
and in time, and the run stops by itself (about ten minutes with the default 30 s
QUERY_TIMEOUT). It prints one block of figures per attack and a JSON summary line.

The attacks (issue 14):

* slow — 50 connections that send a header byte every 5 s, and 50 that send nothing,
  while fresh clients fetch the seed entity page: p50/p99 and failures;
* runaway — 8 concurrent cross joins from 8 clients; meanwhile entity pages, searches and
  light queries from other clients: their p99, the runaways' status, Retry-After, seconds
  past the limit, and connection resets;
* hangup — 30 clients send a heavy query and hang up after 1 s; how long after the last
  one a light query is answered;
* memory — a GROUP_CONCAT blow-up; the largest evaluator process (RSS) against the cap;
* share — one client sends 4 runaways more than it may run and queue: how many get 429 at once;
* chunked — a chunked body with chunk size `zz`: the status;
* nesting — 40 queries nested 3,000–20,000 deep (braces, parentheses, paths, `!`,
  OPTIONAL, `||`, UNION; GET and POST): statuses, and whether an HTTP process was lost;
* fuzz — bench/fuzz.py's seeded fuzz, 10,000 malformed requests (`--fuzz-requests`): 5xx;
* crowd — 3,000 connections that send nothing, from 98 addresses, then fresh clients:
  p50/p99 and failures (found by hand: 2,200 stopped the server while granian held no more
  than its backlog ÷ workers);
* empty — `--empty` with a token: data written, then a VALUES cross product and a memory
  blow-up; an RDF/XML upload whose nested entities expand to ≈35 GB ("billion laughs"),
  an update over a cross join that grows without bound, and one that never ends; whether
  the data is still there, each status and time, and whether an HTTP process was lost.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.fuzz, when run as a script

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent
RUNAWAY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l . ?m ?n2 ?o }"
BLOWUP = "SELECT (STRLEN(GROUP_CONCAT(STR(?o))) AS ?n) WHERE { ?s ?p ?o . ?s2 ?p2 ?o2 . ?s3 ?p3 ?o3 }"
LIGHT = "ASK { ?s ?p ?o }"
PAGE = "/id/place/tongzhou"
SEARCH = "/search?q=%E9%80%9A%E5%B7%9E"
TOKEN = "attack-bench-token"


# ----------------------------------------------------------------------------- HTTP

class Answer:
    def __init__(self, status: int | None, headers: dict[str, str], body: bytes, seconds: float,
                 error: str | None = None) -> None:
        self.status, self.headers, self.body, self.seconds, self.error = status, headers, body, seconds, error

    @property
    def reset(self) -> bool:
        return self.error is not None and ("reset" in self.error.lower() or "closed" in self.error.lower())


def request(port: int, method: str, path: str, *, body: bytes = b"", headers: dict | None = None,
            source: str = HOST, timeout: float = 120.0, hang_up_after: float | None = None) -> Answer:
    """One HTTP/1.1 request on a fresh connection from `source`, to 127.0.0.1 only."""
    started = time.monotonic()
    sock = socket.socket()
    try:
        sock.bind((source, 0))
        sock.settimeout(timeout)
        sock.connect((HOST, port))
        head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close",
                f"Content-Length: {len(body)}"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        if hang_up_after is not None:
            time.sleep(hang_up_after)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            sock.close()
            return Answer(None, {}, b"", time.monotonic() - started, "hung up")
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError as exc:
        return Answer(None, {}, b"", time.monotonic() - started, f"{type(exc).__name__}: {exc}")
    finally:
        sock.close()
    seconds = time.monotonic() - started
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines or not lines[0].startswith("HTTP/"):
        return Answer(None, {}, data, seconds, "connection closed without an answer")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(status, headers, rest, seconds)


def query(port: int, sparql: str, **kwargs) -> Answer:
    return request(port, "POST", "/sparql", body=urllib.parse.urlencode({"query": sparql}).encode(),
                   headers={"Content-Type": "application/x-www-form-urlencoded",
                            "Accept": "application/sparql-results+json"}, **kwargs)


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def ms(value: float) -> str:
    return f"{value * 1000:.0f} ms"


# ------------------------------------------------------------------------- the server

class Server:
    def __init__(self, args: list[str], port: int) -> None:
        self.port = port
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bjkg.server.cli", "serve", "--host", HOST, "--port", str(port), *args],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"bjkg serve exited: {self.process.stderr.read().decode(errors='replace')}")
            if request(port, "GET", "/sparql", headers={"Accept": "text/turtle"}, timeout=2).status == 200:
                return
            time.sleep(0.3)
        self.stop()
        raise SystemExit("bjkg serve did not come up")

    def evaluators_rss(self) -> list[int]:
        """RSS (bytes) of the server's query evaluator processes."""
        import psutil

        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.Error:
            return []
        sizes = []
        for child in children:  # an evaluator is forked by a data process (same command line)
            try:
                if ("bjkg.server.sparql.workers" in " ".join(child.cmdline())
                        and "bjkg.server.sparql.workers" in " ".join(child.parent().cmdline())):
                    sizes.append(child.memory_info().rss)
            except (psutil.Error, AttributeError):
                continue
        return sizes

    def pids(self) -> set[int]:
        """The server's processes: a crash shows as one gone."""
        import psutil

        try:
            main = psutil.Process(self.process.pid)
            return {main.pid, *(c.pid for c in main.children(recursive=True)  # the HTTP processes
                                if "bjkg.server.cli" in " ".join(c.cmdline()))}
        except psutil.Error:
            return set()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def in_threads(jobs) -> list:
    results: list = [None] * len(jobs)

    def run(i, job):
        results[i] = job()

    threads = [threading.Thread(target=run, args=(i, job), daemon=True) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    return results


def light_traffic(port: int, stop: threading.Event, kinds=("page", "search", "query"),
                  clients: int = 3) -> dict[str, list[Answer]]:
    """Fresh clients fetching pages, searches and light queries until `stop` (from .100–.102)."""
    out: dict[str, list[Answer]] = {k: [] for k in kinds}

    def loop(number: int) -> None:
        source = f"127.0.0.{100 + number}"
        i = 0
        while not stop.is_set():
            kind = kinds[i % len(kinds)]
            i += 1
            if kind == "page":
                out[kind].append(request(port, "GET", PAGE, headers={"Accept": "text/html"}, source=source, timeout=60))
            elif kind == "search":
                out[kind].append(request(port, "GET", SEARCH, headers={"Accept": "text/html"}, source=source, timeout=60))
            else:
                out[kind].append(query(port, LIGHT, source=source, timeout=60))
            time.sleep(0.05)

    threads = [threading.Thread(target=loop, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    out["_threads"] = threads  # type: ignore[assignment]
    return out


def summary(answers: list[Answer]) -> dict:
    times = [a.seconds for a in answers]
    failed = [a for a in answers if a.status != 200]
    return {"n": len(answers), "p50_ms": round(percentile(times, 0.5) * 1000, 1),
            "p99_ms": round(percentile(times, 0.99) * 1000, 1), "failed": len(failed),
            "resets": sum(1 for a in answers if a.reset)}


# -------------------------------------------------------------------------- attacks

def attack_slow(server: Server, seconds: float = 20) -> dict:
    """50 slow-header connections (a byte every 5 s) and 50 silent ones, during fresh requests."""
    port = server.port
    stop = threading.Event()
    socks: list[socket.socket] = []
    for i in range(100):
        sock = socket.socket()
        sock.bind((f"127.0.0.{2 + i % 50}", 0))
        sock.connect((HOST, port))
        socks.append(sock)

    def dribble() -> None:
        text = b"GET /id/place/tongzhou HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 1000
        position = 0
        while not stop.wait(0 if position == 0 else 5):
            for sock in socks[:50]:
                try:
                    sock.send(text[position:position + 1])
                except OSError:
                    pass
            position += 1

    threading.Thread(target=dribble, daemon=True).start()
    time.sleep(1)
    answers = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        answers.append(request(port, "GET", PAGE, headers={"Accept": "text/html"}, timeout=30))
        time.sleep(0.05)
    stop.set()
    closed_by_server = 0
    for sock in socks:
        sock.setblocking(False)
        try:
            if sock.recv(1) == b"":
                closed_by_server += 1
        except BlockingIOError:
            pass
        except OSError:
            closed_by_server += 1
        sock.close()
    return {"fresh": summary(answers), "attack_connections_closed_by_server": closed_by_server}


def attack_runaway(server: Server, limit: float) -> dict:
    port = server.port
    stop = threading.Event()
    light = light_traffic(port, stop)
    time.sleep(0.5)
    started = time.monotonic()
    runaways = in_threads([lambda i=i: query(port, RUNAWAY, source=f"127.0.0.{2 + i}", timeout=limit + 60)
                           for i in range(8)])
    stop.set()
    for thread in light.pop("_threads"):  # type: ignore[union-attr]
        thread.join(timeout=60)
    past = [a.seconds - limit for a in runaways]
    return {"runaways": {"statuses": sorted(str(a.status) for a in runaways),
                         "with_retry_after": sum(1 for a in runaways if "retry-after" in a.headers),
                         "seconds_past_limit_max": round(max(past), 2),
                         "resets": sum(1 for a in runaways if a.reset)},
            "light": {kind: summary(answers) for kind, answers in light.items()},
            "wall_s": round(time.monotonic() - started, 1)}


def attack_hangup(server: Server, count: int = 30) -> dict:
    port = server.port
    in_threads([lambda i=i: query(port, RUNAWAY, source=f"127.0.0.{2 + i}", hang_up_after=1.0)
                for i in range(count)])
    last = time.monotonic()
    while time.monotonic() - last < 30:
        answer = query(port, LIGHT, timeout=30)
        if answer.status == 200:
            break
        time.sleep(0.05)
    back = time.monotonic() - last
    # capacity: as many light queries at once as there are slots, all answered promptly
    burst = in_threads([lambda i=i: query(port, LIGHT, source=f"127.0.0.{60 + i}", timeout=30)
                        for i in range(4)])
    return {"hung_up": count, "light_answered_after_last_s": round(back, 3),
            "burst_after": summary(burst)}


def attack_memory(server: Server, cap_mb: int) -> dict:
    port = server.port
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max([peak[0], *server.evaluators_rss()])
            time.sleep(0.05)

    threading.Thread(target=sample, daemon=True).start()
    answer = query(port, BLOWUP, timeout=120)
    stop.set()
    after = query(port, LIGHT, timeout=30)
    return {"status": answer.status, "seconds": round(answer.seconds, 2),
            "message": json.loads(answer.body or b"{}").get("error", {}).get("message", "")[:120]
            if answer.body.startswith(b"{") else "",
            "peak_evaluator_rss_mb": round(peak[0] / 2**20), "cap_mb": cap_mb,
            "light_after": after.status}


def attack_share(server: Server, settings: dict) -> dict:
    """One client sends 4 runaways more than it may run and queue (by the server's own
    rules for these settings): those 4 must be refused at once."""
    from bjkg.server.core.settings import load_settings
    from bjkg.server.sparql.admission import client_queue
    from bjkg.server.web.extension import query_limits

    limits = query_limits(load_settings(settings))
    may_run = max(limits["client_slots"], limits["size"] // 2)  # a lone client borrows idle slots
    count = may_run + client_queue(limits["queue"], limits["client_slots"]) + 4
    port = server.port
    started = time.monotonic()
    answers = in_threads([lambda: query(port, RUNAWAY, source="127.0.0.77", timeout=120) for _ in range(count)])
    quick = [a for a in answers if a.seconds < 1.0]
    return {"sent": count, "statuses": sorted(str(a.status) for a in answers),
            "refused_429_within_1s": sum(1 for a in quick if a.status == 429),
            "with_retry_after": sum(1 for a in answers if a.status in (429, 503) and "retry-after" in a.headers),
            "wall_s": round(time.monotonic() - started, 1)}


def attack_nesting(server: Server, count: int = 40, seed: int = 14) -> dict:
    """Queries nested 3,000-20,000 deep (braces, parentheses, paths, `!`, OPTIONAL, `||`,
    UNION), by GET and POST: every answer a 200 or 4xx, no HTTP process lost."""
    import random

    from bench.fuzz import deep  # the same nestings

    rng = random.Random(seed)
    before = server.pids()
    statuses: dict[str, int] = {}
    failures = 0
    for i in range(count):
        text = deep(rng)
        if i % 2:
            answer = query(server.port, text, timeout=60)
        else:
            answer = request(server.port, "GET", "/sparql?" + urllib.parse.urlencode({"query": text}),
                             headers={"Accept": "application/sparql-results+json"}, timeout=60)
        key = str(answer.status)
        statuses[key] = statuses.get(key, 0) + 1
        if answer.status is None or answer.status >= 500:
            failures += 1
    lost = before - server.pids()
    return {"queries": count, "statuses": statuses, "failures": failures,
            "http_processes_lost": len(lost), "after": query(server.port, LIGHT).status}


def attack_fuzz(server: Server, requests: int = 10_000) -> dict:
    """bench/fuzz.py's seeded fuzz: `requests` malformed requests, no 5xx."""
    from bench.fuzz import fuzz

    started = time.monotonic()
    statuses, failures = fuzz(f"http://{HOST}:{server.port}", requests, 1)
    fives = sum(n for status, n in statuses.items() if isinstance(status, int) and status >= 500)
    return {"requests": requests, "5xx": fives, "failures": len(failures),
            "seconds": round(time.monotonic() - started, 1)}


def attack_chunked(server: Server) -> dict:
    sock = socket.create_connection((HOST, server.port), timeout=10)
    sock.sendall(b"POST /sparql HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
                 b"Content-Type: application/sparql-query\r\n\r\nzz\r\nASK {}\r\n0\r\n\r\n")
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except OSError:
        pass
    sock.close()
    status = data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/") else "closed"
    return {"status": status, "after": query(server.port, LIGHT).status}


def attack_crowd(server: Server, count: int = 3_000) -> dict:
    """`count` connections that send nothing (from 127.0.0.2–127.0.0.99), held while fresh
    clients fetch the seed entity page and send light queries."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = count + 1_024
    if soft < wanted and (hard == resource.RLIM_INFINITY or hard >= wanted):
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    socks: list[socket.socket] = []
    try:
        for i in range(count):
            sock = socket.socket()
            sock.bind((f"127.0.0.{2 + i % 98}", 0))
            sock.settimeout(5)
            try:
                sock.connect((HOST, server.port))
            except OSError:
                sock.close()
                break
            socks.append(sock)
        answers = []
        for _ in range(10):
            answers.append(request(server.port, "GET", PAGE, headers={"Accept": "text/html"}, timeout=10))
            answers.append(query(server.port, "ASK { ?s ?p ?o }", timeout=10))
        return {"silent_connections": len(socks), "fresh": summary(answers)}
    finally:
        for sock in socks:
            sock.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def entity_bomb(levels: int = 9) -> bytes:
    """RDF/XML whose one literal is 30 bytes × 10^levels once its entities are expanded."""
    entities = ['<!ENTITY l0 "lollollollollollollollollollol">'] + [
        f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, levels + 1)]
    return (f'<?xml version="1.0"?><!DOCTYPE rdf:RDF [{"".join(entities)}]>'
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:ex="http://example.org/">'
            f'<rdf:Description rdf:about="http://example.org/s"><ex:p>&l{levels};</ex:p></rdf:Description>'
            '</rdf:RDF>').encode()


def attack_empty(port: int, limit: float, extra: list[str]) -> dict:
    server = Server(["--empty", "--update-token", TOKEN, *extra], port)
    try:
        auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/sparql-update"}
        written = request(port, "POST", "/sparql", body=b"INSERT DATA { <urn:a> <urn:b> 'kept' }",
                          headers=auth).status
        values = " ".join(str(i) for i in range(100))
        cross = "SELECT (COUNT(*) AS ?n) WHERE { " + " ".join(
            f"VALUES ?v{i} {{ {values} }}" for i in range(6)) + " }"
        runaway = query(port, cross, timeout=limit + 60)
        blowup = query(port, "SELECT (STRLEN(GROUP_CONCAT(?s)) AS ?n) WHERE { " + " ".join(
            f"VALUES ?v{i} {{ {values} }}" for i in range(5)) + " BIND(STR(?v0) AS ?s) }", timeout=limit + 60)
        before = server.pids()
        laughs = request(port, "PUT", "/graph-store?default", body=entity_bomb(),
                         headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/rdf+xml"},
                         timeout=limit + 60)
        rows = " ".join(f"<urn:s{i}> <urn:p> {i} ." for i in range(2_000))
        request(port, "POST", "/sparql", body=f"INSERT DATA {{ {rows} }}".encode(), headers=auth)
        grows = request(port, "POST", "/sparql", headers=auth, timeout=limit + 60,
                        body=b"INSERT { ?a <urn:q> ?f } WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }")
        endless = request(port, "POST", "/sparql", headers=auth, timeout=limit + 60,
                          body=b"INSERT { ?a <urn:q> 'x' } WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i "
                               b"FILTER(STRLEN(CONCAT(STR(?c), STR(?f), STR(?i))) < 0) }")
        lost = len(before - server.pids())
        kept = query(port, "SELECT ?o WHERE { <urn:a> <urn:b> ?o }")
        rows_kept = query(port, "SELECT (COUNT(*) AS ?n) WHERE { ?s <urn:p> ?o }")
        return {"write": written, "runaway_status": runaway.status,
                "runaway_seconds_past_limit": round(runaway.seconds - limit, 2),
                "runaway_retry_after": runaway.headers.get("retry-after"),
                "blowup_status": blowup.status,
                "entities_status": laughs.status, "entities_seconds": round(laughs.seconds, 2),
                "update_blowup_status": grows.status, "update_blowup_seconds": round(grows.seconds, 2),
                "update_runaway_status": endless.status,
                "update_runaway_seconds_past_limit": round(endless.seconds - limit, 2),
                "http_processes_lost": lost,
                "data_kept": kept.status == 200 and b"kept" in kept.body
                and rows_kept.status == 200 and b'"2000"' in rows_kept.body}
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", required=True, help="a build folder (the seed build)")
    parser.add_argument("--port", type=int, default=8150)
    parser.add_argument("--empty-port", type=int, default=None,
                        help="port of the --empty server of the `empty` attack (default: --port + 1)")
    parser.add_argument("--only", default="slow,runaway,hangup,memory,share,chunked,nesting,fuzz,crowd,empty")
    parser.add_argument("--fuzz-requests", type=int, default=10_000)
    parser.add_argument("-s", "--setting", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    options = parser.parse_args()
    extra = [x for name, value in options.setting for x in ("-s", name, value)]
    settings = {name.upper(): value for name, value in options.setting}
    limit = float(settings.get("QUERY_TIMEOUT", 30))
    cap = int(settings.get("QUERY_MEMORY_MB", 512))
    wanted = options.only.split(",")
    results: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                     "cores": os.cpu_count(), "query_timeout": limit}
    server = Server(["--build", options.build, *extra], options.port)
    try:
        for name, run in (("slow", lambda: attack_slow(server)),
                          ("runaway", lambda: attack_runaway(server, limit)),
                          ("hangup", lambda: attack_hangup(server)),
                          ("memory", lambda: attack_memory(server, cap)),
                          ("share", lambda: attack_share(server, settings)),
                          ("chunked", lambda: attack_chunked(server)),
                          ("nesting", lambda: attack_nesting(server)),
                          ("fuzz", lambda: attack_fuzz(server, options.fuzz_requests)),
                          ("crowd", lambda: attack_crowd(server))):
            if name in wanted:
                results[name] = run()
                print(f"{name}: {json.dumps(results[name])}", flush=True)
    finally:
        server.stop()
    if "empty" in wanted:
        empty_port = options.empty_port if options.empty_port is not None else options.port + 1
        results["empty"] = attack_empty(empty_port, limit, extra)
        print(f"empty: {json.dumps(results['empty'])}", flush=True)
    print("attack: " + json.dumps(results))


if __name__ == "__main__":
    main()
