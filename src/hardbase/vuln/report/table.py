"""The table format: aligned columns for a terminal, then a summary line."""

from __future__ import annotations

from hardbase.vuln.match import NOT_AFFECTED_STATUS
from hardbase.vuln.report.interface import ReportFormat, links
from hardbase.vuln.scan import ScanResult, coverage_warning

_HEADERS = (
    "PACKAGE",
    "TYPE",
    "INSTALLED",
    "FIXED",
    "STATUS",
    "SEVERITY",
    "SEVERITY FROM",
    "ID",
    "SOURCE",
    "LINKS",
)
_MAX_CELL = 60


def _cell(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 1] + "…"


class TableFormat(ReportFormat):
    """Findings one per line (not-affected ones counted, not listed)."""

    name = "table"

    def render(self, result: ScanResult) -> str:
        rows = [
            (
                f.package.name,
                f.package.type,
                f.package.version,
                f.fixed_version or "-",
                f.status,
                f.severity.label,
                f.severity_source or "-",
                f.id,
                f.data_source,
                " ".join(links(f).values()) or "-",
            )
            for f in result.findings
            if f.status != NOT_AFFECTED_STATUS
        ]
        lines: list[str] = []
        inv = result.inventory
        os_name = inv.os.pretty_name or inv.os.id or "unknown OS"
        lines.append(f"{inv.reference} ({os_name}, {len(inv.packages)} packages)")
        if rows:
            # the links stay whole (the last column), so they can be opened from a terminal
            cells = [(*(_cell(c) for c in row[:-1]), row[-1]) for row in [_HEADERS, *rows]]
            widths = [max(len(r[i]) for r in cells) for i in range(len(_HEADERS))]
            for r in cells:
                lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        else:
            lines.append("No vulnerabilities found.")
        for s in result.support:
            when = f" on {s.date}" if s.date else ""
            detail = f": {s.note}" if s.note else ""
            lines.append(f"support {s.kind}{when}: {s.package.name} {s.package.version}{detail}")
        covered = [f"{c.title} ({', '.join(c.sources)})" for c in result.coverage if c.records]
        unchecked = [c.title for c in result.coverage if c.packages is None]
        if result.coverage:
            lines.append(
                "Data: "
                + ("; ".join(covered) or "none for this image")
                + (f". Not checked: {', '.join(unchecked)} (not inventoried)" if unchecked else "")
            )
        for c in result.coverage:
            if c.missing and c.packages:
                lines.append(f"warning: {coverage_warning(c)}")
        by_sev = result.by_severity()
        by_status = result.by_status()
        shown = sum(by_sev.values())
        # every bucket, zeros included: a count left out must not read as "none"
        sev_text = ", ".join(f"{k}: {v}" for k, v in by_sev.items())
        status_text = ", ".join(f"{k}: {v}" for k, v in by_status.items() if v) or "none"
        lines.append(f"Total: {shown} ({sev_text}); by status: {status_text}")
        if result.unknown_severity:
            lines.append(
                f"{result.unknown_severity} findings have no known severity (no source rates "
                "them); they fail any --fail-on threshold unless --no-fail-on-unknown"
            )
        return "\n".join(lines) + "\n"
