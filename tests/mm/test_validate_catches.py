"""Every ``validate()`` fails on the corruption it exists to catch.

One test per check: a healthy state passes, then one field is broken the way a
bug in the engine would break it, and ``validate()`` must raise
:class:`KernelBug` with the message that names the broken invariant. A
``validate`` replaced by ``return`` fails these tests.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

import nommu
from conftest import ANON, RW, z1024
from nommu.consts import VM_MAPPED_COPY
from nommu.errors import KernelBug
from nommu.mm.maple import RangeMap
from nommu.mm.memory import PhysicalMemory
from nommu.mm.page_alloc import BuddyAllocator
from nommu.mm.region import Region, RegionTree
from nommu.mm.vma import MM, VMA

P = 4096


def caught(check: Callable[[], None], message: str) -> None:
    """*check* raises KernelBug and its message matches *message* (a regex, whole)."""
    with pytest.raises(KernelBug) as info:
        check()
    assert info.match(f"^{message}$"), str(info.value)


# -- RangeMap (the maple tree) -------------------------------------------------------------
def range_map() -> RangeMap[str]:
    t: RangeMap[str] = RangeMap()
    t.store(0x1000, 0x3000, "a")
    t.store(0x5000, 0x6000, "b")
    t.validate()
    return t


def test_range_map_start_without_entry() -> None:
    t = range_map()
    t._starts.add(0x4000)
    caught(t.validate, "range map start 0x4000 has no entry")


def test_range_map_empty_entry() -> None:
    t = range_map()
    t._entries[0x5000] = (0x5000, "b")
    caught(t.validate, "range map entry 0x5000-0x5000 empty")


def test_range_map_overlap() -> None:
    t = range_map()
    t._entries[0x1000] = (0x5800, "a")
    caught(t.validate, "range map overlap at 0x5000")


def test_range_map_entry_without_start() -> None:
    t = range_map()
    t._entries[0x8000] = (0x9000, "c")
    caught(t.validate, "range map starts and entries differ")


# -- RegionTree ------------------------------------------------------------------------
def region_tree() -> tuple[RegionTree, Region]:
    tree = RegionTree()
    r = Region(VM_MAPPED_COPY, 0, None, 0x10000, 0x12000, 0x14000)
    tree.add(r)
    tree.validate()
    return tree, r


def test_region_filed_under_another_start() -> None:
    tree, r = region_tree()
    r.vm_start = 0x11000
    caught(tree.validate, r"Region\(0x11000-0x12000 .*\) filed under 0x10000")


def test_region_not_marked_in_tree() -> None:
    tree, r = region_tree()
    r.in_tree = False
    caught(tree.validate, r"Region\(0x10000-0x12000 .*\) not marked in tree")


def test_region_without_users() -> None:
    tree, r = region_tree()
    r.vm_usage = 0
    caught(tree.validate, r"Region\(.* usage=0\) in tree with no users")


def test_region_start_above_end() -> None:
    tree, r = region_tree()
    r.vm_end = 0xF000
    caught(tree.validate, r"Region\(0x10000-0xf000 .*\): start above end")
    r.shrunk = True  # a file shrink may leave exactly that: accepted
    tree.validate()


def test_region_end_above_top() -> None:
    tree, r = region_tree()
    r.vm_end = 0x15000
    caught(tree.validate, r"Region\(0x10000-0x15000 top=0x14000 .*\): end above top")


def shared_file_region() -> tuple[nommu.Machine, RegionTree]:
    m = z1024()
    p = m.spawn()
    fd = p.open("/tmp/x", nommu.O_CREAT | nommu.O_RDWR)
    p.ftruncate(fd, P)
    p.mmap(0, P, nommu.PROT_READ, nommu.MAP_SHARED, fd, 0)
    m.validate()
    return m, m.nommu.regions


def test_region_stale_in_inode_index() -> None:
    _, tree = shared_file_region()
    (per,) = tree._by_inode.values()
    (start,) = per
    per[start + P] = per.pop(start)
    caught(tree.validate, r"Region\(.*\) stale in index")


def test_shareable_region_missing_from_inode_index() -> None:
    _, tree = shared_file_region()
    tree._by_inode.clear()
    caught(tree.validate, "shareable-region index out of step with the tree")


# -- MM --------------------------------------------------------------------------------
def one_mapping() -> tuple[nommu.Machine, MM, VMA]:
    m = z1024()
    p = m.spawn()
    p.mmap(0, 2 * P, RW, ANON)
    mm = p.mm
    assert mm is not None
    (vma,) = mm.vmas()
    mm.validate()
    return m, mm, vma


def test_mm_tree_is_checked() -> None:
    _, mm, _ = one_mapping()
    mm.mt._starts.add(0x1000)
    caught(mm.validate, "range map start 0x1000 has no entry")


def test_mm_map_count_wrong() -> None:
    _, mm, _ = one_mapping()
    mm.map_count = 2
    caught(mm.validate, "map_count 2 != 1 VMAs [+] 0 hidden")


def test_mm_vma_of_another_mm() -> None:
    _, mm, vma = one_mapping()
    vma.vm_mm = MM()
    caught(mm.validate, r"VMA\(0x400000-0x402000 flags=0x\w+\) in the wrong mm")


def test_mm_tree_range_outside_its_vma() -> None:
    _, mm, vma = one_mapping()
    vma.vm_end = vma.vm_start + P
    caught(mm.validate, r"tree range 0x400000-0x402000 outside VMA\(0x400000-0x401000 .*\)")


def test_mm_vma_without_region() -> None:
    _, mm, vma = one_mapping()
    vma.vm_region = None
    caught(mm.validate, r"VMA\(0x400000-0x402000 .*\) has no region")


def test_mm_vma_outside_its_region() -> None:
    _, mm, vma = one_mapping()
    assert vma.vm_region is not None
    vma.vm_region.vm_top = vma.vm_region.vm_end = vma.vm_start + P
    caught(mm.validate, r"VMA\(0x400000-0x402000 .*\) outside its region Region\(.*\)")


# -- BuddyAllocator ----------------------------------------------------------------------
def zone() -> BuddyAllocator:
    z = BuddyAllocator(0x400, 0x800, 10)
    z.online(0x400, 0x800)
    z.validate()
    return z


def pending_zone() -> BuddyAllocator:
    """A zone whose last allocation's split is still pending."""
    z = zone()
    assert z.alloc_pages_exact(3) == 0x400
    assert z._pending
    return z


