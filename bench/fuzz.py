"""A bounded fuzz of a running bjkg server: random malformed requests, no 5xx allowed.

    python bench/fuzz.py http://127.0.0.1:8200 [--requests 10000] [--seed 1] [--token T]

With --token (a writable server: --empty, or a remote store with writes), a fifth of the
requests carry it, so updates and Graph Store writes are parsed and applied too.

Sends `--requests` requests (random methods, paths, query strings with arbitrary unicode and
raw percent-encoding, negotiation and conditional headers, bodies, and SPARQL nested
thousands of levels deep) over plain HTTP/1.1 connections, one at a time, and counts the
answers by status. Every answer must be a 4xx or a 2xx/3xx: it exits 1 on any 5xx (except
503 for a query stopped at its time limit), on a dropped connection, or if the server stops
answering (a crashed worker shows as one of these). The same seed sends the same requests.
`tests/server/test_fuzz.py` runs it with a small count against `bjkg serve`.
"""
from __future__ import annotations

import argparse
import http.client
import random
import sys
import time
from collections import Counter
from urllib.parse import quote, urlsplit

PATHS = ["/", "/sparql", "/graph-store", "/search", "/search.json", "/index.json", "/class",
         "/class.json", "/ontology", "/ontology.ttl", "/ontology.json", "/shapes", "/shapes.ttl",
         "/validation.ttl", "/dumps/bjkg.nq", "/dumps/bjkg.trig", "/dumps/SHA256SUMS",
         "/.well-known/void", "/.well-known/void.ttl", "/-/settings", "/-/settings.json",
         "/id/place/tongzhou", "/id/place/tongzhou.ttl", "/id/", "/graph/reference", "/resource",
         "/-/locator-map.svg", "/static/js/editor.js", "/static/css/site.css", "/nope"]
PARAMS = ["query", "update", "format", "output", "default-graph-uri", "named-graph-uri",
          "using-graph-uri", "graph", "default", "q", "page", "lang", "iri", "class", "version",
          "limit", "callback"]
ACCEPTS = ["text/html", "application/json", "application/sparql-results+json", "text/turtle",
           "application/ld+json", "*/*", "text/*", "application/rdf+xml", "text/csv",
           "application/n-quads", "image/png", "", "*", "text/html;q=abc", "a/b;q=0",
           "text/turtle;q=nan", ";;;,,,", "application/json; q=1e999", "\u00e9/\u00e9"]
CONTENT_TYPES = ["application/sparql-query", "application/sparql-update",
                 "application/x-www-form-urlencoded", "text/turtle", "application/ld+json",
                 "application/n-triples", "multipart/form-data", "multipart/form-data; boundary=x",
                 "text/plain; charset=latin-1", "application/sparql-query; charset=utf-16",
                 "application/x-www-form-urlencoded; charset=\u00ff", "", "garbage", ";"]
SPARQL = ["SELECT * WHERE { ?s ?p ?o } LIMIT 1", "ASK {}", "CONSTRUCT WHERE { ?s ?p ?o } LIMIT 2",
          "DESCRIBE <https://w3id.org/bjkg/id/place/tongzhou>", "SELECT (COUNT(*) AS ?n) { ?s ?p ?o }",
          "INSERT DATA { <a> <b> <c> }", "LOAD <http://127.0.0.1:9/>", "SELECT * WHERE { ?s ?p",
          "SELECT * { SERVICE <http://127.0.0.1:9/> { ?s ?p ?o } }", "PREFIX : <x> SELECT",
          "SELECT * WHERE { ?s ?p ?o } LIMIT 99999999999999999999999999", "\u00b2", "\u0663",
          "SELECT * WHERE { ?s ?p ?o FILTER(?o = \"\\uD800\") }", "SELECT * { <\\UFFFFFFFF> ?p ?o }",
          "SELECT (<urn:f>(?s) AS ?x) { ?s ?p ?o } LIMIT 1", "ASK { FILTER(<http://www.w3.org/2005/xpath-functions#upper-case>('a')) }"]


