"""The report of a replay (:class:`~nommu.strace.replay.ReplayResult`): JSON, text, HTML.

The three forms carry the same facts, in the order a porting engineer reads
them: the board and the translation policy; RAM at the baseline (the board's
files), at the peak, in the steady state and at the end; the first failure
with its explanation and kernel log; what each process costs at the peak
(:mod:`nommu.analysis.footprint`); the free lists at the peak
(:mod:`nommu.analysis.fragmentation`); free memory and the largest free
block over the replay; every failure; every translation applied.

Everything is computed from the result's frozen snapshots and samples, so
rendering never touches a machine and the same result always renders the
same text.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from nommu.analysis.failure import size_text
from nommu.analysis.footprint import Footprint

if TYPE_CHECKING:
    from nommu.strace.replay import ReplayFailure, ReplayResult, Sample

__all__ = ["render_html", "render_text", "result_json"]

_SPARK = "▁▂▃▄▅▆▇█"
#: Translations and failures listed in the text report before "... N more".
_TEXT_LIST_LIMIT = 200


def _kib(nbytes: float) -> str:
    return f"{nbytes / 1024:.0f}" if nbytes % 1024 else f"{int(nbytes) // 1024}"


def _footprint_json(fp: Footprint) -> dict[str, Any]:
    return {
        "pid": fp.pid,
        "name": fp.name,
        "text": fp.text,
        "data": fp.data,
        "bss": fp.bss,
        "stack": fp.stack,
        "heap": fp.heap,
        "other": fp.other,
        "slack": fp.slack,
        "xip": fp.xip,
        "ram": fp.ram,
        "shared": fp.shared,
        "pss": round(fp.pss, 1),
    }


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


def result_json(r: ReplayResult) -> dict[str, Any]:
    """The result as plain JSON values; keys and list orders are deterministic."""
    peak_fp = r.footprints_at(r.peak_snapshot)
    steady_fp = r.footprints_at(r.steady_snapshot)
    frag = r.fragmentation_at(r.peak)
    low = r.min_largest_free
    first = r.first_failure
    return {
        "trace": {
            "sources": list(r.sources),
            "lines": r.line_count,
            "events": r.events,
            "replayed": r.replayed,
            "skipped_failed_in_trace": r.skipped_failed,
            "parse_problems": len(r.problems),
        },
        "board": dict(r.board),
        "policy": r.policy.to_json(),
        "libs": r.libs,
        "board_files": [
            {"path": path, "filesystem": fs, "size": size} for path, fs, size in r.board_files
        ],
        "ram": {
            "managed": r.managed_pages * r.page_size,
            "baseline_used": r.baseline_used,
            "peak_used": r.peak_used,
            "peak": {"line": r.peak.line, "pid": r.peak.pid, "syscall": r.peak.syscall},
            "steady_used": r.steady_used,
            "steady": r.steady_label,
            "end_used": r.end_used,
            "slack_at_peak": sum(fp.slack for fp in peak_fp),
            "shared_at_peak": sum(fp.shared for fp in peak_fp),
            "largest_free_min": {
                "bytes": (1 << low.largest_free_order) * r.page_size
                if low.largest_free_order >= 0
                else 0,
                "line": low.line,
                "pid": low.pid,
                "syscall": low.syscall,
            },
        },
        "footprints": {
            "peak": [_footprint_json(fp) for fp in peak_fp],
            "steady": [_footprint_json(fp) for fp in steady_fp],
        },
        "fragmentation_at_peak": [
            {
                "order": o.order,
                "nr_free": o.nr_free,
                "free_pages": o.free_pages,
                "unusable_index": round(o.unusable_index, 4),
            }
            for o in frag.orders
        ],
        "first_failure": first.to_json() if first is not None else None,
        "failures": [f.to_json() for f in r.failures],
        "translation_counts": dict(r.translation_counts()),
        "translations": [t.to_json() for t in r.translations],
        "processes": [
            {
                "pid": p.pid,
                "model_pid": p.model_pid,
                "parent": p.parent,
                "created": p.created,
                "line": p.line,
                "program": p.program,
                "end": p.end,
                "end_line": p.end_line,
            }
            for p in r.processes
        ],
        "samples": [_sample_json(s) for s in r.samples],
        "exit_code": r.exit_code,
    }


# ------------------------------------------------------------------------------- text


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]], right: set[int]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    out = []
    for row in [header, *rows]:
        cells = [
            row[i].rjust(widths[i]) if i in right else row[i].ljust(widths[i])
            for i in range(len(row))
        ]
        out.append("  ".join(cells).rstrip())
    return out


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


_FP_HEADER = ("PID", "NAME", "TEXT", "DATA", "BSS", "STACK", "HEAP", "OTHER", "SLACK", "XIP",
              "RAM", "SHARED", "PSS")  # fmt: skip


def _spark(values: list[int], lo: int, hi: int, width: int = 64) -> str:
    if not values:
        return ""
    if len(values) > width:  # keep the extreme of each bucket
        step = len(values) / width
        values = [max(values[int(i * step) : max(int((i + 1) * step), int(i * step) + 1)])
                  for i in range(width)]
    span = max(hi - lo, 1)
    return "".join(_SPARK[min((v - lo) * (len(_SPARK) - 1) // span, len(_SPARK) - 1)]
                   for v in values)


def _failure_lines(f: ReplayFailure, indent: str = "  ") -> list[str]:
    where = f"line {f.line}" if f.line else "preparing the board"
    out = [f"{where}, pid {f.pid}, {f.syscall}: {f.errno}", f"{indent}tried: {f.what}",
           f"{indent}why: {f.detail}"]
    if f.explanation is not None:
        out.append(f"{indent}explanation: {f.explanation.summary}")
        out.extend(f"{indent}  - {rem}" for rem in f.explanation.remedies)
    if f.dmesg:
        out.append(f"{indent}dmesg:")
        out.extend(f"{indent}  {line}" for line in f.dmesg)
    return out


def render_text(r: ReplayResult) -> str:
    """The report as plain text (tables, a free-memory sparkline, lists)."""
    b = r.board
    pol = r.policy
    out: list[str] = []
    out.append(f"nommu replay: {', '.join(r.sources)} ({r.line_count} lines, {r.events} events, "
               f"{r.replayed} calls replayed, {r.skipped_failed} failed in the trace)")
    flash = size_text(b["flash"]) if b["flash"] else "none"
    out.append(f"board: RAM {size_text(b['ram'])} at {b['ram_base']:#x} ({size_text(b['kernel_reserved'])}"
               f" kernel), flash {flash}, page {size_text(b['page_size'])}, max order "
               f"{b['max_order']} ({size_text(b['page_size'] << b['max_order'])} blocks), "
               f"nr_trim_pages {b['nr_trim_pages']}")
    program = (size_text(pol.program_size) if pol.program_size is not None
               else f"from the trace, else {size_text(pol.default_program_size)}")
    heap = pol.heap + (f" ({size_text(pol.heap_chunk)})" if pol.heap == "malloc-chunks" else "")
    out.append(f"policy: heap {heap}, libraries on {r.libs}, program image {program} + "
               f"{size_text(pol.stack_size)} stack, reservations {pol.reservations}")
    out.append("")
    managed = r.managed_pages * r.page_size
    out.append(f"RAM (of {size_text(managed)} managed)")
    low = r.min_largest_free
    low_bytes = (1 << low.largest_free_order) * r.page_size if low.largest_free_order >= 0 else 0
    rows = [
        ("baseline (board files)", size_text(r.baseline_used), ""),
        ("peak", size_text(r.peak_used),
         f"line {r.peak.line}, pid {r.peak.pid} {r.peak.syscall}" if r.peak.line else "at start"),
        ("steady", size_text(r.steady_used), r.steady_label),
        ("end", size_text(r.end_used), ""),
        ("smallest largest-free-block", size_text(low_bytes),
         f"line {low.line}, pid {low.pid} {low.syscall}" if low.line else "at start"),
    ]
    out.extend("  " + line for line in _table(("", "", ""), rows, {1})[1:])
    peak_fp = r.footprints_at(r.peak_snapshot)
    out.append(f"  slack at peak {size_text(sum(fp.slack for fp in peak_fp))}, shared at peak "
               f"{size_text(sum(fp.shared for fp in peak_fp))}")
    out.append("")
    first = r.first_failure
    if first is None:
        out.append("first failure: none (every replayed call succeeded on this board)")
    else:
        out.append("first failure: " + _failure_lines(first)[0])
        out.extend(_failure_lines(first)[1:])
    out.append("")
    out.append("footprint at peak (KiB, one row per address space)")
    if peak_fp:
        out.extend("  " + line for line in _table(_FP_HEADER, _footprint_rows(peak_fp),
                                                   set(range(2, 13))))
    else:
        out.append("  no process had an address space")
    out.append("")
    frag = r.fragmentation_at(r.peak)
    out.append(f"free lists at peak: {size_text(frag.free_bytes)} free, largest block "
               f"{size_text(frag.largest_free_bytes)}")
    out.extend("  " + line for line in _table(
        ("ORDER", "BLOCK", "FREE BLOCKS", "UNUSABLE"),
        [(str(o.order), size_text(o.block_bytes), str(o.nr_free), f"{o.unusable_index:.3f}")
         for o in frag.orders], {0, 2, 3}))
    out.append("")
    if r.samples:
        used = [r.managed_pages - s.free_pages for s in r.samples]
        largest = [max(s.largest_free_order, -1) + 1 for s in r.samples]
        out.append(f"over the replay ({len(r.samples)} samples):")
        out.append(f"  used RAM     {_spark(used, min(used), max(used))}  "
                   f"{size_text(min(used) * r.page_size)}..{size_text(max(used) * r.page_size)}")
        out.append(f"  largest free {_spark(largest, 0, max(largest))}  "
                   f"order {min(largest) - 1}..{max(largest) - 1}")
        out.append("")
    out.append(f"processes ({len(r.processes)})")
    out.extend("  " + line for line in _table(
        ("PID", "BOARD PID", "PARENT", "CREATED", "LINE", "PROGRAM", "END"),
        [(str(p.pid), str(p.model_pid), str(p.parent or "-"), p.created, str(p.line),
          p.program or "-", p.end + (f" (line {p.end_line})" if p.end_line else ""))
         for p in r.processes], {0, 1, 2, 4}))
    out.append("")
    out.append(f"failures ({len(r.failures)})")
    for f in r.failures[:_TEXT_LIST_LIMIT]:
        where = f"{f.line:>6}" if f.line else " setup"
        out.append(f"  {where}  pid {f.pid:<6} {f.syscall:<8} {f.errno:<7} {f.what}: {f.detail}")
    if len(r.failures) > _TEXT_LIST_LIMIT:
        out.append(f"  ... {len(r.failures) - _TEXT_LIST_LIMIT} more (see --json)")
    out.append("")
    counts = ", ".join(f"{kind} {n}" for kind, n in r.translation_counts())
    out.append(f"translations ({len(r.translations)}: {counts or 'none'})")
    for t in r.translations[:_TEXT_LIST_LIMIT]:
        out.append(f"  {t.line:>6}  pid {t.pid:<6} {t.kind:<20} {t.detail}")
    if len(r.translations) > _TEXT_LIST_LIMIT:
        out.append(f"  ... {len(r.translations) - _TEXT_LIST_LIMIT} more (see --json)")
    if r.problems:
        p = r.problems[0]
        out.append("")
        out.append(f"{len(r.problems)} trace line(s) could not be read; first: "
                   f"{p.source}:{p.line}: {p.reason}")
    out.append("")
    out.append("verdict: " + ("every replayed call succeeded" if first is None
                              else f"{len(r.failures)} call(s) fail on this board; the first at "
                              + (f"line {first.line}" if first.line else "setup")))
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:75em}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.9em}td,th{padding:.2em .6em;border-bottom:1px solid #eee}
th{text-align:left;background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
.fail{background:#fff1f0;border-left:4px solid #d33;padding:.5em 1em}
.ok{background:#f0fff0;border-left:4px solid #3a3;padding:.5em 1em}
pre{background:#f7f7f7;padding:.5em;overflow-x:auto}
"""


