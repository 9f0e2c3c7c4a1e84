"""The report as one self-contained HTML page: tables, and plots as inline PNG.

The page needs nothing else: styles are inline and every plot is a
``data:image/png;base64`` image. Sections: the summary ("does it fit?"),
fragmentation over time, what each process costs, the physical memory map
at each snapshot, the failures with the kernel's text and the explanation
(and the memory map at the moment of the first failures, with the best
candidate block outlined), then the expectations.

Every plot is an ``<img>`` with an ``id`` starting with ``plot-``.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from nommu.analysis.failure import size_text
from nommu.report import plots
from nommu.report.data import report_data, tick_text
from nommu.report.terminal import FOOTPRINT_COLUMNS, kib
from nommu.scenario.result import RunResult

#: Failures whose memory map is drawn (the rest are listed).
MAX_FAILURE_MAPS = 3

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:72em;
color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:2em}
h3{font-size:1.05em}
table{border-collapse:collapse;margin:.5em 0}
th,td{padding:.2em .6em;border-bottom:1px solid #eee;text-align:right}
th{background:#f6f6f6}td.l,th.l{text-align:left}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.85em}
img{max-width:100%;height:auto;display:block;margin:.5em 0}
.fail{color:#b00}.ok{color:#070}.muted{color:#666}
nav a{margin-right:1em}
dl{display:grid;grid-template-columns:max-content auto;gap:.3em 1em}dt{font-weight:bold}dd{margin:0}
"""


