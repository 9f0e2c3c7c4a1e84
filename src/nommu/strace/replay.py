"""Replay an strace log taken on an MMU system onto a no-MMU board.

:func:`replay` runs the memory-management and process calls of a parsed
trace (:mod:`nommu.strace.parse`) as system calls of a :class:`~nommu.Machine`
and reports what the program would cost in RAM there and where it would
first fail. A trace says what the program asked an MMU kernel for; a no-MMU
C library and loader ask differently, so each call goes through a documented
translation (every translation applied is listed in the result, with its
trace line):

Libraries (``library``, ``library_segment``)
    glibc's and musl's ``ld.so`` reserve a library's whole span with one
    read-only mapping of the file and then place each ``PT_LOAD`` with
    ``MAP_FIXED`` inside it (bss as ``MAP_FIXED|MAP_ANONYMOUS``). Without an
    MMU ``MAP_FIXED`` is EINVAL, and an ELF-FDPIC loader maps each segment
    itself, where the kernel chooses: the first segment (the reservation's
    head, up to the first ``MAP_FIXED`` segment) and every read-only or
    executable segment become ``MAP_PRIVATE`` read-only mappings of the
    library file (shared by every process that maps the same range of the
    same inode), writable segments private copies, bss anonymous memory.
    The library files are created on the board, sized from the trace (the
    largest file offset + length mapped, or ``st_size`` of a ``stat`` call
    when larger), on the filesystem the policy names (``libs``):

    ``ramfs``
        a ramfs mounted on the library's directory: the file is page cache
        (contiguous, allocated when the file is created), mapped directly
        (no copy for read-only segments). The files cost RAM from the start.
    ``xip``
        a romfs on the machine's memory-mapped flash: read-only segments are
        executed in place, no RAM at all (needs ``Machine(flash=...)`` large
        enough for the libraries).
    ``disk``
        an ext2 filesystem: read-only segments are copies in RAM, shared by
        the processes that map the same range.
    ``auto`` (default)
        ``xip`` when the machine has flash, else ``ramfs``.

The program (``program_image``)
    The kernel maps the traced program at ``execve``, so the trace does not
    show it. It is modelled as a plain (non-FDPIC) ELF, which the ELF-FDPIC
    loader maps the *constdisp* way: one anonymous RWX copy of the whole
    ``PT_LOAD`` span, plus the loader's stack (``stack_size``, 128 KiB as for
    a ``PT_GNU_STACK`` without a size). The span is ``program_size`` when the
    policy gives one, else taken from the trace: the span of the program
    file's mappings if the trace shows them, else ``st_size`` of a ``stat``
    of the program (the file size approximates the ``PT_LOAD`` span), else
    ``default_program_size``. A small ELF file with that geometry is created
    on the board and really executed, so exec goes through the model's
    loader. The dynamic linker's own image is not modelled (the trace does
    not show it).

The heap (``heap``)
    ``brk`` gives a zero-size heap under ELF-FDPIC; uClibc-ng's and musl's
    ``malloc`` use ``mmap`` without an MMU. ``heap`` chooses how each growth
    of the traced break is replayed: ``mmap-per-brk`` maps each increment
    (page-rounded) as its own anonymous mapping, ``malloc-chunks`` rounds
    growth up to ``heap_chunk`` bytes (64 KiB) per mapping, ``none`` drops it.
    Shrinking the break unmaps whole pieces above it (and, with
    ``mmap-per-brk``, the tail of the piece it cuts).

Processes (``fork_to_vfork``, ``fork_needs_redesign``, ``vfork_wait``)
    ``fork()`` and ``clone`` without ``CLONE_VM`` become ``vfork()``: the
    child runs in the parent's address space and the parent waits until the
    child calls ``execve`` or exits (the parent's calls in the trace are
    deferred until then, as the kernel would suspend it). A child that does
    other work before ``execve`` is replayed the same way, with the
    translation "needs redesign": its calls then run in the parent's address
    space, which is what a ``vfork`` child would do. Threads (``CLONE_VM``)
    share the address space as on an MMU.

Thread stacks (``thread_stack``)
    A ``MAP_STACK`` mapping, or the mapping handed to ``clone`` as the
    child's stack, is one fixed-size anonymous mapping of the size the trace
    used (readable and writable from the start: there are no guard pages).

Address-space reservations (``reservation``, ``reservation_commit``)
    An anonymous ``PROT_NONE`` mapping reserves address space (glibc's
    ``malloc`` arenas, guard areas); nothing is mapped for it. When the trace
    later makes part of it accessible with ``mprotect``, that part is mapped
    as its own anonymous mapping, as a no-MMU allocator would allocate it
    (``reservations="commit"``, the default); ``"whole"`` maps the
    reservation at once instead.

Everything else
    ``munmap``, ``mremap``, ``shmget``/``shmat``/``shmdt``/``shmctl`` and the
    other ``mmap`` calls are replayed as they are, with the model's addresses
    in place of the trace's; ``MAP_FIXED`` (outside a library) and
    ``MAP_SHARED_VALIDATE`` therefore fail as they would. Files mapped by the
    program are created where the board would have them: under a prefix of
    ``direct_mappable`` (``/dev/shm``, ``/tmp``, ``/run``; ``memfd`` objects
    go to ``/dev/shm``) on ramfs, created and sized when the trace first
    truncates or maps them; elsewhere on an ext2 disk (copies only:
    ``MAP_SHARED`` fails with ENODEV). Relative paths are taken from
    ``cwd``. A ``munmap`` over several replayed mappings unmaps each
    (``munmap_split``). ``mprotect``, ``madvise``, ``msync`` and the other
    calls that do not exist without an MMU are skipped (``enosys``, errno
    ENOSYS). When ``mremap`` cannot grow a mapping (ENOMEM: a no-MMU kernel
    never moves one), the failure is recorded and, with ``mremap_fallback``,
    the call is replayed as ``mmap`` + ``munmap``, as a no-MMU ``realloc``
    does.

A call that failed in the trace is not replayed; a call the model refuses is
recorded as a :class:`ReplayFailure` (the errno, the model's one-line reason,
the kernel log lines, and for an allocation failure an explanation from
:mod:`nommu.analysis.failure`), never fatal: the replay goes on. When the
board kills a process because its ``execve`` cannot be loaded (after the
point of no return), the rest of its calls run in a new board process
(``respawned``; ``respawn=False`` drops them instead), so the rest of the
trace is still measured. A file the board cannot hold (a library too large
for ramfs) is reported at the call that first needs it. Calls are replayed
in trace order, except that the calls of a ``vfork`` parent wait until its
child execs or exits, as the kernel would make them wait.

What is not modelled: file contents and I/O (only mapping matters), page
cache of disk files, the dynamic linker's image, signals, timing, and
``chdir`` (relative paths always use ``cwd``).

Measurements: the free pages and the free-list counts per order after every
replayed call that changed free memory (every ``sample_every``-th one), the
lowest point (peak use) with a snapshot of the machine there, snapshots
after the board's files were made (the baseline), just before the first
traced process exits (``steady``: the state of a long-running program when
the trace was stopped) and at the end. :class:`ReplayResult` gives the
figures; :mod:`nommu.strace.report` renders them as the run report of
:mod:`nommu.report` plus the replay's own sections.

Usage::

    m = nommu.Machine(ram="8M")
    result = replay(parse_file("trace.txt"), m, ReplayPolicy(heap="malloc-chunks"))
    result.peak_used, result.first_failure, result.translations[:5]
"""

from __future__ import annotations

