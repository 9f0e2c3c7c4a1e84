"""Run a scenario on a machine: build the board, mount, run the script, record.

The :class:`Runner` compiles each step into a closure once (arguments are
already converted by the loader; a ``$name`` becomes a lookup), then runs
the closures. Every system call is one *event*. After each event it keeps
the minimum of free memory and of the largest free block, and at most
:data:`MAX_SAMPLES` samples of the free lists (the sampling interval doubles
when they fill up, so a run of any length gives an even time series). With
``check=True`` it calls :meth:`Machine.validate` after every event.

A failing system call is recorded, not fatal: the first :data:`DETAIL_LIMIT`
failures, and the first of each kind (call, errno, program), keep the
kernel's log lines and, for an allocation failure, a snapshot taken at the
moment the allocator gave up (the machine's ``on_alloc_failure`` hook);
every failure is counted by kind and marked (event, tick). A failure is
*expected* when its step says ``expect`` that errno, *allowed* when a step's
``allow`` or ``[expect] allow`` names it, and otherwise held against the
run. Other parts of the model report other kinds of failure through
:meth:`Runner.note_failure`. Mistakes in the
scenario found while it runs (a step naming a process that has exited, a
``wait`` that would block) raise :class:`ScenarioError` naming the step's
line. A simulated kernel oops stops the run.

Usage::

    result = Runner(load_scenario("board.toml"), seed=3, check=True).run()
    result.failures[0].call, result.min_free_pages
"""

from __future__ import annotations

import functools
import itertools
import posixpath
import re
from collections.abc import Callable
from typing import Any

from nommu.analysis.failure import ProgramInfo
from nommu.analysis.snapshot import MachineSnapshot, capture
from nommu.binfmt.flat_format import FLAT_HDR_SIZE, parse_flat_header
from nommu.consts import (
    IPC_STAT,
    MAP_TYPE,
    O_ACCMODE,
    O_RDONLY,
    O_WRONLY,
    S_IFMT,
    S_IFREG,
)
from nommu.errors import Errno, KernelOops, SyscallError
from nommu.fs.mtd import mtd_table
from nommu.fs.namespace import split_path
from nommu.fs.romfs_image import FileSpec
from nommu.fs.vfs import FMODE_READ, FMODE_WRITE, File
from nommu.machine import Machine
from nommu.mm.nommu import AllocFailure
from nommu.mm.oom_kill import KernelPanic, MemoryLivelock, OomKill, ProcessKilled
from nommu.process import Process, ProcessStateError
from nommu.scenario import values as val
from nommu.scenario.oom import OpContext, record_oom
from nommu.scenario.result import (
    BoardSummary,
    ExpectationResult,
    FailureCount,
    FailureMark,
    FailureRecord,
    FlashPartition,
    RunResult,
    Sample,
)
from nommu.scenario.schema import (
    FileEntry,
    Location,
    MountSpec,
    Ref,
    Scenario,
    ScenarioError,
    Step,
)

#: Failures recorded in full (log lines and a snapshot); later ones are counted.
DETAIL_LIMIT = 20
#: Samples of the free lists kept per run.
MAX_SAMPLES = 1024
#: Process names kept before those of pids that are gone (and own nothing) are dropped.
NAMES_KEPT = 4096

Progress = Callable[[int, int], None]


class _Stop(Exception):
    """The run cannot go on (a kernel oops)."""


def flag_text(value: int, table: dict[str, int], zero: str = "0") -> str:
    """Flags as C names joined by ``|`` (unknown bits in hex), as strace prints them."""
    if value == 0:
        return zero
    names = []
    rest = value
    for name, bit in sorted(table.items(), key=lambda kv: (-bin(kv[1]).count("1"), kv[1])):
        if bit and bit & (bit - 1) == 0 and rest & bit:
            names.append((bit, name))
            rest &= ~bit
    names.sort()
    out = [n for _, n in names]
    if rest:
        out.append(hex(rest))
    return "|".join(out)


def map_flags_text(flags: int) -> str:
    kind = {1: "MAP_SHARED", 2: "MAP_PRIVATE", 3: "MAP_SHARED_VALIDATE"}.get(
        flags & MAP_TYPE, hex(flags & MAP_TYPE)
    )
    rest = flags & ~MAP_TYPE
    if not rest:
        return kind
    return kind + "|" + flag_text(rest, {k: v for k, v in val.MAP_NAMES.items() if v > MAP_TYPE})


def open_flags_text(flags: int) -> str:
    acc = {0: "O_RDONLY", 1: "O_WRONLY", 2: "O_RDWR"}.get(flags & O_ACCMODE, "3")
    rest = flags & ~O_ACCMODE
    if not rest:
        return acc
    return acc + "|" + flag_text(rest, {k: v for k, v in val.OPEN_NAMES.items() if v > O_ACCMODE})


def _excerpt(text: str, lines: int = 3) -> str:
    """The first lines of a file, on one line, for an expectation's report."""
    rows = text.splitlines()
    shown = " | ".join(r.rstrip() for r in rows[:lines])
    more = f" | ... ({len(rows)} lines)" if len(rows) > lines else ""
    return (shown or "(empty)") + more


def _errname(e: Errno | str | None) -> str:
    return e.name if isinstance(e, Errno) else str(e)


def _addr(v: int) -> str:
    return "NULL" if v == 0 else hex(v)


def _str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _strs(items: tuple[str, ...]) -> str:
    return "[" + ", ".join(_str(s) for s in items) + "]"


