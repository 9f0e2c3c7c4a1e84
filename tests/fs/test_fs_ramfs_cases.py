"""ramfs and tmpfs on NOMMU: truncate, direct mappings, write-through (fs/ramfs/file-nommu.c)."""

from __future__ import annotations

import errno

import pytest
from fsutil import PRIV, RW, SHARED, P, R, W, X, errno_of, maps_lines, pad

import nommu
from conftest import buddy, free_pages, meminfo, z1024

RAMDEV = "00:11"  # the first mount after /, /dev, /dev/shm and /proc


def ram_machine() -> tuple[nommu.Machine, nommu.Process, nommu.Process]:
    m = z1024()
    m.mount("ramfs", "/ram")
    return m, m.spawn(name="P1"), m.spawn(name="P2")


def rf(p: nommu.Process, n: int, name: str = "f") -> int:
    """RF(n): create /ram/<name> and truncate it to n from size 0."""
    fd = p.open(f"/ram/{name}", nommu.O_CREAT | nommu.O_RDWR, 0o644)
    p.ftruncate(fd, n)
    return fd


def ino(p: nommu.Process, path: str) -> int:
    return p.stat(path).st_ino


# -- C83 size limits ----------------------------------------------------------------------
def test_c83_order_11_is_efbig() -> None:
    m, p1, _ = ram_machine()
    fd = p1.open("/ram/g", nommu.O_CREAT | nommu.O_RDWR)
    assert errno_of(p1.ftruncate, fd, (4 << 20) + 1) == errno.EFBIG
    assert p1.stat("/ram/g").st_size == 0
    p1.ftruncate(fd, 4 << 20)
    assert free_pages(m) == 0
    assert meminfo(m, "Cached") == 4096
    assert meminfo(m, "Unevictable") == 4096
    m.validate()


def test_c83_enomem_leaves_the_size_set() -> None:
    m, p1, _ = ram_machine()
    p1.mmap(0, P, RW, nommu.MAP_PRIVATE | nommu.MAP_ANONYMOUS)  # breaks the order-10 block
    fd = p1.open("/ram/g", nommu.O_CREAT | nommu.O_RDWR)
    assert errno_of(p1.ftruncate, fd, 4 << 20) == errno.ENOMEM
    assert p1.stat("/ram/g").st_size == 4194304
    assert meminfo(m, "Cached") == 0
    assert errno_of(p1.mmap, 0, 4096, R, SHARED, fd, 0) == errno.ENODEV
    assert p1.pread(fd, 8, 100) == bytes(8)
    assert any("page allocation failure: order:10" in line for line in m.dmesg())
    assert not any(line.startswith("nommu: Allocation of length") for line in m.dmesg())
    m.validate()


def test_c83_rlimit_fsize() -> None:
    _, p1, _ = ram_machine()
    p1.rlimit_fsize = 4096
    fd = p1.open("/ram/g", nommu.O_CREAT | nommu.O_RDWR)
    assert errno_of(p1.ftruncate, fd, 8192) == errno.EFBIG


def test_truncate_from_zero_above_4g_is_efbig() -> None:
    _, p1, _ = ram_machine()
    fd = p1.open("/ram/g", nommu.O_CREAT | nommu.O_RDWR)
    assert errno_of(p1.ftruncate, fd, 1 << 32) == errno.EFBIG
    assert p1.stat("/ram/g").st_size == 0


# -- C85-C89 MAP_SHARED maps the page cache -----------------------------------------------
def test_c85_map_shared_maps_the_page_cache() -> None:
    m, p1, _ = ram_machine()
    fd = rf(p1, 8192)
    before = free_pages(m)
    s = p1.mmap(0, 8192, RW, SHARED, fd, 0)
    assert s == 0x00400000
    assert free_pages(m) == before == 1022
    assert meminfo(m, "MmapCopy") == 0
    line = pad(f"00400000-00402000 rw-S 00000000 {RAMDEV} {ino(p1, '/ram/f')} ", "/ram/f")
    assert maps_lines(m, p1.pid) == [line]
    assert maps_lines(m) == [line]
    m.validate()


