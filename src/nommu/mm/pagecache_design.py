"""A what-if mm design: sharing only through a contiguous page cache (never merged).

In March 2007 Eric Biederman proposed that a no-MMU kernel keep one VMA per
process and share memory only the way an MMU kernel does: through the pages
of the page cache. No kernel implemented it; ``Machine(design="pagecache")``
is the model's reading of the proposal, a variant of the newest kernel. What
it does, case by case (docs/designs.md tells why):

- **anonymous memory** and **writable private** file mappings: private
  copies, exactly as the newest kernel makes them (one region each, never
  shared).
- **ramfs/tmpfs files** (their pages *are* the page cache): MAP_SHARED and
  read-only MAP_PRIVATE map the cached pages directly when the range is
  present, contiguous and inside the file. When it is not (Howells' point
  4a), the pages already cached are *moved*: a contiguous run of the
  range's size is allocated, the cached bytes copied into it (holes read as
  zeros), the old pages freed and the cache pointed at the new ones. That is
  impossible when a page of the range is already mapped (point 4b: a
  smaller mapping cannot be extended): MAP_SHARED then fails with ENODEV and
  a read-only private mapping gets a private copy instead.
- **other regular files** (ext2, NFS, romfs and cramfs, on flash or not):
  a read-only private mapping is served from a *page-cache run*: the first
  one reads the range into a contiguous run of RAM; a later mapping of a
  range inside a run shares it; a range overlapping a run without lying in
  it cannot share (point 4b) and gets a private copy. A run is dropped when
  its last mapping goes (as if reclaim took clean pages at once). There is
  no execute-in-place: flash is not page cache. MAP_SHARED of these files
  is ENODEV (point 5: no writable shared mappings of disks; the model
  refuses read-only ones too).
- **SysV shm** segments live in ramfs's page cache: attaches map the
  segment's pages as the newest kernel does (and fail as it does, with
  ENODEV, unless ``sysv_shm="documented"``).
- **character devices**: nothing is shared outside the page cache:
  MAP_SHARED is ENODEV (frame buffers, /dev/mem included), private mappings
  are copies.
- **write() and truncate** of a file with a page-cache run or a read-only
  private mapping of its ramfs pages: ETXTBSY (point 1: without an MMU
  nothing write-protects the pages a private mapping shares).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from nommu.consts import (
    MAP_SHARED,
    MAP_TYPE,
    NOMMU_MAP_COPY,
    NOMMU_MAP_DIRECT,
    PROT_WRITE,
    S_IFCHR,
    S_IFMT,
    S_IFREG,
    VM_MAPPED_COPY,
    VM_MAYEXEC,
    VM_MAYREAD,
    VM_MAYSHARE,
    VM_MAYWRITE,
    VM_SHARED,
)
from nommu.errors import Errno, KernelBug, SyscallError
from nommu.mm.memory import PhysicalMemory
from nommu.mm.nommu import Nommu, Task, calc_vm_flag_bits, calc_vm_prot_bits
from nommu.mm.page_alloc import BuddyAllocator
from nommu.mm.region import SHARED_MASK, Region
from nommu.mm.vma import MM, VMA

if TYPE_CHECKING:
    from nommu.fs.vfs import File, Inode


class PageCacheRegions:
    """Regions of copies plus page-cache runs (runs of one file may share a start)."""

    __slots__ = ("_all",)

    def __init__(self) -> None:
        self._all: dict[int, Region] = {}

    def __len__(self) -> int:
        return len(self._all)

    def __iter__(self) -> Iterator[Region]:
        yield from sorted(self._all.values(), key=lambda r: (r.vm_start, r.vm_end))

    def get(self, start: int) -> Region | None:
        """A *copy* starting at *start* (runs never collide with copies)."""
        for r in self._all.values():
            if r.vm_start == start and r.vm_flags & VM_MAPPED_COPY:
                return r
        return None

    def add(self, region: Region) -> None:
        self._all[id(region)] = region
        region.in_tree = True

    def remove(self, region: Region) -> None:
        if self._all.pop(id(region), None) is None:
            raise KernelBug(f"{region!r} not in the tree")
        region.in_tree = False

    def runs_of(self, inode: Inode) -> list[Region]:
        return [
            r
            for r in self._all.values()
            if r.vm_file is not None and r.vm_file.inode is inode and r.owner < 0
        ]

    def shareable_of(self, inode: Inode) -> list[Region]:
        """Regions the newest kernel's search may share: SysV shm attaches only."""
        return sorted(
            (
                r
                for r in self._all.values()
                if r.vm_file is not None
                and r.vm_file.inode is inode
                and r.owner >= 0
                and r.vm_flags & SHARED_MASK
            ),
            key=lambda r: r.vm_start,
        )

    def validate(self) -> None:
        for r in self._all.values():
            if not r.in_tree or r.vm_usage <= 0 or r.vm_end > r.vm_top:
                raise KernelBug(f"{r!r}: bad page-cache design region")


