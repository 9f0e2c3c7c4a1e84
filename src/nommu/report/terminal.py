"""The report in the terminal: summary, fragmentation, footprints, first failure, checks.

Renders the data of :func:`nommu.report.data.report_data` with rich. The
sections answer, in order: does it fit (summary), how fragmented does it get
(free blocks per order and the unusable free space index), what does each
process cost (footprint), what fails first and why (the kernel's own lines,
then the explanation), and did the scenario's expectations hold.

:func:`render_text` returns plain text at a fixed width (golden tests, files);
:func:`print_report` writes to a rich console (colour when it is a terminal).
"""

from __future__ import annotations

import io
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from nommu.analysis.failure import size_text

#: Kinds of failure explained in full in the terminal (all of them in JSON and HTML).
MAX_KINDS_SHOWN = 12


def kib(n: int | float) -> str:
    """Bytes as KiB for table cells: whole KiB plain, else one decimal."""
    k = n / 1024
    return f"{k:.0f}" if k == int(k) else f"{k:.1f}"


def _where(item: dict[str, Any]) -> str:
    loc = f"{item['file']}:{item['line']}" if item["line"] is not None else item["file"]
    return f"{loc} {item['field']}".rstrip()


def _board_line(d: dict[str, Any]) -> str:
    b = d["board"]
    ps = b["page_size"]
    flash = (
        f", {size_text(b['flash_bytes'])} flash at {b['flash_base']:#x}"
        if b["flash_bytes"]
        else ", no flash"
    )
    return (
        f"Board: {size_text(b['ram_bytes'])} RAM at {b['ram_base']:#x} "
        f"({size_text(b['kernel_reserved_bytes'])} kernel){flash}; "
        f"{size_text(ps)} pages, max order {b['max_order']} "
        f"({size_text((1 << b['max_order']) * ps)} blocks), "
        f"nr_trim_pages {b['nr_trim_pages']}"
    )


def _summary(d: dict[str, Any]) -> Table:
    s = d["summary"]
    t = Table(
        title="Does it fit?",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
    )
    t.add_column("memory")
    t.add_column("at the end", justify="right")
    t.add_column("lowest during the run", justify="right")
    t.add_row(
        "RAM (managed by the page allocator)",
        f"{size_text(s['ram_bytes'])} ({size_text(s['managed_bytes'])})",
        "",
    )
    t.add_row(
        "free",
        size_text(s["free_bytes"]),
        f"{size_text(s['min_free_bytes'])} at event {s['min_free_event']}",
    )
    t.add_row(
        "largest free block",
        size_text(s["largest_free_block_bytes"]),
        f"{size_text(s['min_largest_free_block_bytes'])} at event "
        f"{s['min_largest_free_block_event']}",
    )
    t.add_row("MmapCopy (private copies)", size_text(s["mmap_copy_bytes"]), "")
    t.add_row("page cache (ramfs, tmpfs)", size_text(s["page_cache_bytes"]), "")
    if s["kernel_bytes"] or s["disk_cache_bytes"]:
        t.add_row(
            "kernel (stacks, slab)",
            size_text(s["kernel_bytes"]),
            f"{size_text(s['kernel_stack_bytes'])} stacks, {size_text(s['slab_bytes'])} slab",
        )
        t.add_row("page cache (disk files)", size_text(s["disk_cache_bytes"]), "reclaimable")
    expected = s["failures"] - s["unexpected_failures"]
    t.add_row(
        "failed system calls",
        f"{s['failures']}" + (f" ({expected} expected)" if expected else ""),
        "",
    )
    return t


def _flash_line(f: dict[str, Any]) -> str:
    parts = [
        f"{p['name']} {size_text(p['bytes'])} at {p['start']:#x} ({p['type']}"
        + (f", {size_text(p['xip_mapped_bytes'])} mapped in place" if p["xip_mapped_bytes"] else "")
        + ")"
        for p in f["partitions"]
    ]
    return (
        f"Flash: {size_text(f['bytes'])}, {size_text(f['used_bytes'])} in partitions"
        + (": " + "; ".join(parts) if parts else "")
        + f"; {size_text(f['free_bytes'])} free"
    )


