"""The serving rules of issue 14, each proven on a real `bjkg serve` (granian) or on the pool.

Slow and silent clients hold no thread; a client that hangs up cancels its query; the
deadline counts from arrival; a query past QUERY_MEMORY_MB kills only its evaluator; one
client beyond its share gets 429; requests queued behind a runaway get an HTTP answer,
never a reset; a malformed chunked body gets 400; `--empty` keeps written data whatever
its queries do. The attacks are small versions of bench/attack.py's.
"""
from __future__ import annotations

import json
import socket
import threading
import time
import urllib.parse

import pytest

from bench.attack import Answer, query, request
from bjkg.server.sparql.evaluate import QueryRequest, QueryTimedOut
from bjkg.server.sparql.admission import (ClientGone, ClientShareExceeded, QueueFull, SharedAdmission, create_shared,
                                          local_admission)
from bjkg.server.sparql.workers import QueryWorkerPool, RequestContext, set_context
from tests.server.conftest import ROOT, TOKEN, free_port, start_server, stop_server

RUNAWAY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l . ?m ?n2 ?o }"
BLOWUP = "SELECT (STRLEN(GROUP_CONCAT(STR(?o))) AS ?n) WHERE { ?s ?p ?o . ?s2 ?p2 ?o2 . ?s3 ?p3 ?o3 }"
LIGHT = "ASK { ?s ?p ?o }"
LIMIT = 3  # QUERY_TIMEOUT of the servers here


def port_of(server) -> int:
    return int(urllib.parse.urlsplit(server.url).port)


@pytest.fixture(scope="module")
def small_server(tiny_build):
    """One HTTP worker, two query slots (one per client), a queue of two, short deadlines."""
    server = start_server(["--build", str(tiny_build), "--workers", "1", "-s", "QUERY_TIMEOUT", str(LIMIT),
                           "-s", "QUERY_WORKERS", "2", "-s", "QUERY_QUEUE", "2",
                           "-s", "QUERY_MEMORY_MB", "150", "-s", "HEADER_TIMEOUT", "1",
                           "-s", "BODY_TIMEOUT", "1"])
    yield server
    stop_server(server)


