"""What the HTML-side views share: the reader's language, the page/data-twin response, paging.

Datasette's rule: a view computes one dict; `respond` turns it into HTML (a template that
only formats it) or its JSON twin, adds `Link: rel="alternate"` headers naming the other
representations and `Vary`, and sets the
language cookie only when the reader asks to remember it; base.html carries a `?lang=`
choice to the page's links (`with_page_lang`), whoever renders it. Templates get the translator
`t`, the chosen `lang`, `lang_url` and `labelled` (a label marked with its language where it
differs from the page's) from one context processor.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from urllib.parse import urlencode

from flask import Response, current_app, json, render_template, request
from markupsafe import Markup, escape

from bjkg.server.pages import i18n
from bjkg.server.core import vocab
from bjkg.server.core.conneg import JSON_TWIN, RDF_FORMATS, choose
from bjkg.server.core.errors import bad_request, shown
from bjkg.server.pages.examples import load_examples
from bjkg.server.pages.search_index import MAX_QUERY_CHARS
from bjkg.server.pages.labels import (LANG_COOKIE, LANG_NAMES, LANGS, choose_lang, foreign_lang, lang_from_accept,
                                      supported_lang)

COOKIE_MAX_AGE = 365 * 24 * 3600
MAX_PAGE = 10_000


def current_lang() -> str:
    """The reader's language: `?lang=`, then the language they asked us to remember (the
    cookie), then the browser's `Accept-Language`, then zh-Hans."""
    negotiated = lang_from_accept(request.accept_languages)
    return choose_lang(request.args.get("lang"), request.cookies.get(LANG_COOKIE), negotiated)


def explicit_lang() -> str | None:
    """The supported language this request's `?lang=` names, in its canonical tag (`zh-hant`
    and `zh-TW` are zh-Hant, `en-GB` is en: `supported_lang`), else None. The page's links,
    its search form and the cookie carry this tag."""
    return supported_lang(request.args.get("lang"))


def lang_url(code: str, remember: bool = False) -> str:
    """The current URL with `lang` set to `code` (other query arguments kept); with
    `remember`, the link also asks to keep the choice in a cookie."""
    args = [(k, v) for k, v in request.args.items(multi=True) if k not in ("lang", "remember")]
    args.append(("lang", code))
    if remember:
        args.append(("remember", "1"))
    return request.path + "?" + urlencode(args)


# href="/…" and action="/…" of the pages' own links (not "//host"): the pages are ours and
# every attribute is written with double quotes by Jinja, so this reads them exactly.
_LOCAL_LINK = re.compile(r'(\s(?:href|action)=")(/(?!/)[^"#]*)(#[^"]*)?"')
_NO_LANG = ("/static/", "/dumps/", "/-/locator-map.svg", "/favicon")


def carry_lang(html: str, lang: str) -> str:
    """Links from a page opened with `?lang=` keep that language (`?lang=` applies to the
    page and the links from it, without a cookie): each local link without a `lang`
    argument gets one. Files (static, dumps) and fragments are left as they are."""
    def add(match: re.Match) -> str:
        head, path, fragment = match.group(1), match.group(2), match.group(3) or ""
        if path.startswith(_NO_LANG) or re.search(r"[?&]amp;lang=|[?&]lang=", path):
            return match.group(0)
        joiner = "&amp;" if "?" in path else "?"
        return f'{head}{path}{joiner}lang={lang}{fragment}"'
    return _LOCAL_LINK.sub(add, html)


def with_page_lang(html: str) -> Markup:
    """A whole page as base.html writes it, with its links carrying the page's `?lang=`
    (`carry_lang`): every page built on base.html, whoever renders it (a view, the error
    handler, the query editor). Not after `remember=1`: the cookie keeps the choice then."""
    lang = explicit_lang()
    if lang and request.args.get("remember") != "1":
        html = carry_lang(str(html), lang)
    return Markup(html)  # the rendered template, escaped as it was written


# bidi controls that a label may hold: embeddings, overrides, isolates and the marks
_BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def plain_title(title: str) -> Markup:
    """The text of `<title>` without bidi controls: a title is one line of plain text that
    no element can isolate, so a label's right-to-left override would reverse what follows
    it (the site's name). `title` is the rendered, escaped title block."""
    return Markup(_BIDI_CONTROLS.sub("", str(title)).strip())


# runs of Han characters (with the CJK punctuation between them)
_HAN_RUN = re.compile("[\u3400-\u9fff]+(?:[\u3000-\u303f\uff00-\uffef]*[\u3400-\u9fff]+)*")


def marked_han(text: str, page_lang: str) -> str:
    """A text of ours (an example's title) on a page that is not in Chinese, with each run of
    Han characters in `<span lang="zh-Hans">` (WCAG 2.1 SC 3.1.2: a screen reader reads it
    as Chinese): "The pillars of 五子联动 (Wuzi Liandong)". Escaped either way."""
    if page_lang.startswith("zh") or not _HAN_RUN.search(text):
        return text
    escaped = str(escape(text))
    return Markup(_HAN_RUN.sub(lambda m: f'<span lang="zh-Hans">{m.group(0)}</span>', escaped))


_NAME_OF_TYPE = {**{f.media_type: f.extension for f in RDF_FORMATS}, JSON_TWIN: "json"}


def format_name(media_type: str) -> str:
    """What a link to a representation is labelled with: its format's short name (ttl,
    jsonld, nt, rdf; json for the page's JSON twin), from its media type — never cut from
    the URL, whose query string may hold dots of its own (/class.json?iri=…w3id.org…)."""
    return _NAME_OF_TYPE.get(media_type, media_type.rsplit("/", 1)[-1])