def test_c87_subset_attach() -> None:
    m, p1, p2 = ram_machine()
    fd = rf(p1, 8192)
    p1.mmap(0, 8192, RW, SHARED, fd, 0)
    fd2 = p2.open("/ram/f", nommu.O_RDWR)
    a = p2.mmap(0, 4096, R, SHARED, fd2, 4096)
    assert a == 0x00401000
    i = ino(p1, "/ram/f")
    assert maps_lines(m, p2.pid) == [
        pad(f"00401000-00402000 r--S 00001000 {RAMDEV} {i} ", "/ram/f")
    ]
    assert len(maps_lines(m)) == 1
    m.validate()


def test_c89_access_mode_checks() -> None:
    _, p1, _ = ram_machine()
    rf(p1, 8192)
    fd = p1.open("/ram/f", nommu.O_RDONLY)
    assert errno_of(p1.mmap, 0, 8192, RW, SHARED, fd, 0) == errno.EACCES
    assert p1.mmap(0, 8192, R, SHARED, fd, 0) == 0x00400000


# -- C91/C93 holes and write() ------------------------------------------------------------
def test_c91_growing_a_non_empty_file_leaves_holes() -> None:
    m, p1, _ = ram_machine()
    fd = p1.open("/ram/h", nommu.O_CREAT | nommu.O_RDWR)
    p1.ftruncate(fd, 4096)
    assert free_pages(m) == 1023
    p1.ftruncate(fd, 8192)
    assert free_pages(m) == 1023
    assert errno_of(p1.mmap, 0, 8192, RW, SHARED, fd, 0) == errno.ENODEV
    assert p1.mmap(0, 4096, RW, SHARED, fd, 0) == 0x00400000
    before = free_pages(m)
    c = p1.mmap(0, 8192, R, PRIV, fd, 0)
    # two pages of copy, and the copy's kernel_read() reads the hole into the page cache
    assert free_pages(m) == before - 3
    assert meminfo(m, "Cached") == 8  # kB
    assert c != 0x00400000
    assert p1.peek(c, 8192) == bytes(8192)
    m.validate()


def test_reading_a_hole_caches_a_zeroed_page() -> None:
    """filemap_read(): a hole inside the file is read in (simple_read_folio() zeroes a
    new page-cache page), one page per hole page the read touches; reads past EOF and
    pages already cached take nothing (seen on 6.1 and 6.12: Cached +4 kB)."""
    m, p1, _ = ram_machine()
    fd = p1.open("/ram/h", nommu.O_CREAT | nommu.O_RDWR)
    p1.pwrite(fd, b"end", 2 * P)  # pages 0-1 are holes
    assert meminfo(m, "Cached") == 4  # kB
    before = free_pages(m)
    assert p1.pread(fd, 16, 0) == bytes(16)
    assert (free_pages(m), meminfo(m, "Cached")) == (before - 1, 8)
    assert p1.pread(fd, 16, 0) == bytes(16)  # cached now
    assert p1.pread(fd, 2 * P, P - 8) == bytes(P + 8) + b"end"  # page 1: read in too
    assert (free_pages(m), meminfo(m, "Cached")) == (before - 2, 12)
    assert p1.pread(fd, 16, 3 * P) == b""  # past EOF: nothing
    assert free_pages(m) == before - 2
    m.validate()


def test_c93_file_built_by_write() -> None:
    m, p1, _ = ram_machine()
    fd = p1.open("/ram/w", nommu.O_CREAT | nommu.O_RDWR)
    assert p1.write(fd, b"\x11" * 8192) == 8192
    assert free_pages(m) == 1022
    assert p1.mmap(0, 8192, RW, SHARED, fd, 0) == 0x00400000
    m.validate()


