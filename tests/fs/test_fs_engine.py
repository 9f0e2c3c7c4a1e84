"""The file-backed mmap engine: check order, VM flags, sharing, munmap and mremap (mm/nommu.c)."""

from __future__ import annotations

import errno

import pytest
from fsutil import A10000, PRIV, RW, SHARED, P, R, W, X, errno_of, maps_lines, spec_board

import nommu
from conftest import free_pages, z1024
from nommu.consts import (
    MAP_FIXED,
    NOMMU_MAP_COPY,
    NOMMU_MAP_DIRECT,
    NOMMU_MAP_READ,
    VM_EXEC,
    VM_MAPPED_COPY,
    VM_MAYEXEC,
    VM_MAYOVERLAY,
    VM_MAYREAD,
    VM_MAYSHARE,
    VM_MAYWRITE,
    VM_READ,
    VM_SHARED,
    VM_WRITE,
)
from nommu.errors import Errno, SyscallError
from nommu.fs.vfs import File, FileOperations


class OddDevice(FileOperations):
    """A character device offering DIRECT|COPY|READ: no WRITE, no EXEC."""

    has_mmap = True
    has_get_unmapped_area = True
    has_mmap_capabilities = True

    def __init__(self, base: int) -> None:
        self.base = base
        self.calls: list[str] = []

    def mmap_capabilities(self, file: File) -> int:
        return NOMMU_MAP_DIRECT | NOMMU_MAP_COPY | NOMMU_MAP_READ

    def get_unmapped_area(self, file: File, addr: int, length: int, pgoff: int, flags: int) -> int:
        self.calls.append("get_unmapped_area")
        return self.base + (pgoff << 12)

    def mmap(self, file: File, vma: object) -> None:
        self.calls.append("mmap")

    def read(self, file: File, count: int, pos: int) -> bytes:
        return b"\x42" * count


@pytest.fixture
def board():  # type: ignore[no-untyped-def]
    return spec_board()


def vma_flags(p: nommu.Process) -> list[int]:
    assert p.mm is not None
    return [v.vm_flags for v in p.mm.vmas()]


# -- 3.1/3.2 the order of checks ---------------------------------------------------------------
def test_ebadf_comes_first_then_the_generic_checks(board) -> None:  # type: ignore[no-untyped-def]
    p = board.spawn("P1")
    assert errno_of(p.mmap, 0, 0, R, PRIV | MAP_FIXED, 99, 0) == errno.EBADF
    null = p.open("/dev/null", nommu.O_WRONLY)
    assert errno_of(p.mmap, 0, 4096, R, PRIV | MAP_FIXED, null, 0) == errno.EINVAL
    assert errno_of(p.mmap, 0, 4096, R, 0, null, 0) == errno.EINVAL  # map type 0
    assert errno_of(p.mmap, 0, 0, R, PRIV, null, 0) == errno.EINVAL
    assert errno_of(p.mmap, 0, 0xFFFFF001, R, PRIV, null, 0) == errno.ENOMEM
    assert errno_of(p.mmap2, 0, 8192, R, PRIV, null, 0xFFFFFFFF) == errno.EOVERFLOW
    # then ->mmap, before any access check
    assert errno_of(p.mmap, 0, 4096, R, PRIV, null, 0) == errno.ENODEV
    # misaligned byte offset: the C library / old_mmap rejects it first
    fd = p.open("/mnt/a", nommu.O_RDONLY)
    assert errno_of(p.mmap, 0, 4096, R, PRIV, fd, 100) == errno.EINVAL
    # the address hint is ignored
    assert p.mmap(0x12345000, 4096, R, PRIV, fd, 0) == 0x00400000


def test_access_checks_before_capability_checks(board) -> None:  # type: ignore[no-untyped-def]
    p = board.spawn("P1")
    fdw = p.open("/dev/fb0", nommu.O_WRONLY)
    assert errno_of(p.mmap, 0, 4096, W, SHARED, fdw, 0) == errno.EACCES  # not readable
    fdr = p.open("/dev/zero", nommu.O_RDONLY)
    assert errno_of(p.mmap, 0, 4096, RW, SHARED, fdr, 0) == errno.EACCES  # before ENODEV
    assert errno_of(p.mmap, 0, 4096, R, SHARED, fdr, 0) == errno.ENODEV


