"""Shared, reference-counted regions: the global ``nommu_region_tree``.

Since 2.6.29 each process has its own VMAs while the memory they describe is a
``struct vm_region`` kept in one global tree keyed by ``vm_start`` and shared
by every VMA that uses it (``vm_usage``). ``/proc/maps`` lists this tree.

Invariants (``validate``): ``vm_start < vm_end <= vm_top``; starts unique (a
second region with the same start is the kernel's ``BUG()`` in
``add_nommu_region``); shareable regions are indexed by inode so the sharing
search of ``do_mmap`` costs what that inode's regions cost.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nommu.consts import VM_MAYOVERLAY, VM_MAYSHARE
from nommu.errors import KernelBug

if TYPE_CHECKING:
    from nommu.fs.vfs import File, Inode

SHARED_MASK = VM_MAYSHARE | VM_MAYOVERLAY


def is_nommu_shared_mapping(vm_flags: int) -> bool:
    """``is_nommu_shared_mapping()`` (include/linux/mm.h, v6.3+)."""
    return bool(vm_flags & SHARED_MASK)


class Region:
    """``struct vm_region``: a run of memory one or more VMAs map."""

    __slots__ = (
        "in_tree",
        "owner",
        "shrunk",
        "vm_end",
        "vm_file",
        "vm_flags",
        "vm_icache_flushed",
        "vm_pgoff",
        "vm_start",
        "vm_top",
        "vm_usage",
    )

    def __init__(
        self,
        vm_flags: int,
        vm_pgoff: int,
        vm_file: File | None,
        vm_start: int = 0,
        vm_end: int = 0,
        vm_top: int = 0,
        owner: int = 0,
    ) -> None:
        self.vm_flags = vm_flags
        self.vm_start = vm_start
        self.vm_end = vm_end
        self.vm_top = vm_top
        self.vm_pgoff = vm_pgoff
        self.vm_file = vm_file
        self.vm_usage = 1
        self.vm_icache_flushed = False
        self.in_tree = False
        self.shrunk = False  # cut back by nommu_shrink_inode_mappings
        self.owner = owner  # pid of the process that created it (for reports)

    def __repr__(self) -> str:
        return (
            f"Region({self.vm_start:#x}-{self.vm_end:#x} top={self.vm_top:#x} "
            f"flags={self.vm_flags:#x} usage={self.vm_usage})"
        )

    def copy(self) -> Region:
        r = Region(self.vm_flags, self.vm_pgoff, self.vm_file)
        r.vm_start, r.vm_end, r.vm_top = self.vm_start, self.vm_end, self.vm_top
        r.vm_icache_flushed = self.vm_icache_flushed
        r.shrunk = self.shrunk
        r.owner = self.owner
        return r


@dataclass(frozen=True, slots=True)
class RegionInfo:
    """A frozen view of a region for /proc and reports."""

    vm_start: int
    vm_end: int
    vm_top: int
    vm_flags: int
    vm_pgoff: int
    vm_usage: int
    path: str | None
    dev: tuple[int, int]
    ino: int
    owner: int

    @property
    def is_copy(self) -> bool:
        from nommu.consts import VM_MAPPED_COPY

        return bool(self.vm_flags & VM_MAPPED_COPY)


class RegionTree:
    """The global region tree, keyed by ``vm_start``."""

    __slots__ = ("_by_inode", "_by_start")

    def __init__(self) -> None:
        self._by_start: dict[int, Region] = {}
        self._by_inode: dict[Inode, dict[int, Region]] = {}

    def __len__(self) -> int:
        return len(self._by_start)

    def __iter__(self) -> Iterator[Region]:
        """Regions in ascending ``vm_start`` (the rb-tree's order)."""
        by_start = self._by_start
        for start in sorted(by_start):
            yield by_start[start]

    def get(self, start: int) -> Region | None:
        return self._by_start.get(start)

    def add(self, region: Region) -> None:
        """``add_nommu_region`` (the caller has ruled out a same-start region)."""
        by_start = self._by_start
        if region.vm_start in by_start:
            raise KernelBug(f"region start {region.vm_start:#x} taken")
        by_start[region.vm_start] = region
        region.in_tree = True
        if region.vm_file is not None and region.vm_flags & SHARED_MASK:
            self._by_inode.setdefault(region.vm_file.inode, {})[region.vm_start] = region

    def remove(self, region: Region) -> None:
        """``delete_nommu_region``."""
        if self._by_start.get(region.vm_start) is not region:
            raise KernelBug(f"{region!r} not in tree")
        del self._by_start[region.vm_start]
        region.in_tree = False
        if region.vm_file is not None and region.vm_flags & SHARED_MASK:
            per = self._by_inode[region.vm_file.inode]
            del per[region.vm_start]
            if not per:
                del self._by_inode[region.vm_file.inode]

    def shareable_of(self, inode: Inode) -> list[Region]:
        """Shareable regions of *inode* in ascending start (the search's order)."""
        per = self._by_inode.get(inode)
        if not per:
            return []
        return [per[s] for s in sorted(per)]

    def validate(self) -> None:
        for start, region in self._by_start.items():
            if region.vm_start != start:
                raise KernelBug(f"{region!r} filed under {start:#x}")
            if not region.in_tree:
                raise KernelBug(f"{region!r} not marked in tree")
            if region.vm_usage <= 0:
                raise KernelBug(f"{region!r} in tree with no users")
            if region.vm_start > region.vm_end and not region.shrunk:
                raise KernelBug(f"{region!r}: start above end")
            if region.vm_end > region.vm_top:
                raise KernelBug(f"{region!r}: end above top")
        count = 0
        for per in self._by_inode.values():
            for start, region in per.items():
                if self._by_start.get(start) is not region:
                    raise KernelBug(f"{region!r} stale in index")
                count += 1
        expected = sum(
            1 for r in self._by_start.values() if r.vm_file is not None and r.vm_flags & SHARED_MASK
        )
        if count != expected:
            raise KernelBug("shareable-region index out of step with the tree")
