"""VFS objects: superblocks, inodes, open files and their operations.

Only what mapping and the system calls need is modelled. The one interface
the mm core calls is :class:`FileOperations` (the kernel's ``file->f_op``):
whether ``->mmap``, ``->get_unmapped_area`` and ``->mmap_capabilities`` exist,
and what they return. A method that would return ``-ENOSYS`` raises
``SyscallError(ENOSYS)``: "fall back to a copy" in the no-MMU protocol.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING

from nommu.consts import (
    NOMMU_MAP_COPY,
    NOMMU_MAP_DIRECT,
    NOMMU_MAP_READ,
    NOMMU_MAP_WRITE,
    S_IFBLK,
    S_IFCHR,
    S_IFDIR,
    S_IFLNK,
    S_IFMT,
    S_IFREG,
)
from nommu.errors import Errno, SyscallError

if TYPE_CHECKING:
    from nommu.mm.vma import VMA

# f_mode bits (include/linux/fs.h)
FMODE_READ = 0x1
FMODE_WRITE = 0x2
FMODE_LSEEK = 0x4
FMODE_EXEC = 0x20
FMODE_CAN_READ = 0x20000
FMODE_CAN_WRITE = 0x40000


class FileOperations:
    """``struct file_operations``; subclasses override what their driver has.

    The ``has_*`` flags say whether the kernel's pointer would be non-NULL,
    which is what ``validate_mmap_request`` tests.
    """

    has_mmap = False
    has_get_unmapped_area = False
    has_mmap_capabilities = False
    has_read = True
    has_write = True
    #: the driver has a plain ``->read`` (alone or beside ``->read_iter``):
    #: ``__kernel_read()`` refuses such a file since v5.10 (fs/read_write.c)
    legacy_read = False

    def mmap_capabilities(self, file: File) -> int:
        return 0

    def get_unmapped_area(self, file: File, addr: int, length: int, pgoff: int, flags: int) -> int:
        raise SyscallError(Errno.ENOSYS)

    def mmap(self, file: File, vma: VMA) -> None:
        raise SyscallError(Errno.ENOSYS)

    def read(self, file: File, count: int, pos: int) -> bytes:
        raise SyscallError(Errno.EINVAL)

    def write(self, file: File, data: bytes, pos: int) -> int:
        raise SyscallError(Errno.EINVAL)

    def open(self, file: File) -> None:
        """Called when a file is opened (drivers may refuse with an errno)."""

    def release(self, file: File) -> None:
        """Called when the last reference to an open file goes."""


class DirOperations(FileOperations):
    """Directories of every filesystem: no read (EISDIR), no ``->mmap`` (ENODEV)."""

    has_read = False
    has_write = False


class SuperBlock:
    """A mounted filesystem instance (``struct super_block``)."""

    def __init__(self, fstype: str, dev: tuple[int, int]) -> None:
        self.fstype = fstype
        self.s_dev = dev
        self._next_ino = itertools.count(1)
        self.read_only = False

    def new_ino(self) -> int:
        return next(self._next_ino)

    def setattr_size(self, inode: Inode, size: int) -> None:
        """Change a regular file's size (``->setattr`` with ATTR_SIZE)."""
        raise SyscallError(Errno.EPERM)

    def create(self, parent: Inode, name: str, mode: int) -> Inode:
        """Create a regular file in *parent* (``->create``)."""
        raise SyscallError(Errno.EPERM)

    def mkdir(self, parent: Inode, name: str, mode: int) -> Inode:
        raise SyscallError(Errno.EPERM)

    def new_dir(self, parent: Inode, name: str, mode: int, fops: FileOperations) -> Inode:
        """The common part of ``->mkdir``: the new directory has two links (its
        entry and its ``.``) and gives its parent one more (its ``..``)."""
        assert parent.children is not None
        inode = Inode(self, S_IFDIR | (mode & 0o7777), fops)
        inode.i_nlink = 2
        parent.children[name] = inode
        parent.i_nlink += 1
        return inode

    def mknod(
        self,
        parent: Inode,
        name: str,
        mode: int,
        fops: FileOperations,
        rdev: tuple[int, int] = (0, 0),
    ) -> Inode:
        """A device node, FIFO or socket inode in *parent* (``->mknod``)."""
        assert parent.children is not None
        inode = Inode(self, mode, fops)
        inode.i_rdev = rdev
        parent.children[name] = inode
        return inode

    def evict_inode(self, inode: Inode) -> None:
        """The last reference to an unlinked inode went: free what it holds."""


class Inode:
    """``struct inode``: identity, type and size of a file; sharing is by inode."""

    __slots__ = (
        "__weakref__",
        "append_only",
        "children",
        "data",
        "i_count",
        "i_fop",
        "i_gid",
        "i_mmap",
        "i_mode",
        "i_nlink",
        "i_rdev",
        "i_sb",
        "i_size",
        "i_uid",
        "i_writecount",
        "ino",
        "link_target",
        "page_cache",
        "private",
    )

    def __init__(
        self, sb: SuperBlock, mode: int, fop: FileOperations, ino: int | None = None
    ) -> None:
        self.i_sb = sb
        self.ino = ino if ino is not None else sb.new_ino()
        self.i_mode = mode
        self.i_uid = 0
        self.i_gid = 0
        self.i_size = 0
        self.i_nlink = 1
        self.i_count = 0  # live open-file objects (struct file) on this inode
        self.i_rdev = (0, 0)
        self.i_fop = fop
        self.i_writecount = 0  # > 0 writers; < 0 write denied (running executable)
        self.i_mmap: dict[VMA, None] = {}  # file-backed VMAs, in mapping order
        self.append_only = False
        self.children: dict[str, Inode] | None = {} if (mode & S_IFMT) == S_IFDIR else None
        self.link_target: str | None = None
        self.data: bytearray | None = None  # contents for non-memory filesystems
        self.page_cache: dict[int, int] = {}  # page index -> pfn (memory filesystems)
        self.private: object = None

    @property
    def file_type(self) -> int:
        return self.i_mode & S_IFMT

    def is_dir(self) -> bool:
        return (self.i_mode & S_IFMT) == S_IFDIR

    def is_reg(self) -> bool:
        return (self.i_mode & S_IFMT) == S_IFREG

    def is_lnk(self) -> bool:
        return (self.i_mode & S_IFMT) == S_IFLNK