def in_threads(jobs) -> list:
    results: list = [None] * len(jobs)
    threads = [threading.Thread(target=lambda i=i, job=job: results.__setitem__(i, job())) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


# ------------------------------------------------------------------------- slow clients

def test_silent_and_dribbling_clients_stall_no_one(small_server):
    """20 connections that send nothing and 20 that dribble a header byte every 0.2 s hold no
    thread: fresh clients are answered meanwhile, and all 40 are closed at HEADER_TIMEOUT
    (1 s here) without an answer (in granian's default HTTP mode, which waits for a possible
    HTTP/2 preface, the silent ones were kept for good)."""
    import select

    port = port_of(small_server)
    silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
    dribblers = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
    stop = threading.Event()

    def dribble() -> None:
        while not stop.wait(0.2):
            for sock in dribblers:
                try:
                    sock.send(b"G")
                except OSError:
                    pass

    threading.Thread(target=dribble, daemon=True).start()
    try:
        started = time.monotonic()
        answers = [request(port, "GET", "/id/place/tongzhou", headers={"Accept": "text/html"}, timeout=5)
                   for _ in range(10)]
        answers += [query(port, LIGHT, timeout=5) for _ in range(5)]
        assert [a.status for a in answers] == [200] * 15
        assert max(a.seconds for a in answers) < 1.0
        closed: dict[int, bytes] = {}
        held = silent + dribblers
        while len(closed) < len(held) and time.monotonic() - started < 10:
            readable, _, _ = select.select([s for s in held if s.fileno() not in closed], [], [], 0.5)
            for sock in readable:
                try:
                    closed[sock.fileno()] = sock.recv(1024)
                except OSError:
                    closed[sock.fileno()] = b""
        assert len(closed) == len(held), "a silent or dribbling client was not closed at HEADER_TIMEOUT"
        assert not any(data.startswith(b"HTTP/1.1 200") for data in closed.values())
    finally:
        stop.set()
        for sock in silent + dribblers:
            sock.close()


def test_the_front_speaks_http1_only(small_server):
    """The header and body deadlines and the connection limits are hyper's HTTP/1 settings,
    so a cleartext HTTP/2 connection (prior knowledge) is not taken up: the preface gets no
    HTTP/2 frames (hyper closes, or a 4xx), and HTTP/1.1 is served as before."""
    port = port_of(small_server)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        try:
            first = sock.recv(64)
        except ConnectionResetError:
            first = b""
    assert first == b"" or first.startswith(b"HTTP/1.1 4"), first
    assert query(port, LIGHT).status == 200


SILENT_MANY = 2_300  # more than granian's default of backlog (2,048) ÷ workers (1 here)


def test_thousands_of_silent_connections_stall_no_one(small_server):
    """A client that opens thousands of connections and sends nothing stops no one: an HTTP
    worker holds as many as its descriptors allow (`serve._connections_per_worker`), where
    granian's default (backlog ÷ workers) had the 2,049th wait in the listen backlog, and
    with it every fresh client (found 2026-12-06: 2,200 silent connections stopped the
    default 2-worker server for as long as they stayed open)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = SILENT_MANY + 512
    if soft < needed:
        assert hard == resource.RLIM_INFINITY or hard >= needed, (
            f"this test holds {SILENT_MANY} connections: the open-files hard limit ({hard}) is too low")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    port = port_of(small_server)
    silent: list[socket.socket] = []
    try:
        for _ in range(SILENT_MANY):
            silent.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        answers = [query(port, LIGHT, timeout=5) for _ in range(3)]
        answers.append(request(port, "GET", "/id/place/tongzhou", headers={"Accept": "text/html"}, timeout=5))
        assert [a.status for a in answers] == [200] * 4
    finally:
        for sock in silent:
            sock.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def raw(port: int, data: bytes) -> bytes:
    """Send `data` as it is on a fresh connection; the first bytes of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(data)
        return sock.recv(4096)


def test_a_body_that_never_arrives_gets_408_and_holds_no_query_thread(small_server):
    port = port_of(small_server)
    assert raw(port, b"POST /sparql HTTP/1.1\r\nHost: x\r\nContent-Type: application/sparql-query\r\n"
                     b"Content-Length: 100\r\n\r\nASK").startswith(b"HTTP/1.1 408")
    assert query(port, LIGHT).status == 200


def test_a_malformed_chunk_size_is_a_400_not_a_500(small_server):
    answer = raw(port_of(small_server), b"POST /sparql HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                 b"Content-Type: application/sparql-query\r\n\r\nzz\r\nASK {}\r\n0\r\n\r\n")
    assert answer.split(b" ")[1] == b"400"


def test_a_chunked_body_is_read_whole(small_server):
    """A client may send its body chunked (no Content-Length), in pieces over time: the app
    gets all of it, as a direct query and as a form."""
    def chunked(content_type: str, body: bytes) -> bytes:
        pieces = [body[:5], body[5:]]
        with socket.create_connection(("127.0.0.1", port_of(small_server)), timeout=15) as sock:
            sock.sendall(b"POST /sparql HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
                         b"Accept: application/sparql-results+json\r\nContent-Type: " + content_type.encode()
                         + b"\r\n\r\n")
            for piece in pieces:
                time.sleep(0.2)
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            sock.sendall(b"0\r\n\r\n")
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        return answer

    for content_type, body in (("application/sparql-query", b"ASK { ?s ?p ?o }"),
                               ("application/x-www-form-urlencoded", b"query=ASK%20%7B%20%3Fs%20%3Fp%20%3Fo%20%7D")):
        answer = chunked(content_type, body)
        assert answer.startswith(b"HTTP/1.1 200"), answer[:600]
        assert b'"boolean":true' in answer.replace(b" ", b""), answer[-300:]


def test_a_compressed_body_is_refused_not_misread(small_server):
    """A body with a content coding (gzip …) would be read as garbled text, or, decoded,
    could expand past MAX_BODY_BYTES: 415 naming the coding, Accept-Encoding: identity."""
    import gzip

    body = gzip.compress(b"ASK {}")
    answer = raw(port_of(small_server), b"POST /sparql HTTP/1.1\r\nHost: x\r\nContent-Type: application/sparql-query\r\n"
                 b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    head, _, text = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 415"), answer[:300]
    assert b"accept-encoding: identity" in head.lower() and b"gzip" in text
    assert raw(port_of(small_server), b"POST /sparql HTTP/1.1\r\nHost: x\r\nContent-Type: application/sparql-query\r\n"
               b"Content-Encoding: identity\r\nContent-Length: 6\r\nConnection: close\r\n\r\nASK {}").startswith(b"HTTP/1.1 200")


def test_an_oversized_body_is_refused_before_it_is_read(small_server):
    assert raw(port_of(small_server), b"POST /sparql HTTP/1.1\r\nHost: x\r\nContent-Type: application/sparql-query\r\n"
               b"Content-Length: 999999999\r\n\r\n").startswith(b"HTTP/1.1 413")


def _xml_stream(port: int, first: bool) -> bytes:
    """A SELECT whose XML answer is streamed (over a megabyte, the size sent whole), with a
    literal XML 1.0 cannot carry in its first row or its last; the bytes the server sent."""
    bulk = "{ SELECT (STR(?s) AS ?x) (1 AS ?k) WHERE { ?s ?p ?o . ?a ?b ?c } LIMIT 30000 }"
    fault = f'{{ BIND("x\\u0001" AS ?x) BIND({0 if first else 2} AS ?k) }}'
    text = f"SELECT ?x WHERE {{ {bulk} UNION {fault} }} ORDER BY ?k"
    body = urllib.parse.urlencode({"query": text}).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"POST /sparql HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAccept: application/sparql-results+xml\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        answer = b""
        while chunk := sock.recv(1 << 16):
            answer += chunk
    return answer


def test_a_streamed_xml_answer_xml_cannot_carry_is_refused_or_broken_off(small_server):
    """Streamed: a fault in the first chunk (not yet sent) is a 406 naming it; a fault further
    on breaks the answer off (no last chunk, no closing tag): never malformed XML as a whole."""
    port = port_of(small_server)
    head, _, body = _xml_stream(port, first=True).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 406"), head[:200]
    assert b"U+0001" in body
    head, _, body = _xml_stream(port, first=False).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"chunked" in head.lower()
    assert len(body) > 1 << 20 and not body.endswith(b"0\r\n\r\n") and b"</sparql>" not in body
    assert query(port, LIGHT).status == 200


# ------------------------------------------------------------------------ runaways

def test_requests_queued_behind_runaways_get_an_answer_never_a_reset(small_server):
    """Two runaways (two clients) take both slots; what queues behind them, or finds the
    queue full, gets an HTTP answer (503 with Retry-After); pages are answered meanwhile."""
    port = port_of(small_server)
    jobs = [lambda i=i: query(port, RUNAWAY, source=f"127.0.0.{2 + i}") for i in range(2)]
    jobs += [lambda i=i: (time.sleep(0.5), query(port, LIGHT, source=f"127.0.0.{10 + i}"))[1] for i in range(4)]
    pages: list[Answer] = []

    def pages_meanwhile() -> None:
        time.sleep(0.5)
        for _ in range(5):
            pages.append(request(port, "GET", "/id/place/tongzhou", headers={"Accept": "text/html"}, timeout=10))

    answers = in_threads(jobs + [pages_meanwhile])[:-1]
    assert all(a.error is None and a.status is not None for a in answers), [a.error for a in answers]
    assert [a.status for a in answers[:2]] == [503, 503]
    for answer in answers:
        if answer.status == 503:
            assert answer.headers.get("retry-after")
            assert json.loads(answer.body)["error"]["message"]
    assert [p.status for p in pages] == [200] * 5


def test_the_deadline_counts_from_arrival(tiny_build):
    """A request that arrived QUERY_TIMEOUT ago is not evaluated at all, and one that waited
    in the queue has only what is left of its time."""
    pool = QueryWorkerPool({"store": str(tiny_build / "store")}, 1, isolate_network=False)
    try:
        set_context(RequestContext(arrived=time.monotonic() - 10))
        with pytest.raises(QueryTimedOut):
            pool.run(QueryRequest(LIGHT, union_default_graph=True), timeout=5)
        set_context(RequestContext(arrived=time.monotonic()))
        assert pool.run(QueryRequest(LIGHT, union_default_graph=True), timeout=5).boolean is True
    finally:
        set_context(None)
        pool.close()


def test_a_row_limit_comes_back_from_an_evaluator_as_what_it_is(tiny_build):
    """An answer past its row limit is a RowLimitExceeded with its limit on the pool's side
    too (not a bare 400), as in-process evaluation raises it, so a caller can tell it from
    other refusals; and the evaluator is kept for the next query."""
    from bjkg.server.sparql.evaluate import QueryFailed, RowLimitExceeded

    pool = QueryWorkerPool({"store": str(tiny_build / "store")}, 2, isolate_network=False)
    try:
        request = QueryRequest(sparql="SELECT * WHERE { ?s ?p ?o }", max_rows=3, union_default_graph=True)
        with pytest.raises(RowLimitExceeded) as refused:
            pool.run(request, 10)
        assert refused.value.limit == 3 and refused.value.status == 400 and "3 rows" in refused.value.message
        with pool._idle_cond:
            kept = [e.pid for e in pool._idle]
        with pytest.raises(QueryFailed) as syntax:
            pool.run(QueryRequest(sparql="SELEC nope"), 10)
        assert not isinstance(syntax.value, RowLimitExceeded) and syntax.value.status == 400
        assert pool.run(QueryRequest(sparql="ASK { ?s ?p ?o }", union_default_graph=True), 10).boolean is True
        with pool._idle_cond:
            assert [e.pid for e in pool._idle] == kept
    finally:
        pool.close()


def test_idle_evaluators_beyond_the_first_ones_are_retired(tiny_build, monkeypatch):
    """A burst forks an evaluator per concurrent query; once they have been idle for
    _RETIRE_AFTER seconds all but the pool's `keep` end (each holds its own store caches),
    even if no query comes meanwhile, and the pool still answers."""

    from bjkg.server.sparql import workers

    monkeypatch.setattr(workers, "_RETIRE_AFTER", 0.4)
    pool = QueryWorkerPool({"store": str(tiny_build / "store")}, 5, isolate_network=False, client_slots=5)
    try:
        pool.start()
        # five queries at once take five evaluators (three forked for them), then give them back
        taken = [pool._take(time.monotonic() + 10, None) for _ in range(5)]
        for evaluator in taken:
            pool._put_back(evaluator)
        with pool._idle_cond:
            burst = [e.pid for e in pool._idle]
        assert len(burst) == 5, burst
        deadline = time.monotonic() + 5
        while len(pool._idle) > pool.keep and time.monotonic() < deadline:
            time.sleep(0.05)
        kept = [e.pid for e in pool._idle]
        assert pool.keep == workers._START_EVALUATORS  # no core gate
        assert len(kept) == pool.keep and pool._evaluators == len(kept)
        for pid in set(burst) - set(kept):  # ended, not just forgotten
            deadline = time.monotonic() + 5
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not _alive(pid), pid
        set_context(RequestContext(arrived=time.monotonic()))
        assert pool.run(QueryRequest(LIGHT, union_default_graph=True), timeout=5).boolean is True
    finally:
        set_context(None)
        pool.close()


def test_a_query_that_has_used_half_a_second_of_cpu_lowers_its_evaluators_priority(tiny_build):
    """A runaway's evaluator (its lane's thread) drops to EVALUATOR_NICE while its query
    runs (short queries, pages and the front go first), and is replaced after."""
    import os

    from bjkg.server.sparql import workers

    pool = QueryWorkerPool({"store": str(tiny_build / "store")}, 1, isolate_network=False)
    gone = threading.Event()
    try:
        pool.start()
        pid = pool._idle[0].tid  # the lane's thread: a priority is a thread's own
        assert pid != pool._idle[0].pid
        assert os.getpriority(os.PRIO_PROCESS, pid) == 0
        seen: list[int] = []

        def watch() -> None:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not gone.is_set():
                seen.append(os.getpriority(os.PRIO_PROCESS, pid))
                if seen[-1] == workers.EVALUATOR_NICE:
                    gone.set()  # seen: the client "hangs up", which ends the runaway
                time.sleep(0.02)

        watcher = threading.Thread(target=watch)
        watcher.start()
        set_context(RequestContext(arrived=time.monotonic(), gone=gone))
        with pytest.raises((ClientGone, QueryTimedOut)):  # ClientGone once seen, QueryTimedOut if never
            pool.run(QueryRequest(RUNAWAY, union_default_graph=True), timeout=20)
        watcher.join()
        assert workers.EVALUATOR_NICE in seen, seen[-5:]
    finally:
        set_context(None)
        pool.close()


def test_a_query_kept_off_the_cpu_is_not_demoted(tiny_build):
    """Priority follows the CPU a query has used, not the time since it was sent: on a busy
    machine a short query waits for a core too. Its evaluator (here stopped for a second
    while the query waits in its socket) keeps its priority and serves the next query
    (a demoted one is replaced: a fresh process that must open the store again)."""
    import os
    import signal

    pool = QueryWorkerPool({"store": str(tiny_build / "store")}, 1, isolate_network=False)
    try:
        pool.start()
        pid = pool._idle[0].pid
        os.kill(pid, signal.SIGSTOP)
        answers: list = []

        def ask() -> None:
            set_context(RequestContext(arrived=time.monotonic()))
            try:
                answers.append(pool.run(QueryRequest(LIGHT, union_default_graph=True), timeout=10).boolean)
            finally:
                set_context(None)

        asking = threading.Thread(target=ask)
        asking.start()
        time.sleep(1.2)
        os.kill(pid, signal.SIGCONT)
        asking.join(timeout=10)
        assert answers == [True]
        assert [e.pid for e in pool._idle] == [pid]
        assert os.getpriority(os.PRIO_PROCESS, pid) == 0
    finally:
        pool.close()


def _alive(pid: int) -> bool:
    """Whether `pid` is a live process (not a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_client_that_hangs_up_frees_its_slot(small_server):
    """Four clients send runaways (two run, two wait) and hang up after 0.5 s: within a
    second both slots answer again, long before the runaways' deadline."""
    port = port_of(small_server)
    in_threads([lambda i=i: query(port, RUNAWAY, source=f"127.0.0.{30 + i}", hang_up_after=0.5)
                for i in range(4)])
    hung_up = time.monotonic()
    while True:
        answers = in_threads([lambda i=i: query(port, LIGHT, source=f"127.0.0.{40 + i}", timeout=LIMIT - 0.5)
                              for i in range(2)])
        if [a.status for a in answers] == [200, 200]:
            break
        assert time.monotonic() - hung_up < 1.0, [(a.status, a.body, a.error) for a in answers]
        time.sleep(0.05)
    # and the HTTP process gave back the threads of the hung-up requests: as many queries as
    # its query lane holds (2 slots + 2 queued + 2) are taken at once, none refused by the front
    burst = in_threads([lambda i=i: query(port, LIGHT, source=f"127.0.0.{50 + i}") for i in range(6)])
    assert "Too many queries" not in str([a.body for a in burst]) and all(a.status in (200, 503) for a in burst)
    assert sum(a.status == 200 for a in burst) >= 4


def test_one_client_beyond_its_share_gets_429_at_once(small_server):
    port = port_of(small_server)
    answers = in_threads([lambda: query(port, RUNAWAY, source="127.0.0.50") for _ in range(3)])
    statuses = sorted(a.status for a in answers)
    assert 429 in statuses, [(a.status, a.body[:200], round(a.seconds, 2)) for a in answers]
    refused = next(a for a in answers if a.status == 429)
    assert refused.headers.get("retry-after")
    assert "QUERY_CLIENT_SLOTS" in json.loads(refused.body)["error"]["message"]


@pytest.fixture(params=["process", "shared"])
def admissions(request, tmp_path):
    """Two views of one admission: the same object (one process), or two mappings of one
    shared file (as two HTTP worker processes have)."""
    if request.param == "process":
        admission = local_admission(slots=2, queue=2, client_slots=1)
        return admission, admission
    path = str(tmp_path / "admission")
    create_shared(path, 2, 2)
    return SharedAdmission(path, 2, 2, 1), SharedAdmission(path, 2, 2, 1)


def test_admission_rules(admissions):
    one, other = admissions
    far = time.monotonic() + 30
    tokens: dict[str, object] = {}
    tokens["a"] = one.enter("a", far, None)  # a runs
    waiting = threading.Thread(target=lambda: tokens.__setitem__("a2", other.enter("a", far, None)))
    waiting.start()  # a's second query waits: a is at its share
    time.sleep(0.2)
    with pytest.raises(ClientShareExceeded):  # a holds its share and half the queue
        one.enter("a", far, None)
    tokens["b"] = other.enter("b", far, None)  # b is not held up by a's backlog
    assert one.running == 2 and other.running == 2
    third = threading.Thread(target=lambda: tokens.__setitem__("c", one.enter("c", far, None)))
    third.start()
    time.sleep(0.2)
    with pytest.raises(QueueFull):
        other.enter("d", far, None)
    other.leave(tokens["b"])
    third.join(5)  # c took b's slot, before a's second query (a is at its share)
    assert not third.is_alive() and waiting.is_alive()
    one.leave(tokens["a"])
    waiting.join(5)
    assert not waiting.is_alive()
    other.leave(tokens["a2"])
    one.leave(tokens["c"])
    assert one.running == 0 and other.running == 0


@pytest.mark.parametrize("shared", [False, True])
def test_a_lone_client_borrows_idle_slots_up_to_half_and_a_busy_server_holds_it_to_its_share(shared, tmp_path):
    """8 slots, a share of 2: alone, a client runs 4 at once (half the slots stay free for
    others) and its 5th waits; another client still gets its share at once; once half the
    slots are taken, nobody runs beyond their share, and a freed slot below half lets the
    borrower's waiting query in."""
    if shared:
        create_shared(str(tmp_path / "admission"), 8, 8)
        one = other = SharedAdmission(str(tmp_path / "admission"), 8, 8, 2)
    else:
        one = other = local_admission(slots=8, queue=8, client_slots=2)
    far = time.monotonic() + 30
    a = [one.enter_now("a") for _ in range(4)]
    assert None not in a and one.enter_now("a") is None and one.running == 4
    late: dict[str, object] = {}
    waiting = threading.Thread(target=lambda: late.__setitem__("a5", other.enter("a", far, None)))
    waiting.start()
    b = [other.enter_now("b"), other.enter_now("b")]
    assert None not in b and other.enter_now("b") is None  # 6 of 8 taken: b at its share
    time.sleep(0.2)
    assert waiting.is_alive()
    other.leave(b[0]); other.leave(b[1])  # 4 of 8: still not below half
    time.sleep(0.2)
    assert waiting.is_alive()
    one.leave(a[0])  # 3 of 8: a may borrow again
    waiting.join(5)
    assert not waiting.is_alive() and one.running == 4
    for token in [*a[1:], late["a5"]]:
        one.leave(token)
    assert one.running == 0


def test_a_shared_slot_of_a_dead_process_is_given_back(tmp_path):
    """A worker killed while it held slots never leaks them: its entries are freed when
    another process needs room."""
    import multiprocessing

    path = str(tmp_path / "admission")
    create_shared(path, 1, 1)
    ready = multiprocessing.get_context("fork").Event()

    def hold() -> None:
        SharedAdmission(path, 1, 1, 1).enter("x", time.monotonic() + 60, None)
        ready.set()
        time.sleep(60)

    holder = multiprocessing.get_context("fork").Process(target=hold)
    holder.start()
    try:
        assert ready.wait(10)
        admission = SharedAdmission(path, 1, 1, 1)
        assert admission.running == 1
        holder.kill()
        holder.join()
        token = admission.enter("y", time.monotonic() + 5, None)  # within the reaping interval
        assert admission.running == 1
        admission.leave(token)
    finally:
        holder.kill()


def test_admission_is_shared_by_the_http_workers(tiny_build):
    """Two HTTP worker processes, two slots, a queue of two: one client's third runaway is
    refused with 429 and a fifth query with 503 at once, whichever worker takes them."""
    server = start_server(["--build", str(tiny_build), "--workers", "2", "-s", "QUERY_TIMEOUT", str(LIMIT),
                           "-s", "QUERY_WORKERS", "2", "-s", "QUERY_QUEUE", "2"])
    port = port_of(server)
    try:
        answers = in_threads([lambda: query(port, RUNAWAY, source="127.0.0.60") for _ in range(3)])
        statuses = sorted(a.status for a in answers)
        assert statuses == [429, 503, 503], statuses  # one refused at once; two ran (or waited) to the limit
        refused = next(a for a in answers if a.status == 429)
        assert refused.seconds < 1.0
        jobs = [lambda i=i: query(port, RUNAWAY, source=f"127.0.0.{70 + i}") for i in range(4)]
        jobs.append(lambda: (time.sleep(0.5), query(port, LIGHT, source="127.0.0.80"))[1])
        answers = in_threads(jobs)
        late = answers[-1]
        assert late.status == 503 and late.seconds < 1.0 and late.headers.get("retry-after")
        assert "QUERY_QUEUE" in json.loads(late.body)["error"]["message"]
    finally:
        stop_server(server)


# -------------------------------------------------------------------------- memory

def test_a_query_past_the_memory_cap_kills_only_its_evaluator(small_server):
    port = port_of(small_server)
    answer = query(port, BLOWUP, timeout=60)
    assert answer.status == 503
    assert "QUERY_MEMORY_MB" in json.loads(answer.body)["error"]["message"]
    assert query(port, LIGHT).status == 200


# ---------------------------------------------------------------------------- --empty

def test_evaluators_leave_no_core_file_when_they_die_at_the_memory_cap(small_server):
    """An evaluator past QUERY_MEMORY_MB aborts; on a host with core dumps on it would write
    its whole address space to disk each time. Its core file limit is 0."""
    import psutil

    assert query(port_of(small_server), LIGHT).status == 200
    evaluators = [p for p in psutil.Process(small_server.process.pid).children(recursive=True)
                  if "sparql.workers" in " ".join(p.cmdline()) and "sparql.workers" in " ".join(p.parent().cmdline())]
    assert evaluators
    for evaluator in evaluators:
        assert evaluator.rlimit(psutil.RLIMIT_CORE) == (0, 0)


def test_empty_keeps_its_data_through_runaways_and_crashes():
    server = start_server(["--empty", "--update-token", TOKEN, "-s", "QUERY_TIMEOUT", str(LIMIT),
                           "-s", "QUERY_MEMORY_MB", "150"])
    port = port_of(server)
    try:
        auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/sparql-update"}
        assert request(port, "POST", "/sparql", body=b"INSERT DATA { <urn:a> <urn:b> 'kept' }",
                       headers=auth).status == 204
        values = " ".join(str(i) for i in range(100))
        cross = "SELECT (COUNT(*) AS ?n) WHERE { " + " ".join(f"VALUES ?v{i} {{ {values} }}" for i in range(6)) + " }"
        runaway = query(port, cross, timeout=60)
        assert runaway.status == 503 and runaway.headers.get("retry-after")
        blowup = "SELECT (STRLEN(GROUP_CONCAT(?s)) AS ?n) WHERE { " + " ".join(
            f"VALUES ?v{i} {{ {values} }}" for i in range(5)) + " BIND(STR(?v0) AS ?s) }"
        assert query(port, blowup, timeout=60).status == 503
        kept = query(port, "SELECT ?o WHERE { <urn:a> <urn:b> ?o }")
        assert kept.status == 200 and b"kept" in kept.body
        # and a write after the crash is seen by the next query (a fresh evaluator)
        assert request(port, "POST", "/sparql", body=b"INSERT DATA { <urn:a> <urn:b> 'later' }",
                       headers=auth).status == 204
        assert b"later" in query(port, "SELECT ?o WHERE { <urn:a> <urn:b> ?o }").body
    finally:
        stop_server(server)


def test_empty_runaway_updates_are_stopped_and_write_nothing():
    """An authorised update that evaluates patterns runs first in a forked copy of the data,
    under QUERY_MEMORY_MB and QUERY_TIMEOUT: a cross join that would grow the data process
    without bound (11 GB in 25 s found by hand, every query stalled) is stopped at the
    memory cap, one that would run forever at the time limit, both 503 naming the setting,
    nothing written; the data stays, queries are answered after, and an update within the
    limits is applied once."""
    server = start_server(["--empty", "--update-token", TOKEN, "-s", "QUERY_TIMEOUT", str(LIMIT),
                           "-s", "QUERY_MEMORY_MB", "150"])
    port = port_of(server)
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/sparql-update"}

    def update(text: str):
        return request(port, "POST", "/sparql", body=text.encode(), headers=auth, timeout=60)

    def count() -> int:
        answer = query(port, "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")
        assert answer.status == 200
        return int(json.loads(answer.body)["results"]["bindings"][0]["n"]["value"])

    try:
        data = " ".join(f"<urn:s{i}> <urn:p> {i} ." for i in range(300))
        assert update(f"INSERT DATA {{ {data} }}").status == 204
        blowup = update("INSERT { ?a <urn:q> ?f } WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }")
        assert blowup.status == 503 and b"QUERY_MEMORY_MB" in blowup.body, blowup.body
        started = time.monotonic()
        forever = update("INSERT { ?a <urn:q> 'x' } WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i "
                         "FILTER(STRLEN(CONCAT(STR(?c), STR(?f), STR(?i))) < 0) }")
        assert forever.status == 503 and b"QUERY_TIMEOUT" in forever.body, forever.body
        assert LIMIT - 0.5 < time.monotonic() - started < LIMIT + 3
        assert count() == 300
        assert update("INSERT { ?s <urn:even> true } WHERE { ?s <urn:p> ?n FILTER(?n < 10) }").status == 204
        assert update("DELETE WHERE { ?s <urn:even> ?x }").status == 204
        assert update("INSERT { ?s <urn:small> true } WHERE { ?s <urn:p> ?n FILTER(?n < 5) }").status == 204
        assert count() == 305
        assert update("INSERT { ?s <urn:bad> ?x } WHERE { ?s ?p ").status == 400
    finally:
        stop_server(server)


# ------------------------------------------------------------------- bench/attack.py

def test_bench_attack_runs_and_reports(tiny_build):
    """bench/attack.py as an operator runs it (a few of its attacks, short limits): each
    prints its figures, and they hold the rules — a malformed chunk is a 4xx, every deep
    nesting is answered below 500 with no process lost, one client's excess is 429 at once,
    and `--empty` keeps its data through runaway queries and updates and an entity bomb."""
    import subprocess
    import sys


    # two ports the system gave out, not port + 1 (which another socket may hold)
    done = subprocess.run([sys.executable, "bench/attack.py", "--build", str(tiny_build), "--port", str(free_port()),
                           "--empty-port", str(free_port()),
                           "--only", "chunked,nesting,share,empty", "-s", "QUERY_TIMEOUT", "3"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1].removeprefix("attack: "))
    assert results["chunked"]["status"].startswith("4") and results["chunked"]["after"] == 200
    assert results["nesting"]["failures"] == 0 and results["nesting"]["http_processes_lost"] == 0
    assert results["share"]["refused_429_within_1s"] >= 1
    empty = results["empty"]
    assert empty["data_kept"] and empty["http_processes_lost"] == 0
    assert empty["entities_status"] == 413
    assert empty["update_blowup_status"] == empty["update_runaway_status"] == 503
    assert empty["update_runaway_seconds_past_limit"] < 2


def test_cores_are_handed_to_one_waiter_at_a_time_in_turn_and_never_leak():
    """`_Cores` (QUERY_CPUS of one HTTP process): a freed core goes to the first waiter;
    a waiter past its deadline or whose client hung up leaves without taking one."""
    from bjkg.server.sparql.workers import _Cores

    cores = _Cores(1)
    cores.take(time.monotonic() + 1, None)  # free: at once
    assert cores.free == 0
    with pytest.raises(QueryTimedOut):  # the only core is taken
        cores.take(time.monotonic() + 0.05, None)
    order = []

    def wait(name: str) -> None:
        cores.take(time.monotonic() + 5, None)
        order.append(name)

    first = threading.Thread(target=wait, args=("first",))
    first.start()
    time.sleep(0.1)
    second = threading.Thread(target=wait, args=("second",))
    second.start()
    time.sleep(0.1)
    cores.release()  # to the first waiter only
    first.join(2)
    time.sleep(0.1)
    assert order == ["first"]
    cores.release()
    second.join(2)
    assert order == ["first", "second"]
    with pytest.raises(QueryTimedOut):
        cores.take(time.monotonic() + 0.1, None)
    gone = threading.Event()
    threading.Timer(0.1, gone.set).start()
    with pytest.raises(ClientGone):
        cores.take(time.monotonic() + 5, gone)
    cores.release()
    assert cores.free == 1  # the ones that left took nothing
    cores.take(time.monotonic() + 1, None)
    assert cores.free == 0


def test_a_long_query_gives_its_core_back_to_a_short_one(tiny_build):
    """With one core, a runaway holds it for _CORE_HOLD at most: a short query sent after it
    is answered while the runaway still runs (its evaluator not yet demoted)."""
    pool = QueryWorkerPool({"store": str(tiny_build / "store")}, 4, isolate_network=False, client_slots=4,
                           cores=1)
    try:
        pool.start()
        assert pool.cores is not None
        set_context(RequestContext())
        runaway = threading.Thread(target=lambda: _ignore(pool.run, QueryRequest(RUNAWAY, union_default_graph=True),
                                                           LIMIT), daemon=True)
        runaway.start()
        time.sleep(0.05)
        started = time.monotonic()
        assert pool.run(QueryRequest(LIGHT, union_default_graph=True), timeout=LIMIT).boolean is True
        assert time.monotonic() - started < 1.5 and runaway.is_alive()
    finally:
        set_context(None)
        pool.close()


def test_a_pool_with_a_core_gate_keeps_one_evaluator_per_core(tiny_build, monkeypatch):
    """With a core gate only `cores` queries evaluate at once for long, so the pool forks
    that many evaluators at start and retires the rest of a burst back to them: each
    evaluator holds its own copy of the store's caches (memory, issue #17)."""
    from bjkg.server.sparql import workers

    monkeypatch.setattr(workers, "_RETIRE_AFTER", 0.4)
    pool = QueryWorkerPool({"store": str(tiny_build / "store")}, 4, isolate_network=False, client_slots=4,
                           cores=1)
    try:
        pool.start()
        assert pool.keep == 1
        with pool._idle_cond:
            assert len(pool._idle) == 1 and pool._evaluators == 1
        taken = [pool._take(time.monotonic() + 10, None) for _ in range(3)]  # a burst of long queries
        for evaluator in taken:
            pool._put_back(evaluator)
        deadline = time.monotonic() + 5
        while len(pool._idle) > 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        with pool._idle_cond:
            assert len(pool._idle) == 1 and pool._evaluators == 1
        set_context(RequestContext(arrived=time.monotonic()))
        assert pool.run(QueryRequest(LIGHT, union_default_graph=True), timeout=LIMIT).boolean is True
    finally:
        set_context(None)
        pool.close()


def test_a_query_cancelled_while_its_evaluator_is_forked_keeps_no_slot_and_no_core(tiny_build, monkeypatch):
    """`run_async` forks an evaluator when none is idle; a request cancelled meanwhile (its
    task ended, as when the HTTP process stops) gives its query slot and its core back."""
    import asyncio

    pool = QueryWorkerPool({"store": str(tiny_build / "store")}, 4, isolate_network=False, client_slots=4,
                           cores=2)
    try:
        pool.start()
        busy = [pool._take(time.monotonic() + 10, None) for _ in range(pool.keep)]  # none idle now
        forking = threading.Event()
        slow_fork = pool._fork

        def fork():
            forking.set()
            time.sleep(0.5)
            return slow_fork()

        monkeypatch.setattr(pool, "_fork", fork)

        async def cancelled() -> None:
            context = RequestContext(arrived=time.monotonic())
            hung_up = asyncio.get_running_loop().create_future()
            task = asyncio.ensure_future(pool.run_async(QueryRequest(LIGHT, union_default_graph=True), LIMIT,
                                                        context, hung_up))
            for _ in range(500):
                if forking.is_set():
                    break
                await asyncio.sleep(0.01)
            assert forking.is_set(), "no fork: an evaluator was idle"
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.sleep(0.8)  # the fork ends; its evaluator goes to the idle ones

        asyncio.run(cancelled())
        assert pool.cores.free == 2
        assert pool.admission.running == 0
        for evaluator in busy:
            pool._put_back(evaluator)
        set_context(RequestContext(arrived=time.monotonic()))
        assert pool.run(QueryRequest(LIGHT, union_default_graph=True), timeout=LIMIT).boolean is True
    finally:
        set_context(None)
        pool.close()


def _ignore(function, *args) -> None:
    try:
        function(*args)
    except Exception:  # noqa: BLE001 - the runaway's own end (timed out, or the pool closed)
        pass


def _hung_up_before_the_answer(pool: QueryWorkerPool, text: str):
    """Run `text` through `run_async` for a client that has already hung up: the query is
    sent, and ClientGone raised before its answer is read."""
    import asyncio

    async def run() -> None:
        hung_up = asyncio.get_running_loop().create_future()
        hung_up.set_result(None)
        with pytest.raises(ClientGone):
            await pool.run_async(QueryRequest(text, union_default_graph=True), LIMIT,
                                 RequestContext(arrived=time.monotonic()), hung_up)

    asyncio.run(run())


def test_a_hung_up_query_that_ends_at_once_keeps_its_evaluator(tiny_build):
    """A client that leaves while its query is a few milliseconds from its answer costs no
    evaluator: the answer is dropped and the evaluator, its caches warm, serves the next
    query (a fresh one must open the store and warm its caches again)."""
    pool = QueryWorkerPool({"store": str(tiny_build / "store")}, 4, isolate_network=False, client_slots=4,
                           cores=1)
    try:
        pool.start()
        with pool._idle_cond:
            before = {e.pid for e in pool._idle}
        assert len(before) == 1
        _hung_up_before_the_answer(pool, LIGHT)
        assert pool.admission.running == 0 and pool.cores.free == 1  # nothing held meanwhile
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            with pool._idle_cond:
                if {e.pid for e in pool._idle} == before:
                    break
            time.sleep(0.02)
        with pool._idle_cond:
            assert {e.pid for e in pool._idle} == before and pool._evaluators == 1
        set_context(RequestContext(arrived=time.monotonic()))
        assert pool.run(QueryRequest(LIGHT, union_default_graph=True), timeout=LIMIT).boolean is True
    finally:
        set_context(None)
        pool.close()


def test_a_hung_up_runaway_is_ended_within_the_grace(tiny_build):
    """A query still running _DRAIN_GRACE after its client left is ended with its
    evaluator; its slot and core were free at once."""
    from bjkg.server.sparql import workers

    pool = QueryWorkerPool({"store": str(tiny_build / "store")}, 4, isolate_network=False, client_slots=4,
                           cores=1)
    try:
        pool.start()
        with pool._idle_cond:
            (evaluator,) = pool._idle
        _hung_up_before_the_answer(pool, RUNAWAY)
        left = time.monotonic()
        assert pool.admission.running == 0 and pool.cores.free == 1
        while not evaluator.conn.closed and time.monotonic() - left < workers._DRAIN_GRACE + 2:
            time.sleep(0.02)  # ended (killed) by the pool
        assert evaluator.conn.closed and time.monotonic() - left < workers._DRAIN_GRACE + 1.5
        with pool._idle_cond:
            assert evaluator not in pool._idle
        set_context(RequestContext(arrived=time.monotonic()))
        assert pool.run(QueryRequest(LIGHT, union_default_graph=True), timeout=LIMIT).boolean is True
    finally:
        set_context(None)
        pool.close()


def _given_back_after(pool: QueryWorkerPool, seconds: float):
    """Take the pool's one idle evaluator, as a query past its core hold holds it, and give
    it back after `seconds` (a thread)."""
    busy = pool._take(time.monotonic() + 10, None)
    threading.Timer(seconds, pool._put_back, args=(busy,)).start()
    return busy


def _light_query(pool: QueryWorkerPool, on_the_loop: bool):
    """LIGHT through the pool, arriving now: on an event loop (`run_async`, as the query lane
    runs it) or in this thread (`run`)."""
    import asyncio

    from bjkg.server.sparql.workers import WouldWait

    context = RequestContext(arrived=time.monotonic())
    if on_the_loop:
        async def light():
            hung_up = asyncio.get_running_loop().create_future()
            try:
                return await pool.run_async(QueryRequest(LIGHT, union_default_graph=True), LIMIT, context, hung_up)
            except WouldWait:  # as the query lane does: the threaded path waits by the same rules
                def threaded():
                    set_context(context)
                    return pool.run(QueryRequest(LIGHT, union_default_graph=True), timeout=LIMIT)

                return await asyncio.get_running_loop().run_in_executor(None, threaded)

        return asyncio.run(light())
    set_context(context)
    return pool.run(QueryRequest(LIGHT, union_default_graph=True), timeout=LIMIT)


@pytest.mark.parametrize("on_the_loop", [False, True])
def test_a_query_waits_briefly_for_a_busy_evaluator_before_one_more_is_forked(tiny_build, monkeypatch, on_the_loop):
    """With a core gate, a query past its core hold lets the next one start; most such
    queries end soon after, so the next waits up to _FORK_AFTER for their evaluator instead
    of forking one more (≈ 30 ms of CPU and tens of MB of caches each, issue #17)."""
    from bjkg.server.sparql import workers

    monkeypatch.setattr(workers, "_FORK_AFTER", 5.0)  # longer than the wait below: no fork is due
    pool = QueryWorkerPool({"store": str(tiny_build / "store")}, 4, isolate_network=False, client_slots=4,
                           cores=1)
    try:
        pool.start()
        busy = _given_back_after(pool, 0.3)
        started = time.monotonic()
        answer = _light_query(pool, on_the_loop)
        assert answer.boolean is True
        assert 0.25 <= time.monotonic() - started < 4.5  # answered by the evaluator given back
        with pool._idle_cond:
            assert pool._evaluators == 1 and [e.pid for e in pool._idle] == [busy.pid]
    finally:
        set_context(None)
        pool.close()


@pytest.mark.parametrize("on_the_loop", [False, True])
def test_a_query_behind_a_long_one_gets_an_evaluator_of_its_own_after_the_wait(tiny_build, monkeypatch, on_the_loop):
    """The wait is short: behind a query that goes on, the next one gets a new evaluator."""
    from bjkg.server.sparql import workers

    monkeypatch.setattr(workers, "_FORK_AFTER", 0.3)
    pool = QueryWorkerPool({"store": str(tiny_build / "store")}, 4, isolate_network=False, client_slots=4,
                           cores=1)
    try:
        pool.start()
        busy = pool._take(time.monotonic() + 10, None)  # never given back while the query runs
        started = time.monotonic()
        answer = _light_query(pool, on_the_loop)
        assert answer.boolean is True and time.monotonic() - started < 2.5
        with pool._idle_cond:
            assert pool._evaluators == 2 and busy.tid not in [e.tid for e in pool._idle]
        pool._put_back(busy)
    finally:
        set_context(None)
        pool.close()


def _runaway_in(pool: QueryWorkerPool):
    """RUNAWAY through `pool` in a thread, until its time limit; the evaluator it holds."""
    with pool._idle_cond:
        evaluator = pool._idle[-1]  # the one `_take_now` takes next

    def run() -> None:
        set_context(RequestContext(arrived=time.monotonic()))
        _ignore(pool.run, QueryRequest(RUNAWAY, union_default_graph=True), LIMIT)

    threading.Thread(target=run, daemon=True).start()
    deadline = time.monotonic() + 5
    while evaluator.cpu_at_start is None and time.monotonic() < deadline:  # until its query is sent
        time.sleep(0.002)
    return evaluator


@pytest.mark.parametrize("on_the_loop", [False, True])
def test_a_query_behind_one_the_cpu_slows_waits_for_it_rather_than_fork(tiny_build, monkeypatch, on_the_loop):
    """A busy evaluator whose query has used little CPU (more queries than cores, a busy
    host: here its CPU time reads as none) is waited for up to _FORK_WALL seconds: one more
    evaluator would not make the CPU faster and would hold tens of MB of the store's caches
    (issue #17: on a busy host the benchmark's families forked five evaluators, 705 MB)."""
    from bjkg.server.sparql import workers

    monkeypatch.setattr(workers, "_FORK_WALL", 1.5)
    pool = QueryWorkerPool({"store": str(tiny_build / "store")}, 4, isolate_network=False, client_slots=4,
                           cores=1)
    try:
        pool.start()
        monkeypatch.setattr(workers, "_cpu_seconds", lambda pid, tid=0: 0.0)  # it uses no CPU
        _runaway_in(pool)
        checked = []
        threading.Timer(0.8, lambda: checked.append(pool._evaluators)).start()
        started = time.monotonic()
        answer = _light_query(pool, on_the_loop)
        assert answer.boolean is True
        assert checked == [1]  # 0.8 s on, well past _FORK_AFTER: still the one evaluator
        assert 1.0 <= time.monotonic() - started < 2.9  # forked once the busy one passed _FORK_WALL
        with pool._idle_cond:
            assert pool._evaluators == 2
    finally:
        set_context(None)
        pool.close()


@pytest.mark.parametrize("on_the_loop", [False, True])
def test_a_query_behind_one_using_the_cpu_gets_an_evaluator_of_its_own(tiny_build, monkeypatch, on_the_loop):
    """Behind a query that has used _FORK_CPU of CPU (a runaway), the next one gets a new
    evaluator after _FORK_AFTER, long before _FORK_WALL."""
    from bjkg.server.sparql import workers

    monkeypatch.setattr(workers, "_FORK_WALL", 30.0)
    pool = QueryWorkerPool({"store": str(tiny_build / "store")}, 4, isolate_network=False, client_slots=4,
                           cores=1)
    try:
        pool.start()
        busy = _runaway_in(pool)
        started = time.monotonic()
        answer = _light_query(pool, on_the_loop)
        assert answer.boolean is True and time.monotonic() - started < 2.5  # before the runaway's limit
        with pool._idle_cond:
            assert pool._evaluators == 2 and busy.tid not in [e.tid for e in pool._idle]
    finally:
        set_context(None)
        pool.close()


@pytest.mark.parametrize("on_the_loop", [False, True])
def test_a_query_waiting_for_a_busy_evaluator_forks_at_once_when_that_one_ends(tiny_build, monkeypatch, on_the_loop):
    """The busy evaluator is ended instead of given back (its query timed out, or crashed):
    fewer than `keep` exist then, and the waiting query forks at once, not after the wait."""
    from bjkg.server.sparql import workers

    monkeypatch.setattr(workers, "_FORK_AFTER", 5.0)
    pool = QueryWorkerPool({"store": str(tiny_build / "store")}, 4, isolate_network=False, client_slots=4,
                           cores=1)
    try:
        pool.start()
        busy = pool._take(time.monotonic() + 10, None)
        threading.Timer(0.3, pool._replace, args=(busy,)).start()
        started = time.monotonic()
        answer = _light_query(pool, on_the_loop)
        assert answer.boolean is True and time.monotonic() - started < 2.5
        with pool._idle_cond:
            assert pool._evaluators == 1 and busy.tid not in [e.tid for e in pool._idle]
    finally:
        set_context(None)
        pool.close()


# ------------------------------------------------------------------ lanes (issue #17)

def _light_query_in(pool: QueryWorkerPool, on_the_loop: bool, context: RequestContext):
    """`_light_query` with a given request context (its `crashes` count)."""
    import asyncio

    from bjkg.server.sparql.workers import WouldWait

    def threaded():
        set_context(context)
        return pool.run(QueryRequest(LIGHT, union_default_graph=True), timeout=LIMIT)

    if on_the_loop:
        async def light():
            hung_up = asyncio.get_running_loop().create_future()
            try:
                return await pool.run_async(QueryRequest(LIGHT, union_default_graph=True), LIMIT, context, hung_up)
            except WouldWait:
                return await asyncio.get_running_loop().run_in_executor(None, threaded)

        return asyncio.run(light())
    return threaded()


@pytest.mark.parametrize("on_the_loop", [False, True])
def test_a_query_whose_evaluator_process_ends_under_it_is_sent_again_once(tiny_build, on_the_loop):
    """Lanes share a process, which ends for any of them (a query given up on, the memory
    cap): a query none of whose answer had come is sent again, once, to a new process; a
    second end is a 503 (WorkerCrashed)."""
    import os
    import signal

    from bjkg.server.sparql.workers import WorkerCrashed

    pool = QueryWorkerPool({"store": str(tiny_build / "store")}, 2, isolate_network=False, client_slots=2)
    try:
        pool.start()
        first = pool._idle[-1].pid
        os.kill(first, signal.SIGSTOP)  # the query waits in it…
        threading.Timer(0.3, os.kill, (first, signal.SIGKILL)).start()  # …which then ends
        context = RequestContext(arrived=time.monotonic())
        answer = _light_query_in(pool, on_the_loop, context)
        assert answer.boolean is True and context.crashes == 1
        assert {e.pid for e in pool._idle} - {first}, "answered in a new evaluator process"

        second = next(e.pid for e in pool._idle if e.pid != first)
        os.kill(second, signal.SIGSTOP)
        threading.Timer(0.3, os.kill, (second, signal.SIGKILL)).start()
        with pytest.raises(WorkerCrashed):  # its second end: not sent a third time
            _light_query_in(pool, on_the_loop, RequestContext(arrived=time.monotonic(), crashes=1))
    finally:
        set_context(None)
        pool.close()


def test_a_query_given_up_on_ends_its_lanes_process_and_the_other_lanes_answer_on(tiny_build):
    """Two lanes of one evaluator process: a runaway past its deadline is given up on (its
    lane closed) and its process ends (RUNAWAY never ends by itself); the other lane's
    queries are answered before, during and after, from a new process."""
    from bjkg.server.sparql.evaluate import QueryTimedOut

    pool = QueryWorkerPool({"store": str(tiny_build / "store")}, 2, isolate_network=False, client_slots=2)
    try:
        pool.start()
        assert len({e.pid for e in pool._idle}) == 1 and len({e.tid for e in pool._idle}) == 2
        host = pool._idle[0].pid
        failures: list = []

        def runaway() -> None:
            set_context(RequestContext(arrived=time.monotonic()))
            try:
                pool.run(QueryRequest(RUNAWAY, union_default_graph=True), timeout=1.0)
            except QueryTimedOut:
                return
            failures.append("the runaway was answered")

        thread = threading.Thread(target=runaway)
        thread.start()
        answered = 0
        until = time.monotonic() + 3.5  # the runaway's deadline (1 s) and its process's end
        while time.monotonic() < until:
            set_context(RequestContext(arrived=time.monotonic()))
            assert pool.run(QueryRequest(LIGHT, union_default_graph=True), timeout=LIMIT).boolean is True
            answered += 1
            time.sleep(0.01)
        thread.join()
        assert not failures and answered > 20
        import psutil

        assert not psutil.pid_exists(host) or psutil.Process(host).status() == psutil.STATUS_ZOMBIE, \
            "the process of the query given up on ended"
        assert host not in {e.pid for e in pool._idle}
    finally:
        set_context(None)
        pool.close()
