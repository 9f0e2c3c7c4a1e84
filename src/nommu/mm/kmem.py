"""The kernel's own memory per task and per mapping (kernel/fork.c, kernel/exit.c).

Every task costs the kernel a kernel stack of THREAD_SIZE, one block of the
buddy allocator (order 1 on 32-bit ARM, order 2 on RISC-V 64), and the
objects ``copy_process()`` makes: ``task_struct`` and its stack
(``dup_task_struct``), ``cred`` (``copy_creds``), ``files_struct``,
``fs_struct``, ``sighand_struct``, ``signal_struct`` and ``mm_struct``
unless a CLONE_* flag shares them, and a ``struct pid``. Every mapping
costs a ``vm_area_struct`` and, unless it shares one, a ``vm_region``
(mm/nommu.c ``do_mmap``). The objects live in :mod:`nommu.mm.slab`.

When they come back (the model follows the kernel's places):

- at exit (``do_exit``): ``files_struct``, ``fs_struct`` and
  ``sighand_struct`` with their last user; ``mm_struct`` with ``mmput``'s
  last user (also at exec, which makes a new one); the kernel stack once the
  dead task has scheduled away (``finish_task_switch`` → ``put_task_stack``,
  THREAD_INFO_IN_TASK), freed by an RCU callback (``thread_stack_free_rcu``);
- at reap (``release_task``): ``signal_struct``, ``cred``, ``pid`` and the
  ``task_struct``, the last through ``delayed_put_task_struct`` (RCU).

RCU grace periods: frees the kernel defers with ``call_rcu`` are queued and
done at the next system call any process makes (:meth:`KernelMemory.rcu_flush`;
on a uniprocessor a grace period ends at the next context switch, and the
model switches at system calls), and before the allocator retries after an
OOM kill (the retry sleeps). Until then the pages stay allocated, as the
real kernel showed: a vfork child's pages come back one grace period after
it is reaped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nommu.consts import CLONE_FILES, CLONE_FS, CLONE_SIGHAND, CLONE_THREAD, CLONE_VM
from nommu.errors import KernelBug
from nommu.mm.slab import OBJECT_SIZES, SlabAllocator

if TYPE_CHECKING:
    from nommu.mm.page_alloc import BuddyAllocator

#: gfp of the kernel stack: THREADINFO_GFP = GFP_KERNEL_ACCOUNT | __GFP_ZERO
GFP_THREADINFO = (0x400DC0, "GFP_KERNEL_ACCOUNT|__GFP_ZERO")
#: gfp of slab pages for the caches the model counts
GFP_KERNEL = (0xCC0, "GFP_KERNEL")

#: Allocates ``2**order`` pages for the kernel: ``(order, gfp, task) -> pfn`` or raises.
KernelPages = Callable[[int, tuple[int, str], object], int]


@dataclass(slots=True)
class TaskMemory:
    """What one task holds of the kernel's memory."""

    stack: int | None = None  # pfn of the kernel stack while the task has one
    at_reap: list[str] = field(default_factory=list)  # objects release_task frees
    objects: list[str] = field(default_factory=list)  # every object it was given (its share)


