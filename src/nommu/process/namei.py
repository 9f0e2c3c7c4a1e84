"""Path walks and directory-entry system calls as this task (fs/namei.c).

``generic_permission`` with root's override, the walk with ``may_lookup``,
and ``unlink``, ``mkdir`` and ``link`` in ``do_unlinkat``/``do_mkdirat``/
``do_linkat`` order.
"""

from __future__ import annotations

from typing import Any

from nommu.errors import Errno, SyscallError
from nommu.fs.vfs import Inode
from nommu.process.task import TaskStruct


class NameiCalls(TaskStruct):
    """Path lookup as this task, and the calls that change directory entries."""

    def _path(self, path: str) -> str:
        if not isinstance(path, str):
            raise TypeError(f"path: expected str, got {type(path).__name__}")
        if path == "/proc/self" or path.startswith("/proc/self/"):
            return f"/proc/{self.pid}" + path[len("/proc/self") :]
        return path

    def _may(self, inode: Inode, mask: int) -> bool:
        """``generic_permission`` with root's override (mask: 4 r, 2 w, 1 x)."""
        mode: int = inode.i_mode
        if self.uid == 0:
            if mask & 1 and not inode.is_dir():
                return bool(mode & 0o111)
            return True
        if self.uid == inode.i_uid:
            bits = (mode >> 6) & 7
        elif self.gid == inode.i_gid:
            bits = (mode >> 3) & 7
        else:
            bits = mode & 7
        return bits & mask == mask

    def _may_search(self, inode: Inode) -> bool:
        """``may_lookup``: MAY_EXEC on a directory the path walk goes through."""
        return self._may(inode, 1)

    def _lookup(self, path: str, *, follow: bool = True) -> Any:
        """Path walk as this process (EACCES for a directory it may not search)."""
        return self.machine.ns.lookup(
            self._path(path), self.cwd, follow=follow, search=self._may_search
        )

    def _lookup_parent(self, path: str) -> Any:
        return self.machine.ns.lookup_parent(self._path(path), self.cwd, search=self._may_search)

    def unlink(self, path: str) -> None:
        """``unlink()``: EROFS, ENOENT, EACCES, EPERM (sticky directory), EISDIR."""
        self._enter()
        parent, name = self._lookup_parent(path)
        assert parent.inode.children is not None
        if parent.mount.ro:
            raise SyscallError(Errno.EROFS, "read-only filesystem")
        inode = parent.inode.children.get(name)
        if inode is None or parent.path + "/" + name in self.machine.ns.mounts:
            if inode is None:
                raise SyscallError(Errno.ENOENT, f"{path} does not exist")
            raise SyscallError(Errno.EBUSY, f"{path} is a mount point")
        if not self._may(parent.inode, 3):
            raise SyscallError(Errno.EACCES, f"cannot remove from {parent.path}")
        if (
            parent.inode.i_mode & 0o1000
            and self.uid != 0
            and inode.i_uid != self.uid
            and parent.inode.i_uid != self.uid
        ):
            raise SyscallError(Errno.EPERM, f"{path}: sticky directory, not the owner")
        if inode.is_dir():
            raise SyscallError(Errno.EISDIR, f"{path} is a directory")
        del parent.inode.children[name]
        inode.i_nlink -= 1
        if inode.i_nlink == 0 and inode.i_count == 0:
            inode.i_sb.evict_inode(inode)

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        self._enter()
        parent, name = self._lookup_parent(path)
        assert parent.inode.children is not None
        if name in parent.inode.children:
            raise SyscallError(Errno.EEXIST, f"{path} exists")
        if parent.mount.ro:
            raise SyscallError(Errno.EROFS, "read-only filesystem")
        if not self._may(parent.inode, 3):
            raise SyscallError(Errno.EACCES, f"cannot create in {parent.path}")
        inode = parent.mount.sb.mkdir(parent.inode, name, mode & 0o7777 & ~self.umask_bits)
        inode.i_uid, inode.i_gid = self.uid, self.gid

    def link(self, oldpath: str, newpath: str) -> None:
        """``link()``: EEXIST, EROFS, EXDEV, EACCES, EPERM (directory), as ``do_linkat``."""
        self._enter()
        old = self._lookup(oldpath, follow=False)
        parent, name = self._lookup_parent(newpath)
        assert parent.inode.children is not None
        if name in parent.inode.children:
            raise SyscallError(Errno.EEXIST, f"{newpath} exists")
        if parent.mount.ro:
            raise SyscallError(Errno.EROFS, "read-only filesystem")
        if parent.mount is not old.mount:
            raise SyscallError(Errno.EXDEV, "cross-device link")
        if not self._may(parent.inode, 3):
            raise SyscallError(Errno.EACCES, f"cannot create in {parent.path}")
        if old.inode.is_dir():
            raise SyscallError(Errno.EPERM, "hard links to directories are not allowed")
        parent.inode.children[name] = old.inode
        old.inode.i_nlink += 1
