"""``struct task_struct``: the state every system call of a task reads.

:class:`TaskStruct` declares the attributes the system-call modules of this
package share (``Process.__init__`` sets them) and the helpers every system
call starts with: the runnable check, the address space, argument checks and
``fget``. The system calls themselves live in modules named after the kernel
files that implement them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from nommu.errors import Errno, NommuError, SyscallError
from nommu.fs.vfs import File
from nommu.mm.vma import MM

if TYPE_CHECKING:
    from nommu.binfmt.exec import LoadedImage
    from nommu.fs.fdtable import FilesStruct
    from nommu.machine import Machine
    from nommu.mm.nommu import Nommu
    from nommu.process import Process


class ProcessStateError(NommuError):
    """A system call was made on a process that cannot run now."""


class SharedCount:
    """A per-task kernel object that CLONE_* flags share (``fs_struct``, ``sighand_struct``)."""

    __slots__ = ("users",)

    def __init__(self) -> None:
        self.users = 1

    def share(self) -> SharedCount:
        self.users += 1
        return self


class TaskStruct:
    """The per-task fields (set by ``Process.__init__``) and the system-call prologue."""

    machine: Machine
    nommu: Nommu
    pid: int
    tgid: int
    name: str
    parent: Process | None
    mm: MM | None
    files: FilesStruct
    ptraced: bool
    uid: int
    gid: int
    umask_bits: int  # current->fs->umask
    cwd: str
    state: str
    runnable: bool  # may make system calls (not suspended in vfork, not exited)
    oom_score_adj: int  # signal->oom_score_adj (/proc/<pid>/oom_score_adj)
    exit_code: int | None
    children: list[Process]
    vfork_child: Process | None  # child we wait for in vfork
    vfork_parent: Process | None  # parent suspended for us
    rlimit_fsize: int | None
    rlimit_data: int | None
    argv: tuple[str, ...]
    exe_path: str | None
    image: LoadedImage | None  # what the last execve loaded
    exit_signal: int  # the fatal signal that ended the task, 0 for _exit
    fs: SharedCount
    sighand: SharedCount

    def _process(self) -> Process:
        """This task as the :class:`~nommu.process.Process` it is (these classes are its bases)."""
        return cast("Process", self)

    # -- identity -----------------------------------------------------------------------
    @property
    def comm(self) -> str:
        return self.name

    @property
    def cap_sys_rawio(self) -> bool:
        return self.uid == 0

    def __repr__(self) -> str:
        return f"<Process {self.pid} {self.name} {self.state}>"

    def _enter(self) -> None:
        """Every system call starts here: the caller must be able to run."""
        if self.vfork_child is not None:
            raise ProcessStateError(
                f"process {self.pid} is suspended in vfork() until child "
                f"{self.vfork_child.pid} calls execve() or _exit()"
            )
        if self.state in ("Z", "X"):
            raise ProcessStateError(f"process {self.pid} has exited")
        self.machine.nommu.current = self
        self.machine.rcu_quiescent()

    def _mm(self) -> MM:
        mm = self.mm
        if mm is None:
            raise ProcessStateError(f"process {self.pid} has no address space")
        return mm

    @staticmethod
    def _uint(name: str, value: object, mask: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
        return value & mask

    @staticmethod
    def _check_ints(**values: object) -> None:
        for name, value in values.items():
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name}: expected an int, got {type(value).__name__}")

    def _fget(self, fd: int) -> File:
        if isinstance(fd, bool) or not isinstance(fd, int):
            raise TypeError(f"fd: expected an int, got {type(fd).__name__}")
        f = self.files.fds.get(fd)
        if f is None:
            raise SyscallError(Errno.EBADF, f"fd {fd} is not open")
        return f

    def _sync_runnable(self) -> None:
        """Keep :attr:`runnable` (read on the system-call fast path) in step with the state."""
        self.runnable = self.vfork_child is None and self.state not in ("Z", "X")

    def umask(self, mask: int) -> int:
        """``umask()``: set the file creation mask; returns the old one."""
        self._enter()
        old = self.umask_bits
        self.umask_bits = mask & 0o777
        return old
