"""What ``nommu check`` reports: kinds, severities, findings, notes and the report.

A :class:`Finding` is one call of the trace that a no-MMU kernel refuses or
treats differently; a :class:`Note` is a call set apart: made by the host's C
library only (``host_libc``, see :mod:`nommu.strace.libc`) or failed already
on the host (``host_failed``: not a finding about no-MMU). The
:class:`CheckReport` holds them with the verdict; :mod:`nommu.report.check`
renders it (terminal table, JSON document of :data:`JSON_SCHEMA`).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from nommu import consts
from nommu.strace.parse import ParseProblem

if TYPE_CHECKING:
    from nommu.report.check import CheckDocument

__all__ = [
    "JSON_SCHEMA",
    "KINDS",
    "SEVERITIES",
    "VERDICTS",
    "BoardLimits",
    "CheckReport",
    "Finding",
    "Kind",
    "Note",
    "Severity",
]

#: Version of the JSON document of ``nommu check --json`` (docs/json.md).
JSON_SCHEMA = "nommu-check/2"


class Kind(StrEnum):
    """Finding kinds (stable identifiers)."""

    FORK = "fork"
    MAP_FIXED = "map_fixed"
    LOADER_MAP_FIXED = "loader_map_fixed"
    MAP_TYPE = "map_type"
    SHARED_WRITE_FILE = "shared_write_file"
    SHARED_FILE = "shared_file"
    MMAP_REFUSED = "mmap_refused"
    SHARED_ANON = "shared_anon"
    MREMAP_MOVE = "mremap_move"
    MREMAP_SHARED = "mremap_shared"
    MREMAP_GROW = "mremap_grow"
    ENOSYS = "enosys"
    LOADER_MPROTECT = "loader_mprotect"
    BRK_HEAP = "brk_heap"
    ALLOC_TOO_LARGE = "alloc_too_large"
    HUGE_STACK = "huge_stack"
    MUNMAP_MULTI = "munmap_multi"
    MUNMAP_PARTIAL_FILE = "munmap_partial_file"
    SHMAT = "shmat"
    CLONE = "clone"


#: Finding kinds and what each means.
KINDS: dict[str, str] = {
    Kind.FORK: "fork() or a clone without CLONE_VM",
    Kind.MAP_FIXED: "MAP_FIXED mapping",
    Kind.LOADER_MAP_FIXED: "MAP_FIXED placed by the dynamic loader (translated)",
    Kind.MAP_TYPE: "MAP_SHARED_VALIDATE mapping type",
    Kind.SHARED_WRITE_FILE: "writable MAP_SHARED of a file without direct mapping",
    Kind.SHARED_FILE: "MAP_SHARED of a file without direct mapping",
    Kind.MMAP_REFUSED: "file mapping refused for another reason",
    Kind.SHARED_ANON: "MAP_SHARED|MAP_ANONYMOUS becomes private",
    Kind.MREMAP_MOVE: "mremap to another address",
    Kind.MREMAP_SHARED: "mremap of a shareable mapping",
    Kind.MREMAP_GROW: "mremap growing a mapping",
    Kind.ENOSYS: "system call absent without an MMU",
    Kind.LOADER_MPROTECT: "RELRO mprotect by the dynamic loader (translated)",
    Kind.BRK_HEAP: "heap grown with brk",
    Kind.ALLOC_TOO_LARGE: "allocation larger than the largest free block",
    Kind.HUGE_STACK: "large thread stack",
    Kind.MUNMAP_MULTI: "munmap over more than one mapping",
    Kind.MUNMAP_PARTIAL_FILE: "munmap of part of a file mapping",
    Kind.SHMAT: "shmat of a SysV segment",
    Kind.CLONE: "clone flags the board refuses",
}


class Severity(StrEnum):
    """How much a finding matters, least to most serious."""

    INFO = "info"
    CHANGE = "change"
    FATAL = "fatal"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Severity.INFO: 0, Severity.CHANGE: 1, Severity.FATAL: 2}

#: Severities, least to most serious.
SEVERITIES = tuple(s.value for s in Severity)
#: Verdicts by the worst severity present (none or info, change, fatal).
VERDICTS = ("runs as is", "needs changes", "cannot run")


@dataclass(frozen=True, slots=True)
class BoardLimits:
    """The target board, as far as the findings need it.

    ``largest_free_block`` is the largest contiguous free block in bytes; 0
    (the default) means ``page_size << max_order``, the largest buddy block
    (4 MiB with 4 KiB pages and MAX_PAGE_ORDER 10). ``direct_mappable`` lists
    path prefixes backed by ramfs/tmpfs or devices, whose files map directly
    (MAP_SHARED works); every other path is taken to be on a disk filesystem
    (copies only). ``check_trace`` builds a board of these dimensions to ask
    its questions when it is not given a machine.
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
    severity: str = Severity.CHANGE
    source: str = "<trace>"

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["kind"] = str(self.kind)
        out["severity"] = str(self.severity)
        return out


@dataclass(frozen=True, slots=True)
class Note:
    """A call set apart: ``what`` is a :data:`nommu.strace.libc.ARTEFACTS` key
    (host_libc) or the host's errno (host_failed)."""

    line: int
    pid: int
    syscall: str
    what: str
    detail: str
    source: str = "<trace>"

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class CheckReport:
    """Findings in trace order, the verdict, the calls set apart, the parse problems.

    ``libc`` is the target's C library the trace was judged for, ``board``
    the board's figures (page size, largest free block, kernel, arch).
    """

    findings: tuple[Finding, ...]
    verdict: str
    problems: tuple[ParseProblem, ...]
    limits: BoardLimits = field(default_factory=BoardLimits)
    host_libc: tuple[Note, ...] = ()
    host_failed: tuple[Note, ...] = ()
    libc: str = "uclibc-ng"
    board: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0 when the program runs as is, 1 otherwise."""
        return 0 if self.verdict == VERDICTS[0] else 1

    def by_kind(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]

    def summary(self) -> list[tuple[str, int, str | None]]:
        """Rows of (kind, count, errno), in order of first appearance."""
        counts = Counter((str(f.kind), f.errno) for f in self.findings)
        return [(kind, n, errno) for (kind, errno), n in counts.items()]

    def problem_set(self) -> set[tuple[str, int, str]]:
        """(source, line, errno) of every finding a no-MMU kernel answers with an errno."""
        return {
            (f.source, f.line, f.errno)
            for f in self.findings
            if f.errno is not None and f.severity != Severity.INFO
        }

    def to_json(self) -> CheckDocument:
        from nommu.report.check import check_document

        return check_document(self)

    def render_text(self, *, width: int = 100, min_severity: str = "info") -> str:
        """The terminal report (:func:`nommu.report.check.render_check`)."""
        from nommu.report.check import render_check

        return render_check(self, width=width, min_severity=min_severity)
