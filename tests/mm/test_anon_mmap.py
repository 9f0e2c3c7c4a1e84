"""Anonymous mmap, munmap, mremap and brk: worked cases on the Z1024 board."""

from __future__ import annotations

import errno

import pytest

import nommu
from conftest import ANON, RW, P, buddy, free_pages, meminfo, z1024
from nommu import SyscallError


def err(exc: pytest.ExceptionInfo[SyscallError]) -> int:
    return exc.value.errno


# -- 19.A argument validation -------------------------------------------------------------
@pytest.mark.parametrize(
    ("length", "flags", "expected"),
    [
        pytest.param(0, ANON, errno.EINVAL, id="C1-zero-length"),
        pytest.param(
            P,
            nommu.MAP_SHARED_VALIDATE | nommu.MAP_ANONYMOUS,
            errno.EINVAL,
            id="C5-shared-validate",
        ),
        pytest.param(P, nommu.MAP_ANONYMOUS, errno.EINVAL, id="type-0"),
        pytest.param(P, ANON | nommu.MAP_FIXED, errno.EINVAL, id="map-fixed"),
        pytest.param(-1, ANON, errno.ENOMEM, id="length-wraps"),
        pytest.param(0xFFFFF001, ANON, errno.ENOMEM, id="length-page-align-wraps"),
    ],
)
def test_validation_errno(proc: nommu.Process, length: int, flags: int, expected: int) -> None:
    before = proc.machine.cat("/proc/buddyinfo")
    with pytest.raises(SyscallError) as e:
        proc.mmap(0, length, RW, flags)
    assert err(e) == expected
    assert proc.machine.cat("/proc/buddyinfo") == before
    proc.machine.validate()


def test_C3_map_fixed_precedes_file_checks(proc: nommu.Process) -> None:
    fd = proc.open("/tmp/a", nommu.O_CREAT | nommu.O_RDWR)
    proc.close(fd)
    fd = proc.open("/tmp/a", nommu.O_RDONLY)
    with pytest.raises(SyscallError) as e:
        proc.mmap(0, P, nommu.PROT_READ, nommu.MAP_SHARED | nommu.MAP_FIXED, fd, 0)
    assert err(e) == errno.EINVAL
    # and MAP_FIXED precedes EBADF's sibling checks too: a bad fd gives EBADF only without it
    with pytest.raises(SyscallError) as e:
        proc.mmap(0, P, nommu.PROT_READ, nommu.MAP_SHARED, 77, 0)
    assert err(e) == errno.EBADF


def test_C7_pgoff_overflow(machine: nommu.Machine, proc: nommu.Process) -> None:
    with pytest.raises(SyscallError) as e:
        proc.mmap2(0, 8192, nommu.PROT_READ, ANON, -1, 0xFFFFFFFF)
    assert err(e) == errno.EOVERFLOW
    a = proc.mmap2(0, P, nommu.PROT_READ, ANON, -1, 0xFFFFFFFE)
    assert a == 0x00400000
    assert machine.cat("/proc/maps") == "00400000-00401000 r--p fffffffe000 00:00 0 \n"
    assert machine.cat(f"/proc/{proc.pid}/maps") == "00400000-00401000 r--p 00000000 00:00 0 \n"


def test_C9_misaligned_byte_offset(proc: nommu.Process) -> None:
    fd = proc.open("/tmp/f", nommu.O_CREAT | nommu.O_RDWR)
    proc.write(fd, bytes(range(256)) * 40)
    with pytest.raises(SyscallError) as e:
        proc.mmap(0, P, nommu.PROT_READ, nommu.MAP_PRIVATE, fd, 100)
    assert err(e) == errno.EINVAL
    a = proc.mmap(0, P, nommu.PROT_READ | nommu.PROT_WRITE, nommu.MAP_PRIVATE, fd, 4096)
    assert proc.peek(a, 4) == bytes([0, 1, 2, 3])  # byte 4096 of the file is 4096 % 256 = 0


def test_C11_fd_ignored_for_anonymous(proc: nommu.Process) -> None:
    assert proc.mmap(0, P, RW, ANON, 99, 0) == 0x00400000