class KernelMemory:
    """Kernel stacks, slab caches and the RCU queue of one machine."""

    def __init__(
        self,
        zone: BuddyAllocator,
        arch: str,
        thread_size: int,
        page_size: int,
        *,
        slob: bool,
        pages: KernelPages,
    ) -> None:
        self.zone = zone
        self.page_size = page_size
        self.thread_size = thread_size
        self.stack_order = max(thread_size // page_size - 1, 0).bit_length()
        self.sizes = OBJECT_SIZES[arch]
        self.slab = SlabAllocator(self.sizes, page_size, slob=slob)
        self.pages = pages
        self.tasks: dict[int, TaskMemory] = {}  # by pid, until reaped
        self.rcu: list[tuple[int, int]] = []  # (pfn, order) freed after a grace period
        self.stacks = 0  # kernel stacks allocated (KernelStack)
        self.current: object = None  # the task allocating (for OOM reports)

    # -- the page source and sinks -----------------------------------------------------
    def _slab_page(self, order: int) -> int:
        return self.pages(order, GFP_KERNEL, self.current)

    def _free(self, pfn: int, order: int) -> None:
        self.zone.free_pages(pfn, order)

    def _defer(self, pfn: int, order: int) -> None:
        self.rcu.append((pfn, order))

    def rcu_flush(self) -> None:
        """A grace period has ended: run the queued RCU frees, oldest first."""
        queue, self.rcu = self.rcu, []
        for pfn, order in queue:
            self.zone.free_pages(pfn, order)

    def obj_alloc(self, name: str, task: object) -> None:
        """One object of cache *name* for *task* (its pages may run the OOM killer)."""
        self.current = task
        self.slab.alloc(name, self._slab_page)

    def obj_free(self, name: str, *, rcu: bool = False) -> None:
        self.slab.free(name, self._free, defer=self._defer if rcu else None)

    # -- tasks -------------------------------------------------------------------------
    def copy_process(self, task: object, flags: int, *, new_mm: bool) -> TaskMemory:
        """The allocations of ``copy_process()`` in its order; undone if one fails.

        *new_mm*: a new ``mm_struct`` (no CLONE_VM, or a task made from
        nothing such as init).
        """
        rec = TaskMemory()
        steps: list[str] = ["task_struct", "stack", "cred"]
        if not flags & CLONE_FILES:
            steps.append("files_struct")
        if not flags & CLONE_FS:
            steps.append("fs_struct")
        if not flags & CLONE_SIGHAND:
            steps.append("sighand_struct")
        if not flags & CLONE_THREAD:
            steps.append("signal_struct")
        if new_mm and not flags & CLONE_VM:
            steps.append("mm_struct")
        steps.append("pid")
        done: list[str] = []
        try:
            for name in steps:
                if name == "stack":
                    self.current = task
                    rec.stack = self.pages(self.stack_order, GFP_THREADINFO, task)
                    self.stacks += 1
                else:
                    self.obj_alloc(name, task)
                done.append(name)
        except BaseException:
            for name in reversed(done):
                if name == "stack":
                    assert rec.stack is not None
                    self.zone.free_pages(rec.stack, self.stack_order)
                    self.stacks -= 1
                else:
                    self.obj_free(name)
            raise
        rec.objects = [n for n in done if n != "stack"]
        rec.at_reap = [
            n for n in rec.objects if n in ("task_struct", "cred", "signal_struct", "pid")
        ]
        return rec

    def attach(self, pid: int, rec: TaskMemory) -> None:
        self.tasks[pid] = rec

    def exit_task(self, pid: int, *, files_last: bool, fs_last: bool, sighand_last: bool) -> None:
        """``do_exit``: the shared structures with their last user, the stack by RCU.

        The flags say whether this task was the last user of each shared
        structure (the model's counts before the exit drops them).
        """
        rec = self.tasks.get(pid)
        if rec is None:
            return
        for name, last in (
            ("files_struct", files_last),
            ("fs_struct", fs_last),
            ("sighand_struct", sighand_last),
        ):
            if last:
                self.obj_free(name)
        if rec.stack is not None:
            self._defer(rec.stack, self.stack_order)
            rec.stack = None
            self.stacks -= 1

    def release_task(self, pid: int) -> None:
        """``release_task`` (the reap): signal, cred, pid and, by RCU, the task_struct."""
        rec = self.tasks.pop(pid, None)
        if rec is None:
            return
        if rec.stack is not None:  # reaped without exiting (cannot happen in the model)
            raise KernelBug(f"task {pid} reaped with its kernel stack")
        for name in rec.at_reap:
            self.obj_free(name, rcu=name in ("task_struct", "pid"))

    # -- figures -----------------------------------------------------------------------
    def task_bytes(self, pid: int) -> int:
        """The kernel's bytes for task *pid*: its stack and the objects made for it."""
        rec = self.tasks.get(pid)
        if rec is None:
            return 0
        stack = self.thread_size if rec.stack is not None else 0
        return stack + sum(self.sizes[n] for n in rec.objects)

    def kernel_stack_pages(self) -> int:
        return self.stacks << self.stack_order

    def rcu_pages(self) -> int:
        return sum(1 << order for _, order in self.rcu)

    def spans(self) -> list[tuple[int, int, str]]:
        """Every page block the kernel holds: stacks, slabs and RCU-pending frees."""
        out = self.slab.spans()
        for pid, rec in self.tasks.items():
            if rec.stack is not None:
                out.append((rec.stack, rec.stack + (1 << self.stack_order), f"stack of {pid}"))
        out.extend((pfn, pfn + (1 << o), "RCU-pending free") for pfn, o in self.rcu)
        return out

    def validate(self) -> None:
        self.slab.validate()
        held = sum(1 for rec in self.tasks.values() if rec.stack is not None)
        if held != self.stacks:
            raise KernelBug(f"KernelStack counts {self.stacks} stacks, tasks hold {held}")
