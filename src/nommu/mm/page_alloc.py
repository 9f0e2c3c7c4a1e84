"""The binary buddy page allocator of one zone (models mm/page_alloc.c).

Free blocks live on per-order doubly linked lists kept in dicts, so every list
operation is O(1) and memory grows with the number of free *blocks*, never with
the number of pages: a 4 GiB zone starts with a few thousand entries.

Placement rules are the kernel's (an ideal buddy allocator, hazard H14: no per-CPU
lists, no reclaim, no compaction; the min watermark is checked when the machine
sets one, see :mod:`nommu.mm.watermark`):

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
    insertions (``expand`` and most frees) are the common case. A bitmask of
    the non-empty lists finds the smallest sufficient order in one step.
    Only pages given with :meth:`online` or freed later ever become free; the
    rest of the span (kernel image, reserved memory) is never handed out.

    The last allocation's split is kept pending. Taking ``npages`` from a
    block of order *hi* for a request of order *lo* leaves, in the kernel,
    one free block ``base + 2**j`` at the head of each list ``lo..hi-1``
    (``expand()``; those lists were empty, or a smaller order would have been
    used) and the excess ``[base + npages, base + 2**lo)`` as maximal aligned
    blocks at the tails of lower lists (``make_alloc_exact()``). None of those
    blocks can merge with anything but the allocation itself, so until
    something else happens they are recorded as ``(base, npages, lo, hi)``
    rather than written into the lists; freeing exactly that allocation
    again, the usual fate of a short-lived mapping, merges with all of them
    and continues from order *hi* in one step. Any other allocation, free or
    view first writes the record out (:meth:`_materialize`), so every list,
    count and placement anyone can observe is the one the step-by-step
    kernel algorithm gives.
    """

    __slots__ = (
        "_area",
        "_nonempty",
        "_pending",
        "_split_base",
        "_split_end",
        "_split_hi",
        "_split_lo",
        "end_pfn",
        "free_count",
        "managed",
        "max_order",
        "start_pfn",
        "wmark_min",
    )

    def __init__(self, start_pfn: int, end_pfn: int, max_order: int) -> None:
        self.start_pfn = start_pfn
        self.end_pfn = end_pfn
        self.max_order = max_order
        self._area: list[OrderedDict[int, None]] = [OrderedDict() for _ in range(max_order + 1)]
        self._nonempty = 0  # bit j set when list j holds an entry
        self._pending = False  # a split is recorded but not written into the lists
        self._split_base = 0
        self._split_end = 0  # base + npages: the excess starts here
        self._split_lo = 0
        self._split_hi = 0
        self.free_count = 0  # counts the pending split's free blocks
        self.managed = 0
        #: the min watermark (pages): no allocation may leave this many or fewer
        #: free (``__zone_watermark_ok`` with ALLOC_WMARK_MIN); 0 on an ideal machine
        self.wmark_min = 0

    # -- list primitives -------------------------------------------------------------
    def _add(self, pfn: int, order: int, tail: bool) -> None:
        self._materialize()
        area = self._area[order]
        area[pfn] = None
        if tail:
            area.move_to_end(pfn, last=False)
        self._nonempty |= 1 << order

    def _materialize(self) -> None:
        """Write the pending split into the lists, as the kernel made it."""
        if not self._pending:
            return
        self._pending = False
        area = self._area
        base, lo, hi = self._split_base, self._split_lo, self._split_hi
        for order in range(lo, hi):  # expand(): upper halves at the heads (lists were empty)
            area[order][base + (1 << order)] = None
        nonempty = self._nonempty | ((1 << hi) - 1) ^ ((1 << lo) - 1)
        pfn = self._split_end
        top = base + (1 << lo)
        while pfn < top:  # make_alloc_exact(): the excess, ascending, to the tails
            order = (pfn & -pfn).bit_length() - 1
            same = area[order]
            same[pfn] = None
            same.move_to_end(pfn, last=False)
            nonempty |= 1 << order
            pfn += 1 << order
        self._nonempty = nonempty

    # -- allocation ------------------------------------------------------------------
    def alloc_pages(self, order: int) -> int | None:
        """Take a block of ``2**order`` pages; None like the kernel's NULL."""
        if order > self.max_order or order < 0:
            return None
        return self.alloc_pages_exact(1 << order)

    def alloc_pages_exact(self, npages: int) -> int | None:
        """Take ``npages`` contiguous pages from a block of ``get_order`` size.

        Models ``__rmqueue_smallest()`` (the head of the smallest sufficient
        list), ``expand()`` (upper halves to the heads of the lists below) and
        ``make_alloc_exact()`` (the excess back page by page to the list
        tails at once); the split is kept pending (see the class docstring).
        """
        order = (npages - 1).bit_length() if npages > 1 else 0
        if order > self.max_order:
            return None
        if self.free_count - (1 << order) < self.wmark_min:
            return None  # free - (2**order - 1) <= min: __zone_watermark_ok() says no
        if self._pending:
            self._materialize()
        avail = self._nonempty >> order
        if not avail:
            return None
        current = order + (avail & -avail).bit_length() - 1
        area = self._area[current]
        head = area.popitem()[0]
        if not area:
            self._nonempty ^= 1 << current
        if current > order or npages < 1 << order:
            self._pending = True
            self._split_base = head
            self._split_end = head + npages
            self._split_lo = order
            self._split_hi = current
        self.free_count -= npages
        return head

    # -- freeing ---------------------------------------------------------------------
    def free_pages(self, pfn: int, order: int = 0) -> None:
        """Give back a block taken with :meth:`alloc_pages` (``__free_pages``)."""
        self.free_page_series(pfn, pfn + (1 << order))

    def free_page_series(self, start_pfn: int, end_pfn: int, to_tail: bool | None = None) -> None:
        """Free pages one by one in ascending order (``free_page_series``).

        Freeing an aligned run page by page ends in exactly the state that one
        free of the whole run gives: every page's buddies inside the run are
        merged away before anything outside is looked at, and the list
        entries made in between are removed again. So the range is freed as
        its maximal aligned blocks, in ascending order, with the same result;
        and freeing exactly the pending split's allocation is one free of its
        whole order-*hi* block.

        Each block goes through ``__free_one_page()``: merge with free buddies,
        then link at the head, or at the tail when *to_tail* (``FPI_TO_TAIL``)
        or, with *to_tail* None, when ``buddy_merge_likely()`` finds the
        next-higher buddy free.
        """
        if self._pending:
            if start_pfn == self._split_base and end_pfn == self._split_end:
                self._pending = False
                end_pfn = start_pfn + (1 << self._split_hi)
                self.free_count -= (end_pfn - start_pfn) - (self._split_end - start_pfn)
            else:
                self._materialize()
        area = self._area
        max_order = self.max_order
        nonempty = self._nonempty
        self.free_count += end_pfn - start_pfn
        pfn = start_pfn
        while pfn < end_pfn:
            order = (end_pfn - pfn).bit_length() - 1  # the largest aligned block that fits
            low = pfn & -pfn
            if low and low < 1 << order:
                order = low.bit_length() - 1
            if order > max_order:
                order = max_order
            next_pfn = pfn + (1 << order)
            while order < max_order:  # __free_one_page(): merge
                bit = 1 << order
                same = area[order]
                if pfn ^ bit not in same:
                    break
                del same[pfn ^ bit]
                if not same:
                    nonempty ^= bit
                pfn &= ~bit
                order += 1
            same = area[order]
            same[pfn] = None
            if to_tail or (
                to_tail is None
                and order < max_order - 1
                and (pfn & ~(1 << order)) ^ (2 << order) in area[order + 1]
            ):
                # FPI_TO_TAIL, or buddy_merge_likely(): the higher buddy is free
                same.move_to_end(pfn, last=False)
            nonempty |= 1 << order
            pfn = next_pfn
        self._nonempty = nonempty

    def online(self, start_pfn: int, end_pfn: int, to_tail: bool = True) -> None:
        """Hand boot memory ``[start, end)`` to the allocator.

        Models ``__free_pages_memory()``: maximally aligned blocks in ascending
        order, each freed to the list tail (``FPI_TO_TAIL``, v5.10+) or, with
        *to_tail* False, through the ordinary ``__free_one_page()`` (before
        v5.10), which puts a top-order block at the head of its list: the last
        block freed, at the top of RAM, is then the first handed out.
        """
        if start_pfn < self.start_pfn or end_pfn > self.end_pfn:
            raise KernelBug("online range outside the zone")
        pfn = start_pfn
        while pfn < end_pfn:
            order = min(self.max_order, (pfn & -pfn).bit_length() - 1 if pfn else self.max_order)
            while pfn + (1 << order) > end_pfn:
                order -= 1
            self.free_page_series(pfn, pfn + (1 << order), True if to_tail else None)
            pfn += 1 << order
        self.managed += end_pfn - start_pfn

    # -- views ----------------------------------------------------------------------
    # Counts read the pending split as it stands (reports sample them after every
    # step); views that list blocks write it out first.
    def _pending_blocks(self, order: int) -> int:
        """How many of the pending split's free blocks have *order* (0 or 1)."""
        lo = self._split_lo
        if lo <= order < self._split_hi:
            return 1  # expand()'s upper half
        excess = self._split_base + (1 << lo) - self._split_end
        return (excess >> order) & 1 if order < lo else 0  # one block per set bit

    def nr_free(self, order: int) -> int:
        n = len(self._area[order])
        if self._pending:
            n += self._pending_blocks(order)
        return n

    def nr_free_all(self) -> tuple[int, ...]:
        """``nr_free`` of every order at once (a /proc/buddyinfo line)."""
        counts = [len(area) for area in self._area]
        if self._pending:
            for order in range(self.max_order + 1):
                counts[order] += self._pending_blocks(order)
        return tuple(counts)

    def largest_free_order(self) -> int:
        top = self._nonempty.bit_length() - 1
        if self._pending:  # read after every step of a run: no max() call
            lo, hi = self._split_lo, self._split_hi
            split = (
                hi - 1
                if hi > lo
                else (self._split_base + (1 << lo) - self._split_end).bit_length() - 1
            )
            if split > top:
                return split
        return top

    def blocks(self, order: int) -> Iterator[int]:
        """Free blocks of one order, head first (list order)."""
        self._materialize()
        yield from reversed(self._area[order])

    def free_blocks(self) -> Iterator[tuple[int, int]]:
        """Every free block as ``(pfn, order)``, in ascending pfn order."""
        self._materialize()
        yield from sorted((pfn, order) for order, area in enumerate(self._area) for pfn in area)

    def is_free(self, pfn: int) -> bool:
        """Whether page *pfn* lies inside some free block (O(max_order))."""
        self._materialize()
        for order in range(self.max_order + 1):
            if pfn & ~((1 << order) - 1) in self._area[order]:
                return True
        return False

    def statistics(self) -> BuddyStatistics:
        return BuddyStatistics(
            nr_free=self.nr_free_all(),
            free_pages=self.free_count,
            managed_pages=self.managed,
            largest_free_order=self.largest_free_order(),
        )

    def validate(self) -> None:
        """Check alignment, bounds, no overlaps, no unmerged buddies, counts."""
        if self._pending:
            base, lo, hi = self._split_base, self._split_lo, self._split_hi
            if not 0 <= lo <= hi <= self.max_order or base & ((1 << hi) - 1):
                raise KernelBug(f"pending split {base:#x} orders {lo}..{hi} malformed")
            if not base < self._split_end <= base + (1 << lo):
                raise KernelBug(f"pending split {base:#x} ends at {self._split_end:#x}")
            for order in range(lo, hi):
                if self._area[order]:
                    raise KernelBug(f"list {order} has entries beside the pending split")
            self._materialize()
        for order in range(self.max_order + 1):
            if bool(self._area[order]) != bool(self._nonempty & (1 << order)):
                raise KernelBug(f"non-empty mask wrong for order {order}")
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
                    raise KernelBug(
                        f"free buddies pfn {pfn:#x} and {buddy:#x} of order {order} not merged"
                    )
