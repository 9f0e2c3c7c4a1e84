"""What a replay measured: translations, failures, samples, processes, the result."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nommu.analysis.failure import FailureExplanation
from nommu.analysis.footprint import Footprint, footprints
from nommu.analysis.fragmentation import Fragmentation, fragmentation
from nommu.analysis.snapshot import MachineSnapshot
from nommu.strace.parse import (
    ParseProblem,
)
from nommu.strace.replay.policy import (
    ReplayPolicy,
)

if TYPE_CHECKING:
    from nommu.mm.nommu import AllocFailure


@dataclass(frozen=True, slots=True)
class Translation:
    """One translation applied: ``kind`` (a :data:`TRANSLATION_KINDS` key), where, what."""

    line: int
    pid: int
    syscall: str
    kind: str
    detail: str
    errno: str | None = None
    source: str = "<trace>"

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class ReplayFailure:
    """A call the board refused (a :class:`~nommu.SyscallError` of the model).

    ``what`` says what the replay asked the board for; ``detail`` is the
    model's reason; ``alloc`` is set for allocation failures, and for the
    first ones also ``snapshot`` (memory at that moment) and
    ``explanation``; ``dmesg`` holds the kernel log lines written since the
    previous failure. ``seq`` numbers the replayed call that failed (as
    :attr:`Sample.seq` does), ``comm`` is the board process's name. A file
    that could not be put on the board is reported at the call that first
    needs it.
    """

    line: int
    pid: int
    syscall: str
    errno: str
    what: str
    detail: str
    alloc: AllocFailure | None = None
    explanation: FailureExplanation | None = None
    dmesg: tuple[str, ...] = ()
    source: str = "<trace>"
    seq: int = 0
    comm: str = ""
    snapshot: MachineSnapshot | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "line": self.line,
            "pid": self.pid,
            "syscall": self.syscall,
            "errno": self.errno,
            "what": self.what,
            "detail": self.detail,
            "dmesg": list(self.dmesg),
            "source": self.source,
        }
        if self.explanation is not None:
            ex = self.explanation
            out["explanation"] = {
                "cause": ex.cause,
                "order": ex.order,
                "need_bytes": ex.need_bytes,
                "free_bytes": ex.free_bytes,
                "largest_free_bytes": ex.largest_free_bytes,
                "fragmentation_index": ex.fragmentation_index,
                "summary": ex.summary,
                "remedies": list(ex.remedies),
            }
        return out


@dataclass(frozen=True, slots=True)
class Sample:
    """Free memory after one replayed call."""

    seq: int  # the replayed call it follows (ReplayResult.calls counts them; 0: none yet)
    line: int
    pid: int
    syscall: str
    free_pages: int
    largest_free_order: int
    nr_free: tuple[int, ...]
    mmap_copy_pages: int = 0  # MmapCopy: private copies and anonymous memory
    cached_pages: int = 0  # page cache of ramfs/tmpfs files


@dataclass(frozen=True, slots=True)
class ProcessRecord:
    """A traced process and the board process that replayed it."""

    pid: int  # in the trace
    model_pids: tuple[int, ...]  # board pids (more than one after a respawn)
    parent: int  # trace pid of the parent, 0 if none
    created: str  # "spawn", "vfork", "fork_to_vfork", "fork_needs_redesign", "thread", "clone"
    line: int  # where it was created
    program: str  # the program it last executed ("" if none)
    end: str  # "exited N", "killed SIGx", "running", "ended by the replay", "failed exec"
    end_line: int


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What a replay measured; :mod:`nommu.report.replay` renders it.

    RAM figures are bytes of the machine's managed pages (RAM minus the
    kernel's reservation): ``baseline_used`` after the board files were
    created, ``peak_used`` at the lowest free point, ``steady_used`` just
    before the first traced process exited (or at the end), ``end_used``
    after the last call.
    """

    policy: ReplayPolicy
    libs: str  # the library filesystem used ("ramfs", "xip", "disk")
    board: dict[str, Any]
    sources: tuple[str, ...]
    line_count: int
    events: int
    replayed: int
    skipped_failed: int  # calls that failed in the trace (not replayed)
    page_size: int
    managed_pages: int
    baseline_free: int
    samples: tuple[Sample, ...]
    peak: Sample
    peak_snapshot: MachineSnapshot
    steady_snapshot: MachineSnapshot
    steady_label: str
    end_snapshot: MachineSnapshot
    translations: tuple[Translation, ...]
    failures: tuple[ReplayFailure, ...]
    processes: tuple[ProcessRecord, ...]
    problems: tuple[ParseProblem, ...]
    board_files: tuple[tuple[str, str, int], ...]  # (path, filesystem, size)
    pid_map: Mapping[int, int] = field(default_factory=dict)  # model pid -> trace pid
    baseline_snapshot: MachineSnapshot | None = None  # after the board files were made
    dmesg_lines: int = 0
    calls: int = 0  # calls that reached the board (exits included); samples' seq counts them

    # -- figures ---------------------------------------------------------------------
    def used(self, free_pages: int) -> int:
        return (self.managed_pages - free_pages) * self.page_size

    @property
    def baseline_used(self) -> int:
        return self.used(self.baseline_free)

    @property
    def peak_used(self) -> int:
        return self.used(self.peak.free_pages)

    @property
    def steady_used(self) -> int:
        return self.used(self.steady_snapshot.free_pages)

    @property
    def end_used(self) -> int:
        return self.used(self.end_snapshot.free_pages)

    @property
    def first_failure(self) -> ReplayFailure | None:
        return self.failures[0] if self.failures else None

    @property
    def exit_code(self) -> int:
        """0 when every replayed call succeeded on the board, else 1."""
        return 1 if self.failures else 0

    @property
    def min_largest_free(self) -> Sample:
        """The sample with the smallest largest free block (earliest on a tie)."""
        best = self.samples[0] if self.samples else self.peak
        for s in self.samples:
            if s.largest_free_order < best.largest_free_order:
                best = s
        return best

    def fragmentation_at(self, sample: Sample) -> Fragmentation:
        return fragmentation(sample.nr_free, sample.free_pages, self.page_size)

    def footprints_at(self, snapshot: MachineSnapshot) -> tuple[Footprint, ...]:
        """Footprints of *snapshot*, one per address space, with trace pids.

        A thread or a vfork child shares its parent's address space: it is
        not another user of the parent's regions, so sharing and PSS count
        each address space once (under its first pid).
        """
        rows: list[Footprint] = []
        seen: set[int] = set()
        mm_of = {p.pid: p.mm for p in snapshot.processes}
        first_of: dict[int, int] = {}
        for p in snapshot.processes:
            first_of.setdefault(p.mm, p.pid)
        regions = tuple(
            dataclasses.replace(
                r, users=tuple(sorted({first_of.get(mm_of.get(u, 0), u) for u in r.users}))
            )
            for r in snapshot.regions
        )
        for fp in footprints(dataclasses.replace(snapshot, regions=regions)):
            mm = mm_of.get(fp.pid, 0)
            if mm in seen:
                continue
            seen.add(mm)
            rows.append(_retag(fp, self.pid_map.get(fp.pid, fp.pid)))
        return tuple(rows)

    def translation_counts(self) -> list[tuple[str, int]]:
        """(kind, count) in order of first appearance."""
        return list(Counter(t.kind for t in self.translations).items())

    def to_json(self) -> dict[str, Any]:
        """The report document (:func:`nommu.report.replay.report_document`)."""
        from nommu.report.replay import report_document

        return report_document(self)

    def render_text(self, *, width: int = 100) -> str:
        """The report as plain text (:func:`nommu.report.replay.render_text`)."""
        from nommu.report.replay import render_text

        return render_text(self, width=width)

    def render_html(self) -> str:
        """The report as one HTML page (:func:`nommu.report.replay.render_html`)."""
        from nommu.report.replay import render_html

        return render_html(self)


def _retag(fp: Footprint, pid: int) -> Footprint:
    return dataclasses.replace(fp, pid=pid)
