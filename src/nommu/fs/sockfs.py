"""Sockets (net/socket.c): files that have ``->mmap`` but no mapping capabilities.

``socket_file_ops`` has ``.mmap = sock_mmap``, so ``validate_mmap_request``
gets past the ENODEV check; there is no ``mmap_capabilities`` and the inode
mode ``S_IFSOCK`` has no default, so mmap fails with EINVAL (mm/nommu.c
``validate_mmap_request()``).

Only unconnected ``AF_UNIX`` sockets are modelled: a stream socket's
``read()`` fails with EINVAL and ``write()`` with ENOTCONN; a datagram
socket's ``read()`` would sleep (:class:`~nommu.fs.pipe.WouldBlock`, EAGAIN
with ``SOCK_NONBLOCK``) and its ``write()`` is ENOTCONN.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nommu.consts import O_NONBLOCK, S_IFSOCK
from nommu.errors import Errno, SyscallError
from nommu.fs.pipe import WouldBlock
from nommu.fs.vfs import FMODE_READ, FMODE_WRITE, File, FileOperations, Inode, SuperBlock

if TYPE_CHECKING:
    from nommu.machine import Machine

AF_UNIX = 1
AF_INET = 2
SOCK_STREAM = 1
SOCK_DGRAM = 2
SOCK_RAW = 3
SOCK_SEQPACKET = 5
SOCK_MAX = 11
SOCK_TYPE_MASK = 0xF
SOCK_NONBLOCK = O_NONBLOCK
SOCK_CLOEXEC = 0o2000000


class SocketOperations(FileOperations):
    """``socket_file_ops``: ``->mmap`` exists (``sock_mmap``)."""

    has_mmap = True

    def __init__(self, sock_type: int) -> None:
        self.sock_type = sock_type

    def read(self, file: File, count: int, pos: int) -> bytes:
        if self.sock_type == SOCK_DGRAM:
            if file.f_flags & O_NONBLOCK:
                raise SyscallError(Errno.EAGAIN, "no datagram queued")
            raise WouldBlock(f"{file.path}: reading waits for a datagram")
        raise SyscallError(Errno.EINVAL, "the socket is not connected")

    def write(self, file: File, data: bytes, pos: int) -> int:
        raise SyscallError(Errno.ENOTCONN, "the socket is not connected")


class SocketNodeOperations(FileOperations):
    """A socket's name in a filesystem: ``open()`` on it fails with ENXIO."""

    has_read = False
    has_write = False

    def open(self, file: File) -> None:
        raise SyscallError(Errno.ENXIO, f"{file.path} is a socket; use connect()")


class SockfsSuperBlock(SuperBlock):
    """``sockfs``: the internal filesystem of socket inodes."""

    def __init__(self, dev: tuple[int, int]) -> None:
        super().__init__("sockfs", dev)


def sockfs(machine: Machine) -> SockfsSuperBlock:
    return machine.subsystem(
        "sockfs", SockfsSuperBlock, lambda: SockfsSuperBlock(machine.anon_dev())
    )


def create_socket(
    machine: Machine, domain: int, sock_type: int, protocol: int, uid: int, gid: int
) -> File:
    """``__sys_socket``: EINVAL for a bad type or flags, EAFNOSUPPORT for other families."""
    flags = sock_type & ~SOCK_TYPE_MASK
    kind = sock_type & SOCK_TYPE_MASK
    if flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK):
        raise SyscallError(Errno.EINVAL, f"unknown socket flags {flags:#x}")
    if kind <= 0 or kind >= SOCK_MAX:
        raise SyscallError(Errno.EINVAL, f"socket type {kind} out of range")
    if domain != AF_UNIX:
        raise SyscallError(Errno.EAFNOSUPPORT, f"address family {domain} is not modelled")
    if protocol not in (0, AF_UNIX):
        raise SyscallError(Errno.EPROTONOSUPPORT, f"protocol {protocol}")
    if kind == SOCK_RAW:
        kind = SOCK_DGRAM
    if kind not in (SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET):
        raise SyscallError(Errno.ESOCKTNOSUPPORT, f"socket type {kind} for AF_UNIX")
    sb = sockfs(machine)
    inode = Inode(
        sb, S_IFSOCK | 0o777, SocketOperations(SOCK_DGRAM if kind == SOCK_DGRAM else SOCK_STREAM)
    )
    inode.i_uid, inode.i_gid = uid, gid
    inode.i_nlink = 0
    return File(
        inode, None, f"socket:[{inode.ino}]", 2 | (flags & SOCK_NONBLOCK), FMODE_READ | FMODE_WRITE
    )
