"""ext2: a disk filesystem on a block device (``/dev/hdaN``, ``s_dev`` ``3:N``).

Models what a no-MMU kernel makes of fs/ext2: regular files have no
``mmap_capabilities``, so every private mapping is a copy read through
``f_op->read`` (zero-filled past EOF) and ``MAP_SHARED`` fails with ENODEV
once the EACCES checks have passed (mm/nommu.c ``validate_mmap_request()``). Files are writable and
truncatable; the data is held in Python (see :mod:`nommu.fs.diskfs`).

Inode numbers are ext2's: the root is 2, ``lost+found`` 11 and the files of
the ``files=`` option follow from 12 in the order given (parent directories
take a number when first needed). Each mount is the next partition of the
first IDE disk: ``/dev/hda1`` is ``03:01``, ``/dev/hda2`` ``03:02``...

Usage::

    m.mount("ext2", "/mnt", files={"a": bytes(i % 251 for i in range(10000))})
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nommu.fs.diskfs import DiskSuperBlock
from nommu.fs.filespec import parse_files
from nommu.fs.nodes import special_fops
from nommu.fs.romfs import block_device
from nommu.fs.vfs import Inode, SuperBlock

if TYPE_CHECKING:
    from nommu.machine import Machine

IDE0_MAJOR = 3
EXT2_ROOT_INO = 2
EXT2_GOOD_OLD_FIRST_INO = 11
#: ``s_maxbytes`` with 4 KiB blocks (``ext2_max_size``), about 2 TiB.
EXT2_MAXBYTES = 0x1FFFFFFF000


class Ext2SuperBlock(DiskSuperBlock):
    """An ext2 filesystem; ``fs`` object returned by ``Machine.mount("ext2", ...)``."""

    def __init__(self, dev: tuple[int, int]) -> None:
        super().__init__(
            "ext2",
            dev,
            root_ino=EXT2_ROOT_INO,
            first_ino=EXT2_GOOD_OLD_FIRST_INO,
            maxbytes=EXT2_MAXBYTES,
        )
        self.mkdir(self.root, "lost+found", 0o700)

    @property
    def device(self) -> str:
        """The block device name, ``hdaN``."""
        return f"hda{self.s_dev[1]}"


def mount_ext2(machine: Machine, *, files: object = None) -> tuple[SuperBlock, Inode, Any]:
    """The ``ext2`` factory for ``Machine.mount``: option ``files`` (may be absent)."""
    entries = parse_files(files)
    sb = Ext2SuperBlock(block_device(machine, IDE0_MAJOR, 1))
    sb.populate(entries, special_fops(machine))
    machine.log(f"EXT2-fs ({sb.device}): mounted filesystem")
    return sb, sb.root, sb
