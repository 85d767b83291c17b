"""Unit tests of the one content negotiation (bjkg.server.core.conneg): pure functions, no app."""
from __future__ import annotations

import pytest

from bjkg.server.core.conneg import (HTML, NotAcceptable, choose, format_by_name, negotiate, parse_accept,
                           rdf_format, rdf_input_format, response_mimetype, results_format,
                           RDF_FORMATS, RESULT_FORMATS)

OFFERS = ["application/sparql-results+json", "application/sparql-results+xml", "text/csv"]


def test_parse_accept_reads_q_values_and_skips_garbage():
    ranges = parse_accept("text/html;q=0.5, application/json, garbage, */*;q=0.1, text/csv;q=oops")
    assert [(r.type, r.subtype, r.q) for r in ranges] == [
        ("text", "html", 0.5), ("application", "json", 1.0), ("*", "*", 0.1), ("text", "csv", 1.0)]


def test_missing_or_empty_accept_gives_the_default():
    assert choose(None, OFFERS) == OFFERS[0]
    assert choose("", OFFERS, default="text/csv") == "text/csv"


def test_highest_q_wins():
    assert negotiate("application/sparql-results+json;q=0.5, text/csv", OFFERS) == "text/csv"


def test_ties_go_to_the_servers_order():
    assert negotiate("text/csv, application/sparql-results+xml", OFFERS) == "application/sparql-results+xml"


def test_wildcards_match_with_their_own_q():
    assert negotiate("text/*", OFFERS) == "text/csv"
    assert negotiate("*/*", OFFERS) == OFFERS[0]
    assert negotiate("*/*", OFFERS, default="text/csv") == "text/csv"


def test_most_specific_range_sets_the_q():
    # text/csv is excluded explicitly even though text/* would allow it
    assert choose("text/*;q=0.9, text/csv;q=0", ["text/csv"]) is None
    assert negotiate("application/*;q=0.2, application/sparql-results+xml;q=0.8, */*;q=0.1",
                     OFFERS) == "application/sparql-results+xml"


def test_q_zero_excludes():
    assert negotiate("application/sparql-results+json;q=0, */*", OFFERS) == OFFERS[1]


def test_a_format_refused_by_its_own_media_type_is_not_sent_under_another_name():
    # each of these formats also answers to a name the wildcard accepts (application/json,
    # application/x-turtle): the client's q=0 for the format's own type still excludes it
    accept = "application/sparql-results+json;q=0, text/csv;q=0.1, */*;q=0.1"
    assert results_format(accept) is not RESULT_FORMATS[0]
    assert rdf_format("text/turtle;q=0, */*").media_type != "text/turtle"
    with pytest.raises(NotAcceptable) as refused:
        rdf_format("application/ld+json;q=0, application/json")
    assert "application/ld+json" in refused.value.message  # the 406 still names every format
    # refusing only the other name leaves the format acceptable under its own
    assert results_format("application/json;q=0, */*") is RESULT_FORMATS[0]


def test_media_types_are_case_insensitive_and_parameters_ignored():
    assert negotiate("Text/CSV; charset=utf-8", OFFERS) == "text/csv"


def test_406_names_what_is_acceptable():
    with pytest.raises(NotAcceptable) as caught:
        negotiate("image/png", OFFERS)
    problem = caught.value
    assert problem.status == 406
    assert "image/png" in problem.message
    for offer in OFFERS:
        assert offer in problem.message
    assert problem.offered == tuple(OFFERS)


def test_results_format_defaults_to_json_and_knows_aliases():
    assert results_format(None).media_type == "application/sparql-results+json"
    assert results_format("application/json").media_type == "application/sparql-results+json"
    assert results_format("text/tab-separated-values").media_type == "text/tab-separated-values"
    assert results_format("text/turtle, */*;q=0.1").media_type == "application/sparql-results+json"
    with pytest.raises(NotAcceptable):
        results_format("text/turtle")


def test_format_parameter_overrides_accept():
    assert results_format("application/sparql-results+xml", "csv").media_type == "text/csv"
    assert results_format(None, "application/sparql-results+xml").media_type == "application/sparql-results+xml"
    assert rdf_format("text/turtle", "jsonld").media_type == "application/ld+json"
    assert rdf_format(None, "xml").media_type == "application/rdf+xml"  # for graphs xml means RDF/XML


def test_unknown_format_parameter_is_406_listing_names():
    with pytest.raises(NotAcceptable) as caught:
        results_format(None, "yaml")
    assert "json" in caught.value.message and "tsv" in caught.value.message


def test_rdf_format_prefers_turtle_and_offers_html_only_when_asked():
    assert rdf_format(None).media_type == "text/turtle"
    assert rdf_format("*/*").media_type == "text/turtle"
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    assert rdf_format(browser, html=True) is HTML
    assert rdf_format(browser).media_type == "text/turtle"
    assert rdf_format("application/n-triples", html=True).media_type == "application/n-triples"
    assert rdf_format("*/*", html=True).media_type == "text/turtle"


def test_every_format_maps_to_a_pyoxigraph_writer():
    for family in (RESULT_FORMATS, RDF_FORMATS):
        for fmt in family:
            assert fmt.oxigraph is not None
            assert format_by_name(family, fmt.extension) is fmt
            assert format_by_name(family, fmt.media_type) is fmt


def test_input_formats_and_charset_in_responses():
    assert rdf_input_format("text/turtle; charset=utf-8").media_type == "text/turtle"
    assert rdf_input_format("application/json") is None
    assert rdf_input_format(None) is None
    assert response_mimetype(rdf_format("text/turtle")) == "text/turtle; charset=utf-8"
    assert response_mimetype(rdf_format("application/ld+json")) == "application/ld+json"


def test_a_busy_503_is_a_warning_and_other_5xx_an_error_in_the_log(tiny_build, caplog):
    """A 503 with Retry-After (busy, preparing) is an expected state, logged as a warning;
    any other 5xx is an error an operator must see."""
    import logging

    from bjkg.server.app import create_app
    from bjkg.server.core.errors import HTTPProblem, service_unavailable
    from bjkg.server.web.extension import get_store

    app = create_app({"BUILD_DIR": str(tiny_build), "TESTING": True})

    @app.route("/-/test-busy")
    def busy():
        raise service_unavailable("busy for a moment", retry_after=5)

    @app.route("/-/test-broken")
    def broken():
        raise HTTPProblem(502, "the store answered nonsense")

    client = app.test_client()
    with caplog.at_level(logging.WARNING):
        assert client.get("/-/test-busy").status_code == 503
        assert client.get("/-/test-broken").status_code == 502
    levels = {r.getMessage().split(":")[0]: r.levelname for r in caplog.records}
    assert levels.get("503 Service Unavailable") == "WARNING", levels
    assert levels.get("502 Bad Gateway") == "ERROR", levels
    get_store(app).close()
