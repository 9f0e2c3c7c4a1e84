"""Device nodes, FIFOs and sockets stored on a filesystem (``init_special_inode``).

A character-device node anywhere (in a romfs image, on ext2) opens the
driver registered for its device number, as ``chrdev_open`` does by
replacing ``file->f_op`` with the driver's operations; an unknown number
fails with ENXIO. Block-device nodes have no driver in the model (ENXIO).
FIFOs get ``pipefifo_fops``; socket nodes cannot be opened (ENXIO).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from nommu.consts import S_IFBLK, S_IFCHR, S_IFIFO, S_IFMT, S_IFSOCK
from nommu.errors import Errno, SyscallError
from nommu.fs.pipe import FifoOperations
from nommu.fs.sockfs import SocketNodeOperations
from nommu.fs.vfs import (
    FMODE_CAN_READ,
    FMODE_CAN_WRITE,
    FMODE_READ,
    FMODE_WRITE,
    File,
    FileOperations,
)

if TYPE_CHECKING:
    from nommu.machine import Machine


class ChrdevOperations(FileOperations):
    """``def_chr_fops``: ``chrdev_open`` finds the driver by device number."""

    has_read = False
    has_write = False

    def __init__(
        self, lookup: Callable[[tuple[int, int]], FileOperations | None], rdev: tuple[int, int]
    ) -> None:
        self.lookup = lookup
        self.rdev = rdev

    def open(self, file: File) -> None:
        fops = self.lookup(self.rdev)
        if fops is None:
            raise SyscallError(
                Errno.ENXIO, f"no driver for character device {self.rdev[0]}:{self.rdev[1]}"
            )
        file.f_op = fops
        if fops.has_read and file.f_mode & FMODE_READ:
            file.f_mode |= FMODE_CAN_READ
        if fops.has_write and file.f_mode & FMODE_WRITE:
            file.f_mode |= FMODE_CAN_WRITE
        fops.open(file)


class NoDeviceOperations(FileOperations):
    """A block-device node without a modelled driver: ``open()`` is ENXIO."""

    has_read = False
    has_write = False

    def open(self, file: File) -> None:
        raise SyscallError(Errno.ENXIO, f"{file.path}: no such device")


def chrdev_lookup(machine: Machine) -> Callable[[tuple[int, int]], FileOperations | None]:
    """The driver of a character device number: the one behind its /dev node."""

    def lookup(rdev: tuple[int, int]) -> FileOperations | None:
        children = machine.devfs.root.children or {}
        for inode in children.values():
            if (inode.i_mode & S_IFMT) == S_IFCHR and inode.i_rdev == rdev:
                return inode.i_fop
        return None

    return lookup


def special_fops(machine: Machine) -> Callable[[int, tuple[int, int]], FileOperations]:
    """``init_special_inode``: the operations a node of *mode* and *rdev* gets."""
    lookup = chrdev_lookup(machine)
    fifo = FifoOperations()
    sock = SocketNodeOperations()
    nodev = NoDeviceOperations()

    def make(mode: int, rdev: tuple[int, int]) -> FileOperations:
        kind = mode & S_IFMT
        if kind == S_IFCHR:
            return ChrdevOperations(lookup, rdev)
        if kind == S_IFIFO:
            return fifo
        if kind == S_IFSOCK:
            return sock
        if kind == S_IFBLK:
            return nodev
        raise ValueError(f"mode {mode:#o} is not a special file")

    return make
