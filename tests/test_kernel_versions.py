"""Behaviours that differ between kernel versions, each pinned on both sides of its version.

Every test names the profile change (src/nommu/profiles.py, docs/kernels.md) and the
kernel function that decides it.
"""

from __future__ import annotations

import errno

import pytest

import nommu
from nommu import SyscallError
from nommu.binfmt.flat_format import build_flat
from nommu.consts import O_DIRECTORY

R = nommu.PROT_READ
PRIV = nommu.MAP_PRIVATE


def machine(kernel: str) -> nommu.Machine:
    return nommu.Machine(ram="8M", ram_base=0, kernel_reserved="4M", kernel=kernel)


def errno_of(call, *args) -> int:  # type: ignore[no-untyped-def]
    with pytest.raises(SyscallError) as e:
        call(*args)
    return e.value.errno


# -- private_mayoverlay (6.3): determine_vm_flags(), nommu_vma_show() --------------------------
@pytest.mark.parametrize(("kernel", "flag"), [("6.1", "s"), ("6.3", "p"), ("6.12", "p")])
def test_read_only_private_file_mapping_prints_s_before_6_3(kernel: str, flag: str) -> None:
    m = machine(kernel)
    p = m.spawn(name="P1")
    fd = p.open("/tmp/f", nommu.O_CREAT | nommu.O_RDWR)
    p.ftruncate(fd, 8192)
    direct = p.mmap(0, 8192, R, PRIV, fd, 0)  # ramfs: the file's own pages
    copy = p.mmap(0, 4096, R | nommu.PROT_WRITE, PRIV, fd, 0)  # writable: a copy, always p
    ino = p.fstat(fd).st_ino
    lines = m.cat(f"/proc/{p.pid}/maps").splitlines()
    assert lines[0].startswith(f"{direct:08x}-{direct + 8192:08x} r--{flag} 00000000 00:0d {ino}")
    assert lines[1].startswith(f"{copy:08x}-{copy + 4096:08x} rw-p 00000000 00:0d {ino}")
    # /proc/maps prints the region's flags the same way
    assert m.cat("/proc/maps").splitlines()[0].split()[1] == f"r--{flag}"
    # sharing is the same on both sides: a second read-only mapping attaches
    p2 = m.spawn(name="P2")
    assert p2.mmap(0, 8192, R, PRIV, p2.open("/tmp/f", nommu.O_RDONLY), 0) == direct
    m.validate()


def test_traced_process_never_gets_s() -> None:
    """A traced process's read-only private mapping may not be shared (6.1: no VM_MAYSHARE)."""
    m = machine("6.1")
    p = m.spawn(name="P1")
    p.ptraced = True
    fd = p.open("/tmp/f", nommu.O_CREAT | nommu.O_RDWR)
    p.ftruncate(fd, 4096)
    p.mmap(0, 4096, R, PRIV, fd, 0)
    assert m.cat(f"/proc/{p.pid}/maps").split()[1] == "r--p"


# -- o_directory_creat_enotdir (5.7), o_directory_creat_einval (6.4): build_open_flags() -------
@pytest.mark.parametrize(
    ("kernel", "result", "created"),
    [
        ("4.4", "fd", True),
        ("5.10", errno.ENOTDIR, True),
        ("6.3", errno.ENOTDIR, True),
        ("6.4", errno.EINVAL, False),
        ("6.12", errno.EINVAL, False),
    ],
)
def test_o_directory_o_creat(kernel: str, result: object, created: bool) -> None:
    m = machine(kernel)
    p = m.spawn(name="P1")
    flags = O_DIRECTORY | nommu.O_CREAT | nommu.O_RDONLY
    if result == "fd":
        fd = p.open("/tmp/d", flags)
        assert p.fstat(fd).st_mode & 0o170000 == 0o100000  # a regular file, opened
    else:
        assert errno_of(p.open, "/tmp/d", flags) == result
    assert ("d" in m.ns.lookup("/tmp").inode.children) == created  # type: ignore[operator]
    # an existing directory: EISDIR before 6.4; an existing file: ENOTDIR
    p.mkdir("/tmp/dir")
    expected_dir = errno.EINVAL if kernel in ("6.4", "6.12") else errno.EISDIR
    assert errno_of(p.open, "/tmp/dir", flags) == expected_dir
    p.close(p.open("/tmp/file", nommu.O_CREAT | nommu.O_WRONLY))
    expected_file = errno.EINVAL if kernel in ("6.4", "6.12") else errno.ENOTDIR
    assert errno_of(p.open, "/tmp/file", flags) == expected_file


# -- execve_opens_first (6.8): alloc_bprm() / bprm_execve() ------------------------------------
@pytest.mark.parametrize(("kernel", "first"), [("6.1", errno.E2BIG), ("6.8", errno.ENOENT)])
def test_execve_check_order(kernel: str, first: int) -> None:
    m = machine(kernel)
    p = m.spawn(name="P1")
    huge = ["x" * (200 << 10)]  # more than MAX_ARG_PAGES (32) pages of strings
    assert errno_of(p.execve, "/bin/missing", huge) == first
    assert errno_of(p.execve, "/bin/missing", ["missing"]) == errno.ENOENT


def _program(m: nommu.Machine) -> nommu.Process:
    sh = m.spawn(name="sh")
    fd = sh.open("/bin/prog", nommu.O_CREAT | nommu.O_WRONLY, 0o755)
    sh.write(fd, build_flat(0x2040, 0x800, 0x800, 0x1000, 4, flags=0))
    sh.close(fd)
    return sh


# -- empty_argv_filled (5.18) with execve_opens_first (6.8): do_execveat_common() -------------
@pytest.mark.parametrize(
    ("kernel", "cmdline", "logged_for_missing"),
    [("5.10", "", False), ("6.1", "\x00", True), ("6.12", "\x00", False)],
)
def test_empty_argv(kernel: str, cmdline: str, logged_for_missing: bool) -> None:
    m = machine(kernel)
    sh = _program(m)
    line = "process 'sh' launched '/bin/missing' with NULL argv: empty string added"
    child = sh.vfork()
    assert errno_of(child.execve, "/bin/missing", []) == errno.ENOENT
    assert (line in m.dmesg()) == logged_for_missing  # counted before the open until 6.8
    child.execve("/bin/prog", [])
    assert m.cat(f"/proc/{child.pid}/cmdline") == cmdline
    warned = [x for x in m.dmesg() if "with NULL argv" in x]
    assert len(warned) == (1 if cmdline else 0)  # pr_warn_once: once per boot
