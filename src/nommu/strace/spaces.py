"""Address spaces as an MMU trace left them, for ``nommu check``'s walk.

A :class:`Space` holds the live mappings of one traced address space with
the trace's own addresses (pids joined by ``CLONE_VM`` share one, a
fork-like child starts with a copy, ``execve`` starts afresh); pieces of one
mapping cut by an MMU ``munmap`` keep its group id, so a later call knows
which original mapping it touches. :func:`size_words` says when a size is
impossible on any machine.
"""

from __future__ import annotations

from collections.abc import Callable

from nommu import consts
from nommu.consts import format_size
from nommu.strace.parse import Event

__all__ = ["Mapping", "Pending", "Space", "size_words"]


def size_words(n: int, word_size: int) -> str | None:
    """Words for a size no machine of the architecture can map, else None."""
    if n >= 1 << 63:
        return (
            f"{n} bytes ({n:#x}) is more than any address space holds: impossible on any "
            "machine (a negative or uninitialised length?)"
        )
    if n >= 1 << (8 * word_size):
        return (
            f"{n} bytes ({format_size(n)}) is more than a {8 * word_size}-bit address space "
            "holds: impossible on any machine of this architecture"
        )
    return None


class Mapping:
    """A live mapping of an address space, as the MMU trace placed it."""

    __slots__ = ("artefact", "backing", "end", "flags", "gid", "line", "path", "prot",
                 "region", "reservation", "stack", "start")  # fmt: skip

    def __init__(
        self,
        start: int,
        end: int,
        backing: str | None,
        prot: int,
        flags: int,
        path: str | None,
        gid: int,
        line: int,
    ) -> None:
        self.start = start
        self.end = end
        self.backing = backing  # None: anonymous
        self.prot = prot
        self.flags = flags
        self.path = path
        self.gid = gid
        self.line = line
        self.region = end - start
        self.reservation = False  # a library span reserved by ld.so
        self.stack = bool(flags & consts.MAP_STACK)
        self.artefact: str | None = None

    @property
    def anon(self) -> bool:
        return self.backing is None

    def piece(self, start: int, end: int, gid: int) -> Mapping:
        m = Mapping(start, end, self.backing, self.prot, self.flags, self.path, gid, self.line)
        m.reservation, m.stack, m.artefact, m.region = (
            self.reservation,
            self.stack,
            self.artefact,
            self.region,
        )
        return m


class Space:
    """One address space: live mappings, brk state, pending notes."""

    __slots__ = ("brk_note", "initial_brk", "maps", "shared_anon")

    def __init__(self) -> None:
        self.maps: list[Mapping] = []
        self.initial_brk: int | None = None
        self.brk_note: Pending | None = None
        self.shared_anon: list[tuple[Pending, int]] = []  # (pending finding, gid)

    def copy(self) -> Space:
        new = Space()
        new.maps = [m.piece(m.start, m.end, m.gid) for m in self.maps]
        new.initial_brk = self.initial_brk
        return new

    def overlapping(self, start: int, end: int) -> list[Mapping]:
        return [m for m in self.maps if m.start < end and start < m.end]

    def containing(self, start: int, end: int) -> Mapping | None:
        for m in self.maps:
            if m.start <= start and end <= m.end:
                return m
        return None

    def remove_range(self, start: int, end: int, new_gid: Callable[[], int]) -> None:
        """MMU munmap semantics: cut [start, end) out of every mapping."""
        kept: list[Mapping] = []
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


class Pending:
    """A finding whose detail or severity is settled at the end of the trace."""

    __slots__ = ("child", "child_line", "errno", "event", "extra", "index", "kind", "seq")

    def __init__(self, event: Event, index: int, kind: str, errno: str | None, seq: int) -> None:
        self.event = event
        self.index = index
        self.kind = kind
        self.errno = errno
        self.seq = seq
        self.child: int | None = None
        self.child_line = 0
        self.extra = 0
