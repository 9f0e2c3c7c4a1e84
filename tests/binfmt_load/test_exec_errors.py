"""execve failures: lookup, permissions, ETXTBSY (C123), bad input, the point of no return."""

from __future__ import annotations

import errno
import struct

import pytest

import nommu
from exec_helpers import P, fdpic_prog, flat_prog, free_pages, install, run, z1024
from nommu import SyscallError
from nommu.binfmt.flat_format import FLAT_FLAG_GZIP, FLAT_FLAG_RAM, build_flat
from nommu.fs.romfs_image import FileSpec


def _setup(**options: object) -> tuple[nommu.Machine, nommu.Process]:
    m = z1024(**options)
    init = m.spawn(name="sh")
    install(init, "/bin/prog", flat_prog())
    return m, init


def _fails(
    init: nommu.Process, path: str, expected: int, argv: list[str] | None = None
) -> nommu.Process:
    """execve in a vfork child fails before the point of no return: nothing changes."""
    m = init.machine
    child = init.vfork()
    mm = child.mm
    free, maps = free_pages(m), m.cat("/proc/maps")
    with pytest.raises(SyscallError) as e:
        child.execve(path, argv if argv is not None else [path])
    assert e.value.errno == expected, e.value
    assert child.state == "R" and child.mm is mm and init.state == "D"
    assert free_pages(m) == free and m.cat("/proc/maps") == maps
    m.validate()
    child.exit(127)
    assert init.wait() == (child.pid, 127 << 8)
    return child


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("/bin/missing", errno.ENOENT, id="missing"),
        pytest.param("/bin/prog/x", errno.ENOTDIR, id="notdir"),
        pytest.param("/bin", errno.EACCES, id="directory"),
        pytest.param("/dev/null", errno.EACCES, id="char-device"),
        pytest.param("/bin/noexec-bits", errno.EACCES, id="no-x-bit"),
        pytest.param("/bin/garbage", errno.ENOEXEC, id="unknown-format"),
        pytest.param("/bin/empty", errno.ENOEXEC, id="empty"),
    ],
)
def test_errors_before_point_of_no_return(path: str, expected: int) -> None:
    _m, init = _setup()
    install(init, "/bin/noexec-bits", flat_prog(), mode=0o644)
    install(init, "/bin/garbage", b"MZ\x90\x00" + bytes(300))
    install(init, "/bin/empty", b"")
    _fails(init, path, expected)


def test_noexec_mount_is_EACCES() -> None:
    m, init = _setup()
    m.mount("ramfs", "/mntx", noexec=True)
    install(init, "/mntx/prog", flat_prog())
    _fails(init, "/mntx/prog", errno.EACCES)


def test_non_root_needs_its_execute_bit() -> None:
    m, init = _setup()
    install(init, "/bin/own", flat_prog(), mode=0o704)
    user = init.vfork()
    user.uid = user.gid = 1000
    with pytest.raises(SyscallError) as e:
        user.execve("/bin/own", ["own"])
    assert e.value.errno == errno.EACCES
    user.execve("/bin/prog", ["prog"])  # 0755: others may execute
    m.validate()


def test_E2BIG() -> None:
    _m, init = _setup()
    _fails(init, "/bin/prog", errno.E2BIG, ["x" * (32 * P)])


@pytest.mark.parametrize(
    "blob",
    [
        pytest.param(flat_prog()[:40], id="short-header"),
        pytest.param(flat_prog()[:0x1000], id="truncated-text"),
        pytest.param(flat_prog()[:-4], id="truncated-relocs"),
        pytest.param(b"bFLT" + struct.pack(">I", 3) + flat_prog()[8:], id="bad-version"),
        pytest.param(flat_prog(bss_len=0x10000000), id="bad-header-28-bits"),
        pytest.param(flat_prog(flags=FLAT_FLAG_GZIP), id="gzip-without-zflat"),
        pytest.param(fdpic_prog(fdpic=False, e_type=2), id="plain-et-exec"),
        pytest.param(fdpic_prog()[:60], id="elf-truncated"),
        pytest.param(
            b"\x7fELF\x01\x01\x01" + bytes(9) + struct.pack("<HH", 1, 40) + bytes(40),
            id="elf-relocatable",
        ),
    ],
)
def test_bad_executables_are_ENOEXEC(blob: bytes) -> None:
    _m, init = _setup()
    install(init, "/bin/bad", blob)
    _fails(init, "/bin/bad", errno.ENOEXEC)


