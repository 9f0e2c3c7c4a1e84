"""The mount table and path lookup (models fs/namei.c and fs/namespace.c, in brief).

Paths are resolved component by component from the root mount, crossing into
a mount's root where a directory is a mountpoint and following symbolic links
(at most 40, then ELOOP). Each successful lookup yields the mount, the inode
and the absolute path that /proc prints for a mapping of the file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from nommu.consts import S_IFDIR
from nommu.errors import Errno, SyscallError
from nommu.fs.vfs import Inode, Mount

MAX_SYMLINKS = 40
NAME_MAX = 255
PATH_MAX = 4096


@dataclass(frozen=True, slots=True)
class Lookup:
    """The result of a path walk."""

    mount: Mount
    inode: Inode
    path: str


def split_path(path: str, cwd: str = "/") -> list[str]:
    """Absolute components of *path*, with ``.`` and ``..`` folded lexically."""
    if not isinstance(path, str):
        raise TypeError(f"path: expected str, got {type(path).__name__}")
    if len(path) >= PATH_MAX:
        raise SyscallError(Errno.ENAMETOOLONG, "path too long")
    if not path:
        raise SyscallError(Errno.ENOENT, "empty path")
    full = path if path.startswith("/") else cwd.rstrip("/") + "/" + path
    parts: list[str] = []
    for comp in full.split("/"):
        if comp in ("", "."):
            continue
        if len(comp) > NAME_MAX:
            raise SyscallError(Errno.ENAMETOOLONG, f"name too long: {comp[:20]}...")
        if comp == "..":
            if parts:
                parts.pop()
            continue
        parts.append(comp)
    return parts


def join(parts: list[str]) -> str:
    return "/" + "/".join(parts)


class Namespace:
    """The machine's mount table."""

    def __init__(self, root: Mount) -> None:
        self.mounts: dict[str, Mount] = {"/": root}
        root.path = "/"

    @property
    def root(self) -> Mount:
        return self.mounts["/"]

    def add_mount(self, mount: Mount, target: str) -> None:
        """Mount *mount* over the directory *target* (which must exist)."""
        parts = split_path(target)
        path = join(parts)
        if path in self.mounts:
            raise ValueError(f"target: {path} is already a mountpoint")
        found = self.lookup(path)
        if not found.inode.is_dir():
            raise ValueError(f"target: {path} is not a directory")
        mount.path = path
        self.mounts[path] = mount

    def mount_of(self, path: str) -> Mount:
        parts = split_path(path)
        for i in range(len(parts), -1, -1):
            m = self.mounts.get(join(parts[:i]))
            if m is not None:
                return m
        return self.root

    def lookup(
        self,
        path: str,
        cwd: str = "/",
        *,
        follow: bool = True,
        search: Callable[[Inode], bool] | None = None,
    ) -> Lookup:
        """Resolve *path* (ENOENT, ENOTDIR, ELOOP, ENAMETOOLONG).

        With *search*, every directory walked through must pass it (the
        caller's ``MAY_EXEC`` check, ``may_lookup``), else EACCES.
        """
        return self._walk(split_path(path, cwd), follow, 0, search)

    def lookup_parent(
        self, path: str, cwd: str = "/", *, search: Callable[[Inode], bool] | None = None
    ) -> tuple[Lookup, str]:
        """The directory that would hold *path*, and the last component."""
        parts = split_path(path, cwd)
        if not parts:
            raise SyscallError(Errno.EEXIST, "the root directory")
        parent = self._walk(parts[:-1], True, 0, search)
        if not parent.inode.is_dir():
            raise SyscallError(Errno.ENOTDIR, f"{parent.path} is not a directory")
        return parent, parts[-1]

    def _walk(
        self,
        parts: list[str],
        follow: bool,
        depth: int,
        search: Callable[[Inode], bool] | None = None,
    ) -> Lookup:
        mount = self.root
        inode = mount.root
        done: list[str] = []
        i = 0
        while i < len(parts):
            comp = parts[i]
            if inode.children is None:
                raise SyscallError(Errno.ENOTDIR, f"{join(done)} is not a directory")
            if search is not None and not search(inode):
                raise SyscallError(Errno.EACCES, f"no search permission on {join(done)}")
            child = inode.children.get(comp)
            if child is None:
                raise SyscallError(Errno.ENOENT, f"{join([*done, comp])} does not exist")
            last = i == len(parts) - 1
            if child.is_lnk() and (follow or not last):
                if depth >= MAX_SYMLINKS:
                    raise SyscallError(Errno.ELOOP, "too many levels of symbolic links")
                target = child.link_target or ""
                base = join(done)
                rest = parts[i + 1 :]
                new_parts = split_path(target, base) + rest
                return self._walk(new_parts, follow, depth + 1, search)
            done.append(comp)
            inode = child
            sub = self.mounts.get(join(done))
            if sub is not None:
                mount = sub
                inode = sub.root
            i += 1
        return Lookup(mount, inode, join(done))


def make_dir(sb_mount: Mount, parent: Inode, name: str, mode: int = 0o755) -> Inode:
    """Create a directory entry directly (used while building filesystems)."""
    assert parent.children is not None
    existing = parent.children.get(name)
    if existing is not None:
        return existing
    child = sb_mount.sb.mkdir(parent, name, S_IFDIR | mode)
    return child
