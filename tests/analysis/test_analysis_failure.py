"""Explaining allocation failures: cause, best candidate block, what is in the way, remedies."""

from __future__ import annotations

import pytest

import nommu
from nommu.analysis import capture, explain_failure
from nommu.analysis.failure import (
    CAUSE_FRAGMENTATION,
    CAUSE_MAX_ORDER,
    CAUSE_NO_MEMORY,
    ProgramInfo,
    size_text,
)
from nommu.analysis.snapshot import MachineSnapshot
from nommu.mm.nommu import AllocFailure

RW = nommu.PROT_READ | nommu.PROT_WRITE
ANON = nommu.MAP_PRIVATE | nommu.MAP_ANONYMOUS
P = 4096


def fail(m: nommu.Machine, p: nommu.Process, length: int) -> tuple[MachineSnapshot, AllocFailure]:
    """Make *p* mmap *length* bytes, which must fail; snapshot at the moment of failure."""
    seen: list[tuple[MachineSnapshot, AllocFailure]] = []
    m.nommu.on_alloc_failure = lambda f: seen.append((capture(m, "failure"), f))
    with pytest.raises(nommu.SyscallError) as e:
        p.mmap(0, length, RW, ANON)
    assert e.value.errno == nommu.Errno.ENOMEM
    assert len(seen) == 1
    return seen[0]


def fragmented() -> tuple[nommu.Machine, nommu.Process, list[int]]:
    """128 free pages in four 32-page blocks, each with one 4-page mapping kept."""
    m = nommu.Machine(ram="1M", kernel_reserved="512K", max_order=7, ideal=True)
    p = m.spawn(name="hog")
    maps = [p.mmap(0, 4 * P, RW, ANON) for _ in range(32)]
    keep = [maps[3], maps[12], maps[20], maps[27]]
    for a in maps:
        if a not in keep:
            p.munmap(a, 4 * P)
    return m, p, keep


def test_fragmentation_names_the_allocations_in_the_way() -> None:
    m, p, keep = fragmented()
    snap, failure = fail(m, p, 30 * P)
    why = explain_failure(snap, failure)
    assert why.cause == CAUSE_FRAGMENTATION
    assert (why.order, why.need_bytes) == (5, 32 * P)
    assert why.free_bytes == 112 * P
    assert why.largest_free_order == failure.largest_free_order < 5
    assert 0 < why.fragmentation_index <= 1
    assert why.candidate_start is not None and why.candidate_start % (32 * P) == 0
    assert why.candidate_free_pages == 28
    (blocker,) = why.blockers
    assert blocker.pages_in_block == 4 and blocker.allocation.owner_pid == 1
    assert blocker.allocation.start_pfn * P in keep
    lo = why.candidate_start
    assert lo <= blocker.allocation.start_pfn * P < lo + 32 * P
    assert why.unattributed_pages == 0
    assert "fragmented" in why.summary and "28 of 32 pages free" in why.summary
    assert any("pid 1 (hog): 4 pages" in r for r in why.remedies)
    assert any(r.startswith("a request of at most") for r in why.remedies)


def test_above_max_order_needs_no_candidate() -> None:
    m = nommu.Machine(ram="8M", max_order=6, ideal=True)
    p = m.spawn()
    snap, failure = fail(m, p, 1 << 20)
    why = explain_failure(snap, failure)
    assert why.cause == CAUSE_MAX_ORDER and why.order == 8
    assert why.candidate_start is None and why.blockers == ()
    assert "MAX_PAGE_ORDER" in why.summary
    assert why.remedies[0] == "split the request: one allocation can be at most 256 KiB"


def test_not_enough_memory_at_all() -> None:
    m = nommu.Machine(ram="1M", kernel_reserved="512K", max_order=7, ideal=True)
    p = m.spawn()
    p.mmap(0, 100 * P, RW, ANON)
    snap, failure = fail(m, p, 64 * P)
    why = explain_failure(snap, failure)
    assert why.cause == CAUSE_NO_MEMORY
    assert why.remedies[0] == "144 KiB more free memory at the least, in one aligned block"


def test_page_cache_in_the_way_is_called_pinned() -> None:
    m = nommu.Machine(ram="1M", kernel_reserved="512K", max_order=7, ideal=True)
    p = m.spawn()
    maps = [p.mmap(0, 32 * P, RW, ANON) for _ in range(4)]
    p.munmap(maps[0], 32 * P)
    fd = p.open("/tmp/f", nommu.O_RDWR | nommu.O_CREAT)
    p.write(fd, b"x")  # one page of page cache, in the only free block
    p.munmap(maps[2], 32 * P)
    p.mmap(0, 20 * P, RW, ANON)  # takes the other free block, 12 pages left there
    snap, failure = fail(m, p, 32 * P)
    why = explain_failure(snap, failure)
    assert why.cause == CAUSE_FRAGMENTATION
    assert why.candidate_start == maps[0] and why.candidate_free_pages == 31
    assert [b.allocation.label for b in why.blockers] == ["/tmp/f"]
    assert any("pinned" in r for r in why.remedies)


def test_a_ram_loaded_program_would_need_less_with_its_text_apart() -> None:
    m, p, _ = fragmented()
    snap, failure = fail(m, p, 30 * P)
    prog = ProgramInfo("/bin/cgi", True, 48192, 6144, 12288, 8192, 420, True)
    why = explain_failure(snap, failure, prog)
    assert "FLAT_FLAG_RAM" in why.remedies[-1] and "executed in place" in why.remedies[-1]
    assert "order-3 block (32 KiB)" in why.remedies[-1]
    assert (
        explain_failure(snap, failure, ProgramInfo("/x", False, 1, 1, 1, 1, 1, False)).remedies
        == why.remedies[:-1]
    )


@pytest.mark.parametrize(
    ("n", "text"),
    [(300, "300 B"), (4096, "4 KiB"), (1536, "1.5 KiB"), (1 << 20, "1 MiB"), (3 << 19, "1.5 MiB")],
)
def test_size_text(n: int, text: str) -> None:
    assert size_text(n) == text
