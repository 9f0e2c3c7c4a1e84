"""Seeded random workloads: transient processes and anonymous-memory churn.

A workload runs for a number of *ticks*. Each tick, in this order:

1. what falls due happens: held allocations are unmapped, transient
   processes that reached the end of their lifetime exit and their parent
   reaps them;
2. each ``launch`` entry starts about ``rate`` new processes (the whole part
   of the rate every tick, plus one more with probability equal to the
   fraction): the parent ``vfork``\\ s and the child ``execve``\\ s the program;
   a child whose exec fails exits (status 127) and is reaped at once;
3. every live transient process makes about ``alloc_rate`` anonymous
   ``mmap`` calls of a size drawn from ``size``, each kept for ``hold`` ticks
   (or until the process exits);
4. each ``churn`` entry makes about ``rate`` anonymous ``mmap`` calls in a
   long-lived process, each unmapped after ``hold`` ticks.

Randomness comes from one ``random.Random`` per workload, seeded from the
scenario's seed (or the workload's own), the workload's name and its position
in the file, and drawn in a fixed order: the same seed gives the same run.
At the end (``drain = true``, the default) the transients still alive exit
and every held allocation is unmapped.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nommu.analysis.snapshot import capture
from nommu.consts import MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE
from nommu.errors import KernelOops, SyscallError
from nommu.mm.oom_kill import MemoryLivelock, ProcessKilled
from nommu.process import Process, ProcessStateError
from nommu.scenario.schema import (
    Churn,
    Launch,
    Location,
    ScenarioError,
    SizeDist,
    TickRange,
    Workload,
)

if TYPE_CHECKING:
    from nommu.scenario.engine import Runner

RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS
_EXIT, _FREE = 0, 1


@dataclass(eq=False)
class _Owner:
    """A process that holds workload allocations: a transient or a churner."""

    proc: Process
    where: Location
    allocs: dict[int, int] = field(default_factory=dict)  # addr -> length
    alive: bool = True
    allow: tuple[str, ...] = ()  # errno names its failures may have (the entry's allow)


@dataclass(eq=False)
class _LaunchState:
    spec: Launch
    live: dict[int, _Owner] = field(default_factory=dict)  # pid -> owner, in start order
    started: int = 0
    skipped: int = 0


def _count(rng: random.Random, rate: float) -> int:
    n = int(rate)
    frac = rate - n
    if frac and rng.random() < frac:
        n += 1
    return n


class WorkloadRunner:
    """Runs one :class:`Workload` step inside a :class:`Runner`."""

    def __init__(self, runner: Runner, workload: Workload, *, top: bool) -> None:
        self.r = runner
        self.w = workload
        self.top = top
        index = runner.workloads
        runner.workloads += 1
        seed = workload.seed if workload.seed is not None else runner.seed
        self.rng = random.Random(f"{seed}/{workload.name}/{index}")
        # (tick, order, kind, launch state (exits), owner, address (frees))
        self.heap: list[tuple[int, int, int, _LaunchState | None, _Owner, int]] = []
        self.seq = 0

    # -- scheduling --------------------------------------------------------------------
    def _at(
        self, tick: int, kind: int, st: _LaunchState | None, owner: _Owner, addr: int = 0
    ) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (tick, self.seq, kind, st, owner, addr))

    # -- actions -----------------------------------------------------------------------
    def _context(self, where: Location, op: str, p: Process, call: str) -> None:
        """What is being called, for an OOM record made during the call."""
        r = self.r
        r.op_mark = r.machine.dmesg_count
        r.current = (op, where)
        r.op_context = (where, op, p, lambda _p: call)

    def _launch(self, st: _LaunchState, now: int) -> None:
        r, spec = self.r, st.spec
        parent = r.process(spec.parent, spec.where)
        if r.oom_dead(parent):
            st.skipped += 1
            return
        mark = r.machine.dmesg_count
        self._context(spec.where, "vfork", parent, "vfork()")
        try:
            child = parent.vfork()
        except ProcessStateError as e:
            raise ScenarioError(spec.where, f"launch: {e}") from None
        except (ProcessKilled, MemoryLivelock):  # recorded as an OOM failure
            r.after_event()
            return
        r.note_name(child)
        r.started += 1
        st.started += 1
        r.after_event()
        mark = r.machine.dmesg_count
        argv_text = ", ".join(f'"{a}"' for a in spec.argv)
        self._context(spec.where, "exec", child, f'execve("{spec.path}", [{argv_text}], [])')
        try:
            child.execve(spec.path, spec.argv, spec.envp)
        except (ProcessKilled, MemoryLivelock):  # recorded as an OOM failure
            r.note_name(child)
            if child.state not in ("Z", "X"):
                child.exit(127)
            self._reap(parent, spec.where)
            r.after_event()
            return
        except SyscallError as e:
            r.note_name(child)
            argv = ", ".join(f'"{a}"' for a in spec.argv)
            r.failed(
                spec.where,
                "exec",
                child,
                e,
                f'execve("{spec.path}", [{argv}], [])',
                mark,
                exec_path=spec.path,
                allow=spec.allow,
            )
            if child.state not in ("Z", "X"):
                child.exit(127)
            self._reap(parent, spec.where)
            r.after_event()
            return
        except KernelOops as e:
            r.oops(spec.where, e)
        r.note_name(child)
        r.after_event()
        st.live[child.pid] = owner = _Owner(child, spec.where, allow=spec.allow)
        self._at(now + max(spec.lifetime.sample(self.rng), 1), _EXIT, st, owner)

    def _reap(self, parent: Process, where: Location) -> None:
        if self.r.oom_dead(parent) or not parent.runnable:
            return  # the OOM killer took the parent; init adopts its zombies
        try:
            parent.wait()
        except ProcessStateError as e:
            raise ScenarioError(where, f"launch: {e}") from None

    def _exit(self, st: _LaunchState, owner: _Owner) -> None:
        if not owner.alive:
            return
        owner.alive = False
        st.live.pop(owner.proc.pid, None)
        p = owner.proc
        parent = p.parent
        if not self.r.oom_dead(p):
            try:
                p.exit(0)
            except ProcessStateError as e:
                raise ScenarioError(owner.where, f"exit: {e}") from None
            self.r.after_event()
        elif p.state != "Z":
            return  # already reaped
        if parent is not None:
            self._reap(parent, owner.where)

    def _alloc(self, owner: _Owner, size: SizeDist, hold: TickRange | None, now: int) -> None:
        r = self.r
        length = size.sample(self.rng)
        p = owner.proc
        if r.oom_dead(p):
            return
        mark = r.machine.dmesg_count
        call = f"mmap(NULL, {length}, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)"
        self._context(owner.where, "mmap", p, call)
        try:
            addr = p.mmap(0, length, RW, ANON)
        except (ProcessKilled, MemoryLivelock):  # recorded as an OOM failure
            pass
        except SyscallError as e:
            r.failed(
                owner.where,
                "mmap",
                p,
                e,
                f"mmap(NULL, {length}, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)",
                mark,
                allow=owner.allow,
            )
        except ProcessStateError as e:
            raise ScenarioError(owner.where, f"mmap: {e}") from None
        except KernelOops as e:
            r.oops(owner.where, e)
        else:
            owner.allocs[addr] = length
            if hold is not None:
                self._at(now + max(hold.sample(self.rng), 1), _FREE, None, owner, addr)
        r.after_event()

    def _free(self, owner: _Owner, addr: int) -> None:
        length = owner.allocs.pop(addr, None)
        if length is None or not owner.alive or self.r.oom_dead(owner.proc):
            return
        r = self.r
        p = owner.proc
        mark = r.machine.dmesg_count
        r.current = ("munmap", owner.where)
        try:
            p.munmap(addr, length)
        except SyscallError as e:
            r.failed(
                owner.where, "munmap", p, e, f"munmap({addr:#x}, {length})", mark, allow=owner.allow
            )
        except ProcessStateError as e:
            raise ScenarioError(owner.where, f"munmap: {e}") from None
        r.after_event()

    # -- the loop ----------------------------------------------------------------------
    def run(self) -> None:
        r, w, rng = self.r, self.w, self.rng
        launches = [_LaunchState(spec) for spec in w.launches]
        churns: list[tuple[Churn, _Owner]] = [
            (c, _Owner(r.process(c.proc, c.where), c.where, allow=c.allow)) for c in w.churns
        ]
        snap_at = set(w.snapshots)
        heap = self.heap
        for t in range(1, w.ticks + 1):
            r.tick += 1
            now = r.tick
            while heap and heap[0][0] <= now:
                _, _, kind, due_st, due_owner, addr = heapq.heappop(heap)
                if kind == _EXIT:
                    assert due_st is not None
                    self._exit(due_st, due_owner)
                else:
                    self._free(due_owner, addr)
            oom = r.machine.oom
            if oom is not None and oom.killed:
                for st in launches:  # the parent reaps children the OOM killer took (SIGCHLD)
                    for owner in [o for o in st.live.values() if r.oom_dead(o.proc)]:
                        self._exit(st, owner)
            for st in launches:
                spec = st.spec
                for _ in range(_count(rng, spec.rate)):
                    if spec.max_live is not None and len(st.live) >= spec.max_live:
                        st.skipped += 1
                        continue
                    self._launch(st, now)
            for st in launches:
                spec = st.spec
                if not spec.alloc_rate or spec.size is None:
                    continue
                for owner in list(st.live.values()):
                    for _ in range(_count(rng, spec.alloc_rate)):
                        self._alloc(owner, spec.size, spec.hold, now)
            for churn, owner in churns:
                for _ in range(_count(rng, churn.rate)):
                    if churn.max_live is not None and len(owner.allocs) >= churn.max_live:
                        continue
                    self._alloc(owner, churn.size, churn.hold, now)
            if t in snap_at:
                r.snapshots.append(
                    capture(
                        r.machine,
                        f"{w.name} tick {t}",
                        event=r.event,
                        tick=r.tick,
                        names=r.pid_names,
                    )
                )
            if self.top:
                r.advance(1)
        if w.drain:
            heap.clear()
            for st in launches:
                for owner in list(st.live.values()):
                    self._exit(st, owner)
            for _, owner in churns:
                for addr in list(owner.allocs):
                    self._free(owner, addr)
