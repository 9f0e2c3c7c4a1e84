"""VFS rules: owners and permission bits, ro and noexec mounts, links, numbers, /proc files."""

from __future__ import annotations

import errno

import pytest
from fsutil import A10000, PRIV, RW, SHARED, R, X, errno_of, spec_board

import nommu
from conftest import z1024

O_RDONLY, O_WRONLY, O_RDWR = nommu.O_RDONLY, nommu.O_WRONLY, nommu.O_RDWR
O_CREAT = nommu.O_CREAT


@pytest.fixture
def m() -> nommu.Machine:
    m = z1024()
    m.mount("ramfs", "/ram")
    return m


def user(m: nommu.Machine, uid: int = 1000, gid: int = 100) -> nommu.Process:
    p = m.spawn(name=f"u{uid}")
    p.uid, p.gid = uid, gid
    return p


def test_permission_bits_owner_group_other(m: nommu.Machine) -> None:
    root = m.spawn(name="root")
    fd = root.open("/ram/f", O_CREAT | O_RDWR, 0o640)
    root.close(fd)
    root.chown("/ram/f", 1000, 100)
    owner, member, other = user(m, 1000, 5), user(m, 2000, 100), user(m, 3000, 300)
    owner.close(owner.open("/ram/f", O_RDWR))
    member.close(member.open("/ram/f", O_RDONLY))
    assert errno_of(member.open, "/ram/f", O_WRONLY) == errno.EACCES
    assert errno_of(other.open, "/ram/f", O_RDONLY) == errno.EACCES
    assert errno_of(other.truncate, "/ram/f", 0) == errno.EACCES
    # root passes read/write checks whatever the bits
    root.chmod("/ram/f", 0)
    root.close(root.open("/ram/f", O_RDWR))
    assert errno_of(owner.open, "/ram/f", O_RDONLY) == errno.EACCES


def test_create_needs_write_and_search_on_the_directory(m: nommu.Machine) -> None:
    root = m.spawn(name="root")
    root.mkdir("/ram/d", 0o755)
    u = user(m)
    assert errno_of(u.open, "/ram/d/x", O_CREAT | O_RDWR) == errno.EACCES
    assert errno_of(u.mkdir, "/ram/d/sub") == errno.EACCES
    root.chmod("/ram/d", 0o777)
    fd = u.open("/ram/d/x", O_CREAT | O_RDWR, 0o666)
    st = u.fstat(fd)
    assert (st.st_uid, st.st_gid) == (1000, 100)
    assert st.st_mode == 0o100644  # umask 022
    assert u.umask(0o077) == 0o022
    u.close(u.open("/ram/d/y", O_CREAT | O_RDWR, 0o666))
    assert u.stat("/ram/d/y").st_mode == 0o100600
    assert "Umask:\t0077" in m.cat(f"/proc/{u.pid}/status")
    # search permission: a 0700 directory of somebody else hides its files
    root.chmod("/ram/d", 0o700)
    assert errno_of(u.stat, "/ram/d/x") == errno.EACCES
    assert errno_of(u.open, "/ram/d/x", O_RDONLY) == errno.EACCES
    assert errno_of(u.stat, "/ram/d/none") == errno.EACCES  # before ENOENT


def test_unlink_order_and_sticky_directories(m: nommu.Machine) -> None:
    root = m.spawn(name="root")
    a, b = user(m, 1000), user(m, 2000)
    a.close(a.open("/tmp/a", O_CREAT | O_RDWR, 0o666))
    assert errno_of(b.unlink, "/tmp/a") == errno.EPERM  # /tmp is 1777
    a.unlink("/tmp/a")
    assert errno_of(a.unlink, "/tmp/a") == errno.ENOENT
    root.mkdir("/ram/d", 0o755)
    root.close(root.open("/ram/d/f", O_CREAT | O_RDWR))
    assert errno_of(a.unlink, "/ram/d/f") == errno.EACCES
    assert errno_of(root.unlink, "/ram/d") == errno.EISDIR


def test_chmod_chown_rules(m: nommu.Machine) -> None:
    root = m.spawn(name="root")
    u, v = user(m, 1000, 100), user(m, 2000, 200)
    u.close(u.open("/tmp/f", O_CREAT | O_RDWR, 0o644))
    assert errno_of(v.chmod, "/tmp/f", 0o777) == errno.EPERM
    u.chmod("/tmp/f", 0o4755)
    assert u.stat("/tmp/f").st_mode == 0o104755
    assert errno_of(u.chown, "/tmp/f", 2000, -1) == errno.EPERM
    assert errno_of(u.chown, "/tmp/f", -1, 300) == errno.EPERM
    u.chown("/tmp/f", -1, 100)
    assert u.stat("/tmp/f").st_mode == 0o100755  # chown clears set-user-ID
    root.chown("/tmp/f", 2000, 200)
    st = root.stat("/tmp/f")
    assert (st.st_uid, st.st_gid) == (2000, 200)


