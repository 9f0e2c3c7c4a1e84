"""Character devices, pipes and sockets (drivers/char/mem.c, fbdev, fs/pipe.c, sockets)."""

from __future__ import annotations

import errno

import pytest
from fsutil import PRIV, RW, SHARED, P, R, W, X, errno_of, maps_lines, pad

import nommu
from conftest import free_pages, meminfo, z1024
from nommu.consts import O_DIRECTORY, O_NONBLOCK, O_SYNC
from nommu.fs.pipe import PIPE_BUF_SIZE, WouldBlock

FB = 0x30000000


@pytest.fixture
def m() -> nommu.Machine:
    return z1024(framebuffer="1M", framebuffer_base=FB)


# -- C113 /dev/mem -----------------------------------------------------------------------------
def test_c113_dev_mem(m: nommu.Machine) -> None:
    p1 = m.spawn(name="P1")
    fd = p1.open("/dev/mem", nommu.O_RDWR | O_SYNC)
    assert p1.mmap(0, 4096, RW, SHARED, fd, FB) == FB
    assert free_pages(m) == 1024
    assert p1.mmap(0, 4096, RW | X, SHARED, fd, FB) == FB  # shares the region
    assert errno_of(p1.mmap, 0, 4096, R, PRIV, fd, FB) == errno.ENODEV
    ino = p1.stat("/dev/mem").st_ino
    assert maps_lines(m) == [pad(f"30000000-30001000 rw-S 30000000 00:0e {ino} ", "/dev/mem")]
    # a RAM address: the mapping is the physical memory itself
    a = p1.mmap(0, 4096, RW, SHARED, fd, 0x00500000)
    assert a == 0x00500000
    p1.poke(a, b"mem")
    assert p1.pread(fd, 3, 0x00500000) == b"mem"
    # the offset plus length wraps the 32-bit physical address space
    assert errno_of(p1.mmap, 0, 8192, R, SHARED, fd, 0xFFFFF000) == errno.EINVAL
    m.validate()


def test_c113_dev_mem_without_cap_sys_rawio(m: nommu.Machine) -> None:
    p = m.spawn(name="user")
    p.uid = 1000
    assert errno_of(p.open, "/dev/mem", nommu.O_RDONLY) == errno.EPERM  # group may read
    assert errno_of(p.open, "/dev/mem", nommu.O_RDWR) == errno.EACCES  # 0640


def test_h1_dev_mem_same_start_superset(m: nommu.Machine) -> None:
    p1, p2 = m.spawn(name="P1"), m.spawn(name="P2")
    fd1 = p1.open("/dev/mem", nommu.O_RDWR)
    fd2 = p2.open("/dev/mem", nommu.O_RDWR)
    p1.mmap(0, 4096, RW, SHARED, fd1, FB)
    lines = maps_lines(m)
    with pytest.raises(nommu.KernelOops):
        p2.mmap(0, 8192, RW, SHARED, fd2, FB)
    assert maps_lines(m) == lines
    assert maps_lines(m, p2.pid) == []
    # an inexact overlap with a different start makes a second region (DIRECT)
    assert p2.mmap(0, 8192, RW, SHARED, fd2, FB - 4096) == FB - 4096
    assert len(maps_lines(m)) == 2
    m.validate()


# -- /dev/zero, /dev/null ---------------------------------------------------------------------
def test_dev_zero_private_mapping_is_einval_since_5_10(m: nommu.Machine) -> None:
    """do_mmap_private() fills a copy with kernel_read(); since v5.10 __kernel_read()
    (fs/read_write.c) refuses zero_fops, which has ->read beside ->read_iter, and
    warn_unsupported() logs it. The pages taken for the copy go back."""
    p1 = m.spawn(name="P1")
    fd = p1.open("/dev/zero", nommu.O_RDWR)
    before = m.zone.nr_free_all()
    for prot in (RW, R):
        assert errno_of(p1.mmap, 0, 8192, prot, PRIV, fd, 0) == errno.EINVAL
    assert m.zone.nr_free_all() == before
    assert meminfo(m, "MmapCopy") == 0
    assert (
        m.dmesg()[-2:] == ["kernel read not supported for file /zero (pid: 1 comm: P1)"] * 2
    )  # %pD4 stops at the root of the devtmpfs mounted on /dev
    assert maps_lines(m, p1.pid) == []
    m.validate()


