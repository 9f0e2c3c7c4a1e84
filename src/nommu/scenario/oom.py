"""OOM-killer events of a scenario run, recorded as failures of their own kind.

The machine's :class:`~nommu.mm.oom_kill.OomKiller` calls :func:`record_oom`
(through the runner) each time it decides something: a victim killed (the
caller or another process), a livelock it would hang in, or the panic. Each
becomes a :class:`~nommu.scenario.result.FailureRecord` whose ``kind`` is
``oom-kill``, ``oom-livelock`` or ``oom-panic``: who asked for what, who was
killed, the kernel's lines, and a snapshot with the allocator's facts, so the
failure analysis explains why the small request could not be met (the
watermark, fragmentation or no memory) and what would have avoided it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from nommu.analysis.snapshot import capture
from nommu.mm.nommu import AllocFailure
from nommu.mm.oom_kill import OomKill
from nommu.scenario.result import FailureRecord
from nommu.scenario.schema import Location

if TYPE_CHECKING:
    from nommu.process import Process
    from nommu.scenario.engine import Runner

#: FailureRecord.kind (and the errno column) of each OomKill outcome
KINDS = {
    "killed caller": "oom-kill",
    "killed other": "oom-kill",
    "livelock": "oom-livelock",
    "panic": "oom-panic",
}

#: What the runner was doing when the kernel ran the OOM killer.
OpContext = tuple[Location, str, "Process | None", "Callable[[Process], str] | None"]

KERNEL = Location("<kernel>", 0, "")


def record_oom(r: Runner, rec: OomKill) -> None:
    """Count *rec* as a failure of its kind and keep it in full while under the limit."""
    where, op, proc, describe = r.op_context or (KERNEL, "kernel", None, None)
    kind = KINDS[rec.outcome]
    r.total_failures += 1
    r.unexpected += 1
    key = (op, kind.upper())
    c = r.counts.get(key)
    if c is None:
        r.counts[key] = [1, r.event + 1]
    else:
        c[0] += 1
    if len(r.failures) >= r.detail_limit:
        return
    m = r.machine
    log = m.dmesg()[r.op_mark :]
    alloc = AllocFailure(
        rec.trigger_pid,
        rec.trigger_comm,
        rec.length,
        rec.order,
        m.zone.max_order,
        rec.largest_free_order,
        rec.free_pages,
        rec.nr_free,
        m.page_size,
        rec.watermark_min,
    )
    snap = capture(m, "oom", event=r.event + 1, tick=r.tick, names=r.pid_names)
    victim = f"{rec.victim_comm} (pid {rec.victim_pid})" if rec.victim_pid else "nobody"
    r.failures.append(
        FailureRecord(
            len(r.failures) + 1,
            r.event + 1,
            r.tick,
            where,
            op,
            proc.name if proc is not None else rec.trigger_comm,
            proc.pid if proc is not None else rec.trigger_pid,
            describe(proc) if proc is not None and describe is not None else "",
            kind.upper(),
            f"order-{rec.order} {rec.gfp} request: {rec.outcome}, victim {victim}",
            rec.detail,
            False,
            tuple(log[-12:]),
            alloc,
            snap,
            None,
            kind,
        )
    )