class Mount:
    """A mount: a superblock at a path, with per-mount flags."""

    def __init__(
        self, sb: SuperBlock, root: Inode, path: str, *, ro: bool = False, noexec: bool = False
    ) -> None:
        self.sb = sb
        self.root = root
        self.path = path
        self.ro = ro or sb.read_only
        self.noexec = noexec
        self.fs: object = None  # the filesystem object returned by Machine.mount


class File:
    """``struct file``: an open file description (shared by dup and vfork)."""

    __slots__ = (
        "f_count",
        "f_flags",
        "f_mode",
        "f_op",
        "f_pos",
        "inode",
        "mount",
        "on_release",
        "path",
        "private",
    )

    def __init__(
        self, inode: Inode, mount: Mount | None, path: str, f_flags: int, f_mode: int
    ) -> None:
        self.inode = inode
        self.mount = mount
        self.path = path
        self.f_flags = f_flags
        self.f_mode = f_mode
        self.f_op = inode.i_fop
        self.f_pos = 0
        self.f_count = 1
        self.private: object = None
        self.on_release: Callable[[File], None] | None = None
        inode.i_count += 1
        if self.f_op.has_read and f_mode & FMODE_READ:
            self.f_mode |= FMODE_CAN_READ
        if self.f_op.has_write and f_mode & FMODE_WRITE:
            self.f_mode |= FMODE_CAN_WRITE

    @property
    def noexec(self) -> bool:
        """``path_noexec()``: the mount is noexec."""
        return self.mount is not None and self.mount.noexec

    @property
    def dev(self) -> tuple[int, int]:
        return self.inode.i_sb.s_dev

    def get(self) -> File:
        self.f_count += 1
        return self

    def put(self) -> None:
        """``fput``: drop a reference; the last one releases the file."""
        self.f_count -= 1
        if self.f_count == 0:
            if self.f_mode & FMODE_WRITE and self.inode.i_writecount > 0:
                self.inode.i_writecount -= 1
            self.f_op.release(self)
            if self.on_release is not None:
                self.on_release(self)
            inode = self.inode
            inode.i_count -= 1
            if inode.i_count == 0 and inode.i_nlink == 0:
                inode.i_sb.evict_inode(inode)


def open_file(
    inode: Inode, mount: Mount | None, path: str, f_flags: int, f_mode: int, private: object = None
) -> File:
    """A new open file on *inode*, after the driver's ``->open`` (``do_dentry_open``).

    A driver that refuses leaves nothing behind: the inode reference goes
    without ``->release``, because the file was never opened.
    """
    f = File(inode, mount, path, f_flags, f_mode)
    f.private = private
    try:
        f.f_op.open(f)
    except SyscallError:
        inode.i_count -= 1
        raise
    return f


def default_capabilities(inode: Inode) -> int | None:
    """Capabilities by inode type when ``->mmap_capabilities`` is absent.

    Models the defaults in ``validate_mmap_request``: regular files and block
    devices can be copied; character devices are direct, readable and
    writable; anything else (None) is EINVAL.
    """
    ftype = inode.i_mode & S_IFMT
    if ftype in (S_IFREG, S_IFBLK):
        return NOMMU_MAP_COPY
    if ftype == S_IFCHR:
        return NOMMU_MAP_DIRECT | NOMMU_MAP_READ | NOMMU_MAP_WRITE
    return None


def printk_pd4(file: File) -> str:
    """What printk's ``%pD4`` shows for *file*: at most the last four names of its path
    inside its own mount (lib/vsprintf.c ``dentry_name``), with a leading ``/`` when
    the mount's root is reached within them (``/dev/zero`` on a devtmpfs at /dev
    shows ``/zero``)."""
    path = file.path
    mount = file.mount
    if mount is not None and mount.path != "/":
        path = path[len(mount.path) :] if path.startswith(mount.path + "/") else path
    names = [n for n in path.split("/") if n]
    if len(names) > 4:
        return "/".join(names[-4:])
    return "/" + "/".join(names)


def d_unlinked(file: File) -> bool:
    """``d_unlinked()`` of the file's dentry: its name no longer leads to its inode.

    ``seq_path`` appends `` (deleted)`` on that test, which is about the name the
    file was opened by, not the inode: a file unlinked under that name but still
    linked elsewhere is "deleted" for its maps line, and a file created without a
    name (SysV shm) always is.
    """
    inode = file.inode
    mount = file.mount
    if mount is None:
        return inode.i_nlink == 0
    path = file.path
    if mount.path != "/":
        if not path.startswith(mount.path + "/"):
            return path != mount.path
        path = path[len(mount.path) :]
    node: Inode | None = mount.root
    for name in path.split("/"):
        if not name:
            continue
        children = node.children if node is not None else None
        if children is None:
            return True
        node = children.get(name)
    return node is not inode