import contextlib
import dataclasses
import posixpath
import re
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nommu import consts
from nommu.analysis.failure import FailureExplanation, explain_failure, size_text
from nommu.analysis.footprint import Footprint, footprints
from nommu.analysis.fragmentation import Fragmentation, fragmentation
from nommu.analysis.snapshot import MachineSnapshot, capture
from nommu.binfmt.elf_format import ET_DYN, PF_R, PF_W, PF_X, SegmentSpec, build_elf
from nommu.errors import ConfigError, Errno, SyscallError
from nommu.fs.mtd import MTD_ERASESIZE, mtd_table
from nommu.fs.romfs_image import DirSpec, FileSpec
from nommu.process import Process, ProcessStateError
from nommu.strace.check import ENOSYS_CALLS, SAFE_BEFORE_EXEC, BoardLimits
from nommu.strace.parse import (
    SIGNALS,
    BrkArgs,
    CloneArgs,
    Event,
    EventKind,
    ExecveArgs,
    ExitArgs,
    FtruncateArgs,
    MmapArgs,
    MprotectArgs,
    MremapArgs,
    MunmapArgs,
    OpenArgs,
    ParseProblem,
    ShmatArgs,
    ShmctlArgs,
    ShmdtArgs,
    ShmgetArgs,
    Trace,
    decode_c_string,
    gc_paused,
    split_args,
)

if TYPE_CHECKING:
    from nommu.machine import Machine
    from nommu.mm.nommu import AllocFailure

__all__ = [
    "HEAP_POLICIES",
    "LIB_POLICIES",
    "RESERVATION_POLICIES",
    "TRANSLATION_KINDS",
    "ProcessRecord",
    "ReplayFailure",
    "ReplayPolicy",
    "ReplayResult",
    "Sample",
    "Translation",
    "replay",
]

HEAP_POLICIES = ("mmap-per-brk", "malloc-chunks", "none")
LIB_POLICIES = ("auto", "ramfs", "xip", "disk")
RESERVATION_POLICIES = ("commit", "whole")

#: Translation kinds (stable identifiers) and what each means.
TRANSLATION_KINDS: dict[str, str] = {
    "library": "ld.so's reservation + MAP_FIXED segments become FDPIC-style library mappings",
    "library_segment": "one library segment mapped where the kernel chooses",
    "program_image": "execve: the program modelled as a plain ELF (one constdisp copy)",
    "heap": "brk growth replayed with mmap (heap policy)",
    "fork_to_vfork": "fork whose child only execs becomes vfork",
    "fork_needs_redesign": "fork whose child works before exec replayed as vfork",
    "vfork_wait": "a vfork parent's calls wait until the child execs or exits",
    "thread_stack": "a thread stack becomes a fixed-size anonymous mapping",
    "reservation": "a PROT_NONE anonymous reservation is not mapped",
    "reservation_commit": "the part of a reservation made accessible is mapped",
    "enosys": "a call that does not exist without an MMU is skipped",
    "mremap_fallback": "mremap that cannot grow replayed as mmap + munmap",
    "munmap_split": "munmap over several replayed mappings unmaps each",
    "memfd": "a memfd object becomes a tmpfs file in /dev/shm",
    "forced_exit": "at the end of the trace a vfork child is ended so its parent runs",
    "adopted": "a process first seen without execve runs a default program image",
    "respawned": "after an execve the board could not load, the process goes on in a new one",
    "not_replayed": "a call the replay cannot express on the board",
}

_RWX = consts.PROT_READ | consts.PROT_WRITE | consts.PROT_EXEC
_RW = consts.PROT_READ | consts.PROT_WRITE
_ANON = consts.MAP_PRIVATE | consts.MAP_ANONYMOUS
_MODEL_CLONE = (
    consts.CLONE_VM
    | consts.CLONE_FS
    | consts.CLONE_FILES
    | consts.CLONE_SIGHAND
    | consts.CLONE_THREAD
    | consts.CLONE_VFORK
)
_MMAP_CALLS = frozenset({"mmap", "mmap2", "old_mmap"})
_CLONE_CALLS = frozenset({"clone", "clone2", "clone3", "fork", "vfork"})
_EXEC_CALLS = frozenset({"execve", "execveat"})
_EXIT_CALLS = frozenset({"exit", "exit_group"})
_STAT_CALLS = frozenset(
    {"stat", "lstat", "fstat", "stat64", "lstat64", "fstat64", "newfstatat", "fstatat64", "statx"}
)
_ST_SIZE = re.compile(r"\bst(?:x)?_size=(\d+)")
#: Calls after which memory may have changed: a sample is taken.
_SAMPLED = (
    _MMAP_CALLS
    | _CLONE_CALLS
    | _EXEC_CALLS
    | _EXIT_CALLS
    | {"munmap", "mremap", "brk", "mprotect", "pkey_mprotect", "ftruncate", "ftruncate64"}
    | {"unlink", "unlinkat", "shmget", "shmat", "shmdt", "shmctl"}
)
#: How many failures keep a snapshot-based explanation and their kernel log lines.
_EXPLAINED_FAILURES = 50


