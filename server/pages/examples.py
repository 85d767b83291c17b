"""The example queries: real policy questions over this graph, shown on the home page and
pre-loaded as tabs of the query editor.

Each lives in ``server/queries/NN-slug.rq`` as a complete, runnable query whose first lines
give its title in the three scripts (``# title@en: …``). Keeping them as files means they
can be read, diffed and run with any SPARQL client, and tests run every one of them.
Queries name entities under the default base; `load_examples` rewrites that base to the
configured one so the examples keep working on a differently based build.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

from bjkg.server.pages.labels import LANGS, fallback_order

QUERY_DIR = Path(__file__).resolve().parent.parent / "queries"
DEFAULT_BASE = "https://w3id.org/bjkg/"


@dataclass(frozen=True)
class Example:
    """One example query with its titles."""

    slug: str
    titles: tuple[tuple[str, str], ...]
    query: str

    def title(self, lang: str) -> str:
        """Title in `lang`, falling back like labels do."""
        titles = dict(self.titles)
        for tag in fallback_order(lang):
            if titles.get(tag):
                return titles[tag]
        return self.slug

    @property
    def editor_href(self) -> str:
        """The query editor with this query filled in (YASGUI reads `#query=`)."""
        return "/sparql#query=" + quote(self.query, safe="")

    def as_dict(self, lang: str) -> dict:
        return {"slug": self.slug, "title": self.title(lang), "titles": dict(self.titles),
                "query": self.query, "editor_href": self.editor_href}


def _parse(path: Path, base: str) -> Example:
    """An example from a .rq file: `# title@<lang>:` header lines, then the query."""
    titles: dict[str, str] = {}
    body: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# title@") and not body:
            tag, _, title = line[len("# title@"):].partition(":")
            titles[tag.strip()] = title.strip()
        else:
            body.append(line)
    text = "\n".join(body).strip() + "\n"
    if base != DEFAULT_BASE:
        text = text.replace(DEFAULT_BASE, base)
    slug = path.stem.split("-", 1)[1] if "-" in path.stem else path.stem
    return Example(slug, tuple((t, titles[t]) for t in LANGS if t in titles), text)


@lru_cache(maxsize=4)
def load_examples(base: str = DEFAULT_BASE) -> tuple[Example, ...]:
    """Every example, in file-name order (read once per process and base)."""
    return tuple(_parse(p, base) for p in sorted(QUERY_DIR.glob("*.rq")))
