"""Which label to show, and in which language.

Pages show one label per resource in the reader's chosen language, falling back
zh-Hans → zh-Hant → en, then pinyin, then any label, then a compact name, so that a page
never shows a bare IRI where the graph has something readable. The JSON twin keeps every
label, so the choice only affects how HTML is formatted.

pyoxigraph lower-cases language tags (RDF says they are case-insensitive); we restore the
BCP 47 casing (`zh-Hans`) for display and for the JSON twin.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache

from bjkg.server.core.traditional import has_han, is_traditional_tag, to_traditional

LANGS = ("zh-Hans", "zh-Hant", "en")
DEFAULT_LANG = "zh-Hans"
PINYIN = "zh-Latn-pinyin"
LANG_COOKIE = "bjkg_lang"

# What each UI language is called in itself, for the switcher.
LANG_NAMES = {"zh-Hans": "简体", "zh-Hant": "繁體", "en": "English"}


def canonical_lang(tag: str | None) -> str:
    """BCP 47 casing: `zh-hans` → `zh-Hans`, `en-gb` → `en-GB`, `zh-latn-pinyin` kept lower."""
    if not tag:
        return ""
    parts = tag.split("-")
    out = [parts[0].lower()]
    for i, part in enumerate(parts[1:], start=1):
        if len(part) == 4 and part.isalpha() and i == 1:
            out.append(part.title())
        elif len(part) == 2 and part.isalpha():
            out.append(part.upper())
        else:
            out.append(part.lower())
    return "-".join(out)


def supported_lang(tag: str | None) -> str | None:
    """The UI language a tag asks for, or None: tags are case-insensitive and may carry more
    subtags (BCP 47), so `zh-hant`, `zh-TW` and `zh-Hant-TW` read as zh-Hant, `zh` and
    `zh-CN` as zh-Hans, `en-GB` as en. The one reading for `?lang=`, the cookie and
    Accept-Language."""
    key = _lang_key(tag.strip()) if tag and tag.strip() else ""
    if key in LANGS:
        return key
    if key.split("-")[0] == "zh":
        return "zh-Hant" if "hant" in key.lower() else "zh-Hans"
    return None


def choose_lang(*candidates: str | None) -> str:
    """The first candidate that is a supported UI language (query, then cookie), else zh-Hans."""
    for cand in candidates:
        found = supported_lang(cand)
        if found:
            return found
    return DEFAULT_LANG


def lang_from_accept(ranges: Iterable[tuple[str, float]]) -> str | None:
    """The first supported script among Accept-Language ranges, (range, q) pairs best
    first (werkzeug's `request.accept_languages`): `en-GB` reads as en, `zh-TW`/`zh-HK`/
    `zh-Hant` as zh-Hant, `zh`/`zh-CN`/`zh-Hans` as zh-Hans; None when nothing matches
    (the caller's default applies). A range with q=0 is one the reader refuses (RFC 9110
    §12.4.2), never their choice."""
    for value, quality in ranges:
        found = supported_lang(value) if value and value != "*" and quality > 0 else None
        if found:
            return found
    return None


def fallback_order(lang: str) -> list[str]:
    """The chosen language first, then zh-Hans → zh-Hant → en, then pinyin."""
    order = [lang] + [l for l in LANGS if l != lang] + [PINYIN]
    return order


@lru_cache(maxsize=256)
def _lang_key(tag: str) -> str:
    """Map variant tags onto the three scripts: plain `zh` and zh-CN read as Simplified.
    Remembered: a pure function of the few tags a build has, called for every label shown."""
    tag = canonical_lang(tag)
    if tag in ("zh", "zh-CN", "zh-SG", "zh-Hans-CN"):
        return "zh-Hans"
    if is_traditional_tag(tag):
        return "zh-Hant"
    if tag.startswith("en"):
        return "en"
    return tag


def group_labels(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Labels as {language: [texts, sorted]} from (text, language tag) pairs."""
    out: dict[str, list[str]] = {}
    for text, tag in pairs:
        out.setdefault(_lang_key(tag or ""), []).append(text)
    order = {tag: i for i, tag in enumerate((*LANGS, PINYIN))}
    return {lang: sorted(set(texts))
            for lang, texts in sorted(out.items(), key=lambda kv: (order.get(kv[0], 99), kv[0]))}


class Label(str):
    """A label's text that knows its language tag (`lang`, "" when untagged). It is its
    text everywhere (compares, sorts, hashes, serialises to JSON as it); the tag lets a page
    mark a label shown in a fallback language with `lang` (WCAG 2.1 SC 3.1.2,
    `foreign_lang`) without a second field beside every label of the page model."""

    lang: str

    def __new__(cls, text: str, lang: str = "") -> "Label":
        label = super().__new__(cls, text)
        label.lang = lang
        return label


def pick(labels: Mapping[str, list[str]], lang: str) -> tuple[Label, str] | None:
    """(text, language) of the best label for `lang`, or None when there is none at all;
    the text is a `Label` that knows its language too."""
    for tag in fallback_order(lang):
        if labels.get(tag):
            return Label(labels[tag][0], tag), tag
    for tag in sorted(labels):
        if labels[tag]:
            return Label(labels[tag][0], tag), tag
    return None


@lru_cache(maxsize=512)
def _rank(tag: str, lang: str) -> tuple[int, str]:
    """Where labels tagged `tag` come when showing `lang`: `pick`'s fallback order, then the
    other languages by name."""
    key = _lang_key(tag)
    order = fallback_order(lang)
    return (order.index(key), "") if key in order else (len(order), key)


def best(pairs: Iterable[tuple[str, str]], lang: str) -> str | None:
    """The text `pick(group_labels(pairs), lang)` shows, without grouping every language:
    a page shows one label for each of a hundred linked IRIs and groups only its own."""
    found = min(((_rank(tag or "", lang), text) for text, tag in pairs), default=None)
    return found[1] if found is not None else None


def foreign_lang(label: str, page_lang: str) -> str | None:
    """The tag to mark `label` with on a page in `page_lang`: its own when it is in another
    language (监利县 on an English page: zh-Hans), None when it is in the page's language,
    untagged, or a plain string (a compact name, an IRI's last segment)."""
    tag = getattr(label, "lang", "")
    return tag if tag and _lang_key(tag) != page_lang else None


def best_for(pairs: Iterable[tuple[str, str]], lang: str) -> Label | None:
    """`best`, and in 繁體 mode a label that exists only in Simplified (or untagged
    Chinese) converted to Traditional: the page reads in one script throughout. The text
    comes as a `Label` with the language it is in."""
    found = min(((_rank(tag or "", lang), text, tag or "") for text, tag in pairs), default=None)
    if found is None:
        return None
    text, tag = found[1], _lang_key(found[2])
    if lang == "zh-Hant" and tag in ("zh-Hans", "") and has_han(text):
        return Label(to_traditional(text), "zh-Hant")
    return Label(text, canonical_lang(found[2]))


def local_name(iri: str) -> str:
    """The last segment of an IRI, a last resort for display."""
    for sep in ("#", "/"):
        if sep in iri.rstrip(sep):
            tail = iri.rstrip(sep).rsplit(sep, 1)[1]
            if tail:
                return tail
    return iri