def _img(ident: str, png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img id="{escape(ident)}" alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def html_table(head: Sequence[str], rows: Iterable[Sequence[str]], left: int = 1) -> str:
    """A table of escaped text; the first *left* columns are aligned left."""

    def cell(tag: str, i: int, v: str) -> str:
        cls = ' class="l"' if i < left else ""
        return f"<{tag}{cls}>{escape(v)}</{tag}>"

    out = [
        "<table><thead><tr>",
        *(cell("th", i, h) for i, h in enumerate(head)),
        "</tr></thead><tbody>",
    ]
    for r in rows:
        out.append("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _footprint_table(rows: list[dict[str, Any]]) -> str:
    return html_table(
        [
            "pid",
            "name",
            *(c.upper() if c in ("ram", "pss", "xip") else c for c in FOOTPRINT_COLUMNS),
        ],
        [[str(r["pid"]), r["name"], *(kib(r[c]) for c in FOOTPRINT_COLUMNS)] for r in rows],
        left=2,
    )


def _failure_html(f: dict[str, Any], record_index: int, result: RunResult, draw_map: bool) -> str:
    loc = f"{f['file']}:{f['line']}" if f["line"] is not None else f["file"]
    tick_seconds = result.tick_seconds
    status = " (expected)" if f["expected"] else " (allowed)" if f["allowed"] else ""
    out = [
        f'<h3 id="failure-{f["index"]}">Failure {f["index"]}: {escape(f["key"])}{status}</h3><dl>',
        f"<dt>where</dt><dd>{escape(loc)} {escape(f['field'])}, event {f['event']}, "
        f"{escape(tick_text(f['tick'], tick_seconds))}</dd>",
        f"<dt>call</dt><dd><code>{escape(f['process'])} (pid {f['pid']}): "
        + (
            f"{escape(f['call'])} = -1 {escape(f['errno'])} ({escape(f['strerror'])})"
            if f["kind"] == "syscall"
            else escape(f["call"] or f["kind"])
        )
        + "</code></dd>",
    ]
    if f["kind"] != "syscall":
        out.append(
            f"<dt>{escape(f['kind'])}</dt><dd>{escape(f['strerror'])}: {escape(f['detail'])}</dd>"
        )
    if f["kernel_log"]:
        out.append(
            "<dt>kernel log</dt><dd><pre>" + escape("\n".join(f["kernel_log"])) + "</pre></dd>"
        )
    x = f["explanation"]
    if x is None:
        if f["detail"]:
            out.append(f"<dt>why</dt><dd>{escape(f['detail'])}</dd>")
        out.append("</dl>")
        return "".join(out)
    out.append(f"<dt>why</dt><dd>{escape(x['summary'])}</dd>")
    block = x["candidate_block"]
    if block is not None and block["in_the_way"]:
        rows = [
            [
                f"{b['start']:#x}",
                size_text(b["bytes"]),
                b["kind"],
                b["label"],
                f"{b['owner_pid']} {b['owner']}".strip() if b["owner_pid"] else "",
                str(len(b["mapped_by"])),
                str(b["pages_in_block"]),
            ]
            for b in block["in_the_way"]
        ]
        out.append(
            "<dt>in the way</dt><dd>"
            + html_table(
                ["address", "size", "kind", "file", "owner", "mapped by", "pages in block"],
                rows,
                left=5,
            )
            + (
                f"<p>{block['unattributed_pages']} page(s) of other kernel allocations.</p>"
                if block["unattributed_pages"]
                else ""
            )
            + "</dd>"
        )
    if x["remedies"]:
        out.append(
            "<dt>would work</dt><dd><ul>"
            + "".join(f"<li>{escape(r)}</li>" for r in x["remedies"])
            + "</ul></dd>"
        )
    out.append("</dl>")
    record = result.failures[record_index]
    if record.snapshot is not None and draw_map:
        hl = None
        if block is not None:
            ps = record.snapshot.page_size
            hl = (block["start"] // ps, block["bytes"] // ps)
        out.append(
            _img(
                f"plot-failure-{f['index']}",
                plots.memory_map_png(
                    record.snapshot,
                    f"Physical memory when failure {f['index']} happened "
                    f"(best candidate block outlined)",
                    hl,
                ),
                f"memory map at failure {f['index']}",
            )
        )
    if f["footprint"]:
        out.append("<p>Processes at that moment (KiB):</p>" + _footprint_table(f["footprint"]))
    return "".join(out)


def render_html(result: RunResult, data: dict[str, Any] | None = None) -> str:
    """The whole report page for *result* (*data* from :func:`report_data` if already made)."""
    d = data if data is not None else report_data(result)
    sc, b, s, run = d["scenario"], d["board"], d["summary"], d["run"]
    ps = b["page_size"]
    xaxis = plots.time_axis(result.tick_seconds, result.ticks)
    fm = d["failure_marks"]
    marks = [
        (
            c["key"],
            [t * xaxis[0] for t, k in zip(fm["tick"], fm["kind"], strict=True) if k == i],
        )
        for i, c in enumerate(d["failure_counts"])
    ]
    title = f"nommu report: {sc['name']}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<p>{escape(sc['description'])}</p>" if sc["description"] else "",
        f'<p class="muted">{escape(sc["path"])}, seed {sc["seed"]}. '
        f"{size_text(b['ram_bytes'])} RAM at {b['ram_base']:#x} "
        f"({size_text(b['kernel_reserved_bytes'])} kernel), "
        + (
            f"{size_text(b['flash_bytes'])} flash at {b['flash_base']:#x}, "
            if b["flash_bytes"]
            else "no flash, "
        )
        + f"{size_text(ps)} pages, max order {b['max_order']}, nr_trim_pages "
        f"{b['nr_trim_pages']}. {run['events']} events over {run['ticks']} ticks, "
        f"{run['processes_started']} processes started.</p>",
        '<nav><a href="#summary">summary</a><a href="#fragmentation">fragmentation</a>'
        '<a href="#footprint">footprint</a><a href="#memory-map">memory map</a>'
        '<a href="#failures">failures</a><a href="#expectations">expectations</a></nav>',
    ]
    v = d["verdict"]
    parts.append(
        f'<p id="verdict" class="{"ok" if v["fits"] else "fail"}"><strong>'
        f"{escape(v['headline'])}</strong></p>"
    )
    expected = s["failures"] - s["unexpected_failures"]
    parts.append(
        '<section id="summary"><h2>Does it fit?</h2>'
        + html_table(
            ["memory", "at the end", "lowest during the run"],
            [
                [
                    "RAM (managed by the page allocator)",
                    f"{size_text(s['ram_bytes'])} ({size_text(s['managed_bytes'])})",
                    "",
                ],
                [
                    "free",
                    size_text(s["free_bytes"]),
                    f"{size_text(s['min_free_bytes'])} at event {s['min_free_event']}",
                ],
                [
                    "largest free block",
                    size_text(s["largest_free_block_bytes"]),
                    f"{size_text(s['min_largest_free_block_bytes'])} at event "
                    f"{s['min_largest_free_block_event']}",
                ],
                ["MmapCopy (private copies)", size_text(s["mmap_copy_bytes"]), ""],
                ["page cache (ramfs, tmpfs)", size_text(s["page_cache_bytes"]), ""],
                *(
                    [
                        [
                            "kernel (stacks, slab)",
                            size_text(s["kernel_bytes"]),
                            f"{size_text(s['kernel_stack_bytes'])} stacks, "
                            f"{size_text(s['slab_bytes'])} slab",
                        ],
                        [
                            "page cache (disk files)",
                            size_text(s["disk_cache_bytes"]),
                            "reclaimable",
                        ],
                    ]
                    if s["kernel_bytes"] or s["disk_cache_bytes"]
                    else []
                ),
                [
                    "failed system calls",
                    f"{s['failures']}" + (f" ({expected} expected)" if expected else ""),
                    "",
                ],
            ],
        )
        + "</section>"
    )
    tl = d["timeline"]
    parts.append(
        '<section id="fragmentation"><h2>How fragmented does it get?</h2>'
        + _img(
            "plot-largest-block",
            plots.largest_block_png(tl, marks, xaxis),
            "largest free block over time",
        )
        + _img(
            "plot-free-orders",
            plots.free_orders_png(tl, ps, marks, xaxis),
            "free memory per order over time",
        )
        + f'<p class="muted">One sample every {tl["sample_every"]} event(s); every failure '
        f"is marked, one colour per kind. Free lists at the end; the unusable free space "
        f"index is the share of free memory in blocks too small for a request of that "
        f"order.</p>"
        + html_table(
            ["order", "block", "free blocks", "free KiB", "unusable index"],
            [
                [
                    str(o["order"]),
                    size_text(o["block_bytes"]),
                    str(o["free_blocks"]),
                    kib(o["free_bytes"]),
                    f"{o['unusable_index']:.3f}",
                ]
                for o in d["fragmentation"]["orders"]
            ],
            left=0,
        )
        + "</section>"
    )
    if d["flash"] is not None:
        fl = d["flash"]
        parts.append(
            f"<p>Flash: {size_text(fl['bytes'])}, {size_text(fl['used_bytes'])} in "
            f"partitions, {size_text(fl['free_bytes'])} free.</p>"
            + html_table(
                ["partition", "start", "size", "type", "mapped in place (XIP) at the end"],
                [
                    [
                        p["name"],
                        f"{p['start']:#x}",
                        size_text(p["bytes"]),
                        p["type"],
                        size_text(p["xip_mapped_bytes"]),
                    ]
                    for p in fl["partitions"]
                ],
            )
        )
    parts.append('<section id="footprint"><h2>What does each process cost?</h2>')
    if d["footprint"]:
        parts.append(
            _img(
                "plot-footprint",
                plots.footprint_png(d["footprint"], "RAM per process at the end, by purpose (KiB)"),
                "footprint per process",
            )
            + _footprint_table(d["footprint"])
        )
    else:
        parts.append("<p>No process is left at the end.</p>")
    parts.append(
        '<p class="muted">KiB. RAM: every region the process maps; shared: the '
        "part other processes map too; PSS: each region divided among the processes "
        "mapping it; XIP: text run in place from flash (no RAM).</p></section>"
    )
    parts.append('<section id="memory-map"><h2>Physical memory</h2>')
    for i, snap in enumerate(result.snapshots):
        label = "end of the run" if snap.label == "end" else snap.label
        parts.append(
            f"<h3>{escape(label)} (event {snap.event}, tick {snap.tick})</h3>"
            + _img(
                f"plot-map-{i + 1}",
                plots.memory_map_png(snap, f"Physical memory: {label}"),
                f"memory map: {label}",
            )
        )
    parts.append("</section>")
    parts.append('<section id="failures"><h2>What fails, and why?</h2>')
    if d["failures"]:
        parts.append(
            "<p>Every kind of failure (call, errno, program), how often, and whether it is "
            "held against the run (neither expected nor allowed by the scenario):</p>"
            + html_table(
                ["kind", "count", "held against the run", "first at", "explained in"],
                [
                    [
                        c["key"],
                        str(c["count"]),
                        str(c["unexpected"]),
                        f"{tick_text(c['first_tick'], result.tick_seconds)}, "
                        f"event {c['first_event']}",
                        f"failure {c['failure']}" if c["failure"] is not None else "",
                    ]
                    for c in d["failure_counts"]
                ],
                left=1,
            )
        )
        first_of_kind = {c["failure"] for c in d["failure_counts"]}
        for i, f in enumerate(d["failures"]):
            draw = i < MAX_FAILURE_MAPS or f["index"] in first_of_kind
            parts.append(_failure_html(f, i, result, draw))
        if s["failures"] > len(d["failures"]):
            parts.append(
                f"<p>{s['failures'] - len(d['failures'])} later failures (of the kinds "
                f"above) are counted and marked on the plots but not shown one by one.</p>"
            )
    else:
        parts.append('<p class="ok">No system call failed.</p>')
    parts.append("</section>")
    parts.append('<section id="expectations"><h2>Expectations</h2>')
    if d["expectations"]:
        rows = []
        for e in d["expectations"]:
            loc = f"{e['file']}:{e['line']}" if e["line"] is not None else e["file"]
            result_text = (
                f"held {e['checked']} time(s)"
                if e["passed"]
                else "never checked"
                if not e["checked"]
                else f"failed {e['failed']} of {e['checked']}: {e['detail']}"
            )
            rows.append(
                ["ok" if e["passed"] else "FAIL", e["what"], f"{loc} {e['field']}", result_text]
            )
        parts.append(html_table(["", "expectation", "where", "result"], rows, left=4))
    else:
        parts.append("<p>The scenario states no expectations.</p>")
    parts.append("</section></body></html>\n")
    return "\n".join(p for p in parts if p)
