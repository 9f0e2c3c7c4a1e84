"""Portability findings: what in a trace recorded on an MMU system breaks without one.

:func:`check_trace` walks the memory-management and process calls of a
parsed trace (:mod:`nommu.strace.parse`) and reports each call that a no-MMU
kernel would reject or treat differently, as a :class:`Finding` with a stable
``kind``, the errno the no-MMU kernel returns (None when the call succeeds but
means something else), and one line of explanation. A verdict sums them up.

Every errno and size decision is the model's: the checker asks a board of
the chosen kernel profile (:class:`~nommu.strace.decisions.Decisions`) the
same questions ``replay`` makes it answer by running the calls, so the two
commands cannot disagree on a rule. The checker's own part is what the
trace means: which mappings are libraries placed by ``ld.so`` and which fork
children only exec (the replay's pre-pass, :func:`nommu.strace.replay.plan.prepass`,
one place for both commands), which file a mapping is of and where the board
keeps it, which calls only the host's C library makes
(:mod:`nommu.strace.libc`), and which calls already failed on the host.

Kinds (:class:`~nommu.strace.findings.Kind`):

``fork``
    ``fork()`` is EINVAL without an MMU (kernel/fork.c). ``clone`` without
    ``CLONE_VM`` (a C library's fork) succeeds, but the child gets an empty
    mm while it runs on the parent's stack and code: errno None. The child's
    own calls decide: only descriptor, signal and id set-up before
    ``execve`` -> "use vfork" (change); anything else first, or an exit
    without ``execve`` -> "needs redesign" (fatal).
``map_fixed``, ``map_type``, ``shared_write_file``, ``shared_file``, ``mmap_refused``
    The model's ``validate_mmap_request()`` refuses the mapping: MAP_FIXED
    (EINVAL), MAP_SHARED_VALIDATE (EINVAL), MAP_SHARED of a file without
    direct mapping (a disk filesystem, ``/dev/zero``, pipes: ENODEV;
    sockets: EINVAL), anything else it refuses (``mmap_refused``).
``loader_map_fixed``, ``loader_mprotect``
    The dynamic loader's reservation + ``MAP_FIXED`` segments and its RELRO
    ``mprotect``: an FDPIC loader maps each segment where the kernel
    chooses and skips RELRO; information only. Each segment that becomes a
    copy in RAM is still judged for its size.
``shared_anon``
    ``MAP_SHARED|MAP_ANONYMOUS`` becomes private (``determine_vm_flags``):
    a change only when a fork-like child is created while it is mapped.
``mremap_move``, ``mremap_shared``, ``mremap_grow``
    The model's ``do_mremap()`` on a mapping of the same kind and size:
    EINVAL (moving), EPERM (shareable), ENOMEM (beyond the allocation).
``munmap_multi``, ``munmap_partial_file``
    The model's ``do_munmap()`` refuses a range over more than one mapping
    or part of a file mapping (EINVAL).
``enosys``
    mprotect, madvise, msync, mlock... do not exist without an MMU (ENOSYS).
``brk_heap``
    ``brk`` does not grow under ELF-FDPIC; information only.
``alloc_too_large``, ``huge_stack``
    The allocation is made on the freshly booted board: ENOMEM (or EFBIG
    for a SysV segment) when no free block is large enough, with the model's
    words; sizes no machine of the architecture can map are said so.
``shmat``
    ``shmat`` is ENODEV since v4.0 (or EINVAL with an address), as the
    model's kernel profile says.
``clone``
    clone flags the board refuses (``copy_process``: CLONE_THREAD without
    CLONE_SIGHAND...).

Set apart, not findings: calls only the host's glibc makes (``host_libc``,
per ``--libc``) and calls that failed on the host (``host_failed``).

API: ``check_trace(trace, limits=None, *, machine=None, libc="uclibc-ng") ->
CheckReport``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from nommu.strace.decisions import Answer, Decisions
from nommu.strace.findings import (
    JSON_SCHEMA,
    KINDS,
    SEVERITIES,
    VERDICTS,
    BoardLimits,
    CheckReport,
    Finding,
    Kind,
    Note,
    Severity,
)
from nommu.strace.libc import (
    DEFAULT_LIBC,
    Libc,
    libc_profile,
)
from nommu.strace.parse import Trace, gc_paused
from nommu.strace.replay.plan import prepass
from nommu.strace.syscalls import ENOSYS_CALLS, SAFE_BEFORE_EXEC
from nommu.strace.walk import Checker

if TYPE_CHECKING:
    from nommu.machine import Machine

__all__ = [
    "ENOSYS_CALLS",
    "JSON_SCHEMA",
    "KINDS",
    "SAFE_BEFORE_EXEC",
    "SEVERITIES",
    "VERDICTS",
    "Answer",
    "BoardLimits",
    "CheckReport",
    "Finding",
    "Kind",
    "Note",
    "Severity",
    "board_for_limits",
    "check_trace",
]


def board_for_limits(limits: BoardLimits) -> Machine:
    """A board whose only free block is ``limits.largest_free_block`` (rounded to a block).

    Idealised (``ideal=True``): the answers are about that block alone.
    """
    from nommu.machine import Machine

    ps = limits.page_size
    block = ps
    while block * 2 <= limits.largest_free_block and block < ps << limits.max_order:
        block *= 2
    return Machine(
        ram=2 * block,
        kernel_reserved=block,
        page_size=ps,
        max_order=limits.max_order,
        ram_base=0,
        word_size=8,
        ideal=True,  # the block is the question: no kernel stacks or watermark eat into it
    )


def check_trace(
    trace: Trace,
    limits: BoardLimits | None = None,
    *,
    machine: Machine | None = None,
    libc: str | Libc = DEFAULT_LIBC,
    progress: Callable[[int, int], None] | None = None,
) -> CheckReport:
    """Judge a parsed trace for a no-MMU board; see the module docstring.

    *machine* is the freshly booted board to ask (default: one built from
    *limits*, whose ``direct_mappable`` also says which paths are on
    ramfs/tmpfs); *libc* the target's C library (:mod:`nommu.strace.libc`);
    *progress* is called with (events done, events) now and then.
    """
    lim = limits if limits is not None else BoardLimits()
    board = machine if machine is not None else board_for_limits(lim)
    if machine is not None and limits is None:
        order = board.zone.largest_free_order()
        lim = BoardLimits(
            page_size=board.page_size,
            max_order=board.zone.max_order,
            largest_free_block=board.page_size << max(order, 0),
        )
    profile = libc_profile(libc)
    with gc_paused():
        plan = prepass(trace, lim.page_size, sizes=False)
        checker = Checker(trace, lim, Decisions(board), profile, plan)
        checker.run(progress)
        findings = checker.finalize()
    worst = 0
    for f in findings:
        worst = max(worst, Severity(f.severity).rank)
    info = {
        "page_size": board.page_size,
        "largest_free_block": lim.largest_free_block,
        "kernel": board.kernel.version,
        "arch": board.arch.name,
        "ram": board.ram_size,
    }
    return CheckReport(
        tuple(findings),
        VERDICTS[worst],
        tuple(trace.problems),
        lim,
        tuple(checker.host_libc),
        tuple(checker.host_failed),
        str(profile.name),
        info,
    )