def _h(text: object) -> str:
    return html.escape(str(text))


def _html_table(header: tuple[str, ...], rows: list[tuple[str, ...]], right: set[int]) -> str:
    head = "".join(f"<th>{_h(c)}</th>" for c in header)
    body = "".join(
        "<tr>" + "".join(
            f'<td class="n">{_h(c)}</td>' if i in right else f"<td>{_h(c)}</td>"
            for i, c in enumerate(row)
        ) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _svg(r: ReplayResult) -> str:
    """Used RAM and the largest free block over the samples, as an inline SVG plot."""
    samples = r.samples
    if len(samples) < 2:
        return ""
    w, h, pad = 900, 220, 40
    n = len(samples) - 1
    managed = r.managed_pages
    top_order = max(r.board["max_order"], 0)

    def x(i: int) -> float:
        return pad + (w - 2 * pad) * i / n

    def y_used(free: int) -> float:
        return h - pad - (h - 2 * pad) * (managed - free) / max(managed, 1)

    def y_order(order: int) -> float:
        return h - pad - (h - 2 * pad) * (order + 1) / (top_order + 1)

    used = " ".join(f"{x(i):.1f},{y_used(s.free_pages):.1f}" for i, s in enumerate(samples))
    largest = " ".join(f"{x(i):.1f},{y_order(s.largest_free_order):.1f}"
                       for i, s in enumerate(samples))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        f'role="img" aria-label="used RAM and largest free block over the replay">'
        f'<rect x="{pad}" y="{pad}" width="{w - 2 * pad}" height="{h - 2 * pad}" fill="#fafafa" '
        f'stroke="#ccc"/>'
        f'<polyline fill="none" stroke="#c33" stroke-width="1.5" points="{used}"/>'
        f'<polyline fill="none" stroke="#36c" stroke-width="1.5" points="{largest}"/>'
        f'<text x="{pad}" y="{pad - 8}" font-size="12" fill="#c33">used RAM (0 to '
        f'{_h(size_text(managed * r.page_size))})</text>'
        f'<text x="{w - pad}" y="{pad - 8}" font-size="12" fill="#36c" text-anchor="end">'
        f'largest free block (order -1 to {top_order})</text>'
        f'<text x="{pad}" y="{h - pad + 16}" font-size="12">first call</text>'
        f'<text x="{w - pad}" y="{h - pad + 16}" font-size="12" text-anchor="end">last call '
        f'({len(samples)} samples)</text></svg>'
    )


