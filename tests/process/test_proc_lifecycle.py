"""fork, vfork, clone, exit, wait and orphans (kernel/fork.c, kernel/exit.c)."""

from __future__ import annotations

import errno

import pytest

import nommu
from exec_helpers import ANON, RW, P, flat_prog, free_pages, install, maps_lines, run, z1024
from nommu import ProcessStateError, SyscallError


def test_fork_is_EINVAL() -> None:
    m = z1024()
    p = m.spawn()
    with pytest.raises(SyscallError) as e:
        p.fork()
    assert e.value.errno == errno.EINVAL
    assert [q.pid for q in m.processes] == [p.pid]


def test_C121_vfork_child_maps_into_the_parent() -> None:
    m = z1024()
    p1 = m.spawn(name="P1")
    free, copy = free_pages(m), m.nommu.mmap_pages_allocated
    child = p1.vfork()
    assert child.mm is p1.mm and p1.mm is not None and p1.mm.mm_users == 2
    assert p1.state == "D" and not p1.runnable
    with pytest.raises(ProcessStateError):
        p1.mmap(0, P, RW, ANON)
    with pytest.raises(ProcessStateError):
        p1.exit(0)
    a = child.mmap(0, P, RW, ANON)
    assert maps_lines(m, p1) == maps_lines(m, child)
    assert m.cat(f"/proc/{p1.pid}/status").count("State:\tD (disk sleep)") == 1
    child.exit(0)
    assert p1.state == "R" and p1.mm.mm_users == 1
    assert p1.mm.find_vma(a) is not None  # the child's mapping is the parent's
    assert p1.wait() == (child.pid, 0)
    p1.munmap(a, P)
    assert free_pages(m) == free and m.nommu.mmap_pages_allocated == copy
    m.validate()


def test_vfork_child_mapping_is_freed_when_both_exit() -> None:
    m = z1024()
    sh = m.spawn(name="sh")
    parent = sh.clone(nommu.SIGCHLD)
    free, copy = free_pages(m), m.nommu.mmap_pages_allocated
    child = parent.vfork()
    a = child.mmap(0, 5 * P, RW, ANON)
    assert any(ln.startswith(f"{a:08x}-") for ln in maps_lines(m, parent))
    assert m.nommu.mmap_pages_allocated - copy == 5
    child.exit(0)
    assert free_pages(m) == free - 5  # the parent still has it
    parent.exit(0)
    assert free_pages(m) == free and m.nommu.mmap_pages_allocated == copy
    assert sh.wait() == (parent.pid, 0)
    m.validate()


def test_vfork_then_exec_releases_the_parent() -> None:
    m = z1024()
    sh = m.spawn()
    install(sh, "/bin/prog", flat_prog())
    a = sh.mmap(0, P, RW, ANON)
    child = sh.vfork()
    b = child.mmap(0, P, RW, ANON)  # lands in the shared mm and stays the parent's
    child.execve("/bin/prog", ["prog"])
    assert sh.state == "R" and sh.mm is not None and sh.mm.mm_users == 1
    assert child.mm is not sh.mm and child.mm is not None and child.mm.mm_users == 1
    assert sh.mm.find_vma(a) is not None and sh.mm.find_vma(b) is not None
    assert child.mm.find_vma(a) is None
    assert child.name == "prog" and sh.name == "init"
    m.validate()


def test_clone_vm_threads_share_the_mm() -> None:
    m = z1024()
    sh = m.spawn()
    p = sh.clone(nommu.SIGCHLD)
    t = p.clone(nommu.CLONE_VM | nommu.CLONE_THREAD | 0x800 | 0x200)  # | SIGHAND | FS
    assert t.mm is p.mm and t.tgid == p.pid and t.pid != p.pid
    assert p.mm is not None and p.mm.mm_users == 2
    a = t.mmap(0, P, RW, ANON)
    assert p.mm.find_vma(a) is not None
    status = m.cat(f"/proc/{p.pid}/status")
    assert "Threads:\t2\n" in status and f"Tgid:\t{p.pid}\n" in m.cat(f"/proc/{t.pid}/status")
    assert p.children == []  # a thread is not a child to wait for
    # _exit (exit_group) in any thread ends the whole group; threads leave no zombie
    free = free_pages(m)
    t.exit(3)
    assert p.state == "Z" and t.state == "X"
    assert t.pid not in [q.pid for q in m.processes]
    assert free_pages(m) == free + 1
    assert sh.wait() == (p.pid, 3 << 8)
    m.validate()


def test_exec_in_a_thread_kills_the_other_threads() -> None:
    m = z1024()
    sh = m.spawn()
    install(sh, "/bin/prog", flat_prog())
    leader = sh.clone(nommu.SIGCHLD)
    t = leader.clone(nommu.CLONE_VM | nommu.CLONE_THREAD | 0x800)
    t.execve("/bin/prog", ["prog"])
    assert leader.state == "X" and t.tgid == t.pid and t.parent is sh
    assert t in sh.children and leader not in sh.children
    t.exit(4)
    assert sh.wait() == (t.pid, 4 << 8)
    m.validate()


