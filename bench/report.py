"""Writing the results: bench/results.json (everything) and bench/RESULTS.md (the table people read)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

NOTES = [
    "## How to read these numbers",
    "",
    "- **Cold start** runs a new interpreter per sample, so both sides include the interpreter's own start-up. "
    "The targeted row runs the `make package` artifact unpacked into a temporary folder with "
    "`PYTHONDONTWRITEBYTECODE=1`, as Azure's read-only mount does; the checkout row is context.",
    "- **Webhooks**: the floor is only the SDK's work (`RequestValidator.validate` on an already parsed form, then "
    "the same TwiML built and serialised). The handler also parses the raw request, applies the body cap, "
    "rebuilds the public URL and builds the `HttpResponse`.",
    "- **Outbound**: all three contenders send the same SMS to the Twilio emulator and make the same Table requests "
    "as the worker (counted from its HTTP requests; its transactions as transactions of as many entities), so the "
    "comparison is about client reuse, the worker's own logic and which requests it sends at once (the floor "
    "and the naive peer send theirs one after another). The targeted rows run over TLS: the benchmark "
    "makes a CA with trustme, Azurite serves "
    "HTTPS with `--cert`/`--key`, the emulator serves HTTPS, and the SDKs trust the CA through "
    "`REQUESTS_CA_BUNDLE`, so a new client per message pays a TLS handshake to each service, as it would against "
    "api.twilio.com and Azure Storage. Loopback TLS is still far cheaper than a handshake across a network. "
    "The plain-HTTP rows are context.",
    "- **Spread and noise**: the contenders run interleaved, round by round (25 messages, 10 through the latency "
    "proxy, 500 webhook calls), so each round's ratio of medians saw one state of the machine. The spread column "
    "is the middle half of those per-round ratios (nearest-rank quartiles). Two runs agree within their noise when "
    "each one's ratio lies inside the other's spread. A verdict marked *within noise* has its target inside that "
    "spread: this run cannot tell it apart from the other verdict, and a rerun may flip it. The verdict itself is "
    "always that of the overall medians.",
    "- **Round trips** are Table requests per message as the SDKs sent them (a transaction is one request), "
    "the most seen over the calibration messages; the budget is the issue's (8 in all, 5 before Twilio answers).",
    "- **End to end**: all N requests are enqueued at once, as a burst, so latency from enqueue to final record is "
    "mostly time spent waiting in the queue; throughput is the figure to compare. A final record is one with a "
    "Twilio SID (or a final failure status); the emulator answers creates and sends no status callbacks here.",
]


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "–"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}" if abs(value) >= 1 else f"{value:.3f}"
    return f"{text} {unit}".strip()


def _target(row: dict[str, Any]) -> str:
    if row["target"] is None:
        return "none (for information)"
    label = row.get("ratio_label", "x")
    value = row["target"]["value"]
    shown = f"{value * 100:.0f} %" if label == "%" else f"{value:g}x"
    return f"{row['target']['op']} {shown}".replace("<=", "≤").replace(">=", "≥")


def _shown(value: float, label: str) -> str:
    return f"{value * 100:.0f} %" if label == "%" else f"{value:.2f}x"


def _ratio(row: dict[str, Any]) -> str:
    if row["ratio"] is None:
        return "–"
    return _shown(row["ratio"], row.get("ratio_label", "x"))


def _spread(row: dict[str, Any]) -> str:
    """`1.35-1.50x over 12 rounds`: the middle half of the per-round ratios, or '' when the row has none."""
    spread = row.get("spread")
    if not spread:
        return ""
    label = row.get("ratio_label", "x")
    low, high = _shown(spread["low"], label), _shown(spread["high"], label)
    return f"{low.rstrip('x%').strip()}–{high} over {spread['rounds']} round{'s' if spread['rounds'] != 1 else ''}"


def _verdict(row: dict[str, Any]) -> str:
    shown = {"PASS": "PASS", "MISS": "**MISS**"}.get(row["verdict"], row["verdict"])
    return shown + (" (within noise)" if row.get("within_noise") else "")


def one_line(row: dict[str, Any]) -> str:
    """A figure on one line, next to its target: for the run's own output."""
    unit = row["unit"]
    spread = _spread(row)
    return (
        f"{row['name']}: {_number(row['measured'], unit)} against {row['baseline_name']}, {_ratio(row)}"
        f"{f' ({spread})' if spread else ''}; target {_target(row)}: {_verdict(row).replace('**', '')}"
    )


def figures_table(figures: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| figure | measured (median) | floor or peer | its median | ratio | spread of the ratio | target | result |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in figures:
        unit = row["unit"]
        measured = _number(row["measured"], unit)
        baseline = _number(row["baseline"], unit)
        if row.get("measured_p99") is not None:
            measured += f" (p99 {_number(row['measured_p99'], unit)})"
            baseline += f" (p99 {_number(row['baseline_p99'], unit)})"
        lines.append(
            f"| {row['name']} | {measured} | {row['baseline_name']} | {baseline} | {_ratio(row)} "
            f"({row['ratio_definition']}) | {_spread(row) or '–'} | {_target(row)} | {_verdict(row)} |"
        )
    return lines


def markdown(results: dict[str, Any]) -> str:
    machine, versions = results["machine"], results["versions"]
    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench` (`python -m bench{' --quick' if results['quick'] else ''}`) on "
        f"{results['finished_at']}, in {results['wall_seconds']:.0f} s. Every ratio compares two medians "
        "measured in the same run, interleaved; absolute times are for this machine only.",
        "",
        "## Machine",
        "",
        f"- CPU: {machine['cpu']}, {machine['cores']} cores; memory {machine['memory_gib']} GiB",
        f"- Python {machine['python']} ({machine['implementation']}), {machine['os']}",
        "- Libraries: " + ", ".join(f"{name} {version or 'not installed'}" for name, version in versions.items()),
        f"- Sizes: {json.dumps(results['sizes'])}",
        f"- Load average (1 min) at start and end: {results.get('load_start', '?')} / {results.get('load_end', '?')} "
        "(other work on the machine shows up here and in the spread of the samples)",
        *_section_loads(results),
        "",
        "## Figures",
        "",
        *figures_table(results["figures"]),
        "",
    ]
    misses = [row for row in results["figures"] if row["verdict"] == "MISS"]
    passes = [row for row in results["figures"] if row["verdict"] == "PASS"]
    missing = [row for row in results["figures"] if row["verdict"] not in ("PASS", "MISS", "reported")]
    targeted = len(passes) + len(misses) + len(missing)
    lines.append(
        f"{len(passes)} of {targeted} targets met; {len(misses)} missed; {len(missing)} not measured. "
        "Rows without a target are context for the row above them."
    )
    lines.append("")
    lines += ["Notes on the rows:", ""]
    lines += [f"- {row['name']}: {row['note']}" for row in results["figures"] if row.get("note")]
    lines += ["", *NOTES, ""]
    for section in results.get("sections_md", []):
        lines += [section, ""]
    return "\n".join(lines).rstrip() + "\n"


def _section_loads(results: dict[str, Any]) -> list[str]:
    loads = results.get("load_by_section")
    if not loads:
        return []
    shown = ", ".join(f"{name} {start} / {end}" for name, (start, end) in loads.items())
    return [f"- Load average (1 min) at each section's start and end: {shown}"]


def write(results: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    json_path, md_path = directory / "results.json", directory / "RESULTS.md"
    body = {key: value for key, value in results.items() if key != "sections_md"}
    json_path.write_text(json.dumps(body, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    md_path.write_text(markdown(results), encoding="utf-8")
    return json_path, md_path
