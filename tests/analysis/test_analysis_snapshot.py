"""Snapshots and the memory map: what is where, whose, and nothing left out."""

from __future__ import annotations

import itertools

import nommu
from nommu.analysis import capture, memory_map
from nommu.analysis.memmap import flash_map
from nommu.analysis.snapshot import KIND_ANON, KIND_FREE, KIND_KERNEL, KIND_PAGE_CACHE, KIND_XIP

RW = nommu.PROT_READ | nommu.PROT_WRITE
ANON = nommu.MAP_PRIVATE | nommu.MAP_ANONYMOUS


def board() -> tuple[nommu.Machine, nommu.Process]:
    m = nommu.Machine(ram="1M", kernel_reserved="256K", flash="256K")
    m.mount("romfs", "/rom", files={"lib": bytes(range(256)) * 40}, device="mtd")
    return m, m.spawn(name="app")


def test_capture_sees_copies_page_cache_and_direct_mappings() -> None:
    m, p = board()
    a = p.mmap(0, 20000, RW, ANON)
    fd = p.open("/tmp/log", nommu.O_RDWR | nommu.O_CREAT)
    p.write(fd, b"x" * 5000)
    x = p.mmap(
        0,
        10240,
        nommu.PROT_READ | nommu.PROT_EXEC,
        nommu.MAP_PRIVATE,
        p.open("/rom/lib", nommu.O_RDONLY),
    )
    snap = capture(m, "now", event=7, tick=2)
    assert (snap.label, snap.event, snap.tick) == ("now", 7, 2)
    assert snap.free_pages == m.zone.free_count
    kinds = {(al.kind, al.label, al.owner_pid) for al in snap.allocations}
    assert (KIND_ANON, "", 1) in kinds
    assert (KIND_PAGE_CACHE, "/tmp/log", 0) in kinds
    anon = next(al for al in snap.allocations if al.kind == KIND_ANON)
    assert anon.start_pfn * 4096 == a and anon.npages == 5 and anon.users == (1,)
    assert anon.owner_name == "app"
    xip = [r for r in snap.regions if r.kind == KIND_XIP]
    assert len(xip) == 1 and xip[0].start == x and xip[0].ram_bytes == 0
    assert a in [v.start for v in snap.processes[0].vmas]
    # allocations are disjoint and ascending
    ends = [(al.start_pfn, al.end_pfn) for al in snap.allocations]
    assert all(e1 <= s2 for (_, e1), (s2, _) in itertools.pairwise(ends))


def test_memory_map_covers_ram_exactly() -> None:
    m, p = board()
    for n in range(1, 6):
        p.mmap(0, n * 4096, RW, ANON)
    p.munmap(p.mmap(0, 8192, RW, ANON), 8192)
    snap = capture(m)
    runs = memory_map(snap)
    assert runs[0].start_pfn == snap.start_pfn and runs[0].kind == KIND_KERNEL
    assert runs[0].npages == snap.reserved_pages
    for a, b in itertools.pairwise(runs):
        assert a.start_pfn + a.npages == b.start_pfn
        assert not (a.kind == b.kind == KIND_FREE)  # free neighbours are merged
    assert runs[-1].start_pfn + runs[-1].npages == snap.end_pfn
    assert sum(r.npages for r in runs if r.kind == KIND_FREE) == snap.free_pages


def test_flash_map_marks_what_runs_in_place() -> None:
    m, p = board()
    fd = p.open("/rom/lib", nommu.O_RDONLY)
    addr = p.mmap(0, 4096, nommu.PROT_READ, nommu.MAP_PRIVATE, fd)
    runs = flash_map(capture(m))
    xip = [r for r in runs if r.kind == KIND_XIP]
    assert len(xip) == 1 and xip[0].start_pfn == addr // 4096 and xip[0].label == "/rom/lib"
    assert sum(r.npages for r in runs) == 256 * 1024 // 4096
    assert flash_map(capture(nommu.Machine(ram="2M"))) == ()


def test_exited_owners_keep_their_names() -> None:
    m, p = board()
    c = p.vfork()
    c.mmap(0, 4096, RW, ANON)  # in the parent's address space
    c.exit(0)
    p.wait()
    snap = capture(m, names={2: "child"})
    owners = {
        al.owner_pid: al.owner_name
        for al in snap.allocations
        if al.owner_pid and al.label != "kernel stack"  # p's own stack is p's
    }
    assert owners == {2: "child"}
