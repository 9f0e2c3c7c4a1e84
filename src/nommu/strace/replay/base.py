"""The replayer's state, its helpers and memory sampling."""

from __future__ import annotations

import posixpath
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from nommu.analysis.failure import FailureExplanation, explain_failure
from nommu.analysis.snapshot import MachineSnapshot, capture
from nommu.errors import ConfigError, SyscallError
from nommu.process import Process
from nommu.strace.libc import libc_profile
from nommu.strace.parse import (
    Event,
    Trace,
)
from nommu.strace.replay.plan import (
    prepass,
)
from nommu.strace.replay.policy import (
    _EXPLAINED_FAILURES,
    ReplayPolicy,
)
from nommu.strace.replay.result import (
    ReplayFailure,
    Sample,
    Translation,
)
from nommu.strace.replay.state import (
    _BoardFile,
    _Proc,
)

if TYPE_CHECKING:
    from nommu.machine import Machine
    from nommu.mm.nommu import AllocFailure


class ReplayerBase:
    """The replay's state and the helpers every part of it uses (notes, failures, paths)."""

    def __init__(self, trace: Trace, machine: Machine, policy: ReplayPolicy) -> None:
        self.trace = trace
        self.m = machine
        self.policy = policy
        self.libc = libc_profile(policy.libc)
        self.progress: Callable[[int, int], None] | None = None
        self.ps = machine.page_size
        self.pmask = machine.page_size - 1
        self.events = trace.events
        self.plan = prepass(trace, machine.page_size)
        if policy.libs == "xip" and not machine.flash_size:
            raise ConfigError(
                "libs: 'xip' needs a machine with memory-mapped flash "
                "(Machine(flash=...)); use 'ramfs' or 'disk'"
            )
        self.libs = policy.libs  # "auto" is settled when the files are known
        self.live: dict[int, _Proc] = {}
        self.records: list[_Proc] = []
        self.dead: set[int] = set()
        self.dead_noted: set[int] = set()
        self.unborn: dict[int, deque[tuple[int, Event]]] = {}
        self.waiting: dict[int, _Proc] = {}  # procs with queued calls, in order of queueing
        self.translations: list[Translation] = []
        self.failures: list[ReplayFailure] = []
        self.samples: list[Sample] = []
        self.seq = 0
        self.replayed = 0
        self.skipped_failed = 0
        self.min_free = machine.zone.free_count
        self.peak: Sample | None = None
        self.peak_snapshot: MachineSnapshot | None = None
        self.steady_snapshot: MachineSnapshot | None = None
        self.steady_label = ""
        self.root: _Proc | None = None
        self.names: dict[int, str] = {}
        self.pending_alloc: tuple[AllocFailure, MachineSnapshot | None] | None = None
        self.dmesg_seen = len(machine.dmesg())
        self.files: dict[str, _BoardFile] = {}
        self.fs_of_dir: dict[str, str] = {}
        self.missing: dict[str, str] = {}  # board path -> why it is not on the board
        self.setup_errors: dict[str, ReplayFailure] = {}  # reported at the file's first use
        self.ramfs_created: set[str] = set()
        self.memfd_paths: dict[str, str] = {}
        self.shm_ids: dict[int, int] = {}
        self.board_files: list[tuple[str, str, int]] = []
        self.helper: Process | None = None
        self.source = trace.sources[0] if trace.sources else "<trace>"
        self.baseline_snapshot: MachineSnapshot | None = None
        self.last_free = -1

    # ---- helpers ----------------------------------------------------------------------
    def align(self, n: int) -> int:
        return (n + self.pmask) & ~self.pmask

    def note(
        self, ev: Event, kind: str, detail: str, errno: str | None = None, pid: int | None = None
    ) -> None:
        self.translations.append(
            Translation(
                ev.line, ev.pid if pid is None else pid, ev.syscall, kind, detail, errno, ev.source
            )
        )

    def explain(
        self, err: SyscallError
    ) -> tuple[AllocFailure | None, FailureExplanation | None, MachineSnapshot | None]:
        """The allocation failure behind *err*, its explanation and the snapshot it used."""
        alloc: AllocFailure | None = getattr(err, "failure", None)
        pending = self.pending_alloc
        self.pending_alloc = None
        if alloc is not None and pending is not None and pending[0] is alloc and pending[1]:
            return alloc, explain_failure(pending[1], alloc), pending[1]
        return alloc, None, None

    def fail(self, ev: Event, err: SyscallError, what: str, proc: _Proc | None = None) -> None:
        """Record that the board refused what the replay asked for *ev*."""
        alloc, explanation, snap = self.explain(err)
        dmesg: tuple[str, ...] = ()
        if len(self.failures) < _EXPLAINED_FAILURES:
            log = self.m.dmesg()
            dmesg = tuple(log[self.dmesg_seen :][-16:])
            self.dmesg_seen = len(log)
        live = proc if proc is not None else self.live.get(ev.pid)
        self.failures.append(
            ReplayFailure(
                ev.line,
                ev.pid,
                ev.syscall,
                err.errno.name,
                what,
                err.detail or str(err.strerror),
                alloc,
                explanation,
                dmesg,
                ev.source,
                self.seq,
                live.process.name if live is not None else "",
                snap,
            )
        )

    def missing_file(self, ev: Event, bp: str, what: str) -> None:
        """*bp* could not be put on the board: a failure at its first use, then notes."""
        early = self.setup_errors.pop(bp, None)
        if early is None:
            self.note(ev, "not_replayed", f"{what}: {bp} is not on the board ({self.missing[bp]})")
            return
        live = self.live.get(ev.pid)
        self.failures.append(
            ReplayFailure(
                ev.line,
                ev.pid,
                ev.syscall,
                early.errno,
                early.what,
                early.detail,
                early.alloc,
                early.explanation,
                early.dmesg,
                ev.source,
                self.seq,
                live.process.name if live is not None else "",
                early.snapshot,
            )
        )

    def on_alloc_failure(self, failure: AllocFailure) -> None:
        snap = None
        if len(self.failures) < _EXPLAINED_FAILURES:
            snap = capture(self.m, "allocation failure", event=self.seq, names=self.names)
        self.pending_alloc = (failure, snap)

    def board_path(self, path: str) -> str:
        if path.startswith("/memfd:"):
            found = self.memfd_paths.get(path)
            if found is None:
                name = path[len("/memfd:") :].replace("/", "_") or "memfd"
                found = f"/dev/shm/memfd:{name}"
                self.memfd_paths[path] = found
            return found
        if not path.startswith("/"):
            path = posixpath.join(self.policy.cwd, path)
        return posixpath.normpath(path)

    def direct(self, board_path: str) -> bool:
        """A file the board keeps on ramfs/tmpfs (a ``direct_mappable`` directory)."""
        for prefix in self.policy.direct_mappable:
            if prefix in ("/dev/", "/memfd:") or not prefix.startswith("/"):
                continue  # devices exist or not; memfds are put in /dev/shm
            prefix = prefix.rstrip("/")
            if board_path == prefix or board_path.startswith(prefix + "/"):
                return True
        return board_path.startswith("/dev/shm/")

    @staticmethod
    def special(path: str) -> str | None:
        if path.startswith(("socket:", "pipe:", "anon_inode:", "TCP", "UDP", "UNIX", "NETLINK")):
            return "a socket, pipe or anonymous inode"
        if path.startswith(("/proc/", "/sys/")):
            return "a /proc or /sys file"
        return None

    # ---- sampling ---------------------------------------------------------------------
    def sample(self, ev: Event | None) -> None:
        """Count a replayed call; record free memory if it changed (and the peak)."""
        free = self.m.zone.free_count
        if free == self.last_free:
            return  # nothing allocated or freed: the free lists are as they were
        self.last_free = free
        if free < self.min_free or self.peak is None:
            s = self.make_sample(ev, free)
            self.min_free = free
            self.peak = s
            self.peak_snapshot = capture(self.m, "peak", event=self.seq, names=self.names)
            self.samples.append(s)
            return
        if self.seq % self.policy.sample_every == 0:
            self.samples.append(self.make_sample(ev, free))

    def make_sample(self, ev: Event | None, free: int) -> Sample:
        m = self.m
        nr_free = m.zone.nr_free_all()
        largest = m.zone.largest_free_order()
        return Sample(
            self.seq,
            ev.line if ev is not None else 0,
            ev.pid if ev is not None else 0,
            ev.syscall if ev is not None else "setup",
            free,
            largest,
            nr_free,
            m.nommu.mmap_pages_allocated,
            m.cached_pages(),
        )