RDF = ['<http://e/s> <http://e/p> "o" .', '@prefix : <http://e/> . :s :p [ :q ( 1 2 3 ) ] .',
       '<http://e/s> <http://e/p> "\\uD800" .', '<s> <p> <o> .', '{"@context": "http://127.0.0.1:9/ctx", "@id": "x"}',
       '{"@id": "http://e/s", "http://e/p": {"@value": 1, "@type": "\u00b2"}}', '[{"@graph": 5}]',
       '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="&x;"/></rdf:RDF>',
       '<!DOCTYPE x [<!ENTITY e SYSTEM "http://127.0.0.1:9/">]><x>&e;</x>', "GRAPH <g> { <a> <b> <c> }",
       "<< <a> <b> <c> >> <p> <o> .", "_:b <p> _:b .", "\u0000", ""]
UPDATES = ["INSERT DATA { <http://e/s> <http://e/p> 1 }", "DELETE WHERE { ?s ?p ?o }", "CLEAR ALL",
           "DROP GRAPH <http://e/g>", "CREATE GRAPH <http://e/g>", "COPY DEFAULT TO <http://e/g>",
           "INSERT { ?s ?p ?o } WHERE { ?s ?p ?o }", "WITH <http://e/g> DELETE { ?s ?p ?o } WHERE { ?s ?p ?o }",
           "INSERT DATA { GRAPH <http://e/g> { <http://e/s> <http://e/p> \"\u00b2\" } }", "MOVE <x> TO <y>",
           "LOAD <http://127.0.0.1:9/x.ttl> INTO GRAPH <http://e/g>", "INSERT DATA { <a> <b> <c> } ; ;"]


def deep(rng: random.Random) -> str:
    """A query nested 3,000-20,000 levels deep in one of the ways that overflow the parser."""
    n = rng.randint(3000, 20000)
    return rng.choice([
        "SELECT * WHERE " + "{" * n + "}" * n,
        "SELECT * WHERE { FILTER(" + "(" * n + "1" + ")" * n + ") }",
        "SELECT * WHERE { ?s " + "(" * n + "<p>" + ")" * n + " ?o }",
        "SELECT * WHERE { FILTER(" + "!" * n + "true) }",
        "SELECT * WHERE { ?s ?p ?o " + "OPTIONAL { ?s ?p ?o " * n + "}" * n + " }",
        "SELECT * WHERE { ?s ?p ?o FILTER(" + " || ".join(["?o"] * n) + ") }",
        "SELECT * WHERE { " + " UNION ".join(["{?s ?p ?o}"] * n) + " }",
        "INSERT { <a> <b> <c> } WHERE " + "{" * n + "}" * n,
    ])


def text(rng: random.Random, size: int = 12) -> str:
    """Arbitrary unicode (surrogates and controls included), or a SPARQL snippet."""
    roll = rng.random()
    if roll < 0.3:
        return rng.choice(SPARQL)
    if roll < 0.35:
        return deep(rng)
    alphabet = rng.choice([(0x20, 0x7E), (0, 0x1F), (0x80, 0x2FF), (0x4E00, 0x4E80), (0xD800, 0xDFFF),
                           (0x0660, 0x0669), (0xFF00, 0xFFFF), (0x10000, 0x10FFFF)])
    return "".join(chr(rng.randint(*alphabet)) for _ in range(rng.randint(0, size)))


def encode(rng: random.Random, value: str) -> str:
    """Percent-encode `value`, or send raw and broken escapes (%, %G1, %FF, %C2)."""
    encoded = quote(value.encode("utf-8", "surrogatepass"), safe="")
    if rng.random() < 0.2:
        encoded += rng.choice(["%", "%G1", "%FF", "%C2", "%ED%A0%80", "+", "&&", "=", ";"])
    return encoded


