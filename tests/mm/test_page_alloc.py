"""The buddy allocator against the kernel's placement rules and a reference model."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nommu.errors import KernelBug
from nommu.mm.page_alloc import BuddyAllocator


def zone(order: int = 4, nblocks: int = 1, base: int = 0x400) -> BuddyAllocator:
    z = BuddyAllocator(base, base + nblocks * (1 << order), order)
    z.online(base, base + nblocks * (1 << order))
    return z


def test_online_hands_over_maximal_blocks_ascending_to_tails() -> None:
    z = BuddyAllocator(0, 0x40, 4)
    z.online(3, 0x3D)
    assert list(z.free_blocks()) == [
        (3, 0),
        (4, 2),
        (8, 3),
        (16, 4),
        (32, 4),
        (48, 3),
        (56, 2),
        (60, 0),
    ]
    assert list(z.blocks(4)) == [16, 32]  # ascending: the lowest block is taken first
    assert z.free_count == 0x3D - 3
    z.validate()


def test_expand_puts_upper_halves_at_list_heads() -> None:
    z = zone(order=4, nblocks=2)
    assert z.alloc_pages(0) == 0x400
    assert [z.nr_free(o) for o in range(5)] == [1, 1, 1, 1, 1]
    assert list(z.blocks(3)) == [0x408]
    assert z.alloc_pages(3) == 0x408
    assert z.alloc_pages(2) == 0x404


def test_alloc_pages_exact_returns_excess_to_tails_merging() -> None:
    z = zone(order=10)
    assert z.alloc_pages_exact(5) == 0x400
    # 0x405 order 0; 0x406+0x407 merged to order 1
    assert list(z.blocks(0)) == [0x405]
    assert list(z.blocks(1)) == [0x406]
    assert z.free_count == 1024 - 5
    z.validate()


def test_tail_placement_of_exact_excess_behind_existing_blocks() -> None:
    z = zone(order=4)
    a = z.alloc_pages(0)
    b = z.alloc_pages(0)
    assert (a, b) == (0x400, 0x401)
    c = z.alloc_pages_exact(3)  # order-2 block at 0x404; 0x407 goes to the tail of order 0
    assert c == 0x404
    # ordinary free: buddy 0x401 is busy, but the order-1 buddy of the pair (0x402) is
    # free, so a merge is likely soon: buddy_merge_likely() sends it to the tail
    z.free_pages(a)
    assert list(z.blocks(0)) == [0x407, 0x400]
    z.free_pages(b)  # merges up to order 2 at 0x400 (0x404 is busy): head
    assert list(z.blocks(2)) == [0x400]


def test_buddy_merge_likely_sends_to_tail() -> None:
    z = zone(order=4)
    pages = [z.alloc_pages(0) for _ in range(4)]  # 0x400..0x403; 0x404 o2, 0x408 o3 free
    z.free_pages(pages[2])  # higher buddy 0x400 (order 1) not free -> head
    z.free_pages(pages[0])  # pfn 0x400, buddy 0x401 busy; higher (0x402, order 1)? not free
    assert list(z.blocks(0)) == [0x400, 0x402]
    z.free_pages(pages[3])  # merges with 0x402 -> order 1; higher buddy 0x404 o2 free -> tail
    assert list(z.blocks(1)) == [0x402]
    z.validate()


def test_exhaustion_and_refusal_above_max_order() -> None:
    z = zone(order=3)
    assert z.alloc_pages(4) is None
    assert z.alloc_pages_exact(9) is None
    assert z.alloc_pages(3) == 0x400
    assert z.alloc_pages(0) is None
    z.free_pages(0x400, 3)
    assert list(z.free_blocks()) == [(0x400, 3)]


def test_validate_catches_unmerged_buddies() -> None:
    z = zone(order=2)
    z.alloc_pages(2)
    z._add(0x400, 0, tail=False)
    z._add(0x401, 0, tail=False)
    z.free_count += 2
    with pytest.raises(KernelBug, match="not merged"):
        z.validate()


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 6), st.integers(0, 50)), max_size=80))
def test_random_alloc_free_conserves_pages(ops: list[tuple[bool, int, int]]) -> None:
    """Against a set-of-pages reference: no page handed out twice, all come back."""
    z = zone(order=6, nblocks=2)
    total = z.free_count
    held: list[tuple[int, int]] = []
    used: set[int] = set()
    for is_alloc, order, pick in ops:
        if is_alloc or not held:
            exact = pick % 2 == 0
            n = max(1, (1 << order) - pick % 3) if exact else 1 << order
            pfn = z.alloc_pages_exact(n) if exact else z.alloc_pages(order)
            if pfn is None:
                continue
            pages = set(range(pfn, pfn + n))
            assert not pages & used
            used |= pages
            held.append((pfn, n))
        else:
            pfn, n = held.pop(pick % len(held))
            z.free_page_series(pfn, pfn + n)
            used -= set(range(pfn, pfn + n))
        assert z.free_count + len(used) == total
        z.validate()
    for pfn, n in held:
        z.free_page_series(pfn, pfn + n)
    assert list(z.free_blocks()) == [(0x400, 6), (0x440, 6)]