def test_write_allocates_pages_one_at_a_time_and_may_not_be_contiguous() -> None:
    m, p1, _ = ram_machine()
    fd = p1.open("/ram/w", nommu.O_CREAT | nommu.O_RDWR)
    p1.write(fd, b"a" * 4096)  # page 0 at 0x400000
    gap = p1.mmap(0, P, RW, nommu.MAP_PRIVATE | nommu.MAP_ANONYMOUS)  # 0x401000
    assert gap == 0x00401000
    p1.write(fd, b"b" * 4096)  # page 1 at 0x402000: not next to page 0
    assert errno_of(p1.mmap, 0, 8192, RW, SHARED, fd, 0) == errno.ENODEV
    c = p1.mmap(0, 8192, R, PRIV, fd, 0)  # read-only private: copy (ENOSYS fallback)
    assert p1.peek(c, 8192) == b"a" * 4096 + b"b" * 4096
    assert buddy(m) != ""
    m.validate()


# -- C95 writable private is a copy --------------------------------------------------------
def test_c95_writable_private_mapping_is_a_copy() -> None:
    m, p1, _ = ram_machine()
    fd = rf(p1, 8192)
    p1.pwrite(fd, b"file", 0)
    w = p1.mmap(0, 8192, RW, PRIV, fd, 0)
    assert w != 0x00400000
    assert free_pages(m) == 1020
    assert meminfo(m, "MmapCopy") == 8
    assert p1.peek(w, 4) == b"file"
    p1.poke(w, b"WXYZ")
    assert p1.pread(fd, 4, 0) == b"file"
    p1.pwrite(fd, b"new!", 0)
    assert p1.peek(w, 4) == b"WXYZ"
    m.validate()


# -- C97/C99 shrinking ----------------------------------------------------------------------
def test_c97_shrink_allowed_when_no_shared_vma_covers_the_cut() -> None:
    m, p1, _ = ram_machine()
    fd = rf(p1, 8192)
    p1.mmap(0, 4096, RW, SHARED, fd, 0)
    line = maps_lines(m)
    p1.ftruncate(fd, 4096)
    assert free_pages(m) == 1023
    assert buddy(m) == "1 1 1 1 1 1 1 1 1 1 0"
    assert maps_lines(m) == line
    assert errno_of(p1.ftruncate, fd, 100) == errno.ETXTBSY
    assert p1.stat("/ram/f").st_size == 4096
    m.validate()


def test_shrink_trims_a_shared_region_beyond_eof() -> None:
    """A region longer than its remaining VMAs is cut back to the new EOF (11.3 step 3)."""
    m, p1, p2 = ram_machine()
    fd = rf(p1, 3 * P)
    whole = p1.mmap(0, 3 * P, RW, SHARED, fd, 0)
    fd2 = p2.open("/ram/f", nommu.O_RDWR)
    assert p2.mmap(0, P, RW, SHARED, fd2, 0) == whole  # page 0, inside the region
    assert errno_of(p1.ftruncate, fd, P) == errno.ETXTBSY  # P1's VMA covers pages 0-2
    p1.munmap(whole, 3 * P)
    p1.ftruncate(fd, P)  # P2 only maps page 0: allowed; the region is trimmed
    i = ino(p1, "/ram/f")
    assert maps_lines(m) == [pad(f"00400000-00401000 rw-S 00000000 {RAMDEV} {i} ", "/ram/f")]
    assert free_pages(m) == 1023
    # a later mapping cannot share beyond the trimmed region
    assert errno_of(p1.mmap, 0, 2 * P, R, SHARED, fd, 0) == errno.ENODEV
    m.validate()


def test_c99_truncate_under_a_read_only_private_overlay_h5() -> None:
    m, p1, _ = ram_machine()
    fd = rf(p1, 8192)
    o = p1.mmap(0, 8192, R, PRIV, fd, 0)
    assert o == 0x00400000
    assert free_pages(m) == 1022
    p1.ftruncate(fd, 0)
    assert free_pages(m) == 1024
    i = ino(p1, "/ram/f")
    assert maps_lines(m) == [pad(f"00400000-00402000 r--p 00000000 {RAMDEV} {i} ", "/ram/f")]
    # the overlay now aliases free memory: the model stays consistent
    m.validate()
    # the dangling region still holds its start address: the next allocation of
    # those pages makes a region with the same start, the kernel's BUG() (H1)
    with pytest.raises(nommu.KernelOops):
        p1.mmap(0, 8192, RW, nommu.MAP_PRIVATE | nommu.MAP_ANONYMOUS)
    assert free_pages(m) == 1024
    assert meminfo(m, "MmapCopy") == 0
    m.validate()
    p1.munmap(o, 8192)
    assert p1.mmap(0, 8192, RW, nommu.MAP_PRIVATE | nommu.MAP_ANONYMOUS) == o
    m.validate()


