"""The report of a replay: the run report of :mod:`nommu.report`, plus the replay's own parts.

A replay is reported like a scenario run (``nommu run``): :func:`run_result`
turns a :class:`~nommu.strace.replay.ReplayResult` into a
:class:`~nommu.scenario.result.RunResult` (events are the replayed calls,
ticks are trace lines, each failure is located at its trace line, and one
expectation stands for "every replayed call succeeds on the board"), which
:mod:`nommu.report` renders: does it fit, how fragmented it gets, what each
process costs, what fails first and why (the kernel's lines, then the
explanation), and, in HTML, plots and memory maps.

The replay adds what only it knows, in :func:`replay_text` and
:func:`replay_html`: the translation policy; RAM at the baseline (the board's
files), at the peak, in the steady state and at the end, with trace lines;
the footprint at the peak; the processes and what became of them; every
failure with its trace line; every translation applied. The JSON document is
the run report's with these under ``"replay"`` (:func:`report_document`).

Everything is computed from the result's frozen snapshots and samples, so
rendering never touches a machine and the same result renders the same text.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nommu.analysis.failure import size_text
from nommu.analysis.footprint import Footprint
from nommu.analysis.fragmentation import block_bytes

if TYPE_CHECKING:
    from nommu.scenario.result import RunResult
    from nommu.strace.replay import ReplayFailure, ReplayResult, Sample

__all__ = [
    "render_html",
    "render_text",
    "replay_html",
    "replay_text",
    "report_document",
    "result_json",
    "run_result",
]

_SPARK = "▁▂▃▄▅▆▇█"
#: Translations and failures listed in the text report before "... N more".
_TEXT_LIST_LIMIT = 200
#: Samples handed to the run report's timeline (its plots and JSON) at most, about.
MAX_TIMELINE = 1024
#: What the run report's one expectation says.
EXPECTATION = "every replayed call succeeds on the board"


# ------------------------------------------------------------------- the run report


def run_result(r: ReplayResult) -> RunResult:
    """The replay as a :class:`~nommu.scenario.result.RunResult`, for :mod:`nommu.report`."""
    from nommu.scenario.result import (
        BoardSummary,
        ExpectationResult,
        FailureCount,
        FailureRecord,
        RunResult,
    )
    from nommu.scenario.result import Sample as RunSample
    from nommu.scenario.schema import Location

    b = r.board
    source = r.sources[0] if r.sources else "<trace>"
    board = BoardSummary(
        ram_base=b["ram_base"],
        ram_size=b["ram"],
        kernel_reserved=b["kernel_reserved"],
        flash_base=b["flash_base"],
        flash_size=b["flash"],
        page_size=b["page_size"],
        max_order=b["max_order"],
        nr_trim_pages=b["nr_trim_pages"],
        word_size=b["word_size"],
        options=tuple(sorted((k, str(v)) for k, v in b.items())),
    )
    low = r.min_largest_free
    kept, step = _thin(r.samples, (r.peak, low))
    samples = tuple(
        RunSample(
            event=s.seq,
            tick=s.line,
            free_pages=s.free_pages,
            largest_order=s.largest_free_order,
            mmap_copy_pages=s.mmap_copy_pages,
            cached_pages=s.cached_pages,
            nr_free=s.nr_free,
        )
        for s in kept
    )
    snaps = [s for s in (r.baseline_snapshot, r.peak_snapshot) if s is not None]
    if r.steady_snapshot is not r.end_snapshot:
        snaps.append(r.steady_snapshot)
    snaps.append(r.end_snapshot)
    failures = tuple(
        FailureRecord(
            index=i + 1,
            event=f.seq,
            tick=f.line,
            where=Location(f.source, f.line or None, f.syscall),
            op=f.syscall,
            proc=f.comm,
            pid=f.pid,
            call=f.what,
            errno=f.errno,
            strerror=_strerror(f.errno),
            detail=f.detail,
            expected=False,
            kernel_log=f.dmesg,
            alloc=f.alloc,
            snapshot=f.snapshot,
        )
        for i, f in enumerate(r.failures)
    )
    counts: dict[tuple[str, str], list[int]] = {}
    for f in r.failures:
        entry = counts.setdefault((f.syscall, f.errno), [0, f.seq])
        entry[0] += 1
    first = r.first_failure
    expectation = ExpectationResult(
        where=Location(source, None, ""),
        what=EXPECTATION,
        checked=max(r.replayed, 1),
        failed=len(r.failures),
        detail=(
            f"{len(r.failures)} call(s) failed; the first at line {first.line}: "
            f"{first.syscall} {first.errno}"
            if first is not None
            else "all succeeded"
        ),
    )
    policy = r.policy
    description = (
        f"strace log replayed onto the board: libraries on {r.libs}, heap {policy.heap}, "
        f"fork as vfork, programs as plain ELF (constdisp). Events count the calls replayed on "
        f"the board; ticks are trace lines."
    )
    return RunResult(
        name=f"replay of {source}",
        description=description,
        path=source,
        seed=0,
        board=board,
        events=r.calls,
        ticks=r.line_count,
        samples=samples,
        sample_every=policy.sample_every * step,
        min_free_pages=r.peak.free_pages,
        min_free_event=r.peak.seq,
        min_largest_order=low.largest_free_order,
        min_largest_event=low.seq,
        snapshots=tuple(snaps),
        failures=failures,
        failure_counts=tuple(
            FailureCount(op, errno, n, ev) for (op, errno), (n, ev) in counts.items()
        ),
        total_failures=len(r.failures),
        unexpected_failures=len(r.failures),
        expectations=(expectation,),
        stopped=None,
        processes_started=len(r.processes),
        dmesg_lines=r.dmesg_lines,
    )


def _thin(samples: Sequence[Sample], keep: Sequence[Sample]) -> tuple[list[Sample], int]:
    """At most about :data:`MAX_TIMELINE` evenly spaced samples, plus the ones in *keep*."""
    if len(samples) <= MAX_TIMELINE:
        return list(samples), 1
    step = -(-len(samples) // MAX_TIMELINE)
    wanted = {id(s) for s in keep}
    last = len(samples) - 1
    return [s for i, s in enumerate(samples) if i % step == 0 or i == last or id(s) in wanted], step


def _strerror(name: str) -> str:
    from nommu.errors import STRERROR, Errno

    try:
        return STRERROR.get(Errno[name], name)
    except KeyError:
        return name


def report_document(r: ReplayResult) -> dict[str, Any]:
    """The JSON document: the run report's figures, and the replay's under ``"replay"``."""
    from nommu.report import report_data

    data = report_data(run_result(r))
    data["replay"] = result_json(r, samples=False)
    return data


def render_text(r: ReplayResult, *, width: int = 100) -> str:
    """The whole report as plain text: the run report, then the replay's parts."""
    from nommu.report import render_text as run_text
    from nommu.report import report_data

    return run_text(report_data(run_result(r)), width=width) + "\n" + replay_text(r)


