"""The binary buddy page allocator of one zone (models mm/page_alloc.c).

Free blocks live on per-order doubly linked lists kept in dicts, so every list
operation is O(1) and memory grows with the number of free *blocks*, never with
the number of pages: a 4 GiB zone starts with a few thousand entries.

Placement rules are the kernel's (the "IDEAL-BUDDY" of the spec: no per-CPU
lists, no watermarks, no reclaim, no compaction):

- allocation takes the head of the smallest non-empty sufficient list
  (``__rmqueue_smallest``) and puts split-off upper halves at the heads of the
  lower lists (``expand``);
- ``alloc_pages_exact`` returns the excess pages one at a time to the list
  tails (``make_alloc_exact`` freeing with ``FPI_TO_TAIL``), merging buddies;
- boot memory is handed over in ascending, maximally aligned blocks, each to
  the tail (``memblock_free_all`` → ``__free_pages_core``, v5.10+), so the
  lowest blocks are taken first;
- an ordinary free merges with free buddies and goes to the tail only when the
  next-higher buddy is free (``buddy_merge_likely``), else to the head.

Usage::

    zone = BuddyAllocator(start_pfn=0x400, end_pfn=0x800, max_order=10)
    pfn = zone.alloc_pages_exact(3)      # 0x400; page 0x403 returned to a tail
    zone.free_page_series(pfn, pfn + 3)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

from nommu.errors import KernelBug


@dataclass(frozen=True, slots=True)
class BuddyStatistics:
    """A frozen view of the zone: ``nr_free[order]`` as in /proc/buddyinfo."""

    nr_free: tuple[int, ...]
    free_pages: int
    managed_pages: int
    largest_free_order: int  # -1 when nothing is free

    @property
    def largest_free_pages(self) -> int:
        return 0 if self.largest_free_order < 0 else 1 << self.largest_free_order


class BuddyAllocator:
    """Free lists ``free_area[0..max_order]`` over pfns ``[start_pfn, end_pfn)``.

    Each list is an ``OrderedDict`` used as a doubly linked list (C speed for
    insert at either end, removal of any block, and peeking at the head). The
    dict is kept in reverse: its *last* entry is the list's head, because head
    insertions (``expand`` and most frees) are the common case.
    Only pages given with :meth:`online` or freed later ever become free; the
    rest of the span (kernel image, reserved memory) is never handed out.
    """

    __slots__ = ("_area", "end_pfn", "free_count", "managed", "max_order", "start_pfn")

    def __init__(self, start_pfn: int, end_pfn: int, max_order: int) -> None:
        self.start_pfn = start_pfn
        self.end_pfn = end_pfn
        self.max_order = max_order
        self._area: list[OrderedDict[int, None]] = [OrderedDict() for _ in range(max_order + 1)]
        self.free_count = 0
        self.managed = 0

    # -- list primitives -------------------------------------------------------------
    def _add(self, pfn: int, order: int, tail: bool) -> None:
        area = self._area[order]
        area[pfn] = None
        if tail:
            area.move_to_end(pfn, last=False)

    # -- allocation ------------------------------------------------------------------
    def alloc_pages(self, order: int) -> int | None:
        """Take a block of ``2**order`` pages; None like the kernel's NULL.

        Models ``__rmqueue_smallest()`` and ``expand()``.
        """
        if order > self.max_order or order < 0:
            return None
        area = self._area
        for current in range(order, self.max_order + 1):
            if area[current]:
                break
        else:
            return None
        head = area[current].popitem()[0]
        size = 1 << current
        while current > order:  # expand(): upper halves to the heads of lower lists
            current -= 1
            size >>= 1
            buddy = head + size
            area[current][buddy] = None
        self.free_count -= 1 << order
        return head

    def alloc_pages_exact(self, npages: int) -> int | None:
        """Take ``npages`` contiguous pages from a block of ``get_order`` size.

        Models ``alloc_pages_exact()``/``make_alloc_exact()``: the whole
        power-of-two block must be free; the excess goes back page by page to
        the list tails at once.
        """
        order = max(npages - 1, 0).bit_length()
        pfn = self.alloc_pages(order)
        if pfn is None:
            return None
        if npages < 1 << order:  # the excess, page by page, to the list tails
            self.free_page_series(pfn + npages, pfn + (1 << order), to_tail=True)
        return pfn

    # -- freeing ---------------------------------------------------------------------
    def _free_one_page(self, pfn: int, order: int, *, to_tail: bool | None) -> None:
        """Merge with free buddies, then link at head or tail (``__free_one_page``).

        ``to_tail=None`` applies the kernel's ``buddy_merge_likely`` heuristic.
        """
        self.free_count += 1 << order
        area = self._area
        max_order = self.max_order
        buddy = pfn
        while order < max_order:
            buddy = pfn ^ (1 << order)
            same = area[order]
            if buddy not in same:
                break
            del same[buddy]
            pfn &= buddy
            order += 1
        if to_tail is None:
            to_tail = False
            if order < max_order - 1:
                higher = pfn & buddy
                to_tail = (higher ^ (1 << (order + 1))) in area[order + 1]
        same = area[order]
        same[pfn] = None
        if to_tail:
            same.move_to_end(pfn, last=False)

    def free_pages(self, pfn: int, order: int = 0) -> None:
        """Give back a block taken with :meth:`alloc_pages` (``__free_pages``)."""
        self._free_one_page(pfn, order, to_tail=None)

    def free_page_series(self, start_pfn: int, end_pfn: int, *, to_tail: bool | None = None
                         ) -> None:
        """Free pages one by one in ascending order (``free_page_series``).

        Freeing an aligned run page by page ends in exactly the state that one
        free of the whole run gives: every page's buddies inside the run are
        merged away before anything outside is looked at, and the list
        entries made in between are removed again. So the range is freed as
        its maximal aligned blocks, in ascending order, with the same result.
        """
        pfn = start_pfn
        max_order = self.max_order
        while pfn < end_pfn:
            order = (pfn & -pfn).bit_length() - 1 if pfn else max_order
            if order > max_order:
                order = max_order
            while pfn + (1 << order) > end_pfn:
                order -= 1
            self._free_one_page(pfn, order, to_tail=to_tail)
            pfn += 1 << order

    def online(self, start_pfn: int, end_pfn: int) -> None:
        """Hand boot memory ``[start, end)`` to the allocator as mainline does.

        Models ``__free_pages_memory()``: maximally aligned blocks in ascending
        order, each freed to the list tail (``FPI_TO_TAIL``).
        """
        if start_pfn < self.start_pfn or end_pfn > self.end_pfn:
            raise KernelBug("online range outside the zone")
        pfn = start_pfn
        while pfn < end_pfn:
            order = min(self.max_order, (pfn & -pfn).bit_length() - 1 if pfn else self.max_order)
            while pfn + (1 << order) > end_pfn:
                order -= 1
            self._free_one_page(pfn, order, to_tail=True)
            pfn += 1 << order
        self.managed += end_pfn - start_pfn

    # -- views -----------------------------------------------------------------------
    def nr_free(self, order: int) -> int:
        return len(self._area[order])

    def largest_free_order(self) -> int:
        for order in range(self.max_order, -1, -1):
            if self._area[order]:
                return order
        return -1

    def blocks(self, order: int) -> Iterator[int]:
        """Free blocks of one order, head first (list order)."""
        yield from reversed(self._area[order])

    def free_blocks(self) -> Iterator[tuple[int, int]]:
        """Every free block as ``(pfn, order)``, in ascending pfn order."""
        yield from sorted((pfn, order) for order, area in enumerate(self._area) for pfn in area)

    def is_free(self, pfn: int) -> bool:
        """Whether page *pfn* lies inside some free block (O(max_order))."""
        for order in range(self.max_order + 1):
            if pfn & ~((1 << order) - 1) in self._area[order]:
                return True
        return False

    def statistics(self) -> BuddyStatistics:
        return BuddyStatistics(
            nr_free=tuple(self.nr_free(o) for o in range(self.max_order + 1)),
            free_pages=self.free_count,
            managed_pages=self.managed,
            largest_free_order=self.largest_free_order(),
        )

    def validate(self) -> None:
        """Check alignment, bounds, no overlaps, no unmerged buddies, counts."""
        seen: dict[int, int] = {}
        total = 0
        for order in range(self.max_order + 1):
            for pfn in self._area[order]:
                if pfn & ((1 << order) - 1) != 0:
                    raise KernelBug(f"free block pfn {pfn:#x} not aligned to order {order}")
                if pfn < self.start_pfn or pfn + (1 << order) > self.end_pfn:
                    raise KernelBug(f"free block pfn {pfn:#x} order {order} outside the zone")
                if pfn in seen:
                    raise KernelBug(f"pfn {pfn:#x} is free at two orders")
                seen[pfn] = order
                total += 1 << order
        if total != self.free_count:
            raise KernelBug(f"free pages {self.free_count} != listed {total}")
        end = -1
        for pfn, order in sorted(seen.items()):
            if pfn < end:
                raise KernelBug(f"free blocks overlap at pfn {pfn:#x}")
            end = pfn + (1 << order)
            if order < self.max_order:
                buddy = pfn ^ (1 << order)
                if seen.get(buddy) == order:
                    raise KernelBug(f"free buddies pfn {pfn:#x} and {buddy:#x} of order {order} "
                                    "not merged")
