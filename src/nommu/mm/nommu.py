"""The no-MMU mapping engine (models mm/nommu.c, mainline v6.3+).

Without an MMU, ``mmap`` hands out physical memory: anonymous and private
copies come from one contiguous, power-of-two-sized allocation (trimmed per
``vm.nr_trim_pages``), shareable file mappings reuse an existing region of the
same inode or map the backing directly, and nothing can ever move. Every
function here keeps the kernel's order of checks, so the first failing check
decides the errno.

The global state of nommu.c (the region tree, ``mmap_pages_allocated``, the
sysctls) lives in one :class:`Nommu` object owned by the machine.

Usage::

    nommu = Nommu(memory, zone, page_size=4096, log=print)
    addr = nommu.do_mmap(mm, task, None, 0, 4096, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, 0)
    nommu.do_munmap(mm, task, addr, 4096)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from nommu.consts import (
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_GROWSDOWN,
    MAP_LOCKED,
    MAP_PRIVATE,
    MAP_SHARED,
    MAP_TYPE,
    MAP_UNINITIALIZED,
    MREMAP_FIXED,
    NOMMU_MAP_COPY,
    NOMMU_MAP_DIRECT,
    NOMMU_MAP_EXEC,
    NOMMU_MAP_READ,
    NOMMU_MAP_WRITE,
    NOMMU_VMFLAGS,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
    VM_EXEC,
    VM_GROWSDOWN,
    VM_LOCKED,
    VM_MAPPED_COPY,
    VM_MAYEXEC,
    VM_MAYOVERLAY,
    VM_MAYREAD,
    VM_MAYSHARE,
    VM_MAYWRITE,
    VM_READ,
    VM_SHARED,
    VM_WRITE,
)
from nommu.errors import Errno, KernelBug, KernelOops, SyscallError
from nommu.fs.vfs import (
    FMODE_CAN_READ,
    FMODE_READ,
    FMODE_WRITE,
    default_capabilities,
    printk_pd4,
)
from nommu.mm.memory import PhysicalMemory
from nommu.mm.page_alloc import BuddyAllocator
from nommu.mm.region import SHARED_MASK, Region, RegionTree, is_nommu_shared_mapping
from nommu.mm.vma import MM, VMA
from nommu.profiles import (
    ALLOC_PAGES_COMBINED,
    ALLOC_PAGES_NOPROF,
    KERNEL_READ_REFUSES_READ,
    NOMMU_PR_FMT,
    PRIVATE_MAYOVERLAY,
    SHOW_MEM_AFTER_MMAP_FAILURE,
    KernelProfile,
    kernel_profile,
)

if TYPE_CHECKING:
    from nommu.fs.vfs import File, Inode
    from nommu.mm.kmem import KernelMemory

#: The allocator's slow path (reclaim, OOM killer) of a realistic machine:
#: ``(task, npages, order, length, mmap_line, region_sem) -> pfn``, or raises.
Slowpath = Callable[[object, int, int, int, bool, bool], int]

MAX_MUNMAP_WARNINGS = 5
# determine_vm_flags() of anonymous memory, and do_mmap_private()'s VM_MAPPED_COPY
ANON_VM_FLAGS = VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | VM_MAPPED_COPY


class _KernelTask:
    pid = 0
    comm = "swapper"
    ptraced = False


class Task(Protocol):
    """What the engine needs of ``current``."""

    @property
    def pid(self) -> int: ...

    @property
    def comm(self) -> str: ...

    @property
    def ptraced(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class AllocFailure:
    """Why a contiguous allocation failed: the facts a report explains."""

    pid: int
    comm: str
    length: int
    order: int
    max_order: int
    largest_free_order: int
    free_pages: int
    nr_free: tuple[int, ...]
    page_size: int
    watermark_min: int = 0  # the zone's min watermark (0 on an ideal machine)

    @property
    def watermark_refused(self) -> bool:
        """A block of the order was free, but taking it would cross the min watermark."""
        return 0 <= self.order <= self.largest_free_order

    def explain(self) -> str:
        kib = self.page_size >> 10
        need = (1 << self.order) * kib if self.order <= 40 else 0
        if self.order > self.max_order:
            return (
                f"{self.length} bytes need an order-{self.order} block, above the largest "
                f"order the allocator has (MAX_PAGE_ORDER {self.max_order} = "
                f"{(1 << self.max_order) * kib} KiB), whatever memory is free"
            )
        if self.watermark_refused:
            return (
                f"{self.length} bytes need an order-{self.order} block and one was free, "
                f"but taking it would leave no more than the min watermark "
                f"({self.watermark_min} pages) of the {self.free_pages} free pages: "
                f"the watermark refused it, not fragmentation"
            )
        if self.largest_free_order < 0:
            have = "no free memory at all"
        else:
            have = (
                f"the largest free block is order {self.largest_free_order} "
                f"({(1 << self.largest_free_order) * kib} KiB)"
            )
        return (
            f"{self.length} bytes need one contiguous order-{self.order} block "
            f"({need} KiB) but {have}; {self.free_pages * kib} KiB free in total"
        )


def calc_vm_prot_bits(prot: int) -> int:
    """PROT_READ/WRITE/EXEC are VM_READ/WRITE/EXEC bit for bit."""
    return prot & (VM_READ | VM_WRITE | VM_EXEC)


def calc_vm_flag_bits(flags: int) -> int:
    return (VM_GROWSDOWN if flags & MAP_GROWSDOWN else 0) | (VM_LOCKED if flags & MAP_LOCKED else 0)


class Nommu:
    """The global state of mm/nommu.c and its system-call engine."""

    #: the mm design this engine models (:attr:`nommu.profiles.KernelProfile.mm_design`)
    design = "regions"
    #: ramfs maps a read-only private mapping straight onto its page cache (2.6.29+)
    ramfs_private_direct = True

    def __init__(
        self,
        memory: PhysicalMemory,
        zone: BuddyAllocator,
        *,
        page_size: int,
        log: Callable[[str], None],
        nr_trim_pages: int = 1,
        max_map_count: int = 65530,
        allow_uninitialized: bool = False,
        mremap_variant: str = "mainline",
        word_bits: int = 32,
        task_size: int | None = None,
        kernel: KernelProfile | None = None,
    ) -> None:
        self.memory = memory
        self.zone = zone
        self.page_size = page_size
        self.page_shift = page_size.bit_length() - 1
        self.page_mask = page_size - 1
        self.log = log
        self.regions = RegionTree()
        self.mmap_pages_allocated = 0
        self.nr_trim_pages = nr_trim_pages
        self.max_map_count = max_map_count
        self.allow_uninitialized = allow_uninitialized
        self.mremap_variant = mremap_variant
        self.word_bits = word_bits
        self.ulong_mask = (1 << word_bits) - 1
        self.task_size = task_size if task_size is not None else self.ulong_mask
        self.munmap_warnings = 0
        self.warned_order = False
        self.warned_private_direct = False
        self.last_failure: AllocFailure | None = None
        #: Called with each :class:`AllocFailure` right after the kernel logs it,
        #: while memory is as the failed allocation saw it (reports snapshot it).
        self.on_alloc_failure: Callable[[AllocFailure], None] | None = None
        self.leaked_vmas: list[VMA] = []  # VMAs hidden by an overwrite (H2) of dead mms
        #: pfns ``[first, end)`` of copy pages a file shrink cut off their region: it
        #: frees only up to its new top, so they stay allocated and in MmapCopy for ever
        self.stranded: list[tuple[int, int]] = []
        self.current: Task = _KernelTask()  # the task in a system call, for log lines
        self.kernel = kernel if kernel is not None else kernel_profile("6.12")
        #: mm/nommu.c's pr_fmt(): pr_warn()/pr_err() lines start with the module name
        self.pr_prefix = "nommu: " if self.kernel.has(NOMMU_PR_FMT) else ""
        #: the function the order > MAX_PAGE_ORDER warning names (v6.10: "_noprof")
        self.alloc_pages_fn = (
            "__alloc_pages_noprof"
            if self.kernel.has(ALLOC_PAGES_NOPROF)
            else "__alloc_pages"
            if self.kernel.has(ALLOC_PAGES_COMBINED)
            else "__alloc_pages_nodemask"
        )
        #: pages in the page cache (show_mem's "total pagecache pages"); set by the machine
        self.pagecache_pages: Callable[[], int] = lambda: 0
        #: Kernel stacks and slab of a realistic machine (None: ideal, no kernel memory).
        self.kmem: KernelMemory | None = None
        #: Reclaim and the OOM killer of a realistic machine (None: a failure is ENOMEM).
        self.slowpath: Slowpath | None = None
        self._shared_hit = False  # do_mmap attached to an existing region (transient)
        self._objects_taken = False  # do_mmap made its vm_region and vm_area_struct
        #: a private copy's kernel_read runs holding nommu_region_sem (page-cache fills)
        self.region_sem_held = False

    # -- seams for other mm designs (nommu.mm.engine) -----------------------------------
    def new_mm(self) -> MM:
        """A new, empty ``mm_struct`` of this design."""
        return MM()

    def ksize(self, addr: int, length: int) -> int:
        """Bytes usable in the anonymous mapping at *addr* of *length* bytes (the loader's brk)."""
        return length

    def owned_spans(self) -> list[tuple[int, int, str]]:
        """``(first pfn, end pfn, what)`` of every page this engine holds (private copies)."""
        spans = [
            (*self.copy_pfns(r), f"region {r!r}")
            for r in self.regions
            if r.vm_flags & VM_MAPPED_COPY
        ]
        spans += [(s, e, f"stranded copy pages pfn {s:#x}-{e:#x}") for s, e in self.stranded]
        return spans

    def check_write(self, inode: Inode) -> None:
        """Refuse a write() or truncate of *inode* this design cannot let through (none here)."""

    def task_mem(self, mm: MM) -> tuple[int, int, int] | None:
        """``(bytes, slack, shared)`` of *mm*'s mappings if this design counts them itself."""
        return None

    # -- helpers -----------------------------------------------------------------------
    def page_align(self, n: int) -> int:
        return ((n + self.page_mask) & ~self.page_mask) & self.ulong_mask

    def free_area_line(self) -> str:
        """The free-area line of ``show_mem()``: ``Normal: a*4kB b*8kB ... = NkB``."""
        kib = self.page_size >> 10
        parts = [f"{n}*{kib << o}kB" for o, n in enumerate(self.zone.nr_free_all())]
        return f"Normal: {' '.join(parts)} = {self.zone.free_count * kib}kB"

    def show_mem(self) -> None:
        """``__show_mem()`` (mm/show_mem.c) as far as the model knows the figures.

        ``Mem-Info:``, the free-area line, the page cache total, then the
        zone's present, highmem and reserved pages. The per-node and per-zone
        counter lines ``show_free_areas()`` prints between the header and the
        free-area line, and the migrate types after each order, are not
        modelled (docs/hazards.md, "Kernel log text").
        """
        zone = self.zone
        present = zone.end_pfn - zone.start_pfn
        self.log("Mem-Info:")
        self.log(self.free_area_line())
        self.log(f"{self.pagecache_pages()} total pagecache pages")
        self.log(f"{present} pages RAM")
        self.log("0 pages HighMem/MovableOnly")
        self.log(f"{present - zone.managed} pages reserved")

    def alloc_failed(
        self, task: Task | None, length: int, order: int, *, mmap_line: bool = True
    ) -> SyscallError:
        """Log the kernel's failure lines and build the ENOMEM to raise.

        ``warn_alloc`` prints the page allocation failure; ``do_mmap_private``
        adds "Allocation of length ..." (*mmap_line*; not for other callers
        such as ramfs's contiguous allocation).
        """
        if task is None:
            task = self.current
        zone = self.zone
        if order > zone.max_order:
            if not self.warned_order:
                self.warned_order = True
                self.log(
                    f"WARNING: at mm/page_alloc.c {self.alloc_pages_fn}: order {order} > "
                    f"MAX_PAGE_ORDER {zone.max_order}"
                )
        else:
            self.log(
                f"{task.comm}: page allocation failure: order:{order}, "
                f"mode:0xcc0(GFP_KERNEL), nodemask=(null)"
            )
            self.show_mem()  # warn_alloc_show_mem()
        if mmap_line:
            self.log(
                f"{self.pr_prefix}Allocation of length {length} from process "
                f"{task.pid} ({task.comm}) failed"
            )
            if self.kernel.has(SHOW_MEM_AFTER_MMAP_FAILURE):
                self.show_mem()
            else:
                self.log(self.free_area_line())  # show_free_areas(0, NULL)
        failure = AllocFailure(
            task.pid,
            task.comm,
            length,
            order,
            zone.max_order,
            zone.largest_free_order(),
            zone.free_count,
            zone.nr_free_all(),
            self.page_size,
            zone.wmark_min,
        )
        self.last_failure = failure
        if self.on_alloc_failure is not None:
            self.on_alloc_failure(failure)
        err = SyscallError(Errno.ENOMEM, failure.explain())
        err.failure = failure  # type: ignore[attr-defined]
        return err

    def copy_pfns(self, region: Region) -> tuple[int, int]:
        """The pfns ``[first, end)`` that freeing a copy region gives back.

        ``free_page_series`` steps a page at a time from ``vm_start`` while
        below ``vm_top``: a top a file shrink left unaligned still frees its
        partial page, and a top it pushed below the start frees nothing.
        """
        return self.page_span(region.vm_start, region.vm_top)

    def page_span(self, start: int, end: int) -> tuple[int, int]:
        """The pages ``free_page_series(start, end)`` visits, as pfns (*start* aligned)."""
        first = start >> self.page_shift
        if end <= start:
            return first, first
        return first, (end + self.page_mask) >> self.page_shift

    def free_page_series(self, start: int, end: int) -> None:
        """Free copy pages from *start* while below *end*, one at a time (``free_page_series``)."""
        first, last = self.page_span(start, end)
        if last == first:
            return
        self.mmap_pages_allocated -= last - first
        self.zone.free_page_series(first, last)

    # -- mmap --------------------------------------------------------------------------
    def validate_mmap_request(
        self, file: File | None, addr: int, length: int, prot: int, flags: int, pgoff: int
    ) -> int:
        """Decide whether a mapping may be made and how; return the capabilities.

        Models ``validate_mmap_request()``. Raises, in the kernel's order:
        EINVAL (MAP_FIXED; bad map type; zero length), ENOMEM (length wraps or
        exceeds TASK_SIZE), EOVERFLOW (pgoff wraps), then for files ENODEV (no
        ->mmap), EINVAL (unmappable type), EACCES (not open for reading; shared
        writable on a read-only fd; append-only), ENODEV (shared without DIRECT,
        private without COPY), EINVAL (shared needing a missing permission),
        EPERM (exec on a noexec mount).
        """
        if flags & MAP_FIXED:
            raise SyscallError(Errno.EINVAL, "MAP_FIXED is not supported without an MMU")
        map_type = flags & MAP_TYPE
        if map_type != MAP_PRIVATE and map_type != MAP_SHARED:
            raise SyscallError(
                Errno.EINVAL, f"map type {map_type:#x} is neither MAP_PRIVATE nor MAP_SHARED"
            )
        if not length:
            raise SyscallError(Errno.EINVAL, "zero length")
        rlen = self.page_align(length)
        if not rlen or rlen > self.task_size:
            raise SyscallError(Errno.ENOMEM, f"length {length:#x} exceeds TASK_SIZE")
        if ((pgoff + (rlen >> self.page_shift)) & self.ulong_mask) < pgoff:
            raise SyscallError(Errno.EOVERFLOW, "file offset plus length wraps")
        if file is None:
            return NOMMU_MAP_COPY
        fop = file.f_op
        if not fop.has_mmap:
            raise SyscallError(Errno.ENODEV, f"{file.path} cannot be mapped (no ->mmap)")
        if fop.has_mmap_capabilities:
            caps = fop.mmap_capabilities(file)
        else:
            default = default_capabilities(file.inode)
            if default is None:
                raise SyscallError(Errno.EINVAL, f"{file.path}: this file type cannot be mapped")
            caps = default
        if not fop.has_get_unmapped_area:
            caps &= ~NOMMU_MAP_DIRECT
        if not file.f_mode & FMODE_CAN_READ:
            caps &= ~NOMMU_MAP_COPY
        if not file.f_mode & FMODE_READ:
            raise SyscallError(Errno.EACCES, "file not open for reading")
        if map_type == MAP_SHARED:
            if prot & PROT_WRITE and not file.f_mode & FMODE_WRITE:
                raise SyscallError(Errno.EACCES, "shared writable mapping of a read-only fd")
            if file.inode.append_only and file.f_mode & FMODE_WRITE:
                raise SyscallError(Errno.EACCES, "append-only file")
            if not caps & NOMMU_MAP_DIRECT:
                raise SyscallError(
                    Errno.ENODEV,
                    f"MAP_SHARED needs memory that can be mapped directly; "
                    f"{file.inode.i_sb.fstype} cannot provide it for {file.path}",
                )
            caps &= ~NOMMU_MAP_COPY
        else:
            if not caps & NOMMU_MAP_COPY:
                raise SyscallError(
                    Errno.ENODEV, f"{file.path} cannot be copied for a private mapping"
                )
            if prot & PROT_WRITE:
                caps &= ~NOMMU_MAP_DIRECT
        if caps & NOMMU_MAP_DIRECT and (
            (prot & PROT_READ and not caps & NOMMU_MAP_READ)
            or (prot & PROT_WRITE and not caps & NOMMU_MAP_WRITE)
            or (prot & PROT_EXEC and not caps & NOMMU_MAP_EXEC)
        ):
            caps &= ~NOMMU_MAP_DIRECT
            if map_type == MAP_SHARED:
                self.log(f"{self.pr_prefix}MAP_SHARED not completely supported on !MMU")
                raise SyscallError(
                    Errno.EINVAL, "the backing cannot give every permission asked for"
                )
        if file.noexec:
            if prot & PROT_EXEC:
                raise SyscallError(Errno.EPERM, "PROT_EXEC on a noexec mount")
        elif prot & PROT_READ and prot & PROT_EXEC and not caps & NOMMU_MAP_EXEC:
            caps &= ~NOMMU_MAP_DIRECT  # backing file is not executable: try to copy
        return caps

    def determine_vm_flags(
        self, file: File | None, prot: int, flags: int, caps: int, traced: bool
    ) -> int:
        """Models ``determine_vm_flags()``.

        A read-only private file mapping of an untraced process may be shared
        (the sharing search looks at it): v6.3+ marks it ``VM_MAYOVERLAY``;
        before, it got ``VM_MAYSHARE`` itself, which ``/proc/*/maps`` prints
        as ``s`` (profile change ``private_mayoverlay``).
        """
        vm_flags = calc_vm_prot_bits(prot) | calc_vm_flag_bits(flags)
        if file is None:
            # MAP_SHARED anonymous becomes private: there is no fork() to share with
            return vm_flags | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC
        if flags & MAP_TYPE == MAP_PRIVATE:
            if caps & NOMMU_MAP_DIRECT:
                vm_flags |= caps & NOMMU_VMFLAGS
            else:
                vm_flags |= VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC
            if not prot & PROT_WRITE and not traced:
                vm_flags |= VM_MAYOVERLAY if self.kernel.has(PRIVATE_MAYOVERLAY) else VM_MAYSHARE
        else:
            vm_flags |= VM_SHARED | VM_MAYSHARE | (caps & NOMMU_VMFLAGS)
        return vm_flags

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
        """Make a mapping and return its address (models ``do_mmap()``).

        The address hint is ignored; there is no MAP_FIXED. See the module
        docstring for the sharing rules. Anonymous memory takes the fast path
        :meth:`mmap_anonymous`, files :meth:`do_mmap_general`.
        """
        if file is None:
            return self.mmap_anonymous(mm, task, addr, length, prot, flags, pgoff)
        kmem = self.kmem
        if kmem is None:
            return self.do_mmap_general(mm, task, file, addr, length, prot, flags, pgoff)
        self._shared_hit = self._objects_taken = False
        try:
            start = self.do_mmap_general(mm, task, file, addr, length, prot, flags, pgoff)
        except BaseException:
            if self._objects_taken:  # this call's vm_region and vm_area_struct
                kmem.obj_free("vm_area_struct")
                kmem.obj_free("vm_region")
            raise
        if self._shared_hit:  # the new vm_region was not needed (kmem_cache_free)
            kmem.obj_free("vm_region")
        return start

    def do_mmap_general(
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
        """``do_mmap()`` step by step, for a file or for anonymous memory.

        Files always come here; anonymous memory takes :meth:`mmap_anonymous`,
        which folds these steps for ``file is None`` and must agree with them
        in every observable effect (a test runs both side by side).
        """
        caps = self.validate_mmap_request(file, addr, length, prot, flags, pgoff)
        length = self.page_align(length)
        vm_flags = self.determine_vm_flags(file, prot, flags, caps, task.ptraced)
        vma = VMA(mm, vm_flags, pgoff, file)
        if self.kmem is not None:  # the vm_region and the vm_area_struct, in that order
            self.kmem.obj_alloc("vm_region", task)
            try:
                self.kmem.obj_alloc("vm_area_struct", task)
            except BaseException:
                self.kmem.obj_free("vm_region")
                raise
            self._objects_taken = True
        shift = self.page_shift

        if file is not None and vm_flags & SHARED_MASK:
            pglen = length >> shift
            pgend = pgoff + pglen
            for pregion in self.regions.shareable_of(file.inode):
                if pregion.vm_pgoff >= pgend:
                    continue
                rpglen = (pregion.vm_end - pregion.vm_start + self.page_mask) >> shift
                rpgend = pregion.vm_pgoff + rpglen
                if pgoff >= rpgend:
                    continue
                if (pregion.vm_pgoff != pgoff or rpglen != pglen) and not (
                    pgoff >= pregion.vm_pgoff and pgend <= rpgend
                ):
                    # new mapping is not a subset of the region
                    if not caps & NOMMU_MAP_DIRECT:
                        self.log(f"{self.pr_prefix}Attempt to share mismatched mappings")
                        raise SyscallError(
                            Errno.EINVAL,
                            f"pages {pgoff}-{pgend - 1} of {file.path} overlap an existing "
                            f"shared copy (pages {pregion.vm_pgoff}-{rpgend - 1}) without "
                            f"lying inside it",
                        )
                    continue
                # we've found a region we can share
                pregion.vm_usage += 1
                vma.vm_region = pregion
                start = pregion.vm_start + ((pgoff - pregion.vm_pgoff) << shift)
                vma.vm_start = start
                vma.vm_end = start + length
                if pregion.vm_flags & VM_MAPPED_COPY:
                    vma.vm_flags |= VM_MAPPED_COPY
                else:
                    try:
                        self.do_mmap_shared_file(vma)
                    except SyscallError:
                        pregion.vm_usage -= 1
                        raise
                file.get()  # the VMA's reference
                self._register(mm, vma)
                self._shared_hit = True
                return start

        region = Region(vm_flags, pgoff, file)
        region.owner = task.pid
        if file is not None and vm_flags & SHARED_MASK and caps & NOMMU_MAP_DIRECT:
            try:
                addr = file.f_op.get_unmapped_area(file, 0, length, pgoff, flags)
            except SyscallError as e:
                if e.errno != Errno.ENOSYS:
                    raise
                if not caps & NOMMU_MAP_COPY:
                    raise SyscallError(
                        Errno.ENODEV,
                        f"{file.path} cannot be mapped directly here "
                        f"({e.detail or 'the backing says no'}) and may not be copied",
                    ) from None
                caps &= ~NOMMU_MAP_DIRECT
            else:
                vma.vm_start = region.vm_start = addr
                vma.vm_end = region.vm_end = addr + length

        vma.vm_region = region
        if file is not None and vm_flags & VM_SHARED:
            self.do_mmap_shared_file(vma)
        else:
            self.do_mmap_private(task, vma, region, length, caps)

        self.add_region(task, region)
        if file is not None:
            file.get()  # the region's reference, taken once the mapping can no longer fail
        elif not (flags & MAP_UNINITIALIZED and self.allow_uninitialized):
            self.memory.zero(region.vm_start, region.vm_end - region.vm_start)
        mm.total_vm += length >> shift
        if file is not None:
            file.get()  # the VMA's reference
        self._register(mm, vma)
        return vma.vm_start

    def mmap_anonymous(
        self, mm: MM, task: Task, addr: int, length: int, prot: int, flags: int, pgoff: int
    ) -> int:
        """``do_mmap()`` of anonymous memory: always a fresh private copy.

        The same steps as the general path with everything a file could change
        folded away (no capabilities, no sharing search, no direct mapping:
        MAP_SHARED anonymous memory is private without fork). This is the
        system call programs make most, so it is written out in one piece;
        the checks that fail go to :meth:`validate_mmap_request` for the
        kernel's order and errno.
        """
        page_mask = self.page_mask
        mask = self.ulong_mask
        shift = self.page_shift
        rlen = ((length + page_mask) & ~page_mask) & mask
        map_type = flags & MAP_TYPE
        if (
            flags & MAP_FIXED
            or (map_type != MAP_PRIVATE and map_type != MAP_SHARED)
            or not rlen
            or rlen > self.task_size
            or ((pgoff + (rlen >> shift)) & mask) < pgoff
        ):
            self.validate_mmap_request(None, addr, length, prot, flags, pgoff)
            raise KernelBug("validate_mmap_request accepted a request the fast path refused")
        length = rlen
        vm_flags = (prot & (VM_READ | VM_WRITE | VM_EXEC)) | ANON_VM_FLAGS
        if flags & (MAP_GROWSDOWN | MAP_LOCKED):
            vm_flags |= calc_vm_flag_bits(flags)

        kmem = self.kmem
        if kmem is None:
            base, top = self.alloc_copy(task, length)  # do_mmap_private()
        else:
            kmem.obj_alloc("vm_region", task)
            try:
                kmem.obj_alloc("vm_area_struct", task)
            except BaseException:
                kmem.obj_free("vm_region")
                raise
            try:
                base, top = self.alloc_copy(task, length)
            except BaseException:
                kmem.obj_free("vm_area_struct")
                kmem.obj_free("vm_region")
                raise
        end = base + length
        region = Region(vm_flags, pgoff, None, base, end, top, task.pid)
        if vm_flags & VM_EXEC:
            region.vm_icache_flushed = True
        self.add_region(task, region)
        if not (flags & MAP_UNINITIALIZED and self.allow_uninitialized):
            self.memory.zero(base, length)
        mm.total_vm += length >> shift
        mm.add_vma(VMA(mm, vm_flags, pgoff, None, base, end, region))
        return base

    def _oops(self, task: Task, what: str) -> None:
        self.log("------------[ cut here ]------------")
        self.log(what)
        self.log(f"Internal error: Oops - BUG: 0 [#1] (pid {task.pid}, comm {task.comm})")
        raise KernelOops(what)

    def _register(self, mm: MM, vma: VMA) -> None:
        """The ``share:`` tail of do_mmap: store in the mm, i_mmap, icache."""
        mm.add_vma(vma)
        if vma.vm_file is not None:
            vma.vm_file.inode.i_mmap[vma] = None
        region = vma.vm_region
        if vma.vm_flags & VM_EXEC and region is not None and not region.vm_icache_flushed:
            region.vm_icache_flushed = True

    def do_mmap_shared_file(self, vma: VMA) -> None:
        """Set up a shared mapping through the driver (``do_mmap_shared_file``)."""
        file = vma.vm_file
        if file is None:
            raise KernelBug("shared file mapping without a file")
        assert file is not None
        try:
            file.f_op.mmap(file, vma)
        except SyscallError as e:
            if e.errno == Errno.ENOSYS:
                raise SyscallError(
                    Errno.ENODEV, f"{file.path}: the driver cannot share this mapping"
                ) from None
            raise
        region = vma.vm_region
        assert region is not None
        region.vm_top = region.vm_end

    def do_mmap_private(self, task: Task, vma: VMA, region: Region, length: int, caps: int) -> None:
        """Map directly or make a private copy (``do_mmap_private``)."""
        file = vma.vm_file
        if caps & NOMMU_MAP_DIRECT:
            assert file is not None
            err: SyscallError | None = None
            try:
                file.f_op.mmap(file, vma)
            except SyscallError as e:
                err = e
            if not is_nommu_shared_mapping(vma.vm_flags):
                if not self.warned_private_direct:
                    self.warned_private_direct = True
                    self.log(
                        "WARNING: at mm/nommu.c do_mmap_private: private direct mapping "
                        "of a traced process copied instead"
                    )
                err = SyscallError(Errno.ENOSYS)
            if err is None:
                region.vm_top = region.vm_end
                return
            if err.errno != Errno.ENOSYS:
                raise err
            # -ENOSYS: make a copy instead

        shift = self.page_shift
        base, top = self.alloc_copy(task, length)
        vma.vm_flags |= VM_MAPPED_COPY
        region.vm_flags = vma.vm_flags
        region.vm_start = vma.vm_start = base
        region.vm_end = vma.vm_end = base + length
        region.vm_top = top
        if file is not None:
            self.region_sem_held = True  # kernel_read under nommu_region_sem
            try:
                data = self.kernel_read(task, file, length, vma.vm_pgoff << shift)
            except BaseException:
                self.free_page_series(region.vm_start, region.vm_top)
                raise
            finally:
                self.region_sem_held = False
            self.memory.write(base, data)
            if len(data) < length:
                self.memory.zero(base + len(data), length - len(data))

    def kernel_read(self, task: Task, file: File, count: int, pos: int) -> bytes:
        """``kernel_read()`` (fs/read_write.c) of a private copy's bytes.

        Since v5.10 ``__kernel_read()`` refuses a file whose driver has a
        plain ``->read`` (``/dev/zero``, ``/dev/mtdN``): EINVAL, with the
        ``warn_unsupported()`` line (``pr_warn_ratelimited``; the model logs
        every one).
        """
        if file.f_op.legacy_read and self.kernel.has(KERNEL_READ_REFUSES_READ):
            self.log(
                f"kernel read not supported for file {printk_pd4(file)} "
                f"(pid: {task.pid} comm: {task.comm[:20]})"
            )
            raise SyscallError(
                Errno.EINVAL,
                f"{file.path}: kernel_read() refuses a driver with a plain ->read (v5.10+)",
            )
        return file.f_op.read(file, count, pos)

    def alloc_copy(self, task: Task, length: int) -> tuple[int, int]:
        """The pages of a private copy: ``[base, top)`` holding *length* (page aligned).

        ``do_mmap_private``'s allocation: one power-of-two block, whose excess
        goes back when it reaches ``vm.nr_trim_pages``; ENOMEM, with the
        kernel's log lines, when no block of that order is free.
        """
        shift = self.page_shift
        point = length >> shift
        order = (point - 1).bit_length()
        total = 1 << order
        trim = self.nr_trim_pages
        if trim and total - point >= trim:
            total = point
        pfn = self.get_pages(task, total, order, length)
        self.mmap_pages_allocated += total
        base = pfn << shift
        return base, base + (total << shift)

    def get_pages(
        self,
        task: Task | None,
        npages: int,
        order: int,
        length: int,
        *,
        mmap_line: bool = True,
        region_sem: bool = True,
    ) -> int:
        """``alloc_pages_exact``: *npages* from an order-*order* block, or the failure.

        The fast path takes a block above the min watermark; when that fails
        a realistic machine runs :attr:`slowpath` (reclaim, then the OOM
        killer for orders up to 3); an ideal one, or a request above
        MAX_PAGE_ORDER, fails with ENOMEM and the kernel's lines.
        *region_sem*: the caller holds ``nommu_region_sem`` (do_mmap).
        """
        zone = self.zone
        pfn = zone.alloc_pages_exact(npages) if order <= zone.max_order else None
        if pfn is None:
            slow = self.slowpath
            if slow is None or order > zone.max_order:
                raise self.alloc_failed(task, length, order, mmap_line=mmap_line)
            pfn = slow(
                task if task is not None else self.current,
                npages,
                order,
                length,
                mmap_line,
                region_sem,
            )
        return pfn

    def add_region(self, task: Task, region: Region) -> None:
        """``add_nommu_region``: a second region at the same start is the kernel's BUG()."""
        if self.regions.get(region.vm_start) is not None:
            if region.vm_flags & VM_MAPPED_COPY:
                self.free_page_series(region.vm_start, region.vm_top)
            self._oops(
                task,
                f"kernel BUG at mm/nommu.c: add_nommu_region(): region at "
                f"{region.vm_start:#010x} is already in nommu_region_tree",
            )
        self.regions.add(region)

    def vm_mmap(
        self,
        mm: MM,
        task: Task,
        file: File | None,
        addr: int,
        length: int,
        prot: int,
        flags: int,
        offset: int,
    ) -> int:
        """The kernel-internal entry used by binary loaders (``vm_mmap``)."""
        if (offset + self.page_align(length)) & self.ulong_mask < offset:
            raise SyscallError(Errno.EINVAL, "offset plus length wraps")
        if offset & self.page_mask:
            raise SyscallError(Errno.EINVAL, "offset not page aligned")
        if file is None:
            flags |= MAP_ANONYMOUS
        return self.do_mmap(mm, task, file, addr, length, prot, flags, offset >> self.page_shift)

    # -- munmap ------------------------------------------------------------------------
    def do_munmap(self, mm: MM, task: Task, start: int, length: int) -> None:
        """Unmap a whole mapping, or cut an anonymous one (``do_munmap``).

        Raises EINVAL when nothing is mapped there, for partial unmaps of file
        mappings, ranges spanning mappings and unaligned cuts; ENOMEM when a
        hole would exceed ``max_map_count``.
        """
        mask = self.ulong_mask
        page_mask = self.page_mask
        rlen = ((length + page_mask) & ~page_mask) & mask
        end = (start + rlen) & mask
        mt = mm.mt
        vma = mt.exact(start, end) if rlen else None
        if (
            vma is not None
            and vma.vm_file is None
            and vma.vm_close is None
            and vma.vm_start == start
            and vma.vm_end == end
        ):
            # the common case, one whole anonymous mapping: delete_vma_from_mm + delete_vma
            mt.drop(start)
            mm.map_count -= 1
            region = vma.vm_region
            assert region is not None
            if self.kmem is not None:
                self.kmem.obj_free("vm_area_struct")
            self.put_region(region)
            return
        self.do_munmap_general(mm, task, start, length)

    def do_munmap_general(self, mm: MM, task: Task, start: int, length: int) -> None:
        """``do_munmap()`` step by step (:meth:`do_munmap` without its fast path).

        The fast path, one whole anonymous mapping, must leave what this
        leaves (a test runs both side by side).
        """
        mask = self.ulong_mask
        page_mask = self.page_mask
        length = ((length + page_mask) & ~page_mask) & mask
        if not length:
            raise SyscallError(Errno.EINVAL, "zero length")
        end = (start + length) & mask
        entry = mm.mt.first_intersecting(start, end)
        if entry is None:
            if self.munmap_warnings < MAX_MUNMAP_WARNINGS:
                self.munmap_warnings += 1
                self.log(
                    f"{self.pr_prefix}munmap of memory not mmapped by process "
                    f"{task.pid} ({task.comm}): "
                    f"0x{start:x}-0x{(start + length - 1) & self.ulong_mask:x}"
                )
            raise SyscallError(Errno.EINVAL, f"nothing mapped at {start:#x}-{end:#x}")
        _, e_end, vma = entry
        if vma.vm_file is not None:
            while True:
                if start > vma.vm_start:
                    raise SyscallError(Errno.EINVAL, "file mappings can only be unmapped whole")
                if end == vma.vm_end:
                    self.delete_vma(mm, vma)
                    return
                entry = mm.mt.first_intersecting(e_end, end)
                if entry is None:
                    raise SyscallError(Errno.EINVAL, "file mappings can only be unmapped whole")
                _, e_end, vma = entry
        if start == vma.vm_start and end == vma.vm_end:
            self.delete_vma(mm, vma)
            return
        if start < vma.vm_start or end > vma.vm_end:
            raise SyscallError(Errno.EINVAL, "range spans more than one mapping")
        if start & self.page_mask:
            raise SyscallError(Errno.EINVAL, "start not page aligned")
        if end != vma.vm_end and end & self.page_mask:
            raise SyscallError(Errno.EINVAL, "end not page aligned")
        if start != vma.vm_start and end != vma.vm_end:
            self.split_vma(mm, vma, start)
        self.shrink_vma(mm, vma, start, end)

    def split_vma(self, mm: MM, vma: VMA, addr: int) -> None:
        """Split off ``[vm_start, addr)`` as a new VMA and region (``split_vma``, below)."""
        if vma.vm_file is not None:
            raise SyscallError(Errno.ENOMEM, "file mappings cannot be split")
        if mm.map_count >= self.max_map_count:
            raise SyscallError(
                Errno.ENOMEM, f"map_count reached max_map_count ({self.max_map_count})"
            )
        region = vma.vm_region
        assert region is not None
        if self.kmem is not None:  # split_vma: a vm_region, then vm_area_dup
            self.kmem.obj_alloc("vm_region", self.current)
            try:
                self.kmem.obj_alloc("vm_area_struct", self.current)
            except BaseException:
                self.kmem.obj_free("vm_region")
                raise
        new = VMA(mm, vma.vm_flags, vma.vm_pgoff, None)
        new.vm_start = vma.vm_start
        new.vm_end = addr
        new_region = region.copy()
        new_region.vm_end = new_region.vm_top = addr
        new.vm_region = new_region
        npages = (addr - vma.vm_start) >> self.page_shift
        self.regions.remove(region)
        vma.vm_pgoff += npages
        region.vm_pgoff += npages
        region.vm_start = addr
        vma.vm_start = addr
        self.regions.add(new_region)
        self.regions.add(region)
        mm.add_vma(new)

    def shrink_vma(self, mm: MM, vma: VMA, start: int, end: int) -> None:
        """Cut the head or tail of an anonymous VMA and free it (``vmi_shrink_vma``)."""
        if start > vma.vm_start:
            mm.erase_range(start, vma.vm_end, vma)
            vma.vm_end = start
        else:
            mm.erase_range(vma.vm_start, end, vma)
            vma.vm_start = end
        region = vma.vm_region
        assert region is not None
        if region.vm_usage != 1:
            raise KernelBug(f"shrinking {region!r} with other users")
        self.regions.remove(region)
        if start > region.vm_start:
            end = region.vm_top
            region.vm_top = region.vm_end = start
        else:
            region.vm_start = end
        self.regions.add(region)
        self.free_page_series(start, end)

    def delete_vma(self, mm: MM, vma: VMA) -> None:
        """``delete_vma_from_mm`` + ``delete_vma``: unlink, close, drop the region."""
        mm.remove_vma(vma)
        self.release_vma(vma)

    def release_vma(self, vma: VMA) -> None:
        """The part of ``delete_vma`` after the VMA left its mm."""
        file = vma.vm_file
        if file is not None:
            file.inode.i_mmap.pop(vma, None)
        if vma.vm_close is not None:
            vma.vm_close(vma)
        if file is not None:
            file.put()
        region = vma.vm_region
        assert region is not None
        if self.kmem is not None:
            self.kmem.obj_free("vm_area_struct")
        self.put_region(region)

    def put_region(self, region: Region) -> None:
        """``__put_nommu_region``: the last user frees a copy's pages."""
        region.vm_usage -= 1
        if region.vm_usage:
            return
        if region.in_tree:
            self.regions.remove(region)
        if self.kmem is not None:
            self.kmem.obj_free("vm_region")
        if region.vm_file is not None:
            region.vm_file.put()
        if region.vm_flags & VM_MAPPED_COPY:
            self.free_page_series(region.vm_start, region.vm_top)

    # -- mremap, brk, exit ------------------------------------------------------------
    def do_mremap(
        self, mm: MM, addr: int, old_len: int, new_len: int, flags: int, new_addr: int
    ) -> int:
        """Resize a mapping in place; nothing ever moves (``do_mremap``).

        Mainline (default): growth is limited to the region's initialised size
        and shrinking frees nothing. The mm-tree variant (``mremap_variant=
        "mm"``) may use the slack up to ``vm_top`` and frees a shrunk tail.
        """
        old_len = self.page_align(old_len)
        new_len = self.page_align(new_len)
        if not old_len or not new_len:
            raise SyscallError(Errno.EINVAL, "zero size")
        if addr & self.page_mask:
            raise SyscallError(Errno.EINVAL, "address not page aligned")
        if flags & MREMAP_FIXED and new_addr != addr:
            raise SyscallError(Errno.EINVAL, "mappings cannot move without an MMU")
        vma = mm.find_vma(addr)
        if vma is None or vma.vm_start != addr or vma.vm_end != addr + old_len:
            raise SyscallError(
                Errno.EINVAL, "mremap must name exactly one whole mapping (address and size)"
            )
        if is_nommu_shared_mapping(vma.vm_flags):
            raise SyscallError(Errno.EPERM, "shareable mappings cannot be resized")
        region = vma.vm_region
        assert region is not None
        if self.mremap_variant != "mm":
            if new_len > region.vm_end - region.vm_start:
                raise SyscallError(
                    Errno.ENOMEM,
                    f"cannot grow to {new_len} bytes: the region holds "
                    f"{region.vm_end - region.vm_start} and nothing can move",
                )
            self._set_vma_end(mm, vma, vma.vm_start + new_len)
            return vma.vm_start
        # the mm-tree rework of do_mremap()
        if new_len > region.vm_top - region.vm_start:
            raise SyscallError(
                Errno.ENOMEM,
                f"cannot grow to {new_len} bytes: the allocation holds "
                f"{region.vm_top - region.vm_start} and nothing can move",
            )
        if new_len == old_len:
            return vma.vm_start
        old_end = vma.vm_end
        new_end = vma.vm_start + new_len
        if new_len < old_len:
            if vma.vm_file is not None:
                raise SyscallError(Errno.EINVAL, "file mappings cannot shrink")
            self.shrink_vma(mm, vma, new_end, old_end)
            return vma.vm_start
        if vma.vm_file is not None:
            file = vma.vm_file
            pos = (vma.vm_pgoff << self.page_shift) + (old_end - vma.vm_start)
            data = file.f_op.read(file, new_end - old_end, pos)
            self.memory.write(old_end, data)
            if len(data) < new_end - old_end:
                self.memory.zero(old_end + len(data), new_end - old_end - len(data))
        else:
            self.memory.zero(old_end, new_end - old_end)
        self._set_vma_end(mm, vma, new_end)
        region.vm_end = new_end
        return vma.vm_start

    @staticmethod
    def _set_vma_end(mm: MM, vma: VMA, new_end: int) -> None:
        # The tree is kept in step with the VMA (field-faithful; see hazard H4).
        mm.erase_range(vma.vm_start, vma.vm_end, vma)
        vma.vm_end = new_end
        mm.store_range(vma.vm_start, new_end, vma)

    @staticmethod
    def sys_brk(mm: MM, brk: int) -> int:
        """``brk()`` on NOMMU: moves the break inside the loader's allocation only."""
        if brk < mm.start_brk or brk > mm.end_brk:
            return mm.brk
        if mm.brk == brk:
            return mm.brk
        mm.brk = brk
        return brk

    def exit_mmap(self, mm: MM) -> None:
        """Release every VMA of a dying mm (``exit_mmap``).

        VMAs hidden by an overwrite (hazard H2) are not reachable and leak, as
        in the kernel.
        """
        mm.total_vm = 0
        for vma in mm.vmas():
            mm.map_count -= 1
            self.release_vma(vma)
        mm.mt = type(mm.mt)()
        self.leaked_vmas.extend(mm.hidden)
        mm.hidden = []

    def validate(self) -> None:
        self.regions.validate()
        if self.mmap_pages_allocated < 0:
            raise KernelBug("mmap_pages_allocated below zero")
        copies = sum(
            e - s
            for s, e in (self.copy_pfns(r) for r in self.regions if r.vm_flags & VM_MAPPED_COPY)
        )
        copies += sum(e - s for s, e in self.stranded)
        if copies != self.mmap_pages_allocated:
            raise KernelBug(
                f"mmap_pages_allocated {self.mmap_pages_allocated} != copy pages "
                f"{copies} (stranded included)"
            )


def shrink_inode_mappings(nommu: Nommu, inode: Inode, size: int, newsize: int) -> None:
    """Refuse or trim before a file shrinks (``nommu_shrink_inode_mappings``).

    Only ``VM_SHARED`` VMAs are looked at: a shared mapping covering a page
    from ``newsize >> PAGE_SHIFT`` up gives ETXTBSY; otherwise shared regions
    reaching past the new size are cut back. Read-only private overlays are
    neither checked nor trimmed (hazard H5), though one sharing a trimmed
    region now reaches past its end. A trimmed region that is a copy (a
    MAP_SHARED attach to a private copy, H6) frees only up to its new top
    when released: the pages cut off stay allocated and in MmapCopy for ever
    (``stranded``).
    """
    shift = nommu.page_shift
    low = newsize >> shift
    high = (size + nommu.page_mask) >> shift
    for vma in inode.i_mmap:
        if not vma.vm_flags & VM_SHARED:
            continue
        npages = (vma.vm_end - vma.vm_start + nommu.page_mask) >> shift
        if vma.vm_pgoff <= high and vma.vm_pgoff + npages - 1 >= low:
            raise SyscallError(
                Errno.ETXTBSY, "a shared mapping covers the part of the file being cut off"
            )
    for vma in inode.i_mmap:
        if not vma.vm_flags & VM_SHARED:
            continue
        region = vma.vm_region
        assert region is not None
        r_size = region.vm_top - region.vm_start
        r_top = (region.vm_pgoff << shift) + r_size
        if r_top > newsize:
            before = nommu.copy_pfns(region)
            # unsigned arithmetic, unaligned results and all: a region beyond the old
            # EOF (never checked above) can end up with its top below its start
            region.vm_top -= r_top - newsize
            region.vm_end = min(region.vm_end, region.vm_top)
            region.shrunk = True  # VMAs sharing it may now reach past its end
            if region.vm_flags & VM_MAPPED_COPY:  # a copy shared by MAP_SHARED (H6)
                after = nommu.copy_pfns(region)
                if after[1] < before[1]:
                    nommu.stranded.append((after[1], before[1]))
