"""``open``, ``close``, ``truncate``, ``chmod`` and ``chown`` (fs/open.c).

Errors come in the kernel's order (``do_sys_open`` → ``may_open``,
``do_sys_truncate``, ``chmod_common``, ``chown_common``).
"""

from __future__ import annotations

from typing import Any

from nommu.consts import (
    O_ACCMODE,
    O_CLOEXEC,
    O_CREAT,
    O_DIRECTORY,
    O_EXCL,
    O_RDONLY,
    O_RDWR,
    O_TRUNC,
    O_WRONLY,
    S_IFMT,
)
from nommu.errors import Errno, SyscallError
from nommu.fs.vfs import FMODE_READ, FMODE_WRITE, open_file
from nommu.process.namei import NameiCalls
from nommu.profiles import O_DIRECTORY_CREAT_EINVAL, O_DIRECTORY_CREAT_ENOTDIR


class OpenCalls(NameiCalls):
    """Opening, closing and changing the attributes of files."""

    def open(self, path: str, flags: int, mode: int = 0o644) -> int:
        """``open()``: EISDIR, EROFS, EACCES, ETXTBSY in the kernel's order."""
        self._enter()
        path = self._path(path)
        if isinstance(flags, bool) or not isinstance(flags, int):
            raise TypeError(f"flags: expected an int, got {type(flags).__name__}")
        kernel = self.machine.kernel
        if flags & (O_DIRECTORY | O_CREAT) == O_DIRECTORY | O_CREAT and kernel.has(
            O_DIRECTORY_CREAT_EINVAL
        ):  # build_open_flags(), v6.4+
            raise SyscallError(Errno.EINVAL, "O_DIRECTORY | O_CREAT")
        acc = flags & O_ACCMODE
        # build_open_flags(): ACC_MODE() asks read and write permission for access mode
        # 3 (which opens for neither, OPEN_FMODE()), and O_TRUNC adds MAY_WRITE
        may = (4 if acc != O_WRONLY else 0) | (2 if acc != O_RDONLY or flags & O_TRUNC else 0)
        created = False
        if flags & O_CREAT:
            parent, name = self._lookup_parent(path)
            assert parent.inode.children is not None
            existing = parent.inode.children.get(name)
            if existing is not None and flags & O_EXCL:
                raise SyscallError(Errno.EEXIST, f"{path} exists")
            if existing is None:
                if parent.mount.ro:
                    raise SyscallError(Errno.EROFS, f"{parent.path} is read-only")
                if not self._may(parent.inode, 3):
                    raise SyscallError(Errno.EACCES, f"cannot create in {parent.path}")
                inode = parent.mount.sb.create(parent.inode, name, mode & 0o7777 & ~self.umask_bits)
                inode.i_uid, inode.i_gid = self.uid, self.gid
                created = True
            found = self._lookup(path)
        else:
            found = self._lookup(path)
        inode = found.inode
        if (
            flags & O_DIRECTORY
            and not inode.is_dir()
            and (not created or kernel.has(O_DIRECTORY_CREAT_ENOTDIR))
        ):  # do_open(); before v5.7 a file just created skipped the check
            raise SyscallError(Errno.ENOTDIR, f"{found.path} is not a directory")
        write = acc in (O_WRONLY, O_RDWR)  # FMODE_WRITE
        if inode.is_dir() and (may & 2 or flags & O_CREAT):
            raise SyscallError(Errno.EISDIR, f"{found.path} is a directory")
        # do_open(): O_TRUNC of an existing regular file truncates whatever the access
        # mode, after mnt_want_write() (EROFS) and with handle_truncate()'s write access
        truncate = bool(flags & O_TRUNC) and not created and inode.is_reg()
        if not created:
            if truncate and found.mount.ro:
                raise SyscallError(Errno.EROFS, f"{found.path} is on a read-only filesystem")
            if may & 2 and found.mount.ro and inode.file_type in (0o100000, 0o040000, 0o120000):
                raise SyscallError(Errno.EROFS, f"{found.path} is on a read-only filesystem")
            if not self._may(inode, may):
                raise SyscallError(Errno.EACCES, f"permission denied: {found.path}")
        if (write or truncate) and inode.i_writecount < 0:
            raise SyscallError(Errno.ETXTBSY, f"{found.path} is a running executable")
        fmode = (FMODE_READ if acc in (O_RDONLY, O_RDWR) else 0) | (FMODE_WRITE if write else 0)
        f = open_file(inode, found.mount, found.path, flags, fmode, self)
        if write:
            inode.i_writecount += 1
        if truncate and inode.i_size:
            try:
                self._truncate_inode(found.mount, inode, 0)
            except SyscallError:
                f.put()
                raise
        try:
            return self.files.install(f, cloexec=bool(flags & O_CLOEXEC))
        except SyscallError:
            f.put()
            raise

    def close(self, fd: int) -> None:
        self._enter()
        f = self._fget(fd)
        del self.files.fds[fd]
        self.files.cloexec.discard(fd)
        f.put()

    def ftruncate(self, fd: int, length: int) -> None:
        """``ftruncate()``: EINVAL (negative), EBADF, EINVAL (not a writable regular file)."""
        self._enter()
        if length < 0:
            raise SyscallError(Errno.EINVAL, "negative length")
        f = self._fget(fd)
        if not f.f_mode & FMODE_WRITE or not f.inode.is_reg():
            raise SyscallError(Errno.EINVAL, "fd not open for writing a regular file")
        if f.inode.append_only:
            raise SyscallError(Errno.EPERM, "append-only file")
        self._truncate_inode(f.mount, f.inode, length)

    def truncate(self, path: str, length: int) -> None:
        """``truncate()`` by path: EISDIR, EROFS, EACCES, ETXTBSY."""
        self._enter()
        if length < 0:
            raise SyscallError(Errno.EINVAL, "negative length")
        found = self._lookup(path)
        inode = found.inode
        if inode.is_dir():
            raise SyscallError(Errno.EISDIR, f"{found.path} is a directory")
        if not inode.is_reg():
            raise SyscallError(Errno.EINVAL, f"{found.path} is not a regular file")
        if found.mount.ro:
            raise SyscallError(Errno.EROFS, f"{found.path} is on a read-only filesystem")
        if not self._may(inode, 2):
            raise SyscallError(Errno.EACCES, f"permission denied: {found.path}")
        if inode.i_writecount < 0:
            raise SyscallError(Errno.ETXTBSY, f"{found.path} is a running executable")
        self._truncate_inode(found.mount, inode, length)

    def _truncate_inode(self, mount: Any, inode: Any, length: int) -> None:
        if self.rlimit_fsize is not None and length > self.rlimit_fsize:
            raise SyscallError(Errno.EFBIG, "RLIMIT_FSIZE exceeded (SIGXFSZ)")
        if mount is not None and mount.ro:
            raise SyscallError(Errno.EROFS, "read-only filesystem")
        inode.i_sb.setattr_size(inode, length)

    def chmod(self, path: str, mode: int) -> None:
        """``chmod()``: EROFS, then EPERM unless the caller owns the file (or is root)."""
        self._enter()
        found = self._lookup(path)
        inode = found.inode
        if found.mount.ro:
            raise SyscallError(Errno.EROFS, f"{found.path} is on a read-only filesystem")
        if self.uid != 0 and self.uid != inode.i_uid:
            raise SyscallError(Errno.EPERM, f"{found.path}: not the owner")
        inode.i_mode = (inode.i_mode & S_IFMT) | (mode & 0o7777)

    def chown(self, path: str, uid: int, gid: int) -> None:
        """``chown()``: EROFS; EPERM unless root, or the owner keeping the uid and
        choosing its own group (-1 leaves an id unchanged)."""
        self._enter()
        found = self._lookup(path)
        inode = found.inode
        if found.mount.ro:
            raise SyscallError(Errno.EROFS, f"{found.path} is on a read-only filesystem")
        new_uid = inode.i_uid if uid == -1 else uid
        new_gid = inode.i_gid if gid == -1 else gid
        if self.uid != 0:
            if self.uid != inode.i_uid or new_uid != inode.i_uid:
                raise SyscallError(Errno.EPERM, f"{found.path}: only root may give files away")
            if new_gid not in (inode.i_gid, self.gid):
                raise SyscallError(Errno.EPERM, f"{found.path}: not a member of group {new_gid}")
        inode.i_uid, inode.i_gid = new_uid, new_gid
        if not inode.is_dir():  # ATTR_KILL_SUID | ATTR_KILL_SGID
            inode.i_mode &= ~0o4000
            if inode.i_mode & 0o010:
                inode.i_mode &= ~0o2000
