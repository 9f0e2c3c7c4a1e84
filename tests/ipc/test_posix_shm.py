"""POSIX shared memory: /dev/shm is ramfs (mm/shmem.c without an MMU is ramfs)."""

from __future__ import annotations

import errno

import pytest

import nommu
from exec_helpers import RW, P, flat_prog, free_pages, install, run, z1024
from nommu import SyscallError


def test_C119() -> None:
    m = z1024()
    p1, p2 = m.spawn(name="P1"), m.spawn(name="P2")
    fd = p1.shm_open("/seg", nommu.O_CREAT | nommu.O_RDWR, 0o600)
    p1.ftruncate(fd, 8192)
    assert free_pages(m) == 1022
    s1 = p1.mmap(0, 8192, RW, nommu.MAP_SHARED, fd, 0)
    assert s1 == 0x00400000
    fd2 = p2.shm_open("/seg", nommu.O_RDWR)
    s2 = p2.mmap(0, 8192, RW, nommu.MAP_SHARED, fd2, 0)
    assert s2 == 0x00400000
    line = m.cat(f"/proc/{p1.pid}/maps").splitlines()[0]
    shm_dev = m.shmfs.s_dev
    assert line.startswith(f"00400000-00402000 rw-S 00000000 {shm_dev[0]:02x}:{shm_dev[1]:02x} ")
    assert line.endswith(" /dev/shm/seg")
    p1.poke(s1, bytes([42]))
    assert p2.peek(s2, 1) == bytes([42])
    p1.munmap(s1, 8192)
    assert p2.peek(s2, 1) == bytes([42])
    p2.munmap(s2, 8192)
    p1.close(fd)
    p2.close(fd2)
    assert free_pages(m) == 1022  # still linked
    p1.shm_unlink("/seg")
    assert free_pages(m) == 1024
    m.validate()


def test_pages_go_with_the_last_of_unlink_close_unmap() -> None:
    m = z1024()
    p = m.spawn()
    fd = p.shm_open("/x", nommu.O_CREAT | nommu.O_RDWR)
    p.ftruncate(fd, 3 * P)
    a = p.mmap(0, 3 * P, RW, nommu.MAP_SHARED, fd, 0)
    p.shm_unlink("/x")
    p.close(fd)
    assert free_pages(m) == 1021
    assert m.cat(f"/proc/{p.pid}/maps").rstrip().endswith("/dev/shm/x (deleted)")
    p.munmap(a, 3 * P)
    assert free_pages(m) == 1024
    m.validate()


def test_growing_in_steps_leaves_holes() -> None:
    """The common porting error: ftruncate small, then grow -> MAP_SHARED is ENODEV."""
    m = z1024()
    p = m.spawn()
    fd = p.shm_open("/grow", nommu.O_CREAT | nommu.O_RDWR)
    p.ftruncate(fd, P)
    p.ftruncate(fd, 2 * P)
    with pytest.raises(SyscallError) as e:
        p.mmap(0, 2 * P, RW, nommu.MAP_SHARED, fd, 0)
    assert e.value.errno == errno.ENODEV


@pytest.mark.parametrize("name", ["seg", "/", "/a/b", "//x", "/.", "/.."])
def test_bad_names_are_EINVAL(name: str) -> None:
    m = z1024()
    p = m.spawn()
    with pytest.raises(SyscallError) as e:
        p.shm_open(name, nommu.O_CREAT | nommu.O_RDWR)
    assert e.value.errno == errno.EINVAL
    with pytest.raises(SyscallError) as e:
        p.shm_unlink(name)
    assert e.value.errno == errno.EINVAL


def test_long_name_and_missing_object() -> None:
    m = z1024()
    p = m.spawn()
    with pytest.raises(SyscallError) as e:
        p.shm_open("/" + "n" * 255, nommu.O_CREAT | nommu.O_RDWR)
    assert e.value.errno == errno.ENAMETOOLONG
    with pytest.raises(SyscallError) as e:
        p.shm_open("/nothing", nommu.O_RDWR)
    assert e.value.errno == errno.ENOENT
    with pytest.raises(SyscallError) as e:
        p.shm_unlink("/nothing")
    assert e.value.errno == errno.ENOENT


def test_shm_descriptor_is_close_on_exec() -> None:
    m = z1024()
    sh = m.spawn()
    install(sh, "/bin/prog", flat_prog())
    child = sh.vfork()
    fd = child.shm_open("/obj", nommu.O_CREAT | nommu.O_RDWR)
    plain = child.open("/tmp/plain", nommu.O_CREAT | nommu.O_RDWR)
    child.execve("/bin/prog", ["prog"])
    assert fd not in child.files.fds and plain in child.files.fds
    assert run(sh, "/bin/prog").files.fds.keys() == {0, 1, 2}
