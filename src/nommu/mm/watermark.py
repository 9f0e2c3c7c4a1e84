"""Zone watermarks and ``vm.min_free_kbytes`` (mm/page_alloc.c, mm/vmstat.c).

The kernel never hands out the last free pages of a zone to an ordinary
allocation: ``__zone_watermark_ok()`` refuses a request that would leave no
more than the zone's *min* watermark free, even when a block of the right
order is on the free lists. The watermarks come from ``vm.min_free_kbytes``,
which ``calculate_min_free_kbytes()`` sets at boot to ``sqrt(16 * lowmem_kB)``
(clamped to 128 kB .. 256 MiB); ``__setup_per_zone_wmarks()`` turns it into
the zone's min, low, high and promo marks. A 32 MiB RISC-V board with
about 28 MiB managed gets 676 kB, a min watermark of 169 pages, as the real
6.1 kernel showed in QEMU.

Without an MMU there is one zone (Normal), no swap and no kswapd work worth
modelling, so the model checks the *min* mark: the slow path of
``__alloc_pages`` retries with ``ALLOC_WMARK_MIN`` after the low-mark fast
path failed, and it is the min mark that decides whether a GFP_KERNEL
request succeeds. Every allocation the model makes is GFP_KERNEL-like
(user copies, kernel stacks, slab pages, page cache): none has
``__GFP_HIGH`` or is atomic, so :data:`ALLOC_WMARK_MIN` is the only flag set
on the allocator's hot path; :func:`zone_watermark_ok` takes the others for
what they are documented to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import isqrt
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nommu.mm.page_alloc import BuddyAllocator

# mm/internal.h: the alloc_flags the watermark check reads
ALLOC_WMARK_MIN = 0x00
ALLOC_WMARK_LOW = 0x01
ALLOC_WMARK_HIGH = 0x02
ALLOC_OOM = 0x08  # an OOM victim may dip further into the reserve
ALLOC_NON_BLOCK = 0x10  # GFP_ATOMIC
ALLOC_MIN_RESERVE = 0x20  # __GFP_HIGH
ALLOC_RESERVES = ALLOC_NON_BLOCK | ALLOC_MIN_RESERVE | ALLOC_OOM

#: ``watermark_scale_factor`` default (mm/page_alloc.c): 0.1% of the zone.
WATERMARK_SCALE_FACTOR = 10


def calculate_min_free_kbytes(managed_pages: int, page_size: int) -> int:
    """``calculate_min_free_kbytes()``: ``int_sqrt(lowmem_kbytes * 16)``, clamped.

    ``nr_free_buffer_pages()`` is the managed pages above the high watermark,
    which is still 0 when the postcore initcall runs, so all managed pages
    count. The clamp is 128 .. 262144 kB (v5.x and later).
    """
    lowmem_kbytes = managed_pages * (page_size >> 10)
    return min(max(isqrt(lowmem_kbytes * 16), 128), 262144)


@dataclass(frozen=True, slots=True)
class Watermarks:
    """``zone->_watermark[]`` in pages."""

    min: int
    low: int
    high: int
    promo: int


def setup_per_zone_wmarks(min_free_kbytes: int, managed_pages: int, page_size: int) -> Watermarks:
    """``__setup_per_zone_wmarks()`` for the one lowmem zone of a no-MMU board.

    ``pages_min`` is ``min_free_kbytes`` in pages; the distance between the
    marks is the larger of a quarter of it and ``watermark_scale_factor``
    parts in 10,000 of the zone.
    """
    pages_min = min_free_kbytes >> (page_size.bit_length() - 1 - 10)
    tmp = pages_min if managed_pages else 0  # pages_min * managed / lowmem_pages, one zone
    step = max(tmp >> 2, managed_pages * WATERMARK_SCALE_FACTOR // 10000)
    low = tmp + step
    high = low + step
    return Watermarks(tmp, low, high, high + step)


def zone_watermark_ok(zone: BuddyAllocator, order: int, mark: int, alloc_flags: int) -> bool:
    """``__zone_watermark_ok()``: may a block of *order* be taken with *mark* as the floor?

    The pages the request itself takes beyond one (``(1 << order) - 1``) do
    not count; ``__GFP_HIGH`` may use half the reserve, an atomic request a
    further quarter, an OOM victim half of what is left. Then the free pages
    must stay above the mark and, for order > 0, some list of that order or
    above must hold a block. (No highatomic or CMA pages exist without an
    MMU in these configurations; ``lowmem_reserve`` of the only zone is 0.)
    """
    free_pages = zone.free_count - ((1 << order) - 1)
    low = mark
    if alloc_flags & ALLOC_RESERVES:
        if alloc_flags & ALLOC_MIN_RESERVE:
            low -= low // 2
            if alloc_flags & ALLOC_NON_BLOCK:
                low -= low // 4
        if alloc_flags & ALLOC_OOM:
            low -= low // 2
    if free_pages <= low:
        return False
    if not order:
        return True
    return zone.largest_free_order() >= order


def render_zoneinfo(
    zone: BuddyAllocator, marks: Watermarks, spanned: int, present: int, cached: int
) -> str:
    """The head of ``/proc/zoneinfo`` for zone Normal (``zoneinfo_show_print``).

    The lines the model has figures for: free pages, the four watermarks,
    spanned/present/managed and the protection array (zones Normal and
    Movable, no lowmem reserve), then two of the zone counters. The kernel
    prints the per-node statistics before ``pages free`` and the per-CPU
    sets after; the model has no figures for them and leaves them out.
    """
    return (
        "Node 0, zone   Normal\n"
        f"  pages free     {zone.free_count}\n"
        f"        boost    0\n"
        f"        min      {marks.min}\n"
        f"        low      {marks.low}\n"
        f"        high     {marks.high}\n"
        f"        promo    {marks.promo}\n"
        f"        spanned  {spanned}\n"
        f"        present  {present}\n"
        f"        managed  {zone.managed}\n"
        f"        cma      0\n"
        f"        protection: (0, 0)\n"
        f"      nr_free_pages {zone.free_count}\n"
        f"      nr_file_pages {cached}\n"
    )
