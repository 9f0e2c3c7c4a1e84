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
figures; :mod:`nommu.report.replay` renders them as the run report of
:mod:`nommu.report` plus the replay's own sections.

Usage::

    m = nommu.Machine(ram="8M")
    result = replay(parse_file("trace.txt"), m, ReplayPolicy(heap="malloc-chunks"))
    result.peak_used, result.first_failure, result.translations[:5]
"""

from __future__ import annotations

from nommu.strace.replay.policy import (
    HEAP_POLICIES,
    LIB_POLICIES,
    RESERVATION_POLICIES,
    TRANSLATION_KINDS,
    ReplayPolicy,
)
from nommu.strace.replay.result import (
    ProcessRecord,
    ReplayFailure,
    ReplayResult,
    Sample,
    Translation,
)
from nommu.strace.replay.run import replay

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
