"""Processes and their system calls.

System calls are methods named and ordered as in C (like Python's ``os``):
success returns the C return value (``None`` where C returns 0), failure
raises :class:`SyscallError` with the Linux errno. Arguments are taken as the
kernel takes them: lengths and addresses are unsigned longs, so a negative
Python int wraps as it would in C.

Without an MMU there is no ``fork``: ``vfork`` children run in the parent's
address space and the parent is suspended until the child calls ``execve``
or ``_exit``; calling a suspended parent's system calls is a usage error
(:class:`ProcessStateError`).

The system calls live in modules named after the kernel files that implement
them, as mixins of :class:`Process` over :class:`~nommu.process.task.TaskStruct`
(the fields they share): :mod:`~nommu.process.mman` (mm/nommu.c),
:mod:`~nommu.process.namei` (fs/namei.c), :mod:`~nommu.process.open` (fs/open.c),
:mod:`~nommu.process.read_write` (fs/read_write.c), :mod:`~nommu.process.file`
(fs/file.c, fs/pipe.c, net/socket.c), :mod:`~nommu.process.stat` (fs/stat.c),
:mod:`~nommu.process.fork` (kernel/fork.c), :mod:`~nommu.process.exec` (fs/exec.c),
:mod:`~nommu.process.exit` (kernel/exit.c) and :mod:`~nommu.process.shm`
(ipc/shm.c). The descriptor table is :mod:`nommu.fs.fdtable` (fs/file.c); the
``/proc/<pid>`` views are in :mod:`nommu.proc`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nommu.fs.fdtable import NR_OPEN_DEFAULT, FilesStruct
from nommu.mm.vma import MM
from nommu.proc.array import render_status
from nommu.proc.base import render_cmdline
from nommu.proc.task_nommu import (
    K_FILES,
    K_FS,
    K_MM,
    K_REGION,
    K_SIGHAND,
    K_TASK,
    K_VMA,
    task_mem,
    task_statm,
)
from nommu.process.exec import ExecCalls
from nommu.process.exit import ExitCalls
from nommu.process.file import FileCalls
from nommu.process.fork import mmput
from nommu.process.mman import MmanCalls
from nommu.process.read_write import ReadWriteCalls
from nommu.process.shm import ShmCalls
from nommu.process.stat import Stat, StatCalls
from nommu.process.task import ProcessStateError, SharedCount

if TYPE_CHECKING:
    from nommu.binfmt.exec import LoadedImage
    from nommu.machine import Machine

__all__ = [
    "K_FILES",
    "K_FS",
    "K_MM",
    "K_REGION",
    "K_SIGHAND",
    "K_TASK",
    "K_VMA",
    "NR_OPEN_DEFAULT",
    "FilesStruct",
    "Process",
    "ProcessStateError",
    "SharedCount",
    "Stat",
    "mmput",
]


class Process(MmanCalls, ShmCalls, StatCalls, ReadWriteCalls, FileCalls, ExecCalls, ExitCalls):
    """A task with an address space (``mm``) and a descriptor table."""

    def __init__(
        self,
        machine: Machine,
        pid: int,
        name: str,
        parent: Process | None,
        mm: MM | None = None,
        files: FilesStruct | None = None,
    ) -> None:
        self.machine = machine
        self.nommu = machine.nommu
        self.pid = pid
        self.tgid = pid
        self.name = name[:15]
        self.parent = parent
        self.mm: MM | None = mm if mm is not None else machine.nommu.new_mm()
        self.files = files if files is not None else FilesStruct()
        self.ptraced = False
        self.uid = 0
        self.gid = 0
        self.umask_bits = 0o022  # current->fs->umask
        self.cwd = "/"
        self.state = "R"
        self.runnable = True  # may make system calls (not suspended in vfork, not exited)
        self.exit_code: int | None = None
        self.children: list[Process] = []
        self.vfork_child: Process | None = None  # child we wait for in vfork
        self.vfork_parent: Process | None = None  # parent suspended for us
        self.rlimit_fsize: int | None = None
        self.rlimit_data: int | None = None
        self.argv: tuple[str, ...] = ()
        self.exe_path: str | None = None
        self.image: LoadedImage | None = None  # what the last execve loaded
        self.exit_signal = 0  # the fatal signal that ended the task, 0 for _exit
        self.fs = SharedCount()
        self.sighand = SharedCount()
        self.oom_score_adj = 0  # signal->oom_score_adj (/proc/<pid>/oom_score_adj)
        if parent is not None:
            parent.children.append(self)

    # -- /proc --------------------------------------------------------------------------
    def render_status(self, reader: object | None) -> str:
        """``/proc/<pid>/status``: see :func:`nommu.proc.array.render_status`."""
        return render_status(self, reader)

    def task_mem(self, reader: object | None) -> str:
        """The NOMMU ``task_mem``: see :func:`nommu.proc.task_nommu.task_mem`.

        A read from outside the machine (``Machine.cat``) counts the target.
        """
        return task_mem(self, reader if isinstance(reader, Process) else self)

    def render_statm(self) -> str:
        """``/proc/<pid>/statm``: see :func:`nommu.proc.task_nommu.task_statm`."""
        return task_statm(self)

    def render_cmdline(self) -> str:
        """``/proc/<pid>/cmdline``: see :func:`nommu.proc.base.render_cmdline`."""
        return render_cmdline(self)
