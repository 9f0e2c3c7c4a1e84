"""``/proc/maps`` (all regions) and ``/proc/<pid>/maps`` (one mm's VMAs).

Models fs/proc/nommu.c ``nommu_region_show`` and fs/proc/task_nommu.c
``nommu_vma_show``; both format with ``seq_setwidth(25 + 6*sizeof(void *) - 1)``
and ``seq_pad``, so a path starts one column past 48 (32-bit) or 72 (64-bit).
"""

from __future__ import annotations

from collections.abc import Iterable

from nommu.consts import VM_EXEC, VM_MAYSHARE, VM_READ, VM_SHARED, VM_WRITE
from nommu.fs.vfs import File, d_unlinked
from nommu.mm.region import Region
from nommu.mm.vma import MM


def _perms(flags: int) -> str:
    share = ("S" if flags & VM_SHARED else "s") if flags & VM_MAYSHARE else "p"
    return (
        ("r" if flags & VM_READ else "-")
        + ("w" if flags & VM_WRITE else "-")
        + ("x" if flags & VM_EXEC else "-")
        + share
    )


def maps_line(
    start: int,
    end: int,
    flags: int,
    offset: int,
    dev: tuple[int, int],
    ino: int,
    tail: str | None,
    ptr_size: int,
) -> str:
    """One line as ``seq_printf("%08lx-%08lx %c%c%c%c %08llx %02x:%02x %lu ")`` prints it."""
    line = f"{start:08x}-{end:08x} {_perms(flags)} {offset:08x} {dev[0]:02x}:{dev[1]:02x} {ino} "
    if tail is not None:
        width = 25 + ptr_size * 6 - 1
        line = line.ljust(width) + " " + tail
    return line + "\n"


def render_regions(regions: Iterable[Region], page_shift: int, ptr_size: int) -> str:
    """``/proc/maps``: every region of the machine, ascending ``vm_start``."""
    out = []
    for r in regions:
        f = r.vm_file
        if f is not None:
            out.append(
                maps_line(
                    r.vm_start,
                    r.vm_end,
                    r.vm_flags,
                    r.vm_pgoff << page_shift,
                    f.dev,
                    f.inode.ino,
                    path_of(f),
                    ptr_size,
                )
            )
        else:
            out.append(
                maps_line(
                    r.vm_start,
                    r.vm_end,
                    r.vm_flags,
                    r.vm_pgoff << page_shift,
                    (0, 0),
                    0,
                    None,
                    ptr_size,
                )
            )
    return "".join(out)


def path_of(file: object) -> str:
    """``seq_path``: the open path, with `` (deleted)`` once its name is unlinked
    (``d_unlinked()`` of the dentry, whatever other links the inode has)."""
    path = getattr(file, "path", "?")
    if isinstance(file, File) and d_unlinked(file):
        return f"{path} (deleted)"
    return str(path)


def render_vmas(mm: MM | None, page_shift: int, ptr_size: int) -> str:
    """``/proc/<pid>/maps``: the VMAs of one mm; ``[stack]`` on the initial stack."""
    if mm is None:
        return ""
    out = []
    stack = mm.start_stack
    for vma in mm.vmas():
        f = vma.vm_file
        if f is not None:
            out.append(
                maps_line(
                    vma.vm_start,
                    vma.vm_end,
                    vma.vm_flags,
                    vma.vm_pgoff << page_shift,
                    f.dev,
                    f.inode.ino,
                    path_of(f),
                    ptr_size,
                )
            )
        else:
            is_stack = stack != 0 and vma.vm_start <= stack <= vma.vm_end
            out.append(
                maps_line(
                    vma.vm_start,
                    vma.vm_end,
                    vma.vm_flags,
                    0,
                    (0, 0),
                    0,
                    "[stack]" if is_stack else None,
                    ptr_size,
                )
            )
    return "".join(out)
