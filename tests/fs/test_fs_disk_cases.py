"""Disk and network files: private copies and region sharing (do_mmap()'s sharing search)."""

from __future__ import annotations

import errno

import pytest
from fsutil import A10000, PRIV, RW, SHARED, P, R, W, X, errno_of, maps_lines, pad, spec_board

import nommu
from conftest import buddy, free_pages, meminfo

LINE_A = pad("00400000-00403000 r--p 00000000 03:01 12 ", "/mnt/a")


@pytest.fixture
def board():  # type: ignore[no-untyped-def]
    return spec_board()


def c63(board):  # type: ignore[no-untyped-def]
    """C63: P1 maps /mnt/a read-only private: a 3-page copy at 0x00400000."""
    p1 = board.spawn("P1")
    fd = p1.open("/mnt/a", nommu.O_RDONLY)
    c = p1.mmap(0, 10000, R, PRIV, fd, 0)
    return p1, fd, c


def test_c63_read_only_private_copy(board) -> None:  # type: ignore[no-untyped-def]
    m = board.m
    p1, _, c = c63(board)
    assert c == 0x00400000
    assert p1.peek(c, 10000) == A10000
    assert p1.peek(c + 10000, 12288 - 10000) == bytes(2288)
    assert free_pages(m) == 1021
    assert meminfo(m, "MmapCopy") == 12
    assert maps_lines(m) == [LINE_A]
    assert maps_lines(m, p1.pid) == [LINE_A]
    assert buddy(m) == "1 0 1 1 1 1 1 1 1 1 0"
    m.validate()


def test_c65_contained_range_shares(board) -> None:  # type: ignore[no-untyped-def]
    m = board.m
    c63(board)
    p2 = board.spawn("P2")
    fd2 = p2.open("/mnt/a", nommu.O_RDONLY)
    before = free_pages(m)
    a = p2.mmap(0, 4096, R, PRIV, fd2, 4096)
    assert a == 0x00401000
    assert maps_lines(m, p2.pid) == [pad("00401000-00402000 r--p 00001000 03:01 12 ", "/mnt/a")]
    assert free_pages(m) == before
    assert maps_lines(m) == [LINE_A]  # still one region, now used twice
    assert p2.peek(a, 4096) == A10000[4096:8192]
    m.validate()


def test_c65_hard_link_shares_by_inode(board) -> None:  # type: ignore[no-untyped-def]
    """Sharing is by inode: /mnt/a2 (a hard link) attaches to the copy of /mnt/a."""
    m = board.m
    c63(board)
    p2 = board.spawn("P2")
    fd2 = p2.open("/mnt/a2", nommu.O_RDONLY)
    assert p2.mmap(0, 10000, R, PRIV, fd2, 0) == 0x00400000
    # the region keeps the path it was created with; the VMA has its own
    assert maps_lines(m, p2.pid) == [pad("00400000-00403000 r--p 00000000 03:01 12 ", "/mnt/a2")]
    assert maps_lines(m) == [LINE_A]
    m.validate()


@pytest.mark.parametrize("who", ["P1", "P2"])
def test_c67_superset_fails(board, who: str) -> None:  # type: ignore[no-untyped-def]
    m = board.m
    p1, fd, _ = c63(board)
    if who == "P1":
        p, f = p1, fd
    else:
        p = board.spawn("P2")
        f = p.open("/mnt/a", nommu.O_RDONLY)
    assert errno_of(p.mmap, 0, 16384, R, PRIV, f, 0) == errno.EINVAL
    assert "nommu: Attempt to share mismatched mappings" in m.dmesg()
    # an overlap that starts inside and runs past the region fails the same way
    assert errno_of(p.mmap, 0, 8192, R, PRIV, f, 8192) == errno.EINVAL
    # a disjoint range is a new copy
    assert p.mmap(0, 4096, R, PRIV, f, 3 * 4096) == 0x00403000
    m.validate()


