"""Frozen snapshots of a machine's memory: the only input of the analyses.

:func:`capture` reads a live :class:`~nommu.Machine` once and returns a
:class:`MachineSnapshot`: the free blocks of the page allocator, every RAM
allocation with its kind and owner (private copies, page cache, other kernel
allocations), every region with the processes that map it, and every process
with its address-space layout. Nothing in a snapshot refers back to the
machine, so reports built from it cannot change state, and snapshots taken at
different moments can be kept and compared.

Invariant: ``allocations`` are disjoint, ascending, inside RAM and outside
both the free blocks and the kernel's reserved pages.

Cost: O(regions + VMAs + free blocks + page-cache pages).

Usage::

    snap = capture(machine, label="after boot", event=120)
    snap.free_pages, snap.largest_free_order, len(snap.allocations)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nommu.consts import VM_MAPPED_COPY

if TYPE_CHECKING:
    from nommu.fs.vfs import Inode
    from nommu.machine import Machine

#: Kinds of memory, as the memory map colours them.
KIND_KERNEL = "kernel"
KIND_ANON = "anonymous"
KIND_FILE_COPY = "file copy"
KIND_PAGE_CACHE = "page cache"
KIND_XIP = "xip"
KIND_OTHER = "other kernel"
KIND_FREE = "free"
#: Every kind, in the order legends list them.
KINDS = (KIND_KERNEL, KIND_ANON, KIND_FILE_COPY, KIND_PAGE_CACHE, KIND_OTHER, KIND_XIP, KIND_FREE)


@dataclass(frozen=True, slots=True)
class RegionView:
    """One ``vm_region`` (shared, refcounted memory that VMAs point at)."""

    seq: int  # 1, 2, ... in address order: the region's identity within a snapshot
    start: int
    end: int
    top: int  # end of the allocation (``vm_top``); above ``end`` is slack
    flags: int
    usage: int  # ``vm_usage``: VMAs using the region
    path: str | None  # the mapped file, None for anonymous memory
    owner_pid: int  # the process that created it
    owner_name: str  # its name ("" when unknown)
    area: str  # memory area holding it: "ram", "flash", ... ("" for none)
    users: tuple[int, ...]  # address spaces mapping it (each named by its first pid)

    @property
    def is_copy(self) -> bool:
        """Whether the region owns its pages (``VM_MAPPED_COPY``): a private copy."""
        return bool(self.flags & VM_MAPPED_COPY)

    @property
    def kind(self) -> str:
        if self.is_copy:
            return KIND_FILE_COPY if self.path is not None else KIND_ANON
        if self.area == "flash":
            return KIND_XIP
        if self.area == "ram":
            return KIND_PAGE_CACHE
        return KIND_OTHER

    @property
    def ram_bytes(self) -> int:
        """RAM the region itself holds: its whole allocation for a copy, else 0."""
        return max(self.top - self.start, 0) if self.is_copy else 0  # a shrink can invert


@dataclass(frozen=True, slots=True)
class VmaView:
    """One VMA of a process."""

    start: int
    end: int
    flags: int
    region: int  # RegionView.seq
    path: str | None
    pgoff: int


@dataclass(frozen=True, slots=True)
class ProcessView:
    """A process and the layout its loader gave its address space."""

    pid: int
    name: str
    ppid: int
    state: str
    mm: int  # identity of the address space: the lowest pid using it (vfork shares); 0 none
    exe: str | None
    start_code: int
    end_code: int
    start_data: int
    end_data: int
    start_brk: int
    brk: int
    end_brk: int
    start_stack: int
    vmas: tuple[VmaView, ...]
    #: bytes of kernel memory for this task: its kernel stack and slab objects (task,
    #: creds, files, signals, ...) and those of its mappings (0 on an ideal machine)
    kernel: int = 0


@dataclass(frozen=True, slots=True)
class Allocation:
    """A run of allocated RAM pages with one owner."""

    start_pfn: int
    npages: int
    kind: str
    owner_pid: int  # 0 for the kernel and for files
    owner_name: str
    label: str  # a file path, or what the kernel holds the pages for
    region: int  # RegionView.seq, 0 when not a region
    users: tuple[int, ...]  # address spaces mapping it, by first pid (regions only)

    @property
    def end_pfn(self) -> int:
        return self.start_pfn + self.npages

    def describe(self, page_size: int) -> str:
        """One line: kind, size, where, whose (as failure explanations list it)."""
        size = _kib(self.npages * page_size)
        where = f"at {self.start_pfn * page_size:#x}"
        if self.owner_pid:
            who = f"pid {self.owner_pid}" + (f" ({self.owner_name})" if self.owner_name else "")
            if len(self.users) > 1:
                who += f", shared by {len(self.users)} processes"
            elif not self.users:
                who += ", no longer mapped"
        else:
            who = ""
        label = f" {self.label}" if self.label else ""
        return f"{self.kind}{label} {size} {where}" + (f" of {who}" if who else "")


@dataclass(frozen=True, slots=True)
class MachineSnapshot:
    """The state of a machine's memory at one moment of a run."""

    label: str
    event: int
    tick: int
    page_size: int
    ram_base: int
    ram_size: int
    kernel_reserved: int
    flash_base: int
    flash_size: int
    max_order: int
    nr_trim_pages: int
    free_blocks: tuple[tuple[int, int], ...]  # (pfn, order), ascending pfn
    nr_free: tuple[int, ...]  # free blocks per order (/proc/buddyinfo)
    free_pages: int
    managed_pages: int
    mmap_copy_pages: int  # MmapCopy in pages
    cached_pages: int  # Cached (ramfs/tmpfs page cache) in pages
    allocations: tuple[Allocation, ...]
    regions: tuple[RegionView, ...]
    processes: tuple[ProcessView, ...]
    kernel_stack_pages: int = 0  # KernelStack in pages
    slab_pages: int = 0  # Slab: pages the object caches hold
    rcu_pages: int = 0  # stacks and slabs freed, waiting for an RCU grace period
    disk_cache_pages: int = 0  # clean page cache of disk files (part of cached_pages)
    watermark_min: int = 0  # the zone's min watermark in pages

    @property
    def kernel_pages(self) -> int:
        """Pages the kernel holds for what runs: stacks, slab (not the reserved image)."""
        return self.kernel_stack_pages + self.slab_pages + self.rcu_pages

    @property
    def start_pfn(self) -> int:
        return self.ram_base // self.page_size

    @property
    def end_pfn(self) -> int:
        return (self.ram_base + self.ram_size) // self.page_size

    @property
    def reserved_pages(self) -> int:
        return self.kernel_reserved // self.page_size

    @property
    def largest_free_order(self) -> int:
        """The highest order with a free block, -1 when nothing is free."""
        for order in range(len(self.nr_free) - 1, -1, -1):
            if self.nr_free[order]:
                return order
        return -1

    def region(self, seq: int) -> RegionView | None:
        for r in self.regions:
            if r.seq == seq:
                return r
        return None


