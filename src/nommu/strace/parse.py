"""Read strace output into typed events.

The parser reads the text strace itself writes, in the variants its options
produce, and needs nothing outside the standard library:

* process columns: ``-f`` (``1234  mmap(...)`` or ``[pid  1234] mmap(...)``),
  ``-ff`` (one file per process, ``trace.1234``; the pid comes from the file
  name) or none (one process; the caller names its pid);
* timestamps: ``-t``, ``-tt``, ``-ttt``, ``-r`` and the ``-T`` duration
  (``<0.000012>``); ``-n`` syscall numbers and ``-i`` instruction pointers in
  brackets are skipped;
* ``-y``/``-yy`` file descriptor annotations (``3</usr/lib/libc.so.6>``,
  ``3<socket:[1234]>``, ``1</dev/null<char 1:3>>``), ``-x``/``-xx`` escaped
  strings and strings truncated by ``-s`` (``"abc"...``);
* calls split by other processes (``<unfinished ...>`` and
  ``<... mmap resumed>``), merged by pid into one event that keeps the line of
  the start (``line``) and of the end (``resume_line``);
* signals (``--- SIGCHLD {...} ---``), exits (``+++ exited with 0 +++``,
  ``+++ killed by SIGKILL (core dumped) +++``) and ``strace: Process 1234
  attached``/``detached`` messages.

Each line becomes at most one :class:`Event`. A line that cannot be read is
reported as a :class:`ParseProblem` and skipped; parsing never stops on bad
input. Stack-trace lines of ``strace -k`` (starting with `` > ``) are skipped
silently.

The memory-management and process calls that matter on a no-MMU kernel are
decoded into typed argument records (:class:`MmapArgs`, :class:`CloneArgs`,
...), with symbolic flags (``PROT_READ|PROT_EXEC``, ``MAP_PRIVATE|MAP_STACK``,
``CLONE_VM|CLONE_VFORK``, ``O_RDONLY|O_CLOEXEC``) turned into the integers of
:mod:`nommu.consts`. Other calls are kept as generic events (name, raw
arguments, result) and are not decoded: that is the fast path.

The parser also follows which file each descriptor names, per process, through
``open``/``openat``/``creat``, ``dup``/``dup2``/``dup3``/``fcntl(F_DUPFD)``,
``close``, ``pipe``/``pipe2``, ``execve`` (descriptors opened with
``O_CLOEXEC`` are dropped) and ``clone`` (``CLONE_FILES`` shares the table,
otherwise the child gets a copy). ``-y`` annotations, when present, always win
over what was inferred. The result is in :attr:`Event.fd_paths` and in the
``path`` field of the decoded records, so a later check can ask whether a
``MAP_SHARED`` mapping names a file on ramfs or on a disk filesystem.

Events are listed in the order their calls completed (a split call is placed
at its ``resumed`` line), which is the order in which their effects happened.
For ``-ff`` traces the per-process files are merged by timestamp when every
file has timestamps (record with ``-ff -tt``), otherwise they are read one after
the other in pid order.

API:

``parse_lines(lines, *, source="<trace>", default_pid=1) -> Trace``
    Parse lines already in memory.
``parse_file(path, *, default_pid=1) -> Trace``
    Parse a file, a list of files, or the ``-o`` prefix of an ``-ff`` run;
    raises :class:`TraceError` when a file cannot be read.
:class:`Trace`
    ``events`` (list of :class:`Event`), ``problems`` (list of
    :class:`ParseProblem`), ``sources``, ``line_count``.
:class:`Event`
    ``line``, ``pid``, ``kind`` (:class:`EventKind`), ``syscall``,
    ``raw_args``/``args``, ``result``, ``errno``, ``decoded`` (one of the
    ``*Args`` records or None), ``fd_paths``, ``resume_line``, ``time``,
    ``duration``, ``comment``, ``signal``, ``source``.
``split_args``, ``decode_c_string``, ``decode_flags``
    The lexical helpers, usable on their own.
"""

from __future__ import annotations

import contextlib
import enum
import gc
import heapq
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from nommu import consts
from nommu.errors import NommuError

__all__ = [
    "AT_FDCWD",
    "BrkArgs",
    "CloneArgs",
    "CloseArgs",
    "Decoded",
    "DupArgs",
    "Event",
    "EventKind",
    "ExecveArgs",
    "ExitArgs",
    "FtruncateArgs",
    "MadviseArgs",
    "MlockArgs",
    "MlockallArgs",
    "MmapArgs",
    "MprotectArgs",
    "MremapArgs",
    "MsyncArgs",
    "MunmapArgs",
    "OpenArgs",
    "ParseProblem",
    "PipeArgs",
    "ReadWriteArgs",
    "ShmatArgs",
    "ShmctlArgs",
    "ShmdtArgs",
    "ShmgetArgs",
    "Trace",
    "TraceError",
    "Wait4Args",
    "decode_c_string",
    "decode_flags",
    "parse_file",
    "parse_lines",
    "split_args",
]

#: ``openat(AT_FDCWD, ...)``: the "current directory" pseudo descriptor.
AT_FDCWD = -100


class TraceError(NommuError):
    """A trace cannot be read at all (missing, unreadable, a directory, no files)."""


class EventKind(enum.StrEnum):
    """What a trace line reports."""

    SYSCALL = "syscall"
    SIGNAL = "signal"
    EXITED = "exited"
    KILLED = "killed"
    ATTACHED = "attached"
    DETACHED = "detached"


# --------------------------------------------------------------------------------------
# Decoded argument records
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MmapArgs:
    """``mmap``/``mmap2``/``old_mmap``; ``offset`` is in bytes (mmap2's pages x 4096)."""

    addr: int
    length: int
    prot: int
    flags: int
    fd: int
    offset: int
    path: str | None

    @property
    def anonymous(self) -> bool:
        return bool(self.flags & consts.MAP_ANONYMOUS)

    @property
    def map_type(self) -> int:
        """``flags & MAP_TYPE``: MAP_SHARED (1), MAP_PRIVATE (2), MAP_SHARED_VALIDATE (3)."""
        return self.flags & consts.MAP_TYPE


@dataclass(frozen=True, slots=True)
class MunmapArgs:
    """``munmap(addr, length)``."""

    addr: int
    length: int


@dataclass(frozen=True, slots=True)
class MremapArgs:
    """``mremap(old_addr, old_size, new_size, flags[, new_addr])``."""

    old_addr: int
    old_size: int
    new_size: int
    flags: int
    new_addr: int | None


@dataclass(frozen=True, slots=True)
class BrkArgs:
    """``brk(addr)``; ``brk(NULL)`` (the query) has ``addr == 0``."""

    addr: int


@dataclass(frozen=True, slots=True)
class MprotectArgs:
    """``mprotect``/``pkey_mprotect``."""

    addr: int
    length: int
    prot: int


@dataclass(frozen=True, slots=True)
class MadviseArgs:
    """``madvise(addr, length, advice)``; the advice is kept as strace spells it."""

    addr: int
    length: int
    advice: str


@dataclass(frozen=True, slots=True)
class MsyncArgs:
    """``msync(addr, length, flags)``."""

    addr: int
    length: int
    flags: int


@dataclass(frozen=True, slots=True)
class MlockArgs:
    """``mlock``/``mlock2``/``munlock``; ``flags`` is mlock2's (MLOCK_ONFAULT)."""

    addr: int
    length: int
    flags: int


@dataclass(frozen=True, slots=True)
class MlockallArgs:
    """``mlockall(flags)`` and ``munlockall()`` (flags 0)."""

    flags: int


