"""Per-process VMAs and the address space (``vm_area_struct``, ``mm_struct``).

A VMA belongs to exactly one mm and points at a shared :class:`Region`. The mm
indexes its VMAs by range in a :class:`RangeMap` (the maple tree, v6.1+) and
counts them in ``map_count``. A VMA whose whole range another store overwrote
(the same file range mapped twice: hazard H2) stays counted and keeps its
region reference but is no longer reachable: it is kept in ``hidden``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from nommu.errors import KernelBug
from nommu.mm.maple import RangeMap
from nommu.mm.region import Region

if TYPE_CHECKING:
    from nommu.fs.vfs import File


class VMA:
    """``struct vm_area_struct`` on NOMMU."""

    __slots__ = (
        "vm_close",
        "vm_end",
        "vm_file",
        "vm_flags",
        "vm_mm",
        "vm_pgoff",
        "vm_private",
        "vm_region",
        "vm_start",
    )

    def __init__(
        self,
        mm: MM,
        vm_flags: int,
        vm_pgoff: int,
        vm_file: File | None,
        vm_start: int = 0,
        vm_end: int = 0,
        vm_region: Region | None = None,
    ) -> None:
        self.vm_mm = mm
        self.vm_flags = vm_flags
        self.vm_pgoff = vm_pgoff
        self.vm_file = vm_file
        self.vm_start = vm_start
        self.vm_end = vm_end
        self.vm_region = vm_region
        self.vm_close: Callable[[VMA], None] | None = None  # vm_ops->close
        self.vm_private: object = None

    def __repr__(self) -> str:
        return f"VMA({self.vm_start:#x}-{self.vm_end:#x} flags={self.vm_flags:#x})"


class MM:
    """``struct mm_struct``: one address space, shared by vfork children and threads."""

    __slots__ = (
        "arg_end",
        "arg_start",
        "brk",
        "end_brk",
        "end_code",
        "end_data",
        "env_end",
        "env_start",
        "exe_file",
        "hidden",
        "map_count",
        "mm_count",
        "mm_users",
        "mt",
        "start_brk",
        "start_code",
        "start_data",
        "start_stack",
        "total_vm",
    )

    def __init__(self) -> None:
        self.mt: RangeMap[VMA] = RangeMap()
        self.map_count = 0
        self.total_vm = 0
        self.start_code = self.end_code = 0
        self.start_data = self.end_data = 0
        self.start_brk = self.brk = self.end_brk = 0  # end_brk is mm->context.end_brk
        self.start_stack = 0
        self.arg_start = self.arg_end = self.env_start = self.env_end = 0
        self.exe_file: File | None = None
        self.mm_users = 1
        self.mm_count = 1
        self.hidden: list[VMA] = []

    def add_vma(self, vma: VMA) -> None:
        """``vma_iter_store_new`` + ``map_count++`` (no max_map_count check)."""
        hidden = self.mt.store(vma.vm_start, vma.vm_end, vma)
        if hidden:
            self.hidden.extend(hidden)
        self.map_count += 1

    def remove_vma(self, vma: VMA) -> None:
        """``delete_vma_from_mm``: clear the VMA's range from the tree."""
        self.erase_range(vma.vm_start, vma.vm_end, vma)
        self.map_count -= 1

    def erase_range(self, start: int, end: int, owner: VMA) -> None:
        """``vma_iter_clear`` over ``[start, end)`` on behalf of *owner*.

        The tree clears the whole range: another VMA of this mm lying entirely
        inside it (possible when one process mapped overlapping ranges of a
        file, hazard H2) drops out of the tree while still counted in
        ``map_count`` and holding its region: it joins ``hidden``.
        """
        for v, kept in self.mt.erase(start, end):
            if (
                v is not owner
                and not kept
                and all(h is not v for h in self.hidden)
                and not self.mt.contains_value(v)
            ):
                self.hidden.append(v)

    def store_range(self, start: int, end: int, vma: VMA) -> None:
        """``vma_iter_store`` of an existing VMA's new range (VMAs overwritten become hidden)."""
        self.hidden.extend(self.mt.store(start, end, vma))

    def find_vma(self, addr: int) -> VMA | None:
        """The VMA containing *addr*, or None (NOMMU ``find_vma``)."""
        return self.mt.find(addr)

    def vmas(self) -> list[VMA]:
        """Reachable VMAs in address order, each once."""
        return self.mt.values()

    def validate(self) -> None:
        self.mt.validate()
        reachable = self.mt.values()
        if self.map_count != len(reachable) + len(self.hidden):
            raise KernelBug(
                f"map_count {self.map_count} != {len(reachable)} VMAs + {len(self.hidden)} hidden"
            )
        for start, end, vma in self.mt.items():
            if vma.vm_mm is not self:
                raise KernelBug(f"{vma!r} in the wrong mm")
            if start < vma.vm_start or end > vma.vm_end:
                raise KernelBug(f"tree range {start:#x}-{end:#x} outside {vma!r}")
            r = vma.vm_region
            if r is None:
                raise KernelBug(f"{vma!r} has no region")
            assert r is not None
            if vma.vm_start < r.vm_start or (vma.vm_end > r.vm_top and not r.shrunk):
                # a file shrink trims a region but not the VMAs sharing it (private ones are
                # not checked first, and later MAP_SHARED requests may attach to the part
                # of a page an unaligned top still covers): those may reach past its end
                raise KernelBug(f"{vma!r} outside its region {r!r}")
