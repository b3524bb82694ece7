"""The benchmark's arithmetic: percentiles, ratios and verdicts."""

from __future__ import annotations

import pytest

from bench import stats


def test_percentile_is_nearest_rank_and_always_a_sample() -> None:
    samples = list(range(1, 101))
    assert stats.percentile(samples, 50) == 50
    assert stats.percentile(samples, 99) == 99
    assert stats.percentile(samples, 100) == 100
    assert stats.percentile([7], 99) == 7


def test_summary_converts_nanoseconds() -> None:
    result = stats.summary([1_000_000, 3_000_000, 2_000_000])
    assert result == {"n": 3, "unit": "ms", "median": 2.0, "p50": 2.0, "p99": 3.0, "min": 1.0, "max": 3.0}
    assert stats.summary([1_500], "us")["median"] == 1.5


def test_figure_ratio_and_verdict_follow_the_measurements() -> None:
    slower = stats.figure("k", "n", measured=13.0, baseline=10.0, baseline_name="b", unit="ms", op="<=", target=1.25)
    assert slower["ratio"] == pytest.approx(1.3)
    assert slower["verdict"] == "MISS"
    faster = stats.figure(
        "k", "n", measured=5.0, baseline=12.0, baseline_name="b", unit="ms", op=">=", target=2.0, inverse=True
    )
    assert faster["ratio"] == pytest.approx(2.4)
    assert faster["verdict"] == "PASS"
    assert faster["ratio_definition"] == "baseline / measured"


def test_a_missing_measurement_is_said_plainly() -> None:
    row = stats.figure(
        "k", "n", measured=None, baseline=3.0, baseline_name="b", unit="ms", op="<=", target=1.25, missing="not yet"
    )
    assert row["ratio"] is None
    assert row["verdict"] == "not yet"


def test_a_row_without_target_is_reported_not_judged() -> None:
    row = stats.figure("k", "n", measured=4.0, baseline=2.0, baseline_name="b", unit="us", op="<=", target=None)
    assert row["ratio"] == 2.0
    assert row["verdict"] == "reported"


def test_verdict_rejects_unknown_comparisons() -> None:
    with pytest.raises(ValueError, match="unknown comparison"):
        stats.verdict(1.0, "<", 2.0)


def test_flatness() -> None:
    assert stats.flatness([2.0, 2.5, 2.2]) == 1.25


def test_each_round_gives_its_own_ratio_of_medians() -> None:
    assert stats.round_medians([1, 3, 2, 10, 30, 20, 7], 3) == [2, 20, 7]  # the last round may be shorter
    assert stats.round_ratios([2.0, 20.0], [1.0, 10.0]) == [2.0, 2.0]
    assert stats.round_ratios([2.0, 5.0], [4.0, 10.0], inverse=True) == [2.0, 2.0]
    with pytest.raises(ValueError, match="same rounds"):
        stats.round_ratios([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="at least one"):
        stats.round_medians([1, 2], 0)


def test_the_spread_is_the_middle_half_of_the_rounds_and_marks_a_target_inside_it() -> None:
    rounds = [1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7]
    assert stats.spread(rounds) == {"rounds": 8, "low": 1.1, "high": 1.5, "min": 1.0, "max": 1.7}
    inside = stats.figure(
        "k", "n", measured=13.0, baseline=10.0, baseline_name="b", unit="ms", op="<=", target=1.25, rounds=rounds
    )
    assert (inside["verdict"], inside["within_noise"]) == ("MISS", True)  # the verdict stays the medians'
    clear = stats.figure(
        "k", "n", measured=20.0, baseline=10.0, baseline_name="b", unit="ms", op="<=", target=1.25,
        rounds=[1.9, 2.0, 2.1, 2.2],
    )  # fmt: skip
    assert (clear["verdict"], clear["within_noise"]) == ("MISS", False)
    assert "spread" not in stats.figure("k", "n", measured=1.0, baseline=1.0, baseline_name="b", unit="ms",
                                        op="<=", target=1.25)  # fmt: skip


def test_the_table_shows_the_spread_and_marks_a_verdict_within_noise() -> None:
    from bench import report

    row = stats.figure(
        "k", "Worker", measured=13.0, baseline=10.0, baseline_name="floor", unit="ms", op="<=", target=1.25,
        rounds=[1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7],
    )  # fmt: skip
    [_, _, line] = report.figures_table([row])
    assert "| 1.10–1.50x over 8 rounds |" in line
    assert line.endswith("| **MISS** (within noise) |")
    assert "1.30x (1.10–1.50x over 8 rounds); target ≤ 1.25x: MISS (within noise)" in report.one_line(row)
