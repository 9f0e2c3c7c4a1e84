"""Why a contiguous allocation failed, and what would have let it succeed.

The kernel's own report (``page allocation failure: order:N`` and the
``Normal: a*4kB b*8kB … = NkB`` line) says *that* no free block of order N
was left. This module adds *why*, from a snapshot taken at the moment of the
failure:

- the **cause**: the request is above ``MAX_PAGE_ORDER`` (no amount of free
  memory helps), or a free block of the order was there but taking it would
  have left no more than the zone's min watermark free (``__zone_watermark_ok``
  refused it, not fragmentation), or there is not enough free memory at all, or there is
  enough but it is in pieces too small (fragmentation; the kernel's
  fragmentation index says how clearly);
- the **best candidate block**: of the naturally aligned blocks of the order
  needed, the one with the most free pages (the lowest address on a tie),
  and the allocations that **sit in the way** in it, with their owners;
- **remedies**: what would have made the request succeed (freeing those
  allocations, a smaller request, more memory, a larger max order).

Usage::

    why = explain_failure(snapshot, failure)   # failure: mm.nommu.AllocFailure
    print(why.summary)
    for line in why.remedies:
        print(" -", line)
"""

from __future__ import annotations

from dataclasses import dataclass

from nommu.analysis.fragmentation import fragmentation_index
from nommu.analysis.snapshot import KIND_OTHER, KIND_PAGE_CACHE, Allocation, MachineSnapshot
from nommu.mm.nommu import AllocFailure

CAUSE_MAX_ORDER = "above max order"
CAUSE_NO_MEMORY = "not enough free memory"
CAUSE_FRAGMENTATION = "fragmentation"
CAUSE_WATERMARK = "min watermark"


@dataclass(frozen=True, slots=True)
class ProgramInfo:
    """What an exec that failed was loading: a bFLT file's header figures."""

    path: str
    loads_into_ram: bool  # FLAT_FLAG_RAM (or GZIP): text copied into the one block
    text_len: int  # including the 64-byte header
    data_len: int
    bss_len: int
    stack_size: int
    reloc_count: int
    xip_possible: bool  # the file is on a filesystem that can map it in place


@dataclass(frozen=True, slots=True)
class Blocker:
    """An allocation inside the candidate block, and how many of its pages lie there."""

    allocation: Allocation
    pages_in_block: int


@dataclass(frozen=True, slots=True)
class FailureExplanation:
    """The facts of one allocation failure, explained."""

    pid: int
    comm: str
    length: int
    order: int
    need_bytes: int
    max_order: int
    page_size: int
    free_bytes: int
    largest_free_order: int
    largest_free_bytes: int
    nr_free: tuple[int, ...]
    cause: str
    fragmentation_index: float  # -1 success, 0 lack of memory, 1 fragmentation
    candidate_start: int | None  # physical address of the best candidate block
    candidate_free_pages: int
    blockers: tuple[Blocker, ...]
    unattributed_pages: int  # allocated pages in the block nobody in the snapshot claims
    summary: str
    remedies: tuple[str, ...]


def size_text(nbytes: int) -> str:
    """Bytes as KiB/MiB, exact where possible ("128 KiB", "1.5 MiB", "300 B")."""
    if nbytes >= 1 << 20 and nbytes % (1 << 20) == 0:
        return f"{nbytes >> 20} MiB"
    if nbytes >= 1 << 20:
        return f"{nbytes / (1 << 20):.1f} MiB"
    if nbytes >= 1024 and nbytes % 1024 == 0:
        return f"{nbytes >> 10} KiB"
    if nbytes >= 1024:
        return f"{nbytes / 1024:.1f} KiB"
    return f"{nbytes} B"


