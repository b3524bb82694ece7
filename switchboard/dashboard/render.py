"""Pure: the operator page as one HTML document, with inline CSS, JS and SVG (no build step, no CDN).

Every value that comes from a record or the request goes through `html.escape`. The inline style and
script carry a per-response nonce that the Content-Security-Policy header names, so nothing else runs.

The one action, canceling a scheduled request, is a JSON POST to the page's own route (functions/dashboard.py)
sent by the page's script with the page's own function key, after a confirmation. Another site cannot forge
it: it has no key, and a cross-site JSON POST needs a CORS preflight, which the app never grants.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timezone
from urllib.parse import quote, urlencode

from switchboard.dashboard.model import Day, Row, format_elapsed, outcome, status_rank

CHART_WIDTH, CHART_HEIGHT, CHART_PAD = 720, 180, 28


def e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def csp(nonce: str) -> str:
    return (
        f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; img-src 'self' data:; "
        "media-src 'self'; connect-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )


def render_page(
    rows: Sequence[Row],
    days: Sequence[Day],
    *,
    now: datetime,
    nonce: str,
    query: str = "",
    code: str = "",
    limit: int = 0,
    stale: Sequence[Row] = (),
    scheduled: Sequence[Row] = (),
) -> str:
    title = f"Results for “{query}”" if query else "Recent calls and messages"
    clear = "?" + urlencode({"code": code}) if code else "?"
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        # No favicon request: img-src 'self' (for stored MMS images) would otherwise let one go out and 404.
        '<link rel="icon" href="data:,">',
        "<title>Switchboard · operator</title>",
        f'<style nonce="{e(nonce)}">{STYLE}</style></head><body>',
        "<header><h1>Switchboard</h1>",
        f'<p class="meta">{len(rows)} record{"s" if len(rows) != 1 else ""}'
        f"{f' (newest {limit})' if limit and len(rows) >= limit else ''}"
        f' · generated <time datetime="{e(_iso(now))}">{e(_clock(now))} UTC</time></p></header>',
        '<form class="search" method="get" role="search">',
        f'<input type="hidden" name="code" value="{e(code)}">' if code else "",
        f'<input type="search" name="q" value="{e(query)}" placeholder="Number (+15558675310), request id or SID" '
        'aria-label="Search by number, request id or SID" maxlength="100">',
        '<button type="submit">Search</button>',
        f'<a href="{e(clear)}">Clear</a>' if query else "",
        "</form>",
        _chart(days),
        _stale(stale),
        _scheduled(scheduled),
        f'<section class="records"><h2>{e(title)}</h2>',
        '<p class="tools"><input id="filter" type="search" placeholder="Filter these rows" aria-label="Filter rows">'
        f' <span id="shown">{len(rows)}</span> shown</p>',
        _table(rows, code),
        "</section>",
        f'<script nonce="{e(nonce)}">{SCRIPT}</script>',
        "</body></html>",
    ]
    return "\n".join(part for part in parts if part)


def _media(row: Row, code: str) -> str:
    """Recordings play and images show through the keyed media route (same origin: the page's CSP allows it)."""
    parts = []
    for name in row.media:
        src = f"media/{quote(row.id, safe='')}/{quote(name, safe='')}" + (
            f"?{urlencode({'code': code})}" if code else ""
        )
        if name.endswith((".wav", ".mp3")):
            parts.append(f'<audio controls preload="metadata" src="{e(src)}" title="{e(name)}"></audio>')
        elif name.endswith((".png", ".jpg", ".gif", ".webp", ".bmp")):
            parts.append(f'<a href="{e(src)}"><img src="{e(src)}" alt="{e(name)}" loading="lazy"></a>')
        else:
            parts.append(f'<a href="{e(src)}">{e(name)}</a>')
    return f'<div class="media">{"".join(parts)}</div>' if parts else ""


def _table(rows: Sequence[Row], code: str = "") -> str:
    if not rows:
        return '<p class="empty">No records.</p>'
    head = "".join(
        f"<th>{name}</th>"
        for name in ("Created (UTC)", "Type", "Direction", "Status", "To", "From", "Error", "Timing", "Id / SID")
    )
    body = []
    for row in rows:
        search = " ".join(
            (row.id, row.sid, row.to, row.from_, row.status, row.type, row.direction, row.error, row.error_reason)
        ).lower()
        timing = format_elapsed(row.elapsed)
        if row.duration is not None:
            timing = f"{timing} · {row.duration} s call".lstrip(" ·")
        created = (
            f'<time datetime="{e(_iso(row.created_at))}">{e(_clock(row.created_at))}</time>' if row.created_at else ""
        )
        body.append(
            f'<tr data-outcome="{row.outcome}" data-search="{e(search)}">'
            f"<td>{created}</td><td>{e(row.type)}</td><td>{e(row.direction)}</td>"
            f'<td><span class="badge {row.outcome}">{e(row.status)}</span></td>'
            f"<td>{e(row.to)}</td><td>{e(row.from_)}</td>"
            f'<td class="error">{e(row.error)}{_remedy(row)}</td><td>{e(timing)}</td>'
            f'<td class="id"><code>{e(row.id)}</code>{f"<br><small>{e(row.sid)}</small>" if row.sid else ""}'
            f"{_media(row, code)}</td>"
            "</tr>"
        )
    return f'<table id="records"><thead><tr>{head}</tr></thead><tbody>\n' + "\n".join(body) + "\n</tbody></table>"


def _remedy(row: Row) -> str:
    """Next to the error code: what it means and what to do (switchboard/shared/reasons.py)."""
    if not row.error_reason:
        return ""
    return f'<br><small class="remedy"><b>{e(row.error_reason)}</b>: {e(row.error_remedy)}</small>'


def _stale(rows: Sequence[Row]) -> str:
    """Records still not final 7 days after they were created: Twilio was asked and had no final word."""
    if not rows:
        return ""
    items = "".join(
        f'<li><time datetime="{e(_iso(row.created_at))}">{e(_clock(row.created_at))}</time> '
        f'{e(row.type)} <span class="badge {row.outcome}">{e(row.status)}</span> <code>{e(row.id)}</code>'
        f"{f' <small>{e(row.sid)}</small>' if row.sid else ''}</li>"
        for row in rows
    )
    return (
        f'<section class="stale"><h2>Stale: {len(rows)} record{"s" if len(rows) != 1 else ""} not final 7 days '
        f"after {'they were' if len(rows) != 1 else 'it was'} created</h2><ul>{items}</ul></section>"
    )


def _scheduled(rows: Sequence[Row]) -> str:
    """Requests waiting for their send_at or the end of quiet hours, the soonest first, each with a cancel button."""
    if not rows:
        return ""
    body = "".join(
        f'<tr data-id="{e(row.id)}"><td><time datetime="{e(_iso(row.scheduled_for))}">'
        f"{e(_clock(row.scheduled_for))}</time></td><td>{e(row.type)}</td><td>{e(row.to)}</td>"
        f"<td><code>{e(row.id)}</code></td>"
        f'<td><button type="button" class="cancel" data-id="{e(row.id)}">Cancel</button> '
        '<span class="outcome" role="status"></span></td></tr>'
        for row in rows
    )
    return (
        f'<section class="scheduled"><h2>Scheduled: {len(rows)} request{"s" if len(rows) != 1 else ""} waiting'
        '</h2><table id="scheduled"><thead><tr><th>Will be tried (UTC)</th><th>Type</th><th>To</th><th>Id</th>'
        f"<th></th></tr></thead><tbody>{body}</tbody></table></section>"
    )


def _chart(days: Sequence[Day]) -> str:
    """Counts per status per day as stacked bars, with a legend of the period's totals."""
    if not days:
        return ""
    totals: Counter[str] = Counter()
    for day in days:
        totals.update(day.counts)
    peak = max((day.total for day in days), default=0) or 1
    inner_height = CHART_HEIGHT - 2 * CHART_PAD
    slot = (CHART_WIDTH - 2 * CHART_PAD) / len(days)
    bar = max(4.0, slot * 0.6)
    shapes = [
        f'<line class="axis" x1="{CHART_PAD}" y1="{CHART_HEIGHT - CHART_PAD}" '
        f'x2="{CHART_WIDTH - CHART_PAD}" y2="{CHART_HEIGHT - CHART_PAD}"/>',
        f'<text class="peak" x="{CHART_PAD - 6}" y="{CHART_PAD + 4}" text-anchor="end">{peak}</text>',
    ]
    for index, day in enumerate(days):
        x = CHART_PAD + index * slot + (slot - bar) / 2
        y = float(CHART_HEIGHT - CHART_PAD)
        label = day.day.isoformat()
        for status, count in day.counts.items():
            height = inner_height * count / peak
            y -= height
            shapes.append(
                f'<rect class="{outcome(status)}" data-status="{e(status)}" x="{x:.1f}" y="{y:.1f}" '
                f'width="{bar:.1f}" height="{height:.1f}"><title>{e(label)} {e(status)}: {count}</title></rect>'
            )
        shapes.append(
            f'<text x="{x + bar / 2:.1f}" y="{CHART_HEIGHT - CHART_PAD + 16}" text-anchor="middle">'
            f"{e(label[5:])}</text>"
        )
        if day.total:
            shapes.append(f'<text x="{x + bar / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle">{day.total}</text>')
    legend = "".join(
        f'<li><span class="swatch {outcome(status)}"></span>{e(status)} <b>{count}</b></li>'
        for status, count in sorted(totals.items(), key=lambda item: status_rank(item[0]))
    )
    first, last = days[0].day.isoformat(), days[-1].day.isoformat()
    summary = f"Records per day by status, {first} to {last}"
    return (
        f'<section class="chart"><h2>Per day, {e(first)} to {e(last)}</h2>'
        f'<svg id="per-day" viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" role="img" aria-label="{e(summary)}">'
        f"<title>{e(summary)}</title>{''.join(shapes)}</svg>"
        f'<ul class="legend">{legend or "<li>nothing in this period</li>"}</ul></section>'
    )


def _iso(moment: datetime | None) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z") if moment else ""


def _clock(moment: datetime | None) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


STYLE = """
:root{--ok:#2e7d32;--failed:#c62828;--unknown:#b26a00;--pending:#1565c0;--line:#d0d7de;--muted:#57606a}
*{box-sizing:border-box}
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;padding:16px 24px;color:#1f2328}
h1{font-size:20px;margin:0}h2{font-size:16px;margin:20px 0 8px}
header{display:flex;align-items:baseline;gap:16px;flex-wrap:wrap}.meta{color:var(--muted);margin:0}
.search{display:flex;gap:8px;margin:12px 0;align-items:center}.search input{flex:0 1 360px;padding:6px 8px}
input,button{font:inherit;border:1px solid var(--line);border-radius:6px}button{padding:6px 12px;background:#f6f8fa}
#per-day{width:100%;max-width:760px;height:auto;display:block}#per-day text{font-size:11px;fill:var(--muted)}
#per-day .axis{stroke:var(--line)}#per-day rect{stroke:#fff;stroke-width:1}
rect.ok,.swatch.ok{fill:var(--ok);background:var(--ok)}
rect.failed,.swatch.failed{fill:var(--failed);background:var(--failed)}
rect.unknown,.swatch.unknown{fill:var(--unknown);background:var(--unknown)}
rect.pending,.swatch.pending{fill:var(--pending);background:var(--pending)}
.legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:12px;margin:6px 0}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px}
.tools{margin:4px 0 8px}.tools input{padding:4px 8px;width:240px}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid var(--line);padding:6px 8px;text-align:left;
vertical-align:top}th{background:#f6f8fa;position:sticky;top:0}td.error{color:var(--failed);max-width:280px}
td.id code{font-size:12px}td small{color:var(--muted)}.badge{padding:1px 8px;border-radius:10px;color:#fff;
font-size:12px;white-space:nowrap}.badge.ok{background:var(--ok)}.badge.failed{background:var(--failed)}
.badge.unknown{background:var(--unknown)}.badge.pending{background:var(--pending)}.empty{color:var(--muted)}
.media{display:flex;flex-wrap:wrap;gap:6px;margin-top:4px}.media audio{height:32px;max-width:260px}
.media img{max-width:96px;max-height:96px;border:1px solid var(--line);border-radius:4px}
#scheduled{max-width:900px}#scheduled button{padding:2px 10px}.outcome{color:var(--muted)}
"""

SCRIPT = (
    "(()=>{const f=document.getElementById('filter'),shown=document.getElementById('shown');"
    "const rows=[...document.querySelectorAll('#records tbody tr')];"
    "f.addEventListener('input',()=>{const q=f.value.trim().toLowerCase();let n=0;"
    "for(const r of rows){const hit=!q||r.dataset.search.includes(q);r.hidden=!hit;if(hit)n++;}"
    "shown.textContent=String(n);});"
    # Cancel a scheduled request: confirm, DELETE with the page's key, say what the app answered.
    "const code=new URLSearchParams(location.search).get('code');"
    "for(const b of document.querySelectorAll('button.cancel')){b.addEventListener('click',async()=>{"
    "const id=b.dataset.id,out=b.parentElement.querySelector('.outcome');"
    "if(!confirm('Cancel request '+id+'? It will not be sent.'))return;b.disabled=true;"
    "const url='dashboard'+(code?'?code='+encodeURIComponent(code):'');"
    "try{const r=await fetch(url,{method:'POST',headers:{'Content-Type':'application/json',"
    "'Accept':'application/json'},body:JSON.stringify({cancel:id}),credentials:'same-origin',cache:'no-store'});"
    "const a=await r.json().catch(()=>({}));"
    "if(r.ok){out.textContent='canceled';b.remove();}"
    "else{out.textContent=r.status===409?'not canceled: it is '+(a.status||'started'):"
    "'not canceled (HTTP '+r.status+')';b.disabled=r.status===409;}"
    "}catch(err){out.textContent='not canceled: the app did not answer';b.disabled=false;}});}"
    "})();"
)