def test_dev_zero_private_copy_is_file_backed() -> None:
    """Before v5.10 kernel_read() called ->read: a zero-filled, file-backed copy."""
    m = z1024(framebuffer="1M", framebuffer_base=FB, kernel="4.4")
    p1, p2 = m.spawn(name="P1"), m.spawn(name="P2")
    fd = p1.open("/dev/zero", nommu.O_RDWR)
    assert errno_of(p1.mmap, 0, 4096, RW, SHARED, fd, 0) == errno.ENODEV
    a = p1.mmap(0, 8192, RW, PRIV, fd, 0)
    assert a == 0x00400000
    assert p1.peek(a, 8192) == bytes(8192)
    assert meminfo(m, "MmapCopy") == 8
    ino = p1.stat("/dev/zero").st_ino
    assert maps_lines(m, p1.pid) == [
        pad(f"00400000-00402000 rw-p 00000000 00:0e {ino} ", "/dev/zero")
    ]
    # a file VMA: no partial unmap
    assert errno_of(p1.munmap, a, 4096) == errno.EINVAL
    assert errno_of(p1.munmap, a + 4096, 4096) == errno.EINVAL
    # read-only private copies of /dev/zero are shared between processes
    r1 = p1.mmap(0, 4096, R, PRIV, fd, 0)
    fd2 = p2.open("/dev/zero", nommu.O_RDONLY)
    assert p2.mmap(0, 4096, R, PRIV, fd2, 0) == r1
    p1.munmap(a, 8192)
    m.validate()


def test_c115_dev_null_and_directories(m: nommu.Machine) -> None:
    p = m.spawn(name="P1")
    fd = p.open("/dev/null", nommu.O_RDWR)
    assert errno_of(p.mmap, 0, 4096, R, PRIV, fd, 0) == errno.ENODEV
    assert p.read(fd, 10) == b""
    assert p.write(fd, b"gone") == 4
    fdd = p.open("/mnt", nommu.O_RDONLY | O_DIRECTORY)
    assert errno_of(p.mmap, 0, 4096, R, PRIV, fdd, 0) == errno.ENODEV
    assert errno_of(p.read, fdd, 1) == errno.EISDIR


# -- C115 pipes and sockets ---------------------------------------------------------------------
def test_c115_pipe(m: nommu.Machine) -> None:
    p = m.spawn(name="P1")
    rfd, wfd = p.pipe()
    assert errno_of(p.mmap, 0, 4096, R, PRIV, rfd, 0) == errno.ENODEV
    assert errno_of(p.mmap, 0, 4096, W, SHARED, wfd, 0) == errno.ENODEV
    assert p.write(wfd, b"hello") == 5
    assert p.read(rfd, 3) == b"hel"
    assert p.read(rfd, 10) == b"lo"
    with pytest.raises(WouldBlock):
        p.read(rfd, 1)
    assert errno_of(p.read, wfd, 1) == errno.EBADF
    assert errno_of(p.write, rfd, b"x") == errno.EBADF
    assert errno_of(p.lseek, rfd, 0, nommu.SEEK_SET) == errno.ESPIPE
    assert errno_of(p.pread, rfd, 1, 0) == errno.ESPIPE
    assert errno_of(p.ftruncate, wfd, 0) == errno.EINVAL
    st = p.fstat(rfd)
    assert st.st_mode == 0o010600
    with pytest.raises(WouldBlock):
        p.write(wfd, bytes(PIPE_BUF_SIZE + 1))
    p.close(wfd)
    assert p.read(rfd, 1) == b""  # EOF: no writers left
    r2, w2 = p.pipe2(O_NONBLOCK)
    assert errno_of(p.read, r2, 1) == errno.EAGAIN
    assert p.write(w2, bytes(PIPE_BUF_SIZE + 10)) == PIPE_BUF_SIZE
    assert errno_of(p.write, w2, b"x") == errno.EAGAIN
    p.close(r2)
    assert errno_of(p.write, w2, b"x") == errno.EPIPE
    assert errno_of(p.pipe2, 0o777777) == errno.EINVAL
    m.validate()


def test_c115_socket(m: nommu.Machine) -> None:
    p = m.spawn(name="P1")
    s = p.socket(1, 1, 0)  # AF_UNIX, SOCK_STREAM
    assert errno_of(p.mmap, 0, 4096, R, PRIV, s, 0) == errno.EINVAL
    assert errno_of(p.mmap, 0, 4096, R, SHARED, s, 0) == errno.EINVAL
    assert errno_of(p.read, s, 1) == errno.EINVAL
    assert errno_of(p.write, s, b"x") == errno.ENOTCONN
    assert errno_of(p.socket, 2, 1, 0) == errno.EAFNOSUPPORT
    assert errno_of(p.socket, 1, 0, 0) == errno.EINVAL
    d = p.socket(1, 2, 0)
    with pytest.raises(WouldBlock):
        p.read(d, 1)
    p.close(s)
    p.close(d)


