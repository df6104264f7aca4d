"""Geometry for the report's inline SVG charts (the template only draws what these functions compute)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def line_chart(
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    width: int = 360,
    height: int = 140,
    floor: float | None = None,
    ceiling: float | None = None,
) -> dict[str, Any]:
    """Points of a line over equally spaced labels; None values leave a gap. Axis from floor to ceiling."""
    left, right, top, bottom = 36, 10, 10, 24
    known = [v for v in values if v is not None]
    low = floor if floor is not None else min(known, default=0.0)
    high = ceiling if ceiling is not None else max(known, default=1.0)
    if high <= low:
        high = low + 1
    span_x = width - left - right
    step = span_x / (len(labels) - 1) if len(labels) > 1 else 0
    points = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        x = left + (step * i if len(labels) > 1 else span_x / 2)
        y = None if value is None else top + (height - top - bottom) * (1 - (value - low) / (high - low))
        points.append({"x": round(x, 1), "y": None if y is None else round(y, 1), "label": label, "value": value})
    segments: list[str] = []
    current: list[str] = []
    for p in points:
        if p["y"] is None:
            if current:
                segments.append(" ".join(current))
            current = []
        else:
            current.append(f"{p['x']},{p['y']}")
    if current:
        segments.append(" ".join(current))
    return {
        "width": width,
        "height": height,
        "points": points,
        "segments": segments,
        "low": round(low, 1),
        "high": round(high, 1),
        "y_low": height - bottom,
        "y_high": top,
        "x_left": left,
        "x_right": width - right,
    }


def heat_colour(adherence: float | None) -> str:
    """Cell colour: grey when nothing was judged, red (0 %) through amber to green (100 %)."""
    if adherence is None:
        return "#e5e8ec"
    if adherence >= 95:
        return "#2f7d4f"
    if adherence >= 85:
        return "#7fb069"
    if adherence >= 70:
        return "#e3b23c"
    if adherence >= 50:
        return "#e07a33"
    return "#b8322a"
