"""The kernel's object caches, page-granular (mm/slub.c, mm/slob.c).

Every task, mm, VMA and region the kernel creates is an object in a slab
cache, and slab pages come from the buddy allocator like any other. The
model keeps object *counts*, not objects: a cache holds ``inuse`` objects
in ``ceil(inuse / per_slab)`` slabs, takes a new slab (one block of the
cache's slab order) when its slabs are full and gives the last one back when
it is empty (SLUB keeps up to ``min_partial`` such slabs, as ``__slab_free``
does). That packs objects perfectly (a real cache can keep a partly used
slab for each freed object); the pages it holds are a lower bound of the
kernel's, and the addresses they come from are the allocator's own.

Two allocators exist in the kernels the model knows (the profile's
``slob`` change):

- **SLOB** (no-MMU defconfigs up to v6.3): objects of every type share one
  pool of pages; the model counts the pool's bytes and holds
  ``ceil(bytes / PAGE_SIZE)`` pages. SLOB accounts all its pages as
  unreclaimable (``NR_SLAB_UNRECLAIMABLE_B`` in ``slob_new_pages()``).
- **SLUB** (``SLUB_TINY`` on no-MMU, v6.4 on, where SLOB is gone): one cache
  per object type, slabs of order 0 unless one object needs more
  (``calculate_order()`` with ``slub_max_order`` 0); dentries and inodes are
  ``SLAB_RECLAIM_ACCOUNT`` caches and count as ``SReclaimable``.

Object sizes per architecture are in :data:`OBJECT_SIZES`; where they come
from is in docs/kernel-memory.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import MappingProxyType

from nommu.errors import KernelBug

#: Caches whose pages count as SReclaimable under SLUB (``SLAB_RECLAIM_ACCOUNT``).
RECLAIMABLE = frozenset({"dentry", "inode_cache"})

#: ``sizeof`` of each kernel object the model counts, per arch, in bytes.
#: 32-bit ARM and 64-bit RISC-V; see docs/kernel-memory.md for each figure.
OBJECT_SIZES: MappingProxyType[str, MappingProxyType[str, int]] = MappingProxyType(
    {
        "arm": MappingProxyType(
            {
                "task_struct": 1536,
                "signal_struct": 512,
                "sighand_struct": 1296,
                "files_struct": 192,
                "fs_struct": 64,
                "cred": 112,
                "pid": 64,
                "mm_struct": 448,
                "vm_area_struct": 88,
                "vm_region": 48,
                "filp": 160,
                "inode_cache": 360,
                "dentry": 136,
                "pipe_buffer": 320,
            }
        ),
        "riscv64": MappingProxyType(
            {
                "task_struct": 4672,
                "signal_struct": 1016,
                "sighand_struct": 2088,
                "files_struct": 704,
                "fs_struct": 56,
                "cred": 176,
                "pid": 128,
                "mm_struct": 1024,
                "vm_area_struct": 152,
                "vm_region": 80,
                "filp": 232,
                "inode_cache": 600,
                "dentry": 192,
                "pipe_buffer": 640,
            }
        ),
    }
)

#: Allocates ``2**order`` pages (may run reclaim and the OOM killer) or raises.
PageSource = Callable[[int], int]
#: Frees ``2**order`` pages at a pfn.
PageSink = Callable[[int, int], None]


@dataclass(slots=True)
class KmemCache:
    """One cache: *size*-byte objects, *per_slab* to a slab of ``2**order`` pages."""

    name: str
    size: int
    order: int
    per_slab: int
    inuse: int = 0
    reclaimable: bool = False
    slabs: list[int] = field(default_factory=list)  # pfns of the slabs, oldest first
    pooled: bool = False  # SLOB: the object lives in the shared pool of small objects
    min_partial: int = 0  # SLUB keeps this many partial (empty included) slabs; SLOB none
    capacity: int = 0  # objects the slabs hold: len(slabs) * per_slab (the fast path)


def min_partial(size: int) -> int:
    """``set_min_partial``: ``ilog2(size) / 2`` clamped to MIN_PARTIAL 5 .. MAX_PARTIAL 10."""
    return min(max((size.bit_length() - 1) // 2, 5), 10)


def slab_order(size: int, page_size: int) -> tuple[int, int]:
    """``(order, objects per slab)`` of SLUB_TINY: the smallest order one object fits."""
    order = 0
    while page_size << order < size:
        order += 1
    return order, (page_size << order) // size


class SlabAllocator:
    """The slab caches of one machine, SLUB-style or one SLOB pool."""

    def __init__(self, sizes: MappingProxyType[str, int], page_size: int, *, slob: bool) -> None:
        self.page_size = page_size
        self.slob = slob
        self.sizes = sizes
        self.caches: dict[str, KmemCache] = {}
        for name, size in sizes.items():
            order, per = slab_order(size, page_size)
            self.caches[name] = KmemCache(
                name,
                size,
                order,
                per,
                reclaimable=name in RECLAIMABLE,
                pooled=slob and size < page_size,
                min_partial=0 if slob else min_partial(size),
            )
        self.slob_bytes = 0
        self.slob_pages: list[int] = []  # pfns, oldest first

    def alloc(self, name: str, source: PageSource) -> None:
        """``kmem_cache_alloc`` of one object: a new slab from *source* when all are full.

        When *source* raises (no page, the caller killed), nothing changed.
        """
        cache = self.caches[name]
        if cache.inuse < cache.capacity:  # room in the slabs held (never for SLOB's pool)
            cache.inuse += 1
            return
        self._alloc_one(name, source)

    def pooled(self, name: str) -> bool:
        """SLOB packs objects smaller than a page; larger ones get pages of their own."""
        return self.slob and self.sizes[name] < self.page_size

    def _alloc_one(self, name: str, source: PageSource) -> None:
        if self.pooled(name):
            size = self.sizes[name]
            need = self.slob_bytes + size
            if len(self.slob_pages) * self.page_size < need:
                # objects are small: one page more always holds the new one
                self.slob_pages.append(source(0))
            self.slob_bytes = need
            self.caches[name].inuse += 1
            return
        cache = self.caches[name]
        if cache.inuse == cache.capacity:
            cache.slabs.append(source(cache.order))
            cache.capacity += cache.per_slab
        cache.inuse += 1

    def free(
        self,
        name: str,
        sink: PageSink,
        count: int = 1,
        defer: Callable[[int, int], None] | None = None,
    ) -> None:
        """``kmem_cache_free`` of *count* objects; an empty slab goes back to *sink*.

        *defer*, when given, takes the freed slab instead of *sink* (an RCU
        callback that frees it after a grace period).
        """
        give = defer if defer is not None else sink
        for _ in range(count):
            cache = self.caches[name]
            if cache.inuse <= 0:
                raise KernelBug(f"slab cache {name}: free of an object never allocated")
            cache.inuse -= 1
            if cache.pooled:
                self.slob_bytes -= self.sizes[name]
                while (len(self.slob_pages) - 1) * self.page_size >= self.slob_bytes and (
                    self.slob_pages
                ):
                    give(self.slob_pages.pop(), 0)
                continue
            per = cache.per_slab
            empty = (cache.capacity - cache.inuse) // per
            if empty and empty + (1 if cache.inuse % per else 0) > cache.min_partial:
                cache.capacity -= per  # __slab_free: nr_partial >= min_partial, discard
                give(cache.slabs.pop(), cache.order)

    # -- views ------------------------------------------------------------------------
    def slab_pages(self) -> tuple[int, int]:
        """``(reclaimable, unreclaimable)`` pages the caches hold."""
        rec, unrec = 0, len(self.slob_pages)
        for cache in self.caches.values():
            pages = len(cache.slabs) << cache.order
            if cache.reclaimable and not self.slob:
                rec += pages
            else:
                unrec += pages
        return rec, unrec

    def spans(self) -> list[tuple[int, int, str]]:
        """Every slab as ``(first pfn, end pfn, what)`` (for validate and memory maps)."""
        return [(pfn, pfn + 1, "slob page") for pfn in self.slob_pages] + [
            (pfn, pfn + (1 << c.order), f"slab of {c.name}")
            for c in self.caches.values()
            for pfn in c.slabs
        ]

    def validate(self) -> None:
        """Object counts fit the slabs held, and no slab is held empty."""
        if self.slob_pages or self.slob_bytes:
            pages = len(self.slob_pages)
            if not (pages - 1) * self.page_size < self.slob_bytes <= pages * self.page_size:
                raise KernelBug(f"SLOB holds {pages} pages for {self.slob_bytes} bytes")
            used = sum(
                self.sizes[c.name] * c.inuse for c in self.caches.values() if self.pooled(c.name)
            )
            if used != self.slob_bytes:
                raise KernelBug(f"SLOB bytes {self.slob_bytes} != objects' {used}")
        for c in self.caches.values():
            if self.pooled(c.name):
                if c.slabs:
                    raise KernelBug(f"slab cache {c.name}: pooled objects hold slabs")
                continue
            if c.capacity != len(c.slabs) * c.per_slab:
                raise KernelBug(f"slab cache {c.name}: capacity {c.capacity} is not its slabs'")
            empty = (c.capacity - c.inuse) // c.per_slab
            if c.inuse < 0 or c.inuse > c.capacity or empty > max(c.min_partial, 0):
                raise KernelBug(f"slab cache {c.name}: {c.inuse} objects in {len(c.slabs)} slabs")