def _candidate(snap: MachineSnapshot, order: int) -> tuple[int | None, int]:
    """The aligned order-*order* block with the most free pages: (first pfn, free pages)."""
    size = 1 << order
    lo = snap.start_pfn + snap.reserved_pages
    hi = snap.end_pfn
    first = -(-lo // size)
    if (first + 1) * size > hi:
        return None, 0
    free_in: dict[int, int] = {}
    for pfn, o in snap.free_blocks:
        if o >= order:
            return pfn, size  # the request would fit here now
        b = pfn >> order
        free_in[b] = free_in.get(b, 0) + (1 << o)
    best, best_free = first, 0
    for b in sorted(free_in):
        if b < first or (b + 1) * size > hi:
            continue
        if free_in[b] > best_free:
            best, best_free = b, free_in[b]
    return best * size, best_free


def _blockers(snap: MachineSnapshot, start: int, size: int) -> tuple[tuple[Blocker, ...], int]:
    end = start + size
    found: list[Blocker] = []
    pages = 0
    for a in snap.allocations:
        if a.start_pfn >= end or a.end_pfn <= start:
            continue
        n = min(a.end_pfn, end) - max(a.start_pfn, start)
        found.append(Blocker(a, n))
        pages += n
    return tuple(found), pages


def _owner(a: Allocation) -> str:
    if a.owner_pid:
        return f"pid {a.owner_pid}" + (f" ({a.owner_name})" if a.owner_name else "")
    if a.kind == KIND_PAGE_CACHE:
        return f"the page cache of {a.label}"
    return "the kernel"


def _program_remedy(program: ProgramInfo, order: int, ps: int) -> str | None:
    """For a bFLT loaded whole into RAM: the smaller block it would need with text apart.

    Without FLAT_FLAG_RAM the loader maps the text from the file and needs one
    anonymous block of ``data + max(bss + stack, relocs) + one word`` only
    (fs/binfmt_flat.c; the argument area is left out, so this is a lower bound).
    """
    if not program.loads_into_ram:
        return None
    need = program.data_len + max(program.bss_len + program.stack_size, program.reloc_count * 4) + 4
    pages = -(-need // ps)
    data_order = max(pages - 1, 0).bit_length()
    if data_order >= order:
        return None
    where = (
        "executed in place from flash"
        if program.xip_possible
        else "one copy shared by every process running it"
    )
    return (
        f"{program.path} is a bFLT with FLAT_FLAG_RAM: its {size_text(program.text_len)} "
        f"of text is copied into the same block as its data. Built without it "
        f"(elf2flt without -r), the text would be mapped from the file ({where}) and "
        f"this exec would need about an order-{data_order} block "
        f"({size_text((1 << data_order) * ps)}) for data, bss and stack"
    )


def explain_failure(
    snap: MachineSnapshot, failure: AllocFailure, program: ProgramInfo | None = None
) -> FailureExplanation:
    """Explain *failure* with the memory of *snap* (taken when it happened).

    *program* describes the file an exec was loading, when that is what failed.
    """
    ps = failure.page_size
    order = failure.order
    need = (1 << order) * ps if order <= 63 else 0
    free_bytes = failure.free_pages * ps
    lfo = failure.largest_free_order
    largest = (1 << lfo) * ps if lfo >= 0 else 0
    nr_free = failure.nr_free
    who = f"{failure.comm} (pid {failure.pid})" if failure.pid else "the kernel"
    ask = f"{who} asked for {failure.length} bytes"
    blockers: tuple[Blocker, ...] = ()
    cand: int | None = None
    cand_free = 0
    unattributed = 0
    remedies: list[str] = []

    if order > failure.max_order:
        cause = CAUSE_MAX_ORDER
        findex = 0.0
        limit = (1 << failure.max_order) * ps
        summary = (
            f"{ask}: an order-{order} block ({size_text(need)}), above the largest "
            f"block the page allocator has at all (order {failure.max_order}, "
            f"{size_text(limit)}, MAX_PAGE_ORDER). Free memory does not matter: "
            f"{size_text(free_bytes)} was free."
        )
        remedies.append(f"split the request: one allocation can be at most {size_text(limit)}")
        remedies.append(
            f"or build the kernel with MAX_PAGE_ORDER >= {order} (CONFIG_ARCH_FORCE_MAX_ORDER)"
        )
    else:
        findex = fragmentation_index(nr_free, failure.free_pages, order)
        size = 1 << order
        start, cand_free = _candidate(snap, order)
        if start is not None and cand_free:  # a block with nothing free explains nothing
            cand = start * ps
            blockers, claimed = _blockers(snap, start, size)
            unattributed = max(size - cand_free - claimed, 0)
        have = (
            f"the largest free block was order {lfo} ({size_text(largest)})"
            if lfo >= 0
            else "no block at all was free"
        )
        if failure.watermark_refused:
            cause = CAUSE_WATERMARK
            mark = failure.watermark_min
            summary = (
                f"{ask}: one contiguous order-{order} block ({size_text(need)}). "
                f"Such a block was free ({have}), but the kernel keeps the zone's min "
                f"watermark of {mark} pages ({size_text(mark * ps)}, from "
                f"vm.min_free_kbytes) for itself: with {failure.free_pages} pages free, "
                f"taking {size} would have left {failure.free_pages - size} "
                f"(__zone_watermark_ok refuses at {mark} or fewer). The watermark, not "
                f"fragmentation, refused it."
            )
            remedies.append(
                f"{size_text((mark + size - failure.free_pages + 1) * ps)} more free memory, "
                f"or a smaller vm.min_free_kbytes"
            )
            cand, blockers, unattributed = None, (), 0
        elif failure.free_pages < size:
            cause = CAUSE_NO_MEMORY
            summary = (
                f"{ask}: one contiguous order-{order} block ({size_text(need)}). "
                f"Only {size_text(free_bytes)} was free in total, and {have}."
            )
            remedies.append(
                f"{size_text(need - free_bytes)} more free memory at the least, "
                f"in one aligned block"
            )
        else:
            cause = CAUSE_FRAGMENTATION
            pieces = sum(nr_free)
            summary = (
                f"{ask}: one contiguous order-{order} block ({size_text(need)}). "
                f"{size_text(free_bytes)} was free, but in {pieces} pieces and {have}: "
                f"memory was fragmented (fragmentation index {findex:.3f}; near 1 "
                f"means fragmentation, near 0 lack of memory)."
            )
        if cand is not None:
            in_way = len(blockers) + (1 if unattributed else 0)
            used = size - cand_free
            summary += (
                f" The best candidate block, {cand:#x}-{cand + need:#x}, had "
                f"{cand_free} of {size} pages free; {used} page"
                f"{'s' if used != 1 else ''} in {in_way} allocation"
                f"{'s' if in_way != 1 else ''} sat in the way."
            )
            if blockers or unattributed:
                owners: dict[str, int] = {}
                for b in blockers:
                    key = _owner(b.allocation)
                    owners[key] = owners.get(key, 0) + b.pages_in_block
                if unattributed:
                    owners["the kernel"] = owners.get("the kernel", 0) + unattributed
                listed = ", ".join(
                    f"{k}: {v} page{'s' if v != 1 else ''}" for k, v in owners.items()
                )
                remedies.append(
                    f"the block at {cand:#x} would have been free had these "
                    f"allocations been elsewhere or freed: {listed}"
                )
                if any(b.allocation.kind == KIND_PAGE_CACHE for b in blockers):
                    remedies.append(
                        "page cache of ramfs/tmpfs files is pinned without an MMU: "
                        "deleting or truncating those files frees it"
                    )
                if any(b.allocation.kind == KIND_OTHER for b in blockers) or unattributed:
                    remedies.append("kernel allocations in the block cannot move")
        if lfo >= 0 and cause == CAUSE_FRAGMENTATION:
            remedies.append(
                f"a request of at most {size_text(largest)} (order {lfo}) would "
                f"have fitted in the largest free block"
            )
    if program is not None:
        hint = _program_remedy(program, order, ps)
        if hint is not None:
            remedies.append(hint)
    return FailureExplanation(
        pid=failure.pid,
        comm=failure.comm,
        length=failure.length,
        order=order,
        need_bytes=need,
        max_order=failure.max_order,
        page_size=ps,
        free_bytes=free_bytes,
        largest_free_order=lfo,
        largest_free_bytes=largest,
        nr_free=tuple(nr_free),
        cause=cause,
        fragmentation_index=findex,
        candidate_start=cand,
        candidate_free_pages=cand_free,
        blockers=blockers,
        unattributed_pages=unattributed,
        summary=summary,
        remedies=tuple(remedies),
    )
