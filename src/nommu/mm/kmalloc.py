"""kmalloc() of the 2.6.24 kernel: the SLAB allocator's general caches (mm/slab.c).

Before 2.6.29 a no-MMU kernel took the memory of every private or anonymous
mapping from ``kmalloc(len, GFP_KERNEL | __GFP_COMP)`` (mm/nommu.c:
``do_mmap_private``), and its own VMAs and ``vm_list_struct`` records from
``kzalloc``. This module models that allocator as CONFIG_SLAB built it (the
model assumes SLAB: with SLUB, 2.6.24's ``kobjsize()`` reads ``page->index``
of a slab page, which SLUB never sets, so /proc and mremap see garbage):

- **general caches** ``size-32`` ... ``size-2048`` (with ``size-96`` and
  ``size-192`` because ARM's L1 line is 32 bytes: include/linux/kmalloc_sizes.h)
  and the whole page orders above them, ``size-4096`` up to
  ``KMALLOC_MAX_SIZE`` (``PAGE_SIZE << (MAX_ORDER - 1)``: 4 MiB). A request
  takes the smallest cache that holds it (``__find_general_cachep``); above
  the largest, kmalloc returns NULL without asking the page allocator.
- **slab geometry** as ``kmem_cache_create`` computes it: objects aligned to
  the 32-byte cache line; the smallest slab order that holds one object
  (``calculate_slab_order`` with ``slab_break_gfp_order`` 0 on small
  machines); management (``struct slab``, 28 bytes on 32-bit, and one
  ``kmem_bufctl_t`` per object) inside the slab for objects below
  ``PAGE_SIZE / 8``, else *off slab*, itself kmalloc'ed from a small cache
  (``alloc_slabmgmt``); leftover space used for colouring, each new slab
  starting one colour (32 bytes) further (``cache_grow``).
- **per-CPU array caches** (one CPU): a kfree'd object goes to the cache's
  array first (``__cache_free``); an allocation takes the last object put
  there (``____cache_alloc``); an empty array is refilled with
  ``batchcount`` objects from partial slabs, then free ones, growing the
  cache when both are empty (``cache_alloc_refill``); a full array gives its
  oldest ``batchcount`` objects back (``cache_flusharray``). Limits follow
  ``enable_cpucache``: 120 objects up to 256 bytes, 54 up to 1 KiB, 24 up to
  a page, 8 up to 128 KiB, 1 above.
- **free slabs** are kept while the node holds no more than ``free_limit``
  free objects (``(1 + cpus) * batchcount + objects per slab``), then given
  back to the page allocator (``free_block``).

The model has no clock: ``cache_reap``, the work the kernel runs every two
seconds (``REAPTIMEOUT_CPUC``) to drain a fifth of each untouched array and,
every other time (``REAPTIMEOUT_LIST3``, 4 s), a fifth of the free slabs of
an untouched cache, runs only when a caller calls :meth:`Kmalloc.cache_reap`
(``nommu compare`` does, every two seconds of scenario time). Until then,
memory kfree'd into an array or a kept free slab stays there. Objects the
kernel allocated before user space started are not modelled: every cache
starts empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nommu.errors import KernelBug
from nommu.mm.page_alloc import BuddyAllocator

#: ``sizeof(struct slab)`` on a 32-bit kernel (list_head, colouroff, s_mem, inuse,
#: free, nodeid, padded): mm/slab.c.
SLAB_DESCRIPTOR_SIZE = 28
#: ``sizeof(kmem_bufctl_t)`` (unsigned int).
BUFCTL_SIZE = 4
#: ARM's L1_CACHE_BYTES (CONFIG_ARM_L1_CACHE_SHIFT 5): the alignment and colour step.
CACHE_LINE = 32
#: ``GFP_KERNEL | __GFP_COMP``: kmem_getpages() adds __GFP_COMP without an MMU.
GFP_KERNEL_COMP = 0x40D0


def kmalloc_sizes(page_size: int, max_order: int) -> tuple[int, ...]:
    """The general caches (include/linux/kmalloc_sizes.h, L1_CACHE_BYTES 32)."""
    sizes = [32, 64, 96, 128, 192, 256, 512, 1024, 2048]
    size = 4096
    top = page_size << max_order  # KMALLOC_MAX_SIZE: 1 << (MAX_ORDER + PAGE_SHIFT - 1)
    while size <= min(top, 1 << 25):
        sizes.append(size)
        size <<= 1
    return tuple(s for s in sizes if s >= 32)


def cpucache_limit(size: int, page_size: int) -> int:
    """``enable_cpucache``'s array limit for objects of *size* bytes."""
    if size > 131072:
        return 1
    if size > page_size:
        return 8
    if size > 1024:
        return 24
    if size > 256:
        return 54
    return 120


