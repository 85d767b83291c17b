"""SPARQL Update and the Graph Store HTTP Protocol: token-writable in-memory dataset, and the
read-only build where every write is refused and changes nothing."""
from __future__ import annotations

from urllib.parse import quote, urlencode

import pyoxigraph
import pytest
from pyoxigraph import QueryResultsFormat, RdfFormat

from bench.attack import entity_bomb
from tests.server.conftest import BASE, TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}
FORM = "application/x-www-form-urlencoded"
DC = "http://purl.org/dc/terms/"
FOAF = "http://xmlns.com/foaf/0.1/"
DATA1 = "http://kasei.us/2009/09/sparql/data/data1.rdf"
DATA2 = "http://kasei.us/2009/09/sparql/data/data2.rdf"


def update(client, text, *, params=None, headers=AUTH, direct=True):
    if direct:
        url = "/sparql" + ("?" + urlencode(params) if params else "")
        return client.post(url, data=text.encode("utf-8"), content_type="application/sparql-update",
                           headers=headers)
    return client.post("/sparql", data=urlencode([("update", text), *(params or [])]), content_type=FORM,
                       headers=headers)


def ask(client, text) -> bool:
    response = client.post("/sparql", data=text, content_type="application/sparql-query")
    assert response.status_code == 200, response.data
    return bool(pyoxigraph.parse_query_results(response.data, QueryResultsFormat.JSON))


def count(client, text="SELECT (COUNT(*) AS ?n) WHERE { { ?s ?p ?o } UNION { GRAPH ?g { ?s ?p ?o } } }") -> int:
    response = client.get("/sparql", query_string={"query": text})
    return int(next(iter(pyoxigraph.parse_query_results(response.data, QueryResultsFormat.JSON)))["n"].value)


# --------------------------------------------------------------------------- SPARQL Update

def test_update_via_post_direct_and_form(writable_client):
    assert update(writable_client, "INSERT DATA { <http://a> <http://b> 'c' }").status_code == 204
    assert ask(writable_client, "ASK { <http://a> <http://b> 'c' }")
    assert update(writable_client, "CLEAR ALL", direct=False).status_code == 204
    assert not ask(writable_client, "ASK { <http://a> <http://b> 'c' }")


def test_update_base_iri_is_the_dataset_base(writable_client):
    update(writable_client, "INSERT DATA { GRAPH <http://example.org/protocol-base-test/> "
                            "{ <http://example.org/s> <http://example.org/p> <test> } }")
    assert ask(writable_client, f"ASK {{ GRAPH ?g {{ ?s ?p <{BASE}test> }} }}")


@pytest.mark.parametrize("direct", [True, False])
def test_update_dataset_default_graphs(writable_client, direct):
    """W3C update-dataset-default-graph(s): using-graph-uri sets the WHERE clause's dataset."""
    text = (f"PREFIX dc: <{DC}> PREFIX foaf: <{FOAF}> CLEAR ALL ; "
            f"INSERT DATA {{ GRAPH <{DATA1}> {{ <{DATA1}> a foaf:Document }} "
            f"GRAPH <{DATA2}> {{ <{DATA2}> a foaf:Document }} }} ; "
            "INSERT { GRAPH <http://example.org/protocol-update-dataset-test/> { ?s a dc:BibliographicResource } } "
            "WHERE { ?s a foaf:Document }")
    response = update(writable_client, text, params=[("using-graph-uri", DATA1), ("using-graph-uri", DATA2)],
                      direct=direct)
    assert response.status_code == 204, response.data
    for doc in (DATA1, DATA2):
        assert ask(writable_client, "ASK { GRAPH <http://example.org/protocol-update-dataset-test/> "
                                    f"{{ <{doc}> a <{DC}BibliographicResource> }} }}")
    response = update(writable_client, text, params=[("using-graph-uri", DATA1)], direct=direct)
    assert response.status_code == 204
    assert not ask(writable_client, "ASK { GRAPH <http://example.org/protocol-update-dataset-test/> "
                                    f"{{ <{DATA2}> a <{DC}BibliographicResource> }} }}")