def _fragmentation(d: dict[str, Any]) -> Table:
    f = d["fragmentation"]
    t = Table(
        title="How fragmented is it? (free lists at the end)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
    )
    for name in ("order", "block", "free blocks", "free KiB", "unusable index"):
        t.add_column(name, justify="right")
    for o in f["orders"]:
        t.add_row(
            str(o["order"]),
            size_text(o["block_bytes"]),
            str(o["free_blocks"]),
            kib(o["free_bytes"]),
            f"{o['unusable_index']:.3f}",
        )
    return t


FOOTPRINT_COLUMNS = (
    "text",
    "data",
    "bss",
    "stack",
    "heap",
    "other",
    "slack",
    "xip",
    "ram",
    "shared",
    "pss",
    "kernel",
)


def _footprint(rows: list[dict[str, Any]], title: str) -> Table:
    t = Table(
        title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False
    )
    t.add_column("pid", justify="right")
    t.add_column("name")
    for c in FOOTPRINT_COLUMNS:
        t.add_column(c.upper() if c in ("ram", "pss", "xip") else c, justify="right")
    totals = dict.fromkeys(FOOTPRINT_COLUMNS, 0)
    for r in rows:
        t.add_row(str(r["pid"]), r["name"], *(kib(r[c]) for c in FOOTPRINT_COLUMNS))
        for c in FOOTPRINT_COLUMNS:
            totals[c] += r[c]
    if len(rows) > 1:
        t.add_row(
            "",
            "all",
            *(kib(totals[c]) if c in ("pss", "kernel") else "" for c in FOOTPRINT_COLUMNS),
        )
    return t


def _when(d: dict[str, Any], tick: int) -> str:
    from nommu.report.data import tick_text

    return tick_text(tick, d["run"].get("tick_seconds"))


def _failure_table(f: dict[str, Any], d: dict[str, Any]) -> Table:
    """The failure as a two-column grid, so wrapped lines keep their indent."""
    t = Table.grid(padding=(0, 1))
    t.add_column(style="bold", no_wrap=True)
    t.add_column(overflow="fold")
    t.add_row("where", f"{_where(f)}, event {f['event']}, {_when(d, f['tick'])}")
    status = " [expected]" if f["expected"] else " [allowed]" if f.get("allowed") else ""
    kind = f.get("kind", "syscall")
    if kind == "syscall":
        call = f"{f['process']} (pid {f['pid']}): {f['call']} = -1 {f['errno']} ({f['strerror']})"
        t.add_row("call", call + status)
    elif f["call"]:  # another kind of failure (the OOM killer) during a call
        t.add_row("call", f"{f['process']} (pid {f['pid']}): {f['call']}" + status)
        t.add_row(kind, f"{f['strerror']}\n{f['detail']}" if f["detail"] else f["strerror"])
    else:
        call = f"{f['process']} (pid {f['pid']}): {kind} {f['errno']}".rstrip()
        t.add_row("call", call + status)
        if f["strerror"]:
            t.add_row(kind, f"{f['strerror']}\n{f['detail']}" if f["detail"] else f["strerror"])
    if f["kernel_log"]:
        t.add_row("kernel log", "\n".join(f["kernel_log"]))
    x = f["explanation"]
    if x is None:
        if f["detail"]:
            t.add_row("why", f["detail"])
        return t
    t.add_row("why", f"{x['summary']}")
    block = x["candidate_block"]
    if block is not None and (block["in_the_way"] or block["unattributed_pages"]):
        lines = []
        for b in block["in_the_way"][:8]:
            who = f"pid {b['owner_pid']} ({b['owner']})" if b["owner_pid"] else ""
            shared = f", mapped by {len(b['mapped_by'])}" if len(b["mapped_by"]) > 1 else ""
            what = " ".join(p for p in (b["kind"], b["label"], who) if p)
            n = b["pages_in_block"]
            lines.append(
                f"{b['start']:#x} {size_text(b['bytes'])} {what}{shared}: "
                f"{n} page{'s' if n != 1 else ''} in the block"
            )
        if len(block["in_the_way"]) > 8:
            lines.append(f"... and {len(block['in_the_way']) - 8} more")
        if block["unattributed_pages"]:
            lines.append(f"{block['unattributed_pages']} page(s) of other kernel allocations")
        t.add_row("in the way", "\n".join(lines))
    if x["remedies"]:
        t.add_row("would work", "\n".join(f"- {r}" for r in x["remedies"]))
    return t


