"""Place pages show the joined division data and a locator map drawn without a tile service."""
from __future__ import annotations

import re

import pytest

from bjkg.server.app import create_app
from bjkg.server.pages.locator_map import EXTENSION_KEY, build_map, parse_point
from tests.server.conftest import close_app


@pytest.fixture(scope="module")
def real_app(real_build):
    app = create_app({"BUILD_DIR": str(real_build), "TESTING": True})
    yield app
    close_app(app)


@pytest.fixture(scope="module")
def real_client(real_app):
    return real_app.test_client()


def html(client, path: str) -> str:
    response = client.get(path, headers={"Accept": "text/html"})
    assert response.status_code == 200, response.data[:500]
    return response.get_data(as_text=True)


def test_parse_point_and_projection():
    assert parse_point("POINT(116.656434 39.909946)") == (116.656434, 39.909946)
    assert parse_point("POINT(200 10)") is None and parse_point("LINESTRING(1 2, 3 4)") is None
    mapped = build_map([(75.0, 40.0), (135.0, 40.0), (110.0, 18.0), (110.0, 53.0)])
    west, _ = mapped.project(75.0, 40.0)
    east, _ = mapped.project(135.0, 40.0)
    _, north = mapped.project(110.0, 53.0)
    _, south = mapped.project(110.0, 18.0)
    assert 0 < west < east < mapped.width and 0 < north < south < mapped.height
    assert mapped.svg.startswith(b"<svg") and mapped.points == 4


def test_tongzhou_page_shows_code_coordinates_parents_and_map(real_client):
    page = html(real_client, "/id/place/tongzhou")
    section = page[page.index('id="division"'):page.index("</section>", page.index('id="division"'))]
    assert "110112" in section and "110112000000" in section
    assert "39.9099° N, 116.6564° E" in section
    assert 'href="/id/division/110000"' in section and 'href="/id/division/110100"' in section
    assert 'href="/id/division/320612"' not in page  # not 南通's 通州区
    assert '<image href="/-/locator-map.svg"' in section
    (marker,) = re.findall(r'<circle class="marker" cx="([0-9.]+)" cy="([0-9.]+)"', section)
    assert all(float(v) > 0 for v in marker)
    assert "tile" not in section.lower() and "http" not in section.split("<svg", 1)[1].split("</svg>")[0] \
        .replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_json_twin_carries_the_division(real_client):
    data = real_client.get("/id/place/tongzhou.json").get_json()
    (division,) = data["division"]["divisions"]
    assert division["code"] == "110112" and division["iri"].endswith("/id/division/110112")
    assert (division["lon"], division["lat"]) == (116.656434, 39.909946)
    assert [p["iri"].rsplit("/", 1)[1] for p in division["parents"]] == ["110000", "110100"]
    assert division["graph"]["iri"].endswith("/graph/external/cpca-divisions")
    assert len(data["division"]["map"]["markers"]) == 1


def test_place_without_code_shows_the_divisions_within_it(real_client):
    data = real_client.get("/id/place/xiongan.json").get_json()
    codes = sorted(d["code"] for d in data["division"]["divisions"])
    assert codes == ["130629", "130632", "130638"]
    assert all(d["via"] == "part" for d in data["division"]["divisions"])


def test_place_without_any_division_has_no_section(real_client):
    page = html(real_client, "/id/place/zhongguancun")
    assert 'id="division"' not in page


def test_division_page_describes_itself(real_client):
    page = html(real_client, "/id/division/320612")
    assert "320612" in page and 'href="/id/division/320600"' in page
    assert '<image href="/-/locator-map.svg"' in page


def test_base_layer_is_one_svg_computed_once_per_process(real_app, real_client):
    first = real_client.get("/-/locator-map.svg")
    assert first.status_code == 200 and first.mimetype == "image/svg+xml"
    assert first.data.count(b"h0") > 2500  # one dot per distinct division point
    cached = real_app.extensions[EXTENSION_KEY]
    html(real_client, "/id/place/beijing")
    assert real_app.extensions[EXTENSION_KEY] is cached
    again = real_client.get("/-/locator-map.svg", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


def test_base_layer_is_404_without_divisions(client):
    """The tiny test build has no listed divisions: no map, and no error on place pages."""
    assert client.get("/-/locator-map.svg").status_code == 404