def test_C13_map_fixed_noreplace_alone_is_ignored(proc: nommu.Process) -> None:
    assert proc.mmap(0x00800000, P, RW, ANON | nommu.MAP_FIXED_NOREPLACE) == 0x00400000


# -- 19.B anonymous mappings --------------------------------------------------------------
def test_C15_one_page(machine: nommu.Machine, proc: nommu.Process) -> None:
    assert proc.mmap(0, P, RW, ANON) == 0x00400000
    assert buddy(machine) == "1 1 1 1 1 1 1 1 1 1 0"
    assert free_pages(machine) == 1023
    assert meminfo(machine, "MmapCopy") == 4
    line = "00400000-00401000 rw-p 00000000 00:00 0 \n"
    assert machine.cat(f"/proc/{proc.pid}/maps") == line
    assert machine.cat("/proc/maps") == line


def test_C17_three_pages_no_trimming(machine: nommu.Machine, proc: nommu.Process) -> None:
    machine.sysctl("vm.nr_trim_pages", 0)
    assert proc.mmap(0, 3 * P, RW, ANON) == 0x00400000
    assert buddy(machine) == "0 0 1 1 1 1 1 1 1 1 0"
    assert free_pages(machine) == 1020
    assert meminfo(machine, "MmapCopy") == 16
    assert machine.cat("/proc/maps") == "00400000-00403000 rw-p 00000000 00:00 0 \n"


def test_C19_five_pages_trimmed(machine: nommu.Machine, proc: nommu.Process) -> None:
    assert proc.mmap(0, 5 * P, RW, ANON) == 0x00400000
    assert free_pages(machine) == 1019
    assert buddy(machine) == "1 1 0 1 1 1 1 1 1 1 0"
    assert meminfo(machine, "MmapCopy") == 20


@pytest.mark.parametrize(
    ("trim", "pages", "allocated"),
    [
        (0, 5, 8),
        (1, 5, 5),
        (2, 5, 5),
        (3, 5, 5),
        (4, 5, 8),
        (3, 6, 8),
        (2, 6, 6),
        (1, 4, 4),
        (0, 1, 1),
    ],
)
def test_nr_trim_pages_threshold(trim: int, pages: int, allocated: int) -> None:
    m = z1024(nr_trim_pages=trim)
    p = m.spawn()
    p.mmap(0, pages * P, RW, ANON)
    assert free_pages(m) == 1024 - allocated
    assert meminfo(m, "MmapCopy") == 4 * allocated
    m.validate()


def test_C21_sub_page_length(machine: nommu.Machine, proc: nommu.Process) -> None:
    a = proc.mmap(0, 100, RW, ANON)
    assert machine.cat("/proc/maps") == "00400000-00401000 rw-p 00000000 00:00 0 \n"
    assert proc.munmap(a, 100) is None
    assert buddy(machine) == "0 0 0 0 0 0 0 0 0 0 1"


@pytest.mark.parametrize(("allow", "expected"), [(False, b"\x00" * 8), (True, b"\xaa" * 8)])
def test_C23_map_uninitialized(allow: bool, expected: bytes) -> None:
    m = z1024(allow_uninitialized=allow)
    p = m.spawn()
    a = p.mmap(0, P, RW, ANON)
    p.poke(a, b"\xaa" * P)
    p.munmap(a, P)
    b = p.mmap(0, P, RW, ANON | nommu.MAP_UNINITIALIZED)
    assert b == a
    assert p.peek(b, 8) == expected
    c = p.mmap(0, P, RW, ANON)  # never honoured without the flag
    assert p.peek(c, 8) == b"\x00" * 8


def test_fresh_memory_is_zero_after_reuse(proc: nommu.Process) -> None:
    a = proc.mmap(0, 3 * P, RW, ANON)
    proc.poke(a + 5, b"dirty" * 1000)
    proc.munmap(a, 3 * P)
    b = proc.mmap(0, 3 * P, RW, ANON)
    assert b == a
    assert proc.peek(b, 3 * P) == bytes(3 * P)


def test_C25_prot_none(machine: nommu.Machine, proc: nommu.Process) -> None:
    a = proc.mmap(0, P, nommu.PROT_NONE, ANON)
    assert machine.cat(f"/proc/{proc.pid}/maps") == f"{a:08x}-{a + P:08x} ---p 00000000 00:00 0 \n"
    proc.poke(a, b"x")  # no MMU: nothing traps
    assert proc.peek(a, 1) == b"x"


