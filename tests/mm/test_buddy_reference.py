"""The fast buddy allocator against the literal page-at-a-time reference.

The fast one frees ranges as aligned blocks and keeps the last split pending
(see :class:`nommu.mm.page_alloc.BuddyAllocator`); both are claimed to give
exactly the kernel's lists. After every step of a random run every list must
be equal, entry for entry, head first.
"""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from reference_buddy import ReferenceBuddy

from nommu.mm.page_alloc import BuddyAllocator

MAX_ORDER = 5
BASE = 0x40
SPAN = 3 << MAX_ORDER


class BuddyAgainstReference(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.fast = BuddyAllocator(BASE, BASE + SPAN, MAX_ORDER)
        self.ref = ReferenceBuddy(BASE, BASE + SPAN, MAX_ORDER)
        # online all but a few "kernel" pages, so blocks start unevenly
        self.fast.online(BASE + 3, BASE + SPAN - 1)
        self.ref.online(BASE + 3, BASE + SPAN - 1)
        self.held: list[tuple[int, int]] = []  # (pfn, npages) runs handed out

    @rule(order=st.integers(0, MAX_ORDER + 1))
    def alloc_pages(self, order: int) -> None:
        got = self.fast.alloc_pages(order)
        assert got == self.ref.alloc_pages(order)
        if got is not None:
            self.held.append((got, 1 << order))

    @rule(npages=st.integers(1, (1 << MAX_ORDER) + 1))
    def alloc_pages_exact(self, npages: int) -> None:
        got = self.fast.alloc_pages_exact(npages)
        assert got == self.ref.alloc_pages_exact(npages)
        if got is not None:
            self.held.append((got, npages))

    @precondition(lambda self: self.held)
    @rule(pick=st.integers(0, 1 << 16))
    def free_whole(self, pick: int) -> None:
        pfn, n = self.held.pop(pick % len(self.held))
        self.fast.free_page_series(pfn, pfn + n)
        self.ref.free_page_series(pfn, pfn + n)

    @precondition(lambda self: self.held)
    @rule(pick=st.integers(0, 1 << 16), cut=st.integers(1, 1 << MAX_ORDER), head=st.booleans())
    def free_part(self, pick: int, cut: int, head: bool) -> None:
        """A head or tail cut, as munmap of part of a mapping frees it."""
        i = pick % len(self.held)
        pfn, n = self.held[i]
        if n < 2:
            return
        cut = 1 + cut % (n - 1)
        if head:
            self.fast.free_page_series(pfn, pfn + cut)
            self.ref.free_page_series(pfn, pfn + cut)
            self.held[i] = (pfn + cut, n - cut)
        else:
            self.fast.free_page_series(pfn + n - cut, pfn + n)
            self.ref.free_page_series(pfn + n - cut, pfn + n)
            self.held[i] = (pfn, n - cut)

    @precondition(lambda self: self.held)
    @rule(pick=st.integers(0, 1 << 16))
    def free_single_page_block(self, pick: int) -> None:
        """``free_pages(pfn, 0)`` of the first page (as ramfs frees page-cache pages)."""
        i = pick % len(self.held)
        pfn, n = self.held[i]
        self.fast.free_pages(pfn, 0)
        self.ref.free_pages(pfn, 0)
        if n == 1:
            del self.held[i]
        else:
            self.held[i] = (pfn + 1, n - 1)

    @rule()
    def look(self) -> None:
        """A view in the middle of things (writes out the pending split)."""
        assert [list(self.fast.blocks(o)) for o in range(MAX_ORDER + 1)] == self.ref.lists

    @invariant()
    def same_counts(self) -> None:
        """Counts read the pending split without writing it out; they must agree."""
        assert self.fast.free_count == self.ref.free_count
        counts = [len(blocks) for blocks in self.ref.lists]
        assert [self.fast.nr_free(o) for o in range(MAX_ORDER + 1)] == counts
        assert list(self.fast.nr_free_all()) == counts
        nonempty = [o for o, blocks in enumerate(self.ref.lists) if blocks]
        assert self.fast.largest_free_order() == (nonempty[-1] if nonempty else -1)

    def teardown(self) -> None:
        assert [list(self.fast.blocks(o)) for o in range(MAX_ORDER + 1)] == self.ref.lists
        self.fast.validate()


TestBuddyAgainstReference = BuddyAgainstReference.TestCase


def test_pending_split_is_invisible_to_views() -> None:
    """Right after an exact allocation the lists read as the kernel left them."""
    fast = BuddyAllocator(0, 64, 5)
    ref = ReferenceBuddy(0, 64, 5)
    fast.online(0, 64)
    ref.online(0, 64)
    assert fast.alloc_pages_exact(5) == ref.alloc_pages_exact(5) == 0
    assert fast.nr_free(0) == 1 and fast.nr_free(1) == 1  # 5 | 6-7, at the tails
    assert [list(fast.blocks(o)) for o in range(6)] == ref.lists
    fast.free_page_series(0, 5)
    ref.free_page_series(0, 5)
    assert [list(fast.blocks(o)) for o in range(6)] == ref.lists == [[], [], [], [], [], [0, 32]]
