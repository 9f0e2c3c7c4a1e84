"""One contract, every backing: open, read, write, truncate, mmap private/shared, munmap.

Each row states what Linux gives for that backing (the mmap capabilities of each backing): the
errno of ``open(O_RDWR)``, the bytes ``read()`` returns, the result of
``write()`` and ``ftruncate()``, and for an 8 KiB mapping of each kind either
the errno, ``DIRECT`` at a given address (no RAM used) or ``COPY`` (two new
pages). Every successful mapping must show the backing's bytes and be
unmapped again with nothing leaked.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from fsutil import A10000, FLASH_BASE, PRIV, RW, SHARED, Board, P, R, rom_addr, spec_board

import nommu
from conftest import free_pages
from nommu import SyscallError

PATTERN = bytes((i * 13 + 5) % 256 for i in range(2 * P))
FB = 0x30000000
MEM = 0x00700000


@dataclass(frozen=True)
class Direct:
    """The mapping is the backing's own memory at this address."""

    where: Callable[[Board], int]


@dataclass(frozen=True)
class Copy:
    """The mapping is a copy in two freshly allocated pages."""


COPY = Copy()
Outcome = Direct | Copy | int


@dataclass(frozen=True)
class Backing:
    name: str
    setup: Callable[[Board, nommu.Process], tuple[int, int | None, int]]
    """Opens the backing: ``(read fd, read-write fd or None, mmap offset)``."""
    open_rw: int | None
    data: Callable[[Board], bytes]
    """The 8 KiB the mappings must show (and whose first 8 bytes read() returns)."""
    write: int
    truncate: int | None
    priv_ro: Outcome
    priv_rw: Outcome
    shared_ro: Outcome
    shared_rw: Outcome


def _ram(fstype: str) -> Callable[[Board, nommu.Process], tuple[int, int | None, int]]:
    def setup(board: Board, p: nommu.Process) -> tuple[int, int | None, int]:
        board.m.mount(fstype, "/c")
        fd = p.open("/c/f", nommu.O_CREAT | nommu.O_RDWR)
        p.ftruncate(fd, 2 * P)
        p.pwrite(fd, PATTERN, 0)
        return p.open("/c/f", nommu.O_RDONLY), fd, 0

    return setup


def _path(
    path: str, offset: int = 0, seek: int | None = None
) -> Callable[[Board, nommu.Process], tuple[int, int | None, int]]:
    def setup(board: Board, p: nommu.Process) -> tuple[int, int | None, int]:
        ro = p.open(path, nommu.O_RDONLY)
        try:
            rw: int | None = p.open(path, nommu.O_RDWR)
        except SyscallError:
            rw = None
        if seek is not None:
            p.lseek(ro, seek, nommu.SEEK_SET)
            if rw is not None:
                p.lseek(rw, seek, nommu.SEEK_SET)
        return ro, rw, offset

    return setup


def _pipe(board: Board, p: nommu.Process) -> tuple[int, int | None, int]:
    r, w = p.pipe()
    p.write(w, PATTERN[:8])
    return r, w, 0


def _fb_data(board: Board) -> bytes:
    return bytes(2 * P)


def _flash(board: Board) -> bytes:
    return bytes(board.m.memory.read(FLASH_BASE, 2 * P))