@dataclass(eq=False)
class Slab:
    """``struct slab``: one run of pages cut into objects."""

    cache: KmemCache
    pfn: int
    s_mem: int
    #: the free-object chain (``slab_bufctl``), next free object last
    free: list[int]
    inuse: int = 0
    #: address of the off-slab descriptor, or None (on slab, or left out)
    descriptor: int | None = None


@dataclass(eq=False)
class KmemCache:
    """``struct kmem_cache`` of one general cache (``size-N``)."""

    size: int
    gfporder: int
    num: int
    off_slab: bool
    mgmt: int  # bytes of on-slab management before the first object
    colour: int
    limit: int
    batchcount: int
    free_limit: int
    colour_next: int = 0
    free_objects: int = 0
    touched: bool = False  # ``array_cache.touched``: an allocation since the last reap
    free_touched: bool = False  # ``kmem_list3.free_touched``: a free slab used since
    reap_passes: int = 0
    partial: list[Slab] = field(default_factory=list)
    full: list[Slab] = field(default_factory=list)
    free: list[Slab] = field(default_factory=list)
    array: list[int] = field(default_factory=list)  # ``array_cache.entry``, newest last

    @property
    def name(self) -> str:
        return f"size-{self.size}"

    @property
    def descriptor_size(self) -> int:
        """Bytes of an off-slab ``struct slab`` plus its bufctl array."""
        return self.num * BUFCTL_SIZE + SLAB_DESCRIPTOR_SIZE


def make_cache(size: int, page_size: int) -> KmemCache:
    """``kmem_cache_create`` of a general cache: order, objects per slab, colour."""
    off_slab = size >= page_size >> 3
    order = 0
    while True:
        slab_bytes = page_size << order
        if off_slab:
            num = slab_bytes // size
            mgmt = 0
        else:
            num = (slab_bytes - SLAB_DESCRIPTOR_SIZE) // (size + BUFCTL_SIZE)
            mgmt = _align(SLAB_DESCRIPTOR_SIZE + num * BUFCTL_SIZE, CACHE_LINE)
            if mgmt + num * size > slab_bytes:
                num -= 1
                mgmt = _align(SLAB_DESCRIPTOR_SIZE + num * BUFCTL_SIZE, CACHE_LINE)
        if num:
            break
        order += 1
    left_over = slab_bytes - num * size - mgmt
    limit = cpucache_limit(size, page_size)
    batch = (limit + 1) // 2
    return KmemCache(
        size=size,
        gfporder=order,
        num=num,
        off_slab=off_slab,
        mgmt=mgmt,
        colour=left_over // CACHE_LINE,
        limit=limit,
        batchcount=batch,
        free_limit=2 * batch + num,  # (1 + one online CPU) * batchcount + num
    )


def _align(n: int, a: int) -> int:
    return (n + a - 1) & ~(a - 1)


@dataclass(frozen=True, slots=True)
class KmallocFailure:
    """Why kmalloc returned NULL: no cache that large, or no block of the slab's order."""

    size: int
    order: int | None  # None: above KMALLOC_MAX_SIZE (no cache, no page allocation)


