"""The no-MMU mapping engine of 2.6.24: VMAs shared between processes (mm/nommu.c).

Before 2.6.29 a no-MMU kernel kept one ``struct vm_area_struct`` per
*mapping*, not per process: every VMA sits in one global rb-tree
(``nommu_vma_tree``) keyed by address, and each mm only lists the VMAs it
uses through ``struct vm_list_struct`` records (``mm->context.vmlist``,
sorted by address). A VMA that may be shared (``VM_MAYSHARE``) is found
again by the next ``mmap`` of exactly the same file range and its
``vm_usage`` goes up; the last ``munmap`` frees it.

What a user sees, each from mm/nommu.c of 2.6.24:

- ``validate_mmap_request``: any address hint is EINVAL (with
  ``"%d: Can't do fixed-address/overlay mmap of RAM"`` at KERN_DEBUG), not
  only MAP_FIXED (the model assumes CONFIG_SECURITY off, so
  ``round_hint_to_min`` leaves the hint alone); there is no check that the
  file is open for reading (a copy reads it through ``f_op->read``
  directly); a MAP_SHARED request the backing cannot give every permission
  is EINVAL.
- ``determine_vm_flags``: a read-only private mapping of a file that must be
  copied gets VM_MAYSHARE, so processes mapping the same range of the same
  file share one read-only copy; a private mapping of a direct backing
  gets it only when the backing can be read, written *and* executed in
  place; a traced process never shares private mappings.
- ``do_mmap_pgoff``: a shareable request is matched against every VMA of
  the tree in address order: the same inode, page offset and page count is
  shared; an inexact overlap of a copy is EINVAL ("Attempt to share
  mismatched mappings"); MAP_SHARED of a direct backing never shares a VMA
  (each call makes its own, at the backing's address).
- ``do_mmap_private``: the copy is ``kmalloc(len)`` of the *unaligned*
  length, so a small mapping is a slab object (its address need not be
  page aligned) and a large one a whole power-of-two block, never trimmed
  (:mod:`nommu.mm.kmalloc`); only ``len`` bytes are cleared.
- ``do_munmap``: the address must be a VMA's start and the length its exact
  (unaligned) length, or 0 for whatever VMA starts there; anything else is
  EINVAL with "munmap of non-mmaped memory by process %d (%s): %p".
- ``do_mremap``: exact start, else EINVAL; old length not the VMA's: EFAULT;
  shareable: EPERM; growing past ``kobjsize`` of the copy: ENOMEM; it never
  moves and never frees.
- accounting: ``askedalloc`` (bytes asked for) and ``realalloc`` (what
  kmalloc gave) for copies, VMAs and vm_list_structs.

``Machine(kernel="2.6.24", ideal=True)`` leaves the VMAs, vm_list_structs
and off-slab slab descriptors out of memory (they are not allocated and not
counted in ``realalloc``), never the kmalloc blocks of the mappings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from nommu.consts import (
    MAP_FIXED,
    MAP_PRIVATE,
    MAP_SHARED,
    MAP_TYPE,
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
    VM_MAPPED_COPY,
    VM_MAYEXEC,
    VM_MAYREAD,
    VM_MAYSHARE,
    VM_MAYWRITE,
    VM_SHARED,
)
from nommu.errors import Errno, KernelBug, KernelOops, SyscallError
from nommu.fs.vfs import FMODE_WRITE, default_capabilities
from nommu.mm.kmalloc import GFP_KERNEL_COMP, Kmalloc
from nommu.mm.memory import PhysicalMemory
from nommu.mm.nommu import AllocFailure, Nommu, Task, calc_vm_flag_bits, calc_vm_prot_bits
from nommu.mm.page_alloc import BuddyAllocator
from nommu.mm.vma import MM
from nommu.profiles import KernelProfile, kernel_profile

if TYPE_CHECKING:
    from nommu.fs.vfs import File

#: sizeof(struct vm_area_struct) of 2.6.24 on 32-bit ARM without CONFIG_NUMA
#: (include/linux/mm_types.h: vm_mm, vm_start, vm_end, vm_next, vm_page_prot,
#: vm_flags, vm_rb (3 words), shared (4 words), anon_vma_node (2), anon_vma,
#: vm_ops, vm_pgoff, vm_file, vm_private_data, vm_truncate_count, vm_usage).
VMA_SIZE_2_6_24 = 88
#: sizeof(struct vm_list_struct): next, vma (include/asm-*/mmu.h of no-MMU arches).
VML_SIZE_2_6_24 = 8


class SharedVMA:
    """2.6.24's ``struct vm_area_struct``: one mapping, used by ``vm_usage`` mms.

    It plays the part a ``vm_region`` plays from 2.6.29 on (the memory and
    its users), so it has the attributes reports read of a region
    (``vm_top`` is where the kmalloc object ends).
    """

    __slots__ = (
        "in_tree",
        "obj",
        "owner",
        "shrunk",
        "vm_close",
        "vm_end",
        "vm_file",
        "vm_flags",
        "vm_icache_flushed",
        "vm_pgoff",
        "vm_private",
        "vm_start",
        "vm_top",
        "vm_usage",
    )

    def __init__(self, vm_flags: int, vm_pgoff: int, vm_file: File | None, owner: int) -> None:
        self.vm_flags = vm_flags
        self.vm_pgoff = vm_pgoff
        self.vm_file = vm_file
        self.vm_start = self.vm_end = self.vm_top = 0
        self.vm_usage = 1
        self.owner = owner
        self.obj: int | None = None  # address of the kzalloc'ed struct (None: ideal)
        self.in_tree = False
        self.shrunk = False
        self.vm_icache_flushed = False
        self.vm_close: Callable[[SharedVMA], None] | None = None
        self.vm_private: object = None

    @property
    def vm_mm(self) -> None:
        """A shared VMA belongs to no single mm (drivers see None)."""
        return None

    def __repr__(self) -> str:
        return (
            f"SharedVMA({self.vm_start:#x}-{self.vm_end:#x} flags={self.vm_flags:#x} "
            f"usage={self.vm_usage})"
        )


class VmListStruct:
    """``struct vm_list_struct``: one mm's use of a shared VMA.

    Read-only views of the VMA's fields let code written for per-process
    VMAs (/proc, reports) read a process's mappings; ``vm_region`` is the
    shared VMA itself.
    """

    __slots__ = ("mm", "obj", "vma")

    def __init__(self, mm: SharedVmaMM, vma: SharedVMA, obj: int | None) -> None:
        self.mm = mm
        self.vma = vma
        self.obj = obj

    vm_start = property(lambda self: self.vma.vm_start)
    vm_end = property(lambda self: self.vma.vm_end)
    vm_flags = property(lambda self: self.vma.vm_flags)
    vm_pgoff = property(lambda self: self.vma.vm_pgoff)
    vm_file = property(lambda self: self.vma.vm_file)
    vm_private = property(lambda self: self.vma.vm_private)
    vm_region = property(lambda self: self.vma)
    vm_mm = property(lambda self: self.mm)

    def __repr__(self) -> str:
        return f"vml->{self.vma!r}"


class SharedVmaMM(MM):
    """``struct mm_struct`` of 2.6.24: ``context.vmlist``, sorted by ``vm_start``."""

    __slots__ = ("vmlist",)

    def __init__(self) -> None:
        super().__init__()
        self.vmlist: list[VmListStruct] = []

    def add_vml(self, vml: VmListStruct) -> None:
        """``add_vma_to_mm``: before the first entry starting above it."""
        start = vml.vma.vm_start
        i = 0
        for i, other in enumerate(self.vmlist):  # noqa: B007
            if other.vma.vm_start > start:
                break
        else:
            i = len(self.vmlist)
        self.vmlist.insert(i, vml)
        self.map_count += 1

    def find_vma(self, addr: int) -> VmListStruct | None:  # type: ignore[override]
        """``find_vma``: the last entry starting at or below *addr*, if it covers it."""
        found = None
        for vml in self.vmlist:
            if vml.vma.vm_start > addr:
                break
            found = vml
        if found is not None and found.vma.vm_end > addr:
            return found
        return None

    def vmas(self) -> list[VmListStruct]:  # type: ignore[override]
        return list(self.vmlist)

    def validate(self) -> None:
        starts = [v.vma.vm_start for v in self.vmlist]
        if starts != sorted(starts):
            raise KernelBug("vm_list_structs out of address order")
        if self.map_count != len(self.vmlist):
            raise KernelBug(f"map_count {self.map_count} != {len(self.vmlist)} vm_list_structs")
        for vml in self.vmlist:
            if vml.mm is not self:
                raise KernelBug(f"{vml!r} in the wrong mm")
            if not vml.vma.in_tree:
                raise KernelBug(f"{vml!r} uses a VMA not in nommu_vma_tree")


class NommuVmaTree:
    """``nommu_vma_tree``: every VMA of the machine, by ``vm_start``.

    Two VMAs may start at the same address only when both are shared
    mappings of a direct backing (``add_nommu_vma``: BUG otherwise); equal
    starts are ordered by the structs' addresses, here by creation.
    """

    __slots__ = ("_seq", "_vmas")

    def __init__(self) -> None:
        self._vmas: dict[int, tuple[int, int, SharedVMA]] = {}
        self._seq = 0

    def __len__(self) -> int:
        return len(self._vmas)

    def __iter__(self) -> Iterator[SharedVMA]:
        for _, _, vma in sorted(self._vmas.values(), key=lambda t: (t[0], t[1])):
            yield vma

    def get(self, start: int) -> SharedVMA | None:
        for vma in self:
            if vma.vm_start == start:
                return vma
        return None

    def add(self, vma: SharedVMA) -> None:
        for _, _, other in self._vmas.values():
            if other.vm_start == vma.vm_start and not other.vm_flags & VM_SHARED:
                raise KernelOops(
                    f"kernel BUG at mm/nommu.c: add_nommu_vma(): two VMAs at "
                    f"{vma.vm_start:#010x} and the one in the tree is not VM_SHARED"
                )
        self._seq += 1
        self._vmas[id(vma)] = (vma.vm_start, self._seq, vma)
        vma.in_tree = True

    def remove(self, vma: SharedVMA) -> None:
        if self._vmas.pop(id(vma), None) is None:
            raise KernelBug(f"{vma!r} not in nommu_vma_tree")
        vma.in_tree = False

    def validate(self) -> None:
        for start, _, vma in self._vmas.values():
            if vma.vm_start != start:
                raise KernelBug(f"{vma!r} filed under {start:#x}")
            if vma.vm_usage <= 0:
                raise KernelBug(f"{vma!r} in the tree with no users")
            if vma.vm_end < vma.vm_start or vma.vm_top < vma.vm_end:
                raise KernelBug(f"{vma!r}: start, end and object size out of order")


class SharedVmaNommu(Nommu):
    """mm/nommu.c of 2.6.24 behind the interface of :class:`~nommu.mm.nommu.Nommu`."""

    design = "shared-vmas"

    def __init__(
        self,
        memory: PhysicalMemory,
        zone: BuddyAllocator,
        *,
        page_size: int,
        log: Callable[[str], None],
        max_map_count: int = 65530,
        word_bits: int = 32,
        ideal: bool = False,
        kernel: KernelProfile | None = None,
        no_direct_fstypes: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__(
            memory,
            zone,
            page_size=page_size,
            log=log,
            nr_trim_pages=0,
            max_map_count=max_map_count,
            word_bits=word_bits,
            kernel=kernel if kernel is not None else kernel_profile("2.6.24"),
        )
        self.vma_tree = NommuVmaTree()
        self.regions = self.vma_tree  # type: ignore[assignment]
        self.ideal = ideal
        self.kmalloc = Kmalloc(zone, page_size, slab_descriptors=not ideal)
        self.askedalloc = 0
        self.realalloc = 0
        self.ramfs_private_direct = False
        #: filesystems whose files this kernel could only copy (profiles.ROMFS_DIRECT:
        #: romfs used generic_ro_fops before 2.6.30; mainline cramfs had no XIP before 4.15)
        self.no_direct_fstypes = no_direct_fstypes

    def _has_get_unmapped_area(self, file: File) -> bool:
        """``file->f_op->get_unmapped_area`` as this kernel's filesystems had it."""
        return bool(file.f_op.has_get_unmapped_area) and (
            file.inode.i_sb.fstype not in self.no_direct_fstypes
        )

    def _driver_mmap(self, file: File, vma: SharedVMA) -> None:
        """``file->f_op->mmap``; no-MMU ``generic_file_mmap`` is -ENOSYS."""
        if file.inode.i_sb.fstype in self.no_direct_fstypes:
            raise SyscallError(Errno.ENOSYS)
        file.f_op.mmap(file, vma)  # type: ignore[arg-type]

    # -- the interface's seams ---------------------------------------------------------
    def new_mm(self) -> SharedVmaMM:
        return SharedVmaMM()

    def ksize(self, addr: int, length: int) -> int:
        """``ksize`` of a copy (binfmt_flat puts the brk limit at its end)."""
        return self.kmalloc.ksize(addr)

    def owned_spans(self) -> list[tuple[int, int, str]]:
        """Pages the mapping engine holds: every slab of the general caches."""
        return self.kmalloc.slab_spans()

    def kobjsize(self, addr: int) -> int:
        """``kobjsize``: ``ksize`` in a slab page, else ``PAGE_SIZE << page->index``.

        With CONFIG_SLAB every kmalloc'ed block is in a slab page. A mapping
        made directly on page-cache pages reads the ``index`` of its first
        page, its offset in the file: BUG when that is at least MAX_ORDER.
        Addresses outside RAM (flash, frame buffers) have no ``struct page``
        the model tracks: 0.
        """
        if self.kmalloc.slab_of(addr) is not None:
            return self.kmalloc.ksize(addr) if self.kmalloc.is_live(addr) else 0
        pfn = addr >> self.page_shift
        if not self.zone.start_pfn <= pfn < self.zone.end_pfn:
            return 0
        index = self._page_index(pfn)
        if index >= self.zone.max_order + 1:
            self._oops(
                self.current,
                f"kernel BUG at mm/nommu.c: kobjsize(): page->index {index} >= MAX_ORDER",
            )
        return self.page_size << index

    def _page_index(self, pfn: int) -> int:
        for vma in self.vma_tree:
            f = vma.vm_file
            if f is None or vma.vm_flags & VM_MAPPED_COPY:
                continue
            for index, p in f.inode.page_cache.items():
                if p == pfn:
                    return int(index)
        return 0

    # -- mmap ------------------------------------------------------------------------
    def validate_mmap_request(
        self, file: File | None, addr: int, length: int, prot: int, flags: int, pgoff: int
    ) -> int:
        """``validate_mmap_request`` of 2.6.24 (see the module docstring for the order)."""
        if flags & MAP_FIXED or addr:
            self.log(f"{self.current.pid}: Can't do fixed-address/overlay mmap of RAM")
            raise SyscallError(
                Errno.EINVAL, "no address hint or MAP_FIXED is accepted without an MMU (2.6.24)"
            )
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
        if not self._has_get_unmapped_area(file):
            caps &= ~NOMMU_MAP_DIRECT
        if not fop.has_read:
            caps &= ~NOMMU_MAP_COPY
        if flags & MAP_SHARED:
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
            if (
                (prot & PROT_READ and not caps & NOMMU_MAP_READ)
                or (prot & PROT_WRITE and not caps & NOMMU_MAP_WRITE)
                or (prot & PROT_EXEC and not caps & NOMMU_MAP_EXEC)
            ):
                self.log("MAP_SHARED not completely supported on !MMU")
                raise SyscallError(
                    Errno.EINVAL, "the backing cannot give every permission asked for"
                )
            caps &= ~NOMMU_MAP_COPY
        else:
            if not caps & NOMMU_MAP_COPY:
                raise SyscallError(
                    Errno.ENODEV, f"{file.path} cannot be copied for a private mapping"
                )
            if prot & PROT_WRITE:
                caps &= ~NOMMU_MAP_DIRECT
        if file.noexec:
            if prot & PROT_EXEC:
                raise SyscallError(Errno.EPERM, "PROT_EXEC on a noexec mount")
        elif prot & PROT_READ and prot & PROT_EXEC and not caps & NOMMU_MAP_EXEC:
            caps &= ~NOMMU_MAP_DIRECT  # backing file is not executable: try to copy
        return caps

    @staticmethod
    def determine_vm_flags(
        file: File | None, prot: int, flags: int, caps: int, traced: bool
    ) -> int:
        """``determine_vm_flags`` of 2.6.24: read-only copies of files are shareable."""
        vm_flags = calc_vm_prot_bits(prot) | calc_vm_flag_bits(flags)
        vm_flags |= VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC
        if not caps & NOMMU_MAP_DIRECT:
            if file is not None and not prot & PROT_WRITE:
                vm_flags |= VM_MAYSHARE
        elif flags & MAP_SHARED:
            vm_flags |= VM_MAYSHARE | VM_SHARED
        elif (((vm_flags & caps) ^ vm_flags) & NOMMU_VMFLAGS) == 0:
            vm_flags |= VM_MAYSHARE
        if flags & MAP_PRIVATE and traced:
            vm_flags &= ~VM_MAYSHARE
        return vm_flags

    def mmap_anonymous(
        self, mm: MM, task: Task, addr: int, length: int, prot: int, flags: int, pgoff: int
    ) -> int:
        return self.do_mmap(mm, task, None, addr, length, prot, flags, pgoff)

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
        """``do_mmap_pgoff`` of 2.6.24; *length* stays unaligned, as the kernel keeps it."""
        assert isinstance(mm, SharedVmaMM)
        self.current = task
        caps = self.validate_mmap_request(file, addr, length, prot, flags, pgoff)
        vm_flags = self.determine_vm_flags(file, prot, flags, caps, task.ptraced)
        vml_obj = self._kzalloc(VML_SIZE_2_6_24, "vml", length, task)
        shift = self.page_shift
        try:
            if vm_flags & VM_MAYSHARE:
                assert file is not None
                if not (vm_flags & VM_SHARED and caps & NOMMU_MAP_DIRECT):
                    found = self._find_shareable(file, pgoff, length, caps)
                    if found is not None:
                        found.vm_usage += 1
                        return self._attach(mm, found, vml_obj)
                if self._has_get_unmapped_area(file):
                    try:
                        addr = self._get_unmapped_area(file, addr, length, pgoff, flags)
                    except SyscallError as e:
                        if e.errno != Errno.ENOSYS:
                            raise
                        if not caps & NOMMU_MAP_COPY:
                            raise SyscallError(
                                Errno.ENODEV,
                                f"{file.path} cannot be mapped directly here and may not be copied",
                            ) from None
                        caps &= ~NOMMU_MAP_DIRECT
            vma_obj = self._kzalloc(VMA_SIZE_2_6_24, "vma", length, task)
        except SyscallError:
            self._kfree_obj(vml_obj, VML_SIZE_2_6_24)
            raise
        vma = SharedVMA(vm_flags, pgoff, file, task.pid)
        vma.obj = vma_obj
        vma.vm_start = addr
        vma.vm_end = vma.vm_top = addr + length
        try:
            if file is not None and vm_flags & VM_SHARED:
                self._do_mmap_shared_file(file, vma)
            else:
                self._do_mmap_private(task, file, vma, length, caps)
        except SyscallError:
            self._kfree_obj(vml_obj, VML_SIZE_2_6_24)
            self._kfree_obj(vma_obj, VMA_SIZE_2_6_24)
            raise
        if file is not None:
            file.get()
        if vma.vm_flags & VM_MAPPED_COPY:
            self.realalloc += self.kmalloc.ksize(vma.vm_start)
            self.askedalloc += length
        mm.total_vm = (mm.total_vm + (length >> shift)) & self.ulong_mask
        self.vma_tree.add(vma)
        if file is not None:
            file.inode.i_mmap[vma] = None  # type: ignore[index]
        if prot & PROT_EXEC:
            vma.vm_icache_flushed = True
        return self._attach(mm, vma, vml_obj)

    def _attach(self, mm: SharedVmaMM, vma: SharedVMA, vml_obj: int | None) -> int:
        """The ``shared:`` tail: count the vm_list_struct and add it to the mm."""
        mm.add_vml(VmListStruct(mm, vma, vml_obj))
        return vma.vm_start

    def _find_shareable(self, file: File, pgoff: int, length: int, caps: int) -> SharedVMA | None:
        """The sharing search: every VMA of the tree in address order, exact matches only."""
        shift = self.page_shift
        pglen = (length + self.page_mask) >> shift
        for vma in self.vma_tree:
            if not vma.vm_flags & VM_MAYSHARE:
                continue
            f = vma.vm_file
            if f is None or f.inode is not file.inode:
                continue
            if vma.vm_pgoff >= pgoff + pglen:
                continue
            vmpglen = (vma.vm_end - vma.vm_start + self.page_mask) >> shift
            if pgoff >= vma.vm_pgoff + vmpglen:
                continue
            if vma.vm_pgoff != pgoff or vmpglen != pglen:
                if not caps & NOMMU_MAP_DIRECT:
                    self.log("Attempt to share mismatched mappings")
                    raise SyscallError(
                        Errno.EINVAL,
                        f"pages {pgoff}-{pgoff + pglen - 1} of {file.path} overlap a shared "
                        f"copy of pages {vma.vm_pgoff}-{vma.vm_pgoff + vmpglen - 1} without "
                        f"matching it exactly",
                    )
                continue
            return vma
        return None

    def _get_unmapped_area(self, file: File, addr: int, length: int, pgoff: int, flags: int) -> int:
        """``file->f_op->get_unmapped_area``; ramfs's as 2.6.24 had it (below)."""
        from nommu.fs.ramfs import RamfsFileOperations
        from nommu.ipc.shm import ShmFileOperations

        base = file.f_op.seg.file if isinstance(file.f_op, ShmFileOperations) else file
        if isinstance(base.f_op, RamfsFileOperations):
            return self._ramfs_get_unmapped_area(base, addr, length, pgoff, flags)
        return int(file.f_op.get_unmapped_area(file, addr, length, pgoff, flags))

    def _ramfs_get_unmapped_area(
        self, file: File, addr: int, length: int, pgoff: int, flags: int
    ) -> int:
        """2.6.24's ``ramfs_nommu_get_unmapped_area`` (fs/ramfs/file-nommu.c).

        Not MAP_SHARED: the hint back (the mapping will be a copy). Beyond the
        end of file: EINVAL. Then ``find_get_pages`` gathers the first
        *lpages* pages present at or after *pgoff* (not necessarily at
        consecutive indices: a hole is skipped, the bug fixed in 5.10), and
        any missing or not physically consecutive page is ENOMEM; the later
        kernels' ENOSYS (fall back to a copy) came with 2.6.29.
        """
        if not flags & MAP_SHARED:
            return addr
        shift, mask = self.page_shift, self.page_mask
        inode = file.inode
        lpages = (length + mask) >> shift
        maxpages = (inode.i_size + mask) >> shift
        if pgoff >= maxpages or maxpages - pgoff < lpages:
            raise SyscallError(Errno.EINVAL, f"{file.path}: the mapping reaches past the end")
        found = [pfn for index, pfn in sorted(inode.page_cache.items()) if index >= pgoff]
        pages = found[:lpages]
        if len(pages) != lpages or any(p != pages[0] + i for i, p in enumerate(pages)):
            raise SyscallError(
                Errno.ENOMEM, f"{file.path}: the file's pages are missing or not contiguous"
            )
        return pages[0] << shift

    def _do_mmap_shared_file(self, file: File, vma: SharedVMA) -> None:
        try:
            self._driver_mmap(file, vma)
        except SyscallError as e:
            if e.errno == Errno.ENOSYS:
                raise SyscallError(
                    Errno.ENODEV, f"{file.path}: the driver cannot share this mapping"
                ) from None
            raise

    def _do_mmap_private(
        self, task: Task, file: File | None, vma: SharedVMA, length: int, caps: int
    ) -> None:
        """``do_mmap_private`` of 2.6.24: the driver first, else a kmalloc'ed copy."""
        if file is not None:
            try:
                self._driver_mmap(file, vma)
            except SyscallError as e:
                if e.errno != Errno.ENOSYS:
                    raise
            else:
                if not vma.vm_flags & VM_MAYSHARE:
                    self._oops(task, "kernel BUG at mm/nommu.c: do_mmap_private(): not sharing")
                return
        base = self.kmalloc.kmalloc(length)
        if base is None:
            raise self._kmalloc_failed(task, length, f"Allocation of length {length}")
        vma.vm_start = base
        vma.vm_end = base + length
        vma.vm_top = base + self.kmalloc.ksize(base)
        vma.vm_flags |= VM_MAPPED_COPY
        if file is not None:
            try:
                data = file.f_op.read(file, length, vma.vm_pgoff << self.page_shift)
            except SyscallError:
                self.kmalloc.kfree(base)
                raise
            self.memory.write(base, data)
            if len(data) < length:
                self.memory.zero(base + len(data), length - len(data))
        else:
            self.memory.zero(base, length)

    def _kzalloc(self, size: int, what: str, length: int, task: Task) -> int | None:
        """A kernel object (VMA or vm_list_struct); None in the ideal model."""
        if self.ideal:
            return None
        obj = self.kmalloc.kmalloc(size)
        if obj is None:
            raise self._kmalloc_failed(
                task, length, f"Allocation of {what} for {length} byte allocation"
            )
        self.realalloc += self.kmalloc.ksize(obj)
        self.askedalloc += size
        self.memory.zero(obj, size)
        return obj

    def _kfree_obj(self, obj: int | None, size: int) -> None:
        if obj is None:
            return
        self.realalloc -= self.kmalloc.ksize(obj)
        self.askedalloc -= size
        self.kmalloc.kfree(obj)

    def _kmalloc_failed(self, task: Task, length: int, what: str) -> SyscallError:
        """The lines 2.6.24 logs when kmalloc returns NULL, and the ENOMEM."""
        failure = self.kmalloc.last_failure
        zone = self.zone
        order = failure.order if failure is not None else None
        if order is not None and order <= zone.max_order:
            self.log(
                f"{task.comm}: page allocation failure. order:{order}, mode:{GFP_KERNEL_COMP:#x}"
            )
            self.log(self.free_area_line())
        self.log(f"{what} from process {task.pid} failed")
        self.log(self.free_area_line())
        need = order if order is not None else (length - 1).bit_length() - self.page_shift
        info = AllocFailure(
            task.pid,
            task.comm,
            length,
            max(need, 0),
            zone.max_order,
            zone.largest_free_order(),
            zone.free_count,
            zone.nr_free_all(),
            self.page_size,
        )
        self.last_failure = info
        if self.on_alloc_failure is not None:
            self.on_alloc_failure(info)
        if order is None:
            detail = (
                f"{length} bytes is more than kmalloc's largest cache "
                f"(size-{self.kmalloc.max_size}): kmalloc returns NULL"
            )
        else:
            detail = info.explain()
        err = SyscallError(Errno.ENOMEM, detail)
        err.failure = info  # type: ignore[attr-defined]
        return err

    # -- munmap, mremap, exit -----------------------------------------------------------
    def do_munmap(self, mm: MM, task: Task, start: int, length: int) -> None:
        """``do_munmap`` of 2.6.24: a VMA's exact start and length (0: any length)."""
        assert isinstance(mm, SharedVmaMM)
        end = (start + length) & self.ulong_mask
        for i, vml in enumerate(mm.vmlist):
            vma = vml.vma
            if vma.vm_start > start:
                break
            if vma.vm_start == start and (length == 0 or vma.vm_end == end):
                self._put_vma(vma)
                del mm.vmlist[i]
                mm.map_count -= 1
                self._kfree_obj(vml.obj, VML_SIZE_2_6_24)
                mm.total_vm = (mm.total_vm - (length >> self.page_shift)) & self.ulong_mask
                return
        self.log(
            f"munmap of non-mmaped memory by process {task.pid} ({task.comm}): "
            f"{start:0{2 * (self.word_bits // 8)}x}"
        )
        raise SyscallError(
            Errno.EINVAL,
            f"no mapping starts at {start:#x} with length {length:#x} (2.6.24 unmaps whole "
            f"mappings only)",
        )

    def _put_vma(self, vma: SharedVMA) -> None:
        """``put_vma``: the last user takes the VMA out and frees its copy."""
        vma.vm_usage -= 1
        if vma.vm_usage:
            return
        self.vma_tree.remove(vma)
        f = vma.vm_file
        if f is not None:
            f.inode.i_mmap.pop(vma, None)  # type: ignore[call-overload]
        if vma.vm_close is not None:
            vma.vm_close(vma)
        if vma.vm_flags & VM_MAPPED_COPY:
            self.realalloc -= self.kmalloc.ksize(vma.vm_start)
            self.askedalloc -= vma.vm_end - vma.vm_start
            self.kmalloc.kfree(vma.vm_start)
        self._kfree_obj(vma.obj, VMA_SIZE_2_6_24)
        if f is not None:
            f.put()

    def delete_vma(self, mm: MM, vma: object) -> None:
        """Drop one mm's use of a mapping (shmdt, failed exec clean-up)."""
        assert isinstance(mm, SharedVmaMM)
        for i, vml in enumerate(mm.vmlist):
            if vml is vma or vml.vma is vma:
                del mm.vmlist[i]
                mm.map_count -= 1
                self._put_vma(vml.vma)
                self._kfree_obj(vml.obj, VML_SIZE_2_6_24)
                return
        raise KernelBug(f"{vma!r} not in this mm")

    def exit_mmap(self, mm: MM) -> None:
        """``exit_mmap``: every vm_list_struct released, in list order."""
        assert isinstance(mm, SharedVmaMM)
        mm.total_vm = 0
        while mm.vmlist:
            vml = mm.vmlist.pop(0)
            mm.map_count -= 1
            self._put_vma(vml.vma)
            self._kfree_obj(vml.obj, VML_SIZE_2_6_24)

    def do_mremap(
        self, mm: MM, addr: int, old_len: int, new_len: int, flags: int, new_addr: int
    ) -> int:
        """``do_mremap`` of 2.6.24: resize a private copy inside its kmalloc object."""
        assert isinstance(mm, SharedVmaMM)
        if new_len == 0:
            raise SyscallError(Errno.EINVAL, "zero size")
        if flags & MREMAP_FIXED and new_addr != addr:
            raise SyscallError(Errno.EINVAL, "mappings cannot move without an MMU")
        vml = next((v for v in mm.vmlist if v.vma.vm_start == addr), None)
        if vml is None:
            raise SyscallError(Errno.EINVAL, f"no mapping starts at {addr:#x}")
        vma = vml.vma
        if vma.vm_end != vma.vm_start + old_len:
            raise SyscallError(
                Errno.EFAULT, f"the mapping is {vma.vm_end - vma.vm_start} bytes, not {old_len}"
            )
        if vma.vm_flags & VM_MAYSHARE:
            raise SyscallError(Errno.EPERM, "shareable mappings cannot be resized")
        size = self.kobjsize(addr)
        if new_len > size:
            raise SyscallError(
                Errno.ENOMEM,
                f"cannot grow to {new_len} bytes: the kmalloc object holds {size} and "
                f"nothing can move",
            )
        vma.vm_end = vma.vm_start + new_len
        self.askedalloc += new_len - old_len
        return vma.vm_start

    # -- checks -----------------------------------------------------------------------
    def validate(self) -> None:
        self.vma_tree.validate()
        self.kmalloc.validate()
        asked = real = 0
        for vma in self.vma_tree:
            if vma.vm_flags & VM_MAPPED_COPY:
                if not self.kmalloc.is_live(vma.vm_start):
                    raise KernelBug(f"{vma!r}: its copy is not a live kmalloc object")
                asked += vma.vm_end - vma.vm_start
                real += self.kmalloc.ksize(vma.vm_start)
        if asked > self.askedalloc or real > self.realalloc:
            raise KernelBug(
                f"askedalloc {self.askedalloc} / realalloc {self.realalloc} below what the "
                f"copies hold ({asked} / {real})"
            )

    # -- /proc ------------------------------------------------------------------------
    def task_mem(self, mm: MM) -> tuple[int, int, int]:
        """The mapping part of 2.6.24's ``task_mem`` (fs/proc/task_nommu.c).

        Each vm_list_struct counts ``kobjsize(vml)``; a VMA used by more than
        one mm (or an mm shared by threads or a vfork child) counts
        ``kobjsize`` of its memory and of the VMA as shared, else as the
        process's own, with the slack of its kmalloc object. In the ideal
        model the kernel objects count 0 (they are left out).
        """
        assert isinstance(mm, SharedVmaMM)
        nbytes = slack = sbytes = 0
        for vml in mm.vmlist:
            vma = vml.vma
            nbytes += self._objsize(vml.obj)
            mem = self.kobjsize(vma.vm_start)
            if mm.mm_count > 1 or vma.vm_usage > 1:
                sbytes += mem + self._objsize(vma.obj)
            else:
                nbytes += mem + self._objsize(vma.obj)
                slack += (mem - (vma.vm_end - vma.vm_start)) & self.ulong_mask
        return nbytes, slack, sbytes

    def _objsize(self, obj: int | None) -> int:
        return 0 if obj is None else self.kmalloc.ksize(obj)
