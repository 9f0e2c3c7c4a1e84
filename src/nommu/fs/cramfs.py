"""cramfs: compressed read-only files, executable in place when stored plain (fs/cramfs).

Models what a no-MMU kernel does with cramfs (fs/cramfs/inode.c): mounted from a
linearly addressable MTD (``cramfs_mtd``/"physmem", option ``device="mtd"``)
the capabilities are COPY | DIRECT | READ | EXEC, and
``cramfs_physmem_get_unmapped_area`` returns ``linear_phys_addr + offset`` when
the blocks asked for are stored uncompressed and contiguous (files named in
``xip=``, as ``mkcramfs -X`` lays them out: page aligned), -ENOSYS for
compressed blocks (a private mapping becomes a copy, MAP_SHARED ENODEV) and
EINVAL for a range past EOF. ``cramfs_physmem_mmap`` accepts only shareable
mappings. On a block device (``device="block"``) there are no capabilities:
copies only.

The on-disk format is not reproduced, only what mapping sees of it: the
image programmed into flash starts with the cramfs magic, then each file's
data in the order given: XIP files uncompressed at a page boundary, other
files zlib-compressed (``read()`` decompresses the flash bytes). Inode
numbers are the offsets of the files' data (empty files share inode 1, as
cramfs's do).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from nommu.consts import (
    NOMMU_MAP_COPY,
    NOMMU_MAP_DIRECT,
    NOMMU_MAP_EXEC,
    NOMMU_MAP_READ,
    S_IFDIR,
    S_IFREG,
)
from nommu.errors import Errno, SyscallError
from nommu.fs.diskfs import DiskDirOperations
from nommu.fs.filespec import DirSpec, FileSpec, parse_files, split_fs_path
from nommu.fs.mtd import MTD_BLOCK_MAJOR, MtdDevice, add_mtd
from nommu.fs.romfs import RAMDISK_MAJOR, block_device
from nommu.fs.vfs import File, FileOperations, Inode, SuperBlock
from nommu.mm.region import is_nommu_shared_mapping

if TYPE_CHECKING:
    from nommu.machine import Machine
    from nommu.mm.vma import VMA

CRAMFS_MAGIC = b"\x45\x3d\xcd\x28"
CRAMFS_HEADER = 64


class CramfsFileOperations(FileOperations):
    """``cramfs_physmem_fops`` (linear) or the generic read-only file operations."""

    has_mmap = True
    has_write = False

    def __init__(self, sb: CramfsSuperBlock) -> None:
        self.sb = sb
        # the physmem operations exist only for a linearly addressable image
        self.has_get_unmapped_area = sb.mtd is not None
        self.has_mmap_capabilities = sb.mtd is not None

    def mmap_capabilities(self, file: File) -> int:
        """``cramfs_physmem_mmap_capabilities``."""
        return NOMMU_MAP_COPY | NOMMU_MAP_DIRECT | NOMMU_MAP_READ | NOMMU_MAP_EXEC

    def get_unmapped_area(self, file: File, addr: int, length: int, pgoff: int, flags: int) -> int:
        """``cramfs_physmem_get_unmapped_area``: EINVAL past EOF; ENOSYS unless plain."""
        sb = self.sb
        mtd = sb.mtd
        assert mtd is not None
        shift = mtd.page_shift
        mask = (1 << shift) - 1
        inode = file.inode
        pages = (length + mask) >> shift
        max_pages = (inode.i_size + mask) >> shift
        if pgoff >= max_pages or pages > max_pages - pgoff:
            raise SyscallError(Errno.EINVAL, f"{file.path}: the mapping reaches beyond EOF")
        layout = sb.layout[inode]
        if not layout.plain:
            raise SyscallError(Errno.ENOSYS, f"{file.path} is stored compressed: copy it")
        return mtd.base + layout.offset + (pgoff << shift)

    def mmap(self, file: File, vma: VMA) -> None:
        """``cramfs_physmem_mmap`` (NOMMU): shareable mappings only."""
        if not is_nommu_shared_mapping(vma.vm_flags):
            raise SyscallError(Errno.ENOSYS)

    def read(self, file: File, count: int, pos: int) -> bytes:
        return self.sb.read_inode(file.inode, count, pos)


class _Layout:
    __slots__ = ("offset", "plain", "stored")

    def __init__(self, offset: int, plain: bool, stored: int) -> None:
        self.offset = offset
        self.plain = plain
        self.stored = stored


class CramfsSuperBlock(SuperBlock):
    """A mounted cramfs; ``mtd`` is None on a block device."""

    def __init__(self, dev: tuple[int, int], mtd: MtdDevice | None, image: bytes) -> None:
        super().__init__("cramfs", dev)
        self.read_only = True
        self.mtd = mtd
        self.image = image
        self.fops = CramfsFileOperations(self)
        self.dir_ops = DiskDirOperations()
        self.root = Inode(self, S_IFDIR | 0o755, self.dir_ops, ino=1)
        self.layout: dict[Inode, _Layout] = {}

    def _stored(self, layout: _Layout) -> bytes:
        if self.mtd is not None:
            return self.mtd.read(layout.offset, layout.stored)
        return self.image[layout.offset : layout.offset + layout.stored]

    def read_inode(self, inode: Inode, count: int, pos: int) -> bytes:
        """``cramfs_read_folio``: plain blocks as stored, others inflated."""
        size = inode.i_size
        if pos >= size or count <= 0:
            return b""
        layout = self.layout[inode]
        data = self._stored(layout)
        if not layout.plain:
            data = zlib.decompress(data)
        return data[pos : min(size, pos + count)]


def mount_cramfs(
    machine: Machine,
    *,
    files: object = None,
    xip: object = (),
    device: str | None = None,
    size: int | str | None = None,
) -> tuple[SuperBlock, Inode, Any]:
    """The ``cramfs`` factory: ``files=``, ``xip=`` (paths stored plain, page aligned),
    ``device="mtd"`` (default with flash: linear, XIP possible) or ``"block"``, ``size``."""
    if device is None:
        device = "mtd" if machine.flash_size else "block"
    if device not in ("mtd", "block"):
        raise ValueError(f"device: must be 'mtd' or 'block', got {device!r}")
    if isinstance(xip, str) or not isinstance(xip, Iterable):
        raise TypeError(f"xip: expected a list of paths, got {type(xip).__name__}")
    plain = {split_fs_path(x, "xip") for x in xip}
    entries = parse_files(files)
    psize = machine.page_size
    image = bytearray(CRAMFS_MAGIC + bytes(CRAMFS_HEADER - len(CRAMFS_MAGIC)))
    placed: list[tuple[tuple[str, ...], int, bool, int, int, bool]] = []
    for entry in entries:
        spec = entry.spec
        if isinstance(spec, DirSpec) or not entry.parts:
            continue
        if not isinstance(spec, bytes | FileSpec):
            raise ValueError(
                f"files: {entry.path}: cramfs here holds regular files and directories only"
            )
        data = spec if isinstance(spec, bytes) else spec.data
        executable = isinstance(spec, FileSpec) and spec.executable
        is_plain = entry.parts in plain
        if is_plain:
            image.extend(bytes(-len(image) % psize))
            stored = data
        else:
            image.extend(bytes(-len(image) % 4))
            stored = zlib.compress(data) if data else b""
        placed.append((entry.parts, len(data), is_plain, len(image), len(stored), executable))
        image.extend(stored)
    unknown = plain - {parts for parts, *_ in placed}
    if unknown:
        raise ValueError(f"xip: {'/' + '/'.join(sorted(unknown)[0])} is not a file of files=")
    mtd: MtdDevice | None = None
    if device == "mtd":
        if not machine.flash_size:
            raise ValueError(
                "device: 'mtd' needs memory-mapped flash, and this machine has "
                "none (build it with Machine(flash='4M'))"
            )
        mtd = add_mtd(machine, bytes(image), size=size, option="files")
        dev = (MTD_BLOCK_MAJOR, mtd.index)
    else:
        if size is not None:
            raise ValueError("size: only meaningful with device='mtd'")
        dev = block_device(machine, RAMDISK_MAJOR, 0)
    sb = CramfsSuperBlock(dev, mtd, bytes(image))
    for parts, length, is_plain, offset, nstored, executable in placed:
        parent = sb.root
        for comp in parts[:-1]:
            assert parent.children is not None
            nxt = parent.children.get(comp)
            if nxt is None:
                nxt = Inode(sb, S_IFDIR | 0o755, sb.dir_ops, ino=1)
                parent.children[comp] = nxt
            parent = nxt
        mode = S_IFREG | (0o755 if executable else 0o644)
        inode = Inode(sb, mode, sb.fops, ino=offset if length else 1)
        inode.i_size = length
        sb.layout[inode] = _Layout(offset, is_plain, nstored)
        assert parent.children is not None
        parent.children[parts[-1]] = inode
    return sb, sb.root, sb