#: Region.owner of a page-cache run: negative (runs belong to the file, not a process);
#: RUN_OWNED marks runs whose pages the engine allocated (non-ramfs files).
RUN_RAMFS = -1
RUN_OWNED = -2


class PageCacheNommu(Nommu):
    """The newest kernel's engine with sharing only through a contiguous page cache."""

    design = "pagecache"

    def __init__(
        self,
        memory: PhysicalMemory,
        zone: BuddyAllocator,
        *,
        page_size: int,
        log: Callable[[str], None],
        **kw: object,
    ) -> None:
        super().__init__(memory, zone, page_size=page_size, log=log, **kw)  # type: ignore[arg-type]
        self.regions = PageCacheRegions()  # type: ignore[assignment]
        self.run_pages = 0  # pages of runs the engine allocated (non-ramfs files)
        self.moved_pages = 0  # ramfs pages moved to make a range contiguous (point 4a)
        self.private_users: dict[int, int] = {}  # run -> read-only private VMAs on it
        self._run_flags = VM_MAYSHARE

    # -- validate_mmap_request: nothing direct outside the page cache -----------------------
    def validate_mmap_request(
        self, file: File | None, addr: int, length: int, prot: int, flags: int, pgoff: int
    ) -> int:
        caps = super().validate_mmap_request(file, addr, length, prot, flags, pgoff)
        if file is None:
            return caps
        if _is_sysv_shm(file):
            return caps  # the segment's pages are ramfs page cache: the newest kernel's way
        if file.inode.i_mode & S_IFMT == S_IFCHR or not _is_ramfs(file):
            if flags & MAP_TYPE == MAP_SHARED:
                raise SyscallError(
                    Errno.ENODEV,
                    f"{file.path}: only the page cache of a memory filesystem can be shared "
                    f"(the page-cache design)",
                )
            caps &= ~NOMMU_MAP_DIRECT
        return caps

    def do_mmap(
        self,
        mm: MM,
        task: Task,
        file: File | None,
        addr: int,
        length: int,
        prot: int,
        flags: int,
        pgoff: int,
    ) -> int:
        if file is None:
            return self.mmap_anonymous(mm, task, addr, length, prot, flags, pgoff)
        if _is_sysv_shm(file):
            return super().do_mmap(mm, task, file, addr, length, prot, flags, pgoff)
        caps = self.validate_mmap_request(file, addr, length, prot, flags, pgoff)
        shared = flags & MAP_TYPE == MAP_SHARED
        regular = file.inode.i_mode & S_IFMT == S_IFREG
        if not regular or (not shared and (prot & PROT_WRITE or task.ptraced)):
            if shared:
                raise SyscallError(Errno.ENODEV, f"{file.path}: not a regular file")
            return self._private_copy(mm, task, file, length, prot, flags, pgoff)
        length = self.page_align(length)
        npages = length >> self.page_shift
        vm_flags = self.determine_vm_flags(file, prot, flags, caps, task.ptraced)
        self._run_flags = vm_flags | VM_MAYSHARE  # what /proc/maps shows of a new run
        if _is_ramfs(file):
            run = self._ramfs_run(task, file, pgoff, npages, shared)
        else:
            run = self._file_run(task, file, pgoff, npages, prot, flags, caps)
        if run is None:  # cannot share (point 4b): a private copy
            return self._private_copy(mm, task, file, length, prot, flags, pgoff)
        vma = VMA(mm, vm_flags, pgoff, file)
        vma.vm_start = run.vm_start + ((pgoff - run.vm_pgoff) << self.page_shift)
        vma.vm_end = vma.vm_start + length
        vma.vm_region = run
        if not shared:
            self.private_users[id(run)] = self.private_users.get(id(run), 0) + 1
        file.get()
        mm.total_vm += npages
        self._register(mm, vma)
        return vma.vm_start

    def _private_copy(
        self, mm: MM, task: Task, file: File, length: int, prot: int, flags: int, pgoff: int
    ) -> int:
        """A private copy that shares nothing (the newest kernel's copy, never searched)."""
        length = self.page_align(length)
        vm_flags = calc_vm_prot_bits(prot) | calc_vm_flag_bits(flags)
        vm_flags |= VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC
        vma = VMA(mm, vm_flags, pgoff, file)
        region = Region(vm_flags, pgoff, file)
        region.owner = task.pid
        vma.vm_region = region
        self.do_mmap_private(task, vma, region, length, NOMMU_MAP_COPY)
        self.add_region(task, region)
        file.get()  # the region's reference
        mm.total_vm += length >> self.page_shift
        file.get()  # the VMA's reference
        self._register(mm, vma)
        return vma.vm_start

    # -- runs ---------------------------------------------------------------------------
    def _find_run(self, inode: Inode, pgoff: int, npages: int) -> tuple[Region | None, bool]:
        """A run holding the range, and whether some run overlaps it without holding it."""
        overlap = False
        shift = self.page_shift
        for r in self.regions.runs_of(inode):  # type: ignore[attr-defined]
            rp = (r.vm_end - r.vm_start) >> shift
            if r.vm_pgoff <= pgoff and pgoff + npages <= r.vm_pgoff + rp:
                r.vm_usage += 1
                return r, False
            if r.vm_pgoff < pgoff + npages and pgoff < r.vm_pgoff + rp:
                overlap = True
        return None, overlap

    def _new_run(self, file: File, pgoff: int, base: int, npages: int, owner: int) -> Region:
        """A run in the tree, with the flags of the mapping that made it (for /proc/maps)."""
        end = base + (npages << self.page_shift)
        run = Region(self._run_flags, pgoff, file, base, end, end, owner)
        file.get()
        self.regions.add(run)
        return run

    def _ramfs_run(
        self, task: Task, file: File, pgoff: int, npages: int, shared: bool
    ) -> Region | None:
        """The ramfs page cache of the range, made contiguous if no mapping pins it."""
        inode = file.inode
        shift = self.page_shift
        maxpages = (inode.i_size + self.page_mask) >> shift
        if pgoff >= maxpages or maxpages - pgoff < npages:
            raise SyscallError(Errno.EINVAL if shared else Errno.ENXIO, "beyond the end of file")
        run, overlap = self._find_run(inode, pgoff, npages)
        if run is not None:
            return run
        cache = inode.page_cache
        first = cache.get(pgoff)
        contiguous = first is not None and all(
            cache.get(pgoff + i) == first + i for i in range(npages)
        )
        if not contiguous:
            if overlap:  # point 4b: pinned by a smaller mapping
                if shared:
                    raise SyscallError(
                        Errno.ENODEV,
                        f"{file.path}: pages {pgoff}-{pgoff + npages - 1} are not contiguous "
                        f"and a smaller mapping pins some of them",
                    )
                return None
            first = self._move_pages(task, inode, pgoff, npages)
        assert first is not None
        return self._new_run(file, pgoff, first << shift, npages, RUN_RAMFS)

    def _move_pages(self, task: Task, inode: Inode, pgoff: int, npages: int) -> int:
        """Point 4a: copy the cached pages of the range into one new contiguous run."""
        pfn = self.zone.alloc_pages_exact(npages)
        if pfn is None:
            raise self.alloc_failed(task, npages << self.page_shift, (npages - 1).bit_length())
        shift = self.page_shift
        cache = inode.page_cache
        for i in range(npages):
            old = cache.get(pgoff + i)
            dst = (pfn + i) << shift
            if old is None:
                self.memory.zero(dst, self.page_size)
                inode.i_sb.cached_pages += 1  # type: ignore[attr-defined]
            else:
                self.memory.copy(dst, old << shift, self.page_size)
                self.zone.free_pages(old, 0)
                self.moved_pages += 1
            cache[pgoff + i] = pfn + i
        return pfn

    def _file_run(
        self, task: Task, file: File, pgoff: int, npages: int, prot: int, flags: int, caps: int
    ) -> Region | None:
        """A page-cache run of a file that is not in RAM already (disk, NFS, flash)."""
        run, overlap = self._find_run(file.inode, pgoff, npages)
        if run is not None or overlap:
            return run
        length = npages << self.page_shift
        pfn = self.zone.alloc_pages_exact(npages)
        if pfn is None:
            raise self.alloc_failed(task, length, (npages - 1).bit_length())
        base = pfn << self.page_shift
        data = file.f_op.read(file, length, pgoff << self.page_shift)
        self.memory.write(base, data)
        if len(data) < length:
            self.memory.zero(base + len(data), length - len(data))
        self.run_pages += npages
        return self._new_run(file, pgoff, base, npages, RUN_OWNED)

    def release_vma(self, vma: VMA) -> None:
        run = vma.vm_region
        if run is not None and run.owner < 0 and not vma.vm_flags & VM_SHARED:
            left = self.private_users.get(id(run), 0) - 1
            if left > 0:
                self.private_users[id(run)] = left
            else:
                self.private_users.pop(id(run), None)
        super().release_vma(vma)

    def put_region(self, region: Region) -> None:
        if region.owner >= 0:
            super().put_region(region)
            return
        region.vm_usage -= 1
        if region.vm_usage:
            return
        self.regions.remove(region)
        if region.vm_file is not None:
            region.vm_file.put()
        if region.owner == RUN_OWNED:
            first, last = self.page_span(region.vm_start, region.vm_top)
            self.run_pages -= last - first
            self.zone.free_page_series(first, last)

    def owned_spans(self) -> list[tuple[int, int, str]]:
        spans = super().owned_spans()
        for r in self.regions:
            if r.owner == RUN_OWNED:
                spans.append((*self.page_span(r.vm_start, r.vm_top), f"page-cache run {r!r}"))
        return spans

    def check_write(self, inode: Inode) -> None:
        """Point 1: no write() or truncate under a page-cache run a mapping uses."""
        for r in self.regions.runs_of(inode):  # type: ignore[attr-defined]
            if self.private_users.get(id(r)) or r.owner == RUN_OWNED:
                raise SyscallError(
                    Errno.ETXTBSY,
                    "the file's page cache is mapped, and without an MMU nothing "
                    "write-protects it (the page-cache design)",
                )


def _is_ramfs(file: File) -> bool:
    from nommu.fs.ramfs import RamfsFileOperations

    return isinstance(file.f_op, RamfsFileOperations)


def _is_sysv_shm(file: File) -> bool:
    from nommu.ipc.shm import ShmFileOperations

    return isinstance(file.f_op, ShmFileOperations)
