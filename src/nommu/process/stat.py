"""``stat`` and ``fstat`` (fs/stat.c ``cp_new_stat``: the fields the model keeps)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nommu.process.namei import NameiCalls


@dataclass(frozen=True, slots=True)
class Stat:
    """The fields of ``struct stat`` the model keeps."""

    st_dev: int
    st_ino: int
    st_mode: int
    st_nlink: int
    st_uid: int
    st_gid: int
    st_rdev: int
    st_size: int


class StatCalls(NameiCalls):
    """File status by path or by descriptor."""

    def stat(self, path: str) -> Stat:
        self._enter()
        found = self._lookup(path)
        return self._stat_inode(found.inode)

    def fstat(self, fd: int) -> Stat:
        self._enter()
        return self._stat_inode(self._fget(fd).inode)

    @staticmethod
    def _stat_inode(inode: Any) -> Stat:
        dev = inode.i_sb.s_dev
        return Stat(
            st_dev=(dev[0] << 8) | dev[1],
            st_ino=inode.ino,
            st_mode=inode.i_mode,
            st_nlink=inode.i_nlink,
            st_uid=inode.i_uid,
            st_gid=inode.i_gid,
            st_rdev=(inode.i_rdev[0] << 8) | inode.i_rdev[1],
            st_size=inode.i_size,
        )
