"""A literal, page-at-a-time buddy allocator: the reference the fast one must match.

Every rule written out the slow way the kernel runs it: ``expand()`` puts each
upper half on its list at once, ``make_alloc_exact()`` and
``free_page_series()`` free one page at a time, each through the full
``__free_one_page()`` merge. Lists are plain Python lists, head first.
"""

from __future__ import annotations


class ReferenceBuddy:
    def __init__(self, start_pfn: int, end_pfn: int, max_order: int) -> None:
        self.start_pfn = start_pfn
        self.end_pfn = end_pfn
        self.max_order = max_order
        self.lists: list[list[int]] = [[] for _ in range(max_order + 1)]
        self.free_count = 0

    def alloc_pages(self, order: int) -> int | None:
        if not 0 <= order <= self.max_order:
            return None
        for current in range(order, self.max_order + 1):
            if self.lists[current]:
                break
        else:
            return None
        head = self.lists[current].pop(0)
        while current > order:
            current -= 1
            self.lists[current].insert(0, head + (1 << current))
        self.free_count -= 1 << order
        return head

    def alloc_pages_exact(self, npages: int) -> int | None:
        order = max(npages - 1, 0).bit_length()
        pfn = self.alloc_pages(order)
        if pfn is None:
            return None
        for page in range(pfn + npages, pfn + (1 << order)):
            self.free_one(page, 0, to_tail=True)
        return pfn

    def free_one(self, pfn: int, order: int, *, to_tail: bool | None) -> None:
        self.free_count += 1 << order
        while order < self.max_order:
            buddy = pfn ^ (1 << order)
            if buddy not in self.lists[order]:
                break
            self.lists[order].remove(buddy)
            pfn = min(pfn, buddy)
            order += 1
        if to_tail is None:
            to_tail = False
            if order < self.max_order - 1:
                higher_buddy = (pfn & ~(1 << order)) ^ (1 << (order + 1))
                to_tail = higher_buddy in self.lists[order + 1]
        if to_tail:
            self.lists[order].append(pfn)
        else:
            self.lists[order].insert(0, pfn)

    def free_pages(self, pfn: int, order: int = 0) -> None:
        self.free_one(pfn, order, to_tail=None)

    def free_page_series(self, start_pfn: int, end_pfn: int) -> None:
        for page in range(start_pfn, end_pfn):
            self.free_one(page, 0, to_tail=None)

    def online(self, start_pfn: int, end_pfn: int) -> None:
        pfn = start_pfn
        while pfn < end_pfn:
            order = min(self.max_order, (pfn & -pfn).bit_length() - 1 if pfn else self.max_order)
            while pfn + (1 << order) > end_pfn:
                order -= 1
            self.free_one(pfn, order, to_tail=True)
            pfn += 1 << order
