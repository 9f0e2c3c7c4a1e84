"""Every fast path agrees with the slow path it stands for.

- ``Nommu.mmap_anonymous`` folds ``do_mmap()`` for anonymous memory;
  ``Nommu.do_mmap_general`` is the step-by-step path.
- ``Nommu.do_munmap`` removes one whole anonymous mapping directly;
  ``Nommu.do_munmap_general`` is the step-by-step path.
- ``BuddyAllocator`` keeps the last split pending and reads counts from the
  record; written out after every step it is the plain algorithm.
- ``Process.mmap``/``munmap`` check "may run" with one flag and argument
  types with ``type() is int``; ``mmap2`` takes the full checks.
- ``parse_elf`` keeps recent parses; the uncached parse is the slow path.

Two machines run the same random steps, one by each path; after every step
everything observable must be equal: results and errno, regions, VMAs, free
lists, counters, memory bytes and the kernel log.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import nommu
from conftest import z1024
from nommu.consts import (
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_GROWSDOWN,
    MAP_LOCKED,
    MAP_PRIVATE,
    MAP_SHARED,
    MAP_UNINITIALIZED,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
)
from nommu.errors import SyscallError
from nommu.mm.page_alloc import BuddyAllocator

P = 4096

# -- anonymous mmap and munmap ------------------------------------------------------------
lengths = st.one_of(
    st.integers(0, 3 * P),
    st.sampled_from([P, 2 * P, 5 * P, 64 * P, 300 * P, 1025 * P, 1 << 40, (1 << 32) - 1]),
)
prots = st.sampled_from([0, PROT_READ, PROT_READ | PROT_WRITE, PROT_READ | PROT_EXEC, 7])
flag_sets = st.tuples(
    st.sampled_from([MAP_PRIVATE, MAP_SHARED, 0, 3]),
    st.sampled_from([0, MAP_FIXED, MAP_GROWSDOWN, MAP_LOCKED, MAP_UNINITIALIZED]),
).map(lambda t: t[0] | t[1] | MAP_ANONYMOUS)
pgoffs = st.sampled_from([0, 1, 0xFFFFFFFF, 0xFFFFFFFFFFFFF000])

step = st.one_of(
    st.tuples(st.just("mmap"), lengths, prots, flag_sets, pgoffs),
    # munmap of held mapping i (mod count) at page offset, length in pages (+ odd bytes)
    st.tuples(st.just("munmap"), st.integers(0, 7), st.integers(0, 3), st.integers(0, 4)),
    st.tuples(st.just("munmap"), st.integers(0, 7), st.just(0), st.just(0)),  # a whole one
    st.tuples(st.just("munmap_raw"), st.integers(0, 1 << 23), st.integers(0, 3 * P)),
    st.tuples(st.just("poke"), st.integers(0, 7), st.binary(min_size=1, max_size=64)),
)


def state(m: nommu.Machine, p: nommu.Process) -> dict[str, Any]:
    """Everything the two paths could leave differently."""
    mm = p.mm
    assert mm is not None
    regions = [
        (
            r.vm_start,
            r.vm_end,
            r.vm_top,
            r.vm_flags,
            r.vm_pgoff,
            r.vm_usage,
            r.vm_icache_flushed,
            r.owner,
        )
        for r in m.nommu.regions
    ]
    vmas = [
        (v.vm_start, v.vm_end, v.vm_flags, v.vm_pgoff, v.vm_region and v.vm_region.vm_start)
        for v in mm.vmas()
    ]
    return {
        "regions": regions,
        "vmas": vmas,
        "map_count": mm.map_count,
        "total_vm": mm.total_vm,
        "hidden": len(mm.hidden),
        "allocated": m.nommu.mmap_pages_allocated,
        "free": m.zone.free_count,
        "lists": [list(m.zone.blocks(o)) for o in range(m.zone.max_order + 1)],
        "bytes": [m.memory.read(v[0], v[1] - v[0]) for v in vmas],
        "touched": m.memory.touched_pages,
        "dmesg": m.dmesg(),
    }


def run(m: nommu.Machine, p: nommu.Process, op: tuple[Any, ...], fast: bool) -> object:
    """One step by the fast path (the system calls) or the slow one."""
    nm = m.nommu
    mm = p.mm
    assert mm is not None
    held = [(v.vm_start, v.vm_end) for v in mm.vmas()]
    try:
        if op[0] == "mmap":
            _, length, prot, flags, pgoff = op
            if fast:
                return p.mmap2(0, length, prot, flags, -1, pgoff)
            mask = nm.ulong_mask  # the system call's unsigned longs, as mmap2 takes them
            nm.current = p
            return nm.do_mmap_general(
                mm, p, None, 0, length & mask, prot & mask, flags & mask, pgoff & mask
            )
        if op[0] in ("munmap", "munmap_raw"):
            if op[0] == "munmap":
                if not held:
                    return "nothing held"
                start, end = held[op[1] % len(held)]
                start += op[2] * P
                length = op[3] * P or end - start
            else:
                start, length = 0x400000 + op[1], op[2]
            if fast:
                p.munmap(start, length)
            else:
                nm.current = p
                nm.do_munmap_general(mm, p, start & nm.ulong_mask, length & nm.ulong_mask)
            return None
        if op[0] == "poke":
            if not held:
                return "nothing held"
            start, end = held[op[1] % len(held)]
            data = op[2][: end - start]
            p.poke(start, data)
            return None
    except SyscallError as e:
        return (e.errno, str(e))
    raise AssertionError(op)


# the low pages, which allocations take first, hold old bytes (zeroing must be seen)
OLD_BYTES = b"".join(pfn.to_bytes(4, "little") * (P // 4) for pfn in range(0x400, 0x440))


@given(st.lists(step, max_size=25), st.booleans())
def test_anonymous_mmap_and_munmap_fast_paths_agree_with_the_general_paths(
    ops: list[tuple[Any, ...]], uninitialized: bool
) -> None:
    machines = []
    for _ in range(2):
        m = z1024(allow_uninitialized=uninitialized)
        m.memory.write(0x400000, OLD_BYTES)
        machines.append((m, m.spawn()))
    (fm, fp), (sm, sp) = machines
    for op in ops:
        assert run(fm, fp, op, fast=True) == run(sm, sp, op, fast=False), op
        assert state(fm, fp) == state(sm, sp), op
    fm.validate()
    sm.validate()


def test_the_general_paths_are_the_ones_compared() -> None:
    """The slow side really takes the step-by-step code (not the fast path again)."""
    m = z1024()
    p = m.spawn()
    mm = p.mm
    assert mm is not None
    calls: list[str] = []
    nm = m.nommu
    fast_mmap, fast_munmap = nm.mmap_anonymous, nm.do_munmap
    nm.mmap_anonymous = lambda *a: calls.append("fast mmap") or fast_mmap(*a)  # type: ignore[method-assign]
    nm.do_munmap = lambda *a: calls.append("fast munmap") or fast_munmap(*a)  # type: ignore[method-assign]
    a = nm.do_mmap_general(mm, p, None, 0, P, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, 0)
    nm.do_munmap_general(mm, p, a, P)
    assert calls == []
    m.validate()


# -- the buddy allocator's pending split ----------------------------------------------------
buddy_step = st.one_of(
    st.tuples(st.just("alloc"), st.integers(0, 6)),
    st.tuples(st.just("exact"), st.integers(1, 70)),
    st.tuples(st.just("free"), st.integers(0, 15)),  # the held run i, whole
    st.tuples(st.just("free_part"), st.integers(0, 15), st.integers(0, 8)),  # its tail from page k
)


@given(st.lists(buddy_step, max_size=40), st.booleans())
def test_pending_split_agrees_with_the_written_out_lists(
    ops: list[tuple[Any, ...]], boot_to_tail: bool
) -> None:
    """The fast allocator is never looked at in full until the end; its counts are read
    from the pending record after every step and must equal the written-out lists'."""
    fast = BuddyAllocator(0x40, 0xC0, 5)
    slow = BuddyAllocator(0x40, 0xC0, 5)
    for z in (fast, slow):
        z.online(0x43, 0xBF, boot_to_tail)
    held: list[tuple[int, int]] = []
    for op in ops:
        if op[0] in ("alloc", "exact"):
            if op[0] == "alloc":
                got = fast.alloc_pages(op[1])
                assert got == slow.alloc_pages(op[1]), op
                n = 1 << op[1]
            else:
                got = fast.alloc_pages_exact(op[1])
                assert got == slow.alloc_pages_exact(op[1]), op
                n = op[1]
            if got is not None:
                held.append((got, got + n))
        elif held:
            start, end = held.pop(op[1] % len(held))
            if op[0] == "free_part" and start + op[2] < end:
                held.append((start, start + op[2]))  # the head stays held
                start += op[2]
            for z in (fast, slow):
                z.free_page_series(start, end)
        slow._materialize()
        assert not slow._pending
        assert fast.free_count == slow.free_count
        assert fast.nr_free_all() == slow.nr_free_all()
        assert [fast.nr_free(o) for o in range(6)] == list(slow.nr_free_all())
        assert fast.largest_free_order() == slow.largest_free_order()
    assert [list(fast.blocks(o)) for o in range(6)] == [list(slow.blocks(o)) for o in range(6)]
    fast.validate()


