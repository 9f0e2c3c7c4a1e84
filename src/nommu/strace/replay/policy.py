"""The replay's policy: how MMU behaviour is translated, and the translation kinds."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nommu import consts
from nommu.strace.check import BoardLimits
from nommu.strace.libc import LIBCS
from nommu.strace.syscalls import (
    CLONE_CALLS,
    EXEC_CALLS,
    EXIT_CALLS,
    MMAP_CALLS,
)

if TYPE_CHECKING:
    pass


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
    "host_libc": "a call only the host's glibc makes is not replayed (policy libc)",
    "loader_mprotect": "the dynamic loader's RELRO mprotect is skipped (an FDPIC loader skips it)",
}

_RWX = consts.PROT_READ | consts.PROT_WRITE | consts.PROT_EXEC
_RW = consts.PROT_READ | consts.PROT_WRITE
_ANON = consts.MAP_PRIVATE | consts.MAP_ANONYMOUS
MODEL_CLONE = (
    consts.CLONE_VM
    | consts.CLONE_FS
    | consts.CLONE_FILES
    | consts.CLONE_SIGHAND
    | consts.CLONE_THREAD
    | consts.CLONE_VFORK
)
_ST_SIZE = re.compile(r"\bst(?:x)?_size=(\d+)")
#: Calls after which memory may have changed: a sample is taken.
_SAMPLED = (
    MMAP_CALLS
    | CLONE_CALLS
    | EXEC_CALLS
    | EXIT_CALLS
    | {"munmap", "mremap", "brk", "mprotect", "pkey_mprotect", "ftruncate", "ftruncate64"}
    | {"unlink", "unlinkat", "shmget", "shmat", "shmdt", "shmctl"}
)
#: How many failures keep a snapshot-based explanation and their kernel log lines.
_EXPLAINED_FAILURES = 50


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
    libc: str = "uclibc-ng"

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
        if self.libc not in LIBCS:
            raise ValueError(f"libc: must be one of {', '.join(LIBCS)}, got {self.libc!r}")
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
            "libc": self.libc,
        }


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
