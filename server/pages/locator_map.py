"""A locator map drawn from the data, with no tile service: every listed division a dot.

The ~3,200 division points of the external divisions graph, projected once, draw a faint
outline of China; an entity page puts a marker for its place on top. The base layer is
computed once per process (the first page that needs it), served as one cacheable SVG at
`/-/locator-map.svg`, and each page only adds the marker's coordinates, so no request
re-reads the points and no page carries 40 kB of dots. Nothing is fetched from elsewhere.

Projection: equirectangular, with longitudes scaled by the cosine of the middle latitude
so that shapes at China's latitudes are not stretched; good enough to say where a place is.
"""
from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

WIDTH = 400.0
MARGIN_DEGREES = 1.0
_POINT = re.compile(r"^\s*POINT\s*\(\s*(-?[0-9.]+)\s+(-?[0-9.]+)\s*\)\s*$", re.IGNORECASE)
_LOCK = threading.Lock()
EXTENSION_KEY = "bjkg.locator_map"

POINTS_QUERY = """
PREFIX bjkg: <https://w3id.org/bjkg/ontology#>
PREFIX geo: <http://www.opengis.net/ont/geosparql#>
SELECT DISTINCT ?wkt WHERE { ?division a bjkg:ListedDivision ; geo:hasGeometry ?g . ?g geo:asWKT ?wkt }
"""


def parse_point(wkt: str) -> tuple[float, float] | None:
    """(longitude, latitude) of a WKT `POINT(lon lat)`, else None."""
    match = _POINT.match(wkt)
    if not match:
        return None
    lon, lat = float(match.group(1)), float(match.group(2))
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        return None
    return lon, lat


@dataclass(frozen=True)
class LocatorMap:
    """The projection and the pre-rendered base layer for one set of points."""
    lon_min: float
    lat_max: float
    scale_x: float
    scale_y: float
    width: float
    height: float
    svg: bytes
    points: int

    def project(self, lon: float, lat: float) -> tuple[float, float]:
        """SVG user-space coordinates of a point (may fall outside for far-away places)."""
        return (round((lon - self.lon_min) * self.scale_x, 1),
                round((self.lat_max - lat) * self.scale_y, 1))

    def contains(self, x: float, y: float) -> bool:
        return 0 <= x <= self.width and 0 <= y <= self.height


def build_map(points: list[tuple[float, float]], *, title: str = "") -> LocatorMap | None:
    """Project the points and render the base layer; None without points."""
    if not points:
        return None
    lons, lats = [p[0] for p in points], [p[1] for p in points]
    lon_min, lon_max = min(lons) - MARGIN_DEGREES, max(lons) + MARGIN_DEGREES
    lat_min, lat_max = min(lats) - MARGIN_DEGREES, max(lats) + MARGIN_DEGREES
    shrink = math.cos(math.radians((lat_min + lat_max) / 2))
    scale_y = WIDTH / ((lon_max - lon_min) * shrink)
    scale_x = scale_y * shrink
    height = round((lat_max - lat_min) * scale_y, 1)
    grid = sorted({(round((lon - lon_min) * scale_x, 1), round((lat_max - lat) * scale_y, 1))
                   for lon, lat in points})
    path = "".join(f"M{x:g} {y:g}h0" for x, y in grid)
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH:g} {height:g}" '
           f'width="{WIDTH:g}" height="{height:g}">'
           + (f"<title>{_escape(title)}</title>" if title else "")
           + f'<path d="{path}" fill="none" stroke="#7d929c" stroke-width="1.8" '
             'stroke-linecap="round" stroke-opacity="0.7"/></svg>')
    return LocatorMap(lon_min, lat_max, scale_x, scale_y, WIDTH, height,
                      svg.encode("utf-8"), len(grid))


def _escape(text: str) -> str:
    return quoteattr(text)[1:-1]


def get_map(holder: dict, load) -> LocatorMap | None:
    """The map kept in `holder` (the app's extensions), built by `load()` on first use.

    `load` returns the WKT strings of the points. A dataset without divisions gives None,
    which is remembered too, so pages never ask again.
    """
    if EXTENSION_KEY not in holder:
        with _LOCK:
            if EXTENSION_KEY not in holder:
                points = [p for p in (parse_point(w) for w in load()) if p is not None]
                holder[EXTENSION_KEY] = build_map(
                    points, title=f"{len(points)} administrative divisions (points)")
    return holder[EXTENSION_KEY]