def test_shared_anonymous_becomes_private(machine: nommu.Machine, proc: nommu.Process) -> None:
    a = proc.mmap(0, P, RW, nommu.MAP_SHARED | nommu.MAP_ANONYMOUS)
    assert machine.cat("/proc/maps") == f"{a:08x}-{a + P:08x} rw-p 00000000 00:00 0 \n"


def test_C27_four_mib_exactly(machine: nommu.Machine, proc: nommu.Process) -> None:
    assert proc.mmap(0, 4 << 20, RW, ANON) == 0x00400000
    assert free_pages(machine) == 0
    assert meminfo(machine, "MmapCopy") == 4096
    with pytest.raises(SyscallError) as e:
        proc.mmap(0, P, RW, ANON)
    assert err(e) == errno.ENOMEM
    assert "order-0" in e.value.detail and "no free memory" in e.value.detail


def test_above_max_order_is_enomem_whatever_is_free() -> None:
    m = nommu.Machine(ram="64M", ideal=True)
    p = m.spawn(name="big")
    with pytest.raises(SyscallError) as e:
        p.mmap(0, (4 << 20) + 1, RW, ANON)
    assert err(e) == errno.ENOMEM
    assert e.value.detail == (
        "4198400 bytes need an order-11 block, above the largest order the "
        "allocator has (MAX_PAGE_ORDER 10 = 4096 KiB), whatever memory is "
        "free"
    )
    log = m.dmesg()
    assert "WARNING: at mm/page_alloc.c __alloc_pages_noprof: order 11 > MAX_PAGE_ORDER 10" in log
    assert "nommu: Allocation of length 4198400 from process 1 (big) failed" in log
    m.validate()


def test_C29_external_fragmentation(machine: nommu.Machine, proc: nommu.Process) -> None:
    addrs = [proc.mmap(0, P, RW, ANON) for _ in range(1024)]
    assert addrs == sorted(addrs) and addrs[0] == 0x00400000
    for a in addrs[0:16:2]:  # free 8 pages whose buddies stay allocated
        proc.munmap(a, P)
    assert buddy(machine) == "8 0 0 0 0 0 0 0 0 0 0"
    with pytest.raises(SyscallError) as e:
        proc.mmap(0, 2 * P, RW, ANON)
    assert err(e) == errno.ENOMEM
    assert e.value.detail == (
        "8192 bytes need one contiguous order-1 block (8 KiB) but the "
        "largest free block is order 0 (4 KiB); 32 KiB free in total"
    )
    normal = (
        "Normal: 8*4kB 0*8kB 0*16kB 0*32kB 0*64kB 0*128kB 0*256kB 0*512kB 0*1024kB 0*2048kB "
        "0*4096kB = 32kB"
    )
    # warn_alloc() -> __show_mem(); do_mmap_private() -> show_mem() (v6.6+), both
    # with the page counts of the zone (2048 present, 1024 of them reserved)
    show_mem = [
        "Mem-Info:",
        normal,
        "0 total pagecache pages",
        "2048 pages RAM",
        "0 pages HighMem/MovableOnly",
        "1024 pages reserved",
    ]
    assert machine.dmesg()[-14:] == [
        "P1: page allocation failure: order:1, mode:0xcc0(GFP_KERNEL), nodemask=(null)",
        *show_mem,
        f"nommu: Allocation of length 8192 from process {proc.pid} (P1) failed",
        *show_mem,
    ]
    proc.mmap(0, P, RW, ANON)
    assert free_pages(machine) == 7
    machine.validate()


# -- 19.C munmap ------------------------------------------------------------------------
def test_C31_whole_mapping(machine: nommu.Machine, proc: nommu.Process) -> None:
    a = proc.mmap(0, 3 * P, RW, ANON)
    proc.munmap(a, 3 * P)
    assert buddy(machine) == "0 0 0 0 0 0 0 0 0 0 1"
    assert meminfo(machine, "MmapCopy") == 0
    assert machine.cat("/proc/maps") == ""
    assert machine.cat(f"/proc/{proc.pid}/maps") == ""