class Kmalloc:
    """The general caches of one machine (``malloc_sizes``)."""

    def __init__(
        self, zone: BuddyAllocator, page_size: int, *, slab_descriptors: bool = True
    ) -> None:
        self.zone = zone
        self.page_size = page_size
        self.page_shift = page_size.bit_length() - 1
        #: off-slab ``struct slab`` records are themselves kmalloc'ed (False: ideal model)
        self.slab_descriptors = slab_descriptors
        self.caches = [make_cache(s, page_size) for s in kmalloc_sizes(page_size, zone.max_order)]
        self._slab_of_pfn: dict[int, Slab] = {}
        self._live: dict[int, KmemCache] = {}  # allocated object address -> cache
        self.last_failure: KmallocFailure | None = None

    @property
    def max_size(self) -> int:
        """``KMALLOC_MAX_SIZE``."""
        return self.caches[-1].size

    def find_cache(self, size: int) -> KmemCache | None:
        """``__find_general_cachep``: the smallest cache holding *size*, or None."""
        for cache in self.caches:
            if size <= cache.size:
                return cache
        return None

    # -- allocation ----------------------------------------------------------------
    def kmalloc(self, size: int) -> int | None:
        """``__do_kmalloc``: an object's address, or None (see :attr:`last_failure`)."""
        cache = self.find_cache(size)
        if cache is None:
            self.last_failure = KmallocFailure(size, None)
            return None
        array = cache.array
        if not array and not self._refill(cache):
            self.last_failure = KmallocFailure(size, cache.gfporder)
            return None
        addr = array.pop()
        cache.touched = True
        self._live[addr] = cache
        return addr

    def _refill(self, cache: KmemCache) -> bool:
        """``cache_alloc_refill``: move up to batchcount objects into the array."""
        batch = cache.batchcount
        while batch > 0:
            if cache.partial:
                slab = cache.partial[0]
            elif cache.free:
                slab = cache.free[0]
                cache.free_touched = True
            else:
                break
            while slab.inuse < cache.num and batch > 0:
                batch -= 1
                cache.array.append(self._slab_get_obj(cache, slab))
            self._unlink(cache, slab)
            if slab.inuse == cache.num:
                cache.full.insert(0, slab)
            else:
                cache.partial.insert(0, slab)
        cache.free_objects -= cache.batchcount - batch
        if cache.array:
            return True
        if not self._grow(cache):
            return False
        return self._refill(cache)

    def _grow(self, cache: KmemCache) -> bool:
        """``cache_grow``: a new slab from the page allocator, onto the free list."""
        offset = cache.colour_next * CACHE_LINE
        cache.colour_next += 1
        if cache.colour_next >= cache.colour:
            cache.colour_next = 0
        pfn = self.zone.alloc_pages(cache.gfporder)
        if pfn is None:
            return False
        descriptor = None
        if cache.off_slab and self.slab_descriptors:
            descriptor = self.kmalloc(cache.descriptor_size)
            if descriptor is None:
                self.zone.free_pages(pfn, cache.gfporder)
                return False
        base = pfn << self.page_shift
        slab = Slab(cache, pfn, base + offset + cache.mgmt, list(range(cache.num - 1, -1, -1)))
        slab.descriptor = descriptor
        for i in range(1 << cache.gfporder):
            self._slab_of_pfn[pfn + i] = slab
        cache.free.append(slab)
        cache.free_objects += cache.num
        return True

    def _slab_get_obj(self, cache: KmemCache, slab: Slab) -> int:
        index = slab.free.pop()
        slab.inuse += 1
        return slab.s_mem + index * cache.size

    @staticmethod
    def _unlink(cache: KmemCache, slab: Slab) -> None:
        for lst in (cache.partial, cache.free, cache.full):
            for i, s in enumerate(lst):
                if s is slab:
                    del lst[i]
                    return
        raise KernelBug(f"slab at pfn {slab.pfn:#x} on no list of {cache.name}")

    # -- freeing ---------------------------------------------------------------------
    def kfree(self, addr: int) -> None:
        """``kfree`` -> ``__cache_free``: into the array, flushing it when full."""
        cache = self._live.pop(addr, None)
        if cache is None:
            raise KernelBug(f"kfree of {addr:#x}, not a live kmalloc object")
        if len(cache.array) >= cache.limit:
            self._flush_array(cache, cache.batchcount)
        cache.array.append(addr)

    def _flush_array(self, cache: KmemCache, count: int) -> None:
        """``cache_flusharray`` / ``drain_array``: the oldest *count* objects to their slabs."""
        objs, cache.array[:] = cache.array[:count], cache.array[count:]
        self._free_block(cache, objs)

    def _free_block(self, cache: KmemCache, objs: list[int]) -> None:
        """``free_block``: back into the slabs; a slab left empty goes or is kept."""
        shift = self.page_shift
        for addr in objs:
            slab = self._slab_of_pfn[addr >> shift]
            self._unlink(cache, slab)
            slab.free.append((addr - slab.s_mem) // cache.size)
            slab.inuse -= 1
            cache.free_objects += 1
            if slab.inuse == 0:
                if cache.free_objects > cache.free_limit:
                    cache.free_objects -= cache.num
                    self._destroy(cache, slab)
                else:
                    cache.free.insert(0, slab)
            else:
                cache.partial.append(slab)

    def _destroy(self, cache: KmemCache, slab: Slab) -> None:
        """``slab_destroy``: pages back to the buddy allocator, descriptor kfree'd."""
        for i in range(1 << cache.gfporder):
            del self._slab_of_pfn[slab.pfn + i]
        self.zone.free_pages(slab.pfn, cache.gfporder)
        if slab.descriptor is not None:
            self.kfree(slab.descriptor)

    def cache_reap(self) -> None:
        """One pass of ``cache_reap``: drain arrays not used since, and some free slabs."""
        for cache in self.caches:
            if cache.touched:
                cache.touched = False
            elif cache.array:
                count = (cache.limit + 4) // 5
                if count > len(cache.array):
                    count = (len(cache.array) + 1) // 2
                self._flush_array(cache, count)
            cache.reap_passes += 1
            if cache.reap_passes % 2:
                continue  # the lists are reaped every REAPTIMEOUT_LIST3, twice as long
            if cache.free_touched:
                cache.free_touched = False
                continue
            todo = (cache.free_limit + 5 * cache.num - 1) // (5 * cache.num)
            while todo > 0 and cache.free:
                slab = cache.free.pop()  # drain_freelist takes the list's last entry
                cache.free_objects -= cache.num
                self._destroy(cache, slab)
                todo -= 1

    def reap(self) -> None:
        """Everything ``cache_reap`` would give back given time: arrays drained, free slabs freed.

        The model never calls this by itself (it has no clock); a caller that
        wants the state a quiet system reaches a few seconds later does.
        """
        busy = True
        while busy:  # destroying an off-slab slab kfrees its descriptor into a small cache
            busy = False
            for cache in self.caches:
                if cache.array:
                    busy = True
                    self._flush_array(cache, len(cache.array))
                while cache.free:
                    busy = True
                    slab = cache.free.pop()
                    cache.free_objects -= cache.num
                    self._destroy(cache, slab)

    # -- queries ---------------------------------------------------------------------
    def ksize(self, addr: int) -> int:
        """``ksize``: the size of the cache *addr* was allocated from."""
        cache = self._live.get(addr)
        if cache is None:
            raise KernelBug(f"ksize of {addr:#x}, not a live kmalloc object")
        return cache.size

    def slab_of(self, addr: int) -> Slab | None:
        """The slab holding *addr* (``virt_to_page(addr)`` is a slab page), or None."""
        return self._slab_of_pfn.get(addr >> self.page_shift)

    def is_live(self, addr: int) -> bool:
        return addr in self._live

    def slab_pages(self) -> int:
        """Pages held by slabs of the general caches (what /proc/meminfo calls Slab)."""
        return sum((len(c.partial) + len(c.full) + len(c.free)) << c.gfporder for c in self.caches)

    def slab_spans(self) -> list[tuple[int, int, str]]:
        """``(first pfn, end pfn, what)`` of every slab, for the machine's overlap check."""
        out = []
        for c in self.caches:
            for lst in (c.partial, c.full, c.free):
                for s in lst:
                    out.append((s.pfn, s.pfn + (1 << c.gfporder), f"slab of {c.name}"))
        return out

    def validate(self) -> None:
        """Each cache's lists agree with its slabs' counts; objects are where slabs say."""
        seen: set[int] = set()
        for c in self.caches:
            free_objs = 0
            for name, lst in (("partial", c.partial), ("full", c.full), ("free", c.free)):
                for s in lst:
                    if id(s) in seen:
                        raise KernelBug(f"{c.name}: slab at pfn {s.pfn:#x} on two lists")
                    seen.add(id(s))
                    if s.inuse + len(s.free) != c.num:
                        raise KernelBug(f"{c.name}: slab at pfn {s.pfn:#x} loses objects")
                    want = {"partial": 0 < s.inuse < c.num, "full": s.inuse == c.num}.get(
                        name, s.inuse == 0
                    )
                    if not want:
                        raise KernelBug(
                            f"{c.name}: slab at pfn {s.pfn:#x} with {s.inuse} objects "
                            f"on the {name} list"
                        )
                    if self._slab_of_pfn.get(s.pfn) is not s:
                        raise KernelBug(f"{c.name}: slab at pfn {s.pfn:#x} not indexed")
                    free_objs += len(s.free)
            if free_objs != c.free_objects:
                raise KernelBug(
                    f"{c.name}: free_objects {c.free_objects} but slabs hold {free_objs} free"
                )
            if len(c.array) > c.limit:
                raise KernelBug(f"{c.name}: array holds {len(c.array)} > limit {c.limit}")
        in_slabs = sum(s.inuse for c in self.caches for s in c.partial + c.full)
        arrays = sum(len(c.array) for c in self.caches)
        if in_slabs != len(self._live) + arrays:
            raise KernelBug(
                f"slab objects in use {in_slabs} != live {len(self._live)} + in arrays {arrays}"
            )
