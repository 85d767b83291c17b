"""`bjkg publish` and `bjkg serve --sparql-endpoint` against real stores.

Publication is tested against a scratch Virtuoso instance (both the Graph Store and the
SPARQL Update paths, twice, and with a graph removed between builds) and against a
writable bjkg server (bearer token). The store's own safety: its anonymous endpoint is
read-only, and a query that would make Virtuoso call out (``bif:http_get``) is refused
before it is sent — the positive control shows Virtuoso really would have called.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pyoxigraph
import pytest
from pyoxigraph import QueryResultsFormat, RdfFormat
from SPARQLWrapper import JSON, SPARQLWrapper

from bench import virtuoso as launcher
from bjkg.server.stores.publish import PublishError, publish, read_publication
from bjkg.server.sparql.client import Credentials, SparqlClient
from bjkg.server.stores.remote import RemoteStoreError
from tests.conftest import make_tiny_build
from tests.server.backends import PublishedStore, remote_app, require_virtuoso
from tests.server.conftest import BASE, ROOT, TOKEN, close_app, start_server, stop_server
from tests.server.test_safety import Listener

TONGZHOU = f"{BASE}id/place/tongzhou"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def scratch(tmp_path_factory, tiny_build):
    """A Virtuoso instance of this module's own, which its tests may rewrite."""
    require_virtuoso()
    instance = launcher.start(tmp_path_factory.mktemp("virtuoso-scratch"))
    try:
        yield PublishedStore(instance, tiny_build)
    finally:
        instance.stop()


def store_quads(client: SparqlClient, graphs) -> set[str]:
    """Every triple of `graphs` in the store, as N-Quads lines (pyoxigraph's canonical form)."""
    out = set()
    for graph in graphs:
        query = f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}"
        with client.query(query, accept="application/n-triples", deadline=_later(),
                          dataset=[("named-graph-uri", graph)]) as answer:
            for quad in pyoxigraph.parse(answer, format=RdfFormat.N_TRIPLES):
                out.add(str(pyoxigraph.Quad(quad.subject, quad.predicate, quad.object, pyoxigraph.NamedNode(graph))))
    return out


def build_quads(build: Path) -> set[str]:
    """The build's quads as its embedded store holds them (numbers in canonical form, as
    Virtuoso holds them too: the dump's ``5.0`` is ``5`` in both stores)."""
    store = pyoxigraph.Store.read_only(str(build / "store"))
    return {str(q) for q in store.quads_for_pattern(None, None, None, None)}


def _later(seconds: float = 60) -> float:
    import time

    return time.monotonic() + seconds


