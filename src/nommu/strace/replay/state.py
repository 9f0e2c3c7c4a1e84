"""Per-process replay state: trace ranges and where the board put them, heaps, processes."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nommu.process import Process
from nommu.strace.parse import (
    Event,
)
from nommu.strace.replay.plan import (
    LibPlan,
)

if TYPE_CHECKING:
    pass


#: The path of a thread stack's entry when the board refused the stack.
STACK_TAG = "[thread stack]"


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
        lib: LibPlan | None = None,
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

    __slots__ = ("arenas", "entries", "heap")

    def __init__(self) -> None:
        self.entries: list[_Entry] = []
        self.heap = _Heap()
        self.arenas: list[tuple[int, int]] = []  # glibc malloc arena reservations (trace)

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