def render_html(r: ReplayResult, data: dict[str, Any] | None = None) -> str:
    """One self-contained HTML page: the run report with the replay's sections added."""
    from nommu.report.html import render_html as run_html

    page = run_html(run_result(r), data)
    cut = page.rfind("</body>")
    extra = replay_html(r)
    if cut < 0:
        return page + extra
    return page[:cut] + extra + page[cut:]


# ------------------------------------------------------------------------ JSON


def _sample_json(s: Sample) -> dict[str, Any]:
    return {
        "seq": s.seq,
        "line": s.line,
        "pid": s.pid,
        "syscall": s.syscall,
        "free_pages": s.free_pages,
        "largest_free_order": s.largest_free_order,
        "nr_free": list(s.nr_free),
    }


def result_json(r: ReplayResult, *, samples: bool = True) -> dict[str, Any]:
    """The replay's own figures as plain JSON values (keys and orders deterministic)."""
    peak_fp = r.footprints_at(r.peak_snapshot)
    steady_fp = r.footprints_at(r.steady_snapshot)
    low = r.min_largest_free
    first = r.first_failure
    out: dict[str, Any] = {
        "trace": {
            "sources": list(r.sources),
            "lines": r.line_count,
            "events": r.events,
            "replayed": r.replayed,
            "skipped_failed_in_trace": r.skipped_failed,
            "parse_problems": len(r.problems),
        },
        "policy": r.policy.to_json(),
        "libs": r.libs,
        "board_files": [
            {"path": path, "filesystem": fs, "size": size} for path, fs, size in r.board_files
        ],
        "ram": {
            "managed": r.managed_pages * r.page_size,
            "baseline_used": r.baseline_used,
            "peak_used": r.peak_used,
            "peak": {
                "line": r.peak.line,
                "pid": r.peak.pid,
                "syscall": r.peak.syscall,
                "seq": r.peak.seq,
            },
            "steady_used": r.steady_used,
            "steady": r.steady_label,
            "end_used": r.end_used,
            "slack_at_peak": sum(fp.slack for fp in peak_fp),
            "shared_at_peak": sum(fp.shared for fp in peak_fp),
            "largest_free_min": {
                "bytes": block_bytes(low.largest_free_order, r.page_size),
                "line": low.line,
                "pid": low.pid,
                "syscall": low.syscall,
                "seq": low.seq,
            },
        },
        "footprints": {
            "peak": [fp.to_json() for fp in peak_fp],
            "steady": [fp.to_json() for fp in steady_fp],
        },
        "fragmentation_at_peak": [
            {
                "order": o.order,
                "nr_free": o.nr_free,
                "free_pages": o.free_pages,
                "unusable_index": round(o.unusable_index, 4),
            }
            for o in r.fragmentation_at(r.peak).orders
        ],
        "first_failure": first.to_json() if first is not None else None,
        "failures": [f.to_json() for f in r.failures],
        "translation_counts": dict(r.translation_counts()),
        "translations": [t.to_json() for t in r.translations],
        "processes": [
            {
                "pid": p.pid,
                "model_pids": list(p.model_pids),
                "parent": p.parent,
                "created": p.created,
                "line": p.line,
                "program": p.program,
                "end": p.end,
                "end_line": p.end_line,
            }
            for p in r.processes
        ],
        "exit_code": r.exit_code,
    }
    if samples:
        out["samples"] = [_sample_json(s) for s in r.samples]
    return out


