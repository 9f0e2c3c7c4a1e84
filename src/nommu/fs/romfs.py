"""romfs on NOMMU: read-only files that flash can execute in place.

Models fs/romfs/super.c, fs/romfs/storage.c and fs/romfs/mmap-nommu.c. The
image (built from ``files=`` with :func:`~nommu.fs.romfs_image.build_romfs`,
or a real ``-rom1fs-`` file given as ``image=``) is parsed by
:class:`~nommu.fs.romfs_image.RomfsImage`, which supplies what the kernel's
inodes hold: the inode number (the header offset), the mode, the size, the
data offset inside the image (``i_dataoffset``) and symlink targets; hard
links share one inode.

Two ways to mount (option ``device``):

- ``"mtd"``: the image is programmed into the next partition of the machine's
  memory-mapped flash (see :mod:`nommu.fs.mtd`), ``s_dev`` is
  ``31:N`` (mtdblock N). ``romfs_mmap_capabilities`` are the MTD's, so on a
  pointable ROM a read-only private or shared mapping is *execute in place*:
  ``romfs_get_unmapped_area`` returns ``flash_base + i_dataoffset + pgoff *
  PAGE_SIZE`` (16-byte aligned, not page aligned) and no RAM is used.
- ``"block"``: a block device (``s_dev`` ``1:N``); no ``s_mtd``, so
  capabilities are COPY only and every mapping is a copy.

``romfs_get_unmapped_area`` answers EINVAL (not ENOSYS) for a range past EOF,
so on MTD such a private mapping fails where ramfs or ext2 would copy (H15).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from nommu.consts import (
    NOMMU_MAP_COPY,
    S_IFBLK,
    S_IFCHR,
    S_IFDIR,
    S_IFLNK,
    S_IFMT,
    S_IFREG,
)
from nommu.errors import Errno, SyscallError
from nommu.fs.diskfs import DiskDirOperations, SymlinkOperations
from nommu.fs.filespec import parse_files
from nommu.fs.mtd import (
    MTD_BLOCK_MAJOR,
    MtdDevice,
    add_mtd,
    mtd_get_unmapped_area,
    mtd_mmap_capabilities,
)
from nommu.fs.nodes import special_fops
from nommu.fs.romfs_image import RomfsEntry, RomfsImage, RomfsNodeSpec, build_romfs
from nommu.fs.vfs import File, FileOperations, Inode, SuperBlock
from nommu.mm.filemap import DiskPageCache
from nommu.mm.region import is_nommu_shared_mapping

if TYPE_CHECKING:
    from nommu.machine import Machine
    from nommu.mm.vma import VMA

#: Major number of the block devices romfs is mounted from with ``device="block"``
#: (``/dev/ram0``...).
RAMDISK_MAJOR = 1


class RomfsFileOperations(FileOperations):
    """``romfs_ro_fops`` (NOMMU): read, ``romfs_mmap``, the NOMMU mapping hooks."""

    has_mmap = True
    has_get_unmapped_area = True
    has_mmap_capabilities = True
    has_write = False

    def __init__(self, sb: RomfsSuperBlock) -> None:
        self.sb = sb

    def mmap_capabilities(self, file: File) -> int:
        """``romfs_mmap_capabilities``: the MTD's, or COPY on a block device."""
        mtd = self.sb.mtd
        if mtd is None:
            return NOMMU_MAP_COPY
        return mtd_mmap_capabilities(mtd)

    def get_unmapped_area(self, file: File, addr: int, length: int, pgoff: int, flags: int) -> int:
        """``romfs_get_unmapped_area``: the flash address of the file's page *pgoff*.

        -ENOSYS without an MTD; EINVAL past EOF, for an address hint, or outside
        the MTD; ``mtd_get_unmapped_area``'s EOPNOTSUPP (no ``_point``) becomes
        -ENOSYS (so a private mapping falls back to a copy).
        """
        sb = self.sb
        mtd = sb.mtd
        if mtd is None:
            raise SyscallError(Errno.ENOSYS, "romfs on a block device cannot map directly")
        shift = mtd.page_shift
        mask = (1 << shift) - 1
        inode = file.inode
        lpages = (length + mask) >> shift
        maxpages = (inode.i_size + mask) >> shift
        if pgoff >= maxpages or maxpages - pgoff < lpages:
            raise SyscallError(
                Errno.EINVAL,
                f"{file.path}: pages {pgoff}-{pgoff + lpages - 1} reach beyond "
                f"the end of the {inode.i_size}-byte file",
            )
        if addr != 0:
            raise SyscallError(Errno.EINVAL, "address hint")
        if length > mtd.size or pgoff >= mtd.size >> shift:
            raise SyscallError(Errno.EINVAL, f"the mapping is larger than {mtd.name}")
        offset = (pgoff << shift) + sb.data_offset(inode)
        if offset >= mtd.size:
            raise SyscallError(Errno.EINVAL, f"offset {offset:#x} is past the end of {mtd.name}")
        if offset + length > mtd.size:
            length = mtd.size - offset
        try:
            return mtd_get_unmapped_area(mtd, length, offset, flags)
        except SyscallError as e:
            if e.errno == Errno.EOPNOTSUPP:
                raise SyscallError(
                    Errno.ENOSYS, f"{mtd.name} cannot be pointed at: copy instead"
                ) from None
            raise

    def mmap(self, file: File, vma: VMA) -> None:
        """``romfs_mmap``: direct only for shareable mappings, else -ENOSYS."""
        if not is_nommu_shared_mapping(vma.vm_flags):
            raise SyscallError(Errno.ENOSYS)

    def read(self, file: File, count: int, pos: int) -> bytes:
        return self.sb.read_inode(file.inode, count, pos)