def test_update_dataset_named_graphs(writable_client):
    text = (f"CLEAR ALL ; INSERT DATA {{ GRAPH <{DATA1}> {{ <http://x> <http://y> 1 }} "
            f"GRAPH <{DATA2}> {{ <http://x> <http://y> 2 }} }} ; "
            "INSERT { GRAPH <http://out> { ?g <http://seen> true } } WHERE { GRAPH ?g { ?s ?p ?o } }")
    assert update(writable_client, text, params=[("using-named-graph-uri", DATA1)]).status_code == 204
    assert ask(writable_client, f"ASK {{ GRAPH <http://out> {{ <{DATA1}> <http://seen> true }} }}")
    assert not ask(writable_client, f"ASK {{ GRAPH <http://out> {{ <{DATA2}> <http://seen> true }} }}")


def test_bad_update_dataset_conflict(writable_client):
    text = (f"PREFIX foaf: <{FOAF}> WITH <http://example/addresses> "
            "DELETE { ?person foaf:givenName 'Bill' } INSERT { ?person foaf:givenName 'William' } "
            "WHERE { ?person foaf:givenName 'Bill' }")
    response = update(writable_client, text, params=[("using-named-graph-uri", "http://example/people")],
                      direct=False)
    assert response.status_code == 400
    assert "USING or WITH" in response.get_json()["error"]["message"]


def test_bad_update_syntax_changes_nothing(writable_client):
    update(writable_client, "INSERT DATA { <http://a> <http://b> 'c' }")
    response = update(writable_client, "CLEAR XYZ", direct=False)
    assert response.status_code == 400
    assert "syntax error" in response.get_json()["error"]["message"].lower()
    assert ask(writable_client, "ASK { <http://a> <http://b> 'c' }")


@pytest.mark.parametrize("text", [
    "DROP GRAPH <http://example.org/none>", "CLEAR GRAPH <http://example.org/none>",
    "MOVE <http://example.org/none> TO <http://example.org/other>",
    "CREATE GRAPH <http://example.org/made>",  # made below, first
    "INSERT DATA { <http://x> <http://y> 'z' } ; DROP GRAPH <http://example.org/none>"])
def test_an_update_that_fails_on_the_data_is_a_400_and_writes_nothing(writable_client, text):
    """DROP/CLEAR/MOVE of a graph that does not exist, CREATE of one that does (no SILENT):
    the update's fault, a 400 with the engine's reason (it was a 500); nothing is written,
    even by the operations before the failing one."""
    assert update(writable_client, "CREATE GRAPH <http://example.org/made>").status_code == 204
    before = count(writable_client)
    response = update(writable_client, text)
    assert response.status_code == 400, response.data
    assert "graph" in response.get_json()["error"]["message"]
    assert count(writable_client) == before
    assert not ask(writable_client, "ASK { <http://x> <http://y> 'z' }")
    assert update(writable_client, text.replace("DROP GRAPH", "DROP SILENT GRAPH").replace(
        "CLEAR GRAPH", "CLEAR SILENT GRAPH").replace("MOVE <", "MOVE SILENT <").replace(
        "CREATE GRAPH", "CREATE SILENT GRAPH")).status_code == 204


def test_bad_update_wrong_and_missing_media_types(writable_client):
    assert writable_client.post("/sparql", data="CLEAR NAMED", content_type="text/plain",
                                headers=AUTH).status_code == 415
    assert writable_client.post("/sparql", data=b"update=CLEAR%20NAMED", headers={**AUTH, "Content-Type": ""}
                                ).status_code == 415
    assert writable_client.post("/sparql", data=b"CLEAR NAMED", headers={**AUTH, "Content-Type": ""}
                                ).status_code == 415


