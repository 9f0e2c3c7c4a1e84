"""Physical memory as runs of pages, each of one kind and one owner.

:func:`memory_map` covers all of RAM, in ascending page order, with no gap:
the kernel's reserved pages, every allocation of the snapshot, the free
blocks, and (as ``other kernel``) allocated pages nobody in the snapshot
claims. :func:`flash_map` does the same for memory-mapped flash: the parts
mapped in place (XIP) and the rest.

Usage::

    for run in memory_map(snap):
        print(hex(run.start_pfn), run.npages, run.kind, run.owner_name)
"""

from __future__ import annotations

from dataclasses import dataclass

from nommu.analysis.snapshot import (
    KIND_FREE,
    KIND_KERNEL,
    KIND_OTHER,
    KIND_XIP,
    MachineSnapshot,
)

#: The kind of flash that no process maps in place.
KIND_FLASH = "flash"


@dataclass(frozen=True, slots=True)
class MapRun:
    """``npages`` pages from ``start_pfn`` of one kind and owner."""

    start_pfn: int
    npages: int
    kind: str
    owner_pid: int
    owner_name: str
    label: str


def memory_map(snapshot: MachineSnapshot) -> tuple[MapRun, ...]:
    """Every page of RAM, as ascending runs (adjacent free blocks merged)."""
    runs: list[MapRun] = []
    start, end = snapshot.start_pfn, snapshot.end_pfn
    reserved = snapshot.reserved_pages
    if reserved:
        runs.append(MapRun(start, reserved, KIND_KERNEL, 0, "", "kernel image and data"))
    pieces: list[MapRun] = [
        MapRun(a.start_pfn, a.npages, a.kind, a.owner_pid, a.owner_name, a.label)
        for a in snapshot.allocations
    ]
    pieces.extend(
        MapRun(pfn, 1 << order, KIND_FREE, 0, "", "") for pfn, order in snapshot.free_blocks
    )
    pieces.sort(key=lambda r: r.start_pfn)
    cursor = start + reserved
    for piece in pieces:
        if piece.start_pfn > cursor:
            runs.append(MapRun(cursor, piece.start_pfn - cursor, KIND_OTHER, 0, "", ""))
        lo = max(piece.start_pfn, cursor)
        hi = min(piece.start_pfn + piece.npages, end)
        if hi <= lo:
            continue
        last = runs[-1] if runs else None
        if (
            piece.kind == KIND_FREE
            and last is not None
            and last.kind == KIND_FREE
            and last.start_pfn + last.npages == lo
        ):
            runs[-1] = MapRun(last.start_pfn, last.npages + hi - lo, KIND_FREE, 0, "", "")
        else:
            runs.append(
                MapRun(lo, hi - lo, piece.kind, piece.owner_pid, piece.owner_name, piece.label)
            )
        cursor = hi
    if cursor < end:
        runs.append(MapRun(cursor, end - cursor, KIND_OTHER, 0, "", ""))
    return tuple(runs)


def flash_map(snapshot: MachineSnapshot) -> tuple[MapRun, ...]:
    """Memory-mapped flash as runs: parts mapped in place (XIP) and the rest.

    Runs are in flash pages (``flash_base // page_size`` upwards); an XIP
    mapping that does not start on a page boundary is widened to whole pages.
    """
    if not snapshot.flash_size:
        return ()
    ps = snapshot.page_size
    base = snapshot.flash_base // ps
    end = (snapshot.flash_base + snapshot.flash_size) // ps
    xip = sorted(
        (r.start // ps, -(-r.end // ps), r) for r in snapshot.regions if r.kind == KIND_XIP
    )
    runs: list[MapRun] = []
    cursor = base
    for lo, hi, r in xip:
        lo = max(lo, cursor)
        if hi <= lo:
            continue
        if lo > cursor:
            runs.append(MapRun(cursor, lo - cursor, KIND_FLASH, 0, "", ""))
        runs.append(MapRun(lo, hi - lo, KIND_XIP, r.owner_pid, r.owner_name, r.path or ""))
        cursor = hi
    if cursor < end:
        runs.append(MapRun(cursor, end - cursor, KIND_FLASH, 0, "", ""))
    return tuple(runs)
