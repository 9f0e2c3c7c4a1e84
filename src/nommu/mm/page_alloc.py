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

from collections.abc import Iterator
from dataclasses import dataclass

from nommu.errors import bug_on

_NIL = -1  # list sentinel


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

    Only pages given with :meth:`free_pages` / :meth:`online` ever become free;
    the rest of the span (kernel image, reserved memory) is never handed out.
    """

    __slots__ = (
        "_next",
        "_order_of",
        "_prev",
        "end_pfn",
        "free_count",
        "managed",
        "max_order",
        "start_pfn",
    )

    def __init__(self, start_pfn: int, end_pfn: int, max_order: int) -> None:
        self.start_pfn = start_pfn
        self.end_pfn = end_pfn
        self.max_order = max_order
        self._next: list[dict[int, int]] = [{_NIL: _NIL} for _ in range(max_order + 1)]
        self._prev: list[dict[int, int]] = [{_NIL: _NIL} for _ in range(max_order + 1)]
        self._order_of: dict[int, int] = {}  # pfn of each free block -> its order (PageBuddy)
        self.free_count = 0
        self.managed = 0

    # -- list primitives -------------------------------------------------------------
    def _add(self, pfn: int, order: int, tail: bool) -> None:
        nxt, prv = self._next[order], self._prev[order]
        if tail:
            last = prv[_NIL]
            nxt[last] = pfn
            prv[pfn] = last
            nxt[pfn] = _NIL
            prv[_NIL] = pfn
        else:
            first = nxt[_NIL]
            prv[first] = pfn
            nxt[pfn] = first
            prv[pfn] = _NIL
            nxt[_NIL] = pfn
        self._order_of[pfn] = order

    def _del(self, pfn: int, order: int) -> None:
        nxt, prv = self._next[order], self._prev[order]
        a = prv.pop(pfn)
        b = nxt.pop(pfn)
        nxt[a] = b
        prv[b] = a
        del self._order_of[pfn]

    # -- allocation ------------------------------------------------------------------
    def alloc_pages(self, order: int) -> int | None:
        """Take a block of ``2**order`` pages; None like the kernel's NULL.

        Models ``__rmqueue_smallest()`` and ``expand()``.
        """
        if order > self.max_order or order < 0:
            return None
        for current in range(order, self.max_order + 1):
            head = self._next[current][_NIL]
            if head != _NIL:
                break
        else:
            return None
        self._del(head, current)
        size = 1 << current
        while current > order:  # expand(): upper halves to the heads of lower lists
            current -= 1
            size >>= 1
            self._add(head + size, current, tail=False)
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
        for extra in range(pfn + npages, pfn + (1 << order)):
            self._free_one_page(extra, 0, to_tail=True)
        return pfn

    # -- freeing ---------------------------------------------------------------------
    def _free_one_page(self, pfn: int, order: int, *, to_tail: bool | None) -> None:
        """Merge with free buddies, then link at head or tail (``__free_one_page``).

        ``to_tail=None`` applies the kernel's ``buddy_merge_likely`` heuristic.
        """
        self.free_count += 1 << order
        order_of = self._order_of
        max_order = self.max_order
        buddy = pfn
        while order < max_order:
            buddy = pfn ^ (1 << order)
            if order_of.get(buddy) != order:
                break
            self._del(buddy, order)
            pfn &= buddy
            order += 1
        if to_tail is None:
            to_tail = False
            if order < max_order - 1:
                higher = pfn & buddy
                higher_buddy = higher ^ (1 << (order + 1))
                to_tail = order_of.get(higher_buddy) == order + 1
        self._add(pfn, order, tail=to_tail)

    def free_pages(self, pfn: int, order: int = 0) -> None:
        """Give back a block taken with :meth:`alloc_pages` (``__free_pages``)."""
        self._free_one_page(pfn, order, to_tail=None)

    def free_page_series(self, start_pfn: int, end_pfn: int) -> None:
        """Free pages one by one in ascending order (``free_page_series``)."""
        for pfn in range(start_pfn, end_pfn):
            self._free_one_page(pfn, 0, to_tail=None)

    def online(self, start_pfn: int, end_pfn: int) -> None:
        """Hand boot memory ``[start, end)`` to the allocator as mainline does.

        Models ``__free_pages_memory()``: maximally aligned blocks in ascending
        order, each freed to the list tail (``FPI_TO_TAIL``).
        """
        bug_on(start_pfn < self.start_pfn or end_pfn > self.end_pfn,
               "online range outside the zone")
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
        return len(self._next[order]) - 1

    def largest_free_order(self) -> int:
        for order in range(self.max_order, -1, -1):
            if self._next[order][_NIL] != _NIL:
                return order
        return -1

    def blocks(self, order: int) -> Iterator[int]:
        """Free blocks of one order, head first (list order)."""
        nxt = self._next[order]
        pfn = nxt[_NIL]
        while pfn != _NIL:
            yield pfn
            pfn = nxt[pfn]

    def free_blocks(self) -> Iterator[tuple[int, int]]:
        """Every free block as ``(pfn, order)``, in ascending pfn order."""
        yield from sorted(self._order_of.items())

    def is_free(self, pfn: int) -> bool:
        """Whether page *pfn* lies inside some free block (O(max_order))."""
        for order in range(self.max_order + 1):
            head = pfn & ~((1 << order) - 1)
            if self._order_of.get(head) == order:
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
        """Check list links, alignment, no overlaps, no unmerged buddies, counts."""
        seen: dict[int, int] = {}
        total = 0
        for order in range(self.max_order + 1):
            nxt, prv = self._next[order], self._prev[order]
            bug_on(len(nxt) != len(prv), f"order {order}: next/prev sizes differ")
            count = 0
            pfn = nxt[_NIL]
            prev = _NIL
            while pfn != _NIL:
                bug_on(prv[pfn] != prev, f"order {order}: broken back link at pfn {pfn:#x}")
                bug_on(pfn & ((1 << order) - 1) != 0,
                       f"free block pfn {pfn:#x} not aligned to order {order}")
                bug_on(pfn < self.start_pfn or pfn + (1 << order) > self.end_pfn,
                       f"free block pfn {pfn:#x} order {order} outside the zone")
                bug_on(self._order_of.get(pfn) != order, f"pfn {pfn:#x} order map mismatch")
                seen[pfn] = order
                count += 1
                total += 1 << order
                prev = pfn
                pfn = nxt[pfn]
                bug_on(count > len(nxt), f"order {order}: list loops")
            bug_on(count != len(nxt) - 1, f"order {order}: nr_free {len(nxt) - 1} != {count}")
        bug_on(len(seen) != len(self._order_of), "order map has blocks not on any list")
        bug_on(total != self.free_count, f"free pages {self.free_count} != listed {total}")
        end = -1
        for pfn, order in sorted(seen.items()):
            bug_on(pfn < end, f"free blocks overlap at pfn {pfn:#x}")
            end = pfn + (1 << order)
            if order < self.max_order:
                buddy = pfn ^ (1 << order)
                bug_on(seen.get(buddy) == order,
                       f"free buddies pfn {pfn:#x} and {buddy:#x} of order {order} not merged")