def test_bad_update_non_utf8(writable_client):
    body = "CLEAR NAMED".encode("utf-16")
    assert writable_client.post("/sparql", data=body, content_type="application/sparql-update; charset=UTF-16",
                                headers=AUTH).status_code in (400, 415)
    assert writable_client.post("/sparql", data=body, content_type="application/sparql-update",
                                headers=AUTH).status_code == 400


def test_bad_multiple_updates_with_token(writable_client):
    response = writable_client.post("/sparql", data="update=CLEAR%20NAMED&update=CLEAR%20DEFAULT",
                                     content_type=FORM, headers=AUTH)
    assert response.status_code == 400


def test_query_sent_as_update(writable_client):
    assert update(writable_client, "ASK {}").status_code == 400


def test_load_is_refused_even_with_the_token(writable_client):
    response = update(writable_client, "LOAD <http://example.org/data.ttl>")
    assert response.status_code == 400
    assert "LOAD" in response.get_json()["error"]["message"]


def test_update_needs_the_bearer_token(writable_client):
    text = "INSERT DATA { <http://a> <http://b> 'unauthorised' }"
    missing = update(writable_client, text, headers={})
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert update(writable_client, text, headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert update(writable_client, text, headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    assert not ask(writable_client, "ASK { ?s ?p 'unauthorised' }")


def test_service_description_announces_update_when_writable(writable_client):
    response = writable_client.get("/sparql")
    assert b"SPARQL11Update" in response.data
    assert b"UnionDefaultGraph" not in response.data  # the in-memory dataset has a real default graph


# --------------------------------------------------------------------------- public mode

@pytest.mark.parametrize("text", ["CLEAR ALL", "DROP ALL", "INSERT DATA { <http://a> <http://b> 'c' }",
                                  "LOAD <http://example.org/x>"])
def test_public_mode_refuses_updates_and_changes_nothing(client, text):
    before = count(client)
    for headers in ({}, {"Authorization": "Bearer anything"}):
        direct = client.post("/sparql", data=text, content_type="application/sparql-update", headers=headers)
        form = client.post("/sparql", data=urlencode({"update": text}), content_type=FORM, headers=headers)
        assert direct.status_code == 403 and form.status_code == 403
        assert "read-only" in direct.get_json()["error"]["message"]
    assert count(client) == before


def test_public_mode_refuses_graph_store_writes(client):
    before = count(client)
    graph = f"{BASE}graph/reference"
    for method in ("put", "post", "delete"):
        response = getattr(client, method)(f"/graph-store?graph={graph}", data="<http://a> <http://b> <http://c> .",
                                           content_type="text/turtle")
        assert response.status_code == 403
    assert client.delete("/graph-store?default").status_code == 403
    assert count(client) == before


def test_update_token_without_empty_is_refused_at_startup(tiny_build):
    import click

    from bjkg.server.runtime.serve import run

    with pytest.raises(click.UsageError, match="--empty"):
        run(build_dir=str(tiny_build), update_token="t", get_path="/sparql")


# --------------------------------------------------------------------------- Graph Store Protocol

TURTLE = "@prefix ex: <http://example.org/> . ex:s ex:p ex:o1 , ex:o2 ."
G = "http://example.org/graph/one"


def gsp(client, method, query="", **kwargs):
    headers = {**AUTH, **kwargs.pop("headers", {})}
    return getattr(client, method)(f"/graph-store{query}", headers=headers, **kwargs)


def test_gsp_put_get_post_delete_a_named_graph(writable_client):
    assert gsp(writable_client, "get", f"?graph={G}").status_code == 404
    assert gsp(writable_client, "put", f"?graph={G}", data=TURTLE, content_type="text/turtle").status_code == 201
    assert gsp(writable_client, "put", f"?graph={G}", data=TURTLE, content_type="text/turtle").status_code == 204
    response = gsp(writable_client, "get", f"?graph={G}", headers={"Accept": "application/n-triples"})
    assert response.status_code == 200 and response.mimetype == "application/n-triples"
    assert len(list(pyoxigraph.parse(response.data, format=RdfFormat.N_TRIPLES))) == 2
    more = '[{"@id": "http://example.org/s", "http://example.org/p": [{"@id": "http://example.org/o3"}]}]'
    assert gsp(writable_client, "post", f"?graph={G}", data=more, content_type="application/ld+json").status_code == 204
    assert ask(writable_client, f"ASK {{ GRAPH <{G}> {{ <http://example.org/s> ?p <http://example.org/o3> }} }}")
    head = gsp(writable_client, "head", f"?graph={G}")
    assert head.status_code == 200 and head.data == b""
    assert gsp(writable_client, "put", f"?graph={G}", data='<http://example.org/x> <http://example.org/y> "1" .',
               content_type="application/n-triples").status_code == 204
    assert count(writable_client, f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{G}> {{ ?s ?p ?o }} }}") == 1
    assert gsp(writable_client, "delete", f"?graph={G}").status_code == 204
    assert gsp(writable_client, "get", f"?graph={G}").status_code == 404
    assert gsp(writable_client, "delete", f"?graph={G}").status_code == 404


def test_gsp_blank_nodes_of_each_body_are_its_own(writable_client):
    """RDF 1.1 Semantics §5.2: merging documents keeps their blank nodes apart. Two bodies
    that both write `_:x` (POSTed to one graph, PUT to another) describe two nodes; the
    labels a body was written with are not kept."""
    graph, other = "http://example.org/graph/bn", "http://example.org/graph/bn2"
    put = gsp(writable_client, "put", f"?graph={graph}", data='_:x <http://a/p> "1" .', content_type="text/turtle")
    assert put.status_code == 201
    for _ in range(2):
        assert gsp(writable_client, "post", f"?graph={graph}", data='_:x <http://a/q> "2" .',
                   content_type="text/turtle").status_code == 204
    assert gsp(writable_client, "put", f"?graph={other}", data='{"@id": "_:x", "http://a/p": "1"}',
               content_type="application/ld+json").status_code == 201
    assert count(writable_client, f"SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}") == 3
    assert count(writable_client, f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} "
                                  f"GRAPH <{other}> {{ ?s ?p2 ?o2 }} }}") == 0
    # within one body, one label is one node
    assert gsp(writable_client, "put", f"?graph={other}", data='_:y <http://a/p> "1" ; <http://a/q> "2" .',
               content_type="text/turtle").status_code == 204
    assert count(writable_client, f"SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE {{ GRAPH <{other}> {{ ?s ?p ?o }} }}") == 1


