"""``struct files_struct``: a task's descriptor table (fs/file.c, include/linux/fdtable.h)."""

from __future__ import annotations

from nommu.errors import Errno, SyscallError
from nommu.fs.vfs import File

NR_OPEN_DEFAULT = 1024


class FilesStruct:
    """``struct files_struct``: the descriptor table (shared with CLONE_FILES).

    ``cloexec`` holds the descriptors closed by ``execve`` (``close_on_exec``).
    """

    __slots__ = ("cloexec", "fds", "users")

    def __init__(self) -> None:
        self.fds: dict[int, File] = {}
        self.cloexec: set[int] = set()
        self.users = 1

    def install(self, f: File, lowest: int = 0, *, cloexec: bool = False) -> int:
        fd = lowest
        while fd in self.fds:
            fd += 1
        if fd >= NR_OPEN_DEFAULT:
            raise SyscallError(Errno.EMFILE, "too many open files")
        self.fds[fd] = f
        if cloexec:
            self.cloexec.add(fd)
        else:
            self.cloexec.discard(fd)
        return fd

    def copy(self) -> FilesStruct:
        new = FilesStruct()
        for fd, f in self.fds.items():
            new.fds[fd] = f.get()
        new.cloexec = set(self.cloexec)
        return new

    def close_on_exec(self) -> None:
        """``do_close_on_exec``: close every descriptor marked close-on-exec."""
        for fd in sorted(self.cloexec):
            f = self.fds.pop(fd, None)
            if f is not None:
                f.put()
        self.cloexec.clear()

    def close_all(self) -> None:
        fds, self.fds = self.fds, {}
        self.cloexec.clear()
        for fd in sorted(fds):
            fds[fd].put()
