"""Descriptor-making system calls: ``dup``/``dup2`` (fs/file.c), ``pipe``
(fs/pipe.c), ``socket`` (net/socket.c)."""

from __future__ import annotations

from nommu.consts import O_CLOEXEC, O_NONBLOCK
from nommu.errors import Errno, SyscallError
from nommu.process.task import TaskStruct


class FileCalls(TaskStruct):
    """New descriptors for existing files, pipes and sockets."""

    def dup(self, fd: int) -> int:
        self._enter()
        f = self._fget(fd)
        return self.files.install(f.get())

    def dup2(self, oldfd: int, newfd: int) -> int:
        self._enter()
        f = self._fget(oldfd)
        if oldfd == newfd:
            return newfd
        old = self.files.fds.pop(newfd, None)
        self.files.fds[newfd] = f.get()
        self.files.cloexec.discard(newfd)
        if old is not None:
            old.put()
        return newfd

    def pipe(self) -> tuple[int, int]:
        """``pipe()``: ``(read end, write end)``; a pipe cannot be mapped (ENODEV)."""
        return self.pipe2(0)

    def pipe2(self, flags: int) -> tuple[int, int]:
        """``pipe2()`` with ``O_NONBLOCK`` (``O_CLOEXEC`` accepted); EINVAL for others."""
        from nommu.fs.pipe import create_pipe

        self._enter()
        if flags & ~(O_NONBLOCK | O_CLOEXEC):
            raise SyscallError(Errno.EINVAL, f"pipe2 flags {flags:#o}")
        rf, wf = create_pipe(self.machine, flags, self.uid, self.gid)
        try:
            rfd = self.files.install(rf)
        except SyscallError:
            rf.put()
            wf.put()
            raise
        try:
            wfd = self.files.install(wf)
        except SyscallError:
            del self.files.fds[rfd]
            rf.put()
            wf.put()
            raise
        return rfd, wfd

    def socket(self, domain: int, type: int, protocol: int = 0) -> int:
        """``socket()``: an unconnected AF_UNIX socket; its mmap is EINVAL."""
        from nommu.fs.sockfs import create_socket

        self._enter()
        f = create_socket(self.machine, domain, type, protocol, self.uid, self.gid)
        try:
            return self.files.install(f)
        except SyscallError:
            f.put()
            raise