RAM = Direct(lambda b: 0x00400000)
BACKINGS = [
    Backing("ramfs", _ram("ramfs"), None, lambda b: PATTERN, 8, None, RAM, COPY, RAM, RAM),
    Backing("tmpfs", _ram("tmpfs"), None, lambda b: PATTERN, 8, None, RAM, COPY, RAM, RAM),
    Backing(
        "romfs-mtd",
        _path("/rom/data"),
        errno.EROFS,
        lambda b: A10000[: 2 * P],
        errno.EBADF,
        errno.EINVAL,
        Direct(lambda b: rom_addr(b, "data")),
        COPY,
        Direct(lambda b: rom_addr(b, "data")),
        errno.EACCES,
    ),
    Backing(
        "romfs-block",
        _path("/romb/data"),
        errno.EROFS,
        lambda b: A10000[: 2 * P],
        errno.EBADF,
        errno.EINVAL,
        COPY,
        COPY,
        errno.ENODEV,
        errno.EACCES,
    ),
    Backing(
        "ext2",
        _path("/mnt/a"),
        None,
        lambda b: A10000[: 2 * P],
        8,
        None,
        COPY,
        COPY,
        errno.ENODEV,
        errno.ENODEV,
    ),
    Backing(
        "nfs",
        _path("/nfs/n"),
        None,
        lambda b: bytes(range(256)) * 32,
        8,
        None,
        COPY,
        COPY,
        errno.ENODEV,
        errno.ENODEV,
    ),
    Backing(
        "dev-zero",
        _path("/dev/zero"),
        None,
        lambda b: bytes(2 * P),
        8,
        errno.EINVAL,
        errno.EINVAL,  # kernel_read() refuses zero_fops' ->read (v5.10+)
        errno.EINVAL,
        errno.ENODEV,
        errno.ENODEV,
    ),
    Backing(
        "dev-mem",
        _path("/dev/mem", MEM, seek=MEM),
        None,
        lambda b: bytes(2 * P),
        8,
        errno.EINVAL,
        errno.ENODEV,
        errno.ENODEV,
        Direct(lambda b: MEM),
        Direct(lambda b: MEM),
    ),
    Backing(
        "dev-fb0",
        _path("/dev/fb0"),
        None,
        _fb_data,
        8,
        errno.EINVAL,
        errno.ENODEV,
        errno.ENODEV,
        Direct(lambda b: FB),
        Direct(lambda b: FB),
    ),
    Backing(
        "dev-mtd0",
        _path("/dev/mtd0"),
        errno.EACCES,
        _flash,
        errno.EBADF,
        errno.EINVAL,
        errno.EACCES,
        errno.EINVAL,  # the copy's kernel_read() refuses mtdchar's ->read (v5.10+)
        Direct(lambda b: FLASH_BASE),
        errno.EACCES,
    ),
    Backing(
        "pipe",
        _pipe,
        None,
        lambda b: PATTERN,
        8,
        errno.EINVAL,
        errno.ENODEV,
        errno.ENODEV,
        errno.ENODEV,
        errno.ENODEV,
    ),
]


def _check_mapping(
    board: Board,
    p: nommu.Process,
    outcome: Outcome,
    prot: int,
    flags: int,
    fd: int,
    offset: int,
    data: bytes,
) -> None:
    m = board.m
    free = free_pages(m)
    if isinstance(outcome, int):
        with pytest.raises(SyscallError) as info:
            p.mmap(0, 2 * P, prot, flags, fd, offset)
        assert info.value.errno == outcome
        assert free_pages(m) == free
        return
    addr = p.mmap(0, 2 * P, prot, flags, fd, offset)
    if isinstance(outcome, Direct):
        assert addr == outcome.where(board)
        assert free_pages(m) == free
    else:
        assert addr % P == 0 and free_pages(m) == free - 2
    assert p.peek(addr, 2 * P) == data
    m.validate()
    assert p.munmap(addr, 2 * P) is None
    assert free_pages(m) == free
    m.validate()


@pytest.mark.parametrize("b", BACKINGS, ids=[b.name for b in BACKINGS])
def test_contract(b: Backing) -> None:
    board = spec_board()
    m = board.m
    p = board.spawn("P1")
    ro, rw, offset = b.setup(board, p)
    if b.open_rw is None:
        assert rw is not None
    else:
        assert rw is None
        with pytest.raises(SyscallError) as info:
            p.open(p.files.fds[ro].path, nommu.O_RDWR)
        assert info.value.errno == b.open_rw
    data = b.data(board)
    wfd = rw if rw is not None else ro
    # read
    assert p.read(ro, 8) == data[:8]
    # write the same bytes again at the write fd's position: the contents stay the same
    if b.write == 8:
        assert p.write(wfd, data[:8]) == 8
    else:
        with pytest.raises(SyscallError) as info:
            p.write(wfd, data[:8])
        assert info.value.errno == b.write
    # truncate to the current size: no change where allowed
    if b.truncate is None:
        size = p.fstat(wfd).st_size
        assert p.ftruncate(wfd, size) is None
        assert p.fstat(wfd).st_size == size
    else:
        with pytest.raises(SyscallError) as info:
            p.ftruncate(wfd, 2 * P)
        assert info.value.errno == b.truncate
    # mappings, each unmapped again
    _check_mapping(board, p, b.priv_ro, R, PRIV, ro, offset, data)
    _check_mapping(board, p, b.priv_rw, RW, PRIV, wfd, offset, data)
    _check_mapping(board, p, b.shared_ro, R, SHARED, ro, offset, data)
    _check_mapping(board, p, b.shared_rw, RW, SHARED, wfd, offset, data)
    for fd in sorted(p.files.fds):
        p.close(fd)
    assert m.nommu.mmap_pages_allocated == 0
    assert m.cat("/proc/maps") == ""
    m.validate()