# ------------------------------------------------------------------------ text


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]], right: set[int]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    out = []
    for row in [header, *rows]:
        cells = [
            row[i].rjust(widths[i]) if i in right else row[i].ljust(widths[i])
            for i in range(len(row))
        ]
        out.append("  ".join(cells).rstrip())
    return out


def _kib(nbytes: float) -> str:
    k = nbytes / 1024
    return f"{k:.0f}" if k == int(k) else f"{k:.1f}"


_FP_HEADER = ("PID", "NAME", "TEXT", "DATA", "BSS", "STACK", "HEAP", "OTHER", "SLACK", "XIP",
              "RAM", "SHARED", "PSS")  # fmt: skip


def _footprint_rows(fps: tuple[Footprint, ...]) -> list[tuple[str, ...]]:
    return [
        (
            str(fp.pid),
            fp.name,
            _kib(fp.text),
            _kib(fp.data),
            _kib(fp.bss),
            _kib(fp.stack),
            _kib(fp.heap),
            _kib(fp.other),
            _kib(fp.slack),
            _kib(fp.xip),
            _kib(fp.ram),
            _kib(fp.shared),
            f"{fp.pss / 1024:.0f}",
        )
        for fp in fps
    ]


def _spark(values: list[int], lo: int, hi: int, width: int = 64) -> str:
    if not values:
        return ""
    if len(values) > width:  # keep the extreme of each bucket
        step = len(values) / width
        values = [
            max(values[int(i * step) : max(int((i + 1) * step), int(i * step) + 1)])
            for i in range(width)
        ]
    span = max(hi - lo, 1)
    top = len(_SPARK) - 1
    return "".join(_SPARK[min((v - lo) * top // span, top)] for v in values)


def _where(line: int, pid: int, syscall: str) -> str:
    return f"line {line}, pid {pid} {syscall}" if line else "before the first call"


def _ram_rows(r: ReplayResult) -> list[tuple[str, str, str]]:
    low = r.min_largest_free
    return [
        ("baseline (board files)", size_text(r.baseline_used), ""),
        ("peak", size_text(r.peak_used), _where(r.peak.line, r.peak.pid, r.peak.syscall)),
        ("steady", size_text(r.steady_used), r.steady_label),
        ("end", size_text(r.end_used), ""),
        (
            "smallest largest-free-block",
            size_text(block_bytes(low.largest_free_order, r.page_size)),
            _where(low.line, low.pid, low.syscall),
        ),
    ]


def _policy_line(r: ReplayResult) -> str:
    pol = r.policy
    program = (
        size_text(pol.program_size)
        if pol.program_size is not None
        else f"sized from the trace, else {size_text(pol.default_program_size)}"
    )
    heap = pol.heap + (f" ({size_text(pol.heap_chunk)})" if pol.heap == "malloc-chunks" else "")
    return (
        f"Policy: heap {heap}; libraries on {r.libs}; program image {program} + a "
        f"{size_text(pol.stack_size)} stack; PROT_NONE reservations: {pol.reservations}"
    )


def _failure_line(f: ReplayFailure) -> str:
    where = f"{f.line:>6}" if f.line else " setup"
    return f"  {where}  pid {f.pid:<6} {f.syscall:<8} {f.errno:<7} {f.what}: {f.detail}"


def replay_text(r: ReplayResult) -> str:
    """The replay's own parts of the report, as plain text."""
    out: list[str] = []
    out.append(
        f"Replay of {', '.join(r.sources)}: {r.line_count} lines, {r.events} events, "
        f"{r.replayed} calls replayed, {r.skipped_failed} failed in the trace (not "
        "replayed)"
    )
    out.append(_policy_line(r))
    out.append("")
    out.append(f"RAM through the replay (of {size_text(r.managed_pages * r.page_size)} managed)")
    out.extend("  " + line for line in _table(("", "", ""), _ram_rows(r), {1})[1:])
    peak_fp = r.footprints_at(r.peak_snapshot)
    out.append(
        f"  slack at peak {size_text(sum(fp.slack for fp in peak_fp))}, shared at peak "
        f"{size_text(sum(fp.shared for fp in peak_fp))}"
    )
    if r.samples:
        used = [r.managed_pages - s.free_pages for s in r.samples]
        largest = [s.largest_free_order + 1 for s in r.samples]
        out.append(
            f"  used RAM      {_spark(used, min(used), max(used))}  "
            f"{size_text(min(used) * r.page_size)}..{size_text(max(used) * r.page_size)}"
        )
        out.append(
            f"  largest free  {_spark(largest, 0, max(max(largest), 1))}  "
            f"order {min(largest) - 1}..{max(largest) - 1}"
        )
    out.append("")
    out.append("Footprint at the peak (KiB, one row per address space)")
    if peak_fp:
        out.extend(
            "  " + line for line in _table(_FP_HEADER, _footprint_rows(peak_fp), set(range(2, 13)))
        )
    else:
        out.append("  no process had an address space")
    out.append("")
    out.append(f"Processes ({len(r.processes)})")
    out.extend(
        "  " + line
        for line in _table(
            ("PID", "BOARD PID", "PARENT", "CREATED", "LINE", "PROGRAM", "END"),
            [
                (
                    str(p.pid),
                    ",".join(map(str, p.model_pids)),
                    str(p.parent or "-"),
                    p.created,
                    str(p.line),
                    p.program or "-",
                    p.end + (f" (line {p.end_line})" if p.end_line else ""),
                )
                for p in r.processes
            ],
            {0, 1, 2, 4},
        )
    )
    out.append("")
    out.append(f"Failures ({len(r.failures)}, in the order they happen on the board)")
    out.extend(_failure_line(f) for f in r.failures[:_TEXT_LIST_LIMIT])
    if len(r.failures) > _TEXT_LIST_LIMIT:
        out.append(f"  ... {len(r.failures) - _TEXT_LIST_LIMIT} more (see --json)")
    out.append("")
    counts = ", ".join(f"{kind} {n}" for kind, n in r.translation_counts())
    out.append(f"Translations ({len(r.translations)}: {counts or 'none'})")
    for t in r.translations[:_TEXT_LIST_LIMIT]:
        out.append(f"  {t.line:>6}  pid {t.pid:<6} {t.kind:<20} {t.detail}")
    if len(r.translations) > _TEXT_LIST_LIMIT:
        out.append(f"  ... {len(r.translations) - _TEXT_LIST_LIMIT} more (see --json)")
    if r.problems:
        p = r.problems[0]
        out.append("")
        out.append(
            f"{len(r.problems)} trace line(s) could not be read; first: "
            f"{p.source}:{p.line}: {p.reason}"
        )
    out.append("")
    first = r.first_failure
    if first is None:
        out.append("Verdict: every replayed call succeeded on this board")
    else:
        out.append(
            f"Verdict: {len(r.failures)} call(s) fail on this board; the first at "
            + (f"line {first.line} ({first.syscall} {first.errno})" if first.line else "setup")
        )
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------ HTML


def _h(text: object) -> str:
    return html.escape(str(text))


def replay_html(r: ReplayResult) -> str:
    """The replay's own parts of the report, as HTML sections (added to the run report)."""
    from nommu.report.html import html_table

    parts = [
        '<section id="replay"><h2>The replay</h2>',
        f"<p>{_h(', '.join(r.sources))}: {r.line_count} lines, {r.events} events, "
        f"{r.replayed} calls replayed, {r.skipped_failed} failed in the trace (not "
        f"replayed).<br>{_h(_policy_line(r))}</p>",
    ]
    parts.append("<h3>RAM through the replay</h3>")
    parts.append(html_table(("", "used", "when"), _ram_rows(r), 1))
    for title, snap in (
        ("at the peak", r.peak_snapshot),
        ("in the steady state", r.steady_snapshot),
    ):
        parts.append(f"<h3>Footprint {title} (KiB)</h3>")
        fps = r.footprints_at(snap)
        parts.append(
            html_table(_FP_HEADER, _footprint_rows(fps), 2)
            if fps
            else "<p>No process had an address space.</p>"
        )
    parts.append(f"<h3>Processes ({len(r.processes)})</h3>")
    parts.append(
        html_table(
            ("pid", "program", "board pid", "parent", "created", "line", "end"),
            [
                (
                    str(p.pid),
                    p.program or "-",
                    ",".join(map(str, p.model_pids)),
                    str(p.parent or "-"),
                    p.created,
                    str(p.line),
                    p.end,
                )
                for p in r.processes
            ],
            2,
        )
    )
    parts.append(f"<h3>Failures by trace line ({len(r.failures)})</h3>")
    parts.append(
        html_table(
            ("tried", "why", "line", "pid", "syscall", "errno"),
            [
                (
                    f.what,
                    f.detail,
                    str(f.line) if f.line else "setup",
                    str(f.pid),
                    f.syscall,
                    f.errno,
                )
                for f in r.failures
            ],
            2,
        )
    )
    counts = ", ".join(f"{kind} {n}" for kind, n in r.translation_counts())
    parts.append(f"<h3>Translations ({len(r.translations)}: {_h(counts or 'none')})</h3>")
    parts.append(
        html_table(
            ("kind", "what was done", "line", "pid"),
            [(t.kind, t.detail, str(t.line), str(t.pid)) for t in r.translations],
            2,
        )
    )
    parts.append(f"<h3>Files put on the board ({len(r.board_files)})</h3>")
    parts.append(
        html_table(
            ("path", "filesystem", "size"), [(p, fs, size_text(n)) for p, fs, n in r.board_files], 2
        )
    )
    parts.append("</section>\n")
    return "".join(parts)
