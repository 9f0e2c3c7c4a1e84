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
    cached: int  # every page-cache page: ramfs (unevictable) and disk files (file LRU)
    mmap_copy: int
    page_kb: int
    file_lru: int = 0  # clean page-cache pages of disk files (Inactive(file))
    slab_reclaimable: int = 0
    slab_unreclaimable: int = 0
    kernel_stack_kb: int = 0  # KernelStack is counted in kB, not pages
    wmark_low: int = 0  # the zone's low watermark (si_mem_available)
    totalreserve: int = 0  # totalreserve_pages: the high watermark of the one zone

    @property
    def available(self) -> int:
        """``si_mem_available()``: free above the reserve, plus what reclaim could free."""
        available = self.free - self.totalreserve
        pagecache = self.file_lru
        available += pagecache - min(pagecache // 2, self.wmark_low)
        reclaimable = self.slab_reclaimable
        available += reclaimable - min(reclaimable // 2, self.wmark_low)
        return max(available, 0)


def meminfo_line(label: str, kb: int) -> str:
    return f"{label + ':':<16}{kb:>8} kB\n"


def render_meminfo(f: MeminfoFigures) -> str:
    k = f.page_kb
    slab = f.slab_reclaimable + f.slab_unreclaimable
    rows = [
        ("MemTotal", f.total),
        ("MemFree", f.free),
        ("MemAvailable", f.available),
        ("Buffers", 0),
        ("Cached", f.cached),
        ("SwapCached", 0),
        ("Active", 0),
        ("Inactive", f.file_lru),
        ("Active(anon)", 0),
        ("Inactive(anon)", 0),
        ("Active(file)", 0),
        ("Inactive(file)", f.file_lru),
        ("Unevictable", f.cached - f.file_lru),
        ("Mlocked", 0),
        ("MmapCopy", f.mmap_copy),
        ("SwapTotal", 0),
        ("SwapFree", 0),
        ("Dirty", 0),
        ("Writeback", 0),
        ("AnonPages", 0),
        ("Mapped", 0),
        ("Shmem", 0),
        ("KReclaimable", f.slab_reclaimable),
        ("Slab", slab),
        ("SReclaimable", f.slab_reclaimable),
        ("SUnreclaim", f.slab_unreclaimable),
        ("KernelStack", 0),  # in kB below
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
    return "".join(
        meminfo_line(label, f.kernel_stack_kb if label == "KernelStack" else pages * k)
        for label, pages in rows
    )


def render_buddyinfo(nr_free: tuple[int, ...], node: int = 0, zone: str = "Normal") -> str:
    """``frag_show_print``: ``Node 0, zone   Normal`` then ``%6lu `` per order."""
    return f"Node {node}, zone {zone:>8} " + "".join(f"{n:6d} " for n in nr_free) + "\n"
