"""open(2)'s access modes and O_TRUNC (fs/open.c build_open_flags(), fs/namei.c do_open(),
may_open(), handle_truncate())."""

from __future__ import annotations

import errno

from fsutil import RW, SHARED, P, errno_of, spec_board

import nommu
from conftest import free_pages
from nommu.binfmt.flat_format import build_flat

O_ACC3 = 3


def test_access_mode_3_opens_for_neither_read_nor_write() -> None:
    """ACC_MODE(3) asks read and write permission; OPEN_FMODE(3) gives neither."""
    board = spec_board()
    p = board.spawn("P1")
    fd = p.open("/ram/f", nommu.O_CREAT | nommu.O_RDWR)
    p.write(fd, b"data")
    fd3 = p.open("/ram/f", O_ACC3)
    assert errno_of(p.read, fd3, 4) == errno.EBADF
    assert errno_of(p.write, fd3, b"x") == errno.EBADF
    assert errno_of(p.open, "/ram", O_ACC3) == errno.EISDIR  # MAY_WRITE on a directory
    assert errno_of(p.open, "/rom/data", O_ACC3) == errno.EROFS  # sb_permission()


def test_o_trunc_truncates_whatever_the_access_mode() -> None:
    """do_open(): O_TRUNC of an existing regular file adds MAY_WRITE and truncates, even
    O_RDONLY; a read-only mount is EROFS (mnt_want_write) before any permission check."""
    board = spec_board()
    m = board.m
    p = board.spawn("P1")
    fd = p.open("/ram/f", nommu.O_CREAT | nommu.O_RDWR)
    p.ftruncate(fd, 2 * P)
    before = free_pages(m)
    p.close(p.open("/ram/f", nommu.O_RDONLY | nommu.O_TRUNC))
    assert p.fstat(fd).st_size == 0 and free_pages(m) == before + 2
    assert errno_of(p.open, "/rom/data", nommu.O_RDONLY | nommu.O_TRUNC) == errno.EROFS


def test_o_trunc_of_a_busy_file_is_etxtbsy() -> None:
    """handle_truncate(): get_write_access() of a running executable is ETXTBSY, and a
    shrink under a MAP_SHARED mapping (nommu_shrink_inode_mappings()) is ETXTBSY too;
    no descriptor is left behind."""
    board = spec_board()
    p = board.spawn("P1")
    fd = p.open("/ram/f", nommu.O_CREAT | nommu.O_RDWR)
    p.ftruncate(fd, P)
    a = p.mmap(0, P, RW, SHARED, fd, 0)
    nfds = len(p.files.fds)
    assert errno_of(p.open, "/ram/f", nommu.O_RDONLY | nommu.O_TRUNC) == errno.ETXTBSY
    assert len(p.files.fds) == nfds
    p.munmap(a, P)
    prog = p.open("/ram/prog", nommu.O_CREAT | nommu.O_WRONLY, 0o755)
    p.write(prog, build_flat(0x2040, 0x800, 0x800, 0x1000, 4, flags=0))
    p.close(prog)
    child = p.vfork()
    child.execve("/ram/prog", ["prog"])
    assert errno_of(p.open, "/ram/prog", nommu.O_RDONLY | nommu.O_TRUNC) == errno.ETXTBSY
    assert p.fstat(p.open("/ram/prog", nommu.O_RDONLY)).st_size > 0
    board.m.validate()
