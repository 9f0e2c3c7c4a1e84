"""The ELF-FDPIC loader: FDPIC and constdisp layouts, stack (C59, C61), interpreter, libraries,
programs built by the host C compiler and real host binaries."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import pytest

import nommu
from exec_helpers import P, fdpic_prog, free_pages, have_cc, install, maps_lines, run, z1024
from nommu.binfmt.elf_format import PF_R, PF_W, PF_X, SegmentSpec, build_elf, parse_elf


def _line_of(lines: list[str], suffix: str, perms: str) -> tuple[int, int]:
    found = [ln for ln in lines if ln.endswith(suffix) and f" {perms} " in ln]
    assert len(found) == 1, lines
    return int(found[0][:8], 16), int(found[0][9:17], 16)


def test_fdpic_program_gets_one_mapping_per_segment() -> None:
    m = z1024()
    sh = m.spawn()
    blob = fdpic_prog(gnu_stack=(5000, False))
    install(sh, "/bin/f", blob)
    p = run(sh, "/bin/f")
    assert p.image is not None and p.image.format == "elf-fdpic"
    mm = p.mm
    assert mm is not None
    lines = maps_lines(m, p)
    ts, te = _line_of(lines, "/bin/f", "r-xp")
    ds, de = _line_of(lines, "/bin/f", "rw-p")
    ss, se = _line_of(lines, "[stack]", "rw-p")
    assert te - ts == 0x3000 and de - ds == 0x2000 and se - ss == 0x2000
    assert ts == 0x00400000  # the text is the file's own page cache (direct overlay)
    # text bytes are the file; data is a copy with the bss cleared
    assert p.peek(ts, 0x3000) == blob[:0x3000]
    info = parse_elf(blob)
    data_seg = info.segments[1]
    assert p.peek(ds, 0x800) == blob[data_seg.p_offset : data_seg.p_offset + 0x800]
    assert p.peek(ds + 0x800, 0x1800) == bytes(0x1800)
    assert (mm.start_code, mm.end_code) == (ts, ts + 0x3000)
    assert (mm.start_data, mm.end_data) == (ds, ds + 0x2000)
    # C59: the brk area has size zero
    assert mm.start_brk == mm.brk == mm.end_brk == ss
    for request in (0, ss + 0x1000, ss, ss - 1):
        assert p.brk(request) == ss
    m.validate()


def test_fdpic_stack_tables() -> None:
    m = z1024()
    sh = m.spawn()
    install(sh, "/bin/f", fdpic_prog())
    p = run(sh, "/bin/f", ["f", "one"], ["A=1"])
    mm = p.mm
    assert mm is not None
    sp = mm.start_stack
    assert sp % 16 == 0

    def word(addr: int) -> int:
        return int.from_bytes(p.peek(addr, 4), "little")

    assert word(sp) == 2
    argv = [word(sp + 4), word(sp + 8), word(sp + 12)]
    envp = [word(sp + 16), word(sp + 20)]
    assert argv[2] == 0 and envp[1] == 0
    assert p.peek(argv[0], 2) == b"f\0" and p.peek(argv[1], 4) == b"one\0"
    assert p.peek(envp[0], 4) == b"A=1\0"
    assert m.cat(f"/proc/{p.pid}/cmdline") == "f\0one\0"
    # the auxiliary vector follows envp: (AT_PAGESZ, 4096) is among its pairs
    aux = [(word(sp + 24 + 8 * i), word(sp + 28 + 8 * i)) for i in range(16)]
    assert (6, P) in aux and aux[-1] == (0, 0)
    execfn = dict(aux)[31]
    assert p.peek(execfn, 8) == b"/bin/f\0\0"


@pytest.mark.parametrize(
    ("gnu_stack", "size", "perms"),
    [
        pytest.param((5000, False), 8192, "rw-p", id="5000"),
        pytest.param((100, False), 8192, "rw-p", id="100-two-pages"),
        pytest.param(None, 131072, "rw-p", id="default"),
        # p_memsz 0 and no interpreter: load_elf_fdpic_binary() keeps the program's
        # PF_X (only an interpreter's PT_GNU_STACK would replace size and flags)
        pytest.param((0, True), 131072, "rwxp", id="exec-without-size"),
        pytest.param((20000, True), 20480, "rwxp", id="exec-rounded"),
    ],
)
def test_C61_stack_size(gnu_stack: tuple[int, bool] | None, size: int, perms: str) -> None:
    m = z1024()
    sh = m.spawn()
    install(sh, "/bin/f", fdpic_prog(gnu_stack=gnu_stack))
    p = run(sh, "/bin/f")
    start, end = _line_of(maps_lines(m, p), "[stack]", perms)
    assert end - start == size


def test_constdisp_plain_pie_is_one_private_copy() -> None:
    m = z1024()
    sh = m.spawn()
    install(sh, "/bin/pie", fdpic_prog(fdpic=False, e_type=3))
    before = free_pages(m)
    p1 = run(sh, "/bin/pie")
    assert p1.image is not None and p1.image.format == "elf-constdisp"
    lines = maps_lines(m, p1)
    assert len(lines) == 2
    start, end = int(lines[0][:8], 16), int(lines[0][9:17], 16)
    assert lines[0].endswith(" ") and " rwxp " in lines[0]  # anonymous
    # span 0 .. 0x10000 + 0x3000 + 0x2000
    assert end - start == 0x15000
    one = before - free_pages(m)
    run(sh, "/bin/pie")
    assert before - free_pages(m) == 2 * one  # nothing shared
    m.validate()


def test_two_fdpic_instances_share_text_plain_ones_do_not() -> None:
    for as_fdpic in (False, True):
        m = z1024(elf_as_fdpic=as_fdpic)
        sh = m.spawn()
        install(sh, "/bin/pie", fdpic_prog(fdpic=False, e_type=3))
        before = free_pages(m)
        a = run(sh, "/bin/pie")
        cost_one = before - free_pages(m)
        b = run(sh, "/bin/pie")
        cost_two = before - free_pages(m)
        if as_fdpic:
            assert a.image is not None and a.image.format == "elf-fdpic"
            ta = _line_of(maps_lines(m, a), "/bin/pie", "r-xp")
            tb = _line_of(maps_lines(m, b), "/bin/pie", "r-xp")
            assert ta == tb
            assert cost_two == 2 * cost_one  # text costs no RAM: only data and stacks
            assert cost_one == 2 + 32  # data copy + 128 KiB stack
        else:
            assert cost_two == 2 * cost_one and cost_one == 0x15 + 32
        m.validate()


def test_plain_et_exec_loads_with_elf_as_fdpic() -> None:
    m = z1024(elf_as_fdpic=True)
    sh = m.spawn()
    install(sh, "/bin/exe", fdpic_prog(fdpic=False, e_type=2))
    p = run(sh, "/bin/exe")
    assert p.image is not None and p.image.format == "elf-fdpic"


def test_interpreter_is_loaded_like_the_program() -> None:
    m = z1024()
    sh = m.spawn()
    sh.mkdir("/lib")
    ld = build_elf(
        [
            SegmentSpec(0, 0x2000, flags=PF_R | PF_X, offset=0),
            SegmentSpec(0x12000, 0x1000, filesz=0x100, flags=PF_R | PF_W),
        ],
        machine="ARM",
        fdpic=True,
        e_type=3,
        entry=0x100,
    )
    install(sh, "/lib/ld-uClibc.so.0", ld)
    install(sh, "/bin/dyn", fdpic_prog(interp="/lib/ld-uClibc.so.0"))
    p = run(sh, "/bin/dyn")
    lines = maps_lines(m, p)
    ls, _ = _line_of(lines, "/lib/ld-uClibc.so.0", "r-xp")
    _line_of(lines, "/lib/ld-uClibc.so.0", "rw-p")
    assert p.image is not None and p.image.entry == ls + 0x100
    assert p.image.interpreter == "/lib/ld-uClibc.so.0"
    # the interpreter is write-denied only while the exec runs
    sh.close(sh.open("/lib/ld-uClibc.so.0", nommu.O_WRONLY))
    m.validate()


def test_library_emulation() -> None:
    m = z1024()
    sh = m.spawn()
    sh.mkdir("/lib")
    install(sh, "/lib/libc.so.0", fdpic_prog(e_type=3, soname="libc.so.0"))
    install(sh, "/lib/libm.so.0", fdpic_prog(e_type=3, soname="libm.so.0", needed=("libc.so.0",)))
    install(sh, "/bin/app", fdpic_prog(needed=("libm.so.0", "libgone.so.1")))
    before = free_pages(m)
    a = run(sh, "/bin/app")
    assert a.image is not None
    assert a.image.libraries == ("/lib/libm.so.0", "/lib/libc.so.0")
    assert a.image.missing_libraries == ("libgone.so.1",)
    assert any("fdpic-ld: /bin/app: libgone.so.1 not found" in ln for ln in m.dmesg())
    cost = before - free_pages(m)
    assert cost == 3 * 2 + 32  # three private data copies and the stack; all text shared
    b = run(sh, "/bin/app")
    for lib in ("/lib/libm.so.0", "/lib/libc.so.0"):
        assert _line_of(maps_lines(m, a), lib, "r-xp") == _line_of(maps_lines(m, b), lib, "r-xp")
        assert _line_of(maps_lines(m, a), lib, "rw-p") != _line_of(maps_lines(m, b), lib, "rw-p")
    m.validate()
    a.exit(0)
    b.exit(0)
    assert free_pages(m) == before


def test_library_emulation_can_be_turned_off() -> None:
    m = z1024(fdpic_libraries=False)
    sh = m.spawn()
    sh.mkdir("/lib")
    install(sh, "/lib/libc.so.0", fdpic_prog(e_type=3, soname="libc.so.0"))
    install(sh, "/bin/app", fdpic_prog(needed=("libc.so.0",)))
    p = run(sh, "/bin/app")
    assert p.image is not None and p.image.libraries == ()
    assert not any(ln.endswith("libc.so.0") for ln in maps_lines(m, p))


def test_library_out_of_memory_exits_127() -> None:
    m = z1024()
    sh = m.spawn()
    sh.mkdir("/lib")
    big = build_elf(
        [
            SegmentSpec(0, 0x1000, flags=PF_R | PF_X, offset=0),
            SegmentSpec(0x11000, 600 * P, filesz=0x100, flags=PF_R | PF_W),
        ],
        machine="ARM",
        fdpic=True,
        e_type=3,
    )
    install(sh, "/lib/libbig.so", big)
    install(sh, "/bin/app", fdpic_prog(needed=("libbig.so",)))
    before = free_pages(m)
    child = sh.vfork()
    with pytest.raises(nommu.SyscallError) as e:
        child.execve("/bin/app", ["app"])
    assert e.value.errno == nommu.Errno.ENOMEM and "status 127" in e.value.detail
    assert sh.wait() == (child.pid, 127 << 8)
    assert free_pages(m) == before
    m.validate()


# -- programs from the host ------------------------------------------------------------------
def _copy_host(p: nommu.Process, host: str, dest: str) -> None:
    d = os.path.dirname(dest)
    parts = [x for x in d.split("/") if x]
    for i in range(1, len(parts) + 1):
        with contextlib.suppress(nommu.SyscallError):
            p.mkdir("/" + "/".join(parts[:i]))
    install(p, dest, Path(host).read_bytes())


def _host_machine(**options: object) -> tuple[nommu.Machine, nommu.Process]:
    m = nommu.Machine(ram="64M", ram_base=0, kernel_reserved="4M", ideal=True, **options)  # type: ignore[arg-type]
    return m, m.spawn(name="sh")


@pytest.mark.skipif(not have_cc(), reason="no C compiler (cc) on this host")
def test_cc_compiled_program(tmp_path: Path) -> None:
    src = tmp_path / "hello.c"
    src.write_text(
        "static char big[50000]; int v = 7;\nint main(void) { big[0] = v; return big[1]; }\n"
    )
    exe = tmp_path / "hello"
    r = subprocess.run(
        ["cc", "-O1", "-static-pie", "-o", str(exe), str(src)], capture_output=True, check=False
    )
    if r.returncode != 0:
        r = subprocess.run(
            ["cc", "-O1", "-fPIE", "-pie", "-o", str(exe), str(src)],
            capture_output=True,
            check=False,
        )
    if r.returncode != 0:
        pytest.skip(f"cc cannot build a PIE here: {r.stderr.decode(errors='replace')[:200]}")
    info = parse_elf(exe.read_bytes())
    m, sh = _host_machine(fdpic_libraries=False)
    _copy_host(sh, str(exe), "/bin/hello")
    if info.interp:
        _copy_host(sh, os.path.realpath(info.interp), info.interp)
    p = run(sh, "/bin/hello")
    assert p.image is not None and p.image.format == "elf-constdisp"
    lines = [ln for ln in maps_lines(m, p) if not ln.endswith("[stack]")]
    assert len(lines) == 1 + (info.interp is not None)
    base = min(s.p_vaddr for s in info.segments)
    top = max(s.p_vaddr + s.p_memsz for s in info.segments)
    # the program's block: the whole PT_LOAD span, page-rounded, starting at the lowest segment
    start = (
        p.mm.start_code - (min(s.p_vaddr for s in info.segments if s.p_flags & PF_X) - base)
        if p.mm
        else 0
    )
    block = [ln for ln in lines if int(ln[:8], 16) == start]
    assert len(block) == 1
    assert int(block[0][9:17], 16) - start == (top - base + P - 1) // P * P
    # each segment's file bytes sit at its displacement in the block; the bss is zero
    for seg in info.segments:
        addr = start + seg.p_vaddr - base
        assert (
            p.peek(addr, min(seg.p_filesz, 256))
            == exe.read_bytes()[seg.p_offset : seg.p_offset + min(seg.p_filesz, 256)]
        )
    m.validate()
    # with elf_as_fdpic the read-only segments are shared between two instances
    m2, sh2 = _host_machine(elf_as_fdpic=True, fdpic_libraries=False)
    _copy_host(sh2, str(exe), "/bin/hello")
    if info.interp:
        _copy_host(sh2, os.path.realpath(info.interp), info.interp)
    a, b = run(sh2, "/bin/hello"), run(sh2, "/bin/hello")

    def read_only(p: nommu.Process) -> list[str]:
        return [
            ln[:17]
            for ln in maps_lines(m2, p)
            if ln.endswith("/bin/hello") and "w" not in ln[18:21]
        ]

    assert read_only(a) and read_only(a) == read_only(b)
    m2.validate()


HOST_TRUE = "/bin/true"


@pytest.mark.skipif(not os.path.exists(HOST_TRUE), reason="no /bin/true on this host")
def test_host_bin_true_with_interpreter_and_libc() -> None:
    info = parse_elf(Path(HOST_TRUE).read_bytes())
    if info.e_type != 3 or info.interp is None or not os.path.exists(info.interp):
        pytest.skip("/bin/true is not a dynamically linked PIE here")
    for as_fdpic in (False, True):
        m, sh = _host_machine(elf_as_fdpic=as_fdpic)
        _copy_host(sh, HOST_TRUE, "/bin/true")
        _copy_host(sh, os.path.realpath(info.interp), info.interp)
        libs = {}
        for name in info.needed:
            for d in (
                "/lib/x86_64-linux-gnu",
                "/usr/lib/x86_64-linux-gnu",
                "/lib64",
                "/lib",
                "/usr/lib",
            ):
                if os.path.exists(os.path.join(d, name)):
                    libs[name] = os.path.realpath(os.path.join(d, name))
                    break
        for name, host in libs.items():
            _copy_host(sh, host, "/lib/" + name)
        before = free_pages(m)
        a = run(sh, "/bin/true")
        one = before - free_pages(m)
        b = run(sh, "/bin/true")
        two = before - free_pages(m)
        assert a.image is not None
        assert a.image.libraries == tuple("/lib/" + n for n in libs)
        if as_fdpic:
            assert two == 2 * one
            shared = [ln[:17] for ln in maps_lines(m, a) if " r-xp " in ln]
            assert shared and shared == [ln[:17] for ln in maps_lines(m, b) if " r-xp " in ln]
        else:
            assert a.image.format == "elf-constdisp" and two == 2 * one
            assert all(not ln.rstrip().endswith("true") for ln in maps_lines(m, a))
        m.validate()
        a.exit(0)
        b.exit(0)
        assert free_pages(m) == before


def test_machine_options_are_checked_and_defaulted() -> None:
    m = z1024()
    assert {
        k: m.options[k] for k in ("compressed_flat", "elf_as_fdpic", "fdpic_libraries", "sysv_shm")
    } == {
        "compressed_flat": False,
        "elf_as_fdpic": False,
        "fdpic_libraries": True,
        "sysv_shm": "code",
    }
    for name in ("compressed_flat", "elf_as_fdpic", "fdpic_libraries"):
        with pytest.raises(TypeError, match=name):
            z1024(**{name: "yes"})
