"""OOM-killer events of a scenario run, recorded as failures of their own kind.

The machine's :class:`~nommu.mm.oom_kill.OomKiller` calls :func:`record_oom`
(through the runner) each time it decides something: a victim killed (the
caller or another process), a livelock it would hang in, or the panic. Each
becomes a failure (:meth:`~nommu.scenario.engine.Runner.note_failure`) whose kind is
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


def record_oom(r: Runner, rec: OomKill) -> None:
    """Record *rec* through :meth:`Runner.note_failure` under its own kind."""
    where, op, proc, describe = r.op_context or (None, "", None, None)
    if proc is None:
        proc = r.machine.procs.get(rec.trigger_pid)
    if proc is None:  # the kernel itself asked (a spawn): name the victim instead
        proc = r.machine.procs.get(rec.victim_pid)
    if proc is None:
        return
    m = r.machine
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
    kind = KINDS[rec.outcome]
    r.note_failure(
        kind,
        where,
        proc,
        op=op,
        errno="",
        strerror=f"order-{rec.order} {rec.gfp} request: {rec.outcome}, victim {victim}",
        call=describe(proc) if describe is not None else "",
        detail=rec.detail,
        log_mark=r.op_mark,
        alloc=alloc,
        snapshot=snap,
    )
