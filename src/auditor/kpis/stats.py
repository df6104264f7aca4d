"""Small statistics with exactly documented rules (see docs/kpis.md)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def percent(part: int, whole: int) -> float | None:
    """`100 × part / whole` rounded to one decimal; None when `whole` is 0."""
    if whole == 0:
        return None
    return round(100 * part / whole, 1)


def median(values: Sequence[float]) -> float | None:
    """The middle value of the sorted values; the mean of the two middle ones for an even count; None if empty."""
    if not values:
        return None
    return statistics.median(values)


def nearest_rank(values: Sequence[float], p: int) -> float | None:
    """The p-th percentile by the nearest-rank method: the k-th smallest value, k = ceil(p × n / 100), k ≥ 1.

    `p` is a whole number 1..100, so k is computed exactly in integers. None if empty.
    """
    if not 1 <= p <= 100:
        raise ValueError(f"percentile must be 1..100, not {p}")
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-p * len(ordered) // 100))
    return ordered[rank - 1]


def rounded(value: float | None, digits: int = 2) -> float | None:
    """`value` rounded, None stays None."""
    return None if value is None else round(value, digits)
