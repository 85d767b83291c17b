"""Geometry for the indicator charts: grouped bars per period, actuals and targets side by side.

The chart is computed here as plain numbers and strings, and the template only writes the
SVG elements, so the page needs no JavaScript, fetches nothing, and every label passes
through Jinja's escaping. One chart is drawn per (area, unit): bars of different units or
places on one axis would mislead.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from decimal import Decimal

from bjkg.server.pages.numbers import QUALIFIER_SIGNS, humanize

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 72, 16, 24, 44
STATUS_ORDER = {"Actual": 0, "Target": 1, "PolicyParameter": 2}


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 5 × 10^k steps) covering [lo, hi], including 0 when in range.
    Each tick is computed from its index and rounded to the step's decimals: adding the step
    and rounding to a fixed 10 decimals made no progress below 10^-10, and never ended."""
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / count
    exponent = math.floor(math.log10(raw))
    power = 10.0 ** exponent
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    digits = max(0, 1 - exponent)
    start = math.floor(lo / step) * step
    steps = max(1, math.ceil((hi - start) / step - 1e-9))
    return [round(start + index * step, digits) for index in range(steps + 1)]


def _drawable(value: Decimal) -> bool:
    """Whether a bar can be drawn for `value` in floating point: finite, and zero or between
    10^-300 and 10^300 (a loaded dataset may hold 1E+999999; it is listed, not charted)."""
    number = abs(float(value))
    return number == 0 or 1e-300 <= number <= 1e300


def _group_key(obs: Mapping) -> tuple:
    return (obs.get("area_label") or "", obs.get("unit_label") or "")


def build_charts(observations: Iterable[Mapping], lang: str) -> list[dict]:
    """One chart dict per (area, unit) among observations that have a period and a value.

    Each observation mapping needs: value (Decimal), period_label, period_sort, status (local
    name: Actual/Target/PolicyParameter), status_label, qualifier (local name), and optional
    area_label, unit_label, quote, iri.
    """
    groups: dict[tuple, list[Mapping]] = {}
    for obs in observations:
        if obs.get("value") is None or not obs.get("period_label") or not _drawable(obs["value"]):
            continue
        groups.setdefault(_group_key(obs), []).append(obs)
    return [_chart(area, unit, rows, lang) for (area, unit), rows in sorted(groups.items())]


def _chart(area: str, unit: str, rows: list[Mapping], lang: str) -> dict:
    """Bars, axes and legend of one chart, in SVG user units."""
    periods = sorted({(o["period_sort"], o["period_label"]) for o in rows})
    values = [float(o["value"]) for o in rows]
    ticks = nice_ticks(min(0.0, min(values)), max(0.0, max(values)))
    y_lo, y_hi = ticks[0], ticks[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def y(value: float) -> float:
        return TOP + plot_h * (y_hi - value) / (y_hi - y_lo)

    slot = plot_w / len(periods)
    bars, labels = [], []
    for index, (sort_key, period_label) in enumerate(periods):
        in_period = sorted((o for o in rows if o["period_sort"] == sort_key),
                           key=lambda o: (STATUS_ORDER.get(o["status"], 9), float(o["value"])))
        inner = slot * 0.8
        width = inner / len(in_period)
        x0 = LEFT + index * slot + (slot - inner) / 2
        for j, obs in enumerate(in_period):
            top, base = y(max(float(obs["value"]), 0.0)), y(min(float(obs["value"]), 0.0))
            sign = QUALIFIER_SIGNS.get(obs.get("qualifier") or "", "")
            bars.append({
                "x": round(x0 + j * width + 1, 2), "y": round(top, 2),
                "width": round(max(width - 2, 1), 2), "height": round(max(base - top, 0.5), 2),
                "status": obs["status"], "label": f"{sign}{humanize(obs['value'], lang)}",
                "label_x": round(x0 + j * width + width / 2, 2), "label_y": round(top - 4, 2),
                "title": " · ".join(filter(None, [period_label, obs.get("status_label"),
                                                  f"{sign}{humanize(obs['value'], lang)} {unit}".strip(),
                                                  obs.get("quote")])),
                "href": obs.get("href"),
            })
        labels.append({"x": round(LEFT + index * slot + slot / 2, 2), "y": HEIGHT - BOTTOM + 18,
                       "text": period_label})
    return {
        "area": area, "unit": unit, "width": WIDTH, "height": HEIGHT,
        "plot": {"x": LEFT, "y": TOP, "width": plot_w, "height": plot_h},
        "ticks": [{"y": round(y(t), 2), "text": humanize(Decimal(str(t)), lang)} for t in ticks],
        "zero_y": round(y(0.0), 2),
        "bars": bars, "period_labels": labels,
        "statuses": sorted({o["status"] for o in rows}, key=lambda s: STATUS_ORDER.get(s, 9)),
    }