@pytest.mark.parametrize(
    "flags", [nommu.CLONE_THREAD, 0x800], ids=["thread-no-sighand", "sighand-no-vm"]
)
def test_clone_flag_rules(flags: int) -> None:
    m = z1024()
    p = m.spawn()
    with pytest.raises(SyscallError) as e:
        p.clone(flags | nommu.CLONE_VM * (flags == nommu.CLONE_THREAD))
    assert e.value.errno == errno.EINVAL


def test_C121_clone_without_vm_has_an_empty_mm() -> None:
    m = z1024()
    sh = m.spawn()
    install(sh, "/bin/prog", flat_prog())
    p = run(sh, "/bin/prog")
    c = p.clone(nommu.SIGCHLD)
    assert c.mm is not p.mm and c.mm is not None and c.mm.map_count == 0
    assert m.cat(f"/proc/{c.pid}/maps") == ""
    assert c.mm.exe_file is not None and c.mm.exe_file.inode is p.mm.exe_file.inode  # type: ignore[union-attr]
    c.exit(0)
    assert p.wait() == (c.pid, 0)
    m.validate()


def test_exit_status_and_wait() -> None:
    m = z1024()
    sh = m.spawn()
    with pytest.raises(SyscallError) as e:
        sh.wait()
    assert e.value.errno == errno.ECHILD
    c = sh.vfork()
    c.exit(0)
    d = sh.vfork()
    d.exit(0x1FF)  # only the low 8 bits survive
    assert sh.wait() == (c.pid, 0)
    assert sh.wait() == (d.pid, 0xFF << 8)
    k = sh.vfork()
    k.kill(9)
    assert sh.runnable
    assert sh.wait() == (k.pid, 9)  # WTERMSIG
    with pytest.raises(ProcessStateError):
        k.exit(0)
    x = sh.clone(nommu.SIGCHLD)
    with pytest.raises(ProcessStateError):
        sh.wait()  # x is running: wait would sleep
    x.exit(1)
    assert sh.wait() == (x.pid, 1 << 8)
    assert m.processes == [sh]


def test_orphans_go_to_init() -> None:
    m = z1024()
    init = m.spawn(name="init")
    assert init.pid == 1
    a = init.clone(nommu.SIGCHLD)
    b = a.clone(nommu.SIGCHLD)
    c = a.clone(nommu.SIGCHLD)
    c.exit(5)  # a zombie child of a
    a.exit(0)
    assert b.parent is init and c.parent is init
    assert f"PPid:\t{init.pid}\n" in m.cat(f"/proc/{b.pid}/status")
    reaped = {init.wait(), init.wait()}
    assert reaped == {(a.pid, 0), (c.pid, 5 << 8)}
    b.exit(0)
    assert init.wait() == (b.pid, 0)
    assert [p.pid for p in m.processes] == [1]


def test_exit_releases_everything() -> None:
    m = z1024()
    init = m.spawn()
    install(init, "/bin/prog", flat_prog())
    start_free, start_copy = free_pages(m), m.nommu.mmap_pages_allocated
    p = run(init, "/bin/prog")
    p.mmap(0, 3 * P, RW, ANON)
    fd = p.open("/tmp/f", nommu.O_CREAT | nommu.O_RDWR)
    p.ftruncate(fd, 2 * P)
    p.mmap(0, 2 * P, RW, nommu.MAP_SHARED, fd, 0)
    p.unlink("/tmp/f")
    p.exit(0)
    assert free_pages(m) == start_free and m.nommu.mmap_pages_allocated == start_copy
    assert p.state == "Z" and m.cat(f"/proc/{p.pid}/statm") == "0 0 0 0 0 0 0\n"
    assert "Mem:" not in m.cat(f"/proc/{p.pid}/status")
    assert init.wait()[0] == p.pid
    m.validate()


def test_cloexec_descriptors_close_at_exec() -> None:
    m = z1024()
    sh = m.spawn()
    install(sh, "/bin/prog", flat_prog())
    c = sh.vfork()
    keep = c.open("/tmp/keep", nommu.O_CREAT | nommu.O_RDWR)
    gone = c.open("/tmp/gone", nommu.O_CREAT | nommu.O_RDWR | 0o2000000)
    dup = c.dup(gone)  # dup clears close-on-exec
    c.execve("/bin/prog", ["prog"])
    assert keep in c.files.fds and dup in c.files.fds and gone not in c.files.fds


def test_kill_a_suspended_vfork_parent() -> None:
    m = z1024()
    p = m.spawn()
    child = p.vfork()
    p.kill(9)
    assert p.state == "X" and child.mm is not None  # the child still holds the mm
    a = child.mmap(0, P, RW, ANON)
    assert a
    child.exit(0)
    assert free_pages(m) == 1024
    m.validate()