def edit_href(query: str) -> str:
    """The query editor with `query` filled in: read by the page itself (`?edit=`), so it
    works without JavaScript too."""
    return "/sparql?" + urlencode({"edit": query})


def failed_query() -> str | None:
    """The query of a GET to the SPARQL endpoint, for an error page's link back to the
    editor with it (`edit_href`); None for any other request."""
    if request.method != "GET" or request.path != "/sparql":
        return None
    return request.args.get("query") or None


def page_url(**changes) -> str:
    """The current URL with some query arguments replaced (None removes one)."""
    args = {k: v for k, v in request.args.items() if k not in changes}
    args.update({k: v for k, v in changes.items() if v is not None})
    return request.path + ("?" + urlencode(args) if args else "")


def page_number(name: str = "page") -> int:
    """A 1-based page number from the query string; 400 when it is not a positive integer."""
    raw = request.args.get(name, "1")
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9) or not 1 <= int(raw) <= MAX_PAGE:
        raise bad_request(f"'{name}' must be a whole number from 1 to {MAX_PAGE}, not {shown(raw)!r}.")
    return int(raw)


def wants_json(suffix_json: bool = False) -> bool:
    """True for the data twin: a `.json` URL, `?format=json`, or Accept preferring JSON to HTML."""
    if suffix_json or request.args.get("format") == "json":
        return True
    accept = request.headers.get("Accept")
    return choose(accept, ["text/html", "application/json"], default="text/html") == "application/json"


def alternate_links(alternates: Iterable[tuple[str, str]]) -> str:
    """A `Link` header value: `<href>; rel="alternate"; type="…"` for each representation."""
    return ", ".join(f'<{href}>; rel="alternate"; type="{media}"' for href, media in alternates)


def respond(template: str, data: Mapping, *, status: int = 200, as_json: bool = False,
            alternates: Iterable[tuple[str, str]] = (), **extra) -> Response:
    """The page for `data` (HTML), or `data` itself as JSON: one dict, two renderings."""
    alternates = list(alternates)
    if as_json:
        body = json.dumps(data, ensure_ascii=False, indent=1)
        response = Response(body + "\n", status=status, mimetype="application/json")
    else:
        # the page keeps `?lang=` in its links: base.html (`with_page_lang`)
        html = render_template(template, data=data, alternates=alternates, **extra)
        response = Response(html, status=status, mimetype="text/html")
    response.vary.add("Accept")
    # the language, and so every label of either rendering, comes from these
    response.vary.add("Accept-Language")
    response.vary.add("Cookie")
    if alternates:
        response.headers["Link"] = alternate_links(alternates)
    remember_lang(response)
    return response


def remember_lang(response: Response) -> Response:
    """Keep a language in a cookie only when the reader asks (`?lang=X&remember=1`, the
    switcher's "remember" link); `?remember=0` forgets it. A plain `?lang=` sets nothing:
    it applies to the page and the links from it."""
    remember = request.args.get("remember")
    if remember == "1" and explicit_lang():
        response.set_cookie(LANG_COOKIE, explicit_lang(), max_age=COOKIE_MAX_AGE, samesite="Lax",
                            httponly=False)
    elif remember == "0":
        response.delete_cookie(LANG_COOKIE, samesite="Lax")
    return response


def labelled(label: str, page_lang: str) -> str:
    """`label` as a page in `page_lang` shows it: wrapped in `<span lang="…">` when it is in
    another language (a fallback: 监利县 on an English page), so that screen readers
    pronounce it as what it is (WCAG 2.1 SC 3.1.2); otherwise as it is, for autoescape.
    Only for element content: an attribute or <title> holds the text itself."""
    tag = foreign_lang(label, page_lang)
    if tag is None:
        return label
    return Markup('<span lang="{}">{}</span>').format(tag, label)  # both escaped by format


def template_globals() -> dict:
    """Names every HTML-side template may use (one context processor for the app, see
    `bjkg.server.create_app`)."""
    lang = current_lang()

    def t(key: str, **values) -> str:
        return i18n.text(key, lang, **values)

    def label_in_page(text: str) -> str:
        return labelled(text, lang)

    def han_in_page(text: str) -> str:
        return marked_han(text, lang)

    base = current_app.config["BASE_IRI"]
    return {"lang": lang, "t": t, "labelled": label_in_page, "lang_url": lang_url, "page_url": page_url,
            "lang_param": explicit_lang(), "remembered": request.cookies.get(LANG_COOKIE),
            "base_iri": base,
            "LANGS": LANGS, "LANG_NAMES": LANG_NAMES, "marked_han": han_in_page,
            "with_page_lang": with_page_lang, "plain_title": plain_title, "format_name": format_name,
            "edit_href": edit_href, "failed_query": failed_query,
            "editor_examples": _editor_examples(base, lang),
            "default_query": default_query(base), "search_max_chars": MAX_QUERY_CHARS}


# Words of the pages' chrome that `i18n` does not hold yet (zh-Hans, zh-Hant, en); `t` reads
# i18n first, so moving one there replaces it here.
@lru_cache(maxsize=16)
def _editor_examples(base: str, lang: str) -> tuple[dict, ...]:
    """The examples as templates show them (fixed per process: computed once per language)."""
    return tuple({**ex.as_dict(lang), "run_href": "/sparql?" + urlencode({"query": ex.query})}
                 for ex in load_examples(base))


@lru_cache(maxsize=4)
def default_query(base: str) -> str:
    """What the query editor starts with: the prefixes, then a first look at the data."""
    return (vocab.sparql_prefix_block(vocab.prefixes_for(base)) + "\n\n"
            "SELECT ?class (COUNT(?s) AS ?instances) WHERE {\n  ?s a ?class .\n}\n"
            "GROUP BY ?class\nORDER BY DESC(?instances)\nLIMIT 50\n")
