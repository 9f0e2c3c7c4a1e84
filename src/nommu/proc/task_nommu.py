"""The NOMMU memory figures of a task (fs/proc/task_nommu.c ``task_mem``, ``task_statm``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nommu.mm.region import is_nommu_shared_mapping

if TYPE_CHECKING:
    from nommu.process import Process

# kobjsize() of the slab objects /proc/<pid>/status counts (32-bit, configuration
# dependent; the model's figures for an ARM uClinux build).
K_VMA = 88
K_REGION = 48
K_MM = 448
K_FS = 64
K_FILES = 192
K_SIGHAND = 1296
K_TASK = 1536


def task_mem(task: Process, who: Process) -> str:
    """The NOMMU ``task_mem`` (fs/proc/task_nommu.c): Mem, Slack and Shared in bytes.

    The VMAs and the mm are *task*'s; ``fs``, ``files``, ``sighand``
    and the task itself are *who*'s, the reading task (``current``; hazard H9).
    """
    mm = task.mm
    assert mm is not None
    nbytes = sbytes = slack = 0
    own = task.machine.nommu.task_mem(mm)  # a design that counts its mappings itself (2.6.24)
    if own is not None:
        nbytes, slack, sbytes = own
    for vma in mm.vmas() if own is None else ():
        nbytes += K_VMA
        region = vma.vm_region
        if region is not None:
            size = K_REGION + (region.vm_end - region.vm_start)
        else:
            size = vma.vm_end - vma.vm_start
        if mm.mm_count > 1 or is_nommu_shared_mapping(vma.vm_flags):
            sbytes += size
        else:
            nbytes += size
            if region is not None:
                slack = region.vm_end - vma.vm_end
    if mm.mm_count > 1:
        sbytes += K_MM
    else:
        nbytes += K_MM
    if who.fs.users > 1:
        sbytes += K_FS
    else:
        nbytes += K_FS
    if who.files.users > 1:
        sbytes += K_FILES
    else:
        nbytes += K_FILES
    if who.sighand.users > 1:
        sbytes += K_SIGHAND
    else:
        nbytes += K_SIGHAND
    nbytes += K_TASK
    return f"Mem:\t{nbytes:8d} bytes\nSlack:\t{slack:8d} bytes\nShared:\t{sbytes:8d} bytes\n"


def task_statm(task: Process) -> str:
    """``/proc/<pid>/statm`` (NOMMU ``task_statm``; shared is always 0).

    Computed in unsigned long, as the kernel does: an FDPIC program whose
    stack lies below its data shows a wrapped ``data`` figure.
    """
    mm = task.mm
    if mm is None:
        return "0 0 0 0 0 0 0\n"
    psize = task.machine.page_size
    pmask = psize - 1
    shift = task.machine.page_shift
    ulong = task.machine.nommu.ulong_mask
    size = K_MM
    for vma in mm.vmas():
        size += K_VMA
        region = vma.vm_region
        if region is not None:
            size += K_REGION + (region.vm_end - region.vm_start)
    text = ((((mm.end_code + pmask) & ~pmask) - (mm.start_code & ~pmask)) & ulong) >> shift
    data = ((((mm.start_stack + pmask) & ~pmask) - (mm.start_data & ~pmask)) & ulong) >> shift
    total = ((size & ulong) >> shift) + text + data
    total &= ulong
    return f"{total} {total} 0 {text} 0 {data} 0\n"
