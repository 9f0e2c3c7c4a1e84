"""``execve`` and what it does to the task (fs/exec.c: ``unshare_files``, ``de_thread``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from nommu.consts import SIGKILL
from nommu.process.task import TaskStruct

if TYPE_CHECKING:
    from nommu.process import Process


class ExecCalls(TaskStruct):
    """A new program in this task."""

    def execve(
        self, path: str, argv: Sequence[str | bytes] = (), envp: Sequence[str | bytes] = ()
    ) -> None:
        """Replace this process's program (fs/exec.c; loaders bFLT and ELF-FDPIC).

        See :mod:`nommu.binfmt.exec`: errors before the point of no return
        leave the process as it was; after it the process is killed by
        SIGSEGV (``wait`` reports signal 11) and SyscallError is raised.
        On success a ``vfork`` parent resumes, ``/proc/<pid>/cmdline`` shows
        *argv* and :attr:`image` describes what was loaded.
        """
        self._enter()
        from nommu.binfmt.exec import do_execve

        argv_t = tuple(argv)
        self.image = do_execve(self._process(), path, argv_t, tuple(envp))
        self.argv = tuple(
            a if isinstance(a, str) else a.decode("utf-8", "surrogateescape") for a in argv_t
        )

    def unshare_files(self) -> None:
        """``unshare_files`` at exec: a descriptor table shared by CLONE_FILES is copied."""
        if self.files.users > 1:
            self.files.users -= 1
            self.files = self.files.copy()

    def de_thread(self) -> None:
        """``de_thread`` at exec: the other threads of the group are killed and reaped.

        The exec'ing thread becomes the group leader (keeping its own pid).
        Without a thread on the machine every group is one task: nothing to do.
        """
        if not self.machine.threaded:
            return
        others = [
            p
            for p in self.machine.procs.values()
            if p is not self and p.tgid == self.tgid and p.state not in ("Z", "X")
        ]
        for p in others:
            p._do_exit(0, SIGKILL, reap=p.pid != p.tgid)
        if self.tgid != self.pid:
            leader = self.machine.procs.get(self.tgid)
            if leader is not None and leader.state == "Z":
                self._adopt_slot_of(leader)
            self.tgid = self.pid
            for p in self.machine.procs.values():
                if p is not self and p.tgid == self.tgid:
                    p.tgid = self.pid

    def _adopt_slot_of(self, leader: Process) -> None:
        parent = leader.parent
        if parent is not None and leader in parent.children:
            parent.children[parent.children.index(leader)] = self._process()
        self.parent = parent
        self.machine.release_task(leader)
        leader.state = "X"
        leader.runnable = False