def test_read_only_mounts_give_erofs() -> None:
    m = z1024()
    m.mount("ext2", "/ro", ro=True, files={"a": b"data"})
    m.mount("ramfs", "/rr", ro=True)
    p = m.spawn(name="P1")
    for path in ("/ro/a", "/rr/x"):
        base = path.rsplit("/", 1)[0]
        assert errno_of(p.open, f"{base}/new", O_CREAT | O_RDWR) == errno.EROFS
        assert errno_of(p.mkdir, f"{base}/d") == errno.EROFS
    assert errno_of(p.open, "/ro/a", O_RDWR) == errno.EROFS
    assert errno_of(p.truncate, "/ro/a", 0) == errno.EROFS
    assert errno_of(p.unlink, "/ro/a") == errno.EROFS
    assert errno_of(p.unlink, "/ro/missing") == errno.EROFS  # EROFS comes before ENOENT
    assert errno_of(p.link, "/ro/a", "/ro/b") == errno.EROFS
    fd = p.open("/ro/a", O_RDONLY)
    assert p.read(fd, 10) == b"data"
    assert errno_of(p.mmap, 0, 4096, RW, SHARED, fd, 0) == errno.EACCES
    assert p.mmap(0, 4096, RW, PRIV, fd, 0) > 0  # a private copy is fine
    m.validate()


def test_noexec_mount(m: nommu.Machine) -> None:
    m.mount("ramfs", "/nx", noexec=True)
    p = m.spawn(name="P1")
    fd = p.open("/nx/f", O_CREAT | O_RDWR)
    p.ftruncate(fd, 8192)
    assert errno_of(p.mmap, 0, 8192, R | X, PRIV, fd, 0) == errno.EPERM
    assert errno_of(p.mmap, 0, 8192, R | X, SHARED, fd, 0) == errno.EPERM
    assert errno_of(p.mmap, 0, 8192, X, PRIV, fd, 0) == errno.EPERM
    assert p.mmap(0, 8192, R, PRIV, fd, 0) == p.mmap(0, 8192, RW, SHARED, fd, 0)
    m.validate()


def test_hard_links_share_the_inode_and_its_page_cache(m: nommu.Machine) -> None:
    p = m.spawn(name="P1")
    fd = p.open("/ram/f", O_CREAT | O_RDWR)
    p.ftruncate(fd, 4096)
    p.link("/ram/f", "/ram/g")
    st, st2 = p.stat("/ram/f"), p.stat("/ram/g")
    assert st.st_ino == st2.st_ino and st.st_nlink == st2.st_nlink == 2
    fd2 = p.open("/ram/g", O_RDWR)
    assert p.mmap(0, 4096, RW, SHARED, fd, 0) == p.mmap(0, 4096, R, SHARED, fd2, 0)
    assert errno_of(p.link, "/ram/f", "/ram/g") == errno.EEXIST
    assert errno_of(p.link, "/ram/f", "/tmp/f") == errno.EXDEV
    assert errno_of(p.link, "/ram", "/ram/dir") == errno.EPERM
    p.unlink("/ram/f")
    assert p.stat("/ram/g").st_nlink == 1
    m.validate()


def test_device_and_inode_numbers_per_filesystem() -> None:
    board = spec_board()
    p = board.spawn("P1")
    st = p.stat("/mnt/a")
    assert (st.st_dev, st.st_ino, st.st_size, st.st_nlink) == (0x0301, 12, 10000, 2)
    assert p.stat("/mnt/a2").st_ino == 12
    assert p.stat("/mnt/prog").st_ino == 13
    assert p.stat("/mnt").st_ino == 2 and p.stat("/mnt/lost+found").st_ino == 11
    assert p.stat("/mntx/b").st_dev == 0x0302
    assert p.stat("/rom/data").st_dev == 0x1F00
    assert p.stat("/romb/data").st_dev == 0x0100
    assert p.stat("/rom/data").st_ino == board.rom.image.lookup("/data").ino
    assert p.stat("/nfs/n").st_dev >> 8 == 0
    assert p.stat("/dev/mtd1").st_rdev == (90 << 8) | 2
    assert p.stat("/dev/fb0").st_rdev == (29 << 8)
    assert p.stat("/mnt/prog").st_mode == 0o100755
    assert board.ext2.device == "hda1"
    assert p.pread(p.open("/mnt/a", O_RDONLY), 10000, 0) == A10000