def test_shrink_checks_only_pages_touched() -> None:
    """The dead zone starts at newsize >> PAGE_SHIFT: 8192 -> 4097 with page 1 mapped."""
    _, p1, _ = ram_machine()
    fd = rf(p1, 8192)
    p1.mmap(0, 4096, RW, SHARED, fd, 4096)
    assert errno_of(p1.ftruncate, fd, 4097) == errno.ETXTBSY
    p1.pwrite(fd, b"\x55" * 8192, 0)
    # a partial last page keeps its page but its tail is zeroed
    fd2 = rf(p1, 8192, "g")
    p1.pwrite(fd2, b"\x55" * 8192, 0)
    p1.ftruncate(fd2, 4097)
    p1.ftruncate(fd2, 8192)  # growing again: a hole for page 1, the tail of page 0 zero
    assert p1.pread(fd2, 8192, 0) == b"\x55" * 4097 + bytes(8192 - 4097)


# -- C101 overlapping regions and H1 ------------------------------------------------------------
def test_c101_overlapping_regions_with_different_starts() -> None:
    m, p1, p2 = ram_machine()
    fd = rf(p1, 8192)
    assert p1.mmap(0, 4096, RW, SHARED, fd, 4096) == 0x00401000
    fd2 = p2.open("/ram/f", nommu.O_RDWR)
    assert p2.mmap(0, 8192, RW, SHARED, fd2, 0) == 0x00400000
    i = ino(p1, "/ram/f")
    assert maps_lines(m) == [
        pad(f"00400000-00402000 rw-S 00000000 {RAMDEV} {i} ", "/ram/f"),
        pad(f"00401000-00402000 rw-S 00001000 {RAMDEV} {i} ", "/ram/f"),
    ]
    p1.poke(0x00401000, b"one")
    assert p2.peek(0x00401000, 3) == b"one"
    p2.poke(0x00401003, b"two")
    assert p1.peek(0x00401000, 6) == b"onetwo"
    m.validate()


def test_h1_same_start_superset_is_a_kernel_bug() -> None:
    m, p1, p2 = ram_machine()
    fd = rf(p1, 8192)
    assert p1.mmap(0, 4096, RW, SHARED, fd, 0) == 0x00400000
    fd2 = p2.open("/ram/f", nommu.O_RDWR)
    free, regions, text = free_pages(m), maps_lines(m), m.cat("/proc/meminfo")
    with pytest.raises(nommu.KernelOops):
        p2.mmap(0, 8192, RW, SHARED, fd2, 0)
    assert any("add_nommu_region" in line for line in m.dmesg())
    assert free_pages(m) == free
    assert maps_lines(m) == regions
    assert m.cat("/proc/meminfo") == text
    assert maps_lines(m, p2.pid) == []
    m.validate()
    p2.close(fd2)
    m.validate()


# -- H6 MAP_SHARED attaches to a copy ----------------------------------------------------------
def test_h6_map_shared_can_attach_to_a_private_copy() -> None:
    m, p1, p2 = ram_machine()
    fd = p1.open("/ram/e", nommu.O_CREAT | nommu.O_RDWR)
    assert errno_of(p1.mmap, 0, 4096, RW, SHARED, fd, 0) == errno.ENODEV  # empty file
    c = p1.mmap(0, 4096, R, PRIV, fd, 0)  # past EOF: a shareable zero-filled copy
    fd2 = p2.open("/ram/e", nommu.O_RDWR)
    s = p2.mmap(0, 4096, RW, SHARED, fd2, 0)
    assert s == c
    assert maps_lines(m, p2.pid)[0].startswith(f"{s:08x}-{s + P:08x} rw-S ")
    p2.poke(s, b"lost")
    assert p2.pread(fd2, 4, 0) == b""  # never reaches the file
    assert p1.peek(c, 4) == b"lost"
    p1.munmap(c, 4096)
    p2.munmap(s, 4096)
    assert meminfo(m, "MmapCopy") == 0
    m.validate()


