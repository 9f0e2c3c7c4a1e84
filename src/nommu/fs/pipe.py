"""Pipes and FIFOs (fs/pipe.c, fs/fifo.c): byte streams that cannot be mapped.

``pipefifo_fops`` has no ``->mmap``, so ``validate_mmap_request`` fails with
ENODEV before anything else (no ``->mmap``). A pipe holds at most 64 KiB
(``PIPE_DEF_BUFFERS`` pages). Reading an empty pipe whose write end is closed
returns EOF; writing a pipe without readers fails with EPIPE (the kernel also
sends SIGPIPE).

The model runs one task at a time, so a call that would sleep (reading an
empty pipe that still has writers, writing more than fits, opening a FIFO
whose other end nobody holds) cannot complete: it raises :class:`WouldBlock`
without changing anything, unless the file is ``O_NONBLOCK`` (then EAGAIN, or
ENXIO for the FIFO open, as the kernel returns).

Usage::

    rfd, wfd = p.pipe()
    p.write(wfd, b"hi")
    p.read(rfd, 2)          # b"hi"
    p.mmap(0, 4096, PROT_READ, MAP_PRIVATE, rfd)   # SyscallError(ENODEV)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nommu.consts import O_NONBLOCK, S_IFIFO
from nommu.errors import Errno, NommuError, SyscallError
from nommu.fs.vfs import FMODE_READ, FMODE_WRITE, File, FileOperations, Inode, SuperBlock

if TYPE_CHECKING:
    from nommu.machine import Machine

#: ``PIPE_DEF_BUFFERS * PAGE_SIZE``: what a pipe holds before a writer sleeps.
PIPE_BUF_SIZE = 16 * 4096


class WouldBlock(NommuError):
    """The call would put the only running task to sleep forever."""


class Pipe:
    """``struct pipe_inode_info``: the buffer and the counts of each end."""

    __slots__ = ("buf", "readers", "writers")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.readers = 0
        self.writers = 0


def pipe_of(inode: Inode) -> Pipe:
    pipe = inode.private
    if not isinstance(pipe, Pipe):
        pipe = Pipe()
        inode.private = pipe
    return pipe


class PipeOperations(FileOperations):
    """``pipefifo_fops``: read, write, no ``->mmap`` (so mmap is ENODEV)."""

    def read(self, file: File, count: int, pos: int) -> bytes:
        """``pipe_read``: what is buffered; EOF without writers; else it would sleep."""
        pipe = pipe_of(file.inode)
        if count == 0:
            return b""
        if not pipe.buf:
            if not pipe.writers:
                return b""
            if file.f_flags & O_NONBLOCK:
                raise SyscallError(Errno.EAGAIN, "the pipe is empty")
            raise WouldBlock(f"{file.path}: read from an empty pipe would wait for a writer")
        data = bytes(pipe.buf[:count])
        del pipe.buf[:count]
        return data

    def write(self, file: File, data: bytes, pos: int) -> int:
        """``pipe_write``: EPIPE without readers; the rest must fit (or EAGAIN)."""
        pipe = pipe_of(file.inode)
        if not pipe.readers:
            raise SyscallError(Errno.EPIPE, "no process reads this pipe (SIGPIPE)")
        if not data:
            return 0
        room = PIPE_BUF_SIZE - len(pipe.buf)
        if len(data) > room:
            if file.f_flags & O_NONBLOCK:
                if room == 0:
                    raise SyscallError(Errno.EAGAIN, "the pipe is full")
                data = data[:room]
            else:
                raise WouldBlock(
                    f"{file.path}: {len(data)} bytes do not fit the {room} "
                    f"bytes left in the pipe; the writer would sleep"
                )
        pipe.buf += data
        return len(data)

    def release(self, file: File) -> None:
        """``pipe_release``: this end goes away."""
        pipe = pipe_of(file.inode)
        if file.f_mode & FMODE_READ:
            pipe.readers -= 1
        if file.f_mode & FMODE_WRITE:
            pipe.writers -= 1


class FifoOperations(PipeOperations):
    """A named pipe on a filesystem: ``fifo_open`` counts the ends."""

    def open(self, file: File) -> None:
        """``fifo_open``: a lone end waits for its partner (O_NONBLOCK: ENXIO or success)."""
        pipe = pipe_of(file.inode)
        mode = file.f_mode & (FMODE_READ | FMODE_WRITE)
        nonblock = bool(file.f_flags & O_NONBLOCK)
        if mode == FMODE_READ and not pipe.writers and not nonblock:
            raise WouldBlock(f"{file.path}: opening a FIFO for reading waits for a writer")
        if mode == FMODE_WRITE and not pipe.readers:
            if nonblock:
                raise SyscallError(
                    Errno.ENXIO, f"{file.path}: no process has the FIFO open for reading"
                )
            raise WouldBlock(f"{file.path}: opening a FIFO for writing waits for a reader")
        if mode & FMODE_READ:
            pipe.readers += 1
        if mode & FMODE_WRITE:
            pipe.writers += 1


class PipefsSuperBlock(SuperBlock):
    """``pipefs``: the internal filesystem anonymous pipes live on."""

    def __init__(self, dev: tuple[int, int]) -> None:
        super().__init__("pipefs", dev)
        self.fops = PipeOperations()


def pipefs(machine: Machine) -> PipefsSuperBlock:
    return machine.subsystem(
        "pipefs", PipefsSuperBlock, lambda: PipefsSuperBlock(machine.anon_dev())
    )


def create_pipe(machine: Machine, flags: int, uid: int, gid: int) -> tuple[File, File]:
    """``create_pipe_files``: a new pipe inode and its read and write ends."""
    sb = pipefs(machine)
    inode = Inode(sb, S_IFIFO | 0o600, sb.fops)
    inode.i_uid, inode.i_gid = uid, gid
    inode.i_nlink = 0
    pipe = pipe_of(inode)
    pipe.readers = pipe.writers = 1
    rf = File(inode, None, f"pipe:[{inode.ino}]", flags & O_NONBLOCK, FMODE_READ)
    wf = File(inode, None, f"pipe:[{inode.ino}]", 1 | (flags & O_NONBLOCK), FMODE_WRITE)
    return rf, wf
