"""The figures of a report, computed once: the JSON document and what the text shows.

:func:`report_data` turns a :class:`~nommu.scenario.result.RunResult` into
plain data (dicts, lists, ints, strings; floats rounded), in a fixed key
order, with every size in bytes. The terminal and HTML renderers read the
same data, so the three outputs always agree; the JSON output *is* this
data. Its schema is documented in docs/json.md (``"version": 1``).
"""

from __future__ import annotations

from typing import Any

from nommu.analysis.failure import FailureExplanation, explain_failure
from nommu.analysis.footprint import Footprint, footprints
from nommu.analysis.fragmentation import block_bytes, fragmentation
from nommu.analysis.memmap import flash_map, memory_map
from nommu.analysis.snapshot import MachineSnapshot
from nommu.scenario.result import FailureRecord, RunResult

FORMAT = "nommu-report"
VERSION = 1


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
        "kind": f.kind,
        "strerror": f.strerror,
        "detail": f.detail,
        "expected": f.expected,
        "kernel_log": list(f.kernel_log),
        "explanation": explanation_data(x) if x is not None else None,
        "footprint": _footprint(footprints(f.snapshot)) if f.snapshot is not None else None,
    }


def first_failure(result: RunResult) -> FailureRecord | None:
    """The first unexpected failure, else the first failure, else None."""
    for f in result.failures:
        if not f.expected:
            return f
    return result.failures[0] if result.failures else None


def report_data(result: RunResult) -> dict[str, Any]:
    """Every figure of the report, as JSON-ready data."""
    b = result.board
    ps = b.page_size
    end = result.final
    frag = fragmentation(end.nr_free, end.free_pages, ps)
    first = first_failure(result)
    samples = result.samples
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
        },
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
            "first_failure": first.index if first is not None else None,
        },
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
            {"op": c.op, "errno": c.errno, "count": c.count, "first_event": c.first_event}
            for c in result.failure_counts
        ],
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