def test_h6_copy_trimmed_by_a_shrink_strands_its_tail() -> None:
    """nommu_shrink_inode_mappings trims the region of any VM_SHARED VMA, copies included:
    the copy then frees only up to its new top, and the pages cut off stay in MmapCopy."""
    m, p1, p2 = ram_machine()
    fd = rf(p1, 2 * P)
    c = p1.mmap(0, 3 * P, R, PRIV, fd, 0)  # past EOF: a shareable copy of 3 pages
    fd2 = p2.open("/ram/f", nommu.O_RDWR)
    assert p2.mmap(0, P, RW, SHARED, fd2, 0) == c  # H6: attaches to the copy
    before = free_pages(m)
    p1.ftruncate(fd, P)  # the MAP_SHARED VMA covers page 0 only: allowed
    assert maps_lines(m)[0].startswith(f"{c:08x}-{c + P:08x} r--p ")  # the region: 1 page
    assert meminfo(m, "MmapCopy") == 12
    m.validate()
    p1.munmap(c, 3 * P)
    p2.munmap(c, P)
    assert meminfo(m, "MmapCopy") == 8  # the two pages cut off are never freed
    assert free_pages(m) == before + 1 + 1  # the copy's first page and the file's page 1
    assert m.nommu.stranded == [((c + P) // P, (c + 3 * P) // P)]
    from nommu.analysis.snapshot import KIND_OTHER, capture

    assert [
        (a.start_pfn, a.npages, a.label) for a in capture(m).allocations if a.kind == KIND_OTHER
    ] == [((c + P) // P, 2, "copy pages stranded by a file shrink")]
    m.validate()


def test_shrink_below_a_copy_past_the_old_eof_inverts_its_region() -> None:
    """The dead-zone check looks at pages up to the old EOF only; the trim is unsigned
    arithmetic on every VM_SHARED region: a copy beyond EOF ends below its start, and its
    release frees nothing (free_page_series steps only while below the top)."""
    m, p1, p2 = ram_machine()
    fd = rf(p1, P)
    c = p1.mmap(0, P, R, PRIV, fd, 2 * P)  # page 2 of a 1-page file: a copy
    fd2 = p2.open("/ram/f", nommu.O_RDWR)
    assert p2.mmap(0, P, RW, SHARED, fd2, 2 * P) == c  # H6
    p1.ftruncate(fd, 0)  # page 2 lies beyond the old EOF: not in the dead zone
    assert maps_lines(m) == [pad(f"{c:08x}-{c - 2 * P:08x} r--p 00002000 00:11 2 ", "/ram/f")]
    assert maps_lines(m, p1.pid) == [pad(f"{c:08x}-{c + P:08x} r--p 00002000 00:11 2 ", "/ram/f")]
    m.validate()
    p1.munmap(c, P)
    p2.munmap(c, P)
    assert maps_lines(m) == []
    assert meminfo(m, "MmapCopy") == 4
    assert m.nommu.stranded == [(c // P, c // P + 1)]
    m.validate()


def test_an_unaligned_top_still_frees_its_partial_page() -> None:
    """A shrink to an unaligned size leaves the copy's top inside a page; releasing it
    frees that page too (free_page_series steps while below the top)."""
    m, p1, p2 = ram_machine()
    fd = rf(p1, 2 * P)
    c = p1.mmap(0, 3 * P, R, PRIV, fd, 0)  # a 3-page copy
    fd2 = p2.open("/ram/f", nommu.O_RDWR)
    assert p2.mmap(0, P, RW, SHARED, fd2, 0) == c
    p1.ftruncate(fd, P + 7)
    assert maps_lines(m) == [pad(f"{c:08x}-{c + P + 7:08x} r--p 00000000 00:11 2 ", "/ram/f")]
    assert m.nommu.stranded == [(c // P + 2, c // P + 3)]
    before = free_pages(m)
    p1.munmap(c, 3 * P)
    p2.munmap(c, P)
    assert free_pages(m) == before + 2  # the whole page and the partial one
    assert meminfo(m, "MmapCopy") == 4
    m.validate()


def test_private_overlay_sharing_a_trimmed_region_reaches_past_it() -> None:
    """A read-only private overlay is not checked by the shrink (H5) but its region is
    trimmed when a MAP_SHARED VMA shares it: the private VMA ends past its region."""
    m, p1, p2 = ram_machine()
    fd = rf(p1, 2 * P)
    o = p1.mmap(0, 2 * P, R, PRIV, fd, 0)  # direct overlay of both pages
    fd2 = p2.open("/ram/f", nommu.O_RDONLY)
    assert p2.mmap(0, P, R, SHARED, fd2, 0) == o  # shares the overlay's region
    p1.ftruncate(fd, P)
    assert maps_lines(m) == [pad(f"{o:08x}-{o + P:08x} r--p 00000000 00:11 2 ", "/ram/f")]
    assert maps_lines(m, p1.pid)[0].startswith(f"{o:08x}-{o + 2 * P:08x} r--p ")
    m.validate()
    p1.munmap(o, 2 * P)
    p2.munmap(o, P)
    assert maps_lines(m) == []
    m.validate()


# -- 11.4 get_unmapped_area, 11.6 outcomes -------------------------------------------------------
def test_private_read_only_is_a_direct_overlay_and_past_eof_a_copy() -> None:
    m, p1, _ = ram_machine()
    fd = rf(p1, 8192)
    assert p1.mmap(0, 8192, R, PRIV, fd, 0) == 0x00400000
    assert p1.mmap(0, 4096, R | X, PRIV, fd, 4096) == 0x00401000  # subset shares
    before = free_pages(m)
    c = p1.mmap(0, 4096, R, PRIV, fd, 2 * P)  # past EOF: -ENOSYS -> copy (compare romfs)
    assert c == 0x00402000  # the next free page, not part of the file
    assert free_pages(m) == before - 1
    assert meminfo(m, "MmapCopy") == 4
    assert p1.peek(c, P) == bytes(P)
    assert errno_of(p1.mmap, 0, 3 * P, R, SHARED, fd, 0) == errno.ENODEV
    m.validate()


def test_ramfs_write_through_both_ways_between_processes() -> None:
    m, p1, p2 = ram_machine()
    fd = rf(p1, 8192)
    s = p1.mmap(0, 8192, RW, SHARED, fd, 0)
    fd2 = p2.open("/ram/f", nommu.O_RDWR)
    p1.poke(s + 10, b"store")
    assert p2.pread(fd2, 5, 10) == b"store"
    p2.pwrite(fd2, b"write", 4096)
    assert p1.peek(s + 4096, 5) == b"write"
    o = p2.mmap(0, 8192, R, PRIV, fd2, 0)  # read-only overlay aliases too (H11)
    assert o == s
    p2.pwrite(fd2, b"!", 0)
    assert p2.peek(o, 1) == b"!"
    # writes extending the file get new pages, invisible to existing mappings
    p2.pwrite(fd2, b"tail", 8192)
    assert p2.stat("/ram/f").st_size == 8196
    assert free_pages(m) == 1021
    m.validate()


def test_unlinked_mapped_file_keeps_pages_until_last_unmap() -> None:
    m, p1, _ = ram_machine()
    fd = rf(p1, 8192)
    s = p1.mmap(0, 8192, RW, SHARED, fd, 0)
    p1.unlink("/ram/f")
    p1.close(fd)
    assert free_pages(m) == 1022
    assert maps_lines(m)[0].endswith("/ram/f (deleted)")
    assert meminfo(m, "Cached") == 8
    p1.poke(s, b"x")
    p1.munmap(s, 8192)
    assert free_pages(m) == 1024
    assert meminfo(m, "Cached") == 0
    m.validate()


def test_exit_releases_file_mappings() -> None:
    m, p1, p2 = ram_machine()
    fd = rf(p1, 8192)
    p1.mmap(0, 8192, RW, SHARED, fd, 0)
    fd2 = p2.open("/ram/f", nommu.O_RDONLY)
    p2.mmap(0, 8192, R, PRIV, fd2, 0)
    p2.mmap(0, 8192, RW, PRIV, fd2, 0)
    p2.exit(0)
    assert free_pages(m) == 1022
    p1.unlink("/ram/f")
    p1.exit(0)
    assert free_pages(m) == 1024
    m.validate()


# -- tmpfs / POSIX shm (12) -------------------------------------------------------------------
def test_tmpfs_mount_and_dev_shm_are_ramfs() -> None:
    m = z1024()
    m.mount("tmpfs", "/tmpfs")
    p1, p2 = m.spawn(name="P1"), m.spawn(name="P2")
    fd = p1.open("/tmpfs/seg", nommu.O_CREAT | nommu.O_RDWR, 0o600)
    p1.ftruncate(fd, 8192)
    assert p1.mmap(0, 8192, RW, SHARED, fd, 0) == 0x00400000
    fd2 = p2.open("/dev/shm/x", nommu.O_CREAT | nommu.O_RDWR, 0o600)
    assert errno_of(p2.ftruncate, fd2, 4 << 20) == errno.ENOMEM  # no order-10 block left
    assert p1.stat("/tmpfs/seg").st_dev != p1.stat("/dev/shm").st_dev
    m.validate()


def test_ramfs_rejects_options() -> None:
    m = z1024()
    with pytest.raises(ValueError, match="size"):
        m.mount("ramfs", "/r", size="1M")


def test_write_into_mapping_after_write_allocation_failure_is_enomem() -> None:
    m, p1, _ = ram_machine()
    big = p1.mmap(0, 4 << 20, RW, nommu.MAP_PRIVATE | nommu.MAP_ANONYMOUS)
    assert free_pages(m) == 0
    fd = p1.open("/ram/w", nommu.O_CREAT | nommu.O_RDWR)
    assert errno_of(p1.write, fd, b"x") == errno.ENOMEM
    p1.munmap(big, 4 << 20)
    assert p1.write(fd, b"x" * (P + 1)) == P + 1
    assert meminfo(m, "Cached") == 8
    assert p1.pread(fd, P + 2, 0) == b"x" * (P + 1)
    assert W
    m.validate()


def test_cached_counts_ramfs_mounted_after_it_was_first_read() -> None:
    """meminfo's Cached keeps its list of ramfs instances until a mount or kernel tmpfs appears."""
    m = z1024()
    p = m.spawn(name="P1")
    assert meminfo(m, "Cached") == 0
    m.mount("ramfs", "/ram")
    rf(p, 2 * P)
    assert meminfo(m, "Cached") == 8
    shmid = p.shmget(nommu.IPC_PRIVATE, 3 * P, nommu.IPC_CREAT | 0o600)  # the kernel's own tmpfs
    assert shmid >= 0
    assert meminfo(m, "Cached") == 8 + 12
    assert m.cached_pages() == 5


def test_deleted_follows_the_name_not_the_link_count() -> None:
    """seq_path() appends " (deleted)" when d_unlinked() of the mapped file's dentry:
    unlinking another name of the inode changes nothing, unlinking the name it was
    opened by marks it although the inode keeps a link."""
    m, p1, _ = ram_machine()
    fd = rf(p1, P)
    p1.link("/ram/f", "/ram/g")
    p1.mmap(0, P, R, SHARED, fd, 0)
    p1.unlink("/ram/g")
    assert maps_lines(m)[0].endswith(" /ram/f")
    p1.link("/ram/f", "/ram/g")
    p1.unlink("/ram/f")
    assert p1.stat("/ram/g").st_nlink == 1
    assert maps_lines(m)[0].endswith("/ram/f (deleted)")
    assert maps_lines(m, p1.pid)[0].endswith("/ram/f (deleted)")
    m.validate()
