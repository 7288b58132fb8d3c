"""The scorecard as a self-contained HTML page (inline CSS and SVG charts, no script, no
network) and as Markdown. Both render from the JSON document, so they show its numbers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from hardbase.evaluate.scorecard import (
    DIMENSIONS,
    LEGEND,
    VERDICT_MEANINGS,
    format_value,
    row_value,
    summary_rows,
)

SEVERITY_COLOURS = (
    ("critical", "#7f1d1d"),
    ("high", "#dc2626"),
    ("medium", "#f59e0b"),
    ("low", "#facc15"),
    ("negligible", "#a3a3a3"),
    ("unknown", "#6b7280"),
)
VERDICT_COLOURS = {"good": "#15803d", "fair": "#b45309", "poor": "#b91c1c", "unknown": "#6b7280"}
IMAGE_COLOURS = ("#2563eb", "#9333ea", "#0d9488", "#ea580c", "#4b5563")

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem;color:#111;
max-width:80rem}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #ddd;padding:.3rem .6rem;
text-align:left;vertical-align:top}th{background:#f5f5f5}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.verdict{color:#fff;border-radius:.3rem;padding:.1rem .5rem;font-weight:600}
.charts{display:flex;flex-wrap:wrap;gap:2rem}.muted{color:#666;font-size:.9rem}
code{font-size:.85rem;word-break:break-all}details{margin:.3rem 0}
"""


def _badge(verdict: str) -> str:
    colour = VERDICT_COLOURS.get(verdict, "#6b7280")
    return f'<span class="verdict" style="background:{colour}">{escape(verdict)}</span>'


def _label(card: Mapping[str, Any], i: int) -> str:
    return f"{i + 1}. {card['title']}"


