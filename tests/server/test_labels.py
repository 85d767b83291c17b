"""The label a page shows for a linked IRI (bjkg.server.pages.labels.best) is the one `pick` chooses
from all of its labels grouped by language, in every language and fallback case."""
from __future__ import annotations

import itertools

import pytest

from bjkg.server.pages.labels import LANGS, best, group_labels, pick

PAIRS = [("通州区", "zh-hans"), ("通州", "zh-Hans"), ("通州區", "zh-hant"), ("Tongzhou", "en"),
         ("Tongzhou District", "en-GB"), ("Tōngzhōu Qū", "zh-latn-pinyin"), ("tz", ""),
         ("tz", None), ("Tongzhou", "de"), ("通州", "zh"), ("通州區", "zh-TW"), ("つうしゅう", "ja")]


@pytest.mark.parametrize("lang", LANGS)
def test_best_is_pick_of_the_grouped_labels(lang):
    for size in range(4):
        for pairs in itertools.combinations(PAIRS, size):
            found = pick(group_labels(pairs), lang)
            assert best(pairs, lang) == (found[0] if found else None), (pairs, lang)


def test_the_language_helpers_are_installed_once(app):
    """The template helpers are one context processor for the app: each page computes them once."""
    from bjkg.server.views.common import template_globals

    processors = [f for fs in app.template_context_processors.values() for f in fs]
    assert processors.count(template_globals) == 1
