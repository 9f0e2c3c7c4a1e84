"""The report of ``nommu check``: a terminal table people act on, and the JSON document.

:func:`render_check` prints the board and C library judged against, the
findings grouped by kind (severity, count, errno, first lines), then one row
per finding at or above a severity (``change`` by default: information rows
are counted, not listed), with details wrapped at the terminal width, then
the calls set apart (host C library, failed on the host) and the verdict.
:func:`check_document` is the JSON document (schema
:data:`nommu.strace.findings.JSON_SCHEMA`, described in docs/json.md).
"""

from __future__ import annotations

import textwrap
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypedDict

from nommu.consts import format_size
from nommu.strace.findings import JSON_SCHEMA, Finding, Note, Severity

if TYPE_CHECKING:
    from nommu.strace.findings import CheckReport

__all__ = [
    "CheckDocument",
    "KindRow",
    "check_document",
    "kind_rows",
    "render_check",
    "select",
]

#: Line numbers shown per kind in the summary.
FIRST_LINES = 5


class KindRow(TypedDict):
    """One kind in the summary: worst severity, count, errno, first lines."""

    kind: str
    severity: str
    count: int
    errno: str | None
    first_lines: list[int]


class NoteGroup(TypedDict):
    what: str
    count: int
    first_lines: list[int]


class CheckDocument(TypedDict):
    """The JSON document of ``nommu check --json`` (docs/json.md)."""

    schema: str
    verdict: str
    exit_code: int
    libc: str
    board: dict[str, Any]
    findings: list[dict[str, Any]]
    summary: list[KindRow]
    host_libc: list[dict[str, Any]]
    host_failed: list[dict[str, Any]]
    problems: list[dict[str, Any]]


def select(
    findings: Iterable[Finding], only: Sequence[str] = (), min_severity: str = "info"
) -> list[Finding]:
    """The findings of the kinds *only* (all when empty) at or above *min_severity*."""
    floor = Severity(min_severity).rank
    kinds = set(only)
    return [
        f
        for f in findings
        if Severity(f.severity).rank >= floor and (not kinds or str(f.kind) in kinds)
    ]


def kind_rows(findings: Sequence[Finding]) -> list[KindRow]:
    """One row per (kind, errno), worst first, then by first appearance."""
    rows: dict[tuple[str, str | None], KindRow] = {}
    for f in findings:
        key = (str(f.kind), f.errno)
        row = rows.get(key)
        if row is None:
            row = rows[key] = KindRow(
                kind=key[0], severity=str(f.severity), count=0, errno=f.errno, first_lines=[]
            )
        row["count"] += 1
        if Severity(f.severity).rank > Severity(row["severity"]).rank:
            row["severity"] = str(f.severity)
        if len(row["first_lines"]) < FIRST_LINES:
            row["first_lines"].append(f.line)
    return sorted(rows.values(), key=lambda r: -Severity(r["severity"]).rank)


def _note_groups(notes: Sequence[Note]) -> list[NoteGroup]:
    counts = Counter(n.what for n in notes)
    firsts: dict[str, list[int]] = {}
    for n in notes:
        lines = firsts.setdefault(n.what, [])
        if len(lines) < FIRST_LINES:
            lines.append(n.line)
    return [NoteGroup(what=w, count=c, first_lines=firsts[w]) for w, c in counts.items()]


def check_document(report: CheckReport) -> CheckDocument:
    """Every finding, note and parse problem, with the verdict and the summary."""
    return CheckDocument(
        schema=JSON_SCHEMA,
        verdict=report.verdict,
        exit_code=report.exit_code,
        libc=report.libc,
        board=dict(report.board),
        findings=[f.to_json() for f in report.findings],
        summary=kind_rows(report.findings),
        host_libc=[n.to_json() for n in report.host_libc],
        host_failed=[n.to_json() for n in report.host_failed],
        problems=[
            {"line": p.line, "text": p.text, "reason": p.reason, "source": p.source}
            for p in report.problems
        ],
    )


