"""Security headers: nosniff, no framing and a referrer policy on every response; a CSP that
allows no inline script on every HTML page; and templates that need none.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from bjkg.server.web.security import DATA_POLICY, PAGE_POLICY

TEMPLATES = Path(__file__).resolve().parents[2] / "server" / "templates"
HTML = {"Accept": "text/html"}

PATHS = ["/", "/index.json", "/sparql", "/sparql?query=ASK%7B%7D", "/sparql?query=%C2%B2",
         "/search?q=tongzhou", "/search.json?q=tongzhou", "/id/place/tongzhou", "/id/place/tongzhou.ttl",
         "/id/nothing-here", "/ontology", "/.well-known/void", "/.well-known/void.ttl", "/-/settings",
         "/dumps/bjkg.nq", "/dumps/SHA256SUMS", "/static/js/editor.js", "/static/css/site.css", "/nope"]


def _script_directive(policy: str) -> str:
    return next(d for d in policy.split(";") if d.strip().startswith("script-src"))


def test_the_page_policy_allows_no_inline_script_or_eval():
    scripts = _script_directive(PAGE_POLICY)
    assert "'self'" in scripts and "unsafe-inline" not in scripts and "unsafe-eval" not in scripts
    assert "frame-ancestors 'none'" in PAGE_POLICY and "object-src 'none'" in PAGE_POLICY
    assert "default-src 'none'" in DATA_POLICY and "frame-ancestors 'none'" in DATA_POLICY


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("accept", ["text/html", "application/json", "*/*"])
def test_every_response_carries_the_headers(client, path, accept):
    answer = client.get(path, headers={"Accept": accept})
    headers = answer.headers
    assert headers["X-Content-Type-Options"] == "nosniff", (path, answer.status_code)
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    expected = PAGE_POLICY if answer.mimetype == "text/html" else DATA_POLICY
    assert headers["Content-Security-Policy"] == expected, (path, answer.mimetype)


def test_errors_from_every_method_carry_them(client, writable_client):
    for answer in (client.post("/sparql", data=b"x", headers={"Content-Type": "text/plain"}),
                   client.put("/graph-store?default", data=b"", headers=HTML),
                   client.delete("/id/place/tongzhou", headers=HTML),
                   client.options("/sparql"),
                   writable_client.post("/sparql", data={"update": "INSERT DATA {}"}, headers=HTML)):
        assert answer.headers["X-Content-Type-Options"] == "nosniff", answer.status_code
        assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]


def test_a_304_does_not_replace_the_cached_pages_policy(client):
    first = client.get("/id/place/tongzhou", headers=HTML)
    again = client.get("/id/place/tongzhou", headers={**HTML, "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert "Content-Security-Policy" not in again.headers  # browsers copy a 304's headers onto the page
    assert again.headers["X-Content-Type-Options"] == "nosniff"


def test_templates_have_no_inline_script_or_handler():
    """Scripts come from static/js; inline <script> only as JSON data; no on…= handlers or
    javascript: URLs, which the policy would block."""
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        for tag in re.findall(r"<script\b[^>]*>", text, flags=re.I):
            assert "src=" in tag or 'type="application/json"' in tag, (path.name, tag)
        assert not re.search(r"\son[a-z]+\s*=", text, flags=re.I), path.name
        assert "javascript:" not in text.lower(), path.name