def test_gsp_refuses_plain_json_and_does_not_offer_it(writable_client):
    refused = gsp(writable_client, "put", f"?graph={G}", data="{}", content_type="application/json")
    assert refused.status_code == 415
    offered = refused.get_json()["error"]["message"].split("one of:")[1].split("(got")[0]
    assert "application/ld+json" in offered and "application/json" not in offered.replace("application/ld+json", "")


def test_an_answer_a_format_cannot_carry_is_406_not_500(writable_client):
    """An RDF 1.2 triple term (from a reifier written <<…>>) has no JSON-LD form in the
    engine: asking for JSON-LD is refused with 406 naming formats that carry it."""
    graph = "http://example.org/graph/star"
    body = '<< <http://a/b> <http://a/c> <http://a/d> >> <http://a/c> "x" .'
    assert gsp(writable_client, "put", f"?graph={graph}", data=body, content_type="text/turtle").status_code == 201
    refused = gsp(writable_client, "get", f"?graph={graph}", headers={"Accept": "application/ld+json"})
    assert refused.status_code == 406 and "Turtle" in refused.get_json()["error"]["message"]
    construct = writable_client.get("/sparql?query=" + quote(f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}"),
                                    headers={"Accept": "application/ld+json"})
    assert construct.status_code == 406
    turtle = gsp(writable_client, "get", f"?graph={graph}", headers={"Accept": "text/turtle"})
    assert turtle.status_code == 200


