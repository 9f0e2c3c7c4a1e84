"""``read``, ``write``, their positional forms and ``lseek`` (fs/read_write.c)."""

from __future__ import annotations

from nommu.consts import O_APPEND, S_IFIFO, S_IFMT, S_IFSOCK, SEEK_CUR, SEEK_END, SEEK_SET
from nommu.errors import Errno, SyscallError
from nommu.fs.vfs import FMODE_READ, FMODE_WRITE, File
from nommu.process.task import TaskStruct


class ReadWriteCalls(TaskStruct):
    """Data in and out of open files."""

    def read(self, fd: int, count: int) -> bytes:
        self._enter()
        f = self._fget(fd)
        data = self._read(f, count, f.f_pos)
        f.f_pos += len(data)
        return data

    @staticmethod
    def _no_seek(f: File) -> None:
        """Pipes, FIFOs and sockets have no file position (``no_llseek``, no FMODE_PREAD)."""
        if (f.inode.i_mode & S_IFMT) in (S_IFIFO, S_IFSOCK):
            raise SyscallError(Errno.ESPIPE, f"{f.path} has no file position")

    def pread(self, fd: int, count: int, offset: int) -> bytes:
        self._enter()
        f = self._fget(fd)
        self._no_seek(f)
        if offset < 0:
            raise SyscallError(Errno.EINVAL, "negative offset")
        return self._read(f, count, offset)

    def _read(self, f: File, count: int, pos: int) -> bytes:
        if not f.f_mode & FMODE_READ:
            raise SyscallError(Errno.EBADF, "not open for reading")
        if f.inode.is_dir():
            raise SyscallError(Errno.EISDIR, f"{f.path} is a directory")
        if count < 0:
            raise SyscallError(Errno.EINVAL, "negative count")
        return f.f_op.read(f, count, pos)

    def write(self, fd: int, data: bytes) -> int:
        self._enter()
        f = self._fget(fd)
        pos = f.inode.i_size if f.f_flags & O_APPEND else f.f_pos
        n = self._write(f, data, pos)
        f.f_pos = pos + n
        return n

    def pwrite(self, fd: int, data: bytes, offset: int) -> int:
        self._enter()
        f = self._fget(fd)
        self._no_seek(f)
        if offset < 0:
            raise SyscallError(Errno.EINVAL, "negative offset")
        return self._write(f, data, offset)

    def _write(self, f: File, data: bytes, pos: int) -> int:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data: expected bytes, got {type(data).__name__}")
        if not f.f_mode & FMODE_WRITE:
            raise SyscallError(Errno.EBADF, "not open for writing")
        if self.rlimit_fsize is not None and pos + len(data) > self.rlimit_fsize:
            if pos >= self.rlimit_fsize:
                raise SyscallError(Errno.EFBIG, "RLIMIT_FSIZE exceeded (SIGXFSZ)")
            data = bytes(data[: self.rlimit_fsize - pos])
        return f.f_op.write(f, bytes(data), pos)

    def lseek(self, fd: int, offset: int, whence: int) -> int:
        self._enter()
        f = self._fget(fd)
        self._no_seek(f)
        if whence == SEEK_SET:
            pos = offset
        elif whence == SEEK_CUR:
            pos = f.f_pos + offset
        elif whence == SEEK_END:
            pos = f.inode.i_size + offset
        else:
            raise SyscallError(Errno.EINVAL, "bad whence")
        if pos < 0:
            raise SyscallError(Errno.EINVAL, "negative position")
        f.f_pos = pos
        return pos
