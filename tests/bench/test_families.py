"""The benchmark's query families and wrk's random draw: what makes the benchmark hard to game.

Families are drawn from the data itself (so they are aimed at IRIs, labels and predicates
that are there), are repeatable for a seed, vary from request to request, and run on the
engine; wrk's script sends one of a family's requests at random for every request, checked
against a small recording HTTP server.
"""
from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import threading
import urllib.parse
from pathlib import Path

import pyoxigraph as ox
import pytest

from bench import families, generate

ROOT = Path(__file__).resolve().parents[2]
LUA = ROOT / "bench" / "wrk" / "request.lua"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("families") / "data.nq"
    generate.write("10k", path, seed=7, ontology=ROOT / "ontology")
    s = ox.Store()
    s.bulk_load(path=str(path), format=ox.RdfFormat.N_QUADS)
    return s


@pytest.fixture(scope="module")
def drawn(store):
    return families.generate(store, count=200, seed=11)


def _ask(store, text: str) -> bool:
    return bool(store.query(text, use_default_graph_as_union=True))


def test_every_family_is_there_with_its_count_of_one_line_bodies(drawn):
    assert tuple(drawn) == families.NAMES
    for name, requests in drawn.items():
        assert len(requests) == 200
        for r in requests:
            body = r.body()
            assert "\n" not in body and "\r" not in body
            assert urllib.parse.parse_qs(body) == {"query": [r.query]}


def test_draws_repeat_for_a_seed_and_change_with_it(store, drawn):
    again = families.generate(store, count=200, seed=11)
    other = families.generate(store, count=200, seed=12)
    for name in families.NAMES:
        assert [r.query for r in again[name]] == [r.query for r in drawn[name]]
    assert any([r.query for r in other[n]] != [r.query for r in drawn[n]] for n in families.NAMES)


def test_requests_vary_so_no_single_text_dominates(drawn):
    for name, requests in drawn.items():
        texts = [r.query for r in requests]
        distinct = set(texts)
        assert len(distinct) >= 5, name  # 10k has only a handful of regions; other pools are larger
        assert max(texts.count(t) for t in distinct) < len(texts) / 2, name
    # the pools that are large even at 10k give many different texts
    for name in ("entity", "contains", "series", "group-by", "group-by-filtered"):
        assert len({r.query for r in drawn[name]}) >= 50, name


def test_parameters_come_from_the_data(store, drawn):
    for r in drawn["entity"][:40]:
        assert _ask(store, f"ASK {{ <{r.params['entity']}> ?p ?o }}")
    for r in drawn["inbound"][:40]:
        assert _ask(store, f"ASK {{ <{r.params['place']}> a <https://w3id.org/bjkg/ontology#Place> }}")
    for r in drawn["series"][:40]:
        assert _ask(store, f"ASK {{ ?o <{families.DIMENSIONS['indicator']}> <{r.params['indicator']}> ; "
                           f"<{families.DIMENSIONS['area']}> <{r.params['area']}> }}")
    for r in drawn["contains"][:40]:
        assert _ask(store, f"ASK {{ ?s <{families.RDFS_LABEL}> ?l FILTER(CONTAINS(?l, {families.literal(r.params['term'])})) }}")
    for r in drawn["group-by"][:40]:
        assert _ask(store, f"ASK {{ ?s <{r.params['predicate']}> ?o }}")
    for r in drawn["group-by-filtered"][:40]:
        assert r.params["group"] != r.params["where"]
        assert _ask(store, f"ASK {{ ?o <{families.DIMENSIONS[r.params['where']]}> <{r.params['value']}> }}")
    for r in drawn["join"][:40]:
        assert _ask(store, f"ASK {{ ?p <https://w3id.org/bjkg/ontology#within> <{r.params['region']}> }}")


def test_every_request_runs_and_most_find_something(store, drawn):
    for name, requests in drawn.items():
        rows = [len(list(store.query(r.query, use_default_graph_as_union=True))) for r in requests[:60]]
        assert sum(1 for n in rows if n) >= 0.9 * len(rows), (name, rows)


