"""The replayer put together, its call table, and :func:`replay`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from nommu.analysis.snapshot import capture
from nommu.strace.parse import (
    Trace,
    gc_paused,
)
from nommu.strace.replay.policy import (
    ReplayPolicy,
)
from nommu.strace.replay.processes import (
    Processes,
)
from nommu.strace.replay.result import (
    ProcessRecord,
    ReplayResult,
)

if TYPE_CHECKING:
    from nommu.machine import Machine
    from nommu.mm.nommu import AllocFailure


class Replayer(Processes):
    """The whole replay: every call handler and the result."""

    # ---- result -------------------------------------------------------------------------
    def result(self, baseline_free: int) -> ReplayResult:
        m = self.m
        end = capture(m, "end", event=self.seq, names=self.names)
        assert self.peak is not None and self.peak_snapshot is not None
        steady = self.steady_snapshot or end
        label = self.steady_label or "at the end of the trace"
        pid_map = {mp: p.pid for p in self.records for mp in p.model_pids}
        board = {
            "ram": m.ram_size,
            "ram_base": m.ram_base,
            "kernel_reserved": m.kernel_reserved,
            "flash": m.flash_size,
            "flash_base": m.flash_base,
            "page_size": m.page_size,
            "max_order": m.zone.max_order,
            "word_size": m.word_size,
            "nr_trim_pages": m.nommu.nr_trim_pages,
        }
        procs = tuple(
            ProcessRecord(
                p.pid,
                tuple(p.model_pids),
                p.parent,
                p.created,
                p.line,
                p.program,
                p.end,
                p.end_line,
            )
            for p in self.records
        )
        return ReplayResult(
            policy=self.policy,
            libs=self.libs,
            board=board,
            sources=self.trace.sources,
            line_count=self.trace.line_count,
            events=len(self.events),
            replayed=self.replayed,
            skipped_failed=self.skipped_failed,
            page_size=m.page_size,
            managed_pages=m.zone.managed,
            baseline_free=baseline_free,
            samples=tuple(self.samples),
            peak=self.peak,
            peak_snapshot=self.peak_snapshot,
            steady_snapshot=steady,
            steady_label=label,
            end_snapshot=end,
            translations=tuple(self.translations),
            failures=tuple(self.failures),
            processes=procs,
            problems=tuple(self.trace.problems),
            board_files=tuple(self.board_files),
            pid_map=pid_map,
            baseline_snapshot=self.baseline_snapshot,
            dmesg_lines=len(m.dmesg()),
            calls=self.seq,
        )


def replay(
    trace: Trace,
    machine: Machine,
    policy: ReplayPolicy | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> ReplayResult:
    """Replay *trace* onto *machine* under *policy*; see the module docstring.

    *machine* should be freshly built: the replay mounts the library and
    program filesystems on it and leaves it as the trace leaves it (processes
    still running at the end of the trace keep their memory, so ``/proc`` can
    be read afterwards). Raises :class:`~nommu.errors.ConfigError` when the
    board cannot hold the policy's filesystems (``libs="xip"`` without flash,
    libraries larger than the flash, a directory already mounted).
    """
    pol = policy if policy is not None else ReplayPolicy()
    r = Replayer(trace, machine, pol)
    r.progress = progress
    nommu = machine.nommu
    previous = nommu.on_alloc_failure

    def hook(failure: AllocFailure) -> None:
        r.on_alloc_failure(failure)
        if previous is not None:
            previous(failure)

    nommu.on_alloc_failure = hook
    try:
        with gc_paused():
            r.setup()
            r.dmesg_seen = len(machine.dmesg())
            baseline = machine.zone.free_count
            r.baseline_snapshot = capture(machine, "board prepared", names=r.names)
            r.sample(None)
            r.run()
            if r.peak is None:
                r.sample(None)
            return r.result(baseline)
    finally:
        nommu.on_alloc_failure = previous
