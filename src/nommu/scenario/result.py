"""What a scenario run produced: frozen values for reports.

A :class:`RunResult` holds the time series of the page allocator (sampled),
the minima over every event, the named snapshots, the failures (the first
ones in full, with a snapshot taken at the moment of failure), and the
outcome of every expectation. It holds no reference to the machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from nommu.analysis.failure import ProgramInfo
from nommu.analysis.snapshot import MachineSnapshot
from nommu.mm.nommu import AllocFailure
from nommu.scenario.schema import Location


class Sample(NamedTuple):
    """The allocator after one event (sampled: a few thousand per run, so cheap to make)."""

    event: int
    tick: int
    free_pages: int
    largest_order: int  # -1 when nothing is free
    mmap_copy_pages: int
    cached_pages: int
    nr_free: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class FailureRecord:
    """A system call that failed during the run."""

    index: int  # 1-based, in order of occurrence
    event: int
    tick: int
    where: Location  # the step (or workload entry) that made the call
    op: str
    proc: str  # process name at the time
    pid: int
    call: str  # the call as strace would print it
    errno: str  # "ENOMEM"
    strerror: str
    detail: str  # the model's one-line reason
    expected: bool  # the step said expect = this errno
    kernel_log: tuple[str, ...]  # lines the kernel logged for it
    alloc: AllocFailure | None  # for allocation failures: the allocator's facts
    snapshot: MachineSnapshot | None  # memory at the moment of the failure
    program: ProgramInfo | None = None  # for a failed exec: what it was loading
    #: "syscall" (a call failed with an errno), "oom-kill" (the OOM killer killed a
    #: process), "oom-livelock" (the kernel would hang on an OOM victim),
    #: "oom-panic" (nothing was killable: the kernel panicked)
    kind: str = "syscall"


@dataclass(frozen=True, slots=True)
class FailureCount:
    """How often one op failed with one errno (every failure, not only recorded ones)."""

    op: str
    errno: str
    count: int
    first_event: int


@dataclass(frozen=True, slots=True)
class ExpectationResult:
    """An expectation and whether it held each time it was checked."""

    where: Location
    what: str
    checked: int
    failed: int
    detail: str  # why it failed (first time), or the value seen

    @property
    def passed(self) -> bool:
        return self.checked > 0 and self.failed == 0


@dataclass(frozen=True, slots=True)
class BoardSummary:
    """The machine the scenario ran on."""

    ram_base: int
    ram_size: int
    kernel_reserved: int
    flash_base: int
    flash_size: int
    page_size: int
    max_order: int
    nr_trim_pages: int
    word_size: int
    options: tuple[tuple[str, str], ...]  # the [board] table as written, sorted


@dataclass(frozen=True, slots=True)
class RunResult:
    """Everything a report shows about one run."""

    name: str
    description: str
    path: str
    seed: int
    board: BoardSummary
    events: int
    ticks: int
    samples: tuple[Sample, ...]
    sample_every: int
    min_free_pages: int
    min_free_event: int
    min_largest_order: int
    min_largest_event: int
    snapshots: tuple[MachineSnapshot, ...]  # named moments, then "end"
    failures: tuple[FailureRecord, ...]  # the first ones, in full
    failure_counts: tuple[FailureCount, ...]
    total_failures: int
    unexpected_failures: int
    expectations: tuple[ExpectationResult, ...]
    stopped: str | None  # why the run stopped early (a kernel oops), or None
    processes_started: int
    dmesg_lines: int
    skipped_steps: int = 0  # steps not made because a value they read was not saved

    @property
    def final(self) -> MachineSnapshot:
        return self.snapshots[-1]

    @property
    def ok(self) -> bool:
        """Whether every expectation held and the run completed."""
        return self.stopped is None and all(e.passed for e in self.expectations)
