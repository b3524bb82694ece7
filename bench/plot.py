"""The detail sections of RESULTS.md, and the scaling plot (bench/scaling.png, drawn with matplotlib)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

PLOT = "scaling.png"


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f} ms"


def coldstart_md(detail: dict[str, Any]) -> list[str]:
    imports, first = detail["imports"], detail["first_webhook_call"]
    packaged = detail.get("packaged")
    lines = ["## 1. Cold start, in detail", ""]
    if packaged:
        pkg_imports = packaged["imports"]
        lines += [
            f"- As packaged (`make package`, {packaged['artifact_files']} files, "
            f"{packaged['artifact_zip_bytes'] / 1024:,.0f} KiB zipped, bytecode {', '.join(packaged['cache_tags'])}; "
            f"unpacked, PYTHONDONTWRITEBYTECODE=1): app median {_ms(packaged['app_ms']['median'])} "
            f"(min {_ms(packaged['app_ms']['min'])}), floor median {_ms(packaged['floor_ms']['median'])} "
            f"(min {_ms(packaged['floor_ms']['min'])}); {packaged['runs']} runs each. The app imports "
            f"{pkg_imports['extra_modules']} modules beyond azure.functions there, {pkg_imports['extra_self_ms']} ms "
            "of their own import time: "
            + ", ".join(f"`{item['module']}` {item['self_ms']} ms" for item in pkg_imports.get("top_self", [])[:6])
            + ".",
        ]
    lines += [
        f"- From the checkout: app median {_ms(detail['app_ms']['median'])} (min {_ms(detail['app_ms']['min'])}, "
        f"max {_ms(detail['app_ms']['max'])}); floor: median {_ms(detail['floor_ms']['median'])} "
        f"(min {_ms(detail['floor_ms']['min'])}, max {_ms(detail['floor_ms']['max'])}); {detail['runs']} runs each.",
        f"- Heavy SDKs imported at start-up: {', '.join(imports['heavy_imported_at_startup']) or 'none'} "
        "(twilio.rest, azure.data.tables, azure.storage.queue, azure.storage.blob and azure.identity are deferred).",
        f"- `python -X importtime`: the app imports {imports['extra_modules']} modules beyond azure.functions, "
        f"{imports['extra_self_ms']} ms of their own import time. Blueprints and what they import: "
        + ", ".join(f"`{item['module']}` {item['cumulative_ms']} ms" for item in imports["top"][:6])
        + ". Largest single modules: "
        + ", ".join(f"`{item['module']}` {item['self_ms']} ms" for item in imports.get("top_self", [])[:6])
        + ".",
        f"- First invocations in a fresh process (median of {first['runs']}): importing the app "
        f"{_ms(first.get('import_app_ms'))}, indexing {_ms(first.get('index_ms'))}, then "
        + ", ".join(
            f"`{name}` first {_ms(first.get(f'first_{name}_ms'))} / second {_ms(first.get(f'second_{name}_ms'))}"
            for name in ("voice_incoming", "sms_incoming", "twiml_message")
        )
        + ".",
    ]
    sends = detail.get("first_outbound_send")
    if isinstance(sends, dict):
        lines.append(
            f"- First outbound send in a fresh process (median of {sends['runs']}), deferred imports and client "
            f"set-up included: {_ms(sends.get('first_send_ms'))}; the second: {_ms(sends.get('second_send_ms'))}."
        )
    elif sends:
        lines.append(f"- First outbound send: {sends}.")
    return lines


def webhooks_md(detail: dict[str, Any]) -> list[str]:
    lines = ["## 2. Webhook cost, in detail", ""]
    lines.append(
        "| route | handler median / p99 | floor median / p99 | as shipped median / p99 | record write median / p99 |"
    )
    lines.append("|---|---|---|---|---|")
    for name in ("voice_incoming", "sms_incoming", "twiml_message"):
        row = detail[name]

        def pair(key: str, row: dict[str, Any] = row) -> str:
            value = row.get(key)
            return f"{value['median']:,.0f} / {value['p99']:,.0f} us" if value else "–"

        lines.append(
            f"| {name} | {pair('handler_us')} | {pair('floor_us')} | {pair('shipped_us')} | {pair('record_write_us')} |"
        )
    lines.append("")
    parse = {name: detail[name]["parse_us"]["median"] for name in ("voice_incoming", "sms_incoming", "twiml_message")}
    lines.append(
        "Where the gap to the floor goes: the floor is handed the form already parsed, the handler parses the raw "
        "request itself (`WebhookRequest.parse`, median "
        + ", ".join(f"{value:.0f} us for {name}" for name, value in parse.items())
        + "), then checks the body cap, rebuilds the public URL and wraps the XML in an `HttpResponse`."
    )
    lines.append("")
    if detail.get("record_write_present"):
        lines.append(
            "The handlers write the inbound record to Table Storage synchronously, after the TwiML is built and "
            "before it is returned, so Twilio waits for it. The target row excludes that write (it is replaced by "
            f"a no-op); the 'as shipped' row includes it ({detail['shipped_calls_per_recorded_route']} calls per "
            "route, against Azurite on this machine)."
        )
    else:
        lines.append(f"Record write: {detail.get('record_write', 'not yet measured')}.")
    return lines


def outbound_md(detail: dict[str, Any]) -> list[str]:
    plan = detail["plan"]
    lines = [
        "## 3. Outbound cost per message, by size",
        "",
        f"Per message: {plan['twilio_posts']} Twilio POST, {plan['table_writes']} Table writes"
        + (f" ({len(plan['transactions'])} of them transactions)" if plan.get("transactions") else "")
        + f" and {plan['table_reads']} Table reads ({'counted on the worker' if plan['measured'] else 'assumed'}); "
        "the floor and the naive peer send the same requests (transactions as transactions), one after another. "
        f"Twilio creates expected {detail['twilio_creates_expected']}, seen by the emulator "
        f"{detail.get('twilio_creates_seen', {}).get('messages', '?')}.",
        "",
        "| messages | worker median / p99 | floor median / p99 | naive median / p99 |",
        "|---|---|---|---|",
    ]
    for size, result in detail["by_size"].items():

        def cell(name: str, result: dict[str, Any] = result) -> str:
            value = result.get(name)
            return f"{value['median']:.2f} / {value['p99']:.2f} ms" if value else "not available"

        lines.append(f"| {size} | {cell('worker')} | {cell('floor')} | {cell('naive')} |")
    return lines


def e2e_md(detail: dict[str, Any]) -> list[str]:
    if not detail.get("worker_available"):
        return ["## 4. End-to-end throughput", "", "Not measured: the app has no outbound worker in this build."]
    lines = [
        "## 4. End-to-end throughput, by size",
        "",
        f"Local host (`python -m tools.devhost`, host.json batchSize {detail['batch_size']}) + Twilio emulator + "
        "Azurite, each its own process; the ceiling is Azurite alone with the same storage operations per request.",
        "",
        "| requests | host req/s | ceiling req/s | share | p50 / p99 enqueue->final record | lost | statuses |",
        "|---|---|---|---|---|---|---|",
    ]
    for size, result in detail["by_size"].items():
        host, ceiling = result["host"], result["ceiling"]
        latency = host["latency_ms"] or {}
        rate = f"{ceiling['requests_per_second']:.0f}" if ceiling else "–"
        share = f"{host['requests_per_second'] / ceiling['requests_per_second'] * 100:.0f} %" if ceiling else "–"
        lines.append(
            f"| {size} | {host['requests_per_second']:.0f} | {rate} | {share} | "
            f"{latency.get('p50', 0):,.0f} / {latency.get('p99', 0):,.0f} ms | {host['lost']} | {host['statuses']} |"
        )
    return lines


def draw(results: dict[str, Any], path: Path) -> bool:
    """Cost per message against size. Returns False when there is nothing to draw."""
    outbound = results["details"].get("outbound", {}).get("by_size", {})
    e2e_sizes = results["details"].get("e2e", {}).get("by_size", {})
    if not outbound:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2 if e2e_sizes else 1, figsize=(11 if e2e_sizes else 6, 4), squeeze=False)
    left = axes[0][0]
    sizes = sorted(outbound, key=int)
    for name, style in (("worker", "o-"), ("floor", "s--"), ("naive", "^:")):
        points = [(int(size), outbound[size][name]["median"]) for size in sizes if name in outbound[size]]
        if points:
            left.plot([p[0] for p in points], [p[1] for p in points], style, label=name)
    left.set(xscale="log", xlabel="messages", ylabel="median ms per message", title="Outbound cost per message")
    left.set_ylim(bottom=0)
    left.legend()
    if e2e_sizes:
        right = axes[0][1]
        sizes = sorted(e2e_sizes, key=int)
        for key, style, label in (("host", "o-", "local host"), ("ceiling", "s", "Azurite alone")):
            points = [(int(s), 1000 / e2e_sizes[s][key]["requests_per_second"]) for s in sizes if e2e_sizes[s][key]]
            right.plot([p[0] for p in points], [p[1] for p in points], style, label=label)
        right.set(xscale="log", xlabel="requests", ylabel="ms of wall time per request", title="End to end")
        right.set_ylim(bottom=0)
        right.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True


def pacing_md(detail: dict[str, Any]) -> list[str]:
    kept = detail.get("rate_kept")
    return [
        "## 6. Pacing across hosts",
        "",
        f"{detail['messages']} SMS from one sender waited on the queue; {detail['hosts']} hosts of "
        f"{detail['threads_per_host']} threads each (each host its own queue, table, meter and Twilio clients) "
        f"consumed them with `OUTBOUND_MESSAGES_PER_SECOND={detail['rate']:g}`. Twilio (the emulator) saw "
        f"{detail['creates']} creates at {kept:.3f}/s"
        if kept is not None
        else "no rate (fewer than two creates)",
        "",
        f"- most creates in any one second: {detail['most_in_one_second']}; messages put back on the queue to wait "
        f"for their slot: {detail['put_back']}; meter rows contended (412): {detail['meter_conflicts']}; "
        f"Twilio refusals (21611): {detail['refused_21611']}; wall time {detail['wall_seconds']:.1f} s",
        f"- errors: {detail['errors'] or 'none'}",
    ]


def sections(results: dict[str, Any], out: Path) -> list[str]:
    details = results["details"]
    parts: list[list[str]] = []
    if "coldstart" in details:
        parts.append(coldstart_md(details["coldstart"]))
    if "webhooks" in details:
        parts.append(webhooks_md(details["webhooks"]))
    if "outbound" in details:
        parts.append(outbound_md(details["outbound"]))
    if "e2e" in details:
        parts.append(e2e_md(details["e2e"]))
    if "pacing" in details:
        parts.append(pacing_md(details["pacing"]))
    if draw(results, out / PLOT):
        parts.append(["## 5. Scaling", "", f"![cost per message against size]({PLOT})"])
    return ["\n".join(lines) for lines in parts]