class Runner:
    """Runs one :class:`Scenario` and returns a :class:`RunResult`."""

    machine: Machine

    def __init__(
        self,
        scenario: Scenario,
        *,
        seed: int | None = None,
        check: bool = False,
        progress: Progress | None = None,
        detail_limit: int = DETAIL_LIMIT,
        max_samples: int = MAX_SAMPLES,
        explain_kinds: bool = True,
    ) -> None:
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.check = check
        self.progress = progress
        self.detail_limit = detail_limit
        self.explain_kinds = explain_kinds
        self.max_samples = max(max_samples, 2)
        self.procs: dict[str, Process] = {}
        self.vars: dict[str, int] = {}
        self.pid_names: dict[int, str] = {}
        self._names_limit = NAMES_KEPT
        self.after_event: Callable[[], None] = self._after_event
        self.event = 0
        self.tick = 0
        self.units = 0
        self.total_units = 0
        self._next_progress = 0
        self._progress_step = 1
        self.samples: list[Sample] = []
        self.sample_every = 1
        self._next_sample = 0
        self.min_free = 1 << 62
        self.min_free_event = 0
        self.min_order = 1 << 30
        self.min_order_event = 0
        self.snapshots: list[MachineSnapshot] = []
        self.failures: list[FailureRecord] = []
        # (kind, op, errno, proc) -> [count, first event, first tick, unexpected,
        #  first unexpected event, first unexpected tick, recorded in full]
        self.counts: dict[tuple[str, str, str, str], list[int]] = {}
        self.marks: list[FailureMark] = []
        self.kind_index: dict[tuple[str, str, str, str], int] = {}
        # (op, where) of the call being made: whose an allocation failure is
        self.current: tuple[str, Location] | None = None
        self._snapped: set[tuple[str, str]] = set()  # (op, comm) with a failure snapshot
        self.allow_patterns = tuple(p for p, _ in scenario.expect.allow)
        self.total_failures = 0
        self.unexpected = 0
        self.expectations: dict[int, list[Any]] = {}  # id(step) -> [where, what, n, bad, why]
        self._pending: list[tuple[AllocFailure, MachineSnapshot | None]] = []
        #: the call in progress (for OOM records): where, op, process, its strace text
        self.op_context: OpContext | None = None
        self.op_mark = 0  # kernel log lines before the call in progress
        self.stopped: str | None = None
        self.started = 0
        self.workloads = 0  # workloads compiled so far (each seeds its own generator)
        self.skipped = 0  # steps not made: a value they read was not saved
        self.boot_notes: list[str] = []  # what a boot step did, line by line

    # -- building the board --------------------------------------------------------
    def _fail_at(self, where: Location, lines: dict[str, int] | Any, err: Exception) -> None:
        """Raise a ScenarioError for *err*, at the line of the option it names."""
        msg = str(err)
        m = re.match(r"([A-Za-z_][A-Za-z0-9_]*): (.*)", msg)
        if m and m.group(1) in lines:
            loc = Location(where.file, lines[m.group(1)], f"{where.field}.{m.group(1)}")
            raise ScenarioError(loc, m.group(2)) from None
        raise ScenarioError(where, msg) from None

    def _build_machine(self) -> Machine:
        board = self.scenario.board
        try:
            return Machine(**dict(board.options))
        except (ValueError, TypeError) as e:
            self._fail_at(board.where, board.option_lines, e)
            raise  # not reached

    def _mount(self, m: Machine, spec: MountSpec) -> None:
        options = dict(spec.options)
        ram = spec.fstype in ("ramfs", "tmpfs")
        if spec.files and not ram:
            files: dict[str, Any] = {}
            for f in spec.files:
                if f.mode is not None:
                    raise ScenarioError(
                        f.where,
                        f"mode: only files on ramfs/tmpfs take a mode "
                        f"({spec.fstype} files take executable)",
                    )
                files[f.path.lstrip("/")] = FileSpec(f.data, executable=f.executable)
            options["files"] = files
        try:
            m.mount(spec.fstype, spec.target, **options)
        except (ValueError, TypeError, SyscallError) as e:
            self._fail_at(spec.where, spec.option_lines, e)
        if ram:
            for f in spec.files:
                self._install(m, posixpath.join(spec.target, f.path.lstrip("/")), f)

    def _install(self, m: Machine, path: str, entry: FileEntry) -> None:
        """Create a file through the VFS, as a setup script on the board would."""
        try:
            parts = split_path(path)
            if not parts:
                raise ScenarioError(entry.where, "path: names a directory, not a file")
            cur = "/"
            for comp in parts[:-1]:
                parent = m.ns.lookup(cur)
                nxt = posixpath.join(cur, comp)
                children = parent.inode.children
                if children is None:
                    raise ScenarioError(entry.where, f"path: {cur} is not a directory")
                if comp not in children and nxt not in m.ns.mounts:
                    if parent.mount.ro:
                        raise ScenarioError(entry.where, f"path: {cur} is read-only")
                    parent.mount.sb.mkdir(parent.inode, comp, 0o755)
                cur = nxt
            parent, name = m.ns.lookup_parent(path)
            if parent.mount.ro:
                raise ScenarioError(
                    entry.where,
                    f"path: {parent.path} is on a read-only "
                    f"filesystem; give its files in [[mount.file]]",
                )
            assert parent.inode.children is not None
            if name in parent.inode.children:
                raise ScenarioError(entry.where, f"path: {path} exists already")
            mode = entry.mode if entry.mode is not None else (0o755 if entry.executable else 0o644)
            inode = parent.mount.sb.create(parent.inode, name, mode)
            if (inode.i_mode & S_IFMT) != S_IFREG:
                raise ScenarioError(entry.where, f"path: {path} cannot hold a regular file")
            if entry.data:
                f = File(inode, parent.mount, path, O_WRONLY, FMODE_WRITE)
                try:
                    f.f_op.write(f, entry.data, 0)
                finally:
                    f.put()
        except SyscallError as e:
            raise ScenarioError(entry.where, f"cannot create {path}: {e}") from None

    # -- recording -----------------------------------------------------------------
    def _on_alloc_failure(self, failure: AllocFailure) -> None:
        snap = None
        op = self.current[0] if self.current is not None else ""
        first_of_kind = self.explain_kinds and (op, failure.comm) not in self._snapped
        if first_of_kind or len(self.failures) + len(self._pending) < self.detail_limit:
            self._snapped.add((op, failure.comm))
            snap = capture(
                self.machine, "failure", event=self.event + 1, tick=self.tick, names=self.pid_names
            )
        self._pending.append((failure, snap))

    def _sample(self) -> None:
        zone = self.zone
        samples = self.samples
        if len(samples) >= self.max_samples:
            del samples[1::2]
            self.sample_every *= 2
            if samples[-1].event + self.sample_every > self.event:
                self._next_sample = samples[-1].event + self.sample_every
                return
        machine = self.machine
        samples.append(
            Sample(
                self.event,
                self.tick,
                zone.free_count,
                zone.largest_free_order(),
                machine.nommu.mmap_pages_allocated,
                machine.cached_pages(),
                zone.nr_free_all(),
            )
        )
        self._next_sample = self.event + self.sample_every

    def _after_event(self) -> None:
        """Bookkeeping after every system call (the reference :meth:`_bookkeeping` follows)."""
        self.event += 1
        zone = self.zone
        free = zone.free_count
        if free < self.min_free:
            self.min_free = free
            self.min_free_event = self.event
        order = zone.largest_free_order()
        if order < self.min_order:
            self.min_order = order
            self.min_order_event = self.event
        if self.event >= self._next_sample:
            self._sample()
        if self._pending:
            self._pending.clear()
        if self.check:
            self.machine.validate()

    def _bookkeeping(self) -> Callable[[], None]:
        """:meth:`_after_event` as a closure over the run's zone: the same steps, fewer lookups.

        It runs after every system call, so its attribute lookups are a
        measurable part of the runner's overhead over calling the API directly.
        """
        zone = self.zone
        largest_free_order = zone.largest_free_order
        pending = self._pending
        sample = self._sample
        validate = self.machine.validate if self.check else None

        def after_event() -> None:
            self.event = event = self.event + 1
            free = zone.free_count
            if free < self.min_free:
                self.min_free = free
                self.min_free_event = event
            order = largest_free_order()
            if order < self.min_order:
                self.min_order = order
                self.min_order_event = event
            if event >= self._next_sample:
                sample()
            if pending:
                pending.clear()
            if validate is not None:
                validate()

        return after_event

    def advance(self, units: int) -> None:
        """Progress for the user: *units* more of :attr:`total_units` are done."""
        self.units += units
        if self.progress is not None and self.units >= self._next_progress:
            self.progress(min(self.units, self.total_units), self.total_units)
            self._next_progress = self.units + self._progress_step

    def expectation(self, step: Step, what: str) -> list[Any]:
        rec = self.expectations.get(id(step))
        if rec is None:
            rec = self.expectations[id(step)] = [step.where, what, 0, 0, ""]
        return rec

    def check_expect(self, rec: list[Any], ok: bool, why: str) -> None:
        rec[2] += 1
        if not ok:
            rec[3] += 1
            if not rec[4]:
                rec[4] = f"event {self.event + 1}: {why}"

    def program_info(self, path: str, p: Process) -> ProgramInfo | None:
        """The bFLT header of *path*, read through the VFS (None if it is not bFLT)."""
        try:
            found = self.machine.ns.lookup(path, p.cwd)
            f = File(found.inode, found.mount, found.path, O_RDONLY, FMODE_READ)
            try:
                head = f.f_op.read(f, FLAT_HDR_SIZE, 0)
            finally:
                f.put()
            hdr = parse_flat_header(head, name=path, zflat=True, check_size=False)
        except (SyscallError, ValueError, TypeError):
            return None
        xip = found.mount.sb.fstype == "romfs" and bool(self.machine.flash_size)
        return ProgramInfo(
            found.path,
            hdr.loads_into_ram,
            hdr.text_len,
            hdr.data_len,
            hdr.bss_len,
            hdr.stack_size,
            hdr.reloc_count,
            xip,
        )

    def failed(
        self,
        where: Location,
        op: str,
        p: Process,
        err: SyscallError,
        call: str,
        log_mark: int,
        expect: Errno | str | None = None,
        exec_path: str | None = None,
        allow: tuple[str, ...] = (),
    ) -> None:
        """Record a failed system call (counted always, in full for the first ones)."""
        expected = isinstance(expect, Errno) and expect == err.errno
        errno = err.errno.name
        allowed = not expected and bool(allow) and ("any" in allow or errno in allow)
        alloc = None
        snap = None
        if self._pending:
            alloc, snap = self._pending[-1]
            self._pending.clear()
        program = None
        if exec_path is not None and snap is not None and alloc is not None:
            program = self.program_info(exec_path, p)
        self.note_failure(
            "syscall",
            where,
            p,
            op=op,
            errno=errno,
            strerror=err.strerror or "",
            call=call,
            detail=err.detail,
            log_mark=log_mark,
            expected=expected,
            allowed=allowed,
            alloc=alloc,
            snapshot=snap,
            program=program,
        )

    def allowed_globally(self, kind: str, op: str, errno: str, proc: str) -> bool:
        """Whether an ``[expect] allow`` pattern names this failure (all its words match)."""
        names = (kind, op, errno, proc)
        return any(all(w in names for w in pattern) for pattern in self.allow_patterns)

    def note_failure(
        self,
        kind: str,
        where: Location | None,
        p: Process,
        *,
        op: str = "",
        errno: str = "",
        strerror: str = "",
        call: str = "",
        detail: str = "",
        log_mark: int | None = None,
        expected: bool = False,
        allowed: bool = False,
        alloc: AllocFailure | None = None,
        snapshot: MachineSnapshot | None = None,
        program: ProgramInfo | None = None,
    ) -> None:
        """Record one failure of any *kind*: counted by kind, marked, and the first ones
        (and the first of each kind) kept in full.

        A failed system call is kind ``"syscall"`` (see :meth:`failed`). Another part of
        the model that makes a process fail in another way (a process killed for lack of
        memory, say) records it here under its own kind; the verdict counts it like any
        other failure, unless the scenario expects or allows it. *where* defaults to the
        step being run.
        """
        if where is None:
            where = self.current[1] if self.current is not None else Location("", None, "")
        op = op or kind
        name = p.name
        if not expected and not allowed:
            allowed = bool(self.allow_patterns) and self.allowed_globally(kind, op, errno, name)
        unexpected = not expected and not allowed
        self.total_failures += 1
        if unexpected:
            self.unexpected += 1
        event, tick = self.event + 1, self.tick
        key = (kind, op, errno, name)
        c = self.counts.get(key)
        new_kind = c is None
        if c is None:
            c = self.counts[key] = [0, event, tick, 0, 0, 0, 0]
            self.kind_index[key] = len(self.kind_index)
        c[0] += 1
        if unexpected:
            if not c[3]:
                c[4], c[5] = event, tick
            c[3] += 1
        self.marks.append(FailureMark(event, tick, self.kind_index[key]))
        if len(self.failures) < self.detail_limit or (self.explain_kinds and new_kind):
            c[6] = 1
            log = () if log_mark is None else tuple(self.machine.dmesg()[log_mark:][:12])
            self.failures.append(
                FailureRecord(
                    len(self.failures) + 1,
                    event,
                    tick,
                    where,
                    op,
                    name,
                    p.pid,
                    call,
                    errno,
                    strerror,
                    detail,
                    expected,
                    log,
                    alloc,
                    snapshot,
                    program,
                    allowed,
                    kind,
                )
            )

    def oops(self, where: Location, err: KernelOops) -> None:
        what = "kernel panic" if isinstance(err, KernelPanic) else "kernel oops"
        self.stopped = f"{where}: {what}: {err}"
        raise _Stop

    def _on_oom(self, rec: OomKill) -> None:
        record_oom(self, rec)

    def oom_dead(self, p: Process) -> bool:
        """*p* was killed by the OOM killer: calls it would have made are skipped."""
        oom = self.machine.oom
        return oom is not None and p.pid in oom.killed and p.state in ("Z", "X")

    # -- compiling steps ---------------------------------------------------------------
    def getter(self, v: object, where: Location) -> Callable[[], int]:
        """A callable giving an argument's value: a constant, or a saved value.

        Constants and plain ``$name`` references are C-level callables (this is the
        runner's hot path); a reference whose step never saved it raises KeyError,
        which the step turns into a ScenarioError.
        """
        if isinstance(v, Ref):
            vars_, name, off = self.vars, v.name, v.offset
            if not off:
                return functools.partial(vars_.__getitem__, name)
            return lambda: vars_[name] + off
        return itertools.repeat(int(v)).__next__  # type: ignore[call-overload]

    def process(self, name: str, where: Location) -> Process:
        p = self.procs.get(name)
        if p is None:
            raise ScenarioError(where, f"no process named {name!r}")
        return p

    def weight(self, step: Step) -> int:
        """Progress units of a step: 1, or the iterations and ticks it stands for."""
        if step.op == "repeat":
            return int(step.args["count"]) * sum(self.weight(s) for s in step.body)
        if step.workload is not None:
            return step.workload.ticks
        return 1

    def compile(self, step: Step, depth: int) -> Callable[[], None]:
        op = step.op
        if op == "repeat":
            return self._repeat(step, depth)
        if op == "workload":
            from nommu.scenario.workload import WorkloadRunner

            assert step.workload is not None
            return WorkloadRunner(self, step.workload, top=depth == 0).run
        if op == "snapshot":
            return self._snapshot(step)
        if op == "expect":
            return self._expect(step)
        if op == "sysctl":
            return self._sysctl(step)
        if op == "spawn":
            return self._spawn(step)
        if op == "boot":
            from nommu.scenario.rootfs import Boot

            init = step.args["init"]
            names = tuple(step.args["procs"])

            def boot() -> None:
                Boot(self, step.where, str(init) if init else None).run()
                for name in names:
                    if name not in self.procs:
                        raise ScenarioError(
                            step.where, f"procs: the boot started no process named {name!r}"
                        )

            return boot
        build = getattr(self, f"_op_{op}")
        invoke, describe, proc_key = build(step)
        return self._call(step, proc_key, invoke, describe)

    def _call(
        self,
        step: Step,
        proc_key: str,
        invoke: Callable[[Process], object],
        describe: Callable[[Process], str],
    ) -> Callable[[], None]:
        name = step.args[proc_key]
        where = step.where
        exec_path = str(step.args["path"]) if step.op in ("exec", "start") else None
        procs = self.procs
        save = step.save
        expect = step.expect
        vars_ = self.vars
        after_event = self.after_event
        log = self.log
        refs = {v.name for v in step.args.values() if isinstance(v, Ref)}
        allow = step.allow
        current = (step.op, where)
        rec = None
        if expect is not None:
            outcome = "succeeds" if expect == "ok" else f"fails with {_errname(expect)}"
            rec = self.expectation(step, f"{step.op} {outcome}")

        def run() -> None:
            p = procs.get(name)
            if p is None:
                raise ScenarioError(where, f"no process named {name!r}")
            if self.oom_dead(p):
                self.skipped += 1
                if save is not None:
                    vars_.pop(save, None)
                return
            mark = self.op_mark = len(log)
            self.current = current
            self.op_context = (where, step.op, p, describe)
            try:
                value = invoke(p)
            except SyscallError as e:
                self.failed(where, step.op, p, e, describe(p), mark, expect, exec_path, allow)
                if rec is not None:
                    self.check_expect(
                        rec,
                        expect == e.errno,
                        f"{describe(p)} failed with {e.errno.name}"
                        + (f" ({e.detail})" if e.detail else ""),
                    )
                if save is not None:
                    vars_.pop(save, None)
            except (ProcessKilled, MemoryLivelock) as e:  # recorded by _on_oom
                if rec is not None:
                    self.check_expect(rec, False, f"{describe(p)}: {e}")
                if save is not None:
                    vars_.pop(save, None)
            except ProcessStateError as e:
                raise ScenarioError(where, f"{step.op}: {e}") from None
            except KernelOops as e:
                self.oops(where, e)
            except (ValueError, TypeError) as e:
                raise ScenarioError(where, f"{step.op}: {e}") from None
            except KeyError as e:
                if not e.args or e.args[0] not in refs:
                    raise
                # a value this step reads was not saved: the step saving it failed, and
                # a program would not make this call either
                if save is not None:
                    vars_.pop(save, None)
                self.skipped += 1
                return
            else:
                if save is not None:
                    vars_[save] = (
                        value
                        if isinstance(value, int)
                        else (len(value) if isinstance(value, bytes) else 0)
                    )
                if rec is not None:
                    self.check_expect(
                        rec,
                        expect == "ok",
                        f"{describe(p)} succeeded (expected {_errname(expect)})"
                        if expect != "ok"
                        else "",
                    )
            after_event()

        return run

    # -- control steps -----------------------------------------------------------------
    def _repeat(self, step: Step, depth: int) -> Callable[[], None]:
        body = [self.compile(s, depth + 1) for s in step.body]
        count = int(step.args["count"])
        var = str(step.args["var"])
        per_iter = sum(self.weight(s) for s in step.body) if depth == 0 else 0
        vars_ = self.vars
        advance = self.advance

        def run() -> None:
            for i in range(count):
                vars_[var] = i
                for fn in body:
                    fn()
                if per_iter:
                    advance(per_iter)

        return run

    def _snapshot(self, step: Step) -> Callable[[], None]:
        label = str(step.args["name"])

        def run() -> None:
            self.snapshots.append(
                capture(self.machine, label, event=self.event, tick=self.tick, names=self.pid_names)
            )

        return run

    def _sysctl(self, step: Step) -> Callable[[], None]:
        name = str(step.args["name"])
        value = step.args["value"]
        get = self.getter(value, step.where) if value is not None else None
        save = step.save

        def run() -> None:
            try:
                new = get() if get is not None else None
            except KeyError:  # the value comes from a step that failed
                self.skipped += 1
                return
            try:
                result = self.machine.sysctl(name, new)
            except (ValueError, TypeError) as e:
                raise ScenarioError(step.where, f"sysctl: {e}") from None
            if save is not None:
                self.vars[save] = result
            self.after_event()

        return run

    def _expect(self, step: Step) -> Callable[[], None]:
        a = step.args
        m = self.machine
        if a["file"] is not None:
            path = str(a["file"])
            if a["contains"] is not None:
                text = str(a["contains"])
                what = f"{path} contains {text!r}"

                def test(content: str) -> bool:
                    return text in content
            elif a["line"] is not None:
                line = str(a["line"])
                what = f"{path} has the line {line!r}"

                def test(content: str) -> bool:
                    return line in content.splitlines()
            elif a["regex"] is not None:
                pattern: re.Pattern[str] = a["regex"]
                what = f"{path} matches /{pattern.pattern}/"

                def test(content: str) -> bool:
                    return pattern.search(content) is not None
            else:
                absent = str(a["absent"])
                what = f"{path} does not contain {absent!r}"

                def test(content: str) -> bool:
                    return absent not in content

            rec = self.expectation(step, what)

            def run_file() -> None:
                try:
                    content = m.cat(path)
                except SyscallError as e:
                    self.check_expect(rec, False, f"cannot read {path}: {e}")
                    return
                ok = test(content)
                self.check_expect(rec, ok, "" if ok else f"{path} was: " + _excerpt(content))

            return run_file
        ps = m.page_size
        if a["free_above"] is not None:
            level = int(a["free_above"])
            rec = self.expectation(step, f"free memory >= {level} bytes")

            def run_free() -> None:
                free = m.zone.free_count * ps
                self.check_expect(rec, free >= level, f"free memory was {free} bytes")

            return run_free
        level = int(a["largest_block_above"])
        rec = self.expectation(step, f"largest free block >= {level} bytes")

        def run_block() -> None:
            order = m.zone.largest_free_order()
            size = (1 << order) * ps if order >= 0 else 0
            self.check_expect(rec, size >= level, f"largest free block was {size} bytes")

        return run_block

    # -- processes -----------------------------------------------------------------------
    def note_name(self, p: Process) -> None:
        names = self.pid_names
        names[p.pid] = p.name
        if len(names) > self._names_limit:
            self._forget_names()

    def _forget_names(self) -> None:
        """Drop the names no snapshot can ask for again, so long runs stay flat in memory.

        Snapshots name the creator of each region (``Region.owner``, the pid of a
        live task when the region was made): a pid that is gone and owns no
        region will never be looked up again.
        """
        m = self.machine
        keep = {r.owner for r in m.nommu.regions}
        keep.update(m.procs)
        names = self.pid_names
        for pid in [pid for pid in names if pid not in keep]:
            del names[pid]
        self._names_limit = max(NAMES_KEPT, 2 * len(names))

    def _spawn(self, step: Step) -> Callable[[], None]:
        name = str(step.args["name"])
        comm = str(step.args["comm"] or name)

        def run() -> None:
            try:
                p = self.machine.spawn(name=comm)
            except (ValueError, TypeError) as e:
                raise ScenarioError(step.where, f"spawn: {e}") from None
            self.procs[name] = p
            self.note_name(p)
            self.started += 1
            self.after_event()

        return run

    def _op_vfork(self, step: Step) -> tuple[Callable[[Process], object], Any, str]:
        child_name = str(step.args["child"])

        def invoke(p: Process) -> object:
            child = p.vfork()
            self.procs[child_name] = child
            self.note_name(child)
            self.started += 1
            return child.pid

        return invoke, lambda p: "vfork()", "proc"

    def _op_exec(self, step: Step) -> tuple[Callable[[Process], object], Any, str]:
        path = str(step.args["path"])
        argv: tuple[str, ...] = step.args["argv"]
        envp: tuple[str, ...] = step.args["envp"]

        def invoke(p: Process) -> object:
            try:
                p.execve(path, argv, envp)
            finally:
                self.note_name(p)
            return 0

        return invoke, lambda p: f"execve({_str(path)}, {_strs(argv)}, {_strs(envp)})", "proc"

    def _op_start(self, step: Step) -> tuple[Callable[[Process], object], Any, str]:
        name = str(step.args["name"])
        path = str(step.args["path"])
        argv: tuple[str, ...] = step.args["argv"]
        envp: tuple[str, ...] = step.args["envp"]

        def invoke(parent: Process) -> object:
            child = parent.vfork()
            self.procs[name] = child
            self.note_name(child)
            self.started += 1
            try:
                child.execve(path, argv, envp)
            except SyscallError:
                self.note_name(child)
                if child.state not in ("Z", "X"):
                    child.exit(127)  # as a shell's child does when exec fails
                raise
            self.note_name(child)
            return child.pid

        return (invoke, lambda p: f"execve({_str(path)}, {_strs(argv)}, {_strs(envp)})", "parent")

    def _op_exit(self, step: Step) -> tuple[Callable[[Process], object], Any, str]:
        status = self.getter(step.args["status"], step.where)
        reap = bool(step.args["reap"])

        def invoke(p: Process) -> object:
            p.exit(status())
            parent = p.parent
            if reap and parent is not None and parent.runnable:
                parent.wait()
            return 0

        return invoke, lambda p: f"exit({status()})", "proc"

    def _op_kill(self, step: Step) -> tuple[Callable[[Process], object], Any, str]:
        signo = self.getter(step.args["signal"], step.where)
        return (lambda p: p.kill(signo()), lambda p: f"kill({p.pid}, {signo()})", "proc")

    def _op_wait(self, step: Step) -> tuple[Callable[[Process], object], Any, str]:
        return (lambda p: p.wait()[0], lambda p: "wait4(-1, NULL, 0, NULL)", "proc")

    # -- memory --------------------------------------------------------------------------
    def _op_mmap(self, step: Step) -> tuple[Callable[[Process], object], Any, str]:
        a, w = step.args, step.where
        addr, length = self.getter(a["addr"], w), self.getter(a["length"], w)
        fd, offset = self.getter(a["fd"], w), self.getter(a["offset"], w)
        prot, flags = int(a["prot"]), int(a["flags"])

        def describe(p: Process) -> str:
            prot_text = flag_text(prot, val.PROT_NAMES, "PROT_NONE")
            return (
                f"mmap({_addr(addr())}, {length()}, {prot_text}, {map_flags_text(flags)}, "
                f"{fd()}, {offset()})"
            )

        if not any(isinstance(a[k], Ref) for k in ("addr", "length", "fd", "offset")):
            # constants only (the common case in long loops): no getter calls
            c = (int(a["addr"]), int(a["length"]), prot, flags, int(a["fd"]), int(a["offset"]))
            return (lambda p: p.mmap(*c), describe, "proc")
        return (lambda p: p.mmap(addr(), length(), prot, flags, fd(), offset()), describe, "proc")

    def _op_munmap(self, step: Step) -> tuple[Callable[[Process], object], Any, str]:
        a, w = step.args, step.where
        addr, length = self.getter(a["addr"], w), self.getter(a["length"], w)

        def describe(p: Process) -> str:
            return f"munmap({_addr(addr())}, {length()})"

        ref, size = a["addr"], a["length"]
        if isinstance(ref, Ref) and not ref.offset and not isinstance(size, Ref):
            # munmap of a saved address (the common case in long loops)
            vars_, name, n = self.vars, ref.name, int(size)
            return (lambda p: p.munmap(vars_[name], n), describe, "proc")
        return (lambda p: p.munmap(addr(), length()), describe, "proc")

    def _op_mremap(self, step: Step) -> tuple[Callable[[Process], object], Any, str]:
        a, w = step.args, step.where
        addr, old, new = (self.getter(a[k], w) for k in ("addr", "old_size", "new_size"))
        new_addr = self.getter(a["new_addr"], w)
        flags = int(a["flags"])
        return (
            lambda p: p.mremap(addr(), old(), new(), flags, new_addr()),
            lambda p: (
                f"mremap({_addr(addr())}, {old()}, {new()}, {flag_text(flags, val.MREMAP_NAMES)})"
            ),
            "proc",
        )

    def _op_brk(self, step: Step) -> tuple[Callable[[Process], object], Any, str]:
        addr = self.getter(step.args["addr"], step.where)
        return (lambda p: p.brk(addr()), lambda p: f"brk({_addr(addr())})", "proc")

    def _op_peek(self, step: Step) -> tuple[Callable[[Process], object], Any, str]:
        a, w = step.args, step.where
        addr, count = self.getter(a["addr"], w), self.getter(a["count"], w)
        equals: bytes | None = a["equals"]
        rec = self.expectation(step, f"peek reads {equals!r}") if equals is not None else None

        def invoke(p: Process) -> object:
            data = p.peek(addr(), count())
            if rec is not None:
                self.check_expect(rec, data == equals, f"peek read {data!r}")
            return len(data)

        return invoke, lambda p: f"peek({_addr(addr())}, {count()})", "proc"

    def _op_poke(self, step: Step) -> tuple[Callable[[Process], object], Any, str]:
        addr = self.getter(step.args["addr"], step.where)
        data: bytes = step.args["data"]
        return (
            lambda p: p.poke(addr(), data),
            lambda p: f"poke({_addr(addr())}, {len(data)} bytes)",
            "proc",
        )

    # -- files ---------------------------------------------------------------------------
    def _op_open(self, step: Step) -> tuple[Callable[[Process], object], Any, str]:
        path, flags, mode = str(step.args["path"]), int(step.args["flags"]), int(step.args["mode"])
        return (
            lambda p: p.open(path, flags, mode),
            lambda p: f"open({_str(path)}, {open_flags_text(flags)}, {mode:#o})",
            "proc",
        )

    def _op_close(self, step: Step) -> tuple[Callable[[Process], object], Any, str]:
        fd = self.getter(step.args["fd"], step.where)
        return lambda p: p.close(fd()), lambda p: f"close({fd()})", "proc"

    def _op_read(self, step: Step) -> tuple[Callable[[Process], object], Any, str]:
        fd, count = (self.getter(step.args[k], step.where) for k in ("fd", "count"))
        return (lambda p: p.read(fd(), count()), lambda p: f"read({fd()}, {count()})", "proc")

    def _op_write(self, step: Step) -> tuple[Callable[[Process], object], Any, str]:
        fd = self.getter(step.args["fd"], step.where)
        data: bytes = step.args["data"]
        return (
            lambda p: p.write(fd(), data),
            lambda p: f"write({fd()}, <{len(data)} bytes>, {len(data)})",
            "proc",
        )

    def _op_lseek(self, step: Step) -> tuple[Callable[[Process], object], Any, str]:
        fd, off = (self.getter(step.args[k], step.where) for k in ("fd", "offset"))
        whence = int(step.args["whence"])
        return (
            lambda p: p.lseek(fd(), off(), whence),
            lambda p: f"lseek({fd()}, {off()}, {whence})",
            "proc",
        )

    def _op_ftruncate(self, step: Step) -> tuple[Callable[[Process], object], Any, str]:
        fd, length = (self.getter(step.args[k], step.where) for k in ("fd", "length"))
        return (
            lambda p: p.ftruncate(fd(), length()),
            lambda p: f"ftruncate({fd()}, {length()})",
            "proc",
        )

    def _op_truncate(self, step: Step) -> tuple[Callable[[Process], object], Any, str]:
        path = str(step.args["path"])
        length = self.getter(step.args["length"], step.where)
        return (
            lambda p: p.truncate(path, length()),
            lambda p: f"truncate({_str(path)}, {length()})",
            "proc",
        )

    def _op_unlink(self, step: Step) -> tuple[Callable[[Process], object], Any, str]:
        path = str(step.args["path"])
        return lambda p: p.unlink(path), lambda p: f"unlink({_str(path)})", "proc"

    def _op_mkdir(self, step: Step) -> tuple[Callable[[Process], object], Any, str]:
        path, mode = str(step.args["path"]), int(step.args["mode"])
        return (lambda p: p.mkdir(path, mode), lambda p: f"mkdir({_str(path)}, {mode:#o})", "proc")

    # -- shared memory -----------------------------------------------------------------
    def _op_shmget(self, step: Step) -> tuple[Callable[[Process], object], Any, str]:
        a, w = step.args, step.where
        key, size = self.getter(a["key"], w), self.getter(a["size"], w)
        flags = int(a["flags"])
        return (
            lambda p: p.shmget(key(), size(), flags),
            lambda p: f"shmget({key() or 'IPC_PRIVATE'}, {size()}, {flags:#o})",
            "proc",
        )

    def _op_shmat(self, step: Step) -> tuple[Callable[[Process], object], Any, str]:
        a, w = step.args, step.where
        shmid, addr = self.getter(a["shmid"], w), self.getter(a["addr"], w)
        flags = int(a["flags"])
        return (
            lambda p: p.shmat(shmid(), addr(), flags),
            lambda p: f"shmat({shmid()}, {_addr(addr())}, {flag_text(flags, val.IPC_NAMES)})",
            "proc",
        )

    def _op_shmdt(self, step: Step) -> tuple[Callable[[Process], object], Any, str]:
        addr = self.getter(step.args["addr"], step.where)
        return lambda p: p.shmdt(addr()), lambda p: f"shmdt({_addr(addr())})", "proc"

    def _op_shmctl(self, step: Step) -> tuple[Callable[[Process], object], Any, str]:
        shmid = self.getter(step.args["shmid"], step.where)
        cmd = int(step.args["cmd"])

        def invoke(p: Process) -> object:
            result = p.shmctl(shmid(), cmd)
            return getattr(result, "shm_nattch", 0) if cmd == IPC_STAT else 0

        return (
            invoke,
            lambda p: f"shmctl({shmid()}, {flag_text(cmd, val.IPC_NAMES)}, NULL)",
            "proc",
        )

    def _op_shm_open(self, step: Step) -> tuple[Callable[[Process], object], Any, str]:
        name, flags, mode = str(step.args["name"]), int(step.args["flags"]), int(step.args["mode"])
        return (
            lambda p: p.shm_open(name, flags, mode),
            lambda p: f"shm_open({_str(name)}, {open_flags_text(flags)}, {mode:#o})",
            "proc",
        )

    def _op_shm_unlink(self, step: Step) -> tuple[Callable[[Process], object], Any, str]:
        name = str(step.args["name"])
        return lambda p: p.shm_unlink(name), lambda p: f"shm_unlink({_str(name)})", "proc"

    # -- the run ---------------------------------------------------------------------------
    def _global_expectations(self) -> list[ExpectationResult]:
        out = []
        g = self.scenario.expect
        ps = self.machine.page_size
        if g.min_free is not None:
            level, where = g.min_free
            seen = self.min_free * ps
            ok = seen >= level
            out.append(
                ExpectationResult(
                    where,
                    f"free memory stays >= {level} bytes",
                    1,
                    0 if ok else 1,
                    f"lowest was {seen} bytes at event {self.min_free_event}",
                )
            )
        if g.min_largest_block is not None:
            level, where = g.min_largest_block
            seen = (1 << self.min_order) * ps if self.min_order >= 0 else 0
            ok = seen >= level
            out.append(
                ExpectationResult(
                    where,
                    f"largest free block stays >= {level} bytes",
                    1,
                    0 if ok else 1,
                    f"smallest was {seen} bytes at event {self.min_order_event}",
                )
            )
        if g.max_failures is not None:
            level, where = g.max_failures
            ok = self.unexpected <= level
            out.append(
                ExpectationResult(
                    where,
                    f"at most {level} unexpected failures",
                    1,
                    0 if ok else 1,
                    f"{self.unexpected} failures",
                )
            )
        return out

    def _board_summary(self) -> BoardSummary:
        m = self.machine
        opts = tuple(sorted((k, repr(v)) for k, v in self.scenario.board.options.items()))
        return BoardSummary(
            m.ram_base,
            m.ram_size,
            m.kernel_reserved,
            m.flash_base,
            m.flash_size,
            m.page_size,
            m.zone.max_order,
            m.nommu.nr_trim_pages,
            m.word_size,
            opts,
        )

    def run(self) -> RunResult:
        """Build the machine, run every step, and return what happened."""
        scenario = self.scenario
        self.machine = m = self._build_machine()
        # the kernel log itself: its length marks where a step's lines start (hot path)
        self.log: list[str] = m._dmesg
        board = self._board_summary()
        if scenario.root is not None:
            from nommu.scenario.rootfs import mount_root

            root = scenario.root
            mount_root(m, root.fstype, root.image, dict(root.options), root.where)
        for spec in scenario.mounts:
            self._mount(m, spec)
        for entry in scenario.files:
            self._install(m, entry.path, entry)
        self.zone = m.zone
        self.after_event = self._bookkeeping()
        # repeats and workloads at the top level report their own progress
        compiled = [
            (self.compile(step, 0), step.op not in ("repeat", "workload"))
            for step in scenario.steps
        ]
        self.total_units = sum(self.weight(step) for step in scenario.steps)
        self._progress_step = max(self.total_units // 200, 1)
        self.min_free, self.min_order = m.zone.free_count, m.zone.largest_free_order()
        # Start at the interval the run's length calls for (a step is at least one
        # event): the samples kept are the same, without taking and halving the rest.
        while self.total_units > self.sample_every * self.max_samples:
            self.sample_every *= 2
        self._sample()
        m.nommu.on_alloc_failure = self._on_alloc_failure
        if m.oom is not None:
            m.oom.on_oom = self._on_oom
        try:
            for fn, plain in compiled:
                fn()
                if plain:
                    self.advance(1)
        except _Stop:
            pass
        finally:
            m.nommu.on_alloc_failure = None
            if m.oom is not None:
                m.oom.on_oom = None
        if self.progress is not None and self.stopped is None:
            self.progress(self.total_units, self.total_units)
        if self.samples[-1].event != self.event:
            self._sample()
        self.snapshots.append(
            capture(m, "end", event=self.event, tick=self.tick, names=self.pid_names)
        )
        expectations = [
            ExpectationResult(r[0], r[1], r[2], r[3], r[4]) for r in self.expectations.values()
        ]
        expectations.extend(self._global_expectations())
        counts = tuple(
            FailureCount(
                op,
                errno,
                c[0],
                c[1],
                proc,
                kind,
                c[3],
                c[2],
                c[4] if c[3] else None,
                c[5] if c[3] else None,
            )
            for (kind, op, errno, proc), c in self.counts.items()
        )
        allowance = scenario.expect.max_failures
        return RunResult(
            name=scenario.name,
            description=scenario.description,
            path=scenario.path,
            seed=self.seed,
            board=board,
            events=self.event,
            ticks=self.tick,
            samples=tuple(self.samples),
            sample_every=self.sample_every,
            min_free_pages=self.min_free,
            min_free_event=self.min_free_event,
            min_largest_order=self.min_order,
            min_largest_event=self.min_order_event,
            snapshots=tuple(self.snapshots),
            failures=tuple(self.failures),
            failure_counts=counts,
            total_failures=self.total_failures,
            unexpected_failures=self.unexpected,
            expectations=tuple(expectations),
            stopped=self.stopped,
            processes_started=self.started,
            dmesg_lines=m.dmesg_count,
            skipped_steps=self.skipped,
            failure_marks=tuple(self.marks),
            failure_allowance=allowance[0] if allowance is not None else 0,
            tick_seconds=scenario.tick_seconds,
            boot=tuple(self.boot_notes),
            flash_partitions=tuple(
                FlashPartition(d.name, d.base, d.size, d.type_name) for d in mtd_table(m).devices
            )
            if m.flash_size
            else (),
        )


def run_scenario(
    scenario: Scenario,
    *,
    seed: int | None = None,
    check: bool = False,
    progress: Progress | None = None,
) -> RunResult:
    """Run *scenario* (see :class:`Runner`)."""
    return Runner(scenario, seed=seed, check=check, progress=progress).run()


__all__ = [
    "DETAIL_LIMIT",
    "MAX_SAMPLES",
    "Runner",
    "flag_text",
    "map_flags_text",
    "open_flags_text",
    "run_scenario",
]