@dataclass(frozen=True, slots=True)
class CloneArgs:
    """``clone``, ``clone3``, ``fork`` and ``vfork`` in one shape.

    ``flags`` holds the ``CLONE_*`` bits without the exit signal, which is in
    ``exit_signal`` (``fork()`` is flags 0, SIGCHLD; ``vfork()`` is
    ``CLONE_VM|CLONE_VFORK``, SIGCHLD). ``stack`` is the child's stack pointer
    (0 = runs on the parent's stack), ``stack_size`` is known only for clone3.
    """

    flags: int
    exit_signal: int
    stack: int
    stack_size: int
    parent_tid: int
    child_tid: int
    tls: int


@dataclass(frozen=True, slots=True)
class ExecveArgs:
    """``execve``/``execveat``: the program path and its argv as decoded strings."""

    path: str
    argv: tuple[str, ...]
    argv_truncated: bool


@dataclass(frozen=True, slots=True)
class ExitArgs:
    """``exit``/``exit_group``."""

    status: int


@dataclass(frozen=True, slots=True)
class Wait4Args:
    """``wait4(pid, status, options, rusage)``; status and options as printed."""

    pid: int
    status: str
    options: str


@dataclass(frozen=True, slots=True)
class OpenArgs:
    """``open``/``openat``/``openat2``/``creat``; ``dirfd`` is AT_FDCWD for ``open``."""

    dirfd: int
    path: str
    flags: int
    mode: int


@dataclass(frozen=True, slots=True)
class CloseArgs:
    """``close(fd)``; ``path`` is what the descriptor named before the call."""

    fd: int
    path: str | None


@dataclass(frozen=True, slots=True)
class DupArgs:
    """``dup``/``dup2``/``dup3``; ``newfd`` is None for ``dup``."""

    oldfd: int
    newfd: int | None
    flags: int
    path: str | None


@dataclass(frozen=True, slots=True)
class FtruncateArgs:
    """``ftruncate(fd, length)``."""

    fd: int
    length: int
    path: str | None


@dataclass(frozen=True, slots=True)
class ReadWriteArgs:
    """``read``/``write``: the descriptor and the byte count asked for."""

    fd: int
    count: int
    path: str | None


@dataclass(frozen=True, slots=True)
class PipeArgs:
    """``pipe``/``pipe2``: the two descriptors returned and pipe2's flags."""

    read_fd: int
    write_fd: int
    flags: int


@dataclass(frozen=True, slots=True)
class ShmgetArgs:
    """``shmget(key, size, flags)``; flags include the permission bits."""

    key: int
    size: int
    flags: int


@dataclass(frozen=True, slots=True)
class ShmatArgs:
    """``shmat(shmid, addr, flags)``."""

    shmid: int
    addr: int
    flags: int


@dataclass(frozen=True, slots=True)
class ShmdtArgs:
    """``shmdt(addr)``."""

    addr: int


@dataclass(frozen=True, slots=True)
class ShmctlArgs:
    """``shmctl(shmid, cmd, buf)``; the command as printed (``IPC_RMID``)."""

    shmid: int
    cmd: str


Decoded = (
    MmapArgs
    | MunmapArgs
    | MremapArgs
    | BrkArgs
    | MprotectArgs
    | MadviseArgs
    | MsyncArgs
    | MlockArgs
    | MlockallArgs
    | CloneArgs
    | ExecveArgs
    | ExitArgs
    | Wait4Args
    | OpenArgs
    | CloseArgs
    | DupArgs
    | FtruncateArgs
    | ReadWriteArgs
    | PipeArgs
    | ShmgetArgs
    | ShmatArgs
    | ShmdtArgs
    | ShmctlArgs
)


# --------------------------------------------------------------------------------------
# Events, problems, traces
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    """One line (or one merged unfinished/resumed pair) of a trace.

    ``line`` is 1-based in ``source``; for a split call it is the line of the
    start and ``resume_line`` the line of the end. ``kind`` says what the line
    reports; for :attr:`EventKind.SYSCALL` ``syscall`` is the call name and
    ``raw_args`` the text between the parentheses. ``result`` is the returned
    value (None for ``?``), ``errno`` the error name (``"ENOENT"``) or None,
    ``comment`` the parenthesised text after the result (``"Timeout"``,
    ``"No such file or directory"``). For signals, ``signal`` is the name and
    ``comment`` the siginfo text; for ``+++ exited with N +++`` ``result`` is N;
    for ``+++ killed by SIG +++`` ``signal`` is the signal and ``comment`` is
    ``"core dumped"`` when strace said so. ``fd_paths`` pairs descriptors used
    by the call (arguments and a returned descriptor) with the file they name.
    """

    line: int
    pid: int
    kind: EventKind
    syscall: str
    raw_args: str
    result: int | None
    errno: str | None
    decoded: Decoded | None = None
    fd_paths: tuple[tuple[int, str], ...] = ()
    resume_line: int | None = None
    time: float | None = None
    duration: float | None = None
    comment: str | None = None
    signal: str | None = None
    source: str = "<trace>"

    @property
    def args(self) -> tuple[str, ...]:
        """The raw arguments split at top-level commas (computed on access)."""
        return split_args(self.raw_args)

    @property
    def ok(self) -> bool:
        """A system call that returned without an error."""
        return self.kind is EventKind.SYSCALL and self.errno is None and self.result is not None

    def path_of(self, fd: int) -> str | None:
        """The file descriptor ``fd`` named at this call, if known."""
        for num, path in self.fd_paths:
            if num == fd:
                return path
        return None


@dataclass(frozen=True, slots=True)
class ParseProblem:
    """A line that was skipped: where, its text, and why."""

    line: int
    text: str
    reason: str
    source: str = "<trace>"


@dataclass(slots=True)
class Trace:
    """A parsed trace: events in completion order, skipped lines, inputs read."""

    events: list[Event]
    problems: list[ParseProblem]
    sources: tuple[str, ...]
    line_count: int

    def pids(self) -> list[int]:
        """Process ids in order of first appearance."""
        return list(dict.fromkeys(ev.pid for ev in self.events))

    def by_pid(self, pid: int) -> list[Event]:
        """The events of one process."""
        return [ev for ev in self.events if ev.pid == pid]


# --------------------------------------------------------------------------------------
# Lexical helpers: argument splitting, strings, numbers, flags
# --------------------------------------------------------------------------------------

_SPLIT_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|=>|->|<<|[\[\]{}()<>,]')
_NEEDS_SCAN = re.compile(r'["\[\]{}()<>]')
_OPEN = frozenset("[{(<")
_CLOSE = frozenset("]})>")


def split_args(text: str) -> tuple[str, ...]:
    """Split an argument list at top-level commas.

    Commas inside strings (``"a,b"``), structures (``{a=1, b=2}``), arrays
    (``[3, 4]``), calls (``WIFEXITED(s)``) and ``-y`` annotations (``3<a,b>``,
    ``1</dev/null<char 1:3>>``) do not split. Each part is stripped. ``=>``,
    ``->`` and ``<<`` (strace's "changed to" marker, socket peers, shifts) are
    not brackets.
    """
    text = text.strip()
    if not text:
        return ()
    if _NEEDS_SCAN.search(text) is None:
        return tuple(map(str.strip, text.split(",")))
    parts: list[str] = []
    stack: list[str] = []
    start = 0
    for m in _SPLIT_TOKEN.finditer(text):
        tok = m.group()
        if len(tok) != 1:
            continue  # a string, "=>", "->" or "<<"
        if stack and stack[-1] == "<":  # inside a -y path only <> nest
            if tok == "<":
                stack.append(tok)
            elif tok == ">":
                stack.pop()
        elif tok == ",":
            if not stack:
                parts.append(text[start : m.start()].strip())
                start = m.end()
        elif tok in _OPEN:
            stack.append(tok)
        elif stack:  # a closing bracket
            stack.pop()
    parts.append(text[start:].strip())
    return tuple(parts)


