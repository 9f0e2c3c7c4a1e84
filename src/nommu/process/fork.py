"""``fork``, ``vfork`` and ``clone``; ``mm_release`` and ``mmput`` (kernel/fork.c)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nommu.consts import (
    CLONE_FILES,
    CLONE_FS,
    CLONE_SIGHAND,
    CLONE_THREAD,
    CLONE_VFORK,
    CLONE_VM,
    SIGCHLD,
)
from nommu.errors import Errno, SyscallError
from nommu.mm.vma import MM
from nommu.process.task import SharedCount, TaskStruct

if TYPE_CHECKING:
    from nommu.machine import Machine
    from nommu.process import Process


def mmput(machine: Machine, mm: MM) -> None:
    """``mmput``: drop one user of *mm*; the last one runs ``exit_mmap``.

    The executable's write denial (``exe_file``) ends with the mm.
    """
    mm.mm_users -= 1
    if mm.mm_users == 0:
        machine.nommu.exit_mmap(mm)
        if machine.kmem is not None:
            machine.kmem.obj_free("mm_struct")
        exe = mm.exe_file
        if exe is not None:
            if exe.inode.i_writecount < 0:
                exe.inode.i_writecount += 1
            mm.exe_file = None
            exe.put()


class ForkCalls(TaskStruct):
    """New tasks, and the end of a task's use of its mm."""

    def fork(self) -> Process:
        """``fork()`` cannot work without an MMU: EINVAL (kernel/fork.c, !CONFIG_MMU)."""
        self._enter()
        raise SyscallError(Errno.EINVAL, "fork() is not supported without an MMU; use vfork()")

    def vfork(self) -> Process:
        """``vfork()`` = ``clone(CLONE_VM|CLONE_VFORK|SIGCHLD)``.

        The child runs in this process's mm (``mm_users`` + 1); this process
        is suspended (its system calls raise :class:`ProcessStateError`) until
        the child calls ``execve`` or exits.
        """
        return self.clone(CLONE_VM | CLONE_VFORK | SIGCHLD)

    def clone(self, flags: int) -> Process:
        """``clone()`` (kernel/fork.c ``copy_process``, NOMMU ``dup_mmap``).

        CLONE_VM shares the mm (threads, vfork). Without it the child gets a
        new mm holding no VMAs, only the executable (``dup_mmap`` on NOMMU
        copies ``exe_file`` and its write denial): nothing is copied, and what
        the child could run is undefined (hazard H13). CLONE_THREAD makes a
        thread of this process's group (it needs CLONE_SIGHAND, which needs
        CLONE_VM: EINVAL otherwise); threads are reaped when they exit.
        """
        self._enter()
        flags = self._uint("flags", flags, 0xFFFFFFFFFFFFFFFF)
        if flags & CLONE_THREAD and not flags & CLONE_SIGHAND:
            raise SyscallError(Errno.EINVAL, "CLONE_THREAD needs CLONE_SIGHAND")
        if flags & CLONE_SIGHAND and not flags & CLONE_VM:
            raise SyscallError(Errno.EINVAL, "CLONE_SIGHAND needs CLONE_VM")
        from nommu.process import Process

        m = self.machine
        rec = None
        if m.kmem is not None:  # dup_task_struct, copy_creds, copy_files, ... (may OOM)
            rec = m.kmem.copy_process(self, flags, new_mm=not flags & CLONE_VM)
        if flags & CLONE_VM:
            mm = self._mm()
            mm.mm_users += 1
        else:
            mm = m.nommu.new_mm()
            exe = self._mm().exe_file
            if exe is not None:
                exe.inode.i_writecount -= 1  # dup_mm_exe_file: deny_write_access
                mm.exe_file = exe.get()
        if flags & CLONE_FILES:
            files = self.files
            files.users += 1
        else:
            files = self.files.copy()
        thread = bool(flags & CLONE_THREAD)
        parent = self.parent if thread else self._process()
        child = Process(m, m.new_pid(), self.name, parent=None, mm=mm, files=files)
        if rec is not None and m.kmem is not None:
            m.kmem.attach(child.pid, rec)
        child.oom_score_adj = self.oom_score_adj  # copy_signal
        child.parent = parent
        if not thread:
            self.children.append(child)
        else:
            child.tgid = self.tgid
            m.threaded = True
        child.uid, child.gid, child.cwd = self.uid, self.gid, self.cwd
        child.argv, child.exe_path, child.image = self.argv, self.exe_path, self.image
        child.rlimit_fsize, child.rlimit_data = self.rlimit_fsize, self.rlimit_data
        child.fs = self.fs.share() if flags & CLONE_FS else SharedCount()
        child.sighand = self.sighand.share() if flags & CLONE_SIGHAND else SharedCount()
        m.procs[child.pid] = child
        if flags & CLONE_VFORK:
            self.vfork_child = child
            child.vfork_parent = self._process()
            self.state = "D"
            self.runnable = False
        return child

    def _release_vfork(self) -> None:
        """``mm_release`` → ``complete_vfork_done``: the vfork parent runs again."""
        parent = self.vfork_parent
        self.vfork_parent = None
        if parent is not None and parent.vfork_child is self:
            parent.vfork_child = None
            if parent.state == "D":
                parent.state = "R"
            parent._sync_runnable()

    def _mmput(self) -> None:
        """Drop this task's use of its mm; the last user tears it down."""
        mm = self.mm
        if mm is None:
            return
        self.mm = None
        mmput(self.machine, mm)
