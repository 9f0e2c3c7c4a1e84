"""Machine(design="pagecache"): the never-merged page-cache design of docs/designs.md."""

from __future__ import annotations

import pytest

import nommu
from nommu.errors import Errno, KernelBug, SyscallError
from nommu.mm.pagecache_design import PageCacheNommu

RW = nommu.PROT_READ | nommu.PROT_WRITE
RO = nommu.PROT_READ
P = 4096


def machine(**kw: object) -> nommu.Machine:
    opts: dict[str, object] = {
        "ram": "8M",
        "ram_base": 0,
        "kernel_reserved": "4M",
        "flash": "1M",
        "flash_base": 0x10000000,
    }
    opts.update(kw)
    return nommu.Machine(design="pagecache", **opts)  # type: ignore[arg-type]


def engine(m: nommu.Machine) -> PageCacheNommu:
    assert isinstance(m.nommu, PageCacheNommu)
    return m.nommu


def test_only_a_variant_of_the_newest_kernel() -> None:
    with pytest.raises(ValueError, match="variant of the newest kernel"):
        nommu.Machine(kernel="6.1", design="pagecache")
    assert machine().mm_design == "pagecache"


def test_no_xip_flash_files_share_a_page_cache_run() -> None:
    m = machine()
    m.mount("romfs", "/rom", files={"lib.so": bytes(range(256)) * 40})
    free = m.zone.free_count
    a, b = m.spawn(name="A"), m.spawn(name="B")
    rx = nommu.PROT_READ | nommu.PROT_EXEC
    x = a.mmap(0, 10240, rx, nommu.MAP_PRIVATE, a.open("/rom/lib.so", 0))
    y = b.mmap(0, 10240, rx, nommu.MAP_PRIVATE, b.open("/rom/lib.so", 0))
    assert x == y == 0x400000  # RAM, not the flash at 0x10000000
    assert b.peek(y + 256, 2) == bytes([0, 1])
    c = m.spawn(name="C")
    z = c.mmap(0, P, RO, nommu.MAP_PRIVATE, c.open("/rom/lib.so", 0))
    assert z == x  # a range inside the run shares it
    assert engine(m).run_pages == 3
    assert len(m.cat("/proc/maps").splitlines()) == 1
    for p, addr, n in ((a, x, 10240), (b, y, 10240), (c, z, P)):
        p.munmap(addr, n)
    assert m.zone.free_count == free  # the run goes with its last mapping
    m.validate()


def test_non_contiguous_ramfs_pages_are_moved() -> None:
    """Point 4a: the cached pages of the range move into one contiguous run."""
    m = machine()
    p = m.spawn(name="P1")
    fd = p.open("/tmp/f", nommu.O_CREAT | nommu.O_RDWR, 0o644)
    p.write(fd, b"1" * P)
    p.mmap(0, P, RW, nommu.MAP_PRIVATE | nommu.MAP_ANONYMOUS)  # splits the next page off
    p.write(fd, b"2" * P)
    s = p.mmap(0, 2 * P, RW, nommu.MAP_SHARED, fd)
    assert p.peek(s + P - 1, 2) == b"12"
    assert engine(m).moved_pages == 2
    with pytest.raises(SyscallError) as e:
        nommu.Machine().spawn().mmap(0, 2 * P, RW, nommu.MAP_SHARED, fd)
    assert e.value.errno in (Errno.EBADF, Errno.ENODEV)
    m.validate()


def test_a_smaller_mapping_pins_the_pages() -> None:
    """Point 4b: a page already mapped cannot move: no sharing for the bigger range."""
    m = machine()
    p = m.spawn(name="P1")
    fd = p.open("/tmp/f", nommu.O_CREAT | nommu.O_RDWR, 0o644)
    p.write(fd, b"1" * P)
    p.mmap(0, P, RW, nommu.MAP_PRIVATE | nommu.MAP_ANONYMOUS)
    p.write(fd, b"2" * P)
    first = p.mmap(0, P, RW, nommu.MAP_SHARED, fd)
    with pytest.raises(SyscallError) as e:
        p.mmap(0, 2 * P, RW, nommu.MAP_SHARED, fd)
    assert e.value.errno == Errno.ENODEV
    copy = p.mmap(0, 2 * P, RO, nommu.MAP_PRIVATE, fd)
    assert copy != first and p.peek(copy + P - 1, 2) == b"12"
    m.validate()


def test_no_character_device_sharing() -> None:
    m = machine()
    p = m.spawn(name="P1")
    fd = p.open("/dev/mem", nommu.O_RDWR)
    with pytest.raises(SyscallError) as e:
        p.mmap(0, P, RW, nommu.MAP_SHARED, fd, 0x400000)
    assert e.value.errno == Errno.ENODEV
    newest = nommu.Machine(ram="8M", ram_base=0, kernel_reserved="4M").spawn()
    assert newest.mmap(0, P, RW, nommu.MAP_SHARED, newest.open("/dev/mem", nommu.O_RDWR), 0x400000)


def test_write_under_a_private_mapping_is_etxtbsy() -> None:
    """Point 1: nothing write-protects the page cache a private mapping shares."""
    m = machine()
    p = m.spawn(name="P1")
    fd = p.open("/tmp/f", nommu.O_CREAT | nommu.O_RDWR, 0o644)
    p.ftruncate(fd, 2 * P)
    s = p.mmap(0, 2 * P, RW, nommu.MAP_SHARED, fd)
    p.pwrite(fd, b"x", 0)  # shared mappings see writes: allowed
    assert p.peek(s, 1) == b"x"
    r = p.mmap(0, 2 * P, RO, nommu.MAP_PRIVATE, fd)
    assert r == s
    with pytest.raises(SyscallError) as e:
        p.pwrite(fd, b"y", 0)
    assert e.value.errno == Errno.ETXTBSY
    p.munmap(r, 2 * P)
    p.pwrite(fd, b"y", 0)
    m.validate()


def test_validate_catches_a_run_without_users() -> None:
    m = machine()
    m.mount("ext2", "/mnt", files={"f": bytes(P)})
    p = m.spawn(name="P1")
    p.mmap(0, P, RO, nommu.MAP_PRIVATE, p.open("/mnt/f", 0))
    run = next(iter(engine(m).regions))
    run.vm_usage = 0
    with pytest.raises(KernelBug):
        m.validate()


def test_runs_are_cached_and_shown_with_their_flags() -> None:
    m = machine()
    m.mount("ext2", "/mnt", files={"f": bytes(3 * P)})
    p = m.spawn(name="P1")
    p.mmap(0, 3 * P, RO, nommu.MAP_PRIVATE, p.open("/mnt/f", 0))
    assert "\nCached:               12 kB\n" in m.cat("/proc/meminfo")
    assert m.cat("/proc/maps").split()[1] == "r--s"