def test_missing_interpreter_is_ENOENT_and_harmless() -> None:
    _m, init = _setup()
    install(init, "/bin/dyn", fdpic_prog(interp="/lib/ld-uClibc.so.0"))
    _fails(init, "/bin/dyn", errno.ENOENT)


def test_bad_interpreters() -> None:
    _m, init = _setup()
    init.mkdir("/lib")
    install(init, "/lib/ld-short.so", b"\x7fELF" + bytes(100))
    install(init, "/lib/ld-text.so", b"#" * 300)
    install(init, "/bin/a", fdpic_prog(interp="/lib/ld-short.so"))
    install(init, "/bin/b", fdpic_prog(interp="/lib/ld-text.so"))
    _fails(init, "/bin/a", errno.ENOEXEC)  # shorter than BINPRM_BUF_SIZE
    _fails(init, "/bin/b", errno.ELIBBAD)


def _killed(init: nommu.Process, path: str, expected: int) -> SyscallError:
    """execve fails after the point of no return: SIGSEGV, and nothing leaks."""
    m = init.machine
    free, copy = free_pages(m), m.nommu.mmap_pages_allocated
    child = init.vfork()
    with pytest.raises(SyscallError) as e:
        child.execve(path, [path])
    assert e.value.errno == expected, e.value
    assert child.state == "Z" and child.mm is None
    assert init.state == "R"  # the vfork parent was released at the point of no return
    m.validate()
    assert init.wait() == (child.pid, 11)  # WTERMSIG == SIGSEGV
    assert free_pages(m) == free and m.nommu.mmap_pages_allocated == copy
    assert m.cat("/proc/maps") == ""
    init.close(init.open(path, nommu.O_WRONLY))  # no write denial is left behind
    return e.value


def test_corrupt_compressed_data_kills_after_point_of_no_return() -> None:
    _m, init = _setup(compressed_flat=True)
    blob = bytearray(flat_prog(flags=FLAT_FLAG_GZIP))
    blob[80:120] = bytes(40)
    install(init, "/bin/corrupt", bytes(blob))
    _killed(init, "/bin/corrupt", errno.ENOEXEC)


def test_relocation_outside_the_program_kills() -> None:
    m, init = _setup()
    data = struct.pack(">I", 0x7FFFFF00) + bytes(60)
    install(
        init, "/bin/reloc", build_flat(0x1040, 64, 64, 0x1000, 1, flags=FLAT_FLAG_RAM, data=data)
    )
    _killed(init, "/bin/reloc", errno.ENOEXEC)
    assert any(
        "reloc outside program 0x7fffff00" in line and "killing" in line for line in m.dmesg()
    )


def test_too_large_for_max_order_is_ENOMEM_with_explanation() -> None:
    m, init = _setup()
    install(init, "/bin/huge", flat_prog(bss_len=5 << 20, flags=FLAT_FLAG_RAM))
    err = _killed(init, "/bin/huge", errno.ENOMEM)
    assert "above the largest order" in err.detail
    assert (
        "binfmt_flat: Unable to allocate RAM for process text/data, errno -12" in m.dmesg()
    )  # ret holds -ENOMEM


def test_no_free_block_large_enough_is_ENOMEM_with_explanation() -> None:
    m, init = _setup()
    # the file's pages already broke the only order-10 block
    install(init, "/bin/big", flat_prog(bss_len=600 * P, flags=FLAT_FLAG_RAM))
    err = _killed(init, "/bin/big", errno.ENOMEM)
    assert "need one contiguous order-10 block" in err.detail
    assert "largest free block is order 9" in err.detail
    assert any("page allocation failure: order:10" in line for line in m.dmesg())


def test_elf_segment_offset_not_congruent_kills() -> None:
    from nommu.binfmt.elf_format import PF_R, PF_X, SegmentSpec, build_elf

    _m, init = _setup()
    blob = build_elf(
        [SegmentSpec(0x10000, 0x1000, flags=PF_R | PF_X, offset=0x1100)], machine="ARM", fdpic=True
    )
    install(init, "/bin/odd", blob)
    _killed(init, "/bin/odd", errno.EINVAL)