def test_append_only_inode(board) -> None:  # type: ignore[no-untyped-def]
    m = board.m
    p = board.spawn("P1")
    fd = p.open("/ram/f", nommu.O_CREAT | nommu.O_RDWR)
    p.ftruncate(fd, 4096)
    m.ns.lookup("/ram/f").inode.append_only = True
    assert errno_of(p.mmap, 0, 4096, R, SHARED, fd, 0) == errno.EACCES
    assert errno_of(p.ftruncate, fd, 0) == errno.EPERM
    fdr = p.open("/ram/f", nommu.O_RDONLY)
    assert p.mmap(0, 4096, R, SHARED, fdr, 0) == 0x00400000


def test_missing_permissions_private_copies_shared_fails() -> None:
    m = z1024()
    dev = OddDevice(0x00700000)
    m.add_chardev("odd", dev, (240, 0), 0o666)
    p = m.spawn(name="P1")
    fd = p.open("/dev/odd", nommu.O_RDWR)
    # private R|X without EXEC: DIRECT cleared ("try to copy"); no driver call
    c = p.mmap(0, 4096, R | X, PRIV, fd, 0)
    assert c == 0x00400000 and dev.calls == []
    assert p.peek(c, 2) == b"\x42\x42"
    # shared needing WRITE or EXEC: EINVAL with the kernel's log line
    assert errno_of(p.mmap, 0, 4096, RW, SHARED, fd, 0) == errno.EINVAL
    assert errno_of(p.mmap, 0, 4096, R | X, SHARED, fd, 0) == errno.EINVAL
    assert m.dmesg().count("nommu: MAP_SHARED not completely supported on !MMU") == 2
    # read-only: direct, through get_unmapped_area then the driver's mmap
    assert p.mmap(0, 4096, R, SHARED, fd, 4096) == 0x00701000
    assert dev.calls == ["get_unmapped_area", "mmap"]
    assert p.mmap(0, 4096, R, PRIV, fd, 8192) == 0x00702000
    m.validate()


# -- 3.3 determine_vm_flags -------------------------------------------------------------------
def test_vm_flags_of_each_kind_of_file_mapping(board) -> None:  # type: ignore[no-untyped-def]
    p = board.spawn("P1")
    fdr = p.open("/rom/data", nommu.O_RDONLY)
    fde = p.open("/mnt/a", nommu.O_RDONLY)
    fdm = p.open("/dev/mtd0", nommu.O_RDONLY)
    p.mmap(0, 4096, R | X, PRIV, fdr, 0)  # XIP: MTD_ROM caps
    p.mmap(0, 4096, R, PRIV, fde, 0)  # copy
    p.mmap(0, 4096, R, SHARED, fdm, 0)  # mtdchar shared
    by_addr = dict(zip([v.vm_start for v in p.mm.vmas()], vma_flags(p), strict=True))
    xip = by_addr[board.rom.mtd.base + board.rom.image.lookup("/data").data_offset]
    assert xip == VM_READ | VM_EXEC | VM_MAYREAD | VM_MAYEXEC | VM_MAYOVERLAY
    assert by_addr[0x00400000] == (
        VM_READ | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | VM_MAYOVERLAY | VM_MAPPED_COPY
    )
    assert by_addr[board.rom.mtd.base] == (
        VM_READ | VM_SHARED | VM_MAYSHARE | VM_MAYREAD | VM_MAYEXEC
    )
    # traced: no VM_MAYOVERLAY, so not shareable
    t = board.spawn("T")
    t.ptraced = True
    fdt = t.open("/mnt/a", nommu.O_RDONLY)
    t.mmap(0, 4096, R, PRIV, fdt, 0)
    assert vma_flags(t) == [VM_READ | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | VM_MAPPED_COPY]
    # writable private: a copy, never shareable
    fdw = t.open("/mnt/a", nommu.O_RDWR)
    w = t.mmap(0, 4096, RW, PRIV, fdw, 0)
    assert [v.vm_flags for v in t.mm.vmas() if v.vm_start == w] == [
        VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | VM_MAPPED_COPY
    ]


def test_icache_flushed_once_per_region(board) -> None:  # type: ignore[no-untyped-def]
    p = board.spawn("P1")
    fd = p.open("/rom/prog", nommu.O_RDONLY)
    p.mmap(0, 4096, R, PRIV, fd, 0)
    region = next(iter(board.m.nommu.regions))
    assert not region.vm_icache_flushed
    p.mmap(0, 4096, R | X, PRIV, fd, 0)  # shares, and flushes
    assert region.vm_icache_flushed


