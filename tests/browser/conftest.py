"""What the browser tests share: the system Chromium (Playwright, headless, no sandbox), and a
live server for a build on a loopback port.

Each test module calls `require_chromium()` first: without /usr/bin/chromium its tests are
skipped with the reason — or fail, under BJKG_REQUIRE_BROWSER=1 (CI).
"""
from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]


def require_chromium() -> None:
    """Skip the calling module without Chromium, or fail with BJKG_REQUIRE_BROWSER=1."""
    if not CHROMIUM.exists():
        if os.environ.get("BJKG_REQUIRE_BROWSER") == "1":
            pytest.fail(f"BJKG_REQUIRE_BROWSER=1 but {CHROMIUM} is missing", pytrace=False)
        pytest.skip(f"{CHROMIUM} is missing (set BJKG_REQUIRE_BROWSER=1 to make this a failure)",
                    allow_module_level=True)


@contextlib.contextmanager
def served(build_dir: Path) -> Iterator[str]:
    """The app over `build_dir`, in a thread on a random loopback port: its base URL."""
    from werkzeug.serving import make_server

    from bjkg.server.app import create_app
    from bjkg.server.web.extension import get_store

    app = create_app({"BUILD_DIR": str(build_dir)})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        get_store(app).close()


@pytest.fixture(scope="module")
def live_server(tiny_build):
    """The tiny build served on loopback."""
    with served(tiny_build) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    """Headless system Chromium through Playwright."""
    if os.environ.get("BJKG_REQUIRE_BROWSER") == "1":
        from playwright import sync_api
    else:
        sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield chromium
        chromium.close()