# -- ETXTBSY (deny_write_access) ------------------------------------------------------------
def test_C123_running_program_is_write_denied() -> None:
    m = z1024()
    m.mount(
        "ext2",
        "/mnt",
        files={
            "prog": FileSpec(flat_prog(), executable=True),
            "other": FileSpec(flat_prog(), executable=True),
        },
    )
    sh = m.spawn(name="sh")
    p1 = run(sh, "/mnt/prog")
    p2 = sh.vfork()
    p2.execve("/mnt/prog", ["prog"])  # a second instance: still denied
    p3 = m.spawn(name="P3")
    for flags in (nommu.O_WRONLY, nommu.O_RDWR, nommu.O_WRONLY | nommu.O_TRUNC):
        with pytest.raises(SyscallError) as e:
            p3.open("/mnt/prog", flags)
        assert e.value.errno == errno.ETXTBSY
    with pytest.raises(SyscallError) as e:
        p3.truncate("/mnt/prog", 0)
    assert e.value.errno == errno.ETXTBSY
    p3.close(p3.open("/mnt/prog", nommu.O_RDONLY))
    # a file open for writing cannot be executed
    fd = p3.open("/mnt/other", nommu.O_RDWR)
    p4 = sh.vfork()
    with pytest.raises(SyscallError) as e:
        p4.execve("/mnt/other", ["other"])
    assert e.value.errno == errno.ETXTBSY
    p3.close(fd)
    p4.execve("/mnt/other", ["other"])
    # denial lasts as long as any mm runs the file
    p1.exit(0)
    with pytest.raises(SyscallError):
        p3.open("/mnt/prog", nommu.O_WRONLY)
    p2.exit(0)
    p3.close(p3.open("/mnt/prog", nommu.O_WRONLY))
    m.validate()


def test_clone_without_vm_keeps_the_write_denial() -> None:
    m = z1024()
    sh = m.spawn()
    install(sh, "/bin/prog", flat_prog())
    p = run(sh, "/bin/prog")
    c = p.clone(nommu.SIGCHLD)  # dup_mmap copies exe_file and its denial
    p.exit(0)
    with pytest.raises(SyscallError) as e:
        sh.open("/bin/prog", nommu.O_WRONLY)
    assert e.value.errno == errno.ETXTBSY
    c.exit(0)
    sh.close(sh.open("/bin/prog", nommu.O_WRONLY))


def test_libraries_are_not_write_denied() -> None:
    """15.1 item 4: a mapped library can be rewritten under a running program."""
    m = z1024()
    sh = m.spawn()
    sh.mkdir("/lib")
    install(sh, "/lib/libx.so", fdpic_prog(e_type=3, soname="libx.so"))
    install(sh, "/bin/app", fdpic_prog(needed=("libx.so",)))
    p = run(sh, "/bin/app")
    assert p.image is not None and p.image.libraries == ("/lib/libx.so",)
    fd = sh.open("/lib/libx.so", nommu.O_WRONLY)
    assert sh.pwrite(fd, b"ZZZZ", 0x100) == 4
    sh.close(fd)
    with pytest.raises(SyscallError) as e:
        sh.open("/bin/app", nommu.O_WRONLY)
    assert e.value.errno == errno.ETXTBSY
    # the library's text is a direct overlay of its page cache: the write shows through
    lib_text = [
        line
        for line in m.cat(f"/proc/{p.pid}/maps").splitlines()
        if line.endswith("/lib/libx.so") and " r-xp " in line
    ]
    assert len(lib_text) == 1
    assert p.peek(int(lib_text[0][:8], 16) + 0x100, 4) == b"ZZZZ"


def test_running_program_on_ramfs_cannot_be_truncated_but_old_mm_can() -> None:
    m = z1024()
    sh = m.spawn()
    install(sh, "/bin/a", flat_prog(flags=FLAT_FLAG_RAM))
    install(sh, "/bin/b", flat_prog(flags=FLAT_FLAG_RAM))
    p = run(sh, "/bin/a")
    with pytest.raises(SyscallError):
        sh.truncate("/bin/a", 0)
    p.execve("/bin/b", ["b"])  # the old mm and its denial are gone
    sh.truncate("/bin/a", 0)
    with pytest.raises(SyscallError) as e:
        sh.truncate("/bin/b", 0)
    assert e.value.errno == errno.ETXTBSY