def test_C33_nothing_mapped(machine: nommu.Machine, proc: nommu.Process) -> None:
    for _ in range(7):
        with pytest.raises(SyscallError) as e:
            proc.munmap(0x00F00000, P)
        assert err(e) == errno.EINVAL
    warnings = [x for x in machine.dmesg() if "munmap of memory not mmapped" in x]
    # pr_warn("... 0x%lx-0x%lx", start, start + len - 1), with mm/nommu.c's pr_fmt
    assert (
        warnings == ["nommu: munmap of memory not mmapped by process 1 (P1): 0xf00000-0xf00fff"] * 5
    )


def test_munmap_zero_length(proc: nommu.Process) -> None:
    a = proc.mmap(0, P, RW, ANON)
    with pytest.raises(SyscallError) as e:
        proc.munmap(a, 0)
    assert err(e) == errno.EINVAL


def test_C35_tail_cut_frees_slack(machine: nommu.Machine, proc: nommu.Process) -> None:
    machine.sysctl("vm.nr_trim_pages", 0)
    a = proc.mmap(0, 3 * P, RW, ANON)
    assert free_pages(machine) == 1020 and meminfo(machine, "MmapCopy") == 16
    proc.munmap(a + 0x2000, 0x1000)
    assert free_pages(machine) == 1022
    assert buddy(machine) == "0 1 1 1 1 1 1 1 1 1 0"
    assert meminfo(machine, "MmapCopy") == 8
    assert machine.cat("/proc/maps") == "00400000-00402000 rw-p 00000000 00:00 0 \n"
    machine.validate()


def test_head_cut_keeps_pgoff(machine: nommu.Machine, proc: nommu.Process) -> None:
    a = proc.mmap(0, 4 * P, RW, ANON)
    proc.munmap(a, P)
    assert machine.cat("/proc/maps") == "00401000-00404000 rw-p 00000000 00:00 0 \n"
    assert free_pages(machine) == 1021
    machine.validate()


def test_C37_hole_in_the_middle(machine: nommu.Machine, proc: nommu.Process) -> None:
    a = proc.mmap(0, 4 * P, RW, ANON)
    proc.poke(a, b"low")
    proc.poke(a + 2 * P, b"high")
    proc.munmap(a + 0x1000, 0x1000)
    assert machine.cat(f"/proc/{proc.pid}/maps") == (
        "00400000-00401000 rw-p 00000000 00:00 0 \n00402000-00404000 rw-p 00000000 00:00 0 \n"
    )
    assert machine.cat("/proc/maps") == (
        "00400000-00401000 rw-p 00000000 00:00 0 \n00402000-00404000 rw-p 00001000 00:00 0 \n"
    )
    assert proc.mm is not None and proc.mm.map_count == 2
    assert free_pages(machine) == 1021
    assert buddy(machine) == "1 0 1 1 1 1 1 1 1 1 0"
    assert meminfo(machine, "MmapCopy") == 12
    assert proc.peek(a, 3) == b"low" and proc.peek(a + 2 * P, 4) == b"high"
    # each part is now a mapping of its own
    proc.munmap(0x00402000, 0x2000)
    proc.munmap(0x00400000, 0x1000)
    assert buddy(machine) == "0 0 0 0 0 0 0 0 0 0 1"
    machine.validate()


def test_C39_unaligned_start(proc: nommu.Process) -> None:
    a = proc.mmap(0, 4 * P, RW, ANON)
    with pytest.raises(SyscallError) as e:
        proc.munmap(a + 0x10, 0x1000)
    assert err(e) == errno.EINVAL


def test_range_spanning_two_anonymous_mappings(proc: nommu.Process) -> None:
    a = proc.mmap(0, P, RW, ANON)
    b = proc.mmap(0, P, RW, ANON)
    assert b == a + P
    with pytest.raises(SyscallError) as e:
        proc.munmap(a, 2 * P)
    assert err(e) == errno.EINVAL


