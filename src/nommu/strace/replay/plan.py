"""The pre-pass over a trace: libraries and their segments, fork children, file sizes.

One pass before the replay finds what the replay must know ahead of time:
which reservations are libraries loaded by ``ld.so`` (and their ``MAP_FIXED``
segments), what each fork child does before ``execve``, the sizes of the
files the board must hold, and the processes the trace never creates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nommu import consts
from nommu.strace.parse import (
    CloneArgs,
    Event,
    EventKind,
    ExecveArgs,
    MmapArgs,
    MunmapArgs,
    OpenArgs,
    Trace,
    decode_c_string,
    split_args,
)
from nommu.strace.replay.policy import (
    _ST_SIZE,
)
from nommu.strace.syscalls import (
    CLONE_CALLS,
    EXEC_CALLS,
    EXIT_CALLS,
    MMAP_CALLS,
    SAFE_BEFORE_EXEC,
    STAT_CALLS,
)

if TYPE_CHECKING:
    pass


@dataclass(slots=True)
class Seg:
    """One segment of a library: its trace range, protection and file offset."""

    index: int  # event index that maps it (the reservation's for the head)
    role: str  # "head", "text", "rodata", "data", "bss"
    tstart: int
    tend: int
    length: int  # the length the trace asked for
    prot: int
    offset: int

    @property
    def file(self) -> bool:
        return self.role != "bss"


@dataclass(slots=True)
class LibPlan:
    """A library loaded by ld.so: its reservation and its MAP_FIXED segments."""

    path: str
    res_index: int
    line: int
    tstart: int
    tend: int
    prot: int
    offset: int
    segs: list[Seg] = field(default_factory=list)
    head: Seg | None = None


@dataclass(slots=True)
class _Res:
    start: int
    end: int
    path: str | None
    fd: int
    index: int
    ev: Event
    d: MmapArgs
    plan: LibPlan | None = None


@dataclass(slots=True)
class Plan:
    lib_at_res: dict[int, LibPlan] = field(default_factory=dict)
    seg_at: dict[int, tuple[LibPlan, Seg]] = field(default_factory=dict)
    child_state: dict[int, tuple[str, int, str]] = field(default_factory=dict)
    creators: dict[int, int] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)  # trace path -> st_size
    needs: dict[str, int] = field(default_factory=dict)  # trace path -> bytes mapped
    first_line: dict[str, int] = field(default_factory=dict)
    lib_paths: dict[str, int] = field(default_factory=dict)  # path -> first line
    programs: dict[str, int] = field(default_factory=dict)  # exec path -> first line
    orphans_needing_image: dict[int, int] = field(default_factory=dict)  # pid -> line


class _PreWatch:
    __slots__ = ("gone", "line", "state", "syscall")

    def __init__(self) -> None:
        self.state = "pending"
        self.line = 0
        self.syscall = ""
        self.gone = False


def _role(prot: int, anon: bool) -> str:
    if anon:
        return "bss"
    if prot & consts.PROT_WRITE:
        return "data"
    if prot & consts.PROT_EXEC:
        return "text"
    return "rodata"


def _stat_size(ev: Event, opened: dict[tuple[int, int], str]) -> tuple[str, int] | None:
    m = _ST_SIZE.search(ev.raw_args)
    if m is None:
        return None
    args = split_args(ev.raw_args)
    path: str | None = None
    for tok in args[:2]:
        if tok.startswith('"'):
            raw, cut = decode_c_string(tok)
            if cut:
                return None
            path = raw.decode("utf-8", "surrogateescape")
            break
    if not path:
        fd_text = args[0] if args else ""
        lt = fd_text.find("<")
        if lt > 0 and fd_text.endswith(">"):  # strace -y: 3</lib/libc.so.6>
            path = fd_text[lt + 1 : -1]
        else:
            try:
                fd = int(fd_text)
            except ValueError:
                return None
            path = ev.path_of(fd) or opened.get((ev.pid, fd))
    if not path:
        return None
    return path, int(m.group(1))


class _PrePass:
    """One pass over the events, filling a :class:`Plan`; one method per family of calls."""

    def __init__(self, page_size: int, sizes: bool) -> None:
        self.plan = Plan()
        self.sizes = sizes
        self.mask = page_size - 1
        self.spaces: dict[int, list[_Res]] = {}  # pid -> read-only file reservations
        self.watch: dict[int, _PreWatch] = {}
        self.clone_children: set[int] = set()
        self.first_ok: dict[int, tuple[str, int]] = {}
        self.child_watches: list[tuple[int, _PreWatch]] = []
        self.opened: dict[tuple[int, int], str] = {}  # (pid, fd) -> path, for fstat

    def run(self, trace: Trace) -> Plan:
        syscall_kind = EventKind.SYSCALL
        for index, ev in enumerate(trace.events):
            if ev.kind is not syscall_kind:
                if ev.kind is EventKind.EXITED or ev.kind is EventKind.KILLED:
                    self.on_exit_event(ev)
                continue
            self.observe(ev)
            name = ev.syscall
            if name in MMAP_CALLS:
                self.on_mmap(index, ev)
            elif name == "munmap":
                self.on_munmap(ev)
            elif name in CLONE_CALLS:
                self.on_clone(index, ev)
            elif isinstance(ev.decoded, OpenArgs):
                if ev.ok and ev.result is not None:
                    self.opened[(ev.pid, ev.result)] = ev.path_of(ev.result) or ev.decoded.path
            elif name in EXEC_CALLS:
                self.on_exec(ev)
            elif name in STAT_CALLS and ev.ok and self.sizes:
                found = _stat_size(ev, self.opened)
                if found is not None:
                    self.plan.sizes[found[0]] = found[1]
        return self.finish()

    def on_exit_event(self, ev: Event) -> None:
        self.spaces.pop(ev.pid, None)  # the pid may be reused by a later clone
        w = self.watch.get(ev.pid)
        if w is not None:
            if w.state == "pending":
                w.state, w.line, w.syscall = "exit", ev.line, ""
            w.gone = True

    def observe(self, ev: Event) -> None:
        """What a process does first: the fork-child classification (one place)."""
        pid, name = ev.pid, ev.syscall
        w = self.watch.get(pid)
        if w is None:
            w = self.watch[pid] = _PreWatch()
        if w.state == "pending":
            if name in EXEC_CALLS:
                w.state, w.line, w.syscall = "exec", ev.line, name
            elif name in EXIT_CALLS:
                w.state, w.line, w.syscall = "exit", ev.line, name
            elif name not in SAFE_BEFORE_EXEC:
                w.state, w.line, w.syscall = "work", ev.line, name
        if ev.ok and pid not in self.first_ok:
            self.first_ok[pid] = (name, ev.line)

    def on_mmap(self, index: int, ev: Event) -> None:
        d = ev.decoded
        if not ev.ok or not isinstance(d, MmapArgs) or ev.result is None:
            return
        plan = self.plan
        start = ev.result
        end = start + ((d.length + self.mask) & ~self.mask)
        if not d.anonymous and d.path is not None:
            plan.needs[d.path] = max(plan.needs.get(d.path, 0), d.offset + d.length)
            plan.first_line.setdefault(d.path, ev.line)
        space = self.spaces.setdefault(ev.pid, [])
        if d.flags & consts.MAP_FIXED:
            self.segment(index, d, start, end, space)
        elif (
            not d.anonymous and d.map_type == consts.MAP_PRIVATE and not d.prot & consts.PROT_WRITE
        ):
            space.append(_Res(start, end, d.path, d.fd, index, ev, d))

    def segment(self, index: int, d: MmapArgs, start: int, end: int, space: list[_Res]) -> None:
        """A MAP_FIXED mapping inside a reservation of the same file: a library segment."""
        for r in space:
            if not (r.start <= start and end <= r.end):
                continue
            if not d.anonymous and not (
                (d.path is not None and d.path == r.path)
                or (d.path is None and r.path is None and d.fd == r.fd)
            ):
                continue
            if r.plan is None:
                if r.path is None:
                    return
                r.plan = LibPlan(r.path, r.index, r.ev.line, r.start, r.end, r.d.prot, r.d.offset)
                self.plan.lib_at_res[r.index] = r.plan
                self.plan.lib_paths.setdefault(r.path, r.ev.line)
            seg = Seg(index, _role(d.prot, d.anonymous), start, end, d.length, d.prot, d.offset)
            r.plan.segs.append(seg)
            self.plan.seg_at[index] = (r.plan, seg)
            return

    def on_munmap(self, ev: Event) -> None:
        d = ev.decoded
        if ev.ok and isinstance(d, MunmapArgs) and ev.pid in self.spaces:
            lo, hi = d.addr, d.addr + ((d.length + self.mask) & ~self.mask)
            space = self.spaces[ev.pid]
            space[:] = [r for r in space if not (lo <= r.start and r.end <= hi)]

    def on_clone(self, index: int, ev: Event) -> None:
        d = ev.decoded
        if not ev.ok or not isinstance(d, CloneArgs) or ev.result is None or ev.result <= 0:
            return
        child = ev.result
        self.clone_children.add(child)
        self.plan.creators[child] = self.plan.creators.get(child, 0) + 1
        cw = self.watch.get(child)
        if cw is None or cw.gone:
            cw = self.watch[child] = _PreWatch()
        self.child_watches.append((index, cw))
        parent_space = self.spaces.setdefault(ev.pid, [])
        if not self.spaces.get(child):  # unless the child already ran (completion order)
            shared = d.flags & consts.CLONE_VM
            self.spaces[child] = parent_space if shared else list(parent_space)

    def on_exec(self, ev: Event) -> None:
        if ev.ok and ev.result == 0:
            self.spaces[ev.pid] = []
            if isinstance(ev.decoded, ExecveArgs):
                self.plan.programs.setdefault(ev.decoded.path, ev.line)

    def finish(self) -> Plan:
        plan = self.plan
        for index, cw in self.child_watches:
            plan.child_state[index] = (cw.state, cw.line, cw.syscall)
        for pid, (name, line) in self.first_ok.items():
            if pid not in self.clone_children and name not in EXEC_CALLS:
                plan.orphans_needing_image[pid] = line
        # a library's file holds its segments; the reservation reaches past its end
        for path in plan.lib_paths:
            plan.needs[path] = 0
        # the head of each library: the reservation up to its first MAP_FIXED segment
        for lib in plan.lib_at_res.values():
            if not lib.segs:
                continue
            first = min(s.tstart for s in lib.segs)
            if lib.prot != consts.PROT_NONE and first > lib.tstart:
                length = first - lib.tstart
                lib.head = Seg(lib.res_index, "head", lib.tstart, first, length, lib.prot,
                               lib.offset)  # fmt: skip
                plan.needs[lib.path] = max(plan.needs.get(lib.path, 0), lib.offset + length)
            for s in lib.segs:
                if s.file:
                    plan.needs[lib.path] = max(plan.needs.get(lib.path, 0), s.offset + s.length)
        return plan


def prepass(trace: Trace, page_size: int, *, sizes: bool = True) -> Plan:
    """What the replay (and ``check``) must know ahead: libraries and their segments,
    what each fork child does before ``execve``, file sizes (``sizes``: from ``stat``
    calls), the programs executed and the processes the trace never creates."""
    return _PrePass(page_size, sizes).run(trace)