def test_proc_files_through_open_and_read() -> None:
    m = z1024()
    p = m.spawn(name="P1")
    a = p.mmap(0, 8192, RW, nommu.MAP_PRIVATE | nommu.MAP_ANONYMOUS)
    fd = p.open("/proc/self/maps", O_RDONLY)
    text = b""
    while chunk := p.read(fd, 7):
        text += chunk
    assert text.decode() == m.cat(f"/proc/{p.pid}/maps")
    assert text.startswith(f"{a:08x}-{a + 8192:08x} rw-p 00000000 00:00 0 ".encode())
    fd2 = p.open("/proc/meminfo", O_RDONLY)
    assert p.read(fd2, 1 << 16).decode() == m.cat("/proc/meminfo")
    assert errno_of(p.mmap, 0, 4096, R, PRIV, fd2, 0) == errno.ENODEV
    wfd = p.open("/proc/meminfo", O_WRONLY)  # root may open it; the write fails
    assert errno_of(p.write, wfd, b"x") == errno.EIO
    assert errno_of(user(m).open, "/proc/meminfo", O_WRONLY) == errno.EACCES
    fd3 = p.open("/proc/buddyinfo", O_RDONLY)
    assert p.read(fd3, 200).decode() == m.cat("/proc/buddyinfo")
    # the content is fixed when opened, as a seq_file's first fill
    p.munmap(a, 8192)
    assert p.pread(fd, 200, 0) == text


def test_ext2_root_hard_link_and_nlink(m: nommu.Machine) -> None:
    m.mount("ext2", "/e", files={"d/x": b"1", "d/y": nommu.PROT_READ.to_bytes(1, "little")})
    p = m.spawn(name="P1")
    assert p.stat("/e/d").st_nlink == 2
    assert p.stat("/e").st_nlink == 4  # ., .., lost+found/.., d/..
    p.mkdir("/e/d/sub")
    assert p.stat("/e/d").st_nlink == 3


def test_ramfs_mkdir_links_the_parent(m: nommu.Machine) -> None:
    """``ramfs_mkdir``: ``inc_nlink(dir)`` for the new ``..``, as ext2 does."""
    p = m.spawn(name="P1")
    assert p.stat("/ram").st_nlink == 2
    p.mkdir("/ram/a")
    p.mkdir("/ram/b")
    p.mkdir("/ram/a/c")
    assert [p.stat(d).st_nlink for d in ("/ram", "/ram/a", "/ram/b", "/ram/a/c")] == [4, 3, 2, 2]
    assert p.stat("/").st_nlink == 13  # 2 + its ten directories + the /ram mount point


def test_files_option_spec_errors() -> None:
    from nommu.fs.romfs_image import DirSpec, HardlinkSpec

    m = z1024()
    with pytest.raises(ValueError, match="files"):
        m.mount("ext2", "/e", files={"a": b"1", "a/b": b"2"})
    with pytest.raises(ValueError, match="files"):
        m.mount("ext2", "/e", files={"l": HardlinkSpec("missing")})
    with pytest.raises(ValueError, match="files"):
        m.mount("ext2", "/e", files={"/": b"x"})
    with pytest.raises(ValueError, match="unknown"):
        m.mount("nfs", "/n", server="host:/export")
    m.mount("ext2", "/e", files={"/": DirSpec(), "d": DirSpec()})
    assert m.spawn().stat("/e/d").st_mode == 0o040755


def test_a_driver_refusing_open_leaves_no_reference_and_no_release(m: nommu.Machine) -> None:
    """``do_dentry_open``: ->open failing drops the inode reference without ->release."""
    from nommu.consts import S_IFCHR
    from nommu.fs.vfs import File, FileOperations

    calls: list[str] = []

    class Busy(FileOperations):
        def open(self, file: File) -> None:
            calls.append("open")
            raise nommu.SyscallError(nommu.Errno.EBUSY, "device busy")

        def release(self, file: File) -> None:
            calls.append("release")

    ram = m.ns.lookup("/ram")
    node = ram.mount.sb.mknod(ram.inode, "busy", S_IFCHR | 0o666, Busy(), (240, 0))
    p = m.spawn(name="P1")
    assert errno_of(p.open, "/ram/busy", O_RDONLY) == errno.EBUSY
    with pytest.raises(nommu.SyscallError) as e:
        m.cat("/ram/busy")
    assert e.value.errno == errno.EBUSY
    assert calls == ["open", "open"]
    assert node.i_count == 0
    assert sorted(p.files.fds) == [0, 1, 2]  # nothing installed
    assert [f.path for f in p.files.fds.values()] == ["/dev/null"] * 3