def test_split_respects_max_map_count() -> None:
    m = z1024(max_map_count=3)
    p = m.spawn()
    a = p.mmap(0, 8 * P, RW, ANON)
    p.munmap(a + P, P)  # 2 VMAs
    p.munmap(a + 3 * P, P)  # 3 VMAs
    with pytest.raises(SyscallError) as e:
        p.munmap(a + 5 * P, P)
    assert err(e) == errno.ENOMEM
    p.munmap(a + 7 * P, P)  # a tail cut needs no split
    assert p.mm is not None and p.mm.map_count == 3
    m.validate()


def _ramfs_file(p: nommu.Process, size: int, path: str = "/tmp/f") -> int:
    fd = p.open(path, nommu.O_CREAT | nommu.O_RDWR, 0o644)
    p.ftruncate(fd, size)
    return fd


def test_C41_partial_unmap_of_file_mapping(proc: nommu.Process) -> None:
    fd = _ramfs_file(proc, 10000)
    c = proc.mmap(0, 10000, RW, nommu.MAP_PRIVATE, fd, 0)  # writable private: a copy
    for start, length in ((c + 0x1000, 0x2000), (c, 0x1000), (c + 0x1000, 0x1000)):
        with pytest.raises(SyscallError) as e:
            proc.munmap(start, length)
        assert err(e) == errno.EINVAL
    proc.munmap(c, 10000)
    proc.machine.validate()


def test_C43_two_adjacent_file_vmas(machine: nommu.Machine, proc: nommu.Process) -> None:
    fd = _ramfs_file(proc, 8192)
    x = proc.mmap(0, P, RW, nommu.MAP_SHARED, fd, 0)
    y = proc.mmap(0, P, RW, nommu.MAP_SHARED, fd, P)
    assert (x, y) == (0x00400000, 0x00401000)
    proc.munmap(x, 0x2000)
    maps = machine.cat(f"/proc/{proc.pid}/maps").splitlines()
    assert len(maps) == 1 and maps[0].startswith("00400000-00401000 rw-S 00000000 ")
    assert maps[0].endswith(" /tmp/f")


def test_file_vma_unmapped_with_start_below(proc: nommu.Process) -> None:
    fd = _ramfs_file(proc, 8192)
    x = proc.mmap(0, 8192, RW, nommu.MAP_SHARED, fd, 0)
    proc.munmap(x - 0x1000, 0x3000)  # quirk H8: start below the VMA, end matches
    assert proc.machine.cat(f"/proc/{proc.pid}/maps") == ""


# -- 19.D mremap ------------------------------------------------------------------------
def test_C45_shrink_mainline(machine: nommu.Machine, proc: nommu.Process) -> None:
    a = proc.mmap(0, 4 * P, RW, ANON)
    assert proc.mremap(a, 0x4000, 0x2000, 0) == a
    assert machine.cat(f"/proc/{proc.pid}/maps") == "00400000-00402000 rw-p 00000000 00:00 0 \n"
    assert machine.cat("/proc/maps") == "00400000-00404000 rw-p 00000000 00:00 0 \n"
    assert free_pages(machine) == 1020
    assert meminfo(machine, "MmapCopy") == 16
    assert "Slack:\t    8192 bytes\n" in machine.cat(f"/proc/{proc.pid}/status")
    # growing back exposes the old contents (nothing is re-zeroed)
    proc.poke(a + 0x3000, b"kept")
    assert proc.mremap(a, 0x2000, 0x4000, 0) == a
    assert proc.peek(a + 0x3000, 4) == b"kept"
    machine.validate()


def test_C47_growing_past_the_region(proc: nommu.Process) -> None:
    a = proc.mmap(0, 4 * P, RW, ANON)
    for flags in (0, nommu.MREMAP_MAYMOVE):
        with pytest.raises(SyscallError) as e:
            proc.mremap(a, 0x4000, 0x5000, flags)
        assert err(e) == errno.ENOMEM


def test_mainline_slack_cannot_be_used(machine: nommu.Machine) -> None:
    machine.sysctl("vm.nr_trim_pages", 0)
    p = machine.spawn()
    a = p.mmap(0, 3 * P, RW, ANON)  # 4 pages allocated
    with pytest.raises(SyscallError) as e:
        p.mremap(a, 3 * P, 4 * P)
    assert err(e) == errno.ENOMEM


