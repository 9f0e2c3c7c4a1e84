"""The target's C library: what the host's glibc does that a no-MMU C library does not.

A trace taken on a desktop shows the program *and* the host's C library
(glibc) at work. On a no-MMU target the program runs on another C library,
so calls that only glibc makes are not the program's problem. ``--libc``
names the target's library; :func:`host_artefact` says, for one call of a
trace, whether it is such a glibc habit and why. ``check`` lists these apart
(``host_libc``), ``replay`` does not replay them (translation
``host_libc``), so the two commands agree.

``uclibc-ng`` (the default: the C library of most no-MMU Linux systems,
and the one Buildroot offers for them) and ``musl`` (which supports no-MMU
targets with FDPIC) differ from glibc in these ways, each recognised in a
trace as follows:

``gconv_cache``
    glibc's ``iconv`` maps ``gconv-modules.cache`` with ``MAP_SHARED`` at the
    first character-set conversion (``iconv/gconv_cache.c``); the other
    libraries have no such file.
``locale_archive``
    glibc maps ``/usr/lib/locale/locale-archive`` (``locale/loadarchive.c``);
    uClibc-ng and musl have no locale archive.
``malloc_arena``
    glibc's ``malloc`` reserves 64 MiB-aligned arenas for threads with an
    anonymous ``PROT_NONE`` mapping (``MAP_NORESERVE``), trims it with
    ``munmap`` and commits parts with ``mprotect`` (``malloc/arena.c``
    ``new_heap``); a no-MMU ``malloc`` maps each request.
``thread_guard``
    glibc's ``pthread_create`` write-protects a guard page below each thread
    stack with ``mprotect`` and hands stacks back with ``madvise`` at thread
    exit (``nptl/allocatestack.c``); without an MMU there are no guard pages
    (musl's ``pthread_create`` ignores the ENOSYS, uClibc-ng's no-MMU build
    does not ask).
``thread_stack_default``
    glibc sizes a thread stack from ``RLIMIT_STACK`` (8 MiB on a desktop)
    plus the guard page; musl's default is 128 KiB
    (``src/internal/pthread_impl.h`` ``DEFAULT_STACK_SIZE``). With
    ``musl`` a stack of exactly the host's default size is set apart and
    the default is judged instead. uClibc-ng's threads take the default
    from the stack limit as glibc does, so with ``uclibc-ng`` the size
    stands as the program's (set it with ``pthread_attr_setstacksize``).
``brk_heap``
    glibc's ``malloc`` grows the heap with ``brk``; uClibc-ng's and musl's
    ``malloc`` use ``mmap`` without an MMU (ELF-FDPIC gives no brk area).

With ``glibc`` every call counts as the program's. glibc has no no-MMU
port, so this is the strictest reading of a trace, not a target one can
build; the dynamic loader is taken to be an FDPIC loader in every case
(the kernel's ELF-FDPIC loader needs one).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from nommu import consts

__all__ = [
    "ARTEFACTS",
    "DEFAULT_LIBC",
    "LIBCS",
    "Libc",
    "LibcProfile",
    "libc_profile",
]


class Libc(StrEnum):
    """The C libraries ``--libc`` knows."""

    GLIBC = "glibc"
    UCLIBC_NG = "uclibc-ng"
    MUSL = "musl"


LIBCS: tuple[str, ...] = tuple(v.value for v in Libc)
DEFAULT_LIBC = Libc.UCLIBC_NG

#: Host-libc artefacts and what each is.
ARTEFACTS: dict[str, str] = {
    "gconv_cache": "glibc's iconv maps gconv-modules.cache MAP_SHARED",
    "locale_archive": "glibc maps its locale archive",
    "malloc_arena": "glibc's malloc reserves and commits per-thread arenas",
    "thread_guard": "glibc protects and releases thread stacks (guard pages, madvise)",
    "thread_stack_default": "glibc's default thread stack (the host's stack limit)",
    "brk_heap": "glibc's malloc grows the heap with brk",
}

#: glibc's default thread stack: RLIMIT_STACK of a desktop (8 MiB) plus one guard page.
HOST_DEFAULT_STACK = 8 << 20


@dataclass(frozen=True, slots=True)
class LibcProfile:
    """What one C library does: which glibc habits it lacks and its thread-stack default.

    ``artefacts`` are the :data:`ARTEFACTS` this library does not share with
    glibc; ``thread_stack`` is its default thread stack in bytes (0: taken
    from the stack limit, as glibc does).
    """

    name: Libc
    artefacts: frozenset[str]
    thread_stack: int

    def sets_apart(self, artefact: str) -> bool:
        return artefact in self.artefacts


_PROFILES = {
    Libc.GLIBC: LibcProfile(Libc.GLIBC, frozenset(), 0),
    Libc.UCLIBC_NG: LibcProfile(Libc.UCLIBC_NG, frozenset(ARTEFACTS) - {"thread_stack_default"}, 0),
    Libc.MUSL: LibcProfile(Libc.MUSL, frozenset(ARTEFACTS), 128 * 1024),
}


def libc_profile(name: str | Libc) -> LibcProfile:
    """The profile of *name*; ValueError naming the known libraries."""
    try:
        return _PROFILES[Libc(name)]
    except ValueError:
        raise ValueError(f"libc: must be one of {', '.join(LIBCS)}, got {name!r}") from None


def file_artefact(path: str | None) -> str | None:
    """The artefact a mapping of *path* is, if glibc alone maps that file."""
    if path is None:
        return None
    if path.endswith("/gconv-modules.cache"):
        return "gconv_cache"
    if path.endswith("/locale-archive"):
        return "locale_archive"
    return None


def is_arena_reservation(prot: int, flags: int, anonymous: bool) -> bool:
    """glibc's arena reservation: anonymous, PROT_NONE, MAP_NORESERVE."""
    return anonymous and prot == consts.PROT_NONE and bool(flags & consts.MAP_NORESERVE)


def is_host_default_stack(length: int, page_size: int) -> bool:
    """A thread stack of glibc's default size (the host's 8 MiB limit, plus a guard page)."""
    return HOST_DEFAULT_STACK <= length <= HOST_DEFAULT_STACK + 16 * page_size