def test_buddy_pending_split_orders_malformed() -> None:
    z = pending_zone()
    z._split_lo = z._split_hi + 1
    caught(z.validate, r"pending split 0x400 orders 11\.\.10 malformed")


def test_buddy_pending_split_end_outside_its_block() -> None:
    z = pending_zone()
    z._split_end = z._split_base + (1 << z._split_lo) + 1
    caught(z.validate, "pending split 0x400 ends at 0x405")


def test_buddy_entries_beside_a_pending_split() -> None:
    z = pending_zone()
    z._area[5][0x7E0] = None  # an entry where the split's lists must be empty
    caught(z.validate, "list 5 has entries beside the pending split")


def test_buddy_nonempty_mask_wrong() -> None:
    z = zone()
    z._nonempty = 0
    caught(z.validate, "non-empty mask wrong for order 10")


def test_buddy_block_not_aligned() -> None:
    z = zone()
    z._area[10].clear()
    z._area[10][0x401] = None
    caught(z.validate, "free block pfn 0x401 not aligned to order 10")


def test_buddy_block_outside_the_zone() -> None:
    z = zone()
    z._area[10][0x800] = None
    caught(z.validate, "free block pfn 0x800 order 10 outside the zone")


def test_buddy_block_free_at_two_orders() -> None:
    z = zone()
    z._area[0][0x400] = None
    z._nonempty |= 1
    caught(z.validate, "pfn 0x400 is free at two orders")


def test_buddy_free_count_wrong() -> None:
    z = zone()
    z.free_count -= 1
    caught(z.validate, "free pages 1023 != listed 1024")


def test_buddy_blocks_overlap() -> None:
    z = zone()
    z._area[1][0x402] = None
    z._nonempty |= 2
    z.free_count += 2
    caught(z.validate, "free blocks overlap at pfn 0x402")


