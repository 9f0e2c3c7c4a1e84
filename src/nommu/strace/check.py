"""Portability findings: what in a trace recorded on an MMU system breaks without one.

:func:`check_trace` replays the memory-management and process calls of a
parsed trace (:mod:`nommu.strace.parse`) against the rules of ``mm/nommu.c``
and reports each call that a no-MMU kernel would reject or treat differently,
as a :class:`Finding` with a stable ``kind``, the errno the no-MMU kernel
returns (None when the call succeeds but means something else), and one line
of explanation. A verdict sums them up.

What is modelled, by kind:

``fork``
    ``fork()`` returns EINVAL without an MMU (kernel/fork.c). ``clone`` or
    ``clone3`` without ``CLONE_VM`` (how a C library implements ``fork``)
    succeeds, but the child gets an empty mm while it keeps running on the
    parent's stack and code (``dup_mmap`` copies no VMAs), so it is reported
    with errno None. The detail looks at the child's own calls: if it only
    prepares descriptors, signals and ids and then calls ``execve``, "use
    vfork" (or posix_spawn); if it does anything else first (allocates, reads,
    computes, forks again) or exits without ``execve``, it "needs redesign".
``map_fixed``
    ``MAP_FIXED`` is the first check of ``validate_mmap_request`` -> EINVAL.
    ``shmat`` with an address becomes ``MAP_FIXED`` too (ipc/shm.c do_shmat).
``loader_map_fixed``
    The dynamic loader's pattern: reserve a span with a read-only private
    mapping of the library, then ``MAP_FIXED`` each segment from the same file
    (and the bss ``MAP_FIXED|MAP_ANONYMOUS``) inside it. An ELF-FDPIC loader
    places the segments itself, so these are reported for information only.
``map_type``
    ``MAP_SHARED_VALIDATE`` (type 3) is neither MAP_SHARED nor MAP_PRIVATE
    for ``validate_mmap_request`` -> EINVAL.
``shared_write_file`` / ``shared_file``
    ``MAP_SHARED`` needs a backing that maps directly (``NOMMU_MAP_DIRECT``):
    ramfs/tmpfs (``/dev/shm``, ``/tmp``, ``/run``, memfd) and devices do,
    disk filesystems do not -> ENODEV; ``/dev/zero`` and pipes have no direct
    mapping either (ENODEV), sockets -> EINVAL. Writable and read-only
    requests get separate kinds.
``shared_anon``
    ``MAP_SHARED|MAP_ANONYMOUS`` silently becomes private
    (``determine_vm_flags``: "no fork"). Always reported, errno None; it needs
    changes only if the process later creates a child with its own mm (a
    fork-like clone) while the mapping is still mapped, otherwise it is
    harmless and reported for information.
``mremap_move`` / ``mremap_shared`` / ``mremap_grow``
    ``do_mremap`` never moves: ``MREMAP_FIXED`` to another address -> EINVAL;
    a shareable mapping (MAP_SHARED file or read-only private file) -> EPERM;
    growing beyond the original allocation -> ENOMEM. Checked in that order,
    as the kernel does.
``enosys``
    mprotect, pkey_mprotect, madvise, process_madvise, msync, mlock, mlock2,
    munlock, mlockall, munlockall, mincore, remap_file_pages (and the NUMA
    and swap calls) are not built without an MMU: ``sys_ni_syscall`` ->
    ENOSYS.
``loader_mprotect``
    ``mprotect(..., PROT_READ)`` of a library span or of memory the kernel
    mapped at exec (not seen in the trace): the loader write-protecting RELRO.
    Still ENOSYS on no-MMU, but the no-MMU C library's loader must cope, not
    the program; information only, errno None.
``brk_heap``
    ELF-FDPIC gives a zero-size brk area (``context.end_brk == start_brk``):
    ``brk`` returns the unchanged break, malloc must use mmap. One finding per
    process image (the first growing call), information only: the C
    libraries for no-MMU allocate with mmap.
``alloc_too_large``
    An anonymous mapping, or a private file mapping that becomes a copy,
    needs one contiguous buddy block of ``2**get_order(len)`` pages; above
    the board's largest free block -> ENOMEM. A SysV segment is allocated at
    ``shmget`` time (tiny shmem = ramfs) and fails with EFBIG.
``huge_stack``
    A thread (clone with ``CLONE_VM`` and its own stack) whose stack is 1 MiB
    or more: it is one contiguous allocation that never grows nor pages out.
    ENOMEM when it does not fit the largest block, else errno None.
``munmap_multi`` / ``munmap_partial_file``
    ``do_munmap`` works on one VMA: a range over two mappings -> EINVAL
    (even adjacent anonymous ones); part of a file mapping -> EINVAL (file
    VMAs are never split or shrunk).

Mappings are tracked per address space from successful mmap/mremap/munmap
results with the MMU trace's own addresses (pids joined by ``CLONE_VM`` share
one; a fork-like child starts with a copy; ``execve`` starts afresh). Memory
mapped by the kernel at exec (program, interpreter, stack) is not in the
trace and so is unknown; calls on unknown memory are not reported as munmap
problems, nor is a range that reaches past one anonymous mapping into memory
the trace does not show. A library loaded by the dynamic loader counts as one
mapping.

API: ``check_trace(trace, limits=None) -> CheckReport``; :class:`BoardLimits`
describes the board; :class:`CheckReport` holds ``findings`` (tuple of
:class:`Finding`: ``line``, ``pid``, ``syscall``, ``kind``, ``errno``,
``detail``, ``severity``, ``source``), ``verdict``, ``problems`` (the parse
problems), and offers ``summary()``, ``to_json()``, ``render_text()`` and
``exit_code`` (0 for "runs as is", else 1).

Verdict: each finding has a severity. ``info`` findings leave "runs as is";
``change`` findings (every finding with an errno, and fork-like clones,
shared_anon with a child, huge stacks) give "needs changes"; ``cannot run``
comes from a fork child that does work before exec (or never execs) and from
allocations larger than the largest free block.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nommu import consts
from nommu.consts import format_size, get_order, page_align
from nommu.strace.parse import (
    BrkArgs,
    CloneArgs,
    Event,
    EventKind,
    MmapArgs,
    MprotectArgs,
    MremapArgs,
    MunmapArgs,
    ParseProblem,
    ShmatArgs,
    ShmgetArgs,
    Trace,
    gc_paused,
)

__all__ = [
    "ENOSYS_CALLS",
    "KINDS",
    "SEVERITIES",
    "VERDICTS",
    "BoardLimits",
    "CheckReport",
    "Finding",
    "check_trace",
]

#: Finding kinds and what each means (stable identifiers).
KINDS: dict[str, str] = {
    "fork": "fork() or a clone without CLONE_VM",
    "map_fixed": "MAP_FIXED mapping",
    "loader_map_fixed": "MAP_FIXED placed by the dynamic loader (translated)",
    "map_type": "MAP_SHARED_VALIDATE mapping type",
    "shared_write_file": "writable MAP_SHARED of a file without direct mapping",
    "shared_file": "MAP_SHARED of a file without direct mapping",
    "shared_anon": "MAP_SHARED|MAP_ANONYMOUS becomes private",
    "mremap_move": "mremap to another address",
    "mremap_shared": "mremap of a shareable mapping",
    "mremap_grow": "mremap growing a mapping",
    "enosys": "system call absent without an MMU",
    "loader_mprotect": "RELRO mprotect by the dynamic loader (translated)",
    "brk_heap": "heap grown with brk",
    "alloc_too_large": "allocation larger than the largest free block",
    "huge_stack": "large thread stack",
    "munmap_multi": "munmap over more than one mapping",
    "munmap_partial_file": "munmap of part of a file mapping",
}

#: Severities, least to most serious.
SEVERITIES = ("info", "change", "fatal")
#: Verdicts by the worst severity present (none or info, change, fatal).
VERDICTS = ("runs as is", "needs changes", "cannot run")

#: Calls that fall back to sys_ni_syscall without an MMU (mm/Makefile, kernel/sys_ni.c).
ENOSYS_CALLS = frozenset(
    {
        "mprotect",
        "pkey_mprotect",
        "madvise",
        "process_madvise",
        "msync",
        "mlock",
        "mlock2",
        "munlock",
        "mlockall",
        "munlockall",
        "mincore",
        "remap_file_pages",
        "mbind",
        "set_mempolicy",
        "get_mempolicy",
        "migrate_pages",
        "move_pages",
        "swapon",
        "swapoff",
        "userfaultfd",
    }
)

#: Calls a fork child may make before execve and still be a vfork child: they
#: change descriptors, signal dispositions, ids, limits or the directory, or
#: only look at files (PATH search), but never the memory the parent shares.
SAFE_BEFORE_EXEC = frozenset(
    {
        "close", "close_range", "dup", "dup2", "dup3", "fcntl", "fcntl64", "ioctl", "open",
        "openat", "openat2", "creat", "lseek", "_llseek", "pipe", "pipe2", "write", "writev",
        "rt_sigaction", "rt_sigprocmask", "sigaction", "sigprocmask", "sigaltstack", "signal",
        "rt_sigreturn", "set_robust_list", "set_tid_address", "setsid", "setpgid", "setpgrp",
        "getpid", "getppid", "gettid", "getpgid", "getpgrp", "getsid", "getuid", "geteuid",
        "getgid", "getegid", "getuid32", "geteuid32", "getgid32", "getegid32", "setuid",
        "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setuid32", "setgid32",
        "setgroups", "setgroups32", "setfsuid", "setfsgid", "chdir", "fchdir", "umask",
        "prlimit64", "setrlimit", "getrlimit", "ugetrlimit", "setpriority", "nice",
        "sched_setaffinity", "sched_setscheduler", "sched_setparam", "prctl", "access",
        "faccessat", "faccessat2", "stat", "lstat", "fstat", "stat64", "lstat64", "fstat64",
        "newfstatat", "fstatat64", "statx", "readlink", "readlinkat", "capset", "personality",
    }
)  # fmt: skip

_EXEC_CALLS = frozenset({"execve", "execveat"})
_EXIT_CALLS = frozenset({"exit", "exit_group"})
_HUGE_STACK = 1 << 20


@dataclass(frozen=True, slots=True)
class BoardLimits:
    """The target board, as far as the findings need it.

    ``largest_free_block`` is the largest contiguous free block in bytes; 0
    (the default) means ``page_size << max_order``, the largest buddy block
    (4 MiB with 4 KiB pages and MAX_PAGE_ORDER 10). ``direct_mappable`` lists
    path prefixes backed by ramfs/tmpfs or devices, whose files map directly
    (MAP_SHARED works); every other path is taken to be on a disk filesystem
    (copies only). ``main_stack`` is the ELF-FDPIC default stack size; it is
    kept for completeness and not used by the findings.
    """

    page_size: int = consts.PAGE_SIZE
    max_order: int = 10
    largest_free_block: int = 0
    direct_mappable: tuple[str, ...] = ("/dev/shm", "/tmp", "/run", "/dev/", "/memfd:")
    main_stack: int = 131072

    def __post_init__(self) -> None:
        if self.page_size <= 0 or self.page_size & (self.page_size - 1):
            raise ValueError(f"page_size: must be a power of two, got {self.page_size}")
        if self.max_order < 0:
            raise ValueError(f"max_order: must not be negative, got {self.max_order}")
        if self.largest_free_block < 0:
            raise ValueError(
                f"largest_free_block: must not be negative, got {self.largest_free_block}"
            )
        if self.largest_free_block == 0:
            object.__setattr__(self, "largest_free_block", self.page_size << self.max_order)
        if isinstance(self.direct_mappable, str):
            raise TypeError("direct_mappable: expected a tuple of path prefixes, got a str")

    @property
    def page_shift(self) -> int:
        return self.page_size.bit_length() - 1

    def is_direct_mappable(self, path: str) -> bool:
        """A file under one of ``direct_mappable`` (ramfs, tmpfs, devices)."""
        return any(_under(path, prefix) for prefix in self.direct_mappable)


def _under(path: str, prefix: str) -> bool:
    if prefix.endswith(("/", ":")):
        return path.startswith(prefix)
    return path == prefix or path.startswith(prefix + "/")


@dataclass(frozen=True, slots=True)
class Finding:
    """One call that behaves differently without an MMU.

    ``line`` (1-based, in ``source``) is where the call starts; ``kind`` is one
    of :data:`KINDS`; ``errno`` the name of the error a no-MMU kernel returns,
    or None when the call succeeds with a different meaning; ``severity`` one
    of :data:`SEVERITIES`.
    """

    line: int
    pid: int
    syscall: str
    kind: str
    errno: str | None
    detail: str
    severity: str = "change"
    source: str = "<trace>"

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class CheckReport:
    """Findings in trace order, the verdict, and the lines the parser skipped."""

    findings: tuple[Finding, ...]
    verdict: str
    problems: tuple[ParseProblem, ...]
    limits: BoardLimits = field(default_factory=BoardLimits)

    @property
    def exit_code(self) -> int:
        """0 when the program runs as is, 1 otherwise."""
        return 0 if self.verdict == VERDICTS[0] else 1

    def by_kind(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]

    def summary(self) -> list[tuple[str, int, str | None]]:
        """Rows of (kind, count, errno), in order of first appearance."""
        counts = Counter((f.kind, f.errno) for f in self.findings)
        return [(kind, n, errno) for (kind, errno), n in counts.items()]

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "findings": [f.to_json() for f in self.findings],
            "summary": [
                {"kind": kind, "count": n, "errno": errno} for kind, n, errno in self.summary()
            ],
            "problems": [
                {"line": p.line, "text": p.text, "reason": p.reason, "source": p.source}
                for p in self.problems
            ],
        }

    def render_text(self) -> str:
        """A plain-text table of the findings, a summary and the verdict."""
        header = ("LINE", "PID", "SYSCALL", "KIND", "ERRNO", "DETAIL")
        rows = [
            (str(f.line), str(f.pid), f.syscall, f.kind, f.errno or "-", f.detail)
            for f in self.findings
        ]
        out: list[str] = []
        if rows:
            widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
            for r in [header, *rows]:
                cells = [r[i].ljust(widths[i]) for i in range(5)]
                out.append("  ".join([*cells, r[5]]).rstrip())
            out.append("")
            out.append("summary:")
            for kind, n, errno in self.summary():
                out.append(f"  {kind:<20} {n:>6}  {errno or '-'}")
        else:
            out.append("no findings")
        if self.problems:
            out.append(f"{len(self.problems)} line(s) could not be parsed, first:")
            for p in self.problems[:5]:
                out.append(f"  {p.source}:{p.line}: {p.reason}: {p.text[:80]}")
        out.append(f"verdict: {self.verdict}")
        return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------
# Replay state
# --------------------------------------------------------------------------------------


class _Map:
    """A live mapping of an address space, as the MMU trace placed it."""

    __slots__ = (
        "anon",
        "end",
        "fd",
        "gid",
        "line",
        "path",
        "region",
        "reservation",
        "shared",
        "start",
        "writable",
    )

    def __init__(
        self,
        start: int,
        end: int,
        *,
        anon: bool,
        shared: bool,
        writable: bool,
        path: str | None,
        fd: int,
        reservation: bool,
        gid: int,
        line: int,
    ) -> None:
        self.start = start
        self.end = end
        self.anon = anon
        self.shared = shared
        self.writable = writable
        self.path = path
        self.fd = fd
        self.reservation = reservation
        self.gid = gid
        self.line = line
        self.region = end - start

    def piece(self, start: int, end: int, gid: int) -> _Map:
        m = _Map(
            start,
            end,
            anon=self.anon,
            shared=self.shared,
            writable=self.writable,
            path=self.path,
            fd=self.fd,
            reservation=self.reservation,
            gid=gid,
            line=self.line,
        )
        return m


class _Builder:
    """A finding whose detail or severity is settled at the end of the trace."""

    __slots__ = (
        "child",
        "child_line",
        "errno",
        "event",
        "extra",
        "kind",
        "seq",
        "value",
        "watch",
    )

    def __init__(self, event: Event, kind: str, errno: str | None, seq: int) -> None:
        self.event = event
        self.kind = kind
        self.errno = errno
        self.seq = seq
        self.child: int | None = None
        self.child_line: int | None = None
        self.extra = 0
        self.value = 0
        self.watch: _Watch | None = None


class _Mm:
    """One address space: live mappings, brk state, pending notes."""

    __slots__ = ("brk_note", "initial_brk", "last_stack", "maps", "shared_anon")

    def __init__(self) -> None:
        self.maps: list[_Map] = []
        self.initial_brk: int | None = None
        self.brk_note: _Builder | None = None
        self.shared_anon: list[tuple[_Builder, int]] = []  # (note, gid)
        self.last_stack: _Map | None = None

    def copy(self) -> _Mm:
        new = _Mm()
        new.maps = [m.piece(m.start, m.end, m.gid) for m in self.maps]
        new.initial_brk = self.initial_brk
        return new

    def overlapping(self, start: int, end: int) -> list[_Map]:
        return [m for m in self.maps if m.start < end and start < m.end]

    def containing(self, start: int, end: int) -> _Map | None:
        for m in self.maps:
            if m.start <= start and end <= m.end:
                return m
        return None

    def remove_range(self, start: int, end: int, new_gid: Callable[[], int]) -> None:
        """MMU munmap semantics: cut [start, end) out of every mapping."""
        kept: list[_Map] = []
        for m in self.maps:
            if m.end <= start or end <= m.start:
                kept.append(m)
                continue
            if m.start < start:
                kept.append(m.piece(m.start, start, m.gid))
            if end < m.end:
                kept.append(
                    m.piece(end, m.end, m.gid if m.start >= start or not m.anon else new_gid())
                )
        self.maps = kept

    def live(self, gid: int) -> bool:
        return any(m.gid == gid for m in self.maps)


class _Watch:
    """What a process does from its first traced call until execve (fork analysis)."""

    __slots__ = ("gone", "line", "state", "syscall")

    def __init__(self) -> None:
        self.state = "pending"  # -> "exec" | "work" | "exit"
        self.line = 0
        self.syscall = ""
        self.gone = False  # exited: a later process may reuse the pid


class _Checker:
    def __init__(self, trace: Trace, limits: BoardLimits) -> None:
        self.trace = trace
        self.limits = limits
        self.ps = limits.page_size
        self.mm_of: dict[int, _Mm] = {}
        self.watch: dict[int, _Watch] = {}
        self.builders: list[_Builder] = []
        self.findings: list[tuple[int, Finding]] = []
        self._seq = itertools.count()
        self._gid = itertools.count(1)
        self.forks: list[_Builder] = []

    # ---- helpers --------------------------------------------------------------------

    def new_gid(self) -> int:
        return next(self._gid)

    def mm(self, pid: int) -> _Mm:
        mm = self.mm_of.get(pid)
        if mm is None:
            mm = self.mm_of[pid] = _Mm()
        return mm

    def add(
        self, ev: Event, kind: str, errno: str | None, detail: str, severity: str | None = None
    ) -> None:
        sev = severity if severity is not None else "change"
        self.findings.append(
            (
                next(self._seq),
                Finding(ev.line, ev.pid, ev.syscall, kind, errno, detail, sev, ev.source),
            )
        )

    def defer(self, ev: Event, kind: str, errno: str | None) -> _Builder:
        b = _Builder(ev, kind, errno, next(self._seq))
        self.builders.append(b)
        return b

    def align(self, n: int) -> int:
        return page_align(n, self.ps, bits=64)

    def block_for(self, nbytes: int) -> tuple[int, int]:
        """(order, bytes of the buddy block) needed for ``nbytes``."""
        order = get_order(max(nbytes, 1), self.limits.page_shift)
        return order, self.ps << order

    def too_large(self, nbytes: int) -> bool:
        return self.block_for(nbytes)[1] > self.limits.largest_free_block

    def too_large_detail(self, what: str, nbytes: int) -> str:
        order, block = self.block_for(nbytes)
        return (
            f"{what} ({format_size(self.align(nbytes))}) needs one contiguous order-{order} "
            f"block ({block // self.ps} pages, {format_size(block)}); the largest free block "
            f"is {format_size(self.limits.largest_free_block)}"
        )

    # ---- the pass -------------------------------------------------------------------

    def run(self) -> None:
        handlers: dict[str, Callable[[Event], None]] = {
            "mmap": self.on_mmap,
            "mmap2": self.on_mmap,
            "old_mmap": self.on_mmap,
            "munmap": self.on_munmap,
            "mremap": self.on_mremap,
            "brk": self.on_brk,
            "clone": self.on_clone,
            "clone2": self.on_clone,
            "clone3": self.on_clone,
            "fork": self.on_clone,
            "vfork": self.on_clone,
            "execve": self.on_execve,
            "execveat": self.on_execve,
            "shmget": self.on_shmget,
            "shmat": self.on_shmat,
        }
        for name in ENOSYS_CALLS:
            handlers[name] = self.on_enosys
        watch = self.watch
        syscall_kind = EventKind.SYSCALL
        for ev in self.trace.events:
            if ev.kind is not syscall_kind:
                if ev.kind is EventKind.EXITED or ev.kind is EventKind.KILLED:
                    w = watch.get(ev.pid)
                    if w is not None:
                        if w.state == "pending":
                            w.state, w.line, w.syscall = "exit", ev.line, ""
                        w.gone = True
                continue
            w = watch.get(ev.pid)
            if w is None:
                w = watch[ev.pid] = _Watch()
            if w.state == "pending":
                self.observe(w, ev)
            handler = handlers.get(ev.syscall)
            if handler is not None:
                handler(ev)

    def observe(self, w: _Watch, ev: Event) -> None:
        name = ev.syscall
        if name in _EXEC_CALLS:
            w.state, w.line, w.syscall = "exec", ev.line, name
        elif name in _EXIT_CALLS:
            w.state, w.line, w.syscall = "exit", ev.line, name
        elif name not in SAFE_BEFORE_EXEC:
            w.state, w.line, w.syscall = "work", ev.line, name

    # ---- mmap -----------------------------------------------------------------------

    def on_mmap(self, ev: Event) -> None:
        d = ev.decoded
        if not isinstance(d, MmapArgs):
            return
        mm = self.mm(ev.pid)
        ok = ev.ok
        start = ev.result if ok and ev.result is not None else d.addr
        end = start + self.align(d.length)
        anon = d.anonymous
        mtype = d.map_type
        writable = bool(d.prot & consts.PROT_WRITE)
        if d.flags & consts.MAP_FIXED:
            if self.loader_fixed(mm, d, start, end):
                self.add(
                    ev,
                    "loader_map_fixed",
                    None,
                    "translated: FDPIC loader places library segments itself "
                    f"({'bss' if anon else d.path or f'fd {d.fd}'} at {start:#x} inside "
                    "the span the loader reserved)",
                    "info",
                )
                return
            self.add(
                ev,
                "map_fixed",
                "EINVAL",
                "MAP_FIXED is refused by validate_mmap_request (the address hint is "
                "never honoured without an MMU); let mmap choose the address",
            )
        elif mtype not in (consts.MAP_SHARED, consts.MAP_PRIVATE):
            self.add(
                ev,
                "map_type",
                "EINVAL",
                f"mapping type {mtype:#x} ({'MAP_SHARED_VALIDATE' if mtype == 3 else 'none'})"
                " is neither MAP_SHARED nor MAP_PRIVATE for validate_mmap_request; "
                "use MAP_SHARED",
            )
        elif not anon:
            self.file_mapping(ev, d, mtype, writable)
        else:
            gid: int | None = None
            if mtype == consts.MAP_SHARED:
                note = self.defer(ev, "shared_anon", None)
                gid = self.new_gid()
                if ok:
                    mm.shared_anon.append((note, gid))
            if self.too_large(d.length):
                self.add(
                    ev,
                    "alloc_too_large",
                    "ENOMEM",
                    self.too_large_detail("anonymous mapping", d.length),
                    "fatal",
                )
            if ok:
                self.track(ev, mm, d, start, end, gid=gid)
            return
        if ok:
            self.track(ev, mm, d, start, end)

    def file_mapping(self, ev: Event, d: MmapArgs, mtype: int, writable: bool) -> None:
        path = d.path
        shown = path if path is not None else f"fd {d.fd} (file unknown)"
        if mtype == consts.MAP_SHARED:
            errno, why = self.shared_file_refusal(path)
            if errno is not None:
                kind = "shared_write_file" if writable else "shared_file"
                self.add(
                    ev,
                    kind,
                    errno,
                    f"MAP_SHARED{' with PROT_WRITE' if writable else ''} of {shown}: {why}",
                )
            return
        direct = path is not None and self.limits.is_direct_mappable(path)
        if (writable or not direct) and self.too_large(d.length):
            self.add(
                ev,
                "alloc_too_large",
                "ENOMEM",
                self.too_large_detail(f"private copy of {shown}", d.length),
                "fatal",
            )

    def shared_file_refusal(self, path: str | None) -> tuple[str | None, str]:
        if path is None:
            return "ENODEV", (
                "the file cannot be identified; unless it is on ramfs/tmpfs or a "
                "device it has no direct mapping (NOMMU_MAP_DIRECT) -> ENODEV"
            )
        if path.startswith("socket:") or path.startswith(("TCP", "UDP", "UNIX", "NETLINK")):
            return "EINVAL", "sockets have no mapping capabilities -> EINVAL"
        if path.startswith("pipe:") or path.startswith("anon_inode:"):
            return "ENODEV", "pipes and anonymous inodes have no ->mmap -> ENODEV"
        if path == "/dev/zero":
            return "ENODEV", (
                "/dev/zero only offers private copies without an MMU "
                "(NOMMU_MAP_COPY) -> ENODEV; use MAP_PRIVATE|MAP_ANONYMOUS"
            )
        if self.limits.is_direct_mappable(path):
            return None, ""
        return "ENODEV", (
            "a disk filesystem offers only private copies (no NOMMU_MAP_DIRECT) "
            "-> ENODEV; put the file on ramfs/tmpfs (e.g. /dev/shm) or use "
            "read()/write()"
        )

    def loader_fixed(self, mm: _Mm, d: MmapArgs, start: int, end: int) -> bool:
        """A MAP_FIXED segment inside a span the dynamic loader reserved."""
        anon = d.anonymous
        for m in mm.maps:
            if not m.reservation or not (m.start <= start and end <= m.end):
                continue
            if anon:
                return True
            if d.path is not None and m.path is not None:
                if d.path == m.path:
                    return True
            elif d.fd == m.fd:
                return True
        return False

    def track(
        self, ev: Event, mm: _Mm, d: MmapArgs, start: int, end: int, gid: int | None = None
    ) -> None:
        anon = d.anonymous
        writable = bool(d.prot & consts.PROT_WRITE)
        mtype = d.map_type
        m = _Map(
            start,
            end,
            anon=anon,
            shared=mtype == consts.MAP_SHARED and not anon,
            writable=writable,
            path=d.path,
            fd=d.fd,
            reservation=(
                not anon
                and not d.flags & consts.MAP_FIXED
                and mtype == consts.MAP_PRIVATE
                and not writable
            ),
            gid=gid if gid is not None else self.new_gid(),
            line=ev.line,
        )
        mm.remove_range(start, end, self.new_gid)
        mm.maps.append(m)
        if d.flags & consts.MAP_STACK:
            mm.last_stack = m

    # ---- munmap / mremap ------------------------------------------------------------

    def on_munmap(self, ev: Event) -> None:
        d = ev.decoded
        if not isinstance(d, MunmapArgs):
            return
        mm = self.mm(ev.pid)
        start = d.addr
        end = start + self.align(d.length)
        hits = mm.overlapping(start, end)
        groups: dict[int, list[_Map]] = {}
        for m in hits:
            groups.setdefault(m.gid, []).append(m)
        if len(groups) > 1:
            lines = sorted({ms[0].line for ms in groups.values()})
            self.add(
                ev,
                "munmap_multi",
                "EINVAL",
                f"the range {start:#x}-{end:#x} covers {len(groups)} mappings (made at "
                f"lines {', '.join(map(str, lines))}); do_munmap handles one VMA per call: "
                "unmap each mapping separately",
            )
        elif len(groups) == 1:
            pieces = next(iter(groups.values()))
            first = pieces[0]
            if not first.anon:
                gstart = min(m.start for m in pieces)
                gend = max(m.end for m in pieces)
                if start > gstart or end != gend:
                    self.add(
                        ev,
                        "munmap_partial_file",
                        "EINVAL",
                        f"unmaps {start:#x}-{end:#x}, part of the file mapping "
                        f"{gstart:#x}-{gend:#x} of {first.path or f'fd {first.fd}'} "
                        f"(line {first.line}); file VMAs are never split or shrunk: "
                        "unmap the whole mapping",
                    )
        if ev.ok:
            mm.remove_range(start, end, self.new_gid)

    def on_mremap(self, ev: Event) -> None:
        d = ev.decoded
        if not isinstance(d, MremapArgs):
            return
        mm = self.mm(ev.pid)
        old_len = self.align(d.old_size)
        new_len = self.align(d.new_size)
        m = next((x for x in mm.maps if x.start == d.old_addr), None)
        moved = ev.ok and ev.result is not None and ev.result != d.old_addr
        if d.flags & consts.MREMAP_FIXED and d.new_addr is not None and d.new_addr != d.old_addr:
            self.add(
                ev,
                "mremap_move",
                "EINVAL",
                f"MREMAP_FIXED to {d.new_addr:#x}: do_mremap never moves a mapping without an MMU",
            )
        elif m is not None and not m.anon and (m.shared or not m.writable):
            self.add(
                ev,
                "mremap_shared",
                "EPERM",
                f"the mapping of {m.path or f'fd {m.fd}'} (line {m.line}) is shareable "
                "(MAP_SHARED or read-only private file): do_mremap refuses it",
            )
        elif new_len > max(old_len, m.region if m is not None else 0):
            limit = m.region if m is not None else old_len
            self.add(
                ev,
                "mremap_grow",
                "ENOMEM",
                f"grows {format_size(old_len)} to {format_size(new_len)} "
                f"(allocation {format_size(limit)}): do_mremap cannot grow beyond the "
                "original allocation and never moves"
                + (" (the MMU moved it with MREMAP_MAYMOVE)" if moved else "")
                + "; allocate the final size up front or mmap+copy",
            )
        if ev.ok and ev.result is not None:
            region = m.region if m is not None else old_len
            if m is not None:
                mm.maps.remove(m)
                new = m.piece(ev.result, ev.result + new_len, m.gid)
            else:
                new = _Map(
                    ev.result,
                    ev.result + new_len,
                    anon=True,
                    shared=False,
                    writable=True,
                    path=None,
                    fd=-1,
                    reservation=False,
                    gid=self.new_gid(),
                    line=ev.line,
                )
            new.region = max(region, new_len)
            mm.remove_range(new.start, new.end, self.new_gid)
            mm.maps.append(new)

    # ---- brk ------------------------------------------------------------------------

    def on_brk(self, ev: Event) -> None:
        d = ev.decoded
        if not isinstance(d, BrkArgs):
            return
        mm = self.mm(ev.pid)
        if mm.initial_brk is None:
            if d.addr == 0 and ev.result is not None:
                mm.initial_brk = ev.result
            return
        if d.addr > mm.initial_brk:
            if mm.brk_note is None:
                note = self.defer(ev, "brk_heap", None)
                note.value = d.addr  # the requested break
                mm.brk_note = note
            else:
                mm.brk_note.extra += 1

    # ---- processes ------------------------------------------------------------------

    def on_clone(self, ev: Event) -> None:
        d = ev.decoded
        if not isinstance(d, CloneArgs):
            return
        child = ev.result if ev.ok and ev.result is not None and ev.result > 0 else None
        child_watch: _Watch | None = None
        if child is not None:
            child_watch = self.watch.get(child)
            if child_watch is None or child_watch.gone:  # new, or a reused pid
                child_watch = self.watch[child] = _Watch()
        parent_mm = self.mm(ev.pid)
        shares_vm = bool(d.flags & consts.CLONE_VM)
        if ev.syscall == "fork" or not shares_vm:
            note = self.defer(ev, "fork", "EINVAL" if ev.syscall == "fork" else None)
            note.child = child
            note.watch = child_watch
            self.forks.append(note)
            for sa_note, gid in parent_mm.shared_anon:
                if sa_note.child is None and parent_mm.live(gid):
                    sa_note.child = child if child is not None else -1
                    sa_note.child_line = ev.line
        elif d.stack or d.stack_size:
            self.thread_stack(ev, d, parent_mm)
        if child is None:
            return
        if shares_vm:
            self.mm_of[child] = parent_mm
        else:
            self.mm_of[child] = parent_mm.copy()

    def thread_stack(self, ev: Event, d: CloneArgs, mm: _Mm) -> None:
        size = d.stack_size
        if not size:
            m = next((x for x in mm.maps if x.start < d.stack <= x.end), None)
            if m is None and mm.last_stack is not None and mm.last_stack in mm.maps:
                m = mm.last_stack  # the latest MAP_STACK mapping still mapped
            if m is None:
                return
            size = m.end - m.start
        if size < _HUGE_STACK:
            return
        order, block = self.block_for(size)
        fits = block <= self.limits.largest_free_block
        self.add(
            ev,
            "huge_stack",
            None if fits else "ENOMEM",
            f"thread stack of {format_size(self.align(size))} needs "
            f"{self.align(size) // self.ps} contiguous pages (order {order}, "
            f"{format_size(block)} block) that never grow or page out"
            + (
                ""
                if fits
                else f", more than the largest free block "
                f"({format_size(self.limits.largest_free_block)})"
            )
            + "; set the real need with pthread_attr_setstacksize",
            "change" if fits else "fatal",
        )

    def on_execve(self, ev: Event) -> None:
        if ev.ok and ev.result == 0:
            self.mm_of[ev.pid] = _Mm()

    def on_enosys(self, ev: Event) -> None:
        d = ev.decoded
        if isinstance(d, MprotectArgs) and d.prot == consts.PROT_READ:
            mm = self.mm(ev.pid)
            start, end = d.addr, d.addr + self.align(d.length)
            inside = mm.containing(start, end)
            if (inside is not None and inside.reservation) or not mm.overlapping(start, end):
                where = (
                    f"library span of {inside.path}"
                    if inside is not None
                    else "memory mapped by the kernel at exec"
                )
                self.add(
                    ev,
                    "loader_mprotect",
                    None,
                    f"translated: the dynamic loader write-protects RELRO in the {where}; "
                    "mprotect is ENOSYS without an MMU and a no-MMU loader skips it",
                    "info",
                )
                return
        self.add(
            ev,
            "enosys",
            "ENOSYS",
            f"{ev.syscall} is not built without an MMU (mm/Makefile mmu-y; "
            "kernel/sys_ni.c): returns ENOSYS, protections and locking do not exist",
        )

    # ---- SysV shm -------------------------------------------------------------------

    def on_shmget(self, ev: Event) -> None:
        d = ev.decoded
        if isinstance(d, ShmgetArgs) and d.size and self.too_large(d.size):
            self.add(
                ev,
                "alloc_too_large",
                "EFBIG",
                self.too_large_detail(
                    "SysV segment (allocated at shmget by ramfs_nommu_expand_for_mapping)", d.size
                )
                + " -> EFBIG",
                "fatal",
            )

    def on_shmat(self, ev: Event) -> None:
        d = ev.decoded
        if isinstance(d, ShmatArgs) and d.addr:
            self.add(
                ev,
                "map_fixed",
                "EINVAL",
                f"shmat at {d.addr:#x} becomes MAP_FIXED (do_shmat), refused without an "
                "MMU; pass NULL",
            )

    # ---- results --------------------------------------------------------------------

    def finalize(self) -> list[Finding]:
        for b in self.builders:
            ev = b.event
            if b.kind == "fork":
                detail, sev = self.fork_detail(b)
            elif b.kind == "shared_anon":
                if b.child is not None:
                    who = f"pid {b.child}" if b.child > 0 else "a child"
                    detail = (
                        f"MAP_SHARED|MAP_ANONYMOUS becomes private without an MMU "
                        f"(determine_vm_flags: no fork, nothing to share); the child "
                        f"created at line {b.child_line} ({who}) would not see this "
                        "memory: share a /dev/shm file mapping or use threads"
                    )
                    sev = "change"
                else:
                    detail = (
                        "MAP_SHARED|MAP_ANONYMOUS becomes private without an MMU "
                        "(determine_vm_flags); harmless here: no child with its own "
                        "address space is created while it is mapped"
                    )
                    sev = "info"
            else:  # brk_heap
                target = b.value
                detail = (
                    f"brk grows the heap to {target:#x}; ELF-FDPIC gives a zero-size "
                    "brk area, so brk returns the unchanged break and malloc must use "
                    "mmap"
                )
                if b.extra:
                    detail += f" ({b.extra} more growing brk call(s) in this process image)"
                sev = "info"
            self.findings.append(
                (
                    b.seq,
                    Finding(ev.line, ev.pid, ev.syscall, b.kind, b.errno, detail, sev, ev.source),
                )
            )
        order = {src: i for i, src in enumerate(self.trace.sources)}
        self.findings.sort(key=lambda item: (order.get(item[1].source, 0), item[1].line, item[0]))
        return [f for _, f in self.findings]

    def fork_detail(self, b: _Builder) -> tuple[str, str]:
        ev = b.event
        if ev.syscall == "fork":
            head = "fork() returns EINVAL without an MMU (kernel/fork.c)"
        else:
            head = (
                f"{ev.syscall} without CLONE_VM (a C library fork): the child gets an empty "
                "address space while it runs on the parent's stack and code"
            )
        if b.child is None:
            return (
                f"{head}; it failed in the trace ({ev.errno or 'no child'}), so its child "
                "cannot be judged: use vfork() if the child only calls execve",
                "change",
            )
        w = b.watch
        if w is None or w.state == "pending":
            return (
                f"{head}; the child (pid {b.child}) is not in the trace (record with "
                "strace -f): use vfork() if it only calls execve, otherwise it needs "
                "redesign",
                "change",
            )
        if w.state == "exec":
            return (
                f"{head}; the child (pid {b.child}) only prepares and calls {w.syscall} "
                f"(line {w.line}): use vfork() or posix_spawn()",
                "change",
            )
        if w.state == "work":
            return (
                f"{head}; the child (pid {b.child}) calls {w.syscall} (line {w.line}) "
                "before any execve: needs redesign (a vfork child shares the parent's "
                "memory; use threads, posix_spawn or a separate program)",
                "fatal",
            )
        return (
            f"{head}; the child (pid {b.child}) exits without execve"
            f"{f' (line {w.line})' if w.line else ''}: needs redesign (use threads or "
            "a separate program)",
            "fatal",
        )


def check_trace(trace: Trace, limits: BoardLimits | None = None) -> CheckReport:
    """Judge a parsed trace against the no-MMU rules; see the module docstring."""
    lim = limits if limits is not None else BoardLimits()
    checker = _Checker(trace, lim)
    with gc_paused():
        checker.run()
        findings = checker.finalize()
    worst = 0
    for f in findings:
        worst = max(worst, SEVERITIES.index(f.severity))
    return CheckReport(tuple(findings), VERDICTS[worst], tuple(trace.problems), lim)
