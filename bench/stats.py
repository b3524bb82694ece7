"""Pure helpers: summaries of timing samples, ratios and verdicts. No I/O here."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

NS_PER_MS = 1_000_000
NS_PER_US = 1_000


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100): always one of the measured values."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return float(ordered[rank - 1])


def summary(samples_ns: Sequence[int | float], unit: str = "ms") -> dict[str, Any]:
    """Median, p99 and spread of samples in nanoseconds, expressed in `unit` (ms or us)."""
    scale = NS_PER_MS if unit == "ms" else NS_PER_US
    values = [s / scale for s in samples_ns]
    return {
        "n": len(values),
        "unit": unit,
        "median": statistics.median(values),
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "min": min(values),
        "max": max(values),
    }


def round_medians(samples: Sequence[int | float], size: int) -> list[float]:
    """The median of each consecutive round of `size` samples (the last one may be shorter)."""
    if size <= 0:
        raise ValueError("a round holds at least one sample")
    return [statistics.median(samples[start : start + size]) for start in range(0, len(samples), size)]


def round_ratios(measured: Sequence[float], baseline: Sequence[float], *, inverse: bool = False) -> list[float]:
    """Each interleaved round's ratio of medians: both sides of one round saw the machine in the same state."""
    if len(measured) != len(baseline):
        raise ValueError("both sides need the same rounds")
    return [ratio(m, b, inverse=inverse) for m, b in zip(measured, baseline, strict=True)]


def spread(values: Sequence[float]) -> dict[str, Any]:
    """How far the rounds' ratios spread: the middle half (nearest-rank quartiles) and the extremes."""
    return {
        "rounds": len(values),
        "low": percentile(values, 25),
        "high": percentile(values, 75),
        "min": min(values),
        "max": max(values),
    }


def ratio(measured: float, baseline: float, *, inverse: bool = False) -> float:
    """measured/baseline, or baseline/measured when `inverse` (a speed-up over a slower peer)."""
    top, bottom = (baseline, measured) if inverse else (measured, baseline)
    if bottom <= 0:
        raise ValueError("cannot divide by a non-positive measurement")
    return top / bottom


def verdict(value: float, op: str, target: float) -> str:
    if op == "<=":
        return "PASS" if value <= target else "MISS"
    if op == ">=":
        return "PASS" if value >= target else "MISS"
    raise ValueError(f"unknown comparison {op!r}")


def figure(
    key: str,
    name: str,
    *,
    measured: float | None,
    baseline: float | None,
    baseline_name: str,
    unit: str,
    op: str,
    target: float | None,
    inverse: bool = False,
    ratio_label: str = "x",
    note: str = "",
    missing: str = "not measured",
    rounds: Sequence[float] | None = None,
) -> dict[str, Any]:
    """One row of the results: a median, its floor or peer, their ratio, the target and the verdict.

    `inverse=True` means the ratio is baseline/measured (how many times faster than a peer).
    When either number is missing the row says so, with `missing` as its reason.
    `rounds`: the same ratio in each interleaved round (`round_ratios`); the row then states its spread,
    and whether the target lies inside the middle half of it (`within_noise`: a rerun may well give the
    other verdict). The verdict itself is always the overall medians'.
    """
    row: dict[str, Any] = {
        "key": key,
        "name": name,
        "unit": unit,
        "measured": measured,
        "baseline_name": baseline_name,
        "baseline": baseline,
        "ratio_definition": "baseline / measured" if inverse else "measured / baseline",
        "ratio_label": ratio_label,
        "target": {"op": op, "value": target} if target is not None else None,
        "note": note,
    }
    if measured is None or baseline is None:
        row["ratio"] = None
        row["verdict"] = missing
    else:
        row["ratio"] = ratio(measured, baseline, inverse=inverse)
        # A row without a target is reported for information, next to the one that has it.
        row["verdict"] = verdict(row["ratio"], op, target) if target is not None else "reported"
    if rounds:
        row["spread"] = spread(rounds)
        if target is not None:
            row["within_noise"] = row["spread"]["low"] <= target <= row["spread"]["high"]
    return row


def flatness(costs: Sequence[float]) -> float:
    """Largest over smallest cost per message across sizes: 1.0 is perfectly flat."""
    if not costs or min(costs) <= 0:
        raise ValueError("need positive costs")
    return max(costs) / min(costs)