def test_fifo_on_ext2(m: nommu.Machine) -> None:
    from nommu.fs.romfs_image import SpecialSpec

    m.mount("ext2", "/mnt", files={"fifo": SpecialSpec("fifo")})
    p = m.spawn(name="P1")
    with pytest.raises(WouldBlock):
        p.open("/mnt/fifo", nommu.O_RDONLY)
    assert errno_of(p.open, "/mnt/fifo", nommu.O_WRONLY | O_NONBLOCK) == errno.ENXIO
    r = p.open("/mnt/fifo", nommu.O_RDONLY | O_NONBLOCK)
    w = p.open("/mnt/fifo", nommu.O_WRONLY)
    assert p.write(w, b"through") == 7
    assert p.read(r, 20) == b"through"
    assert errno_of(p.mmap, 0, 4096, R, PRIV, r, 0) == errno.ENODEV


# -- /dev/fb0 ------------------------------------------------------------------------------------
def test_fb0_mappings(m: nommu.Machine) -> None:
    p1, p2 = m.spawn(name="P1"), m.spawn(name="P2")
    fd = p1.open("/dev/fb0", nommu.O_RDWR)
    assert errno_of(p1.mmap, 0, 4096, R, PRIV, fd, 0) == errno.ENODEV
    assert errno_of(p1.mmap, 0, 4096, RW | X, SHARED, fd, 0) == errno.EINVAL
    assert "nommu: MAP_SHARED not completely supported on !MMU" in m.dmesg()
    s = p1.mmap(0, 1 << 20, RW, SHARED, fd, 0)
    assert s == FB
    assert free_pages(m) == 1024
    p1.poke(s + 100, b"pixel")
    assert p1.pread(fd, 5, 100) == b"pixel"
    fd2 = p2.open("/dev/fb0", nommu.O_RDWR)
    assert p2.mmap(0, 4096, RW, SHARED, fd2, 4096) == FB + 4096  # contained: shares
    assert p2.peek(FB + 100, 5) == b"pixel"
    ino = p1.stat("/dev/fb0").st_ino
    assert maps_lines(m) == [pad(f"30000000-30100000 rw-S 00000000 00:0e {ino} ", "/dev/fb0")]
    assert p1.stat("/dev/fb0").st_rdev == (29 << 8) | 0
    m.validate()


def test_fb0_offsets_and_sizes(m: nommu.Machine) -> None:
    p = m.spawn(name="P1")
    fd = p.open("/dev/fb0", nommu.O_RDWR)
    # past the end of the frame buffer
    assert errno_of(p.mmap, 0, 2 << 20, RW, SHARED, fd, 0) == errno.EINVAL
    # get_fb_unmapped_area adds the page offset as bytes: the NOMMU remap then fails
    assert errno_of(p.mmap, 0, 4096, RW, SHARED, fd, 4096) == errno.EINVAL
    assert p.mmap(0, 4096, R, SHARED, fd, 0) == FB
    fdr = p.open("/dev/fb0", nommu.O_RDONLY)
    assert errno_of(p.mmap, 0, 4096, RW, SHARED, fdr, 0) == errno.EACCES
    # read/write clip at the end; past it: EOF, ENOSPC, EFBIG
    assert p.pread(fd, 10, (1 << 20) - 2) == bytes(2)
    assert p.pread(fd, 10, 1 << 20) == b""
    assert p.pwrite(fd, b"abcd", (1 << 20) - 2) == 2
    assert errno_of(p.pwrite, fd, b"x", 1 << 20) == errno.ENOSPC
    assert errno_of(p.pwrite, fd, b"x", (1 << 20) + 1) == errno.EFBIG
    assert errno_of(p.ftruncate, fd, 0) == errno.EINVAL
    m.validate()


def test_no_fb0_without_a_framebuffer() -> None:
    m = z1024()
    assert errno_of(m.spawn().open, "/dev/fb0", nommu.O_RDWR) == errno.ENOENT


def test_device_maps_address_is_not_page_cache(m: nommu.Machine) -> None:
    """Direct device regions free nothing when unmapped (3.8)."""
    p = m.spawn(name="P1")
    fd = p.open("/dev/fb0", nommu.O_RDWR)
    s = p.mmap(0, 8192, RW, SHARED, fd, 0)
    p.munmap(s, 8192)
    assert free_pages(m) == 1024
    assert maps_lines(m) == []
    assert P == 4096
    m.validate()


def test_two_devices_mapping_the_same_address_is_a_kernel_bug(m: nommu.Machine) -> None:
    """/dev/mem at the frame buffer's address makes a second region with the same start:
    add_nommu_region() BUG()s even though the files differ (H1)."""
    p = m.spawn(name="P1")
    fb = p.mmap(0, 4096, RW, SHARED, p.open("/dev/fb0", nommu.O_RDWR), 0)
    mem = p.open("/dev/mem", nommu.O_RDWR)
    with pytest.raises(nommu.KernelOops):
        p.mmap(0, 4096, RW, SHARED, mem, fb)
    assert len(maps_lines(m)) == 1
    assert p.mmap(0, 4096, RW, SHARED, mem, fb + 4096) == fb + 4096  # another start: fine
    m.validate()