def test_gsp_conditional_writes(writable_client):
    """If-None-Match: * creates only; If-Match: * replaces only; a named tag never matches a
    store that issues none (RFC 9110 §13.1.1–2): 412 and nothing written."""
    graph = "http://example.org/graph/conditional"
    first, second = "<http://a/s> <http://a/p> 1 .", "<http://a/s> <http://a/p> 2 ."

    def put(body, **headers):
        return gsp(writable_client, "put", f"?graph={graph}", data=body, content_type="text/turtle",
                   headers=headers).status_code

    def value():
        return count(writable_client, f"SELECT (SUM(?o) AS ?n) WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}")

    assert put(first, **{"If-Match": "*"}) == 412  # nothing to replace
    assert put(first, **{"If-None-Match": "*"}) == 201
    assert put(second, **{"If-None-Match": "*"}) == 412 and value() == 1  # exists: not overwritten
    assert put(second, **{"If-Match": '"nope"'}) == 412 and value() == 1
    assert put(second, **{"If-Match": "*"}) == 204 and value() == 2
    assert gsp(writable_client, "delete", f"?graph={graph}", headers={"If-Match": '"nope"'}).status_code == 412
    assert gsp(writable_client, "delete", f"?graph={graph}").status_code == 204


def test_gsp_default_graph(writable_client):
    assert gsp(writable_client, "put", "?default", data=TURTLE, content_type="text/turtle").status_code in (201, 204)
    response = gsp(writable_client, "get", "?default", headers={"Accept": "text/turtle"})
    assert len(list(pyoxigraph.parse(response.data, format=RdfFormat.TURTLE))) == 2
    assert ask(writable_client, "ASK { <http://example.org/s> <http://example.org/p> <http://example.org/o1> }")
    assert gsp(writable_client, "delete", "?default").status_code == 204
    assert not ask(writable_client, "ASK { ?s ?p ?o }")


def test_gsp_post_to_the_store_creates_a_graph(writable_client):
    response = gsp(writable_client, "post", "", data=TURTLE, content_type="text/turtle")
    assert response.status_code == 201
    location = response.headers["Location"]
    assert "/graph-store?graph=" in location
    root = writable_client.application.config.get("PUBLIC_URL") or writable_client.application.config["BASE_IRI"]
    assert location.startswith(root)  # PUBLIC_URL (else BASE_IRI), never the request's Host
    fetched = writable_client.get("/" + location[len(root):])
    assert fetched.status_code == 200


def test_gsp_bad_requests_change_nothing(writable_client):
    gsp(writable_client, "put", f"?graph={G}", data=TURTLE, content_type="text/turtle")
    assert gsp(writable_client, "put", f"?graph={G}", data="this is not turtle", content_type="text/turtle").status_code == 400
    assert gsp(writable_client, "put", f"?graph={G}", data=TURTLE, content_type="text/plain").status_code == 415
    assert gsp(writable_client, "put", f"?graph={G}", data=TURTLE).status_code == 415
    assert gsp(writable_client, "put", f"?graph={G}&default", data=TURTLE, content_type="text/turtle").status_code == 400
    assert gsp(writable_client, "put", "?graph=not%20an%20iri", data=TURTLE, content_type="text/turtle").status_code == 400
    trig = "<http://g> { <http://a> <http://b> <http://c> }"
    assert gsp(writable_client, "put", f"?graph={G}", data=trig, content_type="application/trig").status_code == 400
    assert count(writable_client, f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{G}> {{ ?s ?p ?o }} }}") == 2
    assert gsp(writable_client, "patch", f"?graph={G}", data=TURTLE, content_type="text/turtle").status_code == 405


