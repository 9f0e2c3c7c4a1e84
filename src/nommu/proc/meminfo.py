"""``/proc/meminfo`` and ``/proc/buddyinfo`` (fs/proc/meminfo.c, mm/vmstat.c).

meminfo lines are ``show_val_kb``: a 16-column label, the value in kB in 8
columns, then `` kB``. NOMMU adds ``MmapCopy`` after ``Mlocked``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MeminfoFigures:
    """The counters meminfo prints, in pages."""

    total: int
    free: int
    cached: int
    mmap_copy: int
    page_kb: int


def meminfo_line(label: str, kb: int) -> str:
    return f"{label + ':':<16}{kb:>8} kB\n"


def render_meminfo(f: MeminfoFigures) -> str:
    k = f.page_kb
    rows = [
        ("MemTotal", f.total),
        ("MemFree", f.free),
        ("MemAvailable", f.free),
        ("Buffers", 0),
        ("Cached", f.cached),
        ("SwapCached", 0),
        ("Active", 0),
        ("Inactive", 0),
        ("Active(anon)", 0),
        ("Inactive(anon)", 0),
        ("Active(file)", 0),
        ("Inactive(file)", 0),
        ("Unevictable", f.cached),
        ("Mlocked", 0),
        ("MmapCopy", f.mmap_copy),
        ("SwapTotal", 0),
        ("SwapFree", 0),
        ("Dirty", 0),
        ("Writeback", 0),
        ("AnonPages", 0),
        ("Mapped", 0),
        ("Shmem", 0),
        ("KReclaimable", 0),
        ("Slab", 0),
        ("SReclaimable", 0),
        ("SUnreclaim", 0),
        ("KernelStack", 0),
        ("PageTables", 0),
        ("SecPageTables", 0),
        ("NFS_Unstable", 0),
        ("Bounce", 0),
        ("WritebackTmp", 0),
        ("CommitLimit", f.total // 2),
        ("Committed_AS", 0),
        ("VmallocTotal", 0),
        ("VmallocUsed", 0),
        ("VmallocChunk", 0),
        ("Percpu", 0),
    ]
    return "".join(meminfo_line(label, pages * k) for label, pages in rows)


def render_buddyinfo(nr_free: tuple[int, ...], node: int = 0, zone: str = "Normal") -> str:
    """``frag_show_print``: ``Node 0, zone   Normal`` then ``%6lu `` per order."""
    return f"Node {node}, zone {zone:>8} " + "".join(f"{n:6d} " for n in nr_free) + "\n"