def request(rng: random.Random, token: str | None = None) -> tuple[str, str, dict[str, str], bytes]:
    """(method, target, headers, body) of one random request."""
    method = rng.choice(["GET", "GET", "GET", "POST", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"])
    path = rng.choice(PATHS)
    if rng.random() < 0.4:  # the protocol endpoints take most of the hostile input
        path = rng.choice(["/sparql", "/sparql", "/graph-store"])
    if rng.random() < 0.2:
        path += encode(rng, text(rng))
    pairs = [(rng.choice(PARAMS) if rng.random() < 0.8 else text(rng, 4), text(rng))
             for _ in range(rng.randint(0, 3))]
    if path == "/graph-store" and rng.random() < 0.7:
        pairs.append(rng.choice([("default", ""), ("graph", "http://e/g"), ("graph", text(rng))]))
    query = "&".join(f"{encode(rng, k)}={encode(rng, v)}" if rng.random() < 0.9 else encode(rng, k)
                     for k, v in pairs)
    headers = {}
    for name, choices in (("Accept", ACCEPTS), ("Content-Type", CONTENT_TYPES)):
        if rng.random() < 0.6:
            headers[name] = rng.choice(choices)
    for name, values in (("Accept-Language", ["zh-Hant", "en;q=0.5, zh", "*", "x-\u00e9", "q=;"]),
                         ("Range", ["bytes=0-10", "bytes=-5", "bytes=5-1", "bytes=a-b", "lines=1-2"]),
                         ("If-None-Match", ['W/"x"', "*", '"', "W/"]),
                         ("If-Modified-Since", ["yesterday", "Sun, 06 Nov 1994 08:49:37 GMT"]),
                         ("Authorization", ["Bearer x", "Basic !!", "Bearer"])):
        if rng.random() < 0.15:
            headers[name] = rng.choice(values)
    body = b""
    if method in ("POST", "PUT", "PATCH") or rng.random() < 0.05:
        roll = rng.random()
        if roll < 0.2:
            body = rng.choice(RDF + UPDATES + SPARQL).encode("utf-8", "surrogatepass")
        elif roll < 0.5:
            key = rng.choice(["query", "update", "x"])
            value = rng.choice(UPDATES) if key == "update" and rng.random() < 0.5 else text(rng, 40)
            body = f"{key}={encode(rng, value)}".encode("ascii")
        else:
            body = text(rng, 60).encode("utf-8", "surrogatepass")
            if rng.random() < 0.2:
                body += bytes(rng.randint(0, 255) for _ in range(rng.randint(1, 20)))
    if token and rng.random() < 0.2:
        headers["Authorization"] = f"Bearer {token}"
    # http.client sends header values as latin-1: keep what it can encode
    headers = {k: v.encode("utf-8").decode("latin-1") for k, v in headers.items()}
    return method, path + ("?" + query if query else ""), headers, body


SLOW = 5.0  # seconds; a request slower than this is reported on stderr
REQUEST_LINE_LIMIT = 8190  # gunicorn answers a longer request line with 4xx and closes at once


def alive(host: str, port: int, timeout: float) -> bool:
    """Whether the server still answers a plain query (after a connection it dropped)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", "/sparql?query=ASK%7B%7D")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def fuzz(url: str, requests: int, seed: int = 1, timeout: float = 60.0,
           token: str | None = None) -> tuple[Counter, list[str]]:
    """Send the requests; (statuses counted, failures described).

    A kept-alive connection the server has closed (after refusing a request without
    reading its body, or to give its place to another client) is reopened and the request
    sent again, as any HTTP client does; only a request that gets no answer on a fresh
    connection is a failure."""
    rng = random.Random(seed)
    parts = urlsplit(url)
    statuses: Counter = Counter()
    failures: list[str] = []
    conn, used = None, 0
    for number in range(requests):
        method, target, headers, body = request(rng, token)
        for attempt in (1, 2):
            if conn is None:
                conn, used = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout), 0
            try:
                sent = time.monotonic()
                conn.request(method, target, body=body or None, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                if time.monotonic() - sent > SLOW:
                    print(f"slow: #{number} {time.monotonic() - sent:.1f} s {method} {target[:300]!r} "
                          f"{body[:300]!r} -> {response.status}", file=sys.stderr)
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn, fresh = None, used == 0
                if fresh or attempt == 2:
                    if len(target) > REQUEST_LINE_LIMIT and isinstance(exc, BrokenPipeError) \
                            and alive(parts.hostname, parts.port, timeout):
                        statuses["refused while sending"] += 1  # gunicorn's 4xx for a long request line
                    else:
                        failures.append(f"#{number} {method} {target[:200]!r}: no answer ({exc!r})")
                    break
                continue
            used += 1
            status = response.status
            statuses[status] += 1
            if status >= 500 and status != 503:
                failures.append(f"#{number} {method} {target[:200]!r} {headers} -> {status}: {payload[:300]!r}")
            if response.will_close:
                conn.close()
                conn = None
            break
    if conn is not None:
        conn.close()
    return statuses, failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--token", default=None, help="the server's update token (writes too)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    statuses, failures = fuzz(args.url, args.requests, args.seed, token=args.token)
    for line in failures[:50]:
        print(line)
    print(f"fuzz: {args.requests} requests in {time.monotonic() - started:.1f} s; statuses "
          f"{dict(sorted(statuses.items(), key=str))}; {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