def test_hostile_labels_become_valid_literals():
    s = ox.Store()
    g = ox.NamedNode("https://example.org/g")
    label = ox.NamedNode(families.RDFS_LABEL)
    for i, text in enumerate(['say "hi"', "back\\slash", "two\nlines", "tab\there", "}) } ; DROP ALL #"]):
        s.add(ox.Quad(ox.NamedNode(f"https://example.org/s{i}"), label, ox.Literal(text), g))
    labels = families._column(s, f"SELECT DISTINCT ?l WHERE {{ ?s <{families.RDFS_LABEL}> ?l }}")
    import random

    rng = random.Random(3)
    for _ in range(200):
        term = families.search_term(rng, labels)
        found = list(s.query(f"SELECT ?s WHERE {{ ?s <{families.RDFS_LABEL}> ?l FILTER(CONTAINS(?l, "
                             f"{families.literal(term)})) }}", use_default_graph_as_union=True))
        assert found, term  # cut from a label, so it matches that label, whatever it holds


def test_iri_refuses_what_would_break_out_of_the_brackets():
    assert families.iri("https://example.org/a") == "<https://example.org/a>"
    for bad in ("https://example.org/a> } DROP ALL { <x", "a b", 'x"y'):
        with pytest.raises(ValueError):
            families.iri(bad)


def test_row_sample_is_fixed_and_spread():
    items = list(range(500))
    assert families.sample(items, 10) == list(range(0, 500, 50))
    assert families.sample(items[:3], 10) == [0, 1, 2]
    assert families.sample([], 10) == []


# ---------------------------------------------------------------- wrk's draw

class _Recorder(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list = []

    def _answer(self) -> None:
        body = b'{"head":{"vars":[]},"results":{"bindings":[]}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/sparql-results+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # noqa: N802 - the handler's protocol
        length = int(self.headers.get("Content-Length", "0"))
        self.seen.append(("POST", self.path, self.rfile.read(length).decode("ascii"),
                          self.headers.get("Content-Type")))
        self._answer()

    def do_GET(self):  # noqa: N802
        self.seen.append(("GET", self.path, self.headers.get("If-None-Match"), None))
        self._answer()

    def log_message(self, *args):
        pass


@pytest.fixture
def recorder():
    _Recorder.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Recorder.seen
    server.shutdown()
    server.server_close()


def _wrk(url: str, env: dict) -> str:
    done = subprocess.run(["wrk", "-t1", "-c2", "-d1s", "-s", str(LUA), url], capture_output=True, text=True,
                          env=dict(os.environ, **env), timeout=60)
    assert done.returncode == 0, done.stderr
    assert "BENCH_JSON" in done.stdout
    return done.stdout


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install -y wrk)")
def test_wrk_draws_a_listed_body_for_each_request(recorder, tmp_path, drawn):
    url, seen = recorder
    listing = tmp_path / "entity.post"
    bodies = [r.body() for r in drawn["entity"][:40]]
    listing.write_text("".join(b + "\n" for b in bodies), encoding="ascii")
    _wrk(url + "/sparql", {"BENCH_METHOD": "POST", "BENCH_REQUESTS": str(listing),
                           "BENCH_CTYPE": "application/x-www-form-urlencoded"})
    assert len(seen) > 40
    assert all(m == "POST" and p == "/sparql" and ct == "application/x-www-form-urlencoded" for m, p, _, ct in seen)
    sent = [b for _, _, b, _ in seen]
    assert set(sent) <= set(bodies)
    assert len(set(sent)) > len(set(bodies)) // 2  # drawn across the list, not one repeated
    assert sent[:20] != [sent[0]] * 20


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install -y wrk)")
def test_wrk_sends_each_listed_get_with_its_own_etag(recorder, tmp_path):
    url, seen = recorder
    listing = tmp_path / "x.get"
    pairs = {f"/sparql?query=q{i}": f'W/"tag-{i}"' for i in range(12)}
    listing.write_text("".join(f"{p}\t{t}\n" for p, t in pairs.items()) + "/sparql?query=bare\n", encoding="ascii")
    _wrk(url + "/sparql", {"BENCH_METHOD": "GET", "BENCH_REQUESTS": str(listing)})
    assert len(seen) > 12
    for method, path, etag, _ in seen:
        assert method == "GET"
        assert etag == pairs.get(path)  # the bare line sends none
    assert len({p for _, p, _, _ in seen}) > 6


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install -y wrk)")
def test_wrk_without_a_list_repeats_the_fixed_request(recorder, tmp_path):
    url, seen = recorder
    body = tmp_path / "body"
    body.write_text("query=ASK%7B%7D", encoding="ascii")
    _wrk(url + "/fixed", {"BENCH_METHOD": "POST", "BENCH_BODY": str(body)})
    assert seen and {(m, p, b) for m, p, b, _ in seen} == {("POST", "/fixed", "query=ASK%7B%7D")}
