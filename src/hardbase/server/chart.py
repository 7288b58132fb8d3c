"""The SLA chart: remediation times of the last 30 days as server-side SVG (no script, no
inline style: presentation attributes only, so the strict CSP holds)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from hardbase.lifecycle.status import percentile
from hardbase.server.queries import Remediated

WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 36


@dataclass(frozen=True)
class SLA:
    count: int
    p50: float | None
    p95: float | None
    target: float
    within: int  # remediations at or under the target


def human(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def sla(points: Sequence[Remediated], target: float) -> SLA:
    times = [p.seconds for p in points]
    return SLA(
        len(times), percentile(times, 50), percentile(times, 95), target,
        sum(1 for t in times if t <= target),
    )  # fmt: skip


def svg(points: Sequence[Remediated], target: float, now: float, days: int = 30) -> str:
    summary = sla(points, target)
    start = now - days * 86400.0
    top_value = max([target * 1.25, *(p.seconds * 1.1 for p in points)])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(ts: float) -> float:
        return LEFT + max(0.0, min(1.0, (ts - start) / (now - start))) * plot_w

    def y(value: float) -> float:
        return TOP + plot_h - (value / top_value) * plot_h

    desc = (
        f"{summary.count} remediations in the last {days} days; p50 {human(summary.p50)}, "
        f"p95 {human(summary.p95)}, target {human(target)}; "
        f"{summary.within} of {summary.count} within the target."
    )
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'class="chart" role="img" aria-labelledby="sla-title sla-desc" id="sla-chart">',
        f'<title id="sla-title">Remediation time, last {days} days</title>',
        f'<desc id="sla-desc">{escape(desc)}</desc>',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#ffffff" '
        'stroke="#6b7280"/>',
    ]
    for i in range(0, 5):
        value = top_value * i / 4
        yy = y(value)
        out.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{yy:.1f}" y2="{yy:.1f}" '
            'stroke="#e5e7eb"/>'
            f'<text x="{LEFT - 6}" y="{yy + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#1f2937">{human(value)}</text>'
        )
    for d in range(0, days + 1, 5):
        ts = start + d * 86400.0
        label = dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%b %d")
        out.append(
            f'<text x="{x(ts):.1f}" y="{HEIGHT - 12}" text-anchor="middle" font-size="11" '
            f'fill="#1f2937">{label}</text>'
        )
    lines: list[tuple[str, float | None, str, str]] = [
        ("target", target, "#b91c1c", "6 3"),
        ("p95", summary.p95, "#92400e", "2 2"),
        ("p50", summary.p50, "#1d4ed8", ""),
    ]
    for name, level, colour, dash in lines:
        if level is None:
            continue
        yy = y(level)
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        # p50 is labelled on the left, the others on the right, so close lines stay legible
        at, anchor = (LEFT + 4, "start") if name == "p50" else (LEFT + plot_w - 4, "end")
        out.append(
            f'<line class="sla-{name}" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{yy:.1f}" '
            f'y2="{yy:.1f}" stroke="{colour}" stroke-width="2"{dashes}/>'
            f'<text x="{at}" y="{yy - 4:.1f}" text-anchor="{anchor}" font-size="12" '
            f'fill="{colour}">{name} {human(level)}</text>'
        )
    for p in points:
        colour = "#047857" if p.seconds <= target else "#b91c1c"
        out.append(
            f'<circle class="sla-point" cx="{x(p.published_at):.1f}" cy="{y(p.seconds):.1f}" '
            f'r="4" fill="{colour}"><title>{escape(p.image)}: {human(p.seconds)}</title></circle>'
        )
    out.append("</svg>")
    return "".join(out)
