"""`python -m bench --quick` runs end to end and writes coherent results. It judges no performance."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tools.localmachine import PROJECT_ROOT

pytestmark = pytest.mark.slow

SECTIONS = ("coldstart", "webhooks", "outbound", "latency", "e2e", "pacing")
VERDICTS = {"PASS", "MISS", "reported"}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory, own_azurite: object) -> tuple[dict[str, Any], str, Path]:
    out = tmp_path_factory.mktemp("bench")
    subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out)], cwd=PROJECT_ROOT, check=True, timeout=240
    )
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    return data, (out / "RESULTS.md").read_text(encoding="utf-8"), out


def test_machine_and_versions_are_recorded(results) -> None:
    data, markdown, _ = results
    assert data["quick"] is True
    assert {"cpu", "cores", "memory_gib", "python", "os"} <= set(data["machine"])
    for library in ("azure-functions", "twilio", "azure-data-tables", "azure-storage-queue", "azurite (npm)"):
        assert data["versions"][library], library
        assert library in markdown
    assert set(SECTIONS) <= set(data["details"])


def test_every_ratio_is_computed_from_its_two_medians(results) -> None:
    data, markdown, _ = results
    keys = {row["key"] for row in data["figures"]}
    assert {"cold_start", "webhook_voice_incoming", "webhook_sms_incoming", "webhook_twiml_message"} <= keys
    assert {"cold_start_packaged", "outbound_vs_floor", "outbound_vs_naive", "e2e_throughput"} <= keys
    assert {"outbound_vs_floor_plain", "outbound_vs_naive_plain"} <= keys
    assert {"pacing_at_most", "pacing_at_least", "pacing_burst"} <= keys
    assert {"outbound_vs_floor_latency", "outbound_vs_naive_latency"} <= keys
    assert {f"round_trips_{kind}_{part}" for kind in ("sms", "call") for part in ("round_trips", "before_post")} <= keys
    for row in data["figures"]:
        assert row["name"] in markdown
        if row["measured"] is None or row["baseline"] is None:
            assert row["ratio"] is None
            assert row["verdict"].startswith("not ")
            continue
        expected = (
            row["baseline"] / row["measured"]
            if row["ratio_definition"] == "baseline / measured"
            else row["measured"] / row["baseline"]
        )
        assert row["ratio"] == pytest.approx(expected)
        assert row["verdict"] in VERDICTS
        if row["target"] is not None:
            op, target = row["target"]["op"], row["target"]["value"]
            assert (row["verdict"] == "PASS") == (row["ratio"] <= target if op == "<=" else row["ratio"] >= target)


def test_figures_match_the_detailed_measurements(results) -> None:
    data, _, _ = results
    rows = {row["key"]: row for row in data["figures"]}
    cold = data["details"]["coldstart"]
    assert rows["cold_start"]["measured"] == cold["app_ms"]["median"]
    assert rows["cold_start"]["baseline"] == cold["floor_ms"]["median"]
    assert len(cold["app_samples_ms"]) == len(cold["floor_samples_ms"]) == data["sizes"]["coldstart"]["runs"]
    voice = data["details"]["webhooks"]["voice_incoming"]
    assert rows["webhook_voice_incoming"]["measured"] == voice["handler_us"]["median"]
    assert rows["webhook_voice_incoming"]["baseline"] == voice["floor_us"]["median"]
    assert voice["handler_us"]["n"] == voice["floor_us"]["n"] == data["sizes"]["webhooks"]["calls"]
    packaged = cold["packaged"]
    assert rows["cold_start_packaged"]["measured"] == packaged["app_ms"]["median"]
    assert rows["cold_start_packaged"]["baseline"] == packaged["floor_ms"]["median"]
    assert sys.implementation.cache_tag in packaged["cache_tags"]
    outbound = data["details"]["outbound"]
    largest = str(data["sizes"]["outbound"]["sizes"][-1])
    assert rows["outbound_vs_floor_plain"]["baseline"] == outbound["by_size"][largest]["floor"]["median"]
    assert outbound["twilio_creates_seen"]["messages"] == outbound["twilio_creates_expected"]
    secure = outbound["tls"]
    largest_tls = str(data["sizes"]["outbound"]["tls_sizes"][-1])
    assert rows["outbound_vs_floor"]["baseline"] == secure["by_size"][largest_tls]["floor"]["median"]
    assert secure["twilio_creates_seen"]["messages"] == secure["twilio_creates_expected"]
    plan = secure["plan"]
    assert rows["round_trips_sms_round_trips"]["measured"] == plan["sms_round_trips"] > 0
    assert plan["sms_before_post"] <= plan["sms_round_trips"]


def test_the_plot_is_drawn(results) -> None:
    _, markdown, out = results
    assert (out / "scaling.png").stat().st_size > 1000
    assert "](scaling.png)" in markdown
