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


def register_proc_2_6_24(machine: Machine) -> None:
    """The /proc files of a 2.6.24 machine besides maps, meminfo and buddyinfo."""
    proc = machine.procfs
    proc.add_pid_file("maps", lambda pid, who: render_pid_maps(machine, pid))
    proc.add_pid_file("status", lambda pid, who: machine.process(pid).render_status(who))
    proc.add_pid_file("statm", lambda pid, who: render_statm(machine, pid))
    proc.add_pid_file("cmdline", lambda pid, who: machine.process(pid).render_cmdline())