def test_c69_writable_private_is_never_shared(board) -> None:  # type: ignore[no-untyped-def]
    m = board.m
    p1, _, c = c63(board)
    p2 = board.spawn("P2")
    fd2 = p2.open("/mnt/a", nommu.O_RDWR)
    before = free_pages(m)
    w = p2.mmap(0, 10000, RW, PRIV, fd2, 0)
    assert w != c
    assert free_pages(m) == before - 3
    p2.poke(w, b"\xff\xff")
    assert p1.peek(c, 2) == b"\x00\x01"
    assert p2.pread(fd2, 2, 0) == b"\x00\x01"
    line = maps_lines(m, p2.pid)[0]
    assert line == pad(f"{w:08x}-{w + 12288:08x} rw-p 00000000 03:01 12 ", "/mnt/a")
    # a later read-only mapping shares P1's copy, never the writable one
    p3 = board.spawn("P3")
    fd3 = p3.open("/mnt/a", nommu.O_RDONLY)
    assert p3.mmap(0, 10000, R, PRIV, fd3, 0) == c
    m.validate()


def test_c71_copies_are_snapshots_and_sharers_get_the_stale_one(board) -> None:  # type: ignore[no-untyped-def]
    m = board.m
    p1, _, c = c63(board)
    p3 = board.spawn("P3")
    fd3 = p3.open("/mnt/a", nommu.O_RDWR)
    assert p3.pwrite(fd3, b"ZZZZ", 0) == 4
    assert p1.peek(c, 4) == b"\x00\x01\x02\x03"
    p2 = board.spawn("P2")
    fd2 = p2.open("/mnt/a", nommu.O_RDONLY)
    c2 = p2.mmap(0, 10000, R, PRIV, fd2, 0)
    assert c2 == 0x00400000
    assert p2.peek(c2, 4) == b"\x00\x01\x02\x03"
    p1.munmap(c, 10000)
    p2.munmap(c2, 10000)
    assert free_pages(m) == 1024
    c3 = p2.mmap(0, 10000, R, PRIV, fd2, 0)
    assert p2.peek(c3, 4) == b"ZZZZ"
    m.validate()


def test_c73_traced_mappers_get_private_copies(board) -> None:  # type: ignore[no-untyped-def]
    m = board.m
    _, _, c = c63(board)
    p2 = board.spawn("P2")
    p2.ptraced = True
    fd2 = p2.open("/mnt/a", nommu.O_RDONLY)
    before = free_pages(m)
    t = p2.mmap(0, 10000, R, PRIV, fd2, 0)
    assert t != c
    assert free_pages(m) == before - 3
    assert meminfo(m, "MmapCopy") == 24
    assert [line.endswith("/mnt/a") for line in maps_lines(m)] == [True, True]
    # the traced copy is not shareable: untraced P3 shares P1's
    p3 = board.spawn("P3")
    fd3 = p3.open("/mnt/a", nommu.O_RDONLY)
    assert p3.mmap(0, 10000, R, PRIV, fd3, 0) == 0x00400000
    # and a traced process never attaches to an existing region either
    assert p2.mmap(0, 10000, R, PRIV, fd2, 0) not in (c, t)
    m.validate()


def test_c75_map_shared_on_a_disk_file(board) -> None:  # type: ignore[no-untyped-def]
    p1 = board.spawn("P1")
    fd = p1.open("/mnt/a", nommu.O_RDONLY)
    assert errno_of(p1.mmap, 0, 4096, R, SHARED, fd, 0) == errno.ENODEV
    assert errno_of(p1.mmap, 0, 4096, RW, SHARED, fd, 0) == errno.EACCES
    fdw = p1.open("/mnt/a", nommu.O_RDWR)
    assert errno_of(p1.mmap, 0, 4096, RW, SHARED, fdw, 0) == errno.ENODEV
    assert free_pages(board.m) == 1024


def test_c77_write_only_fd(board) -> None:  # type: ignore[no-untyped-def]
    p1 = board.spawn("P1")
    fd = p1.open("/mnt/a", nommu.O_WRONLY)
    assert errno_of(p1.mmap, 0, 4096, R, PRIV, fd, 0) == errno.EACCES
    assert errno_of(p1.mmap, 0, 4096, W, SHARED, fd, 0) == errno.EACCES