def test_buddy_unmerged_buddies() -> None:
    z = zone()
    assert z.alloc_pages(10) == 0x400
    z._add(0x400, 0, tail=False)
    z._add(0x401, 0, tail=False)
    z.free_count += 2
    caught(z.validate, "free buddies pfn 0x400 and 0x401 of order 0 not merged")


# -- PhysicalMemory ------------------------------------------------------------------------
def test_memory_page_outside_every_area() -> None:
    mem = PhysicalMemory(P)
    mem.add_area("RAM", 0x10000, 0x4000, writable=True)
    mem.write(0x10000, b"x")
    mem.validate()
    mem._pages[0x20] = bytearray(P)
    caught(mem.validate, "page 0x20000 holds data outside every memory area")


# -- Nommu -------------------------------------------------------------------------------
def test_nommu_checks_its_region_tree() -> None:
    m, _, vma = one_mapping()
    assert vma.vm_region is not None
    vma.vm_region.vm_usage = 0
    caught(m.nommu.validate, r"Region\(.* usage=0\) in tree with no users")


def test_nommu_copy_pages_below_zero() -> None:
    m = z1024()
    m.nommu.mmap_pages_allocated = -1
    caught(m.nommu.validate, "mmap_pages_allocated below zero")


def test_nommu_copy_pages_miscounted() -> None:
    m, _, _ = one_mapping()
    m.nommu.mmap_pages_allocated += 1
    caught(m.nommu.validate, r"mmap_pages_allocated 3 != copy pages 2 \(stranded included\)")


def test_nommu_counts_stranded_pages() -> None:
    m, _, _ = one_mapping()
    m.nommu.stranded.append((0x500, 0x501))
    caught(m.nommu.validate, r"mmap_pages_allocated 2 != copy pages 3 \(stranded included\)")


# -- Machine ---------------------------------------------------------------------------
def test_machine_checks_the_zone_nommu_and_memory() -> None:
    m = z1024()
    m.zone.free_count += 1
    caught(m.validate, "free pages 1025 != listed 1024")
    m = z1024()
    m.nommu.mmap_pages_allocated = -1
    caught(m.validate, "mmap_pages_allocated below zero")
    m = z1024()
    m.memory._pages[0x7FFFF] = bytearray(P)
    caught(m.validate, "page 0x7ffff000 holds data outside every memory area")


def test_machine_allocation_overlapping_a_free_block() -> None:
    m, _, vma = one_mapping()
    m.zone.free_pages((vma.vm_start >> 12) + 1)  # a page of a live copy goes back
    caught(m.validate, r"free block pfn 0x401 order 0 overlaps region Region\(.*\) at pfn 0x401")


def test_machine_allocation_outside_ram() -> None:
    m, _, _ = one_mapping()
    m.nommu.stranded.append((0x800, 0x801))
    m.nommu.mmap_pages_allocated += 1
    caught(m.validate, r"stranded copy pages pfn 0x800-0x801 outside RAM")


def test_machine_pages_not_conserved() -> None:
    m = z1024()
    assert m.zone.alloc_pages(0) == 0x400  # taken behind the model's back: nobody owns it
    caught(
        m.validate,
        r"pages not conserved: free 1023 \+ allocated 0 \+ reserved 1024 != total 2048",
    )


def test_machine_checks_every_mm() -> None:
    m, mm, _ = one_mapping()
    mm.map_count += 1
    caught(m.validate, r"map_count 2 != 1 VMAs \+ 0 hidden")


def test_machine_region_usage_against_vmas() -> None:
    m, _, vma = one_mapping()
    region = vma.vm_region
    assert region is not None
    region.vm_usage = 2
    caught(m.validate, r"Region\(.* usage=2\): vm_usage 2 but 1 VMAs use it")


def test_machine_counts_leaked_vmas_as_users() -> None:
    m, mm, vma = one_mapping()
    region = vma.vm_region
    assert region is not None
    m.nommu.leaked_vmas.append(VMA(mm, vma.vm_flags, 0, None, 0, 0, region))
    caught(m.validate, r"Region\(.* usage=1\): vm_usage 1 but 2 VMAs use it")