class RomfsSuperBlock(SuperBlock):
    """A mounted romfs: the parsed image, and the MTD it lives on (or None)."""

    def __init__(
        self, machine: Machine, image: RomfsImage, dev: tuple[int, int], mtd: MtdDevice | None
    ) -> None:
        super().__init__("romfs", dev)
        self.read_only = True
        self.image = image
        self.mtd = mtd
        #: the machine's page cache of disk files, for romfs on a block device
        self.disk_cache: DiskPageCache | None = None
        self.memory = machine.memory
        self.fops = RomfsFileOperations(self)
        self.dir_ops = DiskDirOperations()
        self.link_ops = SymlinkOperations()
        self._offsets: dict[Inode, int] = {}
        self.root = self._build(special_fops(machine))

    def data_offset(self, inode: Inode) -> int:
        """``ROMFS_I(inode)->i_dataoffset``."""
        return self._offsets[inode]

    def read_inode(self, inode: Inode, count: int, pos: int) -> bytes:
        """``romfs_dev_read``: from the MTD (the flash bytes) or the block device."""
        size = inode.i_size
        if pos >= size or count <= 0:
            return b""
        count = min(count, size - pos)
        start = self._offsets[inode] + pos
        if self.mtd is not None:
            return self.mtd.read(start, count)
        if self.disk_cache is not None:
            base = self._offsets[inode]
            image = self.image.data
            self.disk_cache.fill(
                inode, pos, count, lambda at, n: image[base + at : base + min(at + n, size)]
            )
        return self.image.data[start : start + count]

    def _build(self, special: Any) -> Inode:
        by_ino: dict[int, Inode] = {}
        by_path: dict[str, Inode] = {}
        root: Inode | None = None
        for entry in self.image.walk():
            inode = by_ino.get(entry.ino)
            if inode is None:
                inode = self._iget(entry, special)
                by_ino[entry.ino] = inode
            if entry.path == "/":
                root = inode
            else:
                parent = by_path[entry.path.rsplit("/", 1)[0] or "/"]
                assert parent.children is not None
                parent.children.setdefault(entry.name, inode)
            if entry.is_dir:
                by_path[entry.path] = inode
        assert root is not None
        return root

    def _iget(self, entry: RomfsEntry, special: Any) -> Inode:
        """``romfs_iget``: mode, size and operations by type; ``nlink`` is always 1."""
        kind = entry.mode & S_IFMT
        if kind == S_IFREG:
            fops: FileOperations = self.fops
        elif kind == S_IFDIR:
            fops = self.dir_ops
        elif kind == S_IFLNK:
            fops = self.link_ops
        else:
            fops = special(entry.mode, entry.rdev or (0, 0))
        inode = Inode(self, entry.mode, fops, ino=entry.ino)
        inode.i_size = entry.size
        inode.i_nlink = 1
        if kind in (S_IFCHR, S_IFBLK) and entry.rdev is not None:
            inode.i_rdev = entry.rdev
        if kind == S_IFLNK:
            inode.link_target = entry.link_target
        if kind in (S_IFREG, S_IFLNK):
            self._offsets[inode] = entry.data_offset
        return inode