def test_C49_old_length_must_match(proc: nommu.Process) -> None:
    a = proc.mmap(0, 4 * P, RW, ANON)
    for old in (0x2000, 0x5000):
        with pytest.raises(SyscallError) as e:
            proc.mremap(a, old, 0x1000, 0)
        assert err(e) == errno.EINVAL


def test_C51_alignment_and_zero_sizes(proc: nommu.Process) -> None:
    a = proc.mmap(0, 4 * P, RW, ANON)
    for args in (
        (a + 1, 0x4000, 0x1000, 0),
        (a, 0, 0x1000, nommu.MREMAP_MAYMOVE),
        (a, 0x4000, 0, 0),
        (a, 0x4000, 0x1000, nommu.MREMAP_FIXED, a + P),
    ):
        with pytest.raises(SyscallError) as e:
            proc.mremap(*args)
        assert err(e) == errno.EINVAL
    assert proc.mremap(a, 0x4000, 0x4000, nommu.MREMAP_FIXED, a) == a
    assert proc.mremap(a, 0x3001, 0x1000, 0) == a


def test_C53_shareable_mappings_cannot_be_remapped(proc: nommu.Process) -> None:
    fd = _ramfs_file(proc, 8192)
    s = proc.mmap(0, 8192, RW, nommu.MAP_SHARED, fd, 0)
    for new in (8192, 4096):
        with pytest.raises(SyscallError) as e:
            proc.mremap(s, 8192, new, 0)
        assert err(e) == errno.EPERM
    c = proc.mmap(0, 10000, nommu.PROT_READ, nommu.MAP_PRIVATE, fd, 0)  # copy (past EOF)
    with pytest.raises(SyscallError) as e:
        proc.mremap(c, 0x3000, 0x1000, 0)
    assert err(e) == errno.EPERM


def test_C55_mm_variant_shrink_frees() -> None:
    m = z1024(mremap="mm")
    p = m.spawn()
    a = p.mmap(0, 4 * P, RW, ANON)
    assert p.mremap(a, 0x4000, 0x2000, 0) == a
    assert free_pages(m) == 1022
    assert meminfo(m, "MmapCopy") == 8
    assert m.cat("/proc/maps") == "00400000-00402000 rw-p 00000000 00:00 0 \n"
    m.validate()


def test_mm_variant_grows_into_slack_zeroed() -> None:
    m = z1024(mremap="mm", nr_trim_pages=0)
    p = m.spawn()
    a = p.mmap(0, 3 * P, RW, ANON)
    p.poke(a + 3 * P, b"old")  # the slack page, not mapped
    assert p.mremap(a, 3 * P, 4 * P) == a
    assert p.peek(a + 3 * P, 3) == b"\0\0\0"
    assert m.cat("/proc/maps") == "00400000-00404000 rw-p 00000000 00:00 0 \n"
    with pytest.raises(SyscallError) as e:
        p.mremap(a, 4 * P, 5 * P)
    assert err(e) == errno.ENOMEM
    m.validate()


# -- brk, ENOSYS, fork ------------------------------------------------------------------
def test_brk_of_a_process_without_a_program(proc: nommu.Process) -> None:
    assert proc.brk(0) == 0
    assert proc.brk(0x00500000) == 0


@pytest.mark.parametrize(
    "call",
    [
        lambda p, a: p.mprotect(a, P, nommu.PROT_READ),
        lambda p, a: p.msync(a, P, 4),
        lambda p, a: p.mlock(a, P),
        lambda p, a: p.munlock(a, P),
        lambda p, a: p.mlockall(1),
        lambda p, a: p.munlockall(),
        lambda p, a: p.mincore(a, P),
        lambda p, a: p.madvise(a, P, 4),
        lambda p, a: p.remap_file_pages(a, P, 0, 0, 0),
    ],
    ids=[
        "mprotect",
        "msync",
        "mlock",
        "munlock",
        "mlockall",
        "munlockall",
        "mincore",
        "madvise",
        "remap_file_pages",
    ],
)
def test_C125_enosys(machine: nommu.Machine, proc: nommu.Process, call: object) -> None:
    a = proc.mmap(0, P, RW, ANON)
    before = machine.cat("/proc/maps")
    with pytest.raises(SyscallError) as e:
        call(proc, a)  # type: ignore[operator]
    assert err(e) == errno.ENOSYS
    assert machine.cat("/proc/maps") == before


