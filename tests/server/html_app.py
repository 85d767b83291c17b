"""The app the HTML-side tests share: `create_app` over the session's `tiny_build`.

`html_app` is parametrised over the store backends (`tests.server.backends`): every page,
search and metadata test runs over the embedded store and over Virtuoso, unchanged.
"""
from __future__ import annotations

import pytest

from bjkg.server.app import create_app
from tests.server.backends import BACKENDS, backend_app


def make_app(build_dir, **settings):
    """An app serving `build_dir` read-only, with TESTING on and any extra settings."""
    return create_app({"BUILD_DIR": str(build_dir), "TESTING": True, **settings})


@pytest.fixture(scope="module", params=BACKENDS)
def html_app(request, tiny_build):
    app = backend_app(request, tiny_build)
    yield app
    from bjkg.server.web.extension import get_store

    get_store(app).close()


@pytest.fixture()
def client(html_app):
    return html_app.test_client()