def _bar_chart(
    title: str, labels: list[str], series: list[list[tuple[str, float, str]]], unit: str
) -> str:
    """Horizontal (stacked) bars: one bar per label, each a list of (name, value, colour)."""
    width, left, bar_h, gap = 640, 220, 26, 12
    total = max((sum(v for _, v, _ in s) for s in series), default=0) or 1
    height = 40 + len(labels) * (bar_h + gap)
    out = [
        f'<svg role="img" aria-label="{escape(title)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="0" y="16" font-size="14" font-weight="600">{escape(title)}</text>',
    ]
    span = width - left - 90
    for i, (label, parts) in enumerate(zip(labels, series, strict=True)):
        y = 30 + i * (bar_h + gap)
        out.append(
            f'<text x="0" y="{y + bar_h * 0.7:.0f}" font-size="12">{escape(label[:34])}</text>'
        )
        x = float(left)
        for name, value, colour in parts:
            w = span * value / total
            if w > 0:
                out.append(
                    f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour}">'
                    f"<title>{escape(name)}: {value:g}{escape(unit)}</title></rect>"
                )
            x += w
        value_text = f"{sum(v for _, v, _ in parts):g}{unit}"
        out.append(
            f'<text x="{x + 6:.1f}" y="{y + bar_h * 0.7:.0f}" font-size="12">'
            f"{escape(value_text)}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def _charts(cards: Sequence[Mapping[str, Any]]) -> str:
    labels = [_label(c, i) for i, c in enumerate(cards)]
    sizes = [
        [("compressed", round(c["minimality"]["compressed_bytes"] / 1e6, 1), IMAGE_COLOURS[0])]
        for c in cards
    ]
    unpacked = [
        [("uncompressed", round(c["minimality"]["uncompressed_bytes"] / 1e6, 1), IMAGE_COLOURS[1])]
        for c in cards
    ]
    findings = [
        [
            (sev, float(c["security"]["by_severity"].get(sev, 0)), colour)
            for sev, colour in SEVERITY_COLOURS
        ]
        for c in cards
    ]
    legend = " ".join(
        f'<span style="color:{colour}">&#9632;</span> {sev}' for sev, colour in SEVERITY_COLOURS
    )
    return (
        '<div class="charts">'
        f"<div>{_bar_chart('Compressed size (MB)', labels, sizes, ' MB')}</div>"
        f"<div>{_bar_chart('Uncompressed size (MB)', labels, unpacked, ' MB')}</div>"
        f"<div>{_bar_chart('Open findings by severity', labels, findings, '')}"
        f'<p class="muted">{legend}</p></div>'
        "</div>"
    )


def _summary(cards: Sequence[Mapping[str, Any]]) -> str:
    head = "".join(f'<th scope="col">{escape(_label(c, i))}</th>' for i, c in enumerate(cards))
    rows = [
        '<table id="summary"><caption class="muted">Verdicts, recommendation and key measures '
        'per image; see "What the verdicts mean" below.</caption>'
        '<thead><tr><th scope="col">Dimension</th>',
        head,
        "</tr></thead><tbody>",
    ]
    advice = "".join(
        f'<td data-image="{i}" data-metric="recommendation" '
        f'data-value="{escape(c["recommendation"]["rule"])}">'
        f"<b>{escape(c['recommendation']['text'])}</b></td>"
        for i, c in enumerate(cards)
    )
    rows.append(f'<tr><th scope="row">Recommendation</th>{advice}</tr>')
    for dimension, title in DIMENSIONS:
        cells = "".join(
            f'<td data-image="{i}" data-metric="{dimension}.verdict" '
            f'data-value="{c[dimension]["verdict"]}">'
            f"{_badge(c[dimension]['verdict'])}</td>"
            for i, c in enumerate(cards)
        )
        rows.append(f'<tr><th scope="row">{escape(title)}</th>{cells}</tr>')
    for label, dim, key, kind in summary_rows():
        tds: list[str] = []
        for i, c in enumerate(cards):
            value = row_value(c, dim, key)
            cls = ' class="num"' if kind in ("int", "bytes") else ""
            tds.append(
                f'<td{cls} data-image="{i}" data-metric="{dim}.{key}" '
                f"data-value='{escape(json.dumps(value), quote=True)}'>"
                f"{escape(format_value(value, kind))}</td>"
            )
        rows.append(f'<tr><th scope="row">{escape(label)}</th>{"".join(tds)}</tr>')
    rows.append("</tbody></table>")
    return "".join(rows)


def _legend() -> str:
    """What good, fair, poor and unknown mean, and the rule of each dimension."""
    meanings = "".join(
        f"<li>{_badge(verdict)} {escape(text)}</li>" for verdict, text in VERDICT_MEANINGS.items()
    )
    rules = "".join(
        f'<tr><th scope="row">{escape(title)}</th><td>{escape(LEGEND[key])}</td></tr>'
        for key, title in DIMENSIONS
    )
    return (
        '<h2 id="legend">What the verdicts mean</h2>'
        f'<ul class="legend">{meanings}</ul>'
        '<table><thead><tr><th scope="col">Dimension</th><th scope="col">Rule</th></tr></thead>'
        f"<tbody>{rules}</tbody></table>"
        '<p class="muted">The recommendation takes the first rule that applies: not scanned; '
        "fixable findings (needs patching); the smoke run failed; support ended; any other "
        "poor dimension (harden first); otherwise suitable as a production base, naming the "
        "fair dimensions.</p>"
    )


def _value_html(value: Any) -> str:
    if isinstance(value, dict):
        if not value:
            return "none"
        return "<br>".join(
            f"{escape(str(k))}: {_value_html(v)}" for k, v in list(value.items())[:200]
        )
    if isinstance(value, list):
        if not value:
            return "none"
        if all(isinstance(v, dict) for v in value):
            return "<br>".join(
                ("&#10003; " if v.get("ok") else "&#10007; ")
                + escape(str(v.get("check", "")))
                + f' <span class="muted">({escape(str(v.get("detail", "")))})</span>'
                for v in value
            )
        shown = ", ".join(escape(str(v)) for v in value[:40])
        return shown + (f" and {len(value) - 40} more" if len(value) > 40 else "")
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return escape(str(value))


def _details(cards: Sequence[Mapping[str, Any]]) -> str:
    out: list[str] = []
    for key, title in DIMENSIONS:
        out.append(f"<h2>{escape(title)}</h2><table><thead><tr><th>measure</th>")
        out.append("".join(f"<th>{escape(_label(c, i))}</th>" for i, c in enumerate(cards)))
        out.append("</tr></thead><tbody>")
        fields = [k for k in cards[0][key] if k != "verdict"] if cards else []
        for name in fields:
            out.append(f"<tr><td>{escape(name.replace('_', ' '))}</td>")
            for c in cards:
                value = c[key].get(name)
                html = _value_html(value)
                if isinstance(value, (dict, list)) and len(value) > 8:
                    html = f"<details><summary>{len(value)} entries</summary>{html}</details>"
                out.append(f"<td>{html}</td>")
            out.append("</tr>")
        out.append("</tbody></table>")
    return "".join(out)


def render_html(doc: Mapping[str, Any]) -> str:
    cards: Sequence[Mapping[str, Any]] = doc["images"]
    images = "".join(
        f"<li><b>{escape(c['title'])}</b> <code>{escape(c['reference'])}</code> "
        f'<span class="muted">{escape(c["digest"] or "")}</span></li>'
        for i, c in enumerate(cards)
    )
    warnings = "".join(
        f"<li>{escape(_label(c, i))}: {escape(w)}</li>"
        for i, c in enumerate(cards)
        for w in c["warnings"]
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>hardbase scorecard</title>"
        f"<style>{CSS}</style></head><body><main>"
        "<h1>Base image scorecard</h1>"
        f'<p class="muted">hardbase {escape(str(doc["hardbase"]))}, {escape(doc["generated"])}; '
        f"vulnerability database: {escape(str(doc['database'] or 'not used'))}</p>"
        f"<ol>{images}</ol>"
        "<h2>Summary</h2>"
        f"{_summary(cards)}"
        f"{_legend()}"
        f"{_charts(cards)}"
        + (f"<h2>Warnings</h2><ul>{warnings}</ul>" if warnings else "")
        + f"{_details(cards)}</main></body></html>\n"
    )


def render_markdown(doc: Mapping[str, Any]) -> str:
    cards: Sequence[Mapping[str, Any]] = doc["images"]
    header = "| | " + " | ".join(_label(c, i) for i, c in enumerate(cards)) + " |"
    sep = "|---|" + "---|" * len(cards)
    lines = ["# Base image scorecard", ""]
    lines += [f"{i + 1}. `{c['reference']}` ({c['digest']})" for i, c in enumerate(cards)]
    lines += ["", header, sep]
    lines.append(
        "| **Recommendation** | " + " | ".join(c["recommendation"]["text"] for c in cards) + " |"
    )
    for dimension, title in DIMENSIONS:
        verdicts = " | ".join(c[dimension]["verdict"] for c in cards)
        lines.append(f"| **{title}** | {verdicts} |")
    for label, dim, key, kind in summary_rows():
        values = [format_value(row_value(c, dim, key), kind) for c in cards]
        lines.append(f"| {label} | " + " | ".join(values) + " |")
    for i, c in enumerate(cards):
        for w in c["warnings"]:
            lines.append(f"\n> {_label(c, i)}: {w}")
    lines += ["", "## What the verdicts mean", ""]
    lines += [f"- **{verdict}**: {text}" for verdict, text in VERDICT_MEANINGS.items()]
    lines += [""] + [f"- {title}: {LEGEND[key]}" for key, title in DIMENSIONS]
    return "\n".join(lines) + "\n"


def render_summary(doc: Mapping[str, Any]) -> list[str]:
    """Six short lines comparing the images, each value after its image's name (`make demo`)."""
    cards: Sequence[Mapping[str, Any]] = doc["images"]

    def each(fn: Any) -> str:
        return " | ".join(f"{c['title']}: {fn(c)}" for c in cards)

    def findings(c: Mapping[str, Any]) -> str:
        sec = c["security"]
        if not sec["scanned"]:
            return "not scanned"
        unknown = sec["by_severity"].get("unknown", 0)
        return (
            f"{sec['by_status'].get('fixable', 0)} fixable, {sec['findings_total']} open, "
            f"{unknown} of unknown severity"
        )

    return [
        "size:           " + each(lambda c: f"{c['minimality']['compressed_bytes'] / 1e6:.1f} MB"),
        "packages:       "
        + each(lambda c: f"{c['minimality']['packages']} deb, {c['minimality']['files']} files"),
        "findings:       " + each(findings),
        "surface:        "
        + each(
            lambda c: (
                f"shell {'yes' if c['minimality']['shell'] else 'no'}, "
                f"package manager {'yes' if c['minimality']['package_manager'] else 'no'}, "
                f"root {'yes' if c['compliance']['runs_as_root'] else 'no'}"
            )
        ),
        "verdicts:       "
        + each(lambda c: ", ".join(f"{k} {c[k]['verdict']}" for k, _ in DIMENSIONS)),
        "recommendation: " + each(lambda c: c["recommendation"]["text"]),
    ]
