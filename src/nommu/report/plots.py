"""The report's plots, drawn with matplotlib's object API on the Agg canvas.

This module and :mod:`.sweep_plots` are the only ones that import matplotlib
(and numpy, which it brings); they are imported only when an HTML report is
made. No pyplot and no global
backend switch: each figure gets its own ``FigureCanvasAgg``, so making a
report never changes the plotting setup of the program that asked for it.
Every function returns PNG bytes; the same data gives the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FuncFormatter

from nommu.analysis.memmap import KIND_FLASH, flash_map, memory_map
from nommu.analysis.snapshot import (
    KIND_ANON,
    KIND_FILE_COPY,
    KIND_FREE,
    KIND_KERNEL,
    KIND_OTHER,
    KIND_PAGE_CACHE,
    KIND_XIP,
    MachineSnapshot,
)

#: Colour of each kind of memory (colour-blind friendly: Okabe-Ito, plus greys).
KIND_COLOURS = {
    KIND_FREE: "#f4f4f4",
    KIND_KERNEL: "#4d4d4d",
    KIND_ANON: "#d55e00",
    KIND_FILE_COPY: "#e69f00",
    KIND_PAGE_CACHE: "#0072b2",
    KIND_OTHER: "#999999",
    KIND_XIP: "#009e73",
    KIND_FLASH: "#cfe8dc",
}
#: Paint order when several pages share one cell of a large map: used beats free.
KIND_ORDER = (
    KIND_FREE,
    KIND_FLASH,
    KIND_XIP,
    KIND_PAGE_CACHE,
    KIND_FILE_COPY,
    KIND_ANON,
    KIND_OTHER,
    KIND_KERNEL,
)
OWNER_PALETTE = (
    "#1b9e77",
    "#d95f02",
    "#7570b3",
    "#e7298a",
    "#66a61e",
    "#e6ab02",
    "#a6761d",
    "#1f78b4",
    "#b2df8a",
    "#fb9a99",
    "#cab2d6",
    "#fdbf6f",
    "#6a3d9a",
    "#b15928",
    "#8dd3c7",
    "#bebada",
)
FOOTPRINT_COLOURS = {
    "text": "#0072b2",
    "data": "#56b4e9",
    "bss": "#009e73",
    "stack": "#f0e442",
    "heap": "#d55e00",
    "other": "#cc79a7",
    "slack": "#999999",
}
MAX_CELLS = 4096
DPI = 96


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)  # draw with Agg, whatever pyplot's backend is
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _cells(npages: int) -> tuple[int, int, int]:
    """(pages per cell, columns, rows) for a map of *npages* pages."""
    per = max(1, -(-npages // MAX_CELLS))
    cells = -(-npages // per)
    cols = 64 if cells <= 2048 else 128
    return per, cols, -(-cells // cols)


def _grid(codes: Any, per: int, cols: int, rows: int, fill: int) -> Any:
    """Page codes to a rows x cols grid, each cell the highest code of its pages."""
    n = len(codes)
    padded = np.full(per * cols * rows, fill, dtype=np.int16)
    padded[:n] = codes
    return padded.reshape(rows * cols, per).max(axis=1).reshape(rows, cols)


def memory_map_png(
    snap: MachineSnapshot, title: str, highlight: tuple[int, int] | None = None
) -> bytes:
    """RAM coloured by kind (left) and by owner (right); flash below when there is some.

    *highlight* is ``(first pfn, pages)`` of a block to outline (a failure's best
    candidate block).
    """
    runs = memory_map(snap)
    start = snap.start_pfn
    npages = snap.end_pfn - start
    kind_code = {k: i for i, k in enumerate(KIND_ORDER)}
    kinds = np.zeros(npages, dtype=np.int16)
    owners = np.zeros(npages, dtype=np.int16)
    owner_keys: list[str] = ["free", "kernel"]
    owner_pages: dict[str, int] = {}
    for r in runs:
        lo, hi = r.start_pfn - start, r.start_pfn - start + r.npages
        kinds[lo:hi] = kind_code[r.kind]
        if r.kind == KIND_FREE:
            key = "free"
        elif r.owner_pid:
            key = f"pid {r.owner_pid} {r.owner_name}".rstrip()
        elif r.kind == KIND_PAGE_CACHE:
            key = r.label or "page cache"
        else:
            key = "kernel"
        if key not in owner_keys:
            owner_keys.append(key)
        owners[lo:hi] = owner_keys.index(key)
        owner_pages[key] = owner_pages.get(key, 0) + r.npages
    per, cols, rows = _cells(npages)
    kind_grid = _grid(kinds, per, cols, rows, kind_code[KIND_FREE])
    owner_grid = _grid(owners, per, cols, rows, 0)
    owner_colours = ["#f4f4f4", "#4d4d4d"] + [
        OWNER_PALETTE[i % len(OWNER_PALETTE)] for i in range(len(owner_keys) - 2)
    ]

    fls = flash_map(snap)
    map_height = 1.6 + rows * 0.09
    height = map_height + (0.8 if fls else 0)
    fig = Figure(figsize=(11, height), dpi=DPI, layout="constrained")
    grid = fig.add_gridspec(2 if fls else 1, 2, height_ratios=[map_height, 0.8] if fls else [1])
    ax_kind = fig.add_subplot(grid[0, 0])
    ax_owner = fig.add_subplot(grid[0, 1])
    ax_kind.imshow(
        kind_grid,
        cmap=ListedColormap([KIND_COLOURS[k] for k in KIND_ORDER]),
        vmin=0,
        vmax=len(KIND_ORDER) - 1,
        aspect="auto",
        interpolation="nearest",
    )
    ax_owner.imshow(
        owner_grid,
        cmap=ListedColormap(owner_colours),
        vmin=0,
        vmax=max(len(owner_colours) - 1, 1),
        aspect="auto",
        interpolation="nearest",
    )
    cell_bytes = per * snap.page_size
    for ax, name in ((ax_kind, "by kind"), (ax_owner, "by owner")):
        ax.set_title(
            f"{name} ({cols} cells per row, {cell_bytes // 1024} KiB per cell)", fontsize=9
        )
        ax.set_xticks([])
        ax.set_yticks([0, rows - 1])
        ax.set_yticklabels(
            [f"{snap.ram_base:#x}", f"{snap.ram_base + (rows - 1) * cols * cell_bytes:#x}"],
            fontsize=7,
        )
        if highlight is not None:
            first, count = highlight
            lo_cell = (first - start) // per
            hi_cell = -(-(first - start + count) // per)
            while lo_cell < hi_cell:  # one outline per grid row the block spans
                row, col = divmod(lo_cell, cols)
                span = min(hi_cell - lo_cell, cols - col)
                ax.add_patch(
                    Rectangle(
                        (col - 0.5, row - 0.5), span, 1, fill=False, edgecolor="black", linewidth=2
                    )
                )
                lo_cell += span
    used = [k for k in KIND_ORDER if k != KIND_FLASH and (kinds == kind_code[k]).any()]
    ax_kind.legend(
        handles=[Patch(color=KIND_COLOURS[k], label=k) for k in used],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.02),
        ncol=4,
        fontsize=7,
        frameon=False,
    )
    top = sorted(
        (k for k in owner_keys[2:]), key=lambda k: (-owner_pages.get(k, 0), owner_keys.index(k))
    )[:10]
    handles = [Patch(color=owner_colours[owner_keys.index(k)], label=k[:28]) for k in top]
    handles.insert(0, Patch(color=owner_colours[1], label="kernel"))
    ax_owner.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.02),
        ncol=4,
        fontsize=7,
        frameon=False,
    )
    if fls:
        ax_flash = fig.add_subplot(grid[1, :])
        fpages = snap.flash_size // snap.page_size
        fcodes = np.zeros(fpages, dtype=np.int16)
        fbase = snap.flash_base // snap.page_size
        for r in fls:
            fcodes[r.start_pfn - fbase : r.start_pfn - fbase + r.npages] = kind_code[r.kind]
        fper = max(1, -(-fpages // 512))
        fcells = -(-fpages // fper)
        strip = _grid(fcodes, fper, fcells, 1, kind_code[KIND_FLASH])
        ax_flash.imshow(
            strip,
            cmap=ListedColormap([KIND_COLOURS[k] for k in KIND_ORDER]),
            vmin=0,
            vmax=len(KIND_ORDER) - 1,
            aspect="auto",
            interpolation="nearest",
        )
        ax_flash.set_yticks([])
        ax_flash.set_xticks([])
        xip = sum(r.npages for r in fls if r.kind == KIND_XIP) * snap.page_size
        ax_flash.set_title(
            f"flash at {snap.flash_base:#x}: {xip // 1024} KiB mapped in place (XIP, dark green)",
            fontsize=9,
        )
    fig.suptitle(title, fontsize=11)
    return _png(fig)


#: Colours of the kinds of failure marked on the plots (cycled).
MARK_COLOURS = ("#cc0000", "#7b3294", "#e66101", "#008837", "#0571b0", "#a6611a", "#000000")


def time_axis(tick_seconds: float | None, max_tick: int) -> tuple[float, str]:
    """(factor, label) for an x axis in ticks, or in time when a tick is a duration."""
    if tick_seconds is None:
        return 1.0, "tick"
    total = max_tick * tick_seconds
    for unit, size in (("s", 1.0), ("min", 60.0), ("h", 3600.0)):
        if total <= 600 * size:
            return tick_seconds / size, f"time ({unit})"
    return tick_seconds / 86400.0, "time (days)"


def _mark_failures(ax: Any, marks: Sequence[tuple[str, Sequence[float]]]) -> None:
    """Every failure as a thin vertical line, one colour per kind (the legend names it)."""
    for i, (label, xs) in enumerate(marks):
        if not xs:
            continue
        ax.vlines(
            xs,
            0,
            1,
            transform=ax.get_xaxis_transform(),
            colors=MARK_COLOURS[i % len(MARK_COLOURS)],
            linewidth=0.8,
            linestyles="--",
            alpha=0.7 if len(xs) < 50 else 0.35,
            label=f"failed: {label} (x{len(xs)})",
        )


def free_orders_png(
    timeline: dict[str, Any],
    page_size: int,
    marks: Sequence[tuple[str, Sequence[float]]],
    xaxis: tuple[float, str] = (1.0, "tick"),
) -> bytes:
    """Free memory per order over time, stacked (KiB)."""
    factor, xlabel = xaxis
    events = np.array(timeline["tick"], dtype=np.float64) * factor
    nr_free = np.array(timeline["nr_free"], dtype=np.float64)
    orders = nr_free.shape[1] if nr_free.ndim == 2 else 0
    fig = Figure(figsize=(11, 3.6), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    if orders:
        kib = nr_free * (np.array([1 << o for o in range(orders)]) * page_size / 1024)
        cmap = [
            (0.15 + 0.8 * o / max(orders - 1, 1), 0.35, 0.85 - 0.7 * o / max(orders - 1, 1))
            for o in range(orders)
        ]
        ax.stackplot(
            events,
            kib.T,
            colors=cmap,
            step="post",
            labels=[f"order {o} ({(1 << o) * page_size // 1024} KiB)" for o in range(orders)],
        )
    _mark_failures(ax, marks)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("free KiB")
    ax.set_title("Free memory by block order over time (low orders at the bottom)", fontsize=10)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7, frameon=False)
    ax.margins(x=0)
    return _png(fig)


def largest_block_png(
    timeline: dict[str, Any],
    marks: Sequence[tuple[str, Sequence[float]]],
    xaxis: tuple[float, str] = (1.0, "tick"),
) -> bytes:
    """The largest free block, and all free memory, over time (KiB)."""
    factor, xlabel = xaxis
    events = [t * factor for t in timeline["tick"]]
    fig = Figure(figsize=(11, 3.2), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    ax.step(
        events,
        [b / 1024 for b in timeline["free_bytes"]],
        where="post",
        color="#999999",
        linewidth=1,
        label="free memory",
    )
    ax.step(
        events,
        [b / 1024 for b in timeline["largest_free_block_bytes"]],
        where="post",
        color="#0072b2",
        linewidth=1.5,
        label="largest free block",
    )
    _mark_failures(ax, marks)
    ax.set_yscale("log", base=2)
    ax.yaxis.set_major_formatter(FuncFormatter(_kib_text))
    ax.set_xlabel(xlabel)
    ax.set_ylabel("log scale")
    ax.set_title(
        "Largest free block over time: the biggest allocation that can still succeed", fontsize=10
    )
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    ax.margins(x=0)
    return _png(fig)


def _kib_text(v: float, _pos: object = None) -> str:
    return f"{v / 1024:g} MiB" if v >= 1024 else f"{v:g} KiB"


def footprint_png(rows: Sequence[dict[str, Any]], title: str) -> bytes:
    """Each process's RAM by purpose, as stacked bars (KiB); XIP text hatched."""
    n = max(len(rows), 1)
    fig = Figure(figsize=(11, 1.2 + 0.32 * n), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    labels = [f"{r['pid']} {r['name']}" for r in rows]
    y = np.arange(len(rows))
    left = np.zeros(len(rows))
    for col, colour in FOOTPRINT_COLOURS.items():
        vals = np.array([r[col] / 1024 for r in rows])
        ax.barh(y, vals, left=left, color=colour, label=col, height=0.7)
        left += vals
    xip = np.array([r["xip"] / 1024 for r in rows])
    if xip.any():
        ax.barh(
            y,
            xip,
            left=left,
            color="white",
            edgecolor="#009e73",
            hatch="///",
            label="xip (flash, no RAM)",
            height=0.7,
        )
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("KiB")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    return _png(fig)