_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)", re.DOTALL)
_SIMPLE_ESCAPES = {
    "n": b"\n",
    "t": b"\t",
    "r": b"\r",
    "v": b"\v",
    "f": b"\f",
    "a": b"\a",
    "b": b"\b",
    "e": b"\x1b",
    "\\": b"\\",
    '"': b'"',
    "'": b"'",
    "?": b"?",
}


def decode_c_string(token: str) -> tuple[bytes, bool]:
    """Decode one strace string literal: ``(bytes, truncated)``.

    Handles C escapes (``\\n``, ``\\"``, octal ``\\177``, hex ``\\x7f`` as
    printed by ``-x``/``-xx``) and the ``...`` strace appends when ``-s`` cut
    the string. Raises ValueError when ``token`` is not a string literal.
    """
    token = token.strip()
    truncated = token.endswith("...")
    if truncated:
        token = token[:-3]
    if len(token) < 2 or token[0] != '"' or token[-1] != '"':
        raise ValueError(f"not a string literal: {token[:40]!r}")
    body = token[1:-1]
    if "\\" not in body:
        return body.encode("utf-8", "surrogateescape"), truncated
    out = bytearray()
    pos = 0
    for m in _ESCAPE.finditer(body):
        out += body[pos : m.start()].encode("utf-8", "surrogateescape")
        esc = m.group(1)
        if esc[0] == "x" and len(esc) > 1:
            out.append(int(esc[1:], 16))
        elif esc[0] in "01234567":
            out.append(int(esc, 8) & 0xFF)
        else:
            out += _SIMPLE_ESCAPES.get(esc, esc.encode("utf-8", "surrogateescape"))
        pos = m.end()
    out += body[pos:].encode("utf-8", "surrogateescape")
    return bytes(out), truncated


def _c_str(token: str) -> str:
    raw, _ = decode_c_string(token)
    return raw.decode("utf-8", "surrogateescape")


def _int(token: str) -> int:
    """An integer argument as strace prints it: ``NULL``, hex, octal (``0600``), decimal."""
    tok = token.strip()
    if "<" in tok:  # -y annotation on a descriptor
        tok = tok[: tok.index("<")]
    if "/*" in tok:  # -X verbose: 0x3 /* PROT_READ|PROT_WRITE */
        tok = tok[: tok.index("/*")].strip()
    if tok == "NULL":
        return 0
    if tok == "AT_FDCWD":
        return AT_FDCWD
    if len(tok) > 1 and tok[0] == "0" and tok[1].isdigit():
        return int(tok, 8)
    return int(tok, 0)


def _table(prefixes: tuple[str, ...], extra: dict[str, int] | None = None) -> dict[str, int]:
    table = {
        name: value
        for name, value in vars(consts).items()
        if name.startswith(prefixes) and isinstance(value, int) and not isinstance(value, bool)
    }
    if extra:
        table.update(extra)
    return table


#: Signal numbers (include/uapi/asm-generic/signal.h).
SIGNALS: dict[str, int] = {
    "SIGHUP": 1, "SIGINT": 2, "SIGQUIT": 3, "SIGILL": 4, "SIGTRAP": 5, "SIGABRT": 6,
    "SIGIOT": 6, "SIGBUS": 7, "SIGFPE": 8, "SIGKILL": 9, "SIGUSR1": 10, "SIGSEGV": 11,
    "SIGUSR2": 12, "SIGPIPE": 13, "SIGALRM": 14, "SIGTERM": 15, "SIGSTKFLT": 16,
    "SIGCHLD": 17, "SIGCONT": 18, "SIGSTOP": 19, "SIGTSTP": 20, "SIGTTIN": 21,
    "SIGTTOU": 22, "SIGURG": 23, "SIGXCPU": 24, "SIGXFSZ": 25, "SIGVTALRM": 26,
    "SIGPROF": 27, "SIGWINCH": 28, "SIGIO": 29, "SIGPOLL": 29, "SIGPWR": 30, "SIGSYS": 31,
    "SIGRTMIN": 32,
}  # fmt: skip

_PROT = _table(("PROT_",))
# Names strace prints that nommu.consts does not define (uapi mman-common.h, x86 mman.h).
_MAP = _table(
    ("MAP_",),
    {
        "MAP_FILE": 0,
        "MAP_32BIT": 0x40,
        "MAP_DROPPABLE": 0x08,
        "MAP_HUGE_SHIFT": 26,
        "MAP_HUGE_64KB": 16 << 26,
        "MAP_HUGE_512KB": 19 << 26,
        "MAP_HUGE_1MB": 20 << 26,
        "MAP_HUGE_2MB": 21 << 26,
        "MAP_HUGE_8MB": 23 << 26,
        "MAP_HUGE_16MB": 24 << 26,
        "MAP_HUGE_32MB": 25 << 26,
        "MAP_HUGE_256MB": 28 << 26,
        "MAP_HUGE_512MB": 29 << 26,
        "MAP_HUGE_1GB": 30 << 26,
        "MAP_HUGE_2GB": 31 << 26,
        "MAP_HUGE_16GB": 34 << 26,
    },
)
_MREMAP = _table(("MREMAP_",))
# clone flags (include/uapi/linux/sched.h) beyond nommu.consts, and the exit signals.
_CLONE = _table(
    ("CLONE_", "CSIGNAL"),
    {
        "CLONE_NEWTIME": 0x80,
        "CLONE_NEWCGROUP": 0x02000000,
        "CLONE_NEWUTS": 0x04000000,
        "CLONE_NEWIPC": 0x08000000,
        "CLONE_NEWUSER": 0x10000000,
        "CLONE_NEWPID": 0x20000000,
        "CLONE_NEWNET": 0x40000000,
        "CLONE_IO": 0x80000000,
        "CLONE_CLEAR_SIGHAND": 0x100000000,
        "CLONE_INTO_CGROUP": 0x200000000,
        **SIGNALS,
    },
)
# open flags: the ones nommu.consts lacks, in the same (ARM/m68k) numbering it uses.
_O = _table(
    ("O_",),
    {
        "O_DIRECT": 0o200000,
        "O_LARGEFILE": 0o400000,
        "O_NOATIME": 0o1000000,
        "__O_TMPFILE": 0o20000000,
        "O_TMPFILE": 0o20000000 | consts.O_DIRECTORY,
        "O_NDELAY": consts.O_NONBLOCK,
        "O_ASYNC": 0o20000,
        "FASYNC": 0o20000,
        "O_FSYNC": consts.O_SYNC,
        "O_RSYNC": consts.O_SYNC,
    },
)
_MS = _table(("MS_",))
_MCL = _table(("MCL_",), {"MCL_ONFAULT": 4, "MLOCK_ONFAULT": 1})
_IPC = _table(("IPC_", "SHM_"), {"SHM_HUGETLB": 0o4000, "SHM_NORESERVE": 0o10000})


def decode_flags(expr: str, table: dict[str, int]) -> int:
    """Turn a strace flag expression into an int.

    ``PROT_READ|PROT_EXEC``, ``MAP_PRIVATE|MAP_ANONYMOUS|0x40000000``,
    ``IPC_CREAT|0600``, ``21<<MAP_HUGE_SHIFT``, ``0`` and ``PROT_NONE`` all
    work. Unknown names count as 0 (strace may know newer flags than the
    table); ``-X verbose`` output (``0x22 /* MAP_PRIVATE|MAP_ANONYMOUS */``)
    uses the number.
    """
    text = expr.strip()
    if "/*" in text:
        text = text[: text.index("/*")].strip()
    value = 0
    for raw in text.split("|"):
        tok = raw.strip()
        known = table.get(tok)
        if known is not None:
            value |= known
        elif tok and (tok[0].isdigit() or tok[0] == "-"):
            if "<<" in tok:
                left, _, right = tok.partition("<<")
                shift = table.get(right.strip())
                value |= _int(left) << (shift if shift is not None else _int(right))
            else:
                value |= _int(tok)
    return value