def test_c79_beyond_eof_reads_zero(board) -> None:  # type: ignore[no-untyped-def]
    m = board.m
    p1 = board.spawn("P1")
    fd = p1.open("/mnt/a", nommu.O_RDONLY)
    a = p1.mmap(0, 4096, R, PRIV, fd, 5 * 4096)
    assert p1.peek(a, 4096) == bytes(4096)
    fdw = p1.open("/mnt/a", nommu.O_RDWR)
    b = p1.mmap(0, 16384, RW, PRIV, fdw, 0)
    assert p1.peek(b, 10000) == A10000
    assert p1.peek(b + 10000, 16384 - 10000) == bytes(16384 - 10000)
    m.validate()


def test_c79_copy_zero_fill_overwrites_stale_memory(board) -> None:  # type: ignore[no-untyped-def]
    """The tail past EOF is cleared even when the pages held old bytes."""
    m = board.m
    p1 = board.spawn("P1")
    a = p1.mmap(0, 3 * P, RW, nommu.MAP_PRIVATE | nommu.MAP_ANONYMOUS)
    p1.poke(a, b"\xaa" * 3 * P)
    p1.munmap(a, 3 * P)
    fd = p1.open("/mnt/a", nommu.O_RDONLY)
    c = p1.mmap(0, 10000, R, PRIV, fd, 0)
    assert c == a
    assert p1.peek(c + 10000, 3 * P - 10000) == bytes(3 * P - 10000)
    m.validate()


def test_c81_nfs(board) -> None:  # type: ignore[no-untyped-def]
    m = board.m
    p1 = board.spawn("P1")
    fd = p1.open("/nfs/n", nommu.O_RDONLY)
    a = p1.mmap(0, 8192, R, PRIV, fd, 0)
    assert free_pages(m) == 1022
    assert p1.peek(a, 8192) == bytes(range(256)) * 32
    assert errno_of(p1.mmap, 0, 8192, R, SHARED, fd, 0) == errno.ENODEV
    m.validate()


def test_nfs_server_changes_do_not_reach_copies(board) -> None:  # type: ignore[no-untyped-def]
    m = board.m
    p1 = board.spawn("P1")
    fd = p1.open("/nfs/n", nommu.O_RDONLY)
    a = p1.mmap(0, 8192, R, PRIV, fd, 0)
    board.nfs.server_write("n", b"SERVER", 0)
    assert p1.pread(fd, 6, 0) == b"SERVER"  # read() sees the server
    assert p1.peek(a, 6) == bytes(range(6))  # the copy does not
    # C71 on NFS: a later read-only sharer gets the stale snapshot
    p2 = board.spawn("P2")
    fd2 = p2.open("/nfs/n", nommu.O_RDONLY)
    assert p2.mmap(0, 8192, R, PRIV, fd2, 0) == a
    assert p2.peek(a, 6) == bytes(range(6))
    # a writable private mapping is a fresh copy of the new contents
    fdw = p2.open("/nfs/n", nommu.O_RDWR)
    w = p2.mmap(0, 8192, RW, PRIV, fdw, 0)
    assert p2.peek(w, 6) == b"SERVER"
    # server truncation: reads stop at the new EOF; a new copy is zero-filled
    board.nfs.server_truncate("n", 100)
    assert p2.stat("/nfs/n").st_size == 100
    assert p2.pread(fd2, 200, 0) == b"SERVER" + bytes(range(6, 100))
    fd3 = p2.open("/nfs/n", nommu.O_RDONLY)
    assert p2.mmap(0, 4096, R, PRIV, fd3, 4096) == a + 4096  # inside the stale copy
    c = p2.mmap(0, 4096, R, PRIV, fd3, 8192)  # page 2: disjoint, a new copy past EOF
    assert p2.peek(c, 4096) == bytes(4096)
    board.nfs.server_write("new/file", b"x")
    assert p2.pread(p2.open("/nfs/new/file", nommu.O_RDONLY), 5, 0) == b"x"
    assert board.nfs.server_read("n") == b"SERVER" + bytes(range(6, 100))
    m.validate()


def test_nfs_server_api_errors(board) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="path"):
        board.nfs.server_truncate("missing", 1)
    with pytest.raises(ValueError, match="offset"):
        board.nfs.server_write("n", b"x", -1)
    with pytest.raises(ValueError, match="length"):
        board.nfs.server_truncate("n", -1)
    with pytest.raises(TypeError, match="data"):
        board.nfs.server_write("n", "text")


