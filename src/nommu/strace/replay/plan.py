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


def prepass(trace: Trace, page_size: int) -> Plan:
    plan = Plan()
    spaces: dict[int, list[_Res]] = {}
    watch: dict[int, _PreWatch] = {}
    clone_children: set[int] = set()
    first_ok: dict[int, tuple[str, int]] = {}
    child_watches: list[tuple[int, _PreWatch]] = []
    opened: dict[tuple[int, int], str] = {}  # (pid, fd) -> path, for fstat
    mask = page_size - 1
    syscall_kind = EventKind.SYSCALL
    for index, ev in enumerate(trace.events):
        pid = ev.pid
        if ev.kind is not syscall_kind:
            if ev.kind is EventKind.EXITED or ev.kind is EventKind.KILLED:
                spaces.pop(pid, None)  # the pid may be reused by a later clone
                w = watch.get(pid)
                if w is not None:
                    if w.state == "pending":
                        w.state, w.line, w.syscall = "exit", ev.line, ""
                    w.gone = True
            continue
        name = ev.syscall
        w = watch.get(pid)
        if w is None:
            w = watch[pid] = _PreWatch()
        if w.state == "pending":
            if name in EXEC_CALLS:
                w.state, w.line, w.syscall = "exec", ev.line, name
            elif name in EXIT_CALLS:
                w.state, w.line, w.syscall = "exit", ev.line, name
            elif name not in SAFE_BEFORE_EXEC:
                w.state, w.line, w.syscall = "work", ev.line, name
        ok = ev.ok
        if ok and pid not in first_ok:
            first_ok[pid] = (name, ev.line)
        d = ev.decoded
        if name in MMAP_CALLS:
            if not ok or not isinstance(d, MmapArgs) or ev.result is None:
                continue
            start = ev.result
            end = start + ((d.length + mask) & ~mask)
            if not d.anonymous and d.path is not None:
                plan.needs[d.path] = max(plan.needs.get(d.path, 0), d.offset + d.length)
                plan.first_line.setdefault(d.path, ev.line)
            space = spaces.setdefault(pid, [])
            if d.flags & consts.MAP_FIXED:
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
                            break
                        r.plan = LibPlan(
                            r.path, r.index, r.ev.line, r.start, r.end, r.d.prot, r.d.offset
                        )
                        plan.lib_at_res[r.index] = r.plan
                        plan.lib_paths.setdefault(r.path, r.ev.line)
                    seg = Seg(
                        index,
                        _role(d.prot, d.anonymous),
                        start,
                        end,
                        d.length,
                        d.prot,
                        d.offset,
                    )
                    r.plan.segs.append(seg)
                    plan.seg_at[index] = (r.plan, seg)
                    break
            elif (
                not d.anonymous
                and d.map_type == consts.MAP_PRIVATE
                and not d.prot & consts.PROT_WRITE
            ):
                space.append(_Res(start, end, d.path, d.fd, index, ev, d))
        elif name == "munmap":
            if ok and isinstance(d, MunmapArgs) and pid in spaces:
                lo, hi = d.addr, d.addr + ((d.length + mask) & ~mask)
                spaces[pid][:] = [r for r in spaces[pid] if not (lo <= r.start and r.end <= hi)]
        elif name in CLONE_CALLS:
            if not ok or not isinstance(d, CloneArgs) or ev.result is None or ev.result <= 0:
                continue
            child = ev.result
            clone_children.add(child)
            plan.creators[child] = plan.creators.get(child, 0) + 1
            cw = watch.get(child)
            if cw is None or cw.gone:
                cw = watch[child] = _PreWatch()
            child_watches.append((index, cw))
            parent_space = spaces.setdefault(pid, [])
            if not spaces.get(child):  # unless the child already ran (completion order)
                spaces[child] = parent_space if d.flags & consts.CLONE_VM else list(parent_space)
        elif isinstance(d, OpenArgs):
            if ok and ev.result is not None:
                opened[(pid, ev.result)] = ev.path_of(ev.result) or d.path
        elif name in EXEC_CALLS:
            if ok and ev.result == 0:
                spaces[pid] = []
                if isinstance(d, ExecveArgs):
                    plan.programs.setdefault(d.path, ev.line)
        elif name in STAT_CALLS and ok:
            found = _stat_size(ev, opened)
            if found is not None:
                plan.sizes[found[0]] = found[1]
    for index, cw in child_watches:
        plan.child_state[index] = (cw.state, cw.line, cw.syscall)
    for pid, (name, line) in first_ok.items():
        if pid not in clone_children and name not in EXEC_CALLS:
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
            lib.head = Seg(lib.res_index, "head", lib.tstart, first, length, lib.prot, lib.offset)
            plan.needs[lib.path] = max(plan.needs.get(lib.path, 0), lib.offset + length)
        for s in lib.segs:
            if s.file:
                plan.needs[lib.path] = max(plan.needs.get(lib.path, 0), s.offset + s.length)
    return plan