def _struct_fields(text: str) -> dict[str, str]:
    """``{flags=A, stack=B} => {parent_tid=[1]}`` -> ``{"flags": "A", "stack": "B"}``."""
    body = text.strip()
    if " => " in body:
        body = body[: body.index(" => ")]
    if body.startswith("{") and body.endswith("}"):
        body = body[1:-1]
    fields: dict[str, str] = {}
    for part in split_args(body):
        key, sep, value = part.partition("=")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def _fd_token(token: str) -> tuple[int, str | None]:
    """``3``, ``3</path>``, ``AT_FDCWD</tmp>`` -> (fd, annotated path or None)."""
    tok = token.strip()
    lt = tok.find("<")
    if lt < 0 or not tok.endswith(">"):
        return _int(tok), None
    return _int(tok[:lt]), _clean_path(tok[lt + 1 : -1])


def _clean_path(path: str) -> str:
    """Drop ``-yy`` device details (``/dev/null<char 1:3>``) and `` (deleted)``."""
    if path.endswith(">") and "<" in path:
        path = path[: path.rindex("<")]
    if path.endswith(" (deleted)"):
        path = path[:-10]
    return path


# --------------------------------------------------------------------------------------
# Line grammar
# --------------------------------------------------------------------------------------

_PREFIX = re.compile(
    r"(?:\[pid\s+(\d+)\]\s*|(\d+)\s+)?"  # -f pid column
    r"(?:(\d\d):(\d\d):(\d\d)(\.\d+)?\s+|\s*(\d+\.\d+)\s+)?"  # -t/-tt | -ttt/-r
    r"(?:\[\s*[0-9a-fA-Fx?]+\]\s+)*"  # -n syscall number, -i instruction pointer
)
_DURATION = re.compile(r"\s*<(\d+\.\d+)>$")
_RESULT = re.compile(
    r"(0x[0-9a-fA-F]+|-?\d+|\?)"  # the value
    r"(?:<(.*)>)?"  # -y path of a returned descriptor
    r"(?:\s+(E[A-Z0-9_]+|E\?\?\?)(?:\s+\((.*)\))?|\s+\((.*)\))?"  # errno (text) | (comment)
    r"\s*$"
)
_RESUMED = re.compile(r"<\.\.\. ([\w?]+) resumed>(.*)$", re.DOTALL)
_SIGNAL = re.compile(r"--- (?:(SIG\w+) (.*)|stopped by (SIG\w+)) ---$")
_EXITED = re.compile(r"\+\+\+ exited with (\d+) \+\+\+$")
_KILLED = re.compile(r"\+\+\+ killed by (SIG\w+)( \(core dumped\))? \+\+\+$")
_STRACE_MSG = re.compile(r"(?:strace: )?Process (\d+) (attached|detached)")
_ANNOTATED_ARG = re.compile(r"^(-?\d+|AT_FDCWD)<(.*)>$", re.DOTALL)
_FF_SUFFIX = re.compile(r"\.(\d+)$")
_UNFINISHED = "<unfinished ...>"
_SPECIAL_FIRST = frozenset("<-+sP ")
_FAST_FIRST = frozenset("<-+")
_SYSCALL = EventKind.SYSCALL
_prefix_match = _PREFIX.match
_DETACHED = "<detached ...>"

_T = TypeVar("_T")


def _fast_constructor(cls: type[_T]) -> Callable[..., _T]:
    """A positional constructor for a frozen, slotted dataclass, about 5x faster.

    A frozen dataclass's ``__init__`` sets each field through
    ``object.__setattr__``: for an :class:`Event` that is about a third of the
    time needed to parse a trace line. This builds the object as an instance
    of a plain class with the same slots, then gives it ``cls`` as its class:
    the result is an ordinary, immutable ``cls`` instance (equal to one made by
    ``cls(...)``). Fields must all be given, in declaration order.
    """
    slots: tuple[str, ...] = cls.__slots__  # type: ignore[attr-defined]
    twin = type(f"_Building{cls.__name__}", (), {"__slots__": slots})
    params = ", ".join(slots)
    sets = "".join(f"    o.{name} = {name}\n" for name in slots)
    namespace: dict[str, Any] = {"_new": object.__new__, "_twin": twin, "_cls": cls}
    exec(
        f"def make({params}):\n    o = _new(_twin)\n{sets}    o.__class__ = _cls\n    return o\n",
        namespace,
    )
    make: Callable[..., _T] = namespace["make"]
    return make


_new_event = _fast_constructor(Event)
_new_mmap = _fast_constructor(MmapArgs)
_new_rw = _fast_constructor(ReadWriteArgs)
_new_open = _fast_constructor(OpenArgs)
_new_close = _fast_constructor(CloseArgs)
_new_munmap = _fast_constructor(MunmapArgs)

_FdTable = dict[int, tuple[str, bool]]  # fd -> (path, close-on-exec)

_FD_RESULT_PATHS = {
    "socket": "socket:[?]",
    "accept": "socket:[?]",
    "accept4": "socket:[?]",
    "eventfd": "anon_inode:[eventfd]",
    "eventfd2": "anon_inode:[eventfd]",
    "epoll_create": "anon_inode:[eventpoll]",
    "epoll_create1": "anon_inode:[eventpoll]",
    "timerfd_create": "anon_inode:[timerfd]",
    "signalfd4": "anon_inode:[signalfd]",
    "inotify_init1": "anon_inode:inotify",
    "pidfd_open": "anon_inode:[pidfd]",
}


class _Pending:
    """The first half of a call interrupted by ``<unfinished ...>``."""

    __slots__ = ("args", "line", "name", "source", "time")

    def __init__(self, name: str, args: str, line: int, time: float | None, source: str):
        self.name = name
        self.args = args
        self.line = line
        self.time = time
        self.source = source


_Decoder = Callable[["_Parser", int, str, int | None, str | None], Decoded | None]