def _expectations(d: dict[str, Any]) -> Table:
    t = Table(
        title="Expectations",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
    )
    t.add_column("")
    t.add_column("expectation")
    t.add_column("where")
    t.add_column("result")
    for e in d["expectations"]:
        if e["passed"]:
            mark, result = (
                Text("ok", style="green"),
                f"held {e['checked']} time" + ("s" if e["checked"] != 1 else ""),
            )
        else:
            mark = Text("FAIL", style="bold red")
            result = (
                "never checked"
                if not e["checked"]
                else (f"failed {e['failed']} of {e['checked']}: {e['detail']}")
            )
        t.add_row(mark, e["what"], _where(e), result)
    return t


def print_report(d: dict[str, Any], console: Console, *, outputs: tuple[str, ...] = ()) -> None:
    """Write the report for *d* (from :func:`report_data`) to *console*."""
    sc = d["scenario"]
    run = d["run"]
    console.print(Text(f"nommu: {sc['name']} ({sc['path']}), seed {sc['seed']}", style="bold"))
    if sc["description"]:
        console.print(sc["description"].strip())
    console.print(_board_line(d))
    console.print(
        f"Ran {run['events']} events over {run['ticks']} ticks; "
        f"{run['processes_started']} processes started; "
        f"{run['kernel_log_lines']} kernel log lines"
    )
    if run["skipped_steps"]:
        console.print(
            f"{run['skipped_steps']} steps skipped: a value they read was not saved, "
            f"because the step saving it failed"
        )
    v = d["verdict"]
    console.print(Text(v["headline"], style="bold green" if v["fits"] else "bold red"))
    console.print()
    if d.get("boot"):
        console.print(Text("Boot (the root filesystem's init)", style="bold"))
        for line in d["boot"]:
            console.print(f"  {line}")
        console.print()
    console.print(_summary(d))
    if d.get("flash"):
        console.print(_flash_line(d["flash"]))
    console.print()
    console.print(_fragmentation(d))
    console.print()
    if d["footprint"]:
        console.print(_footprint(d["footprint"], "What does each process cost? (KiB, at the end)"))
        console.print()
    failures = d["failures"]
    first = d["summary"]["first_failure"]
    if first is not None:
        f = failures[first - 1]
        console.print(Text("What fails first, and why?", style="bold red"))
        console.print(_failure_table(f, d))
        console.print()
        if f["footprint"]:
            console.print(_footprint(f["footprint"], "Processes at that moment (KiB)"))
            console.print()
        others = [c for c in d["failure_counts"] if c.get("failure") not in (None, first)]
        if others:
            console.print(Text("The first failure of each other kind, and why", style="bold red"))
            for c in others[:MAX_KINDS_SHOWN]:
                console.print(Text(f"{c['key']} (x{c['count']})", style="bold"))
                console.print(_failure_table(failures[c["failure"] - 1], d))
            if len(others) > MAX_KINDS_SHOWN:
                console.print(
                    f"... and {len(others) - MAX_KINDS_SHOWN} more kinds, explained in the "
                    f"JSON and HTML reports"
                )
            console.print()
    else:
        console.print(Text("No system call failed.", style="green"))
        console.print()
    if d["failure_counts"]:
        parts = []
        for c in d["failure_counts"]:
            held = (
                ""
                if c.get("unexpected", c["count"]) == c["count"]
                else f", {c['unexpected']} held against the run"
            )
            parts.append(
                f"{c.get('key', c['op'] + ' ' + c['errno'])} x{c['count']} "
                f"(first at event {c['first_event']}{held})"
            )
        console.print("Failures by kind: " + "; ".join(parts))
        console.print()
    if d["expectations"]:
        console.print(_expectations(d))
        console.print()
    if run["stopped"]:
        console.print(Text(f"Stopped early: {run['stopped']}", style="bold red"))
    v = d["verdict"]
    if v["fits"]:
        console.print(Text("Result: OK: " + v["summary"], style="bold green"))
    else:
        console.print(Text("Result: FAILS: " + v["summary"], style="bold red"))
    for path in outputs:
        console.print(f"Report written to {path}")


def render_text(d: dict[str, Any], *, width: int = 100) -> str:
    """The report as plain text at a fixed width (no colour, no terminal codes)."""
    buf = io.StringIO()
    console = Console(
        file=buf,
        width=width,
        color_system=None,
        force_terminal=False,
        highlight=False,
        markup=False,
        emoji=False,
        soft_wrap=False,
        legacy_windows=False,
    )
    print_report(d, console)
    return "".join(line.rstrip() + "\n" for line in buf.getvalue().splitlines())
