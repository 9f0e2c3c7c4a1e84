"""NFS: remote files, copied into RAM for every mapping (fs/nfs on NOMMU).

``nfs_file_operations`` has no ``mmap_capabilities``: private mappings are
copies read with ``f_op->read``, ``MAP_SHARED`` is ENODEV (no ``NOMMU_MAP_DIRECT``). A copy
is a snapshot: when the server's file changes afterwards (another client
writing, :meth:`NfsSuperBlock.server_write`), existing copies keep the old
bytes, and a later read-only private mapping that shares such a copy gets the
stale bytes too (case C71); a new copy made once the old one is gone reads
the new contents. Reads always see the server's current data (attribute and
page caching of the client are not modelled).

``s_dev`` is an anonymous device (``00:N``), as ``nfs_set_super`` takes one.

Usage::

    fs = m.mount("nfs", "/nfs", files={"n": bytes(8192)})
    fs.server_write("n", b"new", offset=0)
    fs.server_truncate("n", 100)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nommu.fs.diskfs import DiskSuperBlock, data_of
from nommu.fs.filespec import parse_files, split_fs_path
from nommu.fs.nodes import special_fops
from nommu.fs.vfs import Inode, SuperBlock

if TYPE_CHECKING:
    from nommu.machine import Machine

#: ``MAX_LFS_FILESIZE`` on 32-bit: ``(PAGE_SIZE << (BITS_PER_LONG - 1)) - 1``.
NFS_MAXBYTES = (4096 << 31) - 1


class NfsSuperBlock(DiskSuperBlock):
    """A mounted NFS export; also the server side of it (``server_write``...)."""

    def __init__(self, dev: tuple[int, int]) -> None:
        super().__init__("nfs", dev, root_ino=2, first_ino=3, maxbytes=NFS_MAXBYTES)

    def _server_file(self, path: object, create: bool) -> Inode:
        parts = split_fs_path(path, "path")
        if not parts:
            raise ValueError("path: the root of the export is a directory")
        cur = self.root
        for comp in parts[:-1]:
            assert cur.children is not None
            nxt = cur.children.get(comp)
            if nxt is None:
                nxt = self.mkdir(cur, comp, 0o755)
            if not nxt.is_dir():
                raise ValueError(f"path: {comp!r} in {path!r} is not a directory")
            cur = nxt
        assert cur.children is not None
        inode = cur.children.get(parts[-1])
        if inode is None:
            if not create:
                raise ValueError(f"path: {path!r} does not exist on the server")
            inode = self.create(cur, parts[-1], 0o644)
        if not inode.is_reg():
            raise ValueError(f"path: {path!r} is not a regular file")
        return inode

    def server_write(self, path: str, data: bytes, offset: int = 0) -> int:
        """Write to a file of the export as another client would (creating it if missing).

        Existing copies in processes' mappings are not changed.
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"data: expected bytes, got {type(data).__name__}")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ValueError(f"offset: must be a non-negative int, got {offset!r}")
        inode = self._server_file(path, create=True)
        if not data:
            return 0
        data_of(inode).write(offset, bytes(data))
        inode.i_size = max(inode.i_size, offset + len(data))
        return len(data)

    def server_truncate(self, path: str, length: int) -> None:
        """Change a file's size on the server (zeros when growing)."""
        if isinstance(length, bool) or not isinstance(length, int) or length < 0:
            raise ValueError(f"length: must be a non-negative int, got {length!r}")
        inode = self._server_file(path, create=False)
        if length < inode.i_size:
            data_of(inode).truncate(length)
        inode.i_size = length

    def server_read(self, path: str) -> bytes:
        """The file's current contents on the server."""
        inode = self._server_file(path, create=False)
        return data_of(inode).read(0, inode.i_size)


def mount_nfs(machine: Machine, *, files: object = None) -> tuple[SuperBlock, Inode, Any]:
    """The ``nfs`` factory for ``Machine.mount``: option ``files`` (the export's contents)."""
    entries = parse_files(files)
    sb = NfsSuperBlock(machine.anon_dev())
    sb.populate(entries, special_fops(machine))
    return sb, sb.root, sb