def render_html(r: ReplayResult) -> str:
    """The report as one self-contained HTML page (inline CSS and SVG, no scripts)."""
    parts: list[str] = []
    title = f"nommu replay: {', '.join(r.sources)}"
    parts.append(f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                 f"<title>{_h(title)}</title><style>{_CSS}</style></head><body>")
    parts.append(f"<h1>{_h(title)}</h1>")
    text = render_text(r).split("\n")
    parts.append(f"<p>{_h(text[0])}<br>{_h(text[1])}<br>{_h(text[2])}</p>")
    first = r.first_failure
    if first is None:
        parts.append('<p class="ok">Every replayed call succeeded on this board.</p>')
    else:
        parts.append('<div class="fail"><b>First failure</b><pre>'
                     + _h("\n".join(_failure_lines(first))) + "</pre></div>")
    low = r.min_largest_free
    low_bytes = (1 << low.largest_free_order) * r.page_size if low.largest_free_order >= 0 else 0
    parts.append("<h2>RAM</h2>")
    parts.append(_html_table(
        ("", "bytes", "when"),
        [("managed", size_text(r.managed_pages * r.page_size), ""),
         ("baseline (board files)", size_text(r.baseline_used), ""),
         ("peak", size_text(r.peak_used), f"line {r.peak.line}, pid {r.peak.pid} "
                                          f"{r.peak.syscall}"),
         ("steady", size_text(r.steady_used), r.steady_label),
         ("end", size_text(r.end_used), ""),
         ("smallest largest-free-block", size_text(low_bytes),
          f"line {low.line}, pid {low.pid} {low.syscall}")], {1}))
    parts.append(_svg(r))
    parts.append("<h2>Footprint at peak (KiB)</h2>")
    parts.append(_html_table(_FP_HEADER, _footprint_rows(r.footprints_at(r.peak_snapshot)),
                             set(range(2, 13))))
    parts.append("<h2>Footprint in the steady state (KiB)</h2>")
    parts.append(_html_table(_FP_HEADER, _footprint_rows(r.footprints_at(r.steady_snapshot)),
                             set(range(2, 13))))
    frag = r.fragmentation_at(r.peak)
    parts.append("<h2>Free lists at peak</h2>")
    parts.append(_html_table(
        ("order", "block", "free blocks", "unusable index"),
        [(str(o.order), size_text(o.block_bytes), str(o.nr_free), f"{o.unusable_index:.3f}")
         for o in frag.orders], {0, 2, 3}))
    parts.append(f"<h2>Failures ({len(r.failures)})</h2>")
    parts.append(_html_table(
        ("line", "pid", "syscall", "errno", "tried", "why"),
        [(str(f.line) if f.line else "setup", str(f.pid), f.syscall, f.errno, f.what, f.detail)
         for f in r.failures], {0, 1}))
    parts.append(f"<h2>Translations ({len(r.translations)})</h2>")
    parts.append(_html_table(
        ("line", "pid", "kind", "what was done"),
        [(str(t.line), str(t.pid), t.kind, t.detail) for t in r.translations], {0, 1}))
    parts.append(f"<h2>Processes ({len(r.processes)})</h2>")
    parts.append(_html_table(
        ("pid", "board pid", "parent", "created", "line", "program", "end"),
        [(str(p.pid), str(p.model_pid), str(p.parent or "-"), p.created, str(p.line),
          p.program or "-", p.end) for p in r.processes], {0, 1, 2, 4}))
    parts.append(f"<h2>Board files ({len(r.board_files)})</h2>")
    parts.append(_html_table(("path", "filesystem", "size"),
                             [(p, fs, size_text(n)) for p, fs, n in r.board_files], {2}))
    parts.append("</body></html>\n")
    return "".join(parts)