def test_fork_is_einval(proc: nommu.Process) -> None:
    with pytest.raises(SyscallError) as e:
        proc.fork()
    assert err(e) == errno.EINVAL


# -- exit, peek/poke, /proc -------------------------------------------------------------
def test_exit_releases_everything(machine: nommu.Machine) -> None:
    p = machine.spawn()
    q = machine.spawn()
    for n in (1, 3, 5, 8):
        p.mmap(0, n * P, RW, ANON)
    keep = q.mmap(0, P, RW, ANON)
    p.exit(0)
    assert free_pages(machine) == 1023
    assert machine.cat("/proc/maps") == f"{keep:08x}-{keep + P:08x} rw-p 00000000 00:00 0 \n"
    machine.validate()


def test_peek_poke_faults(proc: nommu.Process) -> None:
    m = nommu.Machine(ram="8M", flash="1M", ideal=True)
    p = m.spawn()
    with pytest.raises(SyscallError) as e:
        p.poke(0x20000000, b"x")  # flash
    assert err(e) == errno.EFAULT
    assert p.peek(0x20000000, 4) == b"\0\0\0\0"
    with pytest.raises(SyscallError) as e:
        p.peek(0x10000000, 1)  # nothing there
    assert err(e) == errno.EFAULT
    with pytest.raises(SyscallError) as e:
        p.poke(0x807FFFFF, b"xy")  # crosses the end of RAM
    assert err(e) == errno.EFAULT
    p.poke(0x80000000, b"kernel text is writable without an MMU")
    assert p.peek(0x80000000, 6) == b"kernel"


def test_C129_buddyinfo_exact(machine: nommu.Machine, proc: nommu.Process) -> None:
    a = proc.mmap(0, P, RW, ANON)
    assert machine.cat("/proc/buddyinfo") == (
        "Node 0, zone   Normal      1      1      1      1      1      1      1      1      1"
        "      1      0 \n"
    )
    proc.munmap(a, P)
    assert machine.cat("/proc/buddyinfo") == (
        "Node 0, zone   Normal      0      0      0      0      0      0      0      0      0"
        "      0      1 \n"
    )


def test_meminfo_format(machine: nommu.Machine, proc: nommu.Process) -> None:
    proc.mmap(0, 3 * P, RW, ANON)
    text = machine.cat("/proc/meminfo")
    lines = text.splitlines(keepends=True)
    assert lines[0] == "MemTotal:           4096 kB\n"
    assert lines[1] == "MemFree:            4084 kB\n"
    assert "MmapCopy:             12 kB\n" in lines
    labels = [x.split(":")[0] for x in lines]
    assert labels.index("MmapCopy") == labels.index("Mlocked") + 1
    assert labels.index("SwapTotal") == labels.index("MmapCopy") + 1
    assert all(len(x) == 28 and x.endswith(" kB\n") for x in lines)


def test_proc_through_open_and_read(machine: nommu.Machine, proc: nommu.Process) -> None:
    a = proc.mmap(0, P, RW, ANON)
    fd = proc.open("/proc/self/maps", nommu.O_RDONLY)
    assert proc.read(fd, 10) == b"00400000-0"
    assert proc.read(fd, 4096) == b"0401000 rw-p 00000000 00:00 0 \n"
    assert proc.read(fd, 4096) == b""
    assert a == 0x00400000
    fd2 = proc.open("/proc/sys/vm/nr_trim_pages", nommu.O_RDWR)
    assert proc.read(fd2, 10) == b"1\n"
    assert proc.write(fd2, b"0\n") == 2  # at position 2: ignored (sysctl_writes_strict)
    assert machine.sysctl("vm.nr_trim_pages") == 1
    proc.lseek(fd2, 0, 0)
    assert proc.write(fd2, b"0\n") == 2
    assert machine.sysctl("vm.nr_trim_pages") == 0
    with pytest.raises(SyscallError) as e:
        proc.mmap(0, P, nommu.PROT_READ, nommu.MAP_PRIVATE, fd, 0)
    assert err(e) == errno.ENODEV