def _image_bytes(image: object) -> tuple[bytes, str]:
    if isinstance(image, bytes | bytearray | memoryview):
        return bytes(image), "<image>"
    if isinstance(image, str | os.PathLike):
        try:
            with open(image, "rb") as f:
                return f.read(), os.path.basename(os.fspath(image))
        except OSError as e:
            raise ValueError(f"image: cannot read {os.fspath(image)!r}: {e.strerror}") from None
    raise TypeError(f"image: expected a host path or bytes, got {type(image).__name__}")


def mount_romfs(
    machine: Machine,
    *,
    files: object = None,
    image: object = None,
    device: str | None = None,
    mtd_type: str = "rom",
    pointable: bool = True,
    size: int | str | None = None,
    volume: str = "rom",
) -> tuple[SuperBlock, Inode, Any]:
    """The ``romfs`` factory for ``Machine.mount``.

    Options: ``files`` or ``image`` (exactly one); ``device`` ``"mtd"``
    (default when the machine has flash) or ``"block"``; for MTD also
    ``mtd_type`` (``"rom"``, ``"ram"``, ``"nor"``), ``pointable`` and the
    partition ``size``; ``volume`` names a built image.
    """
    if files is not None and image is not None:
        raise ValueError("files: give either files= or image=, not both")
    if files is None and image is None:
        raise ValueError("files: romfs needs its contents: files={...} or image=PATH")
    if device is None:
        device = "mtd" if machine.flash_size else "block"
    if device not in ("mtd", "block"):
        raise ValueError(f"device: must be 'mtd' or 'block', got {device!r}")
    if device == "block":
        for name, value, default in (
            ("mtd_type", mtd_type, "rom"),
            ("pointable", pointable, True),
            ("size", size, None),
        ):
            if value != default:
                raise ValueError(f"{name}: only meaningful with device='mtd'")
    if image is not None:
        data, name = _image_bytes(image)
        option = "image"
    else:
        entries = parse_files(files)
        specs: dict[str, RomfsNodeSpec] = {e.path: e.spec for e in entries}
        data = build_romfs(specs, volume)
        name = "<files>"
        option = "files"
    parsed = RomfsImage.parse(data, name=name)
    if device == "mtd":
        if not machine.flash_size:
            raise ValueError(
                "device: 'mtd' needs memory-mapped flash, and this machine has "
                "none (build it with Machine(flash='4M'))"
            )
        mtd: MtdDevice | None = add_mtd(
            machine, data, size=size, mtd_type=mtd_type, pointable=pointable, option=option
        )
        assert mtd is not None
        dev = (MTD_BLOCK_MAJOR, mtd.index)
    else:
        mtd = None
        dev = block_device(machine, RAMDISK_MAJOR, 0)
    sb = RomfsSuperBlock(machine, parsed, dev, mtd)
    machine.log(
        f"romfs: mounted {parsed.volume!r} from {mtd.name if mtd is not None else f'ram{dev[1]}'}"
    )
    return sb, sb.root, sb


def block_device(machine: Machine, major: int, first_minor: int) -> tuple[int, int]:
    """The next block device number of *major* (``hda1``, ``hda2``, ``ram0``...)."""
    minors = machine.hooks.setdefault("blockdev_minors", {})
    assert isinstance(minors, dict)
    minor = minors.get(major, first_minor)
    minors[major] = minor + 1
    return (major, minor)
