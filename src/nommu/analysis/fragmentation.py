"""External fragmentation of the page allocator (mm/vmstat.c's extfrag figures).

Without an MMU every mapping needs physically contiguous pages, so what
matters is not how much memory is free but how large the free blocks are.
For each order this gives the free blocks (``/proc/buddyinfo``), the pages
they hold, and the kernel's *unusable free space index*
(``/sys/kernel/debug/extfrag/unusable_index``): the share of free memory that
sits in blocks too small for a request of that order. 0 means every free page
could serve it; 1 means none can (or nothing is free at all).

The *fragmentation index* (``extfrag_index``) tells, for a request that
fails, whether it fails for lack of memory (towards 0) or because free
memory is in pieces that are too small (towards 1); it is -1 when the
request would succeed.

Usage::

    frag = fragmentation(snap.nr_free, snap.free_pages, snap.page_size)
    frag.largest_free_bytes, frag.orders[5].unusable_index
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OrderFigures:
    """The free-list figures of one order."""

    order: int
    block_bytes: int
    nr_free: int  # free blocks of exactly this order
    free_pages: int  # pages in those blocks
    unusable_index: float  # 0..1: free memory unusable for a request of this order


@dataclass(frozen=True, slots=True)
class Fragmentation:
    """Fragmentation of the zone at one moment."""

    page_size: int
    free_pages: int
    largest_free_order: int  # -1 when nothing is free
    orders: tuple[OrderFigures, ...]

    @property
    def free_bytes(self) -> int:
        return self.free_pages * self.page_size

    @property
    def largest_free_bytes(self) -> int:
        return block_bytes(self.largest_free_order, self.page_size)


def block_bytes(order: int, page_size: int) -> int:
    """Bytes in one free block of *order*; 0 for order -1 (nothing free)."""
    return (1 << order) * page_size if order >= 0 else 0


def _suitable(nr_free: Sequence[int], order: int) -> int:
    """``free_blocks_suitable``: how many order-*order* blocks the free lists hold."""
    return sum(n << (o - order) for o, n in enumerate(nr_free) if o >= order)


def unusable_free_index(nr_free: Sequence[int], free_pages: int, order: int) -> float:
    """``unusable_free_index()``: share of free pages unusable at *order* (0..1).

    No free memory counts as all of it unusable (1.0), as the kernel says.
    """
    if free_pages == 0:
        return 1.0
    usable = _suitable(nr_free, order) << order
    return (free_pages - usable) / free_pages


def fragmentation_index(nr_free: Sequence[int], free_pages: int, order: int) -> float:
    """``__fragmentation_index()`` as a fraction: -1 success, 0 no memory, 1 fragmented.

    The kernel computes ``1000 - (1000 + free_pages*1000/requested) / free_blocks``
    in integers; this is the same arithmetic divided by 1000.
    """
    blocks = sum(nr_free)
    if blocks == 0:
        return 0.0
    if _suitable(nr_free, order):
        return -1.0
    requested = 1 << order
    return (1000 - (1000 + free_pages * 1000 // requested) // blocks) / 1000


def fragmentation(nr_free: Sequence[int], free_pages: int, page_size: int) -> Fragmentation:
    """Figures per order from the free-list counts (``nr_free[order]``)."""
    largest = -1
    rows = []
    for order, n in enumerate(nr_free):
        if n:
            largest = order
        rows.append(
            OrderFigures(
                order,
                (1 << order) * page_size,
                n,
                n << order,
                unusable_free_index(nr_free, free_pages, order),
            )
        )
    return Fragmentation(page_size, free_pages, largest, tuple(rows))