# -- 3.4 step 6: sharing -----------------------------------------------------------------------
def test_share_error_restores_usage_h16(board) -> None:  # type: ignore[no-untyped-def]
    """Attaching to a non-copy region calls the driver; its error undoes the attach."""
    m = board.m
    p1, p2 = board.spawn("P1"), board.spawn("P2")
    fd1 = p1.open("/dev/mtd0", nommu.O_RDONLY)
    s = p1.mmap(0, 8192, R, SHARED, fd1, 0)
    region = next(iter(m.nommu.regions))
    fd2 = p2.open("/dev/mtd0", nommu.O_RDONLY)
    assert errno_of(p2.mmap, 0, 4096, R, PRIV, fd2, 4096) == errno.EACCES
    assert region.vm_usage == 1
    assert p2.mmap(0, 4096, R, SHARED, fd2, 4096) == s + 4096
    assert region.vm_usage == 2
    m.validate()


def test_protection_and_map_type_are_not_compared_when_sharing(board) -> None:  # type: ignore[no-untyped-def]
    m = board.m
    p1, p2 = board.spawn("P1"), board.spawn("P2")
    fd = p1.open("/ram/f", nommu.O_CREAT | nommu.O_RDWR)
    p1.ftruncate(fd, 8192)
    s = p1.mmap(0, 8192, R, PRIV, fd, 0)  # overlay, region created r--p
    fd2 = p2.open("/ram/f", nommu.O_RDWR)
    assert p2.mmap(0, 8192, RW | X, SHARED, fd2, 0) == s
    assert maps_lines(m)[0].split()[1] == "r--p"  # the region keeps its creator's flags
    assert maps_lines(m, p2.pid)[0].split()[1] == "rwxS"
    m.validate()


def test_c131_same_range_twice_in_one_process_h2(board) -> None:  # type: ignore[no-untyped-def]
    m = board.m
    p1 = board.spawn("P1")
    fd = p1.open("/mnt/a", nommu.O_RDONLY)
    c1 = p1.mmap(0, 4096, R, PRIV, fd, 0)
    c2 = p1.mmap(0, 4096, R, PRIV, fd, 0)
    assert c1 == c2
    assert p1.mm.map_count == 2
    assert len(maps_lines(m, p1.pid)) == 1
    p1.munmap(c1, 4096)
    assert errno_of(p1.munmap, c1, 4096) == errno.EINVAL
    p1.exit(0)
    assert len(maps_lines(m)) == 1  # the hidden VMA is never released
    assert free_pages(m) == 1023
    m.validate()


# -- 4.1 munmap of file VMAs -----------------------------------------------------------------------
def test_file_vmas_are_unmapped_whole_only(board) -> None:  # type: ignore[no-untyped-def]
    m = board.m
    p = board.spawn("P1")
    fd = p.open("/mnt/a", nommu.O_RDONLY)
    c = p.mmap(0, 3 * P, R, PRIV, fd, 0)
    for start, length in ((c, P), (c + P, P), (c + 2 * P, P), (c + P, 2 * P)):
        assert errno_of(p.munmap, start, length) == errno.EINVAL
    assert errno_of(p.munmap, c, 0) == errno.EINVAL
    assert errno_of(p.munmap, c, 4 * P) == errno.EINVAL  # end past the VMA
    # start below the VMA, end at its end: removed (H8)
    p.munmap(c - 5 * P, 8 * P)
    assert maps_lines(m, p.pid) == []
    m.validate()


def test_munmap_across_two_adjacent_file_vmas_removes_only_the_second_h8(board) -> None:  # type: ignore[no-untyped-def]
    m = board.m
    p = board.spawn("P1")
    fd = p.open("/ram/f", nommu.O_CREAT | nommu.O_RDWR)
    p.ftruncate(fd, 2 * P)
    a = p.mmap(0, P, RW, SHARED, fd, 0)
    b = p.mmap(0, P, RW, SHARED, fd, P)
    assert b == a + P
    p.munmap(a, 2 * P)
    lines = maps_lines(m, p.pid)
    assert len(lines) == 1 and lines[0].startswith(f"{a:08x}-{b:08x} ")
    m.validate()