def _kib(nbytes: int) -> str:
    if nbytes % 1024 == 0 or nbytes >= 10 * 1024:
        return f"{nbytes // 1024} KiB" if nbytes % 1024 == 0 else f"{nbytes / 1024:.1f} KiB"
    return f"{nbytes} B"


def _inode_paths(machine: Machine) -> dict[int, str]:
    """``id(inode) -> path`` for every file reachable from the mount table."""
    paths: dict[int, str] = {}
    for mpath in sorted(machine.ns.mounts):
        mnt = machine.ns.mounts[mpath]
        stack: list[tuple[str, Inode]] = [(mpath.rstrip("/"), mnt.root)]
        while stack:
            prefix, inode = stack.pop()
            children = inode.children
            if children is None:
                continue
            for name in sorted(children, reverse=True):
                child = children[name]
                path = f"{prefix}/{name}"
                if child.children is not None:
                    if path not in machine.ns.mounts:
                        stack.append((path, child))
                else:
                    paths.setdefault(id(child), path)
    return paths


def capture(
    machine: Machine,
    label: str = "",
    *,
    event: int = 0,
    tick: int = 0,
    names: Mapping[int, str] | None = None,
) -> MachineSnapshot:
    """Take a frozen snapshot of *machine*'s memory.

    *names* gives the names of processes that may have exited (by pid), so a
    region created by a process that is gone still names its creator.
    """
    page_size = machine.page_size
    zone = machine.zone
    memory = machine.memory
    known = dict(names) if names is not None else {}
    procs = machine.processes
    for p in procs:
        known[p.pid] = p.name

    # regions are numbered in address order; an address space is named by its first user
    region_seq = {id(r): i for i, r in enumerate(machine.nommu.regions, 1)}
    mm_ids: dict[int, int] = {}
    users: dict[int, set[int]] = {}
    proc_views: list[ProcessView] = []
    kmem = machine.kmem
    per_vma = kmem.sizes["vm_area_struct"] + kmem.sizes["vm_region"] if kmem is not None else 0
    for p in procs:
        mm = p.mm
        kbytes = kmem.task_bytes(p.pid) if kmem is not None else 0
        if mm is not None and id(mm) not in mm_ids:  # the mm's objects count once
            kbytes += per_vma * len(mm.vmas())
        vmas: list[VmaView] = []
        if mm is not None:
            mm_ids.setdefault(id(mm), p.pid)
            for vma in mm.vmas() + mm.hidden:
                region = vma.vm_region
                rseq = region_seq.get(id(region), 0)
                # a region's users are address spaces: threads and vfork children count once
                users.setdefault(id(region), set()).add(mm_ids[id(mm)])
                f = vma.vm_file
                vmas.append(
                    VmaView(
                        vma.vm_start,
                        vma.vm_end,
                        vma.vm_flags,
                        rseq,
                        f.path if f is not None else None,
                        vma.vm_pgoff,
                    )
                )
            vmas.sort(key=lambda v: (v.start, v.end, v.region))
        ppid = p.parent.pid if p.parent is not None else 0
        exe = getattr(p, "exe_path", None)
        if mm is None:
            proc_views.append(
                ProcessView(
                    p.pid, p.name, ppid, p.state, 0, exe, 0, 0, 0, 0, 0, 0, 0, 0, (), kbytes
                )
            )
        else:
            proc_views.append(
                ProcessView(
                    p.pid,
                    p.name,
                    ppid,
                    p.state,
                    mm_ids[id(mm)],
                    exe,
                    mm.start_code,
                    mm.end_code,
                    mm.start_data,
                    mm.end_data,
                    mm.start_brk,
                    mm.brk,
                    mm.end_brk,
                    mm.start_stack,
                    tuple(vmas),
                    kbytes,
                )
            )

    region_views: list[RegionView] = []
    allocations: list[Allocation] = []
    inode_path: dict[int, str] = {}
    for r in machine.nommu.regions:
        f = r.vm_file
        path = f.path if f is not None else None
        if f is not None:
            inode_path.setdefault(id(f.inode), f.path)
        area = memory.area_of(r.vm_start, max(r.vm_top - r.vm_start, 1))
        who = tuple(sorted(users.get(id(r), ())))
        seq = region_seq[id(r)]
        view = RegionView(
            seq,
            r.vm_start,
            r.vm_end,
            r.vm_top,
            r.vm_flags,
            r.vm_usage,
            path,
            r.owner,
            known.get(r.owner, ""),
            area.name if area else "",
            who,
        )
        region_views.append(view)
        first, end = machine.nommu.copy_pfns(r)
        if view.is_copy and end > first:
            allocations.append(
                Allocation(
                    first,
                    end - first,
                    view.kind,
                    r.owner,
                    known.get(r.owner, ""),
                    path or "",
                    seq,
                    who,
                )
            )

    for first, end in machine.nommu.stranded:  # cut off a copy by a file shrink, never freed
        allocations.append(
            Allocation(
                first, end - first, KIND_OTHER, 0, "", "copy pages stranded by a file shrink", 0, ()
            )
        )

    # page cache of ramfs/tmpfs (and kernel-internal tmpfs such as SysV shm)
    cached = 0
    ns_paths = _inode_paths(machine)
    for sb in machine._ramfs_instances():  # the same set meminfo counts
        cached += sb.cached_pages
        for inode in sorted(sb.inodes, key=lambda i: i.ino):
            pfns = sorted(inode.page_cache.values())
            if not pfns:
                continue
            name = (
                ns_paths.get(id(inode))
                or inode_path.get(id(inode))
                or f"{sb.fstype} inode {inode.ino}"
            )
            if inode.i_nlink == 0:
                name += " (deleted)"
            run_start = prev = pfns[0]
            for pfn in [*pfns[1:], -1]:
                if pfn != prev + 1:
                    allocations.append(
                        Allocation(
                            run_start, prev + 1 - run_start, KIND_PAGE_CACHE, 0, "", name, 0, ()
                        )
                    )
                    run_start = pfn
                prev = pfn
    if kmem is not None:  # kernel stacks by owner; slab pages; stacks waiting for RCU
        stack_pages = 1 << kmem.stack_order
        for pid, rec in kmem.tasks.items():
            if rec.stack is not None:
                allocations.append(
                    Allocation(
                        rec.stack,
                        stack_pages,
                        KIND_OTHER,
                        pid,
                        known.get(pid, ""),
                        "kernel stack",
                        0,
                        (),
                    )
                )
        for first, end, what in kmem.slab.spans():
            allocations.append(Allocation(first, end - first, KIND_OTHER, 0, "", what, 0, ()))
        for pfn, order in kmem.rcu:
            allocations.append(
                Allocation(
                    pfn, 1 << order, KIND_OTHER, 0, "", "freed after an RCU grace period", 0, ()
                )
            )
    disk = machine.disk_cache
    if disk is not None:
        for (key, index), pfn in disk.lru.items():
            inode = disk.inodes[key]
            name = ns_paths.get(id(inode)) or inode_path.get(id(inode)) or f"inode {inode.ino}"
            allocations.append(
                Allocation(
                    pfn,
                    1,
                    KIND_PAGE_CACHE,
                    0,
                    "",
                    f"{name} page {index} (clean, reclaimable)",
                    0,
                    (),
                )
            )
    allocations.sort(key=lambda a: (a.start_pfn, a.npages))

    stats = zone.statistics()
    return MachineSnapshot(
        label=label,
        event=event,
        tick=tick,
        page_size=page_size,
        ram_base=machine.ram_base,
        ram_size=machine.ram_size,
        kernel_reserved=machine.kernel_reserved,
        flash_base=machine.flash_base,
        flash_size=machine.flash_size,
        max_order=zone.max_order,
        nr_trim_pages=machine.nommu.nr_trim_pages,
        free_blocks=tuple(zone.free_blocks()),
        nr_free=stats.nr_free,
        free_pages=stats.free_pages,
        managed_pages=stats.managed_pages,
        mmap_copy_pages=machine.nommu.mmap_pages_allocated,
        cached_pages=cached + (disk.pages if disk is not None else 0),
        allocations=tuple(allocations),
        regions=tuple(region_views),
        processes=tuple(proc_views),
        kernel_stack_pages=kmem.stacks << kmem.stack_order if kmem is not None else 0,
        slab_pages=sum(kmem.slab.slab_pages()) if kmem is not None else 0,
        rcu_pages=kmem.rcu_pages() if kmem is not None else 0,
        disk_cache_pages=disk.pages if disk is not None else 0,
        watermark_min=zone.wmark_min,
    )