def test_freeing_the_pending_allocation_takes_the_shortcut() -> None:
    """The case the shortcut is for: free exactly the allocation whose split is pending."""
    z = BuddyAllocator(0x400, 0x800, 10)
    z.online(0x400, 0x800)
    pfn = z.alloc_pages_exact(3)
    assert pfn == 0x400 and z._pending
    assert z.nr_free_all() == (1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0)
    assert z.largest_free_order() == 9
    z.free_page_series(pfn, pfn + 3)
    assert not z._pending
    assert list(z.free_blocks()) == [(0x400, 10)]
    z.validate()


# -- Process.mmap / munmap argument and state checks ---------------------------------------
ANON = MAP_PRIVATE | MAP_ANONYMOUS


def outcome(call: Any) -> object:
    try:
        return ("ok", call())
    except (SyscallError, nommu.ProcessStateError, TypeError) as e:
        return (type(e).__name__, str(e))


@pytest.mark.parametrize("when", ["running", "vfork parent", "exited"])
def test_process_mmap_checks_as_mmap2_does(when: str) -> None:
    """``mmap``'s one-flag check of "may run" fails exactly when ``mmap2``'s full one does."""
    results = []
    for path in ("mmap", "mmap2"):
        m = z1024()
        p = m.spawn()
        if when == "vfork parent":
            p.vfork()
        elif when == "exited":
            q = p.vfork()
            q.exit(0)
            p.exit(0)
        call = getattr(p, path)
        results.append(outcome(lambda: call(0, P, PROT_READ, ANON, -1, 0)))  # noqa: B023
    assert results[0] == results[1]
    assert (results[0][0] == "ok") == (when == "running")


