"""What each process costs in RAM, split by purpose, with sharing made visible.

A no-MMU kernel reports no smaps and no PSS; this computes them from a
snapshot. The bytes of every VMA of a process are put in one column, using
the layout its loader recorded in the mm (``start_code`` … ``start_stack``),
checked in this order:

========  ============================================================
text      from the start of the mapping holding ``start_code`` to
          ``end_code`` (a bFLT file's 64-byte header included)
data      from the start of the mapping holding ``start_data`` (or from
          ``end_code`` when text and data share it) to ``end_data``
bss       ``end_data`` to ``start_brk``, when both lie in one mapping
heap      the brk area in use (``start_brk`` to ``brk``), and every
          other anonymous mapping (what ``malloc`` gets from ``mmap``)
stack     from ``end_brk`` (or the mapping's start) to the end of the
          mapping holding the stack
other     file and shared-memory mappings that are not the program
========  ============================================================

ELF-FDPIC records no separate bss (``end_data`` covers ``p_memsz``), so its
bss shows as data. Bytes in the brk area above ``brk`` and the untrimmed tail
of a power-of-two allocation (``vm_top - vm_end``) are **slack**: RAM the
process holds but cannot use. Text executed in place from flash (XIP) costs
no RAM and is counted apart, as ``xip``.

``ram`` is every byte of RAM the process's mappings hold (RSS-like),
``shared`` the part in regions that other processes map too, and ``pss``
each region's RAM divided by the number of processes mapping it (summed
over processes, it adds up to the RAM the regions hold).

Usage::

    for row in footprints(snapshot):
        print(row.pid, row.name, row.text, row.pss)
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from typing import Any

from nommu.analysis.snapshot import MachineSnapshot, ProcessView, RegionView, VmaView

#: The columns that split a process's mapped bytes, in table order.
COLUMNS = ("text", "data", "bss", "stack", "heap", "other")


@dataclass(frozen=True, slots=True)
class Footprint:
    """The RAM a process uses, in bytes."""

    pid: int
    name: str
    text: int
    data: int
    bss: int
    stack: int
    heap: int
    other: int
    slack: int
    xip: int  # executed in place from flash: no RAM
    ram: int  # RAM of every region the process maps (RSS-like)
    shared: int  # part of ram in regions other processes map too
    pss: float  # proportional share: each region's RAM / processes mapping it
    kernel: int = 0  # the kernel's memory for the task: stack, task and mapping objects

    def to_json(self) -> dict[str, Any]:
        """The figures in bytes, ``pss`` rounded to whole bytes (docs/json.md FOOTPRINT)."""
        out = dataclasses.asdict(self)
        out["pss"] = round(self.pss)
        return out


def _vma_at(vmas: tuple[VmaView, ...], addr: int) -> VmaView | None:
    for v in vmas:
        if v.start <= addr < v.end:
            return v
    return None


def _intervals(p: ProcessView) -> list[tuple[str, int, int]]:
    """The loader's layout as ``(column, start, end)`` ranges, in priority order."""
    out: list[tuple[str, int, int]] = []
    vmas = p.vmas
    text_vma = _vma_at(vmas, p.start_code) if p.end_code > p.start_code else None
    if text_vma is not None:
        # a text mapping of the file is text to its (page-rounded) end
        end = text_vma.end if text_vma.path is not None else min(p.end_code, text_vma.end)
        out.append(("text", text_vma.start, end))
    data_vma = _vma_at(vmas, p.start_data) if p.end_data > p.start_data else None
    if data_vma is not None:
        lo = data_vma.start
        if text_vma is data_vma:
            lo = max(lo, p.end_code)
        out.append(("data", lo, min(p.end_data, data_vma.end)))
    brk_vma = _vma_at(vmas, p.start_brk)
    if p.start_brk > p.end_data and data_vma is not None:
        if _vma_at(vmas, p.start_brk - 1) is data_vma:
            out.append(("bss", p.end_data, p.start_brk))
    if brk_vma is not None:
        if p.brk > p.start_brk:
            out.append(("heap", p.start_brk, min(p.brk, brk_vma.end)))
        if p.end_brk > p.brk:
            out.append(("slack", max(p.brk, p.start_brk), min(p.end_brk, brk_vma.end)))
    stack_vma = _vma_at(vmas, p.start_stack - 1) if p.start_stack else None
    if stack_vma is not None:
        lo = p.end_brk if stack_vma.start <= p.end_brk < stack_vma.end else stack_vma.start
        out.append(("stack", lo, stack_vma.end))
    return out


def _split(v: VmaView, layout: list[tuple[str, int, int]], rest: str) -> dict[str, int]:
    """Bytes of *v* per column: each byte goes to the first layout range holding it."""
    points = {v.start, v.end}
    for _, s, e in layout:
        if v.start < s < v.end:
            points.add(s)
        if v.start < e < v.end:
            points.add(e)
    cuts = sorted(points)
    out: dict[str, int] = {}
    for lo, hi in itertools.pairwise(cuts):
        col = rest
        for name, s, e in layout:
            if s <= lo and hi <= e:
                col = name
                break
        out[col] = out.get(col, 0) + hi - lo
    return out


def _region_ram(r: RegionView) -> int:
    if r.is_copy:
        return r.ram_bytes
    if r.area == "ram":  # a direct mapping of page cache
        return max(r.end - r.start, 0)  # a file shrink can push the end below the start
    return 0


def footprint(snapshot: MachineSnapshot, pid: int) -> Footprint | None:
    """The footprint of one process, or None when it has no address space."""
    proc = next((p for p in snapshot.processes if p.pid == pid), None)
    if proc is None or not proc.mm:
        return None
    regions = {r.seq: r for r in snapshot.regions}
    return _footprint(proc, regions)


def _footprint(p: ProcessView, regions: dict[int, RegionView]) -> Footprint:
    cols = dict.fromkeys((*COLUMNS, "slack"), 0)
    xip = 0
    layout = _intervals(p)
    seen: set[int] = set()
    ram = shared = 0
    pss = 0.0
    for v in p.vmas:
        r = regions.get(v.region)
        if r is not None and not r.is_copy and r.area not in ("ram", ""):
            xip += v.end - v.start
        else:
            rest = "heap" if v.path is None else "other"
            for col, n in _split(v, layout, rest).items():
                cols[col] += n
        if r is None or r.seq in seen:
            continue
        seen.add(r.seq)
        nbytes = _region_ram(r)
        if r.is_copy:
            cols["slack"] += r.top - r.end
        ram += nbytes
        nusers = max(len(r.users), 1)
        if nusers > 1:
            shared += nbytes
        pss += nbytes / nusers
    return Footprint(
        p.pid,
        p.name,
        cols["text"],
        cols["data"],
        cols["bss"],
        cols["stack"],
        cols["heap"],
        cols["other"],
        cols["slack"],
        xip,
        ram,
        shared,
        pss,
        p.kernel,
    )


def footprints(snapshot: MachineSnapshot) -> tuple[Footprint, ...]:
    """Footprints of every process that maps anything, by pid."""
    regions = {r.seq: r for r in snapshot.regions}
    return tuple(_footprint(p, regions) for p in snapshot.processes if p.mm and p.vmas)