class _Parser:
    """Single-pass state machine over lines: pending halves and fd tables per pid."""

    def __init__(self, default_pid: int) -> None:
        self.default_pid = default_pid
        self.events: list[Event] = []
        self.problems: list[ParseProblem] = []
        self.pending: dict[int, _Pending] = {}
        self.fds: dict[int, _FdTable] = {}
        self.line_count = 0
        # per-event scratch filled by decoders: fd -> path used by this call
        self._used: list[tuple[int, str]] = []

    # ---- fd tables ------------------------------------------------------------------

    def table(self, pid: int) -> _FdTable:
        tab = self.fds.get(pid)
        if tab is None:
            tab = self.fds[pid] = {}
        return tab

    def _fd_arg(self, pid: int, token: str) -> tuple[int, str | None]:
        fd, annotated = _fd_token(token)
        tab = self.table(pid)
        if annotated is not None:
            old = tab.get(fd)
            if fd >= 0:
                tab[fd] = (annotated, old[1] if old else False)
            self._used.append((fd, annotated))
            return fd, annotated
        entry = tab.get(fd)
        if entry is None:
            return fd, None
        self._used.append((fd, entry[0]))
        return fd, entry[0]

    def _set_fd(self, pid: int, fd: int, path: str, cloexec: bool) -> None:
        self.table(pid)[fd] = (path, cloexec)
        self._used.append((fd, path))

    def link_child(self, parent: int, child: int, share: bool) -> None:
        """A new process: share the parent's descriptor table or copy it."""
        ptab = self.table(parent)
        early = self.fds.get(child)  # the child printed lines before clone returned
        if share:
            if early and early is not ptab:
                for fd, entry in early.items():
                    ptab.setdefault(fd, entry)
            self.fds[child] = ptab
        else:
            tab = dict(ptab)
            if early:
                tab.update(early)
            self.fds[child] = tab

    def exec_done(self, pid: int) -> None:
        """Successful execve: close-on-exec descriptors go, the table is unshared."""
        tab = self.table(pid)
        self.fds[pid] = {fd: entry for fd, entry in tab.items() if not entry[1]}

    # ---- problems -------------------------------------------------------------------

    def problem(self, line: int, text: str, reason: str, source: str) -> None:
        self.problems.append(ParseProblem(line, text, reason, source))

    # ---- lines ----------------------------------------------------------------------

    def feed(self, text: str, line_no: int, source: str, file_pid: int | None) -> None:
        """Take one line; the hot path is an ordinary complete system call."""
        line = text.rstrip("\r\n")
        when: float | None = None
        # Fast path for the two commonest shapes: "1234  call(...)" and "call(...)".
        sp = line.find(" ")
        head = line[:sp] if sp > 0 else ""
        rest = line[sp:].lstrip(" ") if head.isdigit() else ""
        if rest and (rest[0].isalpha() or rest[0] in _FAST_FIRST):
            pid = int(head)
            body = rest
        elif (
            rest[8:9] == "."
            and rest[2:3] == ":"
            and rest[5:6] == ":"
            and rest[:2].isdigit()
            and rest[3:5].isdigit()
            and rest[6:8].isdigit()
            and (sp2 := rest.find(" ", 9)) > 9
            and rest[9:sp2].isdigit()
            and (body := rest[sp2:].lstrip(" "))
            and (body[0].isalpha() or body[0] in _FAST_FIRST)
        ):  # "1234  12:34:56.123456 call(...)": strace -f -tt
            pid = int(head)
            when = int(rest[:2]) * 3600 + int(rest[3:5]) * 60 + int(rest[6:8])
            when += float(rest[8:sp2])
        elif line[:1].isalpha() and line[:7] != "strace:":
            pid = file_pid if file_pid is not None else self.default_pid
            body = line
        else:
            m = _prefix_match(line)
            pid_a, pid_b, hours, minutes, seconds, frac, stamp = m.groups()  # type: ignore[union-attr]
            body = line[m.end() :]  # type: ignore[union-attr]
            if not body:
                if line and not line.isspace():
                    self.problem(line_no, line, "no call after the prefix", source)
                return
            if pid_a is not None or pid_b is not None:
                pid = int(pid_a or pid_b)
            elif file_pid is not None:
                pid = file_pid
            else:
                pid = self.default_pid
            if hours is not None:
                when = int(hours) * 3600 + int(minutes) * 60 + int(seconds)
                if frac:
                    when += float(frac)
            elif stamp is not None:
                when = float(stamp)
        duration: float | None = None
        if body[-1] == ">" and body[-2:-1].isdigit():
            dm = _DURATION.search(body)
            if dm is not None:
                duration = float(dm.group(1))
                body = body[: dm.start()]
        first = body[0]
        if first in _SPECIAL_FIRST:
            if first == "<":
                self._resumed(pid, body, line, line_no, source, duration)
                return
            if first == "-" and body.startswith("--- "):
                self._signal(pid, body, line, line_no, source, when)
                return
            if first == "+" and body.startswith("+++ "):
                self._exit(pid, body, line, line_no, source, when)
                return
            if (first == "s" and body.startswith("strace: ")) or (
                first == "P" and body.startswith("Process ")
            ):
                self._strace_message(body, line, line_no, source, when)
                return
            if first == " " and body.lstrip().startswith("> "):
                return  # strace -k stack frame
        paren = body.find("(")
        name = body[:paren]
        if paren <= 0 or not (name.isidentifier() or name == "???"):
            self.problem(line_no, line, "not a system call line", source)
            return
        tail = body[paren + 1 :]
        if tail[-1] == ">" and (tail.endswith(_UNFINISHED) or tail.endswith(_DETACHED)):
            detached = tail.endswith(_DETACHED)
            args = tail[: -len(_DETACHED if detached else _UNFINISHED)]
            if args.endswith(" "):
                args = args[:-1]
            old = self.pending.pop(pid, None)
            if old is not None:
                self._flush(pid, old)
            if detached:
                self._complete(pid, name, args, None, line_no, None, when, None, source)
            else:
                self.pending[pid] = _Pending(name, args, line_no, when, source)
            return
        split = _split_result(tail)
        if split is None:
            self.problem(line_no, line, "no '= result' after the call", source)
            return
        self._complete(pid, name, split[0], split[1], line_no, None, when, duration, source)

    def _resumed(
        self, pid: int, body: str, line: str, line_no: int, source: str, duration: float | None
    ) -> None:
        rm_ = _RESUMED.match(body)
        if rm_ is None:
            self.problem(line_no, line, "unrecognised '<...' line", source)
            return
        name, rest = rm_.group(1), rm_.group(2)
        split = _split_result(rest)
        if split is None:
            self.problem(line_no, line, "no '= result' after the resumed call", source)
            return
        rest_args, rm = split
        pend = self.pending.pop(pid, None)
        if pend is not None and pend.name != name:
            self._flush(pid, pend)
            pend = None
        if pend is None:
            # attached in the middle of the call: only the second half exists
            self._complete(pid, name, rest_args, rm, line_no, None, None, duration, source)
            return
        self._complete(
            pid,
            name,
            pend.args + rest_args,
            rm,
            pend.line,
            line_no,
            pend.time,
            duration,
            pend.source,
        )

    def _flush(self, pid: int, pend: _Pending) -> None:
        """An unfinished call that never resumed (process killed, trace cut)."""
        self._complete(
            pid, pend.name, pend.args, None, pend.line, None, pend.time, None, pend.source
        )

    def _complete(
        self,
        pid: int,
        name: str,
        args: str,
        rm: re.Match[str] | None,
        line_no: int,
        resume_line: int | None,
        when: float | None,
        duration: float | None,
        source: str,
    ) -> None:
        result: int | None = None
        errno: str | None = None
        comment: str | None = None
        ret_path: str | None = None
        if rm is not None:
            value, ret_annot, errno, errtext, comment = rm.groups()
            if errno is not None:
                comment = errtext
            if value != "?":
                result = int(value) if value[1:2] != "x" else int(value, 16)
            if ret_annot is not None:
                ret_path = _clean_path(ret_annot)
        decoder = _DECODERS.get(name)
        fd_paths: tuple[tuple[int, str], ...] = ()
        decoded: Decoded | None = None
        if decoder is None and ret_path is None and "<" not in args:
            # fast path: a call that is not decoded and has no -y annotation
            if errno is None and result is not None and result >= 0 and name in _FD_RESULT_PATHS:
                kind_path = _FD_RESULT_PATHS[name]
                self.table(pid)[result] = (kind_path, False)
                fd_paths = ((result, kind_path),)
        else:
            used = self._used = []
            if decoder is not None:
                try:
                    decoded = decoder(self, pid, args, result, errno)
                except (ValueError, IndexError, KeyError) as exc:
                    if rm is not None:  # a call cut short has incomplete arguments: no problem
                        self.problem(
                            line_no,
                            f"{name}({args})",
                            f"cannot decode {name} arguments: {exc}",
                            source,
                        )
            else:
                self._annotations(pid, args)
            if ret_path is not None and result is not None and result >= 0:
                old = self.table(pid).get(result)
                self._set_fd(pid, result, ret_path, old[1] if old else False)
            elif (
                decoder is None
                and errno is None
                and result is not None
                and result >= 0
                and name in _FD_RESULT_PATHS
            ):
                self._set_fd(pid, result, _FD_RESULT_PATHS[name], False)
            if used:
                fd_paths = tuple(dict(used).items()) if len(used) > 1 else (used[0],)
        self.events.append(
            _new_event(
                line_no,
                pid,
                _SYSCALL,
                name,
                args,
                result,
                errno,
                decoded,
                fd_paths,
                resume_line,
                when,
                duration,
                comment,
                None,
                source,
            )
        )

    def _annotations(self, pid: int, args: str) -> None:
        """Record ``N<path>`` descriptors of a call that is not decoded."""
        for part in split_args(args):
            am = _ANNOTATED_ARG.match(part)
            if am is not None:
                self._fd_arg(pid, part)

    def _signal(
        self, pid: int, body: str, line: str, line_no: int, source: str, when: float | None
    ) -> None:
        sm = _SIGNAL.match(body)
        if sm is None:
            self.problem(line_no, line, "unrecognised signal line", source)
            return
        sig = sm.group(1) or sm.group(3)
        info = sm.group(2) if sm.group(1) else "stopped"
        self.events.append(
            Event(
                line_no,
                pid,
                EventKind.SIGNAL,
                "",
                "",
                None,
                None,
                time=when,
                comment=info,
                signal=sig,
                source=source,
            )
        )

    def _exit(
        self, pid: int, body: str, line: str, line_no: int, source: str, when: float | None
    ) -> None:
        pend = self.pending.pop(pid, None)
        if pend is not None:
            self._flush(pid, pend)
        self.fds.pop(pid, None)  # the process is gone; its pid may be reused
        em = _EXITED.match(body)
        if em is not None:
            self.events.append(
                Event(
                    line_no,
                    pid,
                    EventKind.EXITED,
                    "",
                    "",
                    int(em.group(1)),
                    None,
                    time=when,
                    source=source,
                )
            )
            return
        km = _KILLED.match(body)
        if km is not None:
            self.events.append(
                Event(
                    line_no,
                    pid,
                    EventKind.KILLED,
                    "",
                    "",
                    None,
                    None,
                    time=when,
                    comment="core dumped" if km.group(2) else None,
                    signal=km.group(1),
                    source=source,
                )
            )
            return
        self.problem(line_no, line, "unrecognised '+++' line", source)

    def _strace_message(
        self, body: str, line: str, line_no: int, source: str, when: float | None
    ) -> None:
        mm = _STRACE_MSG.match(body)
        if mm is None:
            self.problem(line_no, line, "strace message, not a traced event", source)
            return
        kind = EventKind.ATTACHED if mm.group(2) == "attached" else EventKind.DETACHED
        self.events.append(
            Event(line_no, int(mm.group(1)), kind, "", "", None, None, time=when, source=source)
        )

    def finish(self) -> None:
        for pid, pend in list(self.pending.items()):
            self._flush(pid, pend)
        self.pending.clear()


