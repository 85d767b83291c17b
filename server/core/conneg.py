"""Content negotiation, written once.

`negotiate` is a pure function over an Accept header and a list of offered media types
(q-values, wildcards, specificity, server preference by offer order, a default for a
missing header). It is wrapped for the two families of SPARQL outputs — query results
(SELECT/ASK) and RDF (CONSTRUCT/DESCRIBE, graphs, entity pages) — which add the `format=`
parameter and map the chosen type to the pyoxigraph format that serialises it.

The entity pages use the same functions with ``html=True`` so that one URL serves a
browser and an RDF client. A 406 names what *is* acceptable.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pyoxigraph

from bjkg.server.core.errors import HTTPProblem, shown


class NotAcceptable(HTTPProblem):
    """406: nothing offered matches; carries the offered media types."""

    def __init__(self, message: str, offered: Sequence[str]) -> None:
        super().__init__(406, message)
        self.offered = tuple(offered)


@dataclass(frozen=True)
class MediaRange:
    """One element of an Accept header."""

    type: str
    subtype: str
    q: float = 1.0

    def matches(self, media_type: str) -> int:
        """Specificity of the match with a concrete media type: 3 exact, 2 type/*, 1 */*, 0 none."""
        kind, _, sub = media_type.partition("/")
        if self.type == "*" and self.subtype == "*":
            return 1
        if self.type != kind:
            return 0
        if self.subtype == "*":
            return 2
        return 3 if self.subtype == sub else 0


def parse_accept(header: str | None) -> list[MediaRange]:
    """Parse an Accept header leniently: malformed elements are skipped, bad q counts as 1."""
    ranges: list[MediaRange] = []
    for element in (header or "").split(","):
        parts = [p.strip() for p in element.split(";")]
        media = parts[0].lower()
        if "/" not in media:
            if media == "*":  # some clients send a bare "*"
                media = "*/*"
            else:
                continue
        kind, _, sub = media.partition("/")
        if not kind or not sub:
            continue
        q = 1.0
        for param in parts[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = min(1.0, max(0.0, float(value.strip())))
                except ValueError:
                    q = 1.0
        ranges.append(MediaRange(kind, sub, q))
    return ranges


def choose(accept: str | None, offers: Sequence[str], *, default: str | None = None) -> str | None:
    """The offer the client prefers most, or None if nothing is acceptable.

    A missing or empty Accept header means "anything" and yields `default` (or the first
    offer). Each offer takes the q of the most specific range matching it; q=0 excludes it;
    ties go to the earlier offer (the server's preference).
    """
    if not offers:
        return None
    if accept is None or not accept.strip():
        return default or offers[0]
    ranges = parse_accept(accept)
    if not ranges:
        return default or offers[0]
    best, best_q = None, 0.0
    for offer in offers:
        offer_l = offer.lower()
        specificity, q = 0, 0.0
        for media_range in ranges:
            s = media_range.matches(offer_l)
            if s > specificity:
                specificity, q = s, media_range.q
        if specificity and q > best_q:
            best, best_q = offer, q
    if best is None:
        return None
    # "*/*" alone should pick the default, not merely the first offer
    if default and default in offers and _wildcard_only(ranges) and best_q <= _q_of(ranges, default):
        return default
    return best


def negotiate(accept: str | None, offers: Sequence[str], *, default: str | None = None,
              named: Sequence[str] | None = None) -> str:
    """Like `choose`, but raise `NotAcceptable` (406) naming the offers (or `named`, when
    the offers left are fewer than what is produced here) when nothing fits."""
    chosen = choose(accept, offers, default=default)
    if chosen is None:
        named = list(named if named is not None else offers)
        raise NotAcceptable(
            f"None of the media types in 'Accept: {shown(accept or '')}' can be produced here; "
            f"acceptable types are: {', '.join(named)}.", named)
    return chosen


def refused(accept: str | None) -> set[str]:
    """The media types the client named with ``q=0``: not acceptable (RFC 9110 §12.4.2)."""
    return {f"{r.type}/{r.subtype}" for r in parse_accept(accept) if r.q == 0}


def _wildcard_only(ranges: Iterable[MediaRange]) -> bool:
    return all(r.type == "*" for r in ranges)


def _q_of(ranges: Iterable[MediaRange], offer: str) -> float:
    best, q = 0, 0.0
    for r in ranges:
        s = r.matches(offer)
        if s > best:
            best, q = s, r.q
    return q


# --------------------------------------------------------------------------- formats

@dataclass(frozen=True)
class Format:
    """A representation: its canonical media type, other names clients use, and its writer.

    `oxigraph` is the pyoxigraph `QueryResultsFormat` or `RdfFormat` (None for HTML).
    `names` are the values accepted in `format=` and as URL suffixes.
    """

    media_type: str
    kind: str  # "results", "rdf" or "html"
    names: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    oxigraph: object | None = None

    @property
    def extension(self) -> str:
        return self.names[0]

    @property
    def media_types(self) -> tuple[str, ...]:
        return (self.media_type, *self.aliases)


R = pyoxigraph.QueryResultsFormat
G = pyoxigraph.RdfFormat

RESULT_FORMATS: tuple[Format, ...] = (
    Format("application/sparql-results+json", "results", ("json", "srj"), ("application/json",), R.JSON),
    Format("application/sparql-results+xml", "results", ("xml", "srx"), (), R.XML),
    Format("text/csv", "results", ("csv",), (), R.CSV),
    Format("text/tab-separated-values", "results", ("tsv",), (), R.TSV),
)

RDF_FORMATS: tuple[Format, ...] = (
    Format("text/turtle", "rdf", ("ttl", "turtle"), ("application/x-turtle",), G.TURTLE),
    Format("application/n-triples", "rdf", ("nt", "ntriples", "n-triples"), (), G.N_TRIPLES),
    Format("application/ld+json", "rdf", ("jsonld", "json-ld"), ("application/json",), G.JSON_LD),
    Format("application/rdf+xml", "rdf", ("rdf", "rdfxml", "rdf+xml", "owl", "xml"), (), G.RDF_XML),
    Format("application/trig", "rdf", ("trig",), (), G.TRIG),
    Format("application/n-quads", "rdf", ("nq", "nquads", "n-quads"), (), G.N_QUADS),
    Format("text/n3", "rdf", ("n3",), ("text/rdf+n3",), G.N3),
)

HTML = Format("text/html", "html", ("html",), ("application/xhtml+xml",))

#: Media types accepted as request bodies (Graph Store PUT/POST). A client asking for
#: `application/json` gets a graph as JSON-LD (it is JSON), but a body sent as plain JSON
#: is not taken for RDF.
RDF_INPUT_TYPES = {t: f for f in RDF_FORMATS for t in f.media_types if t != "application/json"}


def offers_of(formats: Sequence[Format], accept: str | None) -> dict[str, Format]:
    """Every media type `formats` answer under (their aliases too), each with its format,
    in the server's order — less the formats whose own media type the client refused
    (``q=0``): a client that refuses application/ld+json is not sent it because it also
    accepts application/json, or ``*/*``, under which JSON-LD is offered too (RFC 9110
    §12.4.2: q=0 means "not acceptable")."""
    no = refused(accept)
    return {media_type: fmt for fmt in formats if fmt.media_type not in no
            for media_type in fmt.media_types}


JSON_TWIN = "application/json"  # a page's own JSON (Datasette's twin), not JSON-LD


def page_media_type(accept: str | None, *, html: bool = True, default: str = "text/turtle") -> str:
    """The media type of a resource that is an RDF description and, with `html`, a page with
    its JSON twin (entity pages, the catalogue, the ontology): every name of each format
    (application/xhtml+xml is HTML, application/x-turtle Turtle), `JSON_TWIN` the page's JSON
    rather than JSON-LD, a format refused by q=0 never chosen (`offers_of`); 406 naming the
    canonical types when nothing fits."""
    formats = (*RDF_FORMATS, HTML) if html else RDF_FORMATS
    owner = {t: f.media_type for t, f in offers_of(formats, accept).items() if not (html and t == JSON_TWIN)}
    if html and JSON_TWIN not in refused(accept):
        owner[JSON_TWIN] = JSON_TWIN
    named = [f.media_type for f in formats] + ([JSON_TWIN] if html else [])
    return owner[negotiate(accept, list(owner), default=default, named=named)]


def _select(formats: Sequence[Format], accept: str | None, format_param: str | None,
            default: Format | None) -> Format:
    if format_param:
        return format_by_name(formats, format_param)
    owner = offers_of(formats, accept)
    chosen = negotiate(accept, list(owner), default=(default or formats[0]).media_type,
                       named=[t for fmt in formats for t in fmt.media_types])
    return owner[chosen]


def format_by_name(formats: Sequence[Format], name: str, *, also: Sequence[str] = ()) -> Format:
    """The format a `format=` value or URL suffix names (short name or media type); 406 if
    none, naming every name the caller takes (`also`: names it reads itself, e.g. ``json``
    for a page's JSON twin)."""
    wanted = name.strip().lower()
    for fmt in formats:
        if wanted in fmt.names or wanted in fmt.media_types:
            return fmt
    names = sorted({n for f in formats for n in f.names[:1]} | set(also))
    raise NotAcceptable(f"Unknown format {shown(name)!r} here; use one of: {', '.join(names)}.",
                        [f.media_type for f in formats])


def results_format(accept: str | None, format_param: str | None = None) -> Format:
    """The SPARQL results format (SELECT/ASK) for a request; JSON by default."""
    return _select(RESULT_FORMATS, accept, format_param, None)


def rdf_format(accept: str | None, format_param: str | None = None, *, html: bool = False,
               default: Format | None = None) -> Format:
    """The RDF format for a graph answer; with ``html=True`` `HTML` may be chosen too.

    The HTML offer comes last, so a browser (text/html first in its Accept) gets a page and
    an RDF client or ``*/*`` gets `default` (Turtle unless given).
    """
    formats = (*RDF_FORMATS, HTML) if html else RDF_FORMATS
    return _select(formats, accept, format_param, default)


def rdf_input_format(content_type: str | None) -> Format | None:
    """The RDF format of a request body from its Content-Type (parameters ignored), or None."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    return RDF_INPUT_TYPES.get(media_type)


def response_mimetype(fmt: Format) -> str:
    """Content-Type value for a response in `fmt` (UTF-8 declared for textual types)."""
    if fmt.media_type.startswith("text/"):
        return f"{fmt.media_type}; charset=utf-8"
    return fmt.media_type