# --------------------------------------------------------------------------------------
# Policy and results
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReplayPolicy:
    """How MMU behaviour is translated; see the module docstring.

    Sizes are bytes. ``heap``: one of :data:`HEAP_POLICIES` (``heap_chunk``
    for ``malloc-chunks``); ``libs``: one of :data:`LIB_POLICIES`;
    ``program_size`` forces every program's ``PT_LOAD`` span, else it comes
    from the trace or is ``default_program_size``; ``stack_size`` is the
    loader's stack; ``reservations``: one of :data:`RESERVATION_POLICIES`;
    ``mremap_fallback`` replays an ``mremap`` the board refuses as mmap +
    munmap; ``respawn`` goes on after an exec the board could not load;
    ``cwd`` is where relative paths are; ``direct_mappable`` lists the
    directories on ramfs/tmpfs. ``sample_every`` keeps every n-th memory
    sample (the lowest point is found from all of them). ``validate`` runs
    ``Machine.validate()`` after every replayed call (slow; for tests).
    """

    heap: str = "mmap-per-brk"
    heap_chunk: int = 64 * 1024
    libs: str = "auto"
    program_size: int | None = None
    default_program_size: int = 128 * 1024
    stack_size: int = 131072
    reservations: str = "commit"
    mremap_fallback: bool = True
    respawn: bool = True
    cwd: str = "/home"
    direct_mappable: tuple[str, ...] = BoardLimits().direct_mappable
    sample_every: int = 1
    validate: bool = False

    def __post_init__(self) -> None:
        if self.heap not in HEAP_POLICIES:
            raise ValueError(f"heap: must be one of {', '.join(HEAP_POLICIES)}, got {self.heap!r}")
        if self.libs not in LIB_POLICIES:
            raise ValueError(f"libs: must be one of {', '.join(LIB_POLICIES)}, got {self.libs!r}")
        if self.reservations not in RESERVATION_POLICIES:
            raise ValueError(
                f"reservations: must be one of {', '.join(RESERVATION_POLICIES)}, "
                f"got {self.reservations!r}"
            )
        for name in ("heap_chunk", "default_program_size", "stack_size", "sample_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name}: must be a positive int, got {value!r}")
        if self.program_size is not None and (
            isinstance(self.program_size, bool)
            or not isinstance(self.program_size, int)
            or self.program_size <= 0
        ):
            raise ValueError(
                f"program_size: must be a positive int or None, got {self.program_size!r}"
            )
        if not isinstance(self.cwd, str) or not self.cwd.startswith("/"):
            raise ValueError(f"cwd: must be an absolute path, got {self.cwd!r}")
        if isinstance(self.direct_mappable, str):
            raise TypeError("direct_mappable: expected a tuple of path prefixes, got a str")

    def to_json(self) -> dict[str, Any]:
        return {
            "heap": self.heap,
            "heap_chunk": self.heap_chunk,
            "libs": self.libs,
            "program_size": self.program_size,
            "default_program_size": self.default_program_size,
            "stack_size": self.stack_size,
            "reservations": self.reservations,
            "mremap_fallback": self.mremap_fallback,
            "respawn": self.respawn,
            "cwd": self.cwd,
            "direct_mappable": list(self.direct_mappable),
            "sample_every": self.sample_every,
        }


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
    """What a replay measured; :mod:`nommu.strace.report` renders it.

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
        """The report document (:func:`nommu.strace.report.report_document`)."""
        from nommu.strace.report import report_document

        return report_document(self)

    def render_text(self, *, width: int = 100) -> str:
        """The report as plain text (:func:`nommu.strace.report.render_text`)."""
        from nommu.strace.report import render_text

        return render_text(self, width=width)

    def render_html(self) -> str:
        """The report as one HTML page (:func:`nommu.strace.report.render_html`)."""
        from nommu.strace.report import render_html

        return render_html(self)


def _retag(fp: Footprint, pid: int) -> Footprint:
    return dataclasses.replace(fp, pid=pid)


# --------------------------------------------------------------------------------------
# Pre-pass: libraries, fork children, file sizes
# --------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Seg:
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
class _LibPlan:
    """A library loaded by ld.so: its reservation and its MAP_FIXED segments."""

    path: str
    res_index: int
    line: int
    tstart: int
    tend: int
    prot: int
    offset: int
    segs: list[_Seg] = field(default_factory=list)
    head: _Seg | None = None


@dataclass(slots=True)
class _Res:
    start: int
    end: int
    path: str | None
    fd: int
    index: int
    ev: Event
    d: MmapArgs
    plan: _LibPlan | None = None


@dataclass(slots=True)
class _Plan:
    lib_at_res: dict[int, _LibPlan] = field(default_factory=dict)
    seg_at: dict[int, tuple[_LibPlan, _Seg]] = field(default_factory=dict)
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


def _prepass(trace: Trace, page_size: int) -> _Plan:
    plan = _Plan()
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
            if name in _EXEC_CALLS:
                w.state, w.line, w.syscall = "exec", ev.line, name
            elif name in _EXIT_CALLS:
                w.state, w.line, w.syscall = "exit", ev.line, name
            elif name not in SAFE_BEFORE_EXEC:
                w.state, w.line, w.syscall = "work", ev.line, name
        ok = ev.ok
        if ok and pid not in first_ok:
            first_ok[pid] = (name, ev.line)
        d = ev.decoded
        if name in _MMAP_CALLS:
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
                        r.plan = _LibPlan(
                            r.path, r.index, r.ev.line, r.start, r.end, r.d.prot, r.d.offset
                        )
                        plan.lib_at_res[r.index] = r.plan
                        plan.lib_paths.setdefault(r.path, r.ev.line)
                    seg = _Seg(
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
        elif name in _CLONE_CALLS:
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
        elif name in _EXEC_CALLS:
            if ok and ev.result == 0:
                spaces[pid] = []
                if isinstance(d, ExecveArgs):
                    plan.programs.setdefault(d.path, ev.line)
        elif name in _STAT_CALLS and ok:
            found = _stat_size(ev, opened)
            if found is not None:
                plan.sizes[found[0]] = found[1]
    for index, cw in child_watches:
        plan.child_state[index] = (cw.state, cw.line, cw.syscall)
    for pid, (name, line) in first_ok.items():
        if pid not in clone_children and name not in _EXEC_CALLS:
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
            lib.head = _Seg(lib.res_index, "head", lib.tstart, first, length, lib.prot, lib.offset)
            plan.needs[lib.path] = max(plan.needs.get(lib.path, 0), lib.offset + length)
        for s in lib.segs:
            if s.file:
                plan.needs[lib.path] = max(plan.needs.get(lib.path, 0), s.offset + s.length)
    return plan


# --------------------------------------------------------------------------------------
# The replay
# --------------------------------------------------------------------------------------


class _Entry:
    """A trace address range and where the board put it."""

    __slots__ = ("kind", "lib", "line", "mstart", "path", "tend", "tstart")

    def __init__(
        self,
        tstart: int,
        tend: int,
        mstart: int | None,
        kind: str,
        line: int,
        path: str | None = None,
        lib: _LibPlan | None = None,
    ) -> None:
        self.tstart = tstart
        self.tend = tend
        self.mstart = mstart  # None: nothing on the board (reservation, failed, span)
        self.kind = kind  # anon, file, stack, lib, libspan, reservation, commit, failed, shm
        self.line = line
        self.path = path
        self.lib = lib


class _Heap:
    __slots__ = ("cur", "pieces", "start", "top")

    def __init__(self) -> None:
        self.start: int | None = None
        self.cur = 0
        self.top = 0
        self.pieces: list[tuple[int, int, int]] = []  # (tlo, thi, model address)


class _Space:
    """One traced address space: trace ranges -> board mappings, and the heap."""

    __slots__ = ("entries", "heap")

    def __init__(self) -> None:
        self.entries: list[_Entry] = []
        self.heap = _Heap()

    def overlapping(self, lo: int, hi: int) -> list[_Entry]:
        return [e for e in self.entries if e.tstart < hi and lo < e.tend]

    def cut(self, entry: _Entry, lo: int, hi: int) -> None:
        """Remove [lo, hi) from *entry* (MMU munmap semantics on the table)."""
        entries = self.entries
        pos = entries.index(entry)
        pieces: list[_Entry] = []
        if entry.tstart < lo:
            pieces.append(
                _Entry(
                    entry.tstart, lo, entry.mstart, entry.kind, entry.line, entry.path, entry.lib
                )
            )
        if hi < entry.tend:
            m = None if entry.mstart is None else entry.mstart + (hi - entry.tstart)
            pieces.append(_Entry(hi, entry.tend, m, entry.kind, entry.line, entry.path, entry.lib))
        entries[pos : pos + 1] = pieces


class _Proc:
    """A traced process while it is replayed."""

    __slots__ = ("created", "end", "end_line", "line", "model_pids", "parent", "pid", "process",
                 "program", "queue", "space", "waited_note")  # fmt: skip

    def __init__(
        self, pid: int, process: Process, space: _Space, parent: int, created: str, line: int
    ) -> None:
        self.pid = pid
        self.process = process
        self.space = space
        self.parent = parent
        self.created = created
        self.line = line
        self.program = ""
        self.end = "running"
        self.end_line = 0
        self.queue: deque[tuple[int, Event]] = deque()
        self.waited_note = False
        self.model_pids = [process.pid]

    def blocked(self) -> bool:
        return self.process.vfork_child is not None

    def alive(self) -> bool:
        return self.process.state not in ("Z", "X")


@dataclass(slots=True)
class _BoardFile:
    path: str  # board path
    role: str  # "lib", "program", "data"
    size: int
    line: int
    elf: bytes = b""


class _Replayer:
    def __init__(self, trace: Trace, machine: Machine, policy: ReplayPolicy) -> None:
        self.trace = trace
        self.m = machine
        self.policy = policy
        self.ps = machine.page_size
        self.pmask = machine.page_size - 1
        self.events = trace.events
        self.plan = _prepass(trace, machine.page_size)
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

    # ---- board preparation ------------------------------------------------------------
    def program_size(self, path: str) -> tuple[int, str]:
        pol = self.policy
        if pol.program_size is not None:
            return pol.program_size, "the policy's program_size"
        for lib in self.plan.lib_at_res.values():
            if lib.path == path and lib.segs:
                top = max(s.tend for s in lib.segs)
                return top - lib.tstart, f"the span of its mappings at line {lib.line}"
        size = self.plan.sizes.get(path)
        if size:
            return size, "st_size of a stat in the trace (the file size estimates the PT_LOAD span)"
        return pol.default_program_size, "the policy's default_program_size"

    def program_elf(self, size: int) -> bytes:
        size = max(size, 64)
        seg = SegmentSpec(0, size, filesz=min(size, 64), flags=PF_R | PF_W | PF_X)
        return build_elf(
            [seg],
            machine="ARM",
            e_type=ET_DYN,
            gnu_stack=(self.policy.stack_size, False),
            bits=8 * self.m.word_size,
        )

    def plan_files(self) -> None:
        plan = self.plan
        for path, line in plan.lib_paths.items():
            if self.special(path) is not None or path.startswith("/dev/"):
                continue
            bp = self.board_path(path)
            size = max(plan.needs.get(path, 0), plan.sizes.get(path, 0), 1)
            self.files[bp] = _BoardFile(bp, "lib", size, line)
        for path, line in plan.programs.items():
            bp = self.board_path(path)
            if self.special(path) is not None or bp.startswith("/dev/"):
                continue
            size, _ = self.program_size(path)
            elf = self.program_elf(size)
            old = self.files.get(bp)
            if old is not None:  # a program that is also mapped as a library
                old.elf = elf
                old.size = max(old.size, len(elf))
                continue
            self.files[bp] = _BoardFile(bp, "program", len(elf), line, elf)
        for pid, line in plan.orphans_needing_image.items():
            bp = f"/bin/traced-{pid}"
            elf = self.program_elf(self.policy.program_size or self.policy.default_program_size)
            self.files[bp] = _BoardFile(bp, "program", len(elf), line, elf)
        for path, need in plan.needs.items():
            if path in plan.lib_paths or self.special(path) is not None:
                continue
            bp = self.board_path(path)
            if bp.startswith("/dev/") or bp in self.files:
                continue
            size = max(need, plan.sizes.get(path, 0), 1)
            self.files[bp] = _BoardFile(bp, "data", size, plan.first_line.get(path, 0))

    def flash_needed(self) -> int:
        """Flash the library romfs images take (one partition per directory, 64 KiB units)."""
        per_dir: dict[str, int] = {}
        for f in self.files.values():
            if f.role == "lib" and not self.direct(f.path):
                d = posixpath.dirname(f.path)
                # a file header and the page-aligned data; the image header
                per_dir[d] = per_dir.get(d, self.ps) + self.ps + self.align(f.size)
        return sum(-(-n // MTD_ERASESIZE) * MTD_ERASESIZE for n in per_dir.values())

    def setup(self) -> None:
        self.plan_files()
        if self.libs == "auto":
            free = self.m.flash_size - mtd_table(self.m).next_offset
            self.libs = "xip" if self.m.flash_size and self.flash_needed() <= free else "ramfs"
        elif self.libs == "xip":
            free = self.m.flash_size - mtd_table(self.m).next_offset
            need = self.flash_needed()
            if need > free:
                raise ConfigError(
                    f"libs: the libraries need about {size_text(need)} of flash "
                    f"for their romfs images and the board has "
                    f"{size_text(free)} free; use a larger flash, 'ramfs' or "
                    "'disk'"
                )
        # which filesystem each directory gets
        kinds: dict[str, str] = {}
        for f in self.files.values():
            d = posixpath.dirname(f.path)
            if self.direct(f.path) or d == "/":
                continue
            want = {"lib": {"ramfs": "ramfs", "xip": "romfs", "disk": "ext2"}[self.libs]}.get(
                f.role, "ext2"
            )
            if kinds.get(d) in ("ramfs", "romfs") and want == "ext2":
                continue  # a library's directory keeps the library filesystem
            kinds[d] = want
        self.fs_of_dir = kinds
        for d in sorted(kinds):
            fstype = kinds[d]
            try:
                if fstype == "romfs":
                    files: dict[str, Any] = {}
                    for f in sorted(self.files.values(), key=lambda x: x.path):
                        if posixpath.dirname(f.path) == d:
                            data = f.elf.ljust(f.size, b"\0") if f.elf else bytes(f.size)
                            files[posixpath.basename(f.path)] = FileSpec(
                                data, executable=f.role != "data", align=self.ps
                            )
                    for other in sorted(kinds):
                        if other != d and other.startswith(d.rstrip("/") + "/"):
                            files[other[len(d) + 1 :]] = DirSpec()
                    self.m.mount("romfs", d, files=files, device="mtd")
                else:
                    self.m.mount(fstype, d)
            except ValueError as exc:
                raise ConfigError(f"cannot prepare {d} as {fstype} on the board: {exc}") from exc
        helper = self.m.spawn(name="replay-setup")
        self.helper = helper
        try:
            for f in sorted(self.files.values(), key=lambda x: (x.line, x.path)):
                fs = self.fs_for(f.path)
                self.board_files.append((f.path, fs, f.size))
                if fs == "romfs":
                    continue
                if self.direct(f.path) and f.role == "data":
                    continue  # created when the trace first truncates or maps it
                self.create_file(helper, f)
        finally:
            helper.exit(0)
            self.helper = None

    def fs_for(self, path: str) -> str:
        d = posixpath.dirname(path)
        if self.direct(path) or d == "/":
            return "ramfs"
        return self.fs_of_dir.get(d, "ext2")

    def create_file(
        self, p: Process, f: _BoardFile, size: int | None = None, ev: Event | None = None
    ) -> bool:
        """Create *f* on the board (and its directories); False if it cannot be.

        On ramfs a file is created as ``ftruncate`` from 0 makes it: one
        contiguous run, so it can be mapped directly. A file too large for
        one free block is written page by page instead, as copying it onto
        ramfs would (its mappings are then copies). A failure during the
        replay is recorded at *ev*; one while preparing the board is
        recorded when the trace first uses the file.
        """
        target = f.size if size is None else size
        fs = self.fs_for(f.path)
        before = len(self.m.dmesg()) if ev is None else 0
        try:
            self.mkdirs(p, posixpath.dirname(f.path))
            mode = 0o755 if f.role != "data" else 0o644
            fd = p.open(f.path, consts.O_CREAT | consts.O_RDWR, mode)
            try:
                if target:
                    try:
                        p.ftruncate(fd, target)
                    except SyscallError as err:
                        if fs != "ramfs" or err.errno not in (Errno.EFBIG, Errno.ENOMEM):
                            raise
                        self.pending_alloc = None
                        p.ftruncate(fd, 0)
                        self.write_pages(p, fd, target)
                        self.translations.append(
                            Translation(
                                f.line if ev is None else ev.line,
                                0 if ev is None else ev.pid,
                                "setup" if ev is None else ev.syscall,
                                "not_replayed",
                                f"{f.path} ({size_text(target)}) does not fit one free block of "
                                f"ramfs ({err.errno.name}): written page by page, so its mappings "
                                "are copies, not direct",
                                None,
                                self.source,
                            )
                        )
                if f.elf:
                    p.pwrite(fd, f.elf, 0)
            finally:
                p.close(fd)
        except SyscallError as err:
            with contextlib.suppress(SyscallError):
                p.unlink(f.path)  # a partly written file gives its pages back
            self.missing[f.path] = f"{err.errno.name}: {err.detail or err.strerror}"
            what = f"create {f.path} ({size_text(target)}, {f.role}) on {fs}"
            if ev is not None:
                self.fail(ev, err, what)
            else:
                alloc, explanation, snap = self.explain(err)
                dmesg = tuple(self.m.dmesg()[before:][-16:])
                self.setup_errors[f.path] = ReplayFailure(
                    f.line,
                    0,
                    "setup",
                    err.errno.name,
                    what + " (the board is prepared before the trace runs)",
                    err.detail or str(err.strerror),
                    alloc,
                    explanation,
                    dmesg,
                    self.source,
                    snapshot=snap,
                )
            return False
        if self.direct(f.path):
            self.ramfs_created.add(f.path)
            if ev is not None:
                self.board_files.append((f.path, fs, target))
        return True

    @staticmethod
    def write_pages(p: Process, fd: int, size: int) -> None:
        chunk = bytes(64 * 1024)
        pos = 0
        while pos < size:
            n = p.pwrite(fd, chunk[: min(len(chunk), size - pos)], pos)
            if n <= 0:
                raise SyscallError(Errno.ENOSPC, "no room left for the file")
            pos += n

    @staticmethod
    def mkdirs(p: Process, d: str) -> None:
        cur = ""
        for part in d.split("/"):
            if not part:
                continue
            cur += "/" + part
            try:
                p.stat(cur)
            except SyscallError as err:
                if err.errno != Errno.ENOENT:
                    raise
                p.mkdir(cur, 0o755)

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

    # ---- scheduling -------------------------------------------------------------------
    def run(self) -> None:
        syscall_kind = EventKind.SYSCALL
        exited = EventKind.EXITED
        killed = EventKind.KILLED
        for index, ev in enumerate(self.events):
            kind = ev.kind
            if kind is not syscall_kind and kind is not exited and kind is not killed:
                continue
            self.dispatch(index, ev)
        self.finish()

    def dispatch(self, index: int, ev: Event) -> None:
        pid = ev.pid
        proc = self.live.get(pid)
        if proc is None:
            if self.plan.creators.get(pid, 0) > 0:
                self.unborn.setdefault(pid, deque()).append((index, ev))
                return
            if ev.kind is not EventKind.SYSCALL or ev.syscall in _EXIT_CALLS:
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
        if line is not None and ev.syscall not in _EXEC_CALLS:
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
        if name in _EXIT_CALLS:
            self.seq += 1
            self.on_exit_call(proc, ev)
            self.sample(ev)
            return
        if not ev.ok:
            self.skipped_failed += 1
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
                self.note(ev, kind, detail)
            else:
                flags = d.flags & _MODEL_CLONE
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

    # ---- mmap ---------------------------------------------------------------------------
    def on_mmap(self, proc: _Proc, index: int, ev: Event) -> None:
        d = ev.decoded
        if not isinstance(d, MmapArgs) or ev.result is None:
            return
        tstart = ev.result
        tend = tstart + self.align(d.length)
        lib = self.plan.lib_at_res.get(index)
        if lib is not None:
            self.map_library(proc, ev, lib)
            return
        seg = self.plan.seg_at.get(index)
        if seg is not None:
            self.map_segment(proc, ev, seg[0], seg[1])
            return
        space = proc.space
        if d.anonymous:
            fixed = bool(d.flags & consts.MAP_FIXED)
            if d.flags & consts.MAP_STACK and not fixed:
                what = f"thread stack of {size_text(self.align(d.length))}"
                addr = self.mmap(proc, ev, 0, d.length, _RW, _ANON, -1, 0, what)
                if addr is not None:
                    space.entries.append(_Entry(tstart, tend, addr, "stack", ev.line))
                    self.note(
                        ev,
                        "thread_stack",
                        f"MAP_STACK{' PROT_NONE' if d.prot == consts.PROT_NONE else ''} "
                        f"mapping of {size_text(self.align(d.length))} -> one fixed-size "
                        "anonymous mapping, readable and writable (no guard page, never "
                        "grows)",
                    )
                else:
                    space.entries.append(_Entry(tstart, tend, None, "failed", ev.line))
                return
            if d.prot == consts.PROT_NONE and not fixed and self.policy.reservations == "commit":
                space.entries.append(_Entry(tstart, tend, None, "reservation", ev.line))
                self.note(
                    ev,
                    "reservation",
                    f"PROT_NONE reservation of {size_text(self.align(d.length))}: not "
                    "mapped; parts made accessible later are mapped then",
                )
                return
            prot = _RW if d.prot == consts.PROT_NONE else d.prot
            what = f"anonymous mapping of {size_text(self.align(d.length))}"
            addr = self.mmap(proc, ev, tstart if fixed else 0, d.length, prot, d.flags, -1, 0, what)
            space.entries.append(
                _Entry(tstart, tend, addr, "anon" if addr is not None else "failed", ev.line)
            )
            return
        self.map_file(proc, ev, d, tstart, tend)

    def mmap(
        self,
        proc: _Proc,
        ev: Event,
        addr: int,
        length: int,
        prot: int,
        flags: int,
        fd: int,
        offset: int,
        what: str,
    ) -> int | None:
        try:
            return proc.process.mmap(addr, length, prot, flags, fd, offset)
        except SyscallError as err:
            self.fail(ev, err, what)
            return None

    def open_board(self, proc: _Proc, ev: Event, bp: str, write: bool, what: str) -> int | None:
        flags = consts.O_RDWR if write else consts.O_RDONLY
        try:
            return proc.process.open(bp, flags)
        except SyscallError as err:
            self.fail(ev, err, f"open {bp} to {what}")
            return None

    def map_file(self, proc: _Proc, ev: Event, d: MmapArgs, tstart: int, tend: int) -> None:
        space = proc.space
        path = d.path
        if path is None:
            self.note(
                ev,
                "not_replayed",
                f"mmap of fd {d.fd}: the trace does not say which "
                "file it names (record with strace -y)",
            )
            space.entries.append(_Entry(tstart, tend, None, "failed", ev.line))
            return
        why = self.special(path)
        if why is not None:
            self.note(ev, "not_replayed", f"mmap of {path}: {why} is not modelled on the board")
            space.entries.append(_Entry(tstart, tend, None, "failed", ev.line, path))
            return
        bp = self.board_path(path)
        if path.startswith("/memfd:") and bp not in self.ramfs_created:
            self.note(ev, "memfd", f"{path} -> {bp} (a memfd is a tmpfs file)")
        if not self.ensure_file(proc, ev, bp, d.offset + d.length):
            space.entries.append(_Entry(tstart, tend, None, "failed", ev.line, path))
            return
        shared = d.map_type == consts.MAP_SHARED
        write = shared and bool(d.prot & consts.PROT_WRITE)
        what = (
            f"{'MAP_SHARED' if shared else 'MAP_PRIVATE'} mapping of "
            f"{size_text(self.align(d.length))} of {bp} at offset {d.offset:#x}"
        )
        fd = self.open_board(proc, ev, bp, write, "map it")
        if fd is None:
            space.entries.append(_Entry(tstart, tend, None, "failed", ev.line, path))
            return
        try:
            fixed = bool(d.flags & consts.MAP_FIXED)
            addr = self.mmap(
                proc, ev, tstart if fixed else 0, d.length, d.prot, d.flags, fd, d.offset, what
            )
        finally:
            proc.process.close(fd)
        space.entries.append(
            _Entry(tstart, tend, addr, "file" if addr is not None else "failed", ev.line, path)
        )

    def ensure_file(self, proc: _Proc, ev: Event, bp: str, need: int) -> bool:
        """The board file exists (ramfs files are created on first use); False if not."""
        if bp in self.missing:
            self.missing_file(ev, bp, "mmap")
            return False
        if bp.startswith("/dev/") and not bp.startswith("/dev/shm/"):
            try:
                proc.process.stat(bp)
            except SyscallError:
                self.note(ev, "not_replayed", f"the device {bp} does not exist on this board")
                return False
            return True
        if self.direct(bp) and bp not in self.ramfs_created:
            f = self.files.get(bp) or _BoardFile(bp, "data", need, ev.line)
            if not self.create_file(proc.process, f, max(need, f.size), ev):
                return False
        return True

    # ---- libraries ----------------------------------------------------------------------
    def lib_where(self, bp: str) -> str:
        fs = self.fs_for(bp)
        return {
            "ramfs": "directly from the ramfs page cache (no copy)",
            "romfs": "in place from flash (XIP, no RAM)",
            "ext2": "as a copy in RAM shared by every process mapping the same range",
        }[fs]

    def map_library(self, proc: _Proc, ev: Event, lib: _LibPlan) -> None:
        bp = self.board_path(lib.path)
        segs = ([lib.head] if lib.head is not None else []) + lib.segs
        roles = ", ".join(f"{s.role} {size_text(self.align(s.length))}" for s in segs)
        self.note(
            ev,
            "library",
            f"ld.so reserves {size_text(lib.tend - lib.tstart)} for {lib.path} and places "
            f"{len(lib.segs)} segment(s) with MAP_FIXED; an FDPIC loader maps each "
            f"segment itself ({roles}): read-only ones from {bp} "
            f"{self.lib_where(bp)}, writable ones as private copies, bss anonymous",
        )
        proc.space.entries.append(
            _Entry(lib.tstart, lib.tend, None, "libspan", ev.line, lib.path, lib)
        )
        if lib.head is not None:
            self.map_segment(proc, ev, lib, lib.head)

    def map_segment(self, proc: _Proc, ev: Event, lib: _LibPlan, seg: _Seg) -> None:
        bp = self.board_path(lib.path)
        size = size_text(self.align(seg.length))
        space = proc.space
        if bp in self.missing:
            self.missing_file(ev, bp, f"{seg.role} segment of {lib.path}")
            return
        if seg.role == "bss":
            addr = self.mmap(
                proc, ev, 0, seg.length, _RW, _ANON, -1, 0, f"bss of {lib.path} ({size})"
            )
            how = "anonymous mapping"
        else:
            writable = bool(seg.prot & consts.PROT_WRITE)
            what = f"{seg.role} segment of {lib.path} ({size} at file offset {seg.offset:#x})"
            fd = self.open_board(proc, ev, bp, False, f"map its {seg.role} segment")
            if fd is None:
                return
            try:
                addr = self.mmap(
                    proc, ev, 0, seg.length, seg.prot, consts.MAP_PRIVATE, fd, seg.offset, what
                )
            finally:
                proc.process.close(fd)
            how = (
                "MAP_PRIVATE private copy"
                if writable
                else f"MAP_PRIVATE read-only mapping {self.lib_where(bp)}"
            )
        if addr is None:
            return
        space.entries.append(_Entry(seg.tstart, seg.tend, addr, "lib", ev.line, lib.path, lib))
        shared_with = ""
        mm = proc.process.mm
        vma = mm.find_vma(addr) if mm is not None else None
        region = vma.vm_region if vma is not None else None
        if region is not None and region.vm_usage > 1:
            shared_with = f"; shares the region at {region.vm_start:#x} already mapped"
        self.note(
            ev,
            "library_segment",
            f"{seg.role} segment of {lib.path} ({size}, {_prot_text(seg.prot)}) -> {how} "
            f"at {addr:#x}{shared_with}",
        )

    # ---- munmap / mremap --------------------------------------------------------------
    def on_munmap(self, proc: _Proc, index: int, ev: Event) -> None:
        d = ev.decoded
        if not isinstance(d, MunmapArgs):
            return
        lo, hi = d.addr, d.addr + self.align(d.length)
        space = proc.space
        hits = space.overlapping(lo, hi)
        if not hits:
            h = space.heap
            if not any(p[0] < hi and lo < p[1] for p in h.pieces):
                self.note(
                    ev,
                    "not_replayed",
                    f"munmap {lo:#x}-{hi:#x}: no replayed mapping there (memory the "
                    "kernel mapped at exec, or a mapping made before the trace)",
                )
            return
        backed = [e for e in hits if e.mstart is not None]
        if len(backed) > 1:
            self.note(
                ev,
                "munmap_split",
                f"munmap {lo:#x}-{hi:#x} covers {len(backed)} replayed mappings (lines "
                f"{', '.join(str(e.line) for e in backed)}): one munmap each "
                "(do_munmap handles one VMA per call)",
            )
        failed = [e for e in hits if e.kind == "failed"]
        if failed and not backed:
            self.note(
                ev,
                "not_replayed",
                f"munmap {lo:#x}-{hi:#x}: the mapping made at line {failed[0].line} "
                "failed on the board",
            )
        for e in hits:
            a, b = max(lo, e.tstart), min(hi, e.tend)
            if e.kind == "lib" and not (a == e.tstart and b == e.tend):
                continue  # the loader trims its span; the pieces are the kernel's
            if e.mstart is not None:
                maddr = e.mstart + (a - e.tstart)
                try:
                    proc.process.munmap(maddr, b - a)
                except SyscallError as err:
                    self.fail(
                        ev,
                        err,
                        f"munmap {size_text(b - a)} at {maddr:#x} (the mapping from line {e.line})",
                    )
                    continue
            space.cut(e, a, b)

    def on_mremap(self, proc: _Proc, index: int, ev: Event) -> None:
        d = ev.decoded
        if not isinstance(d, MremapArgs) or ev.result is None:
            return
        space = proc.space
        entry = None
        for e in space.entries:
            if e.mstart is not None and e.tstart <= d.old_addr < e.tend and e.kind != "libspan":
                entry = e
                break
        new_lo, new_hi = ev.result, ev.result + self.align(d.new_size)
        if entry is None:
            self.note(ev, "not_replayed", f"mremap {d.old_addr:#x}: no replayed mapping there")
            return
        assert entry.mstart is not None
        maddr = entry.mstart + (d.old_addr - entry.tstart)
        old_hi = d.old_addr + self.align(d.old_size)
        new_addr = d.new_addr or 0
        try:
            result = proc.process.mremap(maddr, d.old_size, d.new_size, d.flags, new_addr)
        except SyscallError as err:
            self.fail(
                ev,
                err,
                f"mremap {size_text(self.align(d.old_size))} -> "
                f"{size_text(self.align(d.new_size))} of the mapping from line "
                f"{entry.line} at {maddr:#x}",
            )
            if (
                self.policy.mremap_fallback
                and err.errno == Errno.ENOMEM
                and entry.kind in ("anon", "commit")
            ):
                self.mremap_fallback(proc, ev, entry, d, maddr, new_lo, new_hi)
            else:  # the board mapping stays; follow the trace's address
                kind, line, path = entry.kind, entry.line, entry.path
                m = maddr
                space.cut(entry, d.old_addr, max(old_hi, d.old_addr + 1))
                space.entries.append(
                    _Entry(new_lo, new_lo + (old_hi - d.old_addr), m, kind, line, path)
                )
            return
        kind, line, path = entry.kind, entry.line, entry.path
        space.cut(entry, d.old_addr, old_hi)
        space.entries.append(_Entry(new_lo, new_hi, result, kind, line, path))

    def mremap_fallback(
        self,
        proc: _Proc,
        ev: Event,
        entry: _Entry,
        d: MremapArgs,
        maddr: int,
        new_lo: int,
        new_hi: int,
    ) -> None:
        space = proc.space
        size = size_text(self.align(d.new_size))
        addr = self.mmap(
            proc,
            ev,
            0,
            d.new_size,
            _RW,
            _ANON,
            -1,
            0,
            f"anonymous mapping of {size} (mremap fallback)",
        )
        if addr is None:
            return
        old_hi = d.old_addr + self.align(d.old_size)
        try:
            proc.process.munmap(maddr, self.align(d.old_size))
        except SyscallError as err:
            self.fail(ev, err, f"munmap of the old mapping at {maddr:#x} (mremap fallback)")
        else:
            space.cut(entry, d.old_addr, old_hi)
        space.entries.append(_Entry(new_lo, new_hi, addr, "anon", ev.line))
        self.note(
            ev,
            "mremap_fallback",
            f"mremap cannot grow the mapping from line {entry.line} without an MMU "
            f"(ENOMEM): replayed as mmap of {size} at {addr:#x} + copy + munmap of the "
            "old one, as a no-MMU realloc does",
        )

    # ---- brk ----------------------------------------------------------------------------
    def on_brk(self, proc: _Proc, index: int, ev: Event) -> None:
        d = ev.decoded
        if not isinstance(d, BrkArgs) or ev.result is None:
            return
        h = proc.space.heap
        res = ev.result
        if h.start is None:
            h.start = h.cur = res
            h.top = self.align(res)
            if d.addr == 0 or d.addr == res:
                return
        if d.addr == 0 or res != d.addr or res == h.cur:
            return  # a query, or the break did not move in the trace
        if res < h.start:
            return
        old = h.cur
        h.cur = res
        if res > old:
            self.heap_grow(proc, ev, old, res)
        else:
            self.heap_shrink(proc, ev, res)

    def heap_grow(self, proc: _Proc, ev: Event, old: int, new: int) -> None:
        h = proc.space.heap
        pol = self.policy
        grow = new - old
        if pol.heap == "none":
            self.note(ev, "heap", f"brk grows the heap by {size_text(grow)}: dropped (heap=none)")
            return
        if new <= h.top:
            self.note(
                ev,
                "heap",
                f"brk grows the heap by {size_text(grow)}: within the "
                f"{pol.heap} mapping already made",
            )
            return
        if pol.heap == "mmap-per-brk":
            size = self.align(new) - h.top
            how = "its own anonymous mapping (mmap-per-brk)"
        else:
            chunk = pol.heap_chunk
            size = -(-(new - h.top) // chunk) * chunk
            how = f"a {size_text(chunk)}-chunk anonymous mapping (malloc-chunks)"
        if size <= 0:
            return
        addr = self.mmap(
            proc, ev, 0, size, _RW, _ANON, -1, 0, f"heap growth of {size_text(size)} (brk)"
        )
        if addr is None:
            return
        lo = h.top
        h.top = lo + size
        h.pieces.append((lo, h.top, addr))
        self.note(
            ev,
            "heap",
            f"brk grows the heap by {size_text(grow)} -> {how} of {size_text(size)} at "
            f"{addr:#x} (no-MMU malloc uses mmap: brk has no room under ELF-FDPIC)",
        )

    def heap_shrink(self, proc: _Proc, ev: Event, new: int) -> None:
        h = proc.space.heap
        keep: list[tuple[int, int, int]] = []
        freed = 0
        limit = self.align(new)
        for lo, hi, addr in h.pieces:
            if lo >= limit or (self.policy.heap == "mmap-per-brk" and hi > limit):
                cut = lo if lo >= limit else limit
                try:
                    proc.process.munmap(addr + (cut - lo), hi - cut)
                except SyscallError as err:
                    self.fail(ev, err, f"munmap of {size_text(hi - cut)} of heap (brk shrinks)")
                    keep.append((lo, hi, addr))
                    continue
                freed += hi - cut
                if cut > lo:
                    keep.append((lo, cut, addr))
            else:
                keep.append((lo, hi, addr))
        h.pieces = keep
        h.top = max((p[1] for p in keep), default=self.align(h.start or 0))
        if freed:
            self.note(
                ev, "heap", f"brk shrinks the heap: {size_text(freed)} of heap mappings unmapped"
            )

    # ---- mprotect and other ENOSYS calls ----------------------------------------------
    def on_mprotect(self, proc: _Proc, index: int, ev: Event) -> None:
        d = ev.decoded
        if not isinstance(d, MprotectArgs):
            return
        lo, hi = d.addr, d.addr + self.align(d.length)
        space = proc.space
        if d.prot & _RW:
            reservations = [e for e in space.overlapping(lo, hi) if e.kind == "reservation"]
            if reservations:
                self.commit(proc, ev, lo, hi)
                return
        self.on_enosys(proc, ev)

    def commit(self, proc: _Proc, ev: Event, lo: int, hi: int) -> None:
        space = proc.space
        covered = sorted(
            (max(e.tstart, lo), min(e.tend, hi))
            for e in space.overlapping(lo, hi)
            if e.mstart is not None or e.kind == "failed"
        )
        gaps: list[tuple[int, int]] = []
        cur = lo
        for a, b in covered:
            if a > cur:
                gaps.append((cur, a))
            cur = max(cur, b)
        if cur < hi:
            gaps.append((cur, hi))
        for a, b in gaps:
            inside = any(
                e.kind == "reservation" and e.tstart <= a and b <= e.tend for e in space.entries
            )
            if not inside:
                continue
            addr = self.mmap(
                proc,
                ev,
                0,
                b - a,
                _RW,
                _ANON,
                -1,
                0,
                f"committed part of a reservation ({size_text(b - a)})",
            )
            space.entries.append(
                _Entry(a, b, addr, "commit" if addr is not None else "failed", ev.line)
            )
            if addr is not None:
                self.note(
                    ev,
                    "reservation_commit",
                    f"mprotect makes {size_text(b - a)} of a PROT_NONE reservation "
                    f"accessible -> its own anonymous mapping at {addr:#x}",
                )

    def on_enosys(self, proc: _Proc, ev: Event) -> None:
        if not ev.ok:
            return
        self.note(
            ev, "enosys", f"{ev.syscall} does not exist without an MMU (ENOSYS): skipped", "ENOSYS"
        )

    # ---- files --------------------------------------------------------------------------
    def on_ftruncate(self, proc: _Proc, index: int, ev: Event) -> None:
        d = ev.decoded
        if not isinstance(d, FtruncateArgs) or d.path is None:
            return
        bp = self.board_path(d.path)
        if not self.direct(bp):
            return  # disk files are sized when the board is prepared
        if bp not in self.ramfs_created:
            f = self.files.get(bp) or _BoardFile(bp, "data", d.length, ev.line)
            if not self.create_file(proc.process, f, d.length, ev):
                return
            if d.path.startswith("/memfd:"):
                self.note(ev, "memfd", f"{d.path} -> {bp} (a memfd is a tmpfs file)")
            return
        p = proc.process
        try:
            fd = p.open(bp, consts.O_RDWR)
            try:
                p.ftruncate(fd, d.length)
            finally:
                p.close(fd)
        except SyscallError as err:
            self.fail(ev, err, f"ftruncate {bp} to {size_text(d.length)}")

    def on_unlink(self, proc: _Proc, index: int, ev: Event) -> None:
        args = ev.args
        path = None
        for tok in args[:2]:
            if tok.startswith('"'):
                raw, _ = decode_c_string(tok)
                path = raw.decode("utf-8", "surrogateescape")
                break
        if path is None:
            return
        bp = self.board_path(path)
        if bp not in self.ramfs_created:
            return
        try:
            proc.process.unlink(bp)
        except SyscallError as err:
            self.fail(ev, err, f"unlink {bp}")
            return
        self.ramfs_created.discard(bp)

    # ---- SysV shared memory ---------------------------------------------------------
    def on_shmget(self, proc: _Proc, index: int, ev: Event) -> None:
        d = ev.decoded
        if not isinstance(d, ShmgetArgs) or ev.result is None:
            return
        try:
            mid = proc.process.shmget(d.key, d.size, d.flags)
        except SyscallError as err:
            self.fail(ev, err, f"shmget of {size_text(d.size)}")
            return
        self.shm_ids[ev.result] = mid

    def on_shmat(self, proc: _Proc, index: int, ev: Event) -> None:
        d = ev.decoded
        if not isinstance(d, ShmatArgs) or ev.result is None:
            return
        mid = self.shm_ids.get(d.shmid)
        if mid is None:
            self.note(ev, "not_replayed", f"shmat of segment {d.shmid}: not created in the trace")
            return
        try:
            addr = proc.process.shmat(mid, d.addr, d.flags)
        except SyscallError as err:
            self.fail(ev, err, f"shmat of segment {d.shmid}")
            proc.space.entries.append(_Entry(ev.result, ev.result + 1, None, "failed", ev.line))
            return
        proc.space.entries.append(_Entry(ev.result, ev.result + 1, addr, "shm", ev.line))

    def on_shmdt(self, proc: _Proc, index: int, ev: Event) -> None:
        d = ev.decoded
        if not isinstance(d, ShmdtArgs):
            return
        for e in proc.space.entries:
            if e.kind == "shm" and e.tstart == d.addr and e.mstart is not None:
                try:
                    proc.process.shmdt(e.mstart)
                except SyscallError as err:
                    self.fail(ev, err, f"shmdt {e.mstart:#x}")
                    return
                proc.space.entries.remove(e)
                return

    def on_shmctl(self, proc: _Proc, index: int, ev: Event) -> None:
        d = ev.decoded
        if not isinstance(d, ShmctlArgs) or d.cmd != "IPC_RMID":
            return
        mid = self.shm_ids.get(d.shmid)
        if mid is None:
            return
        try:
            proc.process.shmctl(mid, consts.IPC_RMID)
        except SyscallError as err:
            self.fail(ev, err, f"shmctl IPC_RMID of segment {d.shmid}")

    # ---- result -------------------------------------------------------------------------
    def result(self, baseline_free: int) -> ReplayResult:
        m = self.m
        end = capture(m, "end", event=self.seq, names=self.names)
        assert self.peak is not None and self.peak_snapshot is not None
        steady = self.steady_snapshot or end
        label = self.steady_label or "at the end of the trace"
        pid_map = {mp: p.pid for p in self.records for mp in p.model_pids}
        board = {
            "ram": m.ram_size,
            "ram_base": m.ram_base,
            "kernel_reserved": m.kernel_reserved,
            "flash": m.flash_size,
            "flash_base": m.flash_base,
            "page_size": m.page_size,
            "max_order": m.zone.max_order,
            "word_size": m.word_size,
            "nr_trim_pages": m.nommu.nr_trim_pages,
        }
        procs = tuple(
            ProcessRecord(
                p.pid,
                tuple(p.model_pids),
                p.parent,
                p.created,
                p.line,
                p.program,
                p.end,
                p.end_line,
            )
            for p in self.records
        )
        return ReplayResult(
            policy=self.policy,
            libs=self.libs,
            board=board,
            sources=self.trace.sources,
            line_count=self.trace.line_count,
            events=len(self.events),
            replayed=self.replayed,
            skipped_failed=self.skipped_failed,
            page_size=m.page_size,
            managed_pages=m.zone.managed,
            baseline_free=baseline_free,
            samples=tuple(self.samples),
            peak=self.peak,
            peak_snapshot=self.peak_snapshot,
            steady_snapshot=steady,
            steady_label=label,
            end_snapshot=end,
            translations=tuple(self.translations),
            failures=tuple(self.failures),
            processes=procs,
            problems=tuple(self.trace.problems),
            board_files=tuple(self.board_files),
            pid_map=pid_map,
            baseline_snapshot=self.baseline_snapshot,
            dmesg_lines=len(m.dmesg()),
            calls=self.seq,
        )


def _prot_text(prot: int) -> str:
    if not prot:
        return "PROT_NONE"
    names = [
        n
        for n, bit in (
            ("PROT_READ", consts.PROT_READ),
            ("PROT_WRITE", consts.PROT_WRITE),
            ("PROT_EXEC", consts.PROT_EXEC),
        )
        if prot & bit
    ]
    return "|".join(names)


_Handler = Callable[[_Replayer, _Proc, int, Event], None]
_HANDLERS: dict[str, _Handler] = {
    "mmap": _Replayer.on_mmap,
    "mmap2": _Replayer.on_mmap,
    "old_mmap": _Replayer.on_mmap,
    "munmap": _Replayer.on_munmap,
    "mremap": _Replayer.on_mremap,
    "brk": _Replayer.on_brk,
    "clone": _Replayer.on_clone,
    "clone2": _Replayer.on_clone,
    "clone3": _Replayer.on_clone,
    "fork": _Replayer.on_clone,
    "vfork": _Replayer.on_clone,
    "execve": _Replayer.on_exec,
    "execveat": _Replayer.on_exec,
    "mprotect": _Replayer.on_mprotect,
    "pkey_mprotect": _Replayer.on_mprotect,
    "ftruncate": _Replayer.on_ftruncate,
    "ftruncate64": _Replayer.on_ftruncate,
    "unlink": _Replayer.on_unlink,
    "unlinkat": _Replayer.on_unlink,
    "shmget": _Replayer.on_shmget,
    "shmat": _Replayer.on_shmat,
    "shmdt": _Replayer.on_shmdt,
    "shmctl": _Replayer.on_shmctl,
}


def replay(trace: Trace, machine: Machine, policy: ReplayPolicy | None = None) -> ReplayResult:
    """Replay *trace* onto *machine* under *policy*; see the module docstring.

    *machine* should be freshly built: the replay mounts the library and
    program filesystems on it and leaves it as the trace leaves it (processes
    still running at the end of the trace keep their memory, so ``/proc`` can
    be read afterwards). Raises :class:`~nommu.errors.ConfigError` when the
    board cannot hold the policy's filesystems (``libs="xip"`` without flash,
    libraries larger than the flash, a directory already mounted).
    """
    pol = policy if policy is not None else ReplayPolicy()
    r = _Replayer(trace, machine, pol)
    nommu = machine.nommu
    previous = nommu.on_alloc_failure

    def hook(failure: AllocFailure) -> None:
        r.on_alloc_failure(failure)
        if previous is not None:
            previous(failure)

    nommu.on_alloc_failure = hook
    try:
        with gc_paused():
            r.setup()
            r.dmesg_seen = len(machine.dmesg())
            baseline = machine.zone.free_count
            r.baseline_snapshot = capture(machine, "board prepared", names=r.names)
            r.sample(None)
            r.run()
            if r.peak is None:
                r.sample(None)
            return r.result(baseline)
    finally:
        nommu.on_alloc_failure = previous