def _split_result(tail: str) -> tuple[str, re.Match[str]] | None:
    """``args) = value ...`` -> (args, match of the result), or None."""
    eq = tail.rfind(" = ")
    while eq >= 0:
        call = tail[:eq].rstrip()
        if call.endswith(")"):
            rm = _RESULT.match(tail, eq + 3)
            if rm is not None:
                return call[:-1], rm
        eq = tail.rfind(" = ", 0, eq)
    return None


# --------------------------------------------------------------------------------------
# Decoders (one per system call family)
# --------------------------------------------------------------------------------------


def _dec_mmap(p: _Parser, pid: int, text: str, res: int | None, err: str | None) -> MmapArgs:
    a = split_args(text)
    if len(a) == 1 and a[0].startswith("{"):  # old_mmap as a structure
        f = _struct_fields(a[0])
        a = (f["addr"], f["len"], f["prot"], f["flags"], f["fd"], f["offset"])
    flags = decode_flags(a[3], _MAP)
    fd, path = p._fd_arg(pid, a[4]) if not flags & consts.MAP_ANONYMOUS else (_int(a[4]), None)
    return _new_mmap(_int(a[0]), _int(a[1]), decode_flags(a[2], _PROT), flags, fd, _int(a[5]), path)


def _dec_mmap2(p: _Parser, pid: int, text: str, res: int | None, err: str | None) -> MmapArgs:
    m = _dec_mmap(p, pid, text, res, err)
    return MmapArgs(m.addr, m.length, m.prot, m.flags, m.fd, m.offset * 4096, m.path)


def _dec_munmap(p: _Parser, pid: int, text: str, res: int | None, err: str | None) -> MunmapArgs:
    a = split_args(text)
    return _new_munmap(_int(a[0]), _int(a[1]))


def _dec_mremap(p: _Parser, pid: int, text: str, res: int | None, err: str | None) -> MremapArgs:
    a = split_args(text)
    new_addr = _int(a[4]) if len(a) > 4 else None
    return MremapArgs(_int(a[0]), _int(a[1]), _int(a[2]), decode_flags(a[3], _MREMAP), new_addr)


def _dec_brk(p: _Parser, pid: int, text: str, res: int | None, err: str | None) -> BrkArgs:
    a = split_args(text)
    return BrkArgs(_int(a[0]))


def _dec_mprotect(
    p: _Parser, pid: int, text: str, res: int | None, err: str | None
) -> MprotectArgs:
    a = split_args(text)
    return MprotectArgs(_int(a[0]), _int(a[1]), decode_flags(a[2], _PROT))


def _dec_madvise(p: _Parser, pid: int, text: str, res: int | None, err: str | None) -> MadviseArgs:
    a = split_args(text)
    return MadviseArgs(_int(a[0]), _int(a[1]), a[2])


def _dec_msync(p: _Parser, pid: int, text: str, res: int | None, err: str | None) -> MsyncArgs:
    a = split_args(text)
    return MsyncArgs(_int(a[0]), _int(a[1]), decode_flags(a[2], _MS))


def _dec_mlock(p: _Parser, pid: int, text: str, res: int | None, err: str | None) -> MlockArgs:
    a = split_args(text)
    return MlockArgs(_int(a[0]), _int(a[1]), decode_flags(a[2], _MCL) if len(a) > 2 else 0)


def _dec_mlockall(
    p: _Parser, pid: int, text: str, res: int | None, err: str | None
) -> MlockallArgs:
    a = split_args(text)
    return MlockallArgs(decode_flags(a[0], _MCL) if a else 0)


def _clone_flags(expr: str) -> tuple[int, int]:
    value = decode_flags(expr, _CLONE)
    return value & ~consts.CSIGNAL, value & consts.CSIGNAL


def _dec_clone(p: _Parser, pid: int, text: str, res: int | None, err: str | None) -> CloneArgs:
    a = split_args(text)
    named = {}
    positional = []
    for part in a:
        key, sep, value = part.partition("=")
        if sep and key.isidentifier():
            named[key] = value
        else:
            positional.append(part)
    if "flags" in named:
        flags, sig = _clone_flags(named["flags"])
    elif positional:  # raw order (x86): flags, stack, parent_tid, child_tid, tls
        flags, sig = _clone_flags(positional[0])
        keys = ("child_stack", "parent_tid", "child_tidptr", "tls")
        for key, value in zip(keys, positional[1:], strict=False):
            named[key] = value
    else:
        raise ValueError("clone without flags")
    stack = named.get("child_stack", named.get("stack", "0"))
    args = CloneArgs(
        flags,
        sig,
        _int(stack),
        0,
        _int(_first_number(named.get("parent_tid", named.get("parent_tidptr", "0")))),
        _int(named.get("child_tidptr", named.get("child_tid", "0"))),
        _int(named.get("tls", "0")),
    )
    _clone_fds(p, pid, args, res, err)
    return args


def _first_number(text: str) -> str:
    """``[1234]`` (a pointer strace dereferenced) -> ``1234``; plain numbers unchanged."""
    return text.strip("[]") if text.startswith("[") else text


def _dec_clone3(p: _Parser, pid: int, text: str, res: int | None, err: str | None) -> CloneArgs:
    a = split_args(text)
    f = _struct_fields(a[0])
    flags, _ = _clone_flags(f.get("flags", "0"))
    sig_text = f.get("exit_signal", "0")
    sig = SIGNALS.get(sig_text, 0) if sig_text.startswith("SIG") else _int(sig_text)
    args = CloneArgs(
        flags,
        sig,
        _int(f.get("stack", "0")),
        _int(f.get("stack_size", "0")),
        _int(f.get("parent_tid", "0")),
        _int(f.get("child_tid", "0")),
        _int(f.get("tls", "0")),
    )
    _clone_fds(p, pid, args, res, err)
    return args


