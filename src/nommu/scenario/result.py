"""What a scenario run produced: frozen values for reports.

A :class:`RunResult` holds the time series of the page allocator (sampled),
the minima over every event, the named snapshots, the failures (the first
ones, and the first of each kind, in full, with a snapshot taken at the
moment of failure), a mark for every failure, and the outcome of every
expectation. It holds no reference to the machine.

Failures are counted by *kind*: a :class:`FailureRecord` has a ``kind``
(``"syscall"`` for a failed system call; other parts of the model may record
other kinds, such as a process killed for lack of memory), and the verdict
(:meth:`RunResult.verdict`) counts every kind the same way, so a new kind
is judged without changes here.
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
    allowed: bool = False  # the scenario allows it (``allow`` keys): not held against it
    #: what failed: "syscall" (a call failed with an errno), "oom-kill" (the OOM killer
    #: killed a process), "oom-livelock" (the kernel would hang on an OOM victim),
    #: "oom-panic" (nothing was killable: the kernel panicked)
    kind: str = "syscall"

    @property
    def key(self) -> str:
        """The failure's kind as reports group it: ``"exec ENOMEM cgi"``."""
        return failure_key(self.kind, self.op, self.errno, self.proc)


def failure_key(kind: str, op: str, errno: str, proc: str) -> str:
    """One kind of failure, as text: the call, the errno and the program.

    A failed system call is ``"exec ENOMEM cgi"``; another kind of failure
    puts its kind first (``"oom-kill cgi"`` when it has no call or errno).
    """
    head = [] if kind == "syscall" else [kind]
    return " ".join(p for p in (*head, op if op != kind else "", errno, proc) if p)


@dataclass(frozen=True, slots=True)
class FailureMark:
    """Where one failure happened (every failure has one: the plots mark them all)."""

    event: int
    tick: int
    kind: int  # index into RunResult.failure_counts


@dataclass(frozen=True, slots=True)
class FailureCount:
    """How often one kind of failure happened (every failure, not only recorded ones).

    A kind is the failure's ``kind``, its call, errno and program (process
    name); ``unexpected`` counts those neither expected nor allowed.
    """

    op: str
    errno: str
    count: int
    first_event: int
    proc: str = ""
    kind: str = "syscall"
    unexpected: int = 0
    first_tick: int = 0
    first_unexpected_event: int | None = None
    first_unexpected_tick: int | None = None

    @property
    def key(self) -> str:
        return failure_key(self.kind, self.op, self.errno, self.proc)


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
class FlashPartition:
    """One MTD partition of the board's flash (``/proc/mtd``'s rows, with addresses)."""

    name: str
    start: int
    size: int
    mtd_type: str


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
    failure_marks: tuple[FailureMark, ...] = ()  # every failure, in order
    failure_allowance: int = 0  # unexpected failures tolerated ([expect] max_failures)
    tick_seconds: float | None = None  # what a tick is ([scenario] tick), if said
    flash_partitions: tuple[FlashPartition, ...] = ()
    boot: tuple[str, ...] = ()  # what a boot step did (the root filesystem's init), in order

    @property
    def final(self) -> MachineSnapshot:
        return self.snapshots[-1]

    @property
    def first_unexpected(self) -> FailureCount | None:
        """The kind of the first failure held against the run, or None."""
        firsts = [c for c in self.failure_counts if c.unexpected]
        return min(firsts, key=lambda c: c.first_unexpected_event or 0) if firsts else None

    @property
    def ok(self) -> bool:
        """Whether the board fits: the run completed, every expectation held, and no
        failure happened that the scenario did not expect or allow (beyond
        ``[expect] max_failures``)."""
        return (
            self.stopped is None
            and all(e.passed for e in self.expectations)
            and self.unexpected_failures <= self.failure_allowance
        )