def test_status_memory_lines(machine: nommu.Machine, proc: nommu.Process) -> None:
    proc.mmap(0, 2 * P, RW, ANON)
    status = machine.cat(f"/proc/{proc.pid}/status")
    from nommu.process import K_FILES, K_FS, K_MM, K_REGION, K_SIGHAND, K_TASK, K_VMA

    mem = K_VMA + K_REGION + 2 * P + K_MM + K_FS + K_FILES + K_SIGHAND + K_TASK
    assert f"Mem:\t{mem:8d} bytes\nSlack:\t       0 bytes\nShared:\t       0 bytes\n" in status
    assert status.startswith(f"Name:\tP1\nUmask:\t0022\nState:\tR (running)\nTgid:\t{proc.pid}\n")


@pytest.mark.parametrize(
    ("kernel", "prefix", "after"),
    [
        ("4.4", "nommu: ", "free areas"),
        ("6.3", "nommu: ", "free areas"),  # do_mmap_private(): show_free_areas(0, NULL)
        ("6.8", "nommu: ", "show_mem"),  # v6.6: show_mem()
    ],
)
def test_mmap_failure_log_follows_the_kernel(kernel: str, prefix: str, after: str) -> None:
    """mm/nommu.c's pr_fmt() prefix and what do_mmap_private() prints after its line.

    2.6.24 runs the shared-VMA engine, whose kmalloc failure path has its own test
    (tests/mm/test_kernel_2_6_24.py)."""
    m = nommu.Machine(ram="8M", ram_base=0, kernel_reserved="4M", kernel=kernel, ideal=True)
    p = m.spawn(name="P1")
    before = m.dmesg_count
    with pytest.raises(SyscallError):
        p.mmap(0, 8 << 20, RW, ANON)  # order 11: no warn_alloc(), only the nommu lines
    log = m.dmesg()[before:]
    assert log[1] == f"{prefix}Allocation of length 8388608 from process 1 (P1) failed"
    normal = (
        "Normal: 0*4kB 0*8kB 0*16kB 0*32kB 0*64kB 0*128kB 0*256kB 0*512kB 0*1024kB "
        "0*2048kB 1*4096kB = 4096kB"
    )
    if after == "show_mem":
        assert log[2:] == [
            "Mem-Info:",
            normal,
            "0 total pagecache pages",
            "2048 pages RAM",
            "0 pages HighMem/MovableOnly",
            "1024 pages reserved",
        ]
    else:
        assert log[2:] == [normal]


def test_mmap_failure_log_has_no_prefix_before_4_2() -> None:
    """2.6.24's mm/nommu.c printk()s its lines bare (pr_fmt came with v4.2)."""
    m = nommu.Machine(ram="8M", ram_base=0, kernel_reserved="4M", kernel="2.6.24")
    p = m.spawn(name="P1")
    before = m.dmesg_count
    with pytest.raises(SyscallError):
        p.mmap(0, 8 << 20, RW, ANON)
    log = m.dmesg()[before:]
    assert any(line.startswith("Allocation of length 8388608") for line in log)
    assert not any(line.startswith("nommu: ") for line in log)


@pytest.mark.parametrize(
    ("kernel", "function"),
    [
        ("5.10", "__alloc_pages_nodemask"),
        ("6.8", "__alloc_pages"),
        ("6.12", "__alloc_pages_noprof"),
    ],
)
def test_max_order_warning_names_the_allocator_entry(kernel: str, function: str) -> None:
    """__alloc_pages_nodemask() became __alloc_pages() in v5.13, __alloc_pages_noprof() in
    v6.10 (6.1 and 6.12 in QEMU print __alloc_pages and __alloc_pages_noprof)."""
    m = nommu.Machine(ram="8M", ram_base=0, kernel_reserved="4M", kernel=kernel)
    p = m.spawn(name="P1")
    for _ in range(2):  # WARN_ON_ONCE
        with pytest.raises(SyscallError):
            p.mmap(0, 8 << 20, RW, ANON)
    warnings = [line for line in m.dmesg() if line.startswith("WARNING")]
    assert warnings == [f"WARNING: at mm/page_alloc.c {function}: order 11 > MAX_PAGE_ORDER 10"]