def _dec_fork(p: _Parser, pid: int, text: str, res: int | None, err: str | None) -> CloneArgs:
    args = CloneArgs(0, consts.SIGCHLD, 0, 0, 0, 0, 0)
    _clone_fds(p, pid, args, res, err)
    return args


def _dec_vfork(p: _Parser, pid: int, text: str, res: int | None, err: str | None) -> CloneArgs:
    args = CloneArgs(consts.CLONE_VM | consts.CLONE_VFORK, consts.SIGCHLD, 0, 0, 0, 0, 0)
    _clone_fds(p, pid, args, res, err)
    return args


def _clone_fds(p: _Parser, pid: int, args: CloneArgs, res: int | None, err: str | None) -> None:
    if res is not None and res > 0 and err is None:
        p.link_child(pid, res, bool(args.flags & consts.CLONE_FILES))


def _dec_execve(p: _Parser, pid: int, text: str, res: int | None, err: str | None) -> ExecveArgs:
    a = split_args(text)
    path = _c_str(a[0])
    argv, truncated = _string_list(a[1]) if len(a) > 1 else ((), False)
    if res == 0 and err is None:
        p.exec_done(pid)
    return ExecveArgs(path, argv, truncated)


def _dec_execveat(p: _Parser, pid: int, text: str, res: int | None, err: str | None) -> ExecveArgs:
    dirfd, _, rest = text.partition(",")
    p._fd_arg(pid, dirfd)
    return _dec_execve(p, pid, rest, res, err)


def _string_list(text: str) -> tuple[tuple[str, ...], bool]:
    text = text.strip()
    if not (text.startswith("[") and text.endswith("]")):
        return (), True  # printed as an address
    items: list[str] = []
    truncated = False
    for part in split_args(text[1:-1]):
        if part == "...":
            truncated = True
        elif part:
            raw, cut = decode_c_string(part)
            truncated = truncated or cut
            items.append(raw.decode("utf-8", "surrogateescape"))
    return tuple(items), truncated


def _dec_exit(p: _Parser, pid: int, text: str, res: int | None, err: str | None) -> ExitArgs:
    a = split_args(text)
    return ExitArgs(_int(a[0]))


def _dec_wait4(p: _Parser, pid: int, text: str, res: int | None, err: str | None) -> Wait4Args:
    a = split_args(text)
    return Wait4Args(_int(a[0]), a[1] if len(a) > 1 else "", a[2] if len(a) > 2 else "0")


def _opened(
    p: _Parser,
    pid: int,
    dirfd: int,
    dir_path: str | None,
    path: str,
    flags: int,
    mode: int,
    res: int | None,
    err: str | None,
) -> OpenArgs:
    if res is not None and res >= 0 and err is None:
        full = path
        if not path.startswith("/") and dir_path is not None and dir_path.startswith("/"):
            full = os.path.join(dir_path, path)
        p._set_fd(pid, res, full, bool(flags & consts.O_CLOEXEC))
    return _new_open(dirfd, path, flags, mode)


def _dec_open(p: _Parser, pid: int, text: str, res: int | None, err: str | None) -> OpenArgs:
    a = split_args(text)
    mode = _int(a[2]) if len(a) > 2 else 0
    return _opened(p, pid, AT_FDCWD, None, _c_str(a[0]), decode_flags(a[1], _O), mode, res, err)


def _dec_creat(p: _Parser, pid: int, text: str, res: int | None, err: str | None) -> OpenArgs:
    a = split_args(text)
    flags = consts.O_CREAT | consts.O_WRONLY | consts.O_TRUNC
    return _opened(p, pid, AT_FDCWD, None, _c_str(a[0]), flags, _int(a[1]), res, err)


def _dec_openat(p: _Parser, pid: int, text: str, res: int | None, err: str | None) -> OpenArgs:
    a = split_args(text)
    dirfd, dir_path = p._fd_arg(pid, a[0])
    mode = _int(a[3]) if len(a) > 3 else 0
    return _opened(p, pid, dirfd, dir_path, _c_str(a[1]), decode_flags(a[2], _O), mode, res, err)


def _dec_openat2(p: _Parser, pid: int, text: str, res: int | None, err: str | None) -> OpenArgs:
    a = split_args(text)
    dirfd, dir_path = p._fd_arg(pid, a[0])
    f = _struct_fields(a[2])
    flags = decode_flags(f.get("flags", "0"), _O)
    mode = _int(f.get("mode", "0"))
    return _opened(p, pid, dirfd, dir_path, _c_str(a[1]), flags, mode, res, err)


def _dec_close(p: _Parser, pid: int, text: str, res: int | None, err: str | None) -> CloseArgs:
    a = split_args(text)
    fd, path = p._fd_arg(pid, a[0])
    if err is None:
        p.table(pid).pop(fd, None)
    return _new_close(fd, path)


def _dec_dup(p: _Parser, pid: int, text: str, res: int | None, err: str | None) -> DupArgs:
    a = split_args(text)
    oldfd, path = p._fd_arg(pid, a[0])
    newfd: int | None = None
    flags = 0
    if len(a) > 1:
        newfd, _ = _fd_token(a[1])
    if len(a) > 2:
        flags = decode_flags(a[2], _O)
    if res is not None and res >= 0 and err is None and path is not None:
        p._set_fd(pid, res, path, bool(flags & consts.O_CLOEXEC))
    return DupArgs(oldfd, newfd, flags, path)


def _dec_fcntl(p: _Parser, pid: int, text: str, res: int | None, err: str | None) -> None:
    a = split_args(text)
    fd, path = p._fd_arg(pid, a[0])
    cmd = a[1] if len(a) > 1 else ""
    if err is not None or res is None:
        return None
    if cmd in ("F_DUPFD", "F_DUPFD_CLOEXEC") and path is not None:
        p._set_fd(pid, res, path, cmd == "F_DUPFD_CLOEXEC")
    elif cmd == "F_SETFD" and path is not None and len(a) > 2:
        p.table(pid)[fd] = (path, "FD_CLOEXEC" in a[2] or a[2].strip() == "1")
    return None


def _dec_ftruncate(
    p: _Parser, pid: int, text: str, res: int | None, err: str | None
) -> FtruncateArgs:
    a = split_args(text)
    fd, path = p._fd_arg(pid, a[0])
    return FtruncateArgs(fd, _int(a[1]), path)


def _dec_readwrite(
    p: _Parser, pid: int, text: str, res: int | None, err: str | None
) -> ReadWriteArgs:
    # Only the descriptor (first) and the count (last) matter: no full split.
    first, _, _ = text.partition(",")
    _, _, last = text.rpartition(",")
    if "<" in first and not first.rstrip().endswith(">"):  # -y path with a comma
        parts = split_args(text)
        first, last = parts[0], parts[-1]
    fd, path = p._fd_arg(pid, first)
    return _new_rw(fd, _int(last), path)


def _dec_pipe(p: _Parser, pid: int, text: str, res: int | None, err: str | None) -> PipeArgs:
    a = split_args(text)
    text = a[0].strip()
    if not (text.startswith("[") and text.endswith("]")):
        raise ValueError(f"pipe descriptors not printed: {text[:30]!r}")
    ends = split_args(text[1:-1])
    rfd, rpath = _fd_token(ends[0])
    wfd, wpath = _fd_token(ends[1])
    flags = decode_flags(a[1], _O) if len(a) > 1 else 0
    if err is None:
        cloexec = bool(flags & consts.O_CLOEXEC)
        p._set_fd(pid, rfd, rpath or "pipe:[?]", cloexec)
        p._set_fd(pid, wfd, wpath or "pipe:[?]", cloexec)
    return PipeArgs(rfd, wfd, flags)


