"""A loaded scenario: frozen values, checked and converted by the loader.

A :class:`Scenario` is a board (``Machine`` options), its filesystems and
files, a script of :class:`Step` values, and expectations. Everything a step
needs is converted when the file is loaded (sizes to ints, flag names to
numbers, errno names to :class:`~nommu.errors.Errno`), so running it does
no parsing; a value read from an earlier step's result is a :class:`Ref`.

Every part keeps its :class:`Location` (file, line, field) so errors found
later, while the machine is built or a step runs, still name the line.
See docs/scenarios.md for the file format.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from nommu.errors import ConfigError, Errno

EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Location:
    """Where something is written: a file, a 1-based line (if known) and a field."""

    file: str
    line: int | None
    field: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.field}" if self.field else where


class ScenarioError(ConfigError):
    """A scenario file is wrong: one line naming the file, line and field."""

    def __init__(self, where: Location, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


@dataclass(frozen=True, slots=True)
class Ref:
    """A value saved by an earlier step (``"$name"``, ``"$name+4K"``)."""

    name: str
    offset: int = 0

    def __str__(self) -> str:
        if not self.offset:
            return f"${self.name}"
        return f"${self.name}{'+' if self.offset > 0 else '-'}{abs(self.offset)}"


@dataclass(frozen=True, slots=True)
class SizeDist:
    """A distribution of sizes in bytes: a constant, a choice, or a range."""

    kind: str  # "const", "choice", "uniform", "log-uniform"
    values: tuple[int, ...] = ()
    weights: tuple[float, ...] = ()
    lo: int = 0
    hi: int = 0

    def sample(self, rng: random.Random) -> int:
        if self.kind == "const":
            return self.values[0]
        if self.kind == "choice":
            if self.weights:
                return rng.choices(self.values, self.weights)[0]
            return self.values[rng.randrange(len(self.values))]
        if self.kind == "uniform":
            return rng.randint(self.lo, self.hi)
        # log-uniform: every power of two between lo and hi equally likely
        return min(
            self.hi,
            max(self.lo, round(math.exp(rng.uniform(math.log(self.lo), math.log(self.hi))))),
        )

    @property
    def mean(self) -> float:
        if self.kind == "const":
            return float(self.values[0])
        if self.kind == "choice":
            if self.weights:
                return sum(v * w for v, w in zip(self.values, self.weights, strict=True)) / sum(
                    self.weights
                )
            return sum(self.values) / len(self.values)
        if self.kind == "uniform":
            return (self.lo + self.hi) / 2
        return (self.hi - self.lo) / math.log(self.hi / self.lo) if self.hi > self.lo else self.lo

    def __str__(self) -> str:
        if self.kind == "const":
            return str(self.values[0])
        if self.kind == "choice":
            return "one of " + ", ".join(str(v) for v in self.values)
        return f"{self.kind} {self.lo}..{self.hi}"


@dataclass(frozen=True, slots=True)
class TickRange:
    """A whole number of ticks drawn uniformly from ``lo..hi`` (inclusive)."""

    lo: int
    hi: int

    def sample(self, rng: random.Random) -> int:
        return self.lo if self.lo == self.hi else rng.randint(self.lo, self.hi)

    @property
    def mean(self) -> float:
        return (self.lo + self.hi) / 2


@dataclass(frozen=True, slots=True)
class Launch:
    """Transient processes of one program, started by *parent* at a rate."""

    where: Location
    parent: str
    path: str
    argv: tuple[str, ...]
    envp: tuple[str, ...]
    rate: float  # launches per tick (expected)
    lifetime: TickRange
    alloc_rate: float  # anonymous mmaps per tick per live process
    size: SizeDist | None
    hold: TickRange | None  # ticks an allocation is kept (None: until exit)
    max_live: int | None
    allow: tuple[str, ...] = ()  # errno names its failures may have ("any": all)


@dataclass(frozen=True, slots=True)
class Churn:
    """Random anonymous mmap/munmap by one existing process."""

    where: Location
    proc: str
    rate: float  # mmaps per tick (expected)
    size: SizeDist
    hold: TickRange
    max_live: int | None
    allow: tuple[str, ...] = ()  # errno names its failures may have ("any": all)


@dataclass(frozen=True, slots=True)
class Workload:
    """A seeded random workload running for ``ticks`` ticks."""

    where: Location
    name: str
    ticks: int
    seed: int | None
    launches: tuple[Launch, ...]
    churns: tuple[Churn, ...]
    snapshots: tuple[int, ...]
    drain: bool


@dataclass(frozen=True, slots=True)
class Step:
    """One step of the script; ``args`` hold the op's converted arguments."""

    op: str
    where: Location
    args: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    save: str | None = None
    expect: Errno | str | None = None  # "ok", an Errno, or None
    body: tuple[Step, ...] = ()  # repeat
    workload: Workload | None = None
    allow: tuple[str, ...] = ()  # errno names it may fail with ("any": all), not held against it


@dataclass(frozen=True, slots=True)
class FileEntry:
    """A file placed in a filesystem before the script runs."""

    where: Location
    path: str
    data: bytes
    executable: bool
    mode: int | None
    kind: str  # "content", "base64", "hex", "size", "host", "flat", "elf"


@dataclass(frozen=True, slots=True)
class MountSpec:
    """A filesystem to mount, its options and its files."""

    where: Location
    fstype: str
    target: str
    options: Mapping[str, Any]
    option_lines: Mapping[str, int]
    files: tuple[FileEntry, ...]


@dataclass(frozen=True, slots=True)
class RootSpec:
    """A root filesystem image: romfs mounted at ``/``, or a cpio archive unpacked there."""

    where: Location
    fstype: str  # "romfs" or "cpio"
    image: bytes
    options: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Board:
    """Keyword arguments of :class:`nommu.Machine`, with their lines."""

    where: Location
    options: Mapping[str, Any]
    option_lines: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class GlobalExpect:
    """Expectations checked over the whole run (``[expect]``)."""

    min_free: tuple[int, Location] | None = None
    min_largest_block: tuple[int, Location] | None = None
    max_failures: tuple[int, Location] | None = None
    # kinds of failure allowed anywhere: each pattern's words must all name the
    # failure's kind, call, errno or program ("exec ENOMEM", "cgi", "oom-kill")
    allow: tuple[tuple[tuple[str, ...], Location], ...] = ()


@dataclass(frozen=True, slots=True)
class Scenario:
    """A whole scenario file."""

    path: str
    name: str
    description: str
    seed: int
    board: Board
    mounts: tuple[MountSpec, ...]
    files: tuple[FileEntry, ...]
    steps: tuple[Step, ...]
    expect: GlobalExpect
    tick_seconds: float | None = None  # what one tick is, in seconds ([scenario] tick)
    root: RootSpec | None = None  # [root]: a real root filesystem