def _lines(numbers: Sequence[int], total: int) -> str:
    text = ", ".join(map(str, numbers))
    return text + (", ..." if total > len(numbers) else "")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], width: int) -> list[str]:
    """Columns padded to their widths; the last column wraps within *width*."""
    n = len(header)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(n - 1)]
    indent = sum(widths) + 2 * (n - 1)
    room = width - indent
    out: list[str] = []
    for r in [header, *rows]:
        cells = "  ".join(r[i].ljust(widths[i]) for i in range(n - 1)) + "  "
        if room < 30:  # too narrow: the last column goes below, indented
            out.append(cells.rstrip())
            out.extend(textwrap.wrap(r[-1], width - 4, initial_indent="    ",
                                     subsequent_indent="    ") or [])  # fmt: skip
            continue
        parts = textwrap.wrap(r[-1], room) or [""]
        out.append((cells + parts[0]).rstrip())
        out.extend(" " * indent + p for p in parts[1:])
    return out


def render_check(
    report: CheckReport,
    *,
    width: int = 100,
    only: Sequence[str] = (),
    min_severity: str = "change",
) -> str:
    """The terminal report; rows below *min_severity* or outside *only* are counted only."""
    out: list[str] = []
    b = report.board
    if b:
        out.extend(
            textwrap.wrap(
                f"board: {format_size(b['ram'])} RAM (largest free block "
                f"{format_size(b['largest_free_block'])}, {format_size(b['page_size'])} pages), "
                f"kernel {b['kernel']} on {b['arch']}; C library {report.libc}",
                width,
                subsequent_indent="  ",
            )
        )
    chosen = select(report.findings, only, "info")
    if chosen:
        out.append("")
        out.append("findings by kind:")
        rows = [
            (r["severity"], r["kind"], str(r["count"]), r["errno"] or "-",
             _lines(r["first_lines"], r["count"]))
            for r in kind_rows(chosen)
        ]  # fmt: skip
        header = ("SEVERITY", "KIND", "COUNT", "ERRNO", "FIRST LINES")
        out.extend("  " + line for line in _table(header, rows, width - 2))
    shown = select(chosen, (), min_severity)
    if shown:
        out.append("")
        header2 = ("LINE", "PID", "SEVERITY", "SYSCALL", "KIND", "ERRNO", "DETAIL")
        rows2 = [
            (str(f.line), str(f.pid), str(f.severity), f.syscall, str(f.kind), f.errno or "-",
             f.detail)
            for f in shown
        ]  # fmt: skip
        out.extend(_table(header2, rows2, width))
    hidden = len(chosen) - len(shown)
    if hidden:
        out.append(
            f"({hidden} finding(s) below {min_severity} not listed; --min-severity info lists them)"
        )
    if not report.findings:
        out.append("no findings")
    elif not chosen:
        out.append(f"no findings of the kind(s) {', '.join(only)}")
    for title, notes in (
        (f"calls only the host's glibc makes (not judged for {report.libc})", report.host_libc),
        ("calls that failed on the host (not judged: not about no-MMU)", report.host_failed),
    ):
        if not notes:
            continue
        out.append("")
        out.extend(textwrap.wrap(f"set apart: {len(notes)} {title}:", width))
        for g in _note_groups(notes):
            out.append(
                f"  {g['what']:<22} {g['count']:>6}  lines {_lines(g['first_lines'], g['count'])}"
            )
        for n in notes:
            if "impossible" in n.detail:
                out.extend(
                    textwrap.wrap(f"line {n.line}: {n.syscall} {n.detail}", width - 2,
                                  initial_indent="  ", subsequent_indent="    ")
                )  # fmt: skip
    if report.problems:
        out.append(f"{len(report.problems)} line(s) could not be parsed, first:")
        for p in report.problems[:5]:
            out.append(f"  {p.source}:{p.line}: {p.reason}: {p.text[:80]}")
    out.append(f"verdict: {report.verdict}")
    return "\n".join(out) + "\n"