@pytest.mark.parametrize(
    "args",
    [
        (True, P, PROT_READ, ANON),
        (0, 4096.0, PROT_READ, ANON),
        (0, P, "r", ANON),
        (0, P, PROT_READ, None),
    ],
)
def test_process_mmap_type_checks_as_mmap2_does(args: tuple[object, ...]) -> None:
    m = z1024()
    p = m.spawn()
    fast = outcome(lambda: p.mmap(*args))  # type: ignore[arg-type]
    slow = outcome(lambda: p.mmap2(*args))  # type: ignore[arg-type]
    assert fast == slow
    assert fast[0] == "TypeError"


@pytest.mark.parametrize("when", ["vfork parent", "exited"])
def test_process_munmap_refuses_as_the_slow_check_does(when: str) -> None:
    m = z1024()
    p = m.spawn()
    a = p.mmap(0, P, PROT_READ, ANON)
    if when == "vfork parent":
        p.vfork()
    else:
        p.exit(0)
    expected = outcome(p._enter)
    assert expected[0] == "ProcessStateError"
    assert outcome(lambda: p.munmap(a, P)) == expected
    assert outcome(lambda: p.munmap(True, P)) == expected  # the state is checked first


# -- the ELF parse cache -----------------------------------------------------------------
def test_parse_elf_cache_agrees_with_a_fresh_parse() -> None:
    from nommu.binfmt import elf_format
    from nommu.binfmt.elf_format import PF_R, PF_X, SegmentSpec, build_elf

    image = build_elf([SegmentSpec(0, 0x1234, offset=0, flags=PF_R | PF_X)], fdpic=True)
    blob = bytearray(image)
    first = elf_format.parse_elf(blob, name="/bin/a")
    uncached = elf_format._parse_elf_bytes.__wrapped__(bytes(blob), "/bin/a")
    assert first == uncached
    assert elf_format.parse_elf(image, name="/bin/a") is first  # served from the cache
    blob[0] = 0  # the caller's buffer changes after the parse: the cache must not
    with pytest.raises(SyscallError, match="not an ELF file"):
        elf_format.parse_elf(blob, name="/bin/a")
    assert elf_format.parse_elf(image, name="/bin/a") == uncached
    with pytest.raises(AttributeError):  # what the cache hands out cannot be changed
        first.segments = ()  # type: ignore[misc]