def test_gsp_rdf_xml_entities_are_expanded_within_max_body_bytes(writable_client):
    """pyoxigraph expands an RDF/XML body's internal entities in full: 1.5 KB nested nine
    levels ("billion laughs") became 3 GB in the HTTP process, which died with every request
    it held. A body whose entities expand past MAX_BODY_BYTES (10 MB) is refused with 413
    before it is parsed, and nothing is written; one that uses entities for its namespaces,
    as OWL tools write them, is loaded with them expanded."""
    big = entity_bomb(6)  # 30 MB expanded, from 500 bytes
    response = gsp(writable_client, "put", f"?graph={G}", data=big, content_type="application/rdf+xml")
    assert response.status_code == 413
    assert "MAX_BODY_BYTES" in response.get_json()["error"]["message"]
    assert writable_client.get(f"/graph-store?graph={G}").status_code == 404
    cycle = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "&b;"><!ENTITY b "x&a;">]>'
             '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
             'rdf:about="http://example.org/s"><rdf:value>&a;</rdf:value></rdf:Description></rdf:RDF>')
    assert gsp(writable_client, "put", f"?graph={G}", data=cycle, content_type="application/rdf+xml").status_code == 413
    owl = ('<?xml version="1.0"?>\n<!DOCTYPE rdf:RDF [\n <!ENTITY ex "http://example.org/">\n'
           ' <!ENTITY rdf "http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n]>\n'
           '<rdf:RDF xmlns:rdf="&rdf;" xmlns:ex="&ex;"><rdf:Description rdf:about="&ex;s">'
           '<ex:p rdf:resource="&ex;o"/></rdf:Description></rdf:RDF>')
    assert gsp(writable_client, "put", f"?graph={G}", data=owl, content_type="application/rdf+xml").status_code == 201
    assert ask(writable_client, f"ASK {{ GRAPH <{G}> {{ <http://example.org/s> <http://example.org/p> <http://example.org/o> }} }}")
    assert gsp(writable_client, "put", f"?graph={G}", data=entity_bomb(3), content_type="application/rdf+xml").status_code == 204


def test_gsp_get_refuses_rdf_xml_for_a_graph_it_cannot_write(writable_client):
    """A predicate with no XML local name cannot be an RDF/XML element: 406 naming it (it
    was a 200 with an element named `prefix:`), while Turtle answers."""
    data = "<http://example.org/s> <http://example.org/1> \"x\" ."
    assert gsp(writable_client, "put", f"?graph={G}", data=data, content_type="text/turtle").status_code == 201
    refused = gsp(writable_client, "get", f"?graph={G}", headers={"Accept": "application/rdf+xml"})
    assert refused.status_code == 406 and "local name" in refused.get_json()["error"]["message"]
    answered = gsp(writable_client, "get", f"?graph={G}", headers={"Accept": "text/turtle"})
    assert answered.status_code == 200 and b"example.org/1" in answered.data


def test_gsp_writes_need_the_token(writable_client):
    for headers, status in (({"Authorization": ""}, 401), ({"Authorization": "Bearer nope"}, 403)):
        response = writable_client.put(f"/graph-store?graph={G}", data=TURTLE, content_type="text/turtle",
                                       headers=headers)
        assert response.status_code == status
    assert writable_client.get(f"/graph-store?graph={G}").status_code == 404


def test_gsp_reads_a_build(client, tiny_build):
    import json

    manifest = json.loads((tiny_build / "build.json").read_text())
    graph = f"{BASE}graph/reference"
    response = client.get(f"/graph-store?graph={graph}", headers={"Accept": "application/n-triples"})
    assert response.status_code == 200
    assert len(list(pyoxigraph.parse(response.data, format=RdfFormat.N_TRIPLES))) == manifest["graphs"][graph]
    union = client.get("/graph-store?default", headers={"Accept": "application/n-quads"})
    assert len(set(pyoxigraph.parse(union.data, format=RdfFormat.N_QUADS))) <= manifest["triples"]
    assert client.get("/graph-store?graph=http://example.org/nope").status_code == 404
    assert client.get("/graph-store").status_code == 400
