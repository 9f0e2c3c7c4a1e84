"""The figures of a report, computed once: the JSON document and what the text shows.

:func:`report_data` turns a :class:`~nommu.scenario.result.RunResult` into
plain data (dicts, lists, ints, strings; floats rounded), in a fixed key
order, with every size in bytes. The terminal and HTML renderers read the
same data, so the three outputs always agree; the JSON output *is* this
data. Its schema is documented in docs/json.md (``"version": 1``).
"""

from __future__ import annotations

from typing import Any

from nommu.analysis.failure import FailureExplanation, explain_failure, size_text
from nommu.analysis.footprint import Footprint, footprints
from nommu.analysis.fragmentation import block_bytes, fragmentation
from nommu.analysis.memmap import flash_map, memory_map
from nommu.analysis.snapshot import MachineSnapshot
from nommu.scenario.result import FailureRecord, RunResult

FORMAT = "nommu-report"
VERSION = 1


def duration_text(seconds: float) -> str:
    """A duration as people say it: ``"1h 35m 40s"``, ``"250ms"``, ``"2d 3h"``."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    total = round(seconds)
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size or (unit == "s" and not parts):
            parts.append(f"{total // size}{unit}")
            total %= size
    return " ".join(parts[:3])


def tick_text(tick: int, tick_seconds: float | None) -> str:
    """``"tick 5740"``, or ``"tick 5740 (1h 35m 40s)"`` when the scenario says what a tick is."""
    if tick_seconds is None:
        return f"tick {tick}"
    return f"tick {tick} ({duration_text(tick * tick_seconds)})"


def verdict_data(result: RunResult) -> dict[str, Any]:
    """Does it fit? One line, and the reasons it does not.

    The board fails when the run stopped early, an expectation did not hold,
    or more failures happened than the scenario expects or allows (by
    default none: every failure of any kind counts, unless a step's
    ``expect``/``allow`` or ``[expect] allow``/``max_failures`` says otherwise).
    """
    reasons = []
    if result.stopped is not None:
        reasons.append(f"the run stopped early ({result.stopped})")
    failed = [e for e in result.expectations if not e.passed]
    if failed:
        n = len(result.expectations)
        reasons.append(
            f"{len(failed)} of {n} expectation{'s' if n != 1 else ''} did not hold "
            f"(first: {failed[0].what})"
        )
    unexpected = result.unexpected_failures
    if unexpected > result.failure_allowance:
        first = result.first_unexpected
        what = f"{unexpected} failure{'s' if unexpected != 1 else ''} the scenario does not "
        what += "expect or allow"
        if result.failure_allowance:
            what += f" (it allows {result.failure_allowance})"
        if first is not None and first.first_unexpected_tick is not None:
            what += (
                f"; the first: {first.key} at "
                f"{tick_text(first.first_unexpected_tick, result.tick_seconds)} "
                f"(event {first.first_unexpected_event})"
            )
        reasons.append(what)
    fits = not reasons
    one_run = f"One run (seed {result.seed}): --seeds N gives the probability."
    if fits:
        ps = result.board.page_size
        tolerated = result.total_failures
        summary = (
            "the run completed"
            + (f", {len(result.expectations)} expectations held" if result.expectations else "")
            + (
                f", {tolerated} failure{'s' if tolerated != 1 else ''} expected or allowed"
                if tolerated
                else ", no failure"
            )
            + f"; lowest free memory {size_text(result.min_free_pages * ps)}, smallest "
            f"largest free block {size_text(block_bytes(result.min_largest_order, ps))}"
        )
        headline = f"Does it fit? YES: {summary}. {one_run}"
    else:
        summary = "; ".join(reasons)
        headline = f"Does it fit? NO: {summary}. {one_run}"
    return {"fits": fits, "headline": headline, "summary": summary, "reasons": reasons}


def _footprint(rows: tuple[Footprint, ...]) -> list[dict[str, Any]]:
    return [f.to_json() for f in rows]


def _snapshot(s: MachineSnapshot) -> dict[str, Any]:
    ps = s.page_size
    return {
        "label": s.label,
        "event": s.event,
        "tick": s.tick,
        "free_bytes": s.free_pages * ps,
        "largest_free_block_bytes": block_bytes(s.largest_free_order, ps),
        "mmap_copy_bytes": s.mmap_copy_pages * ps,
        "page_cache_bytes": s.cached_pages * ps,
        "nr_free": list(s.nr_free),
        "footprint": _footprint(footprints(s)),
        "memory_map": [
            {
                "start": r.start_pfn * ps,
                "bytes": r.npages * ps,
                "kind": r.kind,
                "owner_pid": r.owner_pid,
                "owner": r.owner_name,
                "label": r.label,
            }
            for r in memory_map(s)
        ],
        "flash_map": [
            {
                "start": r.start_pfn * ps,
                "bytes": r.npages * ps,
                "kind": r.kind,
                "owner_pid": r.owner_pid,
                "owner": r.owner_name,
                "label": r.label,
            }
            for r in flash_map(s)
        ],
    }


def explanation_data(x: FailureExplanation) -> dict[str, Any]:
    ps = x.page_size
    block = None
    if x.candidate_start is not None:
        block = {
            "start": x.candidate_start,
            "bytes": x.need_bytes,
            "free_pages": x.candidate_free_pages,
            "in_the_way": [
                {
                    "kind": b.allocation.kind,
                    "start": b.allocation.start_pfn * ps,
                    "bytes": b.allocation.npages * ps,
                    "pages_in_block": b.pages_in_block,
                    "owner_pid": b.allocation.owner_pid,
                    "owner": b.allocation.owner_name,
                    "label": b.allocation.label,
                    "mapped_by": list(b.allocation.users),
                }
                for b in x.blockers
            ],
            "unattributed_pages": x.unattributed_pages,
        }
    return {
        "cause": x.cause,
        "order": x.order,
        "need_bytes": x.need_bytes,
        "max_order": x.max_order,
        "free_bytes": x.free_bytes,
        "largest_free_order": x.largest_free_order,
        "largest_free_bytes": x.largest_free_bytes,
        "nr_free": list(x.nr_free),
        "fragmentation_index": round(x.fragmentation_index, 3),
        "candidate_block": block,
        "summary": x.summary,
        "remedies": list(x.remedies),
    }


def explain(f: FailureRecord) -> FailureExplanation | None:
    """The explanation of a recorded failure, when it was an allocation failure."""
    if f.alloc is None or f.snapshot is None:
        return None
    return explain_failure(f.snapshot, f.alloc, f.program)


def _failure(f: FailureRecord) -> dict[str, Any]:
    x = explain(f)
    return {
        "index": f.index,
        "kind": f.kind,
        "key": f.key,
        "event": f.event,
        "tick": f.tick,
        "file": f.where.file,
        "line": f.where.line,
        "field": f.where.field,
        "op": f.op,
        "process": f.proc,
        "pid": f.pid,
        "call": f.call,
        "errno": f.errno,
        "strerror": f.strerror,
        "detail": f.detail,
        "expected": f.expected,
        "allowed": f.allowed,
        "kernel_log": list(f.kernel_log),
        "explanation": explanation_data(x) if x is not None else None,
        "footprint": _footprint(footprints(f.snapshot)) if f.snapshot is not None else None,
    }


def _flash(result: RunResult) -> dict[str, Any] | None:
    """Flash use per MTD partition: its size and what is mapped in place (XIP) at the end."""
    b = result.board
    if not b.flash_size:
        return None
    xip = [r for r in result.final.regions if r.kind == "xip"]
    parts = []
    for p in result.flash_partitions:
        mapped = sum(max(0, min(r.end, p.start + p.size) - max(r.start, p.start)) for r in xip)
        parts.append(
            {
                "name": p.name,
                "start": p.start,
                "bytes": p.size,
                "type": p.mtd_type,
                "xip_mapped_bytes": mapped,
            }
        )
    used = sum(p.size for p in result.flash_partitions)
    return {
        "bytes": b.flash_size,
        "used_bytes": used,
        "free_bytes": b.flash_size - used,
        "partitions": parts,
    }


def first_failure(result: RunResult) -> FailureRecord | None:
    """The first failure held against the run, else the first one allowed, else the
    first failure, else None."""
    for f in result.failures:
        if not f.expected and not f.allowed:
            return f
    for f in result.failures:
        if not f.expected:
            return f
    return result.failures[0] if result.failures else None


def first_of_each_kind(result: RunResult) -> dict[str, FailureRecord]:
    """The first recorded failure of each kind (call, errno, program), by kind."""
    out: dict[str, FailureRecord] = {}
    for f in result.failures:
        out.setdefault(f.key, f)
    return out


def report_data(result: RunResult) -> dict[str, Any]:
    """Every figure of the report, as JSON-ready data."""
    b = result.board
    ps = b.page_size
    end = result.final
    frag = fragmentation(end.nr_free, end.free_pages, ps)
    first = first_failure(result)
    samples = result.samples
    firsts = first_of_each_kind(result)
    marks = result.failure_marks
    return {
        "format": FORMAT,
        "version": VERSION,
        "scenario": {
            "name": result.name,
            "description": result.description,
            "path": result.path,
            "seed": result.seed,
        },
        "board": {
            "ram_bytes": b.ram_size,
            "ram_base": b.ram_base,
            "kernel_reserved_bytes": b.kernel_reserved,
            "flash_bytes": b.flash_size,
            "flash_base": b.flash_base,
            "page_size": ps,
            "max_order": b.max_order,
            "nr_trim_pages": b.nr_trim_pages,
            "word_size": b.word_size,
            "options": dict(b.options),
        },
        "run": {
            "events": result.events,
            "ticks": result.ticks,
            "processes_started": result.processes_started,
            "kernel_log_lines": result.dmesg_lines,
            "skipped_steps": result.skipped_steps,
            "stopped": result.stopped,
            "ok": result.ok,
            "tick_seconds": result.tick_seconds,
        },
        "verdict": verdict_data(result),
        "boot": list(result.boot),
        "summary": {
            "ram_bytes": b.ram_size,
            "managed_bytes": end.managed_pages * ps,
            "free_bytes": end.free_pages * ps,
            "min_free_bytes": result.min_free_pages * ps,
            "min_free_event": result.min_free_event,
            "largest_free_block_bytes": block_bytes(end.largest_free_order, ps),
            "min_largest_free_block_bytes": block_bytes(result.min_largest_order, ps),
            "min_largest_free_block_event": result.min_largest_event,
            "mmap_copy_bytes": end.mmap_copy_pages * ps,
            "page_cache_bytes": (end.cached_pages - end.disk_cache_pages) * ps,
            "disk_cache_bytes": end.disk_cache_pages * ps,
            "kernel_bytes": end.kernel_pages * ps,
            "kernel_stack_bytes": end.kernel_stack_pages * ps,
            "slab_bytes": end.slab_pages * ps,
            "watermark_min_bytes": end.watermark_min * ps,
            "failures": result.total_failures,
            "unexpected_failures": result.unexpected_failures,
            "failure_allowance": result.failure_allowance,
            "first_failure": first.index if first is not None else None,
        },
        "flash": _flash(result),
        "fragmentation": {
            "free_bytes": frag.free_bytes,
            "largest_free_order": frag.largest_free_order,
            "largest_free_bytes": frag.largest_free_bytes,
            "orders": [
                {
                    "order": o.order,
                    "block_bytes": o.block_bytes,
                    "free_blocks": o.nr_free,
                    "free_bytes": o.free_pages * ps,
                    "unusable_index": round(o.unusable_index, 3),
                }
                for o in frag.orders
            ],
        },
        "footprint": _footprint(footprints(end)),
        "timeline": {
            "sample_every": result.sample_every,
            "event": [s.event for s in samples],
            "tick": [s.tick for s in samples],
            "free_bytes": [s.free_pages * ps for s in samples],
            "largest_free_block_bytes": [block_bytes(s.largest_order, ps) for s in samples],
            "mmap_copy_bytes": [s.mmap_copy_pages * ps for s in samples],
            "page_cache_bytes": [s.cached_pages * ps for s in samples],
            "nr_free": [list(s.nr_free) for s in samples],
        },
        "snapshots": [_snapshot(s) for s in result.snapshots],
        "failures": [_failure(f) for f in result.failures],
        "failure_counts": [
            {
                "key": c.key,
                "kind": c.kind,
                "op": c.op,
                "errno": c.errno,
                "process": c.proc,
                "count": c.count,
                "unexpected": c.unexpected,
                "first_event": c.first_event,
                "first_tick": c.first_tick,
                "first_unexpected_event": c.first_unexpected_event,
                "first_unexpected_tick": c.first_unexpected_tick,
                "failure": firsts[c.key].index if c.key in firsts else None,
            }
            for c in result.failure_counts
        ],
        "failure_marks": {
            "event": [m.event for m in marks],
            "tick": [m.tick for m in marks],
            "kind": [m.kind for m in marks],
        },
        "expectations": [
            {
                "file": e.where.file,
                "line": e.where.line,
                "field": e.where.field,
                "what": e.what,
                "checked": e.checked,
                "failed": e.failed,
                "passed": e.passed,
                "detail": e.detail,
            }
            for e in result.expectations
        ],
    }