def _dec_memfd(p: _Parser, pid: int, text: str, res: int | None, err: str | None) -> None:
    a = split_args(text)
    if res is not None and res >= 0 and err is None:
        name = _c_str(a[0])
        p._set_fd(pid, res, f"/memfd:{name}", "MFD_CLOEXEC" in (a[1] if len(a) > 1 else ""))
    return None


def _dec_shmget(p: _Parser, pid: int, text: str, res: int | None, err: str | None) -> ShmgetArgs:
    a = split_args(text)
    return ShmgetArgs(decode_flags(a[0], _IPC), _int(a[1]), decode_flags(a[2], _IPC))


def _dec_shmat(p: _Parser, pid: int, text: str, res: int | None, err: str | None) -> ShmatArgs:
    a = split_args(text)
    return ShmatArgs(_int(a[0]), _int(a[1]), decode_flags(a[2], _IPC))


def _dec_shmdt(p: _Parser, pid: int, text: str, res: int | None, err: str | None) -> ShmdtArgs:
    a = split_args(text)
    return ShmdtArgs(_int(a[0]))


def _dec_shmctl(p: _Parser, pid: int, text: str, res: int | None, err: str | None) -> ShmctlArgs:
    a = split_args(text)
    cmd = a[1].strip()
    if cmd.startswith("IPC_64|"):
        cmd = cmd[7:]
    return ShmctlArgs(_int(a[0]), cmd)


_DECODERS: dict[str, _Decoder] = {
    "mmap": _dec_mmap,
    "old_mmap": _dec_mmap,
    "mmap2": _dec_mmap2,
    "munmap": _dec_munmap,
    "mremap": _dec_mremap,
    "brk": _dec_brk,
    "mprotect": _dec_mprotect,
    "pkey_mprotect": _dec_mprotect,
    "madvise": _dec_madvise,
    "msync": _dec_msync,
    "mlock": _dec_mlock,
    "mlock2": _dec_mlock,
    "munlock": _dec_mlock,
    "mlockall": _dec_mlockall,
    "munlockall": _dec_mlockall,
    "clone": _dec_clone,
    "clone2": _dec_clone,
    "clone3": _dec_clone3,
    "fork": _dec_fork,
    "vfork": _dec_vfork,
    "execve": _dec_execve,
    "execveat": _dec_execveat,
    "exit": _dec_exit,
    "exit_group": _dec_exit,
    "wait4": _dec_wait4,
    "open": _dec_open,
    "creat": _dec_creat,
    "openat": _dec_openat,
    "openat2": _dec_openat2,
    "close": _dec_close,
    "dup": _dec_dup,
    "dup2": _dec_dup,
    "dup3": _dec_dup,
    "fcntl": _dec_fcntl,
    "fcntl64": _dec_fcntl,
    "ftruncate": _dec_ftruncate,
    "ftruncate64": _dec_ftruncate,
    "read": _dec_readwrite,
    "write": _dec_readwrite,
    "pipe": _dec_pipe,
    "pipe2": _dec_pipe,
    "memfd_create": _dec_memfd,
    "shmget": _dec_shmget,
    "shmat": _dec_shmat,
    "shmdt": _dec_shmdt,
    "shmctl": _dec_shmctl,
}


# --------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many acyclic objects.

    Parsing creates several objects per line and keeps them all; generation
    scans over the growing event list would cost about 15% of the run.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def parse_lines(lines: Iterable[str], *, source: str = "<trace>", default_pid: int = 1) -> Trace:
    """Parse strace output given as lines (with or without newlines).

    Lines without a pid column belong to ``default_pid``.
    """
    parser = _Parser(default_pid)
    feed = parser.feed
    line_no = 0
    with gc_paused():
        for line_no, text in enumerate(lines, 1):
            feed(text, line_no, source, None)
        parser.finish()
    parser.line_count = line_no
    return Trace(parser.events, parser.problems, (source,), parser.line_count)


PathArg = str | os.PathLike[str]


def parse_file(path: PathArg | Sequence[PathArg], *, default_pid: int = 1) -> Trace:
    """Parse a trace file, or the per-process files of ``strace -ff``.

    ``path`` may be one file, a list of files, or the ``-o`` prefix of an
    ``-ff`` run (``trace`` for ``trace.1234``, ``trace.1240``, ...). A file
    whose name ends in ``.<digits>`` belongs to that pid unless its lines carry
    a pid column. Raises :class:`TraceError` when a file cannot be read.
    """
    if isinstance(path, (str, os.PathLike)):
        single = Path(path)
        if single.is_file():
            files = [single]
        elif single.exists():
            raise TraceError(f"{single}: not a regular file")
        else:
            files = _ff_files(single)
            if not files:
                raise TraceError(f"{single}: no such trace file (nor {single}.<pid> files)")
            return _parse_many(files, default_pid)
        return (
            _parse_many(files, default_pid)
            if _FF_SUFFIX.search(single.name)
            else _parse_one(single, default_pid)
        )
    files = [Path(p) for p in path]
    if not files:
        raise TraceError("no trace files given")
    return _parse_many(files, default_pid)


def _ff_files(prefix: Path) -> list[Path]:
    parent = prefix.parent if str(prefix.parent) else Path(".")
    if not parent.is_dir():
        return []
    stem = prefix.name + "."
    found = []
    for entry in parent.iterdir():
        if entry.name.startswith(stem) and entry.name[len(stem) :].isdigit():
            found.append(entry)
    return sorted(found, key=lambda p: int(p.name[len(stem) :]))


def _read(path: Path) -> list[str]:
    try:
        with path.open("r", encoding="utf-8", errors="surrogateescape", newline="") as fh:
            return fh.read().splitlines()
    except OSError as exc:
        raise TraceError(f"{path}: cannot read trace: {exc.strerror or exc}") from exc


def _parse_one(path: Path, default_pid: int) -> Trace:
    """One file, streamed line by line (traces can be large)."""
    try:
        with path.open("r", encoding="utf-8", errors="surrogateescape", newline="") as fh:
            return parse_lines(fh, source=str(path), default_pid=default_pid)
    except OSError as exc:
        raise TraceError(f"{path}: cannot read trace: {exc.strerror or exc}") from exc


def _time_key(line: str) -> float | None:
    m = _PREFIX.match(line)
    if m is None:
        return None
    if m.group(3) is not None:
        return (
            int(m.group(3)) * 3600
            + int(m.group(4)) * 60
            + int(m.group(5))
            + float(m.group(6) or 0.0)
        )
    if m.group(7) is not None:
        return float(m.group(7))
    return None


def _parse_many(files: list[Path], default_pid: int) -> Trace:
    contents = [_read(p) for p in files]
    pids: list[int | None] = []
    for p in files:
        m = _FF_SUFFIX.search(p.name)
        pids.append(int(m.group(1)) if m else None)
    parser = _Parser(default_pid)
    sources = tuple(str(p) for p in files)
    timed = all(
        not c or _time_key(next((ln for ln in c if ln.strip()), "")) is not None for c in contents
    )
    with gc_paused():
        if timed and len(files) > 1:
            streams = [_keyed(c, i) for i, c in enumerate(contents)]
            for _key, index, line_no, text in heapq.merge(*streams):
                parser.feed(text, line_no, sources[index], pids[index])
        else:
            for index, content in enumerate(contents):
                for line_no, text in enumerate(content, 1):
                    parser.feed(text, line_no, sources[index], pids[index])
        parser.finish()
    parser.line_count = sum(len(c) for c in contents)
    return Trace(parser.events, parser.problems, sources, parser.line_count)


def _keyed(content: list[str], index: int) -> Iterator[tuple[float, int, int, str]]:
    last = 0.0
    for line_no, text in enumerate(content, 1):
        key = _time_key(text)
        if key is not None:
            last = key
        yield last, index, line_no, text
