"""The allocator's slow path: reclaim, the OOM killer, and what they cannot fix.

Models ``__alloc_pages_slowpath()`` (mm/page_alloc.c) and ``out_of_memory()``
(mm/oom_kill.c) as they behave on a no-MMU kernel, where the real 6.1 kernel
showed the following under pressure:

1. A request that fails first drops clean page-cache pages of disk files
   (:mod:`nommu.mm.vmscan`) and retries.
2. A request above ``PAGE_ALLOC_COSTLY_ORDER`` (3) then fails: the caller
   gets ENOMEM and the kernel its ``page allocation failure`` lines. The OOM
   killer does not run for such orders (``__alloc_pages_may_oom``).
3. A request of order 0..3 never fails: ``out_of_memory()`` picks a victim
   and the request is retried. Without an MMU no RSS counter is ever
   updated, so every process scores 0 (``oom_badness``) plus
   ``oom_score_adj * totalpages / 1000``; ``select_bad_process`` walks the
   processes oldest first and keeps the last of the highest scores, so the
   *newest* killable process dies unless ``oom_score_adj`` says otherwise.
   Never chosen: init (``is_global_init``), a task whose adj is -1000, a
   vfork child still in its parent's mm (``in_vfork``), a task without an
   mm (exited). While an earlier victim is still in the task list (a zombie
   too: ``tsk_is_oom_victim`` holds until ``release_task``), no new victim
   is chosen. With nothing killable the kernel panics: "System is
   deadlocked on memory".
4. The victim gets SIGKILL; so does every other process using its mm
   (``__oom_kill_process``), so a vfork parent's child dies with it and a
   child's death wakes its vfork parent.

What the caller sees (the model's choices, documented in
docs/kernel-memory.md):

- the caller is the victim: its system call raises :class:`ProcessKilled`
  and the process is dead (``wait`` reports SIGKILL);
- another process is the victim and the request was made holding
  ``nommu_region_sem`` (every ``do_mmap`` path: anonymous memory, private
  copies, the exec loaders): the victim cannot finish ``exit_mmap`` without
  that semaphore, so the real kernel livelocks (28 of 40 runs hung until
  something freed a page). The model raises :class:`MemoryLivelock` in the
  caller, whose call has no effect, and then lets the victim exit;
- another process is the victim and no semaphore is held (kernel stacks,
  slab pages, ramfs pages, page cache): the victim exits, a grace period
  passes while the allocator sleeps, and the request is retried. If it
  still fails while the victim is an unreaped zombie, nothing can be done
  until its parent reaps it: :class:`MemoryLivelock` again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nommu.consts import SIGKILL
from nommu.errors import KernelOops, NommuError

if TYPE_CHECKING:
    from nommu.machine import Machine
    from nommu.process import Process

#: include/linux/mmzone.h: no OOM kill helps an allocation above this order
PAGE_ALLOC_COSTLY_ORDER = 3
#: gfp of a user copy (do_mmap_private's alloc_pages_exact)
GFP_KERNEL = (0xCC0, "GFP_KERNEL")
OOM_SCORE_ADJ_MIN = -1000
OOM_SCORE_ADJ_MAX = 1000


class ProcessKilled(NommuError):
    """The calling process was chosen by the OOM killer: it is dead (SIGKILL).

    Attributes: ``pid``, ``comm`` of the killed caller and the ``record``
    (:class:`OomKill`) of the kill.
    """

    def __init__(self, record: OomKill) -> None:
        super().__init__(
            f"process {record.victim_pid} ({record.victim_comm}) was killed by the OOM "
            f"killer during its own order-{record.order} allocation"
        )
        self.pid = record.victim_pid
        self.comm = record.victim_comm
        self.record = record


class MemoryLivelock(NommuError):
    """The kernel would hang here: an OOM victim cannot exit while the caller waits.

    Hazard: on a no-MMU kernel ``do_mmap`` holds ``nommu_region_sem`` across
    the page allocation, and a victim needs it in ``exit_mmap`` →
    ``delete_vma``. The caller's system call does not complete in the
    kernel; the model fails it (no effect) and reports it. ``record`` is
    the :class:`OomKill` involved.
    """

    def __init__(self, record: OomKill, reason: str) -> None:
        super().__init__(reason)
        self.record = record
        self.reason = reason


class KernelPanic(KernelOops):
    """The simulated kernel panicked (``panic()``); the machine is stopped."""


@dataclass(frozen=True, slots=True)
class OomKill:
    """One run of the OOM killer: who asked, who died, what memory looked like."""

    trigger_pid: int
    trigger_comm: str
    length: int  # bytes the failed request asked for
    order: int
    gfp: str
    victim_pid: int  # 0 when no victim could be chosen
    victim_comm: str
    victim_adj: int
    total_vm_kb: int
    free_pages: int
    largest_free_order: int
    nr_free: tuple[int, ...]
    watermark_min: int
    outcome: str  # "killed caller", "killed other", "livelock", "panic"
    detail: str

    def explain(self) -> str:
        """One line: who was killed for what, and how memory looked."""
        return self.detail


class OomKiller:
    """``out_of_memory()`` and the retry loop around it, for one machine."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.victims: set[int] = set()  # pids marked tsk_is_oom_victim, until reaped
        self.killed: set[int] = set()  # every pid the OOM killer sent SIGKILL
        self.kills: list[OomKill] = []
        #: Called with each :class:`OomKill` once it is decided (reports snapshot then).
        self.on_oom: Callable[[OomKill], None] | None = None

    # -- selection ---------------------------------------------------------------------
    def totalpages(self) -> int:
        """``totalram_pages() + total_swap_pages``: managed pages, no swap."""
        return self.machine.zone.managed

    def badness(self, p: Process) -> int | None:
        """``oom_badness``: None (LONG_MIN) for an unkillable task, else its points."""
        if p.pid == 1 or not self._has_mm(p):
            return None
        adj = p.oom_score_adj
        vparent = p.vfork_parent
        if adj == OOM_SCORE_ADJ_MIN or (vparent is not None and vparent.mm is p.mm):
            return None
        return 0 + adj * (self.totalpages() // 1000)  # rss, swap and page tables are 0

    def oom_score(self, p: Process) -> int:
        """``/proc/<pid>/oom_score``: the badness scaled into 0..2000, two thirds of it."""
        points = self.badness(p)
        if points is None:
            return 0
        return (1000 + points * 1000 // self.totalpages()) * 2 // 3

    def _has_mm(self, p: Process) -> bool:
        """``find_lock_task_mm``: some thread of the group still has an mm."""
        if p.mm is not None:
            return True
        return any(q.tgid == p.tgid and q.mm is not None for q in self.machine.procs.values())

    def select_bad_process(self) -> tuple[Process | None, bool]:
        """``(victim or None, aborted)``: aborted when an earlier victim is pending."""
        chosen: Process | None = None
        chosen_points: int | None = None
        for pid in sorted(self.machine.procs):  # for_each_process: oldest first
            p = self.machine.procs[pid]
            if p.pid != p.tgid or p.pid == 1:
                continue
            if pid in self.victims:
                return None, True  # abort: an earlier victim has not gone yet
            points = self.badness(p)
            if points is None or (chosen_points is not None and points < chosen_points):
                continue
            chosen, chosen_points = p, points
        return chosen, False

    # -- the slow path -----------------------------------------------------------------
    def alloc(
        self,
        task: object,
        npages: int,
        order: int,
        length: int,
        *,
        mmap_line: bool,
        region_sem: bool,
        gfp: tuple[int, str] = GFP_KERNEL,
    ) -> int:
        """``__alloc_pages_slowpath``: reclaim, then OOM kills for small orders, retrying.

        Returns the pfn of *npages* pages from an order-*order* block, or
        raises: ENOMEM (:class:`SyscallError`, after the kernel's
        ``page allocation failure`` lines) above PAGE_ALLOC_COSTLY_ORDER,
        else :class:`ProcessKilled`, :class:`MemoryLivelock` or
        :class:`KernelPanic`. Each OOM kill removes a process, so the loop ends.
        """
        m = self.machine
        zone = m.zone
        cache = m.disk_cache
        while cache is not None and cache.pages:  # direct reclaim of clean page cache
            cache.shrink()
            pfn = zone.alloc_pages_exact(npages)
            if pfn is not None:
                return pfn
        if order > PAGE_ALLOC_COSTLY_ORDER:
            raise m.nommu.alloc_failed(
                task,  # type: ignore[arg-type]
                length,
                order,
                mmap_line=mmap_line,
            )
        while True:
            self.out_of_memory(task, order, gfp, region_sem=region_sem, length=length)
            pfn = zone.alloc_pages_exact(npages)
            if pfn is not None:
                return pfn

    def forget(self, pid: int) -> None:
        """``release_task``: the victim is gone from the task list."""
        self.victims.discard(pid)

    def out_of_memory(
        self,
        task: object,
        order: int,
        gfp: tuple[int, str],
        *,
        region_sem: bool,
        length: int = 0,
    ) -> None:
        """Pick and kill a victim for a failed order-*order* request of *task*.

        Returns when the caller may retry; raises :class:`ProcessKilled`,
        :class:`MemoryLivelock` or :class:`KernelPanic` otherwise.
        """
        m = self.machine
        zone = m.zone
        comm = getattr(task, "comm", "swapper")
        pid = int(getattr(task, "pid", 0))
        adj = int(getattr(task, "oom_score_adj", 0))
        victim, aborted = self.select_bad_process()

        def record(v: Process | None, outcome: str, detail: str) -> OomKill:
            rec = OomKill(
                pid,
                comm,
                length or (m.page_size << order),
                order,
                gfp[1],
                v.pid if v is not None else 0,
                v.comm if v is not None else "",
                v.oom_score_adj if v is not None else 0,
                ((v.mm.total_vm if v is not None and v.mm is not None else 0) * m.page_size) >> 10,
                zone.free_count,
                zone.largest_free_order(),
                zone.nr_free_all(),
                zone.wmark_min,
                outcome,
                detail,
            )
            self.kills.append(rec)
            if self.on_oom is not None:
                self.on_oom(rec)
            return rec

        if aborted:
            pending = sorted(v for v in self.victims if v in m.procs)
            vp = m.procs[pending[0]]
            rec = record(
                vp,
                "livelock",
                f"order-{order} allocation of {comm} cannot be satisfied and OOM victim "
                f"{vp.pid} ({vp.comm}) has not been reaped yet: the kernel would retry "
                f"for ever (its parent must wait() for it)",
            )
            raise MemoryLivelock(rec, rec.detail)
        self._dump_header(comm, order, gfp, adj)
        if victim is None:
            m.log("Out of memory and no killable processes...")
            m.log("Kernel panic - not syncing: System is deadlocked on memory")
            rec = record(
                None,
                "panic",
                f"order-{order} allocation of {comm} failed and no process can be killed "
                f"(only init, unkillable tasks or vfork children in their parent's mm)",
            )
            raise KernelPanic("System is deadlocked on memory")
        uid = victim.uid
        m.log(
            f"oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),"
            f"task={victim.comm},pid={victim.pid},uid={uid}"
        )
        total_vm = (victim.mm.total_vm if victim.mm is not None else 0) * m.page_size >> 10
        m.log(
            f"Out of memory: Killed process {victim.pid} ({victim.comm}) "
            f"total-vm:{total_vm}kB, anon-rss:0kB, file-rss:0kB, shmem-rss:0kB, "
            f"UID:{uid} pgtables:0kB oom_score_adj:{victim.oom_score_adj}"
        )
        frag = (
            f"{zone.free_count} pages free, largest free block order "
            f"{zone.largest_free_order()}, min watermark {zone.wmark_min}"
        )
        if victim is task:
            rec = record(
                victim,
                "killed caller",
                f"{comm} ({pid}) was killed by the OOM killer during its own order-{order} "
                f"allocation ({frag}): it was the newest killable process",
            )
            self._kill(victim)
            raise ProcessKilled(rec)
        if region_sem:
            rec = record(
                victim,
                "livelock",
                f"order-{order} allocation of {comm} ({pid}) chose {victim.comm} "
                f"({victim.pid}), which cannot exit while {comm} holds nommu_region_sem "
                f"(do_mmap): the kernel hangs until some page is freed ({frag})",
            )
            self._kill(victim)
            raise MemoryLivelock(rec, rec.detail)
        record(
            victim,
            "killed other",
            f"order-{order} allocation of {comm} ({pid}) killed {victim.comm} "
            f"({victim.pid}), the newest killable process ({frag})",
        )
        self._kill(victim)

    def _dump_header(self, comm: str, order: int, gfp: tuple[int, str], adj: int) -> None:
        m = self.machine
        m.log(
            f"{comm} invoked oom-killer: gfp_mask={gfp[0]:#x}({gfp[1]}), order={order}, "
            f"oom_score_adj={adj}"
        )
        if order:
            m.log("COMPACTION is disabled!!!")
        m.log("Mem-Info:")
        m.log(m.nommu.free_area_line())

    def _kill(self, victim: Process) -> None:
        """``__oom_kill_process``: SIGKILL to the victim and every user of its mm."""
        m = self.machine
        mm = victim.mm
        self.victims.add(victim.pid)
        sharers = [
            p
            for p in m.procs.values()
            if p is not victim
            and mm is not None
            and p.mm is mm
            and p.tgid != victim.tgid
            and p.state not in ("Z", "X")
        ]
        self.killed.add(victim.pid)
        if victim.state not in ("Z", "X"):
            victim.kill(SIGKILL)
        for p in sharers:
            if p.pid == 1:
                m.log(
                    f"oom killer {victim.pid} ({victim.comm}) has mm pinned by {p.pid} ({p.comm})"
                )
                continue
            if p.state not in ("Z", "X"):
                self.killed.add(p.pid)
                p.kill(SIGKILL)
        kmem = m.kmem
        if kmem is not None:
            kmem.rcu_flush()  # the retry sleeps: a grace period passes
