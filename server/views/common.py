"""What the HTML-side views share: the reader's language, the page/data-twin response, paging.

Datasette's rule: a view computes one dict; `respond` turns it into HTML (a template that
only formats it) or its JSON twin, adds `Link: rel="alternate"` headers naming the other
representations and `Vary`, and remembers a `?lang=` choice in a cookie. Templates get the
translator `t`, the chosen `lang` and `lang_url` from one context processor.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from urllib.parse import urlencode

from flask import Response, current_app, json, render_template, request

from bjkg.server.pages import i18n
from bjkg.server.core import vocab
from bjkg.server.core.conneg import choose
from bjkg.server.core.errors import bad_request
from bjkg.server.pages.examples import load_examples
from bjkg.server.pages.labels import LANG_COOKIE, LANG_NAMES, LANGS, choose_lang

COOKIE_MAX_AGE = 365 * 24 * 3600
MAX_PAGE = 10_000


def current_lang() -> str:
    """The reader's language: `?lang=`, then the cookie, then zh-Hans."""
    return choose_lang(request.args.get("lang"), request.cookies.get(LANG_COOKIE))


def lang_url(code: str) -> str:
    """The current URL with `lang` set to `code` (other query arguments kept)."""
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
    args.append(("lang", code))
    return request.path + "?" + urlencode(args)


def page_url(**changes) -> str:
    """The current URL with some query arguments replaced (None removes one)."""
    args = {k: v for k, v in request.args.items() if k not in changes}
    args.update({k: v for k, v in changes.items() if v is not None})
    return request.path + ("?" + urlencode(args) if args else "")


def page_number(name: str = "page") -> int:
    """A 1-based page number from the query string; 400 when it is not a positive integer."""
    raw = request.args.get(name, "1")
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9) or not 1 <= int(raw) <= MAX_PAGE:
        raise bad_request(f"'{name}' must be a whole number from 1 to {MAX_PAGE}, not {raw!r}.")
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
        html = render_template(template, data=data, alternates=alternates, **extra)
        response = Response(html, status=status, mimetype="text/html")
        response.vary.add("Cookie")
    response.vary.add("Accept")
    if alternates:
        response.headers["Link"] = alternate_links(alternates)
    remember_lang(response)
    return response


def remember_lang(response: Response) -> Response:
    """Keep an explicit `?lang=` choice in a cookie so the next page uses it too."""
    chosen = request.args.get("lang")
    if chosen and choose_lang(chosen) == chosen:
        response.set_cookie(LANG_COOKIE, chosen, max_age=COOKIE_MAX_AGE, samesite="Lax",
                            httponly=False)
    return response


def template_globals() -> dict:
    """Names every HTML-side template may use (one context processor for the app, see
    `bjkg.server.create_app`)."""
    lang = current_lang()

    def t(key: str, **values) -> str:
        return i18n.text(key, lang, **values)

    base = current_app.config["BASE_IRI"]
    return {"lang": lang, "t": t, "lang_url": lang_url, "page_url": page_url,
            "LANGS": LANGS, "LANG_NAMES": LANG_NAMES,
            "editor_examples": _editor_examples(base, lang),
            "default_query": default_query(base)}


@lru_cache(maxsize=16)
def _editor_examples(base: str, lang: str) -> tuple[dict, ...]:
    """The examples as templates show them (fixed per process: computed once per language)."""
    return tuple(ex.as_dict(lang) for ex in load_examples(base))


@lru_cache(maxsize=4)
def default_query(base: str) -> str:
    """What the query editor starts with: the prefixes, then a first look at the data."""
    return (vocab.sparql_prefix_block(vocab.prefixes_for(base)) + "\n\n"
            "SELECT ?class (COUNT(?s) AS ?instances) WHERE {\n  ?s a ?class .\n}\n"
            "GROUP BY ?class\nORDER BY DESC(?instances)\nLIMIT 50\n")