def test_xip_mapping_unmaps_at_its_unaligned_address(board) -> None:  # type: ignore[no-untyped-def]
    p = board.spawn("P1")
    fd = p.open("/rom/data", nommu.O_RDONLY)
    x = p.mmap(0, 10000, R, PRIV, fd, 0)
    assert x & 0xFFF
    p.munmap(x, 10000)
    assert maps_lines(board.m) == []


# -- 5 mremap of file VMAs ------------------------------------------------------------------------
def test_mremap_of_file_mappings(board) -> None:  # type: ignore[no-untyped-def]
    m = board.m
    p = board.spawn("P1")
    fd = p.open("/mnt/a", nommu.O_RDWR)
    s = p.mmap(0, 8192, R, PRIV, fd, 0)  # shareable: EPERM
    assert errno_of(p.mremap, s, 8192, 4096) == errno.EPERM
    fdr = p.open("/ram/f", nommu.O_CREAT | nommu.O_RDWR)
    p.ftruncate(fdr, 8192)
    d = p.mmap(0, 8192, RW, SHARED, fdr, 0)
    assert errno_of(p.mremap, d, 8192, 8192) == errno.EPERM
    w = p.mmap(0, 10000, RW, PRIV, fd, 0)  # writable copy: resizable inside its region
    assert p.mremap(w, 12288, 4096) == w
    assert p.mremap(w, 4096, 12288) == w
    assert errno_of(p.mremap, w, 12288, 16384) == errno.ENOMEM
    assert p.peek(w, 10000) == A10000
    t = board.spawn("T")
    t.ptraced = True
    fdt = t.open("/mnt/a", nommu.O_RDONLY)
    c = t.mmap(0, 8192, R, PRIV, fdt, 0)  # traced copy: not shareable, so resizable
    assert t.mremap(c, 8192, 4096) == c
    m.validate()


def test_munmap_then_region_is_freed_only_by_last_user(board) -> None:  # type: ignore[no-untyped-def]
    m = board.m
    p1, p2 = board.spawn("P1"), board.spawn("P2")
    fd1 = p1.open("/mnt/a", nommu.O_RDONLY)
    fd2 = p2.open("/mnt/a", nommu.O_RDONLY)
    c = p1.mmap(0, 10000, R, PRIV, fd1, 0)
    assert p2.mmap(0, 10000, R, PRIV, fd2, 0) == c
    p1.munmap(c, 10000)
    assert free_pages(m) == 1021
    assert p2.peek(c, 10) == A10000[:10]
    p2.munmap(c, 10000)
    assert free_pages(m) == 1024
    m.validate()


def test_driver_mmap_enosys_for_shared_is_enodev() -> None:
    class NoShare(OddDevice):
        def mmap(self, file: File, vma: object) -> None:
            raise SyscallError(Errno.ENOSYS)

    m = z1024()
    m.add_chardev("noshare", NoShare(0x00700000), (241, 0), 0o666)
    p = m.spawn(name="P1")
    fd = p.open("/dev/noshare", nommu.O_RDONLY)
    assert errno_of(p.mmap, 0, 4096, R, SHARED, fd, 0) == errno.ENODEV
    c = p.mmap(0, 4096, R, PRIV, fd, 0)  # private: the -ENOSYS falls back to a copy
    assert c == 0x00400000
    m.validate()


def test_munmap_clearing_a_range_hides_an_overlapping_vma_h2(board) -> None:  # type: ignore[no-untyped-def]
    """A process maps pages 0-1 of a file, then page 0 (sharing the region): the second
    VMA overwrites part of the first in the tree. Unmapping the first clears its whole
    range, so the second drops out of the tree while still counted (v6.1+ maple tree)."""
    m = board.m
    p = board.spawn("P1")
    fd = p.open("/mnt/a", nommu.O_RDONLY)
    a = p.mmap(0, 2 * P, R, PRIV, fd, 0)
    assert p.mmap(0, P, R, PRIV, fd, 0) == a
    p.munmap(a, 2 * P)
    assert maps_lines(m, p.pid) == []
    assert p.mm.map_count == 1 and len(p.mm.hidden) == 1
    assert errno_of(p.munmap, a, P) == errno.EINVAL
    assert free_pages(m) == 1022  # the hidden VMA still holds the copy
    m.validate()
    p.exit(0)
    assert len(maps_lines(m)) == 1
    m.validate()
