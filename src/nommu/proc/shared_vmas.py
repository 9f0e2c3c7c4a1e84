"""/proc of a 2.6.24 machine (fs/proc/nommu.c, fs/proc/task_nommu.c of that time).

- ``/proc/maps`` lists ``nommu_vma_tree``: every VMA of the machine, each
  once however many processes use it.
- ``/proc/<pid>/maps`` walks the mm's ``vm_list_struct`` list and prints each
  VMA with the same ``nommu_vma_show``: the offset column is ``vm_pgoff <<
  PAGE_SHIFT`` for anonymous memory too, and there is no ``[stack]`` tag
  (added in 3.x).
- ``/proc/<pid>/statm`` is 2.6.24's ``task_statm`` in *bytes* (sizes summed
  with ``kobjsize``, text ``end_code - start_code``, data ``start_stack -
  start_data``), printed by ``proc_pid_statm`` as ``size resident shared
  text lib data dt`` with shared, lib and dt 0.
- ``/proc/meminfo`` has 2.6.24's rows (fs/proc/proc_misc.c:
  ``meminfo_read_proc``): no MmapCopy (added in 2.6.29); ``Slab`` and
  ``SUnreclaim`` are the pages of the general caches, which hold every
  private and anonymous mapping; ``CommitLimit`` is half of RAM
  (``overcommit_ratio`` 50, no swap); Vmalloc is ARM no-MMU's whole 4 GiB
  window with nothing used (``get_vmalloc_info`` reports 0 without an MMU).
  The LRU lists (Active, Inactive) are not modelled: 0.
- there is no ``/proc/sys/vm/nr_trim_pages`` (added in 2.6.29).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nommu.proc.maps import maps_line, path_of

if TYPE_CHECKING:
    from nommu.machine import Machine

#: kobjsize(mm) of 2.6.24 on ARM: sizeof(struct mm_struct) 336 bytes (no NUMA, UP,
#: mm_context_t of vmlist and end_brk), in the mm_cachep cache aligned to 32 bytes.
K_MM_2_6_24 = 352


def render_pid_maps(machine: Machine, pid: int) -> str:
    """``/proc/<pid>/maps`` of 2.6.24."""
    mm = machine.process(pid).mm
    if mm is None:
        return ""
    shift = machine.page_shift
    out = []
    for vml in mm.vmas():
        f = vml.vm_file
        out.append(
            maps_line(
                vml.vm_start,
                vml.vm_end,
                vml.vm_flags,
                (vml.vm_pgoff << shift) & machine.nommu.ulong_mask,
                f.dev if f is not None else (0, 0),
                f.inode.ino if f is not None else 0,
                path_of(f) if f is not None else None,
                machine.word_size,
            )
        )
    return "".join(out)


def render_statm(machine: Machine, pid: int) -> str:
    """``/proc/<pid>/statm`` of 2.6.24 (``task_statm`` in bytes)."""
    from nommu.mm.shared_vma import SharedVmaNommu

    mm = machine.process(pid).mm
    engine = machine.nommu
    if mm is None or not isinstance(engine, SharedVmaNommu):
        return "0 0 0 0 0 0 0\n"
    size = K_MM_2_6_24
    for vml in mm.vmas():
        vma = vml.vma  # type: ignore[attr-defined]
        size += engine._objsize(vml.obj)  # type: ignore[attr-defined]
        size += engine._objsize(vma.obj) + engine.kobjsize(vma.vm_start)
    text = _int32(mm.end_code - mm.start_code)
    data = _int32(mm.start_stack - mm.start_data)
    size = _int32(size + text + data)
    return f"{size} {size} 0 {text} 0 {data} 0\n"


def _int32(n: int) -> int:
    n &= 0xFFFFFFFF
    return n - (1 << 32) if n & 0x80000000 else n


def render_meminfo(machine: Machine) -> str:
    """``/proc/meminfo`` of 2.6.24 (``meminfo_read_proc``)."""
    from nommu.mm.shared_vma import SharedVmaNommu

    engine = machine.nommu
    slab = engine.kmalloc.slab_pages() if isinstance(engine, SharedVmaNommu) else 0
    k = machine.page_size >> 10
    total = machine.zone.managed
    rows = [
        ("MemTotal", total * k),
        ("MemFree", machine.zone.free_count * k),
        ("Buffers", 0),
        ("Cached", machine.cached_pages() * k),
        ("SwapCached", 0),
        ("Active", 0),
        ("Inactive", 0),
        ("SwapTotal", 0),
        ("SwapFree", 0),
        ("Dirty", 0),
        ("Writeback", 0),
        ("AnonPages", 0),
        ("Mapped", 0),
        ("Slab", slab * k),
        ("SReclaimable", 0),
        ("SUnreclaim", slab * k),
        ("PageTables", 0),
        ("NFS_Unstable", 0),
        ("Bounce", 0),
        ("CommitLimit", total * 50 // 100 * k),
        ("Committed_AS", 0),
        ("VmallocTotal", 0xFFFFFFFF >> 10),
        ("VmallocUsed", 0),
        ("VmallocChunk", 0),
    ]
    return "".join(f"{(name + ':'):<14}{value:8d} kB\n" for name, value in rows)


def register_proc_2_6_24(machine: Machine) -> None:
    """The /proc files of a 2.6.24 machine besides maps and buddyinfo."""
    proc = machine.procfs
    proc.add_file("meminfo", lambda who: render_meminfo(machine))
    proc.add_pid_file("maps", lambda pid, who: render_pid_maps(machine, pid))
    proc.add_pid_file("status", lambda pid, who: machine.process(pid).render_status(who))
    proc.add_pid_file("statm", lambda pid, who: render_statm(machine, pid))
    proc.add_pid_file("cmdline", lambda pid, who: machine.process(pid).render_cmdline())