def _manifest(build: Path) -> dict:
    return json.loads((build / "build.json").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- publish

@pytest.mark.parametrize("graph_store", [True, False], ids=["graph-store-put", "sparql-update"])
def test_publishing_twice_leaves_exactly_the_build(scratch, graph_store):
    writer = scratch.writer(graph_store=graph_store)
    graphs = _manifest(scratch.build)["graphs"]
    first = publish(scratch.build, writer)
    after_first = store_quads(writer, graphs)
    second = publish(scratch.build, writer)
    after_second = store_quads(writer, graphs)
    assert first.method == second.method == ("gsp" if graph_store else "update")
    assert after_first == after_second == build_quads(scratch.build)
    assert read_publication(SparqlClient(scratch.sparql), BASE)["hash"] == _manifest(scratch.build)["hash"]


def test_a_graph_dropped_from_the_build_is_dropped_from_the_store(scratch, tmp_path):
    writer = scratch.writer()
    extra = tmp_path / "extra.trig"
    extra.write_text((ROOT / "tests" / "data" / "tiny.trig").read_text(encoding="utf-8")
                     + f"\n<{BASE}graph/extra> {{ <{BASE}id/x> <{BASE}ontology#note> \"x\" . }}\n",
                     encoding="utf-8")
    bigger = make_tiny_build(tmp_path / "bigger", trig=extra)
    publish(bigger, writer)
    assert f"{BASE}graph/extra" in read_publication(writer, BASE)["graphs"]
    assert store_quads(writer, [f"{BASE}graph/extra"])
    report = publish(scratch.build, writer)
    assert report.dropped == [f"{BASE}graph/extra"]
    assert not store_quads(writer, [f"{BASE}graph/extra"])
    assert store_quads(writer, _manifest(scratch.build)["graphs"]) == build_quads(scratch.build)


def test_publish_needs_credentials_and_says_so(scratch):
    anonymous = SparqlClient(scratch.sparql, update_url=scratch.sparql,
                             graph_store_url=scratch.instance.graph_store_url)
    with pytest.raises(Exception) as refused:
        publish(scratch.build, anonymous)
    assert "403" in str(refused.value) or "401" in str(refused.value)


def test_publish_refuses_a_folder_that_is_not_a_build(scratch, tmp_path):
    with pytest.raises(PublishError, match="bjkg build"):
        publish(tmp_path, scratch.writer())


def test_publish_command_line(scratch):
    user, password = scratch.instance.publisher
    done = subprocess.run(
        [sys.executable, "-m", "bjkg.server.cli", "publish", "--build", str(scratch.build),
         "--to", scratch.instance.sparql_auth_url, "--graph-store", scratch.instance.graph_store_auth_url,
         "--user", user], env={"PATH": "/usr/bin:/bin", "BJKG_PUBLISH_PASSWORD": password,
                               "PYTHONPATH": str(ROOT)},
        cwd=ROOT, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert b"published" in done.stdout and b"Graph Store PUT" in done.stdout
    assert password.encode() not in done.stdout + done.stderr


def test_publish_into_a_writable_bjkg_server(tiny_build):
    server = start_server(["--empty", "--update-token", TOKEN])
    try:
        for graph_store in (f"{server.url}/graph-store", None):
            client = SparqlClient(server.sparql, update_url=server.sparql, graph_store_url=graph_store,
                                  credentials=Credentials(token=TOKEN))
            publish(tiny_build, client)
            publish(tiny_build, client)
            assert store_quads(client, _manifest(tiny_build)["graphs"]) == build_quads(tiny_build)
    finally:
        stop_server(server)


# --------------------------------------------------------------------------- the store's safety

def test_the_stores_anonymous_endpoints_are_read_only(virtuoso_tiny):
    update = urllib.parse.urlencode({"update": "CLEAR ALL"}).encode()
    for url, data, method, headers in [
        (virtuoso_tiny.sparql, update, "POST", {"Content-Type": "application/x-www-form-urlencoded"}),
        (f"{virtuoso_tiny.instance.graph_store_url}?graph={urllib.parse.quote(f'{BASE}graph/reference')}",
         b"<http://a> <http://b> <http://c> .", "PUT", {"Content-Type": "text/turtle"}),
    ]:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(url, data=data, method=method, headers=headers),
                                   timeout=30)
        assert refused.value.code in (401, 403, 500)
    assert read_publication(SparqlClient(virtuoso_tiny.sparql), BASE)["hash"] == _manifest(virtuoso_tiny.build)["hash"]


def test_engine_functions_are_refused_before_virtuoso_can_call_out(virtuoso_tiny):
    listener = Listener()
    app = remote_app(virtuoso_tiny)
    try:
        query = f"SELECT (<bif:http_get>('{listener.url}x') AS ?x) WHERE {{}}"
        response = app.test_client().get("/sparql", query_string={"query": query})
        assert response.status_code == 400 and "bif:" in response.get_json()["error"]["message"]
        assert listener.settle() == 0
        # positive control: sent straight to Virtuoso, the same query does reach the network
        direct = f"{virtuoso_tiny.sparql}?{urllib.parse.urlencode({'query': query})}"
        try:
            urllib.request.urlopen(direct, timeout=30).read()
        except urllib.error.HTTPError:
            pass  # the listener closes the connection without an answer
        assert listener.settle() >= 1
    finally:
        listener.close()
        close_app(app)


# --------------------------------------------------------------------------- serving

def test_bjkg_serve_over_virtuoso_with_real_clients(virtuoso_tiny):
    server = start_server(["--sparql-endpoint", virtuoso_tiny.sparql, "--build", str(virtuoso_tiny.build)])
    try:
        sparql = SPARQLWrapper(server.sparql)
        sparql.setQuery(f"SELECT ?label WHERE {{ <{TONGZHOU}> <http://www.w3.org/2000/01/rdf-schema#label> ?label }}")
        sparql.setReturnFormat(JSON)
        labels = {b["label"]["value"] for b in sparql.queryAndConvert()["results"]["bindings"]}
        assert {"通州区", "通州區", "Tongzhou District"} <= labels
        with urllib.request.urlopen(f"{server.url}/search.json?q=tongzhou", timeout=30) as response:
            assert json.load(response)["results"][0]["iri"] == TONGZHOU
        with urllib.request.urlopen(f"{server.url}/dumps/bjkg.nq", timeout=30) as response:
            assert response.read() == (virtuoso_tiny.build / "bjkg.nq").read_bytes()
    finally:
        stop_server(server)


def test_serve_get_over_virtuoso_and_a_mismatched_build_is_refused(virtuoso_tiny, tmp_path):
    args = [sys.executable, "-m", "bjkg.server.cli", "serve", "--sparql-endpoint", virtuoso_tiny.sparql, "--get",
            "/sparql?query=" + urllib.parse.quote(f"ASK {{ <{TONGZHOU}> ?p ?o }}")]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["boolean"] is True
    other = tmp_path / "other"
    shutil.copytree(virtuoso_tiny.build, other, ignore=shutil.ignore_patterns("store"))
    make_tiny_build(other, trig=ROOT / "tests" / "data" / "tiny.trig", base="https://example.org/other/")
    with pytest.raises(RemoteStoreError, match="publish that build"):
        remote_app(PublishedStore(virtuoso_tiny.instance, other))
    done = subprocess.run(args[:4] + ["--sparql-endpoint", virtuoso_tiny.sparql, "--build", str(other),
                                      "--get", "/sparql"], cwd=ROOT, capture_output=True, timeout=120)
    assert done.returncode != 0 and b"publish that build" in done.stderr


def test_writes_through_bjkg_to_a_writable_store(scratch):
    user, password = scratch.instance.publisher
    app = remote_app(scratch, UPDATE_ENDPOINT=scratch.instance.sparql_auth_url,
                     GRAPH_STORE=scratch.instance.graph_store_auth_url, REMOTE_USER=user,
                     REMOTE_PASSWORD=password, UPDATE_TOKEN=TOKEN, BUILD_DIR="")
    try:
        client = app.test_client()
        graph = "http://example.org/written"
        update = f"INSERT DATA {{ GRAPH <{graph}> {{ <http://example.org/a> <http://example.org/b> \"c\" }} }}"
        assert client.post("/sparql", data=update, content_type="application/sparql-update").status_code == 401
        assert client.post("/sparql", data=update, content_type="application/sparql-update",
                           headers=AUTH).status_code == 204
        ask = client.get("/sparql", query_string={"query": f"ASK {{ GRAPH <{graph}> {{ ?s ?p 'c' }} }}"})
        assert ask.get_json()["boolean"] is True
        put = client.put(f"/graph-store?graph={graph}", data=b"<http://example.org/a> <http://example.org/b> 'd' .",
                         content_type="text/turtle", headers=AUTH)
        assert put.status_code in (201, 204)
        got = client.get(f"/graph-store?graph={graph}", headers={"Accept": "application/n-triples"})
        assert got.status_code == 200 and b'"d"' in got.data and b'"c"' not in got.data
        assert client.delete(f"/graph-store?graph={graph}", headers=AUTH).status_code == 204
        assert client.get(f"/graph-store?graph={graph}").status_code == 404
    finally:
        close_app(app)


def test_results_formats_over_virtuoso_match_the_embedded_store(virtuoso_tiny, tiny_build):
    from bjkg.server.app import create_app

    embedded = create_app({"BUILD_DIR": str(tiny_build), "TESTING": True})
    remote = remote_app(virtuoso_tiny)
    try:
        query = (f"SELECT ?p ?o WHERE {{ <{TONGZHOU}> ?p ?o }} ORDER BY ?p ?o")
        for accept, fmt in (("application/sparql-results+json", QueryResultsFormat.JSON),
                            ("application/sparql-results+xml", QueryResultsFormat.XML),
                            ("text/tab-separated-values", QueryResultsFormat.TSV)):
            answers = [list(pyoxigraph.parse_query_results(
                app.test_client().get("/sparql", query_string={"query": query}, headers={"Accept": accept}).data,
                fmt)) for app in (embedded, remote)]
            # the same terms (SPARQL leaves the order of differently tagged literals to the store)
            assert sorted([str(t) for t in row] for row in answers[0]) == \
                sorted([str(t) for t in row] for row in answers[1])
    finally:
        close_app(embedded)
        close_app(remote)
