"""``_exit``, fatal signals and ``wait`` (kernel/exit.c ``do_exit``, ``do_group_exit``,
``wait_task_zombie``)."""

from __future__ import annotations

from nommu.errors import Errno, SyscallError
from nommu.fs.fdtable import FilesStruct
from nommu.process.fork import ForkCalls
from nommu.process.task import ProcessStateError


class ExitCalls(ForkCalls):
    """The end of a task and its reaping."""

    def exit(self, status: int = 0) -> None:
        """``_exit()`` (``exit_group``): every thread of the group exits.

        The mm is released (``exit_mm``: the last user runs ``exit_mmap``;
        a vfork parent resumes), then the descriptor table; children are
        handed to pid 1; the process stays a zombie until its parent reaps
        it with :meth:`wait` (a process without a parent is reaped at once).
        """
        if self.state in ("Z", "X"):
            raise ProcessStateError(f"process {self.pid} has already exited")
        if self.vfork_child is not None:
            raise ProcessStateError(f"process {self.pid} is suspended in vfork()")
        self._exit_group(status & 0xFF, 0)

    def kill(self, signo: int) -> None:
        """Terminate by a fatal signal (as SIGKILL or an uncaught SIGSEGV would).

        Unlike :meth:`exit` this also works on a parent suspended in vfork
        (a fatal signal ends the wait). ``wait`` reports the signal number.
        """
        if self.state in ("Z", "X"):
            raise ProcessStateError(f"process {self.pid} has already exited")
        if not 0 < signo < 65:
            raise ValueError(f"signo: must be a signal number 1..64, got {signo}")
        if self.vfork_child is not None:
            self.vfork_child.vfork_parent = None
            self.vfork_child = None
        self._exit_group(0, signo)

    def _exit_group(self, code: int, signo: int) -> None:
        if self.machine.threaded:  # else every thread group is this one task
            for p in list(self.machine.procs.values()):
                if p is not self and p.tgid == self.tgid and p.state not in ("Z", "X"):
                    p.vfork_child = None
                    p._do_exit(code, signo, reap=p.pid != p.tgid)
        self._do_exit(code, signo, reap=self.pid != self.tgid)

    def _do_exit(self, code: int, signo: int, *, reap: bool) -> None:
        """``do_exit`` for one task; *reap* for threads (no zombie is left)."""
        self.machine.nommu.current = self
        self.machine.task_exit(self._process())
        self._mmput()
        self.files.users -= 1
        if self.files.users == 0:
            self.files.close_all()
        self.files = FilesStruct()
        self.fs.users -= 1
        self.sighand.users -= 1
        self._release_vfork()
        self.exit_code = code
        self.exit_signal = signo
        self.state = "Z"
        self.runnable = False
        init = self.machine.procs.get(1)
        heir = (
            init if init is not None and init is not self and init.state not in ("Z", "X") else None
        )
        for child in self.children:
            child.parent = heir
            if heir is not None:
                heir.children.append(child)
            elif child.state == "Z":
                self.machine.release_task(child)
                child.state = "X"
        self.children = []
        if reap or self.parent is None:
            if self.parent is not None and self in self.parent.children:
                self.parent.children.remove(self)
            self.machine.release_task(self._process())
            self.state = "X"

    def wait(self) -> tuple[int, int]:
        """``wait()``: reap an exited child; returns ``(pid, wait status)``.

        The status is ``code << 8`` after ``_exit(code)`` and the signal
        number after a fatal signal, as ``WEXITSTATUS``/``WTERMSIG`` read it.
        ECHILD without children; a child that has not exited yet would make
        the caller sleep, which the model reports as :class:`ProcessStateError`.
        """
        self._enter()
        if not self.children:
            raise SyscallError(Errno.ECHILD, "no children")
        for child in self.children:
            if child.state == "Z":
                self.children.remove(child)
                child.state = "X"
                self.machine.release_task(child)
                if child.exit_signal:
                    return child.pid, child.exit_signal & 0x7F
                return child.pid, (child.exit_code or 0) << 8
        raise ProcessStateError(
            f"process {self.pid} would block in wait(): no child has exited yet"
        )