def test_copies_do_not_follow_pwrite_and_stores_stay_private(board) -> None:  # type: ignore[no-untyped-def]
    """Writes to the file after a copy are not seen; stores into the copy reach sharers only."""
    m = board.m
    p1, _, c = c63(board)
    p2 = board.spawn("P2")
    fd2 = p2.open("/mnt/a", nommu.O_RDWR)
    shared = p2.mmap(0, 10000, R, PRIV, fd2, 0)
    assert shared == c
    p2.pwrite(fd2, b"\x99" * 16, 0)
    assert p1.peek(c, 16) == A10000[:16]
    # nothing enforces PROT_READ without an MMU: a store is seen by every sharer
    p1.poke(c + 100, b"\x77")
    assert p2.peek(shared + 100, 1) == b"\x77"
    assert p2.pread(fd2, 1, 100) == A10000[100:101]
    m.validate()


def test_ext2_write_truncate_and_private_exec(board) -> None:  # type: ignore[no-untyped-def]
    m = board.m
    p = board.spawn("P1")
    fd = p.open("/mnt/new", nommu.O_CREAT | nommu.O_RDWR, 0o644)
    assert p.write(fd, b"hello") == 5
    p.ftruncate(fd, 3 * P + 5)
    assert p.stat("/mnt/new").st_size == 3 * P + 5
    assert p.pread(fd, 10, 0) == b"hello" + bytes(5)
    p.ftruncate(fd, 2)
    assert p.pread(fd, 10, 0) == b"he"
    p.ftruncate(fd, 4)
    assert p.pread(fd, 10, 0) == b"he\0\0"
    # private R/X copy on a normal mount; EPERM on a noexec mount
    fdp = p.open("/mnt/prog", nommu.O_RDONLY)
    x = p.mmap(0, 20000, R | X, PRIV, fdp, 0)
    assert maps_lines(m, p.pid)[0].startswith(f"{x:08x}-{x + 5 * P:08x} r-xp 00000000 03:01 13 ")
    fdb = p.open("/mntx/b", nommu.O_RDONLY)
    assert errno_of(p.mmap, 0, 4096, R | X, PRIV, fdb, 0) == errno.EPERM
    assert p.mmap(0, 4096, R, PRIV, fdb, 0) > 0
    assert p.stat("/mntx/b").st_dev == (3 << 8) | 2
    assert p.stat("/mntx/b").st_ino == 12
    # a huge sparse truncate costs nothing and reads back zeros
    p.ftruncate(fd, 1 << 40)
    assert p.pread(fd, 4, (1 << 40) - 4) == bytes(4)
    assert errno_of(p.ftruncate, fd, 1 << 45) == errno.EFBIG
    m.validate()


def test_ext2_unlink_while_mapped_and_open(board) -> None:  # type: ignore[no-untyped-def]
    m = board.m
    p = board.spawn("P1")
    fd = p.open("/mnt/a", nommu.O_RDONLY)
    c = p.mmap(0, 10000, R, PRIV, fd, 0)
    p.unlink("/mnt/a")
    assert p.stat("/mnt/a2").st_nlink == 1
    p.unlink("/mnt/a2")
    assert p.pread(fd, 4, 0) == A10000[:4]  # the open file keeps the data
    assert maps_lines(m)[0].endswith("/mnt/a (deleted)")
    p.close(fd)
    assert p.peek(c, 4) == A10000[:4]
    p.munmap(c, 10000)
    assert free_pages(m) == 1024
    m.validate()


def test_copy_read_error_frees_the_pages(board) -> None:  # type: ignore[no-untyped-def]
    """``kernel_read`` failing: the copy's pages are freed and the error returned."""
    from nommu.errors import Errno, SyscallError
    from nommu.fs.vfs import FileOperations

    m = board.m
    p = board.spawn("P1")
    fd = p.open("/mnt/a", nommu.O_RDONLY)
    f = p.files.fds[fd]

    class Broken(FileOperations):
        has_mmap = True

        def read(self, file: object, count: int, pos: int) -> bytes:
            raise SyscallError(Errno.EIO, "disk error")

    f.f_op = Broken()
    assert errno_of(p.mmap, 0, 8192, R, PRIV, fd, 0) == errno.EIO
    assert free_pages(m) == 1024
    assert meminfo(m, "MmapCopy") == 0
    assert maps_lines(m) == []
    m.validate()
