"""Filesystems whose data is not in RAM: the common part of ext2 and NFS.

On a no-MMU kernel a disk or network filesystem has no ``mmap_capabilities``
(fs/ext2/file.c, fs/nfs/file.c), so ``validate_mmap_request`` gives its
regular files the ``S_IFREG`` default, ``NOMMU_MAP_COPY``: a private mapping
is a copy read with ``f_op->read`` (``kernel_read``), zero-filled past EOF;
``MAP_SHARED`` fails with ENODEV after the EACCES checks; ``->mmap`` itself is
``generic_file_mmap``, which is ``-ENOSYS`` without an MMU and never called.

The file data lives in Python (the disk). On a realistic machine reads also
fill the page cache in RAM (:mod:`nommu.mm.filemap`: clean, reclaimable
pages no mapping ever points at); an ideal machine has no such cache.
Storage is sparse, in 4 KiB chunks, so a truncate to a large size costs
nothing until written.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from nommu.consts import S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK
from nommu.errors import Errno, SyscallError
from nommu.fs.filespec import (
    DeviceSpec,
    DirSpec,
    Entry,
    FileSpec,
    HardlinkSpec,
    SpecialSpec,
    SymlinkSpec,
)
from nommu.fs.vfs import DirOperations, File, FileOperations, Inode, SuperBlock
from nommu.mm.filemap import DiskPageCache

CHUNK = 4096

#: Builds the file operations of a device node, FIFO or socket: ``(mode, rdev)``.
SpecialFops = Callable[[int, tuple[int, int]], FileOperations]


class SparseData:
    """File contents as 4 KiB chunks; absent chunks read as zeros."""

    __slots__ = ("chunks",)

    def __init__(self, data: bytes = b"") -> None:
        self.chunks: dict[int, bytearray] = {}
        if data:
            self.write(0, data)

    def read(self, pos: int, count: int) -> bytes:
        out = bytearray()
        end = pos + count
        while pos < end:
            index, off = divmod(pos, CHUNK)
            n = min(CHUNK - off, end - pos)
            chunk = self.chunks.get(index)
            out += chunk[off : off + n] if chunk is not None else bytes(n)
            pos += n
        return bytes(out)

    def write(self, pos: int, data: bytes) -> None:
        done = 0
        while done < len(data):
            index, off = divmod(pos + done, CHUNK)
            n = min(CHUNK - off, len(data) - done)
            chunk = self.chunks.get(index)
            if chunk is None:
                chunk = self.chunks[index] = bytearray(CHUNK)
            chunk[off : off + n] = data[done : done + n]
            done += n

    def truncate(self, size: int) -> None:
        """Forget everything from *size* on (the tail of a partial chunk is zeroed)."""
        index, off = divmod(size, CHUNK)
        for i in [i for i in self.chunks if i > index or (i == index and off == 0)]:
            del self.chunks[i]
        chunk = self.chunks.get(index)
        if chunk is not None and off:
            chunk[off:] = bytes(CHUNK - off)


def data_of(inode: Inode) -> SparseData:
    store = inode.private
    if not isinstance(store, SparseData):
        store = SparseData()
        inode.private = store
    return store


class DiskFileOperations(FileOperations):
    """A disk or network filesystem's regular files (``ext2_file_operations``...).

    ``->mmap`` exists (``generic_file_mmap``, ``-ENOSYS`` on NOMMU) but there is
    no ``->mmap_capabilities``, so the capabilities are the ``S_IFREG``
    default: copy only.
    """

    has_mmap = True

    def __init__(self, sb: DiskSuperBlock) -> None:
        self.sb = sb

    def read(self, file: File, count: int, pos: int) -> bytes:
        return self.sb.read_inode(file.inode, count, pos)

    def write(self, file: File, data: bytes, pos: int) -> int:
        return self.sb.write_inode(file.inode, data, pos)


DiskDirOperations = DirOperations


class SymlinkOperations(FileOperations):
    """Symbolic links are followed by the path walk and never opened."""

    has_read = False
    has_write = False


class DiskSuperBlock(SuperBlock):
    """A filesystem instance holding its files in Python.

    Args:
        fstype: the type name (``"ext2"``, ``"nfs"``).
        dev: ``s_dev``.
        root_ino: the root directory's inode number.
        first_ino: the first number handed to other inodes.
        maxbytes: ``s_maxbytes``: larger sizes and writes beyond fail with EFBIG.
    """

    def __init__(
        self, fstype: str, dev: tuple[int, int], *, root_ino: int, first_ino: int, maxbytes: int
    ) -> None:
        super().__init__(fstype, dev)
        self.disk_cache: DiskPageCache | None = None  # the machine's, when realistic
        self._inos = itertools.count(first_ino)
        self.maxbytes = maxbytes
        self.fops = DiskFileOperations(self)
        self.dir_ops = DiskDirOperations()
        self.link_ops = SymlinkOperations()
        self.root = Inode(self, S_IFDIR | 0o755, self.dir_ops, ino=root_ino)
        self.root.i_nlink = 2

    def new_ino(self) -> int:
        return next(self._inos)

    # -- namespace -----------------------------------------------------------------
    def create(self, parent: Inode, name: str, mode: int) -> Inode:
        assert parent.children is not None
        inode = Inode(self, S_IFREG | (mode & 0o7777), self.fops)
        inode.private = SparseData()
        parent.children[name] = inode
        return inode

    def mkdir(self, parent: Inode, name: str, mode: int) -> Inode:
        return self.new_dir(parent, name, mode, self.dir_ops)

    def symlink(self, parent: Inode, name: str, target: str) -> Inode:
        assert parent.children is not None
        inode = Inode(self, S_IFLNK | 0o777, self.link_ops)
        inode.link_target = target
        inode.i_size = len(target.encode("utf-8", "surrogateescape"))
        parent.children[name] = inode
        return inode

    def evict_inode(self, inode: Inode) -> None:
        """The last link and the last open file went: the blocks are freed."""
        if (inode.i_mode & S_IFMT) == S_IFREG:
            if self.disk_cache is not None:
                self.disk_cache.truncate(inode, 0)
            inode.private = None

    # -- data ------------------------------------------------------------------------
    def read_inode(self, inode: Inode, count: int, pos: int) -> bytes:
        size = inode.i_size
        if pos >= size or count <= 0:
            return b""
        count = min(count, size - pos)
        data = data_of(inode)
        if self.disk_cache is not None:
            self.disk_cache.fill(
                inode, pos, count, lambda at, n: data.read(at, max(0, min(n, size - at)))
            )
        return data.read(pos, count)

    def write_inode(self, inode: Inode, data: bytes, pos: int) -> int:
        """``generic_perform_write`` after ``generic_write_checks`` (EFBIG past s_maxbytes)."""
        if not data:
            return 0
        if pos >= self.maxbytes:
            raise SyscallError(Errno.EFBIG, f"write at {pos} beyond the maximum file size")
        data = data[: self.maxbytes - pos]
        data_of(inode).write(pos, data)
        if self.disk_cache is not None:
            self.disk_cache.write(inode, pos, data)
        if pos + len(data) > inode.i_size:
            inode.i_size = pos + len(data)
        return len(data)

    def setattr_size(self, inode: Inode, size: int) -> None:
        """``simple_setattr``-like size change: ``inode_newsize_ok`` then ``truncate_setsize``."""
        if size > self.maxbytes:
            raise SyscallError(Errno.EFBIG, f"{size} bytes exceed the maximum file size")
        if size < inode.i_size:
            data_of(inode).truncate(size)
            if self.disk_cache is not None:
                self.disk_cache.truncate(inode, size)
        inode.i_size = size

    # -- building from files= --------------------------------------------------------
    def populate(self, entries: list[Entry], special: SpecialFops, option: str = "files") -> None:
        """Create the entries of a ``files=`` option (hard links resolved last)."""
        links: list[tuple[Entry, HardlinkSpec]] = []
        by_path: dict[tuple[str, ...], Inode] = {(): self.root}
        for entry in entries:
            spec = entry.spec
            if not entry.parts:
                continue  # the root's DirSpec: nothing to do
            parent = self._make_dirs(entry.parts[:-1], by_path, option)
            name = entry.parts[-1]
            assert parent.children is not None
            if name in parent.children:
                if isinstance(spec, DirSpec) and parent.children[name].is_dir():
                    continue
                raise ValueError(f"{option}: {entry.path} is given twice")
            inode: Inode
            if isinstance(spec, bytes | FileSpec):
                data = spec if isinstance(spec, bytes) else spec.data
                executable = isinstance(spec, FileSpec) and spec.executable
                inode = self.create(parent, name, 0o755 if executable else 0o644)
                data_of(inode).write(0, data)
                inode.i_size = len(data)
            elif isinstance(spec, DirSpec):
                inode = self.mkdir(parent, name, 0o755 if spec.executable else 0o644)
            elif isinstance(spec, SymlinkSpec):
                inode = self.symlink(parent, name, spec.target)
            elif isinstance(spec, DeviceSpec):
                mode = (S_IFBLK if spec.kind == "block" else S_IFCHR) | 0o600
                rdev = (spec.major, spec.minor)
                inode = self.mknod(parent, name, mode, special(mode, rdev), rdev)
            elif isinstance(spec, SpecialSpec):
                mode = (S_IFIFO if spec.kind == "fifo" else S_IFSOCK) | 0o644
                inode = self.mknod(parent, name, mode, special(mode, (0, 0)))
            else:
                links.append((entry, spec))
                continue
            by_path[entry.parts] = inode
        for entry, link in links:
            target_parts = tuple(p for p in link.target.split("/") if p)
            target = by_path.get(target_parts)
            if target is None or target.is_dir():
                raise ValueError(
                    f"{option}: hard link {entry.path}: no file {link.target!r} to link to"
                )
            parent = self._make_dirs(entry.parts[:-1], by_path, option)
            assert parent.children is not None
            if entry.parts[-1] in parent.children:
                raise ValueError(f"{option}: {entry.path} is given twice")
            parent.children[entry.parts[-1]] = target
            target.i_nlink += 1
            by_path[entry.parts] = target

    def _make_dirs(
        self, parts: tuple[str, ...], by_path: dict[tuple[str, ...], Inode], option: str
    ) -> Inode:
        cur = self.root
        for depth in range(len(parts)):
            key = parts[: depth + 1]
            nxt = by_path.get(key)
            if nxt is None:
                assert cur.children is not None
                existing = cur.children.get(parts[depth])
                if existing is not None and not existing.is_dir():
                    raise ValueError(f"{option}: /{'/'.join(key)} is not a directory")
                nxt = existing if existing is not None else self.mkdir(cur, parts[depth], 0o755)
                by_path[key] = nxt
            elif not nxt.is_dir():
                raise ValueError(f"{option}: /{'/'.join(key)} is not a directory")
            cur = nxt
        return cur
