"""Scheduling the trace's processes on the board: vfork waits, clone, exec, exit."""

from __future__ import annotations

import posixpath
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from nommu import consts
from nommu.analysis.failure import size_text
from nommu.analysis.snapshot import capture
from nommu.errors import SyscallError
from nommu.process import Process, ProcessStateError
from nommu.strace.parse import (
    SIGNALS,
    CloneArgs,
    Event,
    EventKind,
    ExecveArgs,
    ExitArgs,
)
from nommu.strace.replay.calls import (
    OtherCalls,
)
from nommu.strace.replay.policy import (
    _ANON,
    _RW,
    _SAMPLED,
    MODEL_CLONE,
)
from nommu.strace.replay.result import (
    Translation,
)
from nommu.strace.replay.state import (
    _Entry,
    _Proc,
    _Space,
)
from nommu.strace.syscalls import (
    ENOSYS_CALLS,
    EXEC_CALLS,
    EXIT_CALLS,
)

if TYPE_CHECKING:
    pass


class Processes(OtherCalls):
    """Runs the events in order, one process at a time, as the kernel would schedule them."""

    # ---- scheduling -------------------------------------------------------------------
    def run(self) -> None:
        syscall_kind = EventKind.SYSCALL
        exited = EventKind.EXITED
        killed = EventKind.KILLED
        progress = self.progress
        total = len(self.events)
        for index, ev in enumerate(self.events):
            kind = ev.kind
            if kind is not syscall_kind and kind is not exited and kind is not killed:
                continue
            if progress is not None and not index & 0xFFF:
                progress(index, total)
            self.dispatch(index, ev)
        self.finish()

    def dispatch(self, index: int, ev: Event) -> None:
        pid = ev.pid
        proc = self.live.get(pid)
        if proc is None:
            if self.plan.creators.get(pid, 0) > 0:
                self.unborn.setdefault(pid, deque()).append((index, ev))
                return
            if ev.kind is not EventKind.SYSCALL or ev.syscall in EXIT_CALLS:
                return
            if pid in self.dead:
                if pid not in self.dead_noted:
                    self.dead_noted.add(pid)
                    self.note(
                        ev,
                        "not_replayed",
                        f"pid {pid} no longer runs on the board: its calls from here on "
                        "are dropped",
                    )
                return
            proc = self.adopt(ev)
            if not proc.alive():
                return
        if proc.queue or proc.blocked():
            self.defer(proc, index, ev)
            if not proc.blocked():
                self.drain()
            return
        self.handle(proc, index, ev)
        if self.waiting:
            self.drain()

    def defer(self, proc: _Proc, index: int, ev: Event) -> None:
        if not proc.queue and proc.blocked() and not proc.waited_note:
            child = proc.process.vfork_child
            cpid = self.trace_pid(child) if child is not None else 0
            self.note(
                ev,
                "vfork_wait",
                f"pid {proc.pid} is suspended in vfork until pid {cpid} calls execve "
                f"or exits: its calls from here on are replayed after that",
            )
            proc.waited_note = True
        proc.queue.append((index, ev))
        self.waiting.setdefault(proc.pid, proc)

    def proc_of(self, process: Process | None) -> _Proc | None:
        for p in self.live.values():
            if p.process is process:
                return p
        return None

    def trace_pid(self, process: Process) -> int:
        p = self.proc_of(process)
        return p.pid if p is not None else 0

    def drain(self) -> None:
        progress = True
        while progress and self.waiting:
            progress = False
            for pid, proc in list(self.waiting.items()):
                if self.live.get(pid) is not proc:
                    self.waiting.pop(pid, None)
                    continue
                while proc.queue and not proc.blocked():
                    index, ev = proc.queue.popleft()
                    self.handle(proc, index, ev)
                    progress = True
                    if self.live.get(pid) is not proc:
                        break
                if not proc.queue:
                    proc.waited_note = False
                    self.waiting.pop(pid, None)
                elif self.live.get(pid) is not proc:
                    self.waiting.pop(pid, None)

    def finish(self) -> None:
        self.drain()
        for _ in range(len(self.records) + len(self.waiting) + 1):
            stuck = [p for p in self.waiting.values() if p.queue and p.blocked()]
            if not stuck:
                break
            parent = stuck[0]
            child_proc: _Proc | None = parent
            while child_proc is not None and child_proc.blocked():
                parent = child_proc
                child_proc = self.proc_of(parent.process.vfork_child)
            last = self.events[-1] if self.events else None
            if child_proc is None or last is None:
                break
            self.translations.append(
                Translation(
                    last.line,
                    child_proc.pid,
                    "exit",
                    "forced_exit",
                    f"the trace ends while pid {child_proc.pid} has neither called execve nor "
                    f"exited; it is ended so that its vfork parent (pid {parent.pid}) can run its "
                    f"{len(parent.queue)} remaining call(s)",
                    None,
                    last.source,
                )
            )
            self.exit_proc(child_proc, last, 0, 0, "ended by the replay")
            self.drain()
        for pid, queue in sorted(self.unborn.items()):
            if queue:
                _, ev = queue[0]
                self.note(
                    ev,
                    "not_replayed",
                    f"pid {pid} appears in the trace but the call that created it was "
                    f"not replayed: its {len(queue)} call(s) are dropped",
                )
        self.unborn.clear()

    def adopt(self, ev: Event) -> _Proc:
        pid = ev.pid
        process = self.m.spawn(name=f"pid{pid}"[:15])
        proc = _Proc(pid, process, _Space(), 0, "spawn", ev.line)
        self.register(proc)
        if self.root is None:
            self.root = proc
        line = self.plan.orphans_needing_image.get(pid)
        if line is not None and ev.syscall not in EXEC_CALLS:
            bp = f"/bin/traced-{pid}"
            size = self.policy.program_size or self.policy.default_program_size
            self.note(
                ev,
                "adopted",
                f"pid {pid} is not created nor executed in the trace (attached with -p?): "
                f"it runs a default program image of {size_text(size)} ({bp})",
            )
            self.do_exec(proc, ev, bp, (bp,), size, "the policy's default program size")
        return proc

    def register(self, proc: _Proc) -> None:
        self.live[proc.pid] = proc
        self.records.append(proc)
        self.dead.discard(proc.pid)
        self.names[proc.process.pid] = proc.process.name

    def sweep(self) -> None:
        """Forget processes the board has ended (exit, group exit, exec's de_thread)."""
        for pid, proc in list(self.live.items()):
            if not proc.alive():
                if proc.end == "running":
                    proc.end = "ended with its thread group"
                del self.live[pid]
                self.waiting.pop(pid, None)
                if not self.plan.creators.get(pid, 0):
                    self.dead.add(pid)

    # ---- one call ---------------------------------------------------------------------
    def handle(self, proc: _Proc, index: int, ev: Event) -> None:
        """Replay one call of *proc*; ``seq`` numbers the calls that reach the board."""
        if ev.kind is not EventKind.SYSCALL:
            self.seq += 1
            self.on_exit_event(proc, ev)
            self.sample(ev)
            return
        name = ev.syscall
        if name in EXIT_CALLS:
            self.seq += 1
            self.on_exit_call(proc, ev)
            self.sample(ev)
            return
        if not ev.ok:
            self.skipped_failed += 1
            return
        if self.set_apart(proc, ev):
            return
        handler = _HANDLERS.get(name)
        if handler is None:
            if name in ENOSYS_CALLS:
                self.on_enosys(proc, ev)
            return
        self.replayed += 1
        self.seq += 1
        try:
            handler(self, proc, index, ev)
        except ProcessStateError as exc:
            self.note(ev, "not_replayed", f"the board cannot run this call now: {exc}")
        if name in _SAMPLED:
            self.sample(ev)
        if self.policy.validate:
            self.m.validate()

    # ---- processes --------------------------------------------------------------------
    def on_clone(self, proc: _Proc, index: int, ev: Event) -> None:
        d = ev.decoded
        if not isinstance(d, CloneArgs) or ev.result is None or ev.result <= 0:
            return
        child_pid = ev.result
        left = self.plan.creators.get(child_pid, 0)
        if left:
            self.plan.creators[child_pid] = left - 1
        fork_like = ev.syscall == "fork" or not d.flags & consts.CLONE_VM
        try:
            if fork_like:
                state, wline, wcall = self.plan.child_state.get(index, ("pending", 0, ""))
                child = proc.process.vfork()
                if state in ("work", "exit"):
                    kind, created = "fork_needs_redesign", "fork_needs_redesign"
                    why = (
                        f"calls {wcall} at line {wline} before any execve"
                        if state == "work"
                        else "exits without execve"
                    )
                    detail = (
                        f"{ev.syscall} -> vfork: the child (pid {child_pid}) {why}; it "
                        "runs in the parent's address space (its mappings are the "
                        "parent's) and the parent waits until it exits or execs: needs "
                        "redesign"
                    )
                else:
                    kind, created = "fork_to_vfork", "fork_to_vfork"
                    how = (
                        f"only prepares and calls {wcall} (line {wline})"
                        if state == "exec"
                        else "is not in the trace"
                    )
                    detail = (
                        f"{ev.syscall} -> vfork: the child (pid {child_pid}) {how}; the "
                        "parent waits until the child execs or exits"
                    )
                # fork() itself is EINVAL without an MMU; a clone without CLONE_VM succeeds
                self.note(ev, kind, detail, "EINVAL" if ev.syscall == "fork" else None)
            else:
                flags = d.flags & MODEL_CLONE
                child = proc.process.clone(flags)
                if flags & consts.CLONE_VFORK:
                    created = "vfork"
                elif flags & consts.CLONE_THREAD:
                    created = "thread"
                else:
                    created = "clone"
                if d.stack and not flags & consts.CLONE_VFORK:
                    self.thread_stack(proc, ev, d, child_pid)
        except SyscallError as err:
            self.fail(ev, err, f"{ev.syscall} creating pid {child_pid}")
            self.unborn.pop(child_pid, None)
            return
        cp = _Proc(child_pid, child, proc.space, proc.pid, created, ev.line)
        cp.program = proc.program
        self.register(cp)
        queued = self.unborn.pop(child_pid, None)
        if queued:
            cp.queue = queued
            self.waiting[child_pid] = cp
        if proc.blocked():
            self.waiting.setdefault(proc.pid, proc)

    def thread_stack(self, proc: _Proc, ev: Event, d: CloneArgs, child: int) -> None:
        lo = d.stack
        size = d.stack_size
        entry = None
        for e in proc.space.entries:
            if e.kind in ("libspan", "failed"):
                continue
            if (size and e.tstart <= lo < e.tend) or (not size and e.tstart < lo <= e.tend):
                entry = e
                break
        if entry is None:
            return
        if entry.kind == "stack":
            return  # already translated at its mmap
        if entry.kind == "reservation":
            length = entry.tend - entry.tstart
            try:
                addr = proc.process.mmap(0, length, _RW, _ANON)
            except SyscallError as err:
                self.fail(ev, err, f"thread stack of {size_text(length)} for pid {child}")
                return
            proc.space.entries.remove(entry)
            proc.space.entries.append(_Entry(entry.tstart, entry.tend, addr, "stack", ev.line))
            self.note(
                ev,
                "thread_stack",
                f"the PROT_NONE reservation from line {entry.line} is the stack of pid "
                f"{child}: mapped whole ({size_text(length)}), readable and writable",
            )
            return
        if entry.kind in ("anon", "commit"):
            self.note(
                ev,
                "thread_stack",
                f"the mapping from line {entry.line} ({size_text(entry.tend - entry.tstart)})"
                f" is the stack of pid {child}: a fixed-size anonymous mapping that never "
                "grows",
            )

    def on_exec(self, proc: _Proc, index: int, ev: Event) -> None:
        d = ev.decoded
        if not isinstance(d, ExecveArgs) or ev.result != 0:
            return
        bp = self.board_path(d.path)
        if bp in self.missing:
            self.missing_file(ev, bp, "execve")
            return
        size, source = self.program_size(d.path)
        self.do_exec(proc, ev, bp, d.argv or (posixpath.basename(d.path),), size, source)

    def do_exec(
        self, proc: _Proc, ev: Event, bp: str, argv: tuple[str, ...], size: int, source: str
    ) -> None:
        process = proc.process
        try:
            process.execve(bp, argv)
        except SyscallError as err:
            self.fail(
                ev,
                err,
                f"execve {bp}: a constdisp image of {size_text(self.align(size))} "
                f"and a {size_text(self.policy.stack_size)} stack",
            )
            if not proc.alive():
                if self.policy.respawn:
                    self.respawn(proc, ev, bp)
                else:
                    proc.end, proc.end_line = "failed exec", ev.line
                    self.drop_queue(proc, ev, "its execve failed on the board and killed it")
            self.sweep()
            return
        self.note(
            ev,
            "program_image",
            f"{bp}: the kernel's ELF loader image is not in the trace; modelled as a "
            f"plain ELF loaded constdisp: one anonymous RWX copy of "
            f"{size_text(self.align(size))} (from {source}) and a "
            f"{size_text(self.policy.stack_size)} stack",
        )
        proc.space = _Space()
        proc.program = bp
        self.names[process.pid] = process.name
        self.sweep()

    def respawn(self, proc: _Proc, ev: Event, bp: str) -> None:
        """Go on in a new board process after an exec the board could not load."""
        new = self.m.spawn(name=posixpath.basename(bp)[:15] or f"pid{proc.pid}")
        self.note(
            ev,
            "respawned",
            f"the board killed pid {proc.pid} (board pid {proc.process.pid}) when its "
            f"execve failed; the rest of its calls run in a new board process (pid "
            f"{new.pid}) without the program image, so the rest of the trace is measured",
        )
        proc.process = new
        proc.model_pids.append(new.pid)
        proc.space = _Space()
        proc.program = ""
        self.names[new.pid] = new.name

    def drop_queue(self, proc: _Proc, ev: Event, why: str) -> None:
        if proc.queue:
            self.note(
                ev,
                "not_replayed",
                f"pid {proc.pid}: {why}; its {len(proc.queue)} later call(s) are dropped",
            )
            proc.queue.clear()

    def on_exit_call(self, proc: _Proc, ev: Event) -> None:
        d = ev.decoded
        status = d.status if isinstance(d, ExitArgs) else 0
        if ev.syscall == "exit" and proc.process.tgid != proc.process.pid:
            self.thread_gone(proc, ev, status)
            return
        self.exit_proc(proc, ev, status, 0, f"exited {status & 0xFF}")

    def thread_gone(self, proc: _Proc, ev: Event, status: int) -> None:
        """A thread ends; the board keeps its task (no memory) until the group exits."""
        proc.end, proc.end_line = f"exited {status & 0xFF}", ev.line
        self.live.pop(proc.pid, None)
        self.waiting.pop(proc.pid, None)
        if not self.plan.creators.get(proc.pid, 0):
            self.dead.add(proc.pid)

    def on_exit_event(self, proc: _Proc, ev: Event) -> None:
        if ev.kind is EventKind.EXITED and proc.process.tgid != proc.process.pid:
            self.thread_gone(proc, ev, ev.result or 0)
            return
        if ev.kind is EventKind.KILLED:
            signo = SIGNALS.get(ev.signal or "", 9)
            self.exit_proc(proc, ev, 0, signo, f"killed by {ev.signal}")
        else:
            status = ev.result or 0
            self.exit_proc(proc, ev, status, 0, f"exited {status & 0xFF}")

    def exit_proc(self, proc: _Proc, ev: Event, status: int, signo: int, how: str) -> None:
        if proc is self.root and self.steady_snapshot is None:
            self.steady_snapshot = capture(self.m, "steady", event=self.seq, names=self.names)
            self.steady_label = f"before pid {proc.pid} exits (line {ev.line})"
        process = proc.process
        if proc.alive():
            try:
                if signo:
                    process.kill(signo)
                else:
                    process.exit(status)
            except ProcessStateError:
                pass
        proc.end, proc.end_line = how, ev.line
        self.drop_queue(proc, ev, "it exited")
        self.sweep()
        self.live.pop(proc.pid, None)
        self.waiting.pop(proc.pid, None)
        if not self.plan.creators.get(proc.pid, 0):
            self.dead.add(proc.pid)


_Handler = Callable[[Processes, _Proc, int, Event], None]
_HANDLERS: dict[str, _Handler] = {
    "mmap": Processes.on_mmap,
    "mmap2": Processes.on_mmap,
    "old_mmap": Processes.on_mmap,
    "munmap": Processes.on_munmap,
    "mremap": Processes.on_mremap,
    "brk": Processes.on_brk,
    "clone": Processes.on_clone,
    "clone2": Processes.on_clone,
    "clone3": Processes.on_clone,
    "fork": Processes.on_clone,
    "vfork": Processes.on_clone,
    "execve": Processes.on_exec,
    "execveat": Processes.on_exec,
    "mprotect": Processes.on_mprotect,
    "pkey_mprotect": Processes.on_mprotect,
    "ftruncate": Processes.on_ftruncate,
    "ftruncate64": Processes.on_ftruncate,
    "unlink": Processes.on_unlink,
    "unlinkat": Processes.on_unlink,
    "shmget": Processes.on_shmget,
    "shmat": Processes.on_shmat,
    "shmdt": Processes.on_shmdt,
    "shmctl": Processes.on_shmctl,
}
