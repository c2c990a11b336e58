"""Percentile summaries: every figure is count, p50, p95, p99, max."""

from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def summary(values: Iterable[float], unit: str = "ms", **extra) -> dict:
    data = sorted(values)
    result = {
        "count": len(data),
        "p50": percentile(data, 0.50),
        "p95": percentile(data, 0.95),
        "p99": percentile(data, 0.99),
        "max": data[-1] if data else math.nan,
        "mean": sum(data) / len(data) if data else math.nan,
        "unit": unit,
    }
    result.update(extra)
    return result


def ns_to_ms(values: Iterable[int]) -> list[float]:
    return [v / 1e6 for v in values]
