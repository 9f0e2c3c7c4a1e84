"""ELF program headers as the ELF-FDPIC loader reads them; FDPIC tests; stack size; writer."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from nommu.binfmt.elf_format import (
    DEFAULT_STACK_SIZE,
    ET_DYN,
    ET_EXEC,
    PF_R,
    PF_W,
    PF_X,
    ElfInfo,
    GnuStack,
    LoadSegment,
    SegmentSpec,
    build_elf,
    check_fdpic_exec,
    constdisp_span,
    parse_elf,
    stack_size,
)
from nommu.consts import PROT_EXEC, PROT_READ, PROT_WRITE
from nommu.errors import Errno, SyscallError

TEXT = SegmentSpec(0, 0x1234, offset=0)
DATA = SegmentSpec(0x11234, 0x2000, 0x800, flags=PF_R | PF_W)


def _error(data: bytes) -> SyscallError:
    with pytest.raises(SyscallError) as info:
        parse_elf(data, name="prog")
    return info.value


def _elf_or_skip(path: Path) -> bytes:
    if not path.exists():
        pytest.skip(f"{path} not present")
    data = path.read_bytes()
    if data[:4] != b"\x7fELF":
        pytest.skip(f"{path} is not an ELF file on this host")
    return data


# --------------------------------------------------------------------- host programs


@pytest.mark.parametrize("path", ["/bin/true", "/bin/ls"])
def test_host_program(path: str) -> None:
    info = parse_elf(_elf_or_skip(Path(path)), name=path)
    assert info.e_type in (ET_EXEC, ET_DYN)
    assert info.segments
    assert any(seg.executable for seg in info.segments)
    assert not info.is_fdpic and info.constdisp
    if info.needed:
        assert info.interp is not None and info.interp.startswith("/")
    base, top = constdisp_span(info)
    assert base == min(s.p_vaddr for s in info.segments)
    assert top == max(s.p_vaddr + s.p_memsz for s in info.segments)


def _compile(tmp_path: Path, *flags: str) -> bytes:
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler (cc, gcc or clang) on PATH")
    source = tmp_path / "hello.c"
    source.write_text(
        "#include <stdio.h>\n"
        "static char buffer[100000];\n"
        "int counter = 42;\n"
        'int main(void) { buffer[0] = 1; printf("%d\\n", counter); return 0; }\n'
    )
    output = tmp_path / "hello"
    result = subprocess.run(
        [cc, *flags, "-o", str(output), str(source)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.skip(f"{cc} {' '.join(flags)} failed: {result.stderr.strip()[:200]}")
    return output.read_bytes()


def test_compiled_program(tmp_path: Path) -> None:
    info = parse_elf(_compile(tmp_path), name="hello")
    assert info.e_type in (ET_EXEC, ET_DYN)
    assert info.interp is not None
    assert any("libc" in lib for lib in info.needed)
    assert info.dynamic_vaddr is not None
    writable = [seg for seg in info.segments if seg.writable]
    assert writable and writable[-1].p_memsz >= writable[-1].p_filesz + 100000  # the bss
    assert info.gnu_stack is not None and not info.gnu_stack.executable
    assert stack_size(info) == (DEFAULT_STACK_SIZE, False)


def test_compiled_pie_and_exec_stack(tmp_path: Path) -> None:
    pie = parse_elf(_compile(tmp_path, "-fPIE", "-pie", "-Wl,-z,execstack"), name="pie")
    assert pie.e_type == ET_DYN
    check_fdpic_exec(pie)  # a no-MMU kernel would accept it (one RWX block)
    assert pie.gnu_stack == GnuStack(0, True)
    # p_memsz 0 and no interpreter: the default size, and the program's PF_X stands
    # (load_elf_fdpic_binary() replaces both only from an interpreter's PT_GNU_STACK)
    assert stack_size(pie) == (DEFAULT_STACK_SIZE, True)
    assert stack_size(pie, default_exec=False) == (DEFAULT_STACK_SIZE, True)
    sized = parse_elf(_compile(tmp_path, "-Wl,-z,stack-size=65536"), name="sized")
    assert sized.gnu_stack is not None and sized.gnu_stack.memsz == 65536
    assert stack_size(sized) == (65536, False)


# --------------------------------------------------------------------- writer round trips


def test_build_arm_fdpic_round_trip() -> None:
    data = build_elf(
        [TEXT, DATA],
        fdpic=True,
        e_type=ET_DYN,
        gnu_stack=(0x10000, False),
        interp="/lib/ld-uClibc.so.0",
        needed=("libc.so.0", "libm.so.0"),
        soname="libfoo.so",
    )
    info = parse_elf(data, name="fdpic")
    assert info.machine == "ARM" and info.e_machine == 40
    assert (info.bits, info.endian, info.osabi) == (32, "little", 65)
    assert info.is_fdpic and not info.constdisp
    assert info.e_type == ET_DYN
    assert info.segments == (
        LoadSegment(0, 0, 0x1234, 0x1234, PF_R | PF_X, 0x1000),
        LoadSegment(0x1234, 0x11234, 0x800, 0x2000, PF_R | PF_W, 0x1000),
    )
    assert info.segments[0].prot == PROT_READ | PROT_EXEC
    assert info.segments[1].prot == PROT_READ | PROT_WRITE
    assert info.segments[0].flags_str == "R E"
    assert info.gnu_stack == GnuStack(0x10000, False)
    assert info.interp == "/lib/ld-uClibc.so.0"
    assert info.needed == ("libc.so.0", "libm.so.0")
    assert info.soname == "libfoo.so"
    assert info.dynamic_memsz == 6 * 8
    assert info.dynamic_vaddr is not None
    assert 0x11234 <= info.dynamic_vaddr < 0x11234 + 0x800
    assert data[:4] == b"\x7fELF"
    check_fdpic_exec(info, machine="arm")


def test_build_is_read_by_pyelftools() -> None:
    import io

    data = build_elf([TEXT, DATA], interp="/lib/ld.so", needed=("libc.so",), e_type=ET_DYN)
    elf = ELFFile(io.BytesIO(data))
    types = [seg["p_type"] for seg in elf.iter_segments()]
    assert types == ["PT_INTERP", "PT_LOAD", "PT_LOAD", "PT_DYNAMIC"]
    assert elf.num_sections() == 0


@pytest.mark.parametrize(
    ("machine", "e_flags", "endian"),
    [("SH", 0x8000, "little"), ("FRV", 0x8000, "big"), ("BLACKFIN", 0x2, "little")],
)
def test_build_fdpic_flags_per_arch(machine: str, e_flags: int, endian: str) -> None:
    info = parse_elf(build_elf([TEXT, DATA], machine=machine, fdpic=True), name=machine)
    assert info.e_flags == e_flags and info.osabi == 0
    assert info.is_fdpic and not info.constdisp
    assert info.endian == endian
    check_fdpic_exec(info)  # FDPIC ET_EXEC is fine


@pytest.mark.parametrize(
    ("machine", "e_flags"),
    [("ARM", 0x20), ("SH", 0x8000 | 0x100), ("FRV", 0x8000 | 0x100), ("BLACKFIN", 0x3)],
)
def test_fdpic_with_constant_displacement(machine: str, e_flags: int) -> None:
    info = parse_elf(build_elf([TEXT], machine=machine, fdpic=True, e_flags=e_flags), name=machine)
    assert info.is_fdpic and info.constdisp


def test_frv_non_pic_relocs_is_not_fdpic() -> None:
    info = parse_elf(build_elf([TEXT], machine="FRV", e_flags=0x8000 | 0x200), name="frv")
    assert not info.is_fdpic and info.constdisp


def test_arm_fdpic_is_the_osabi_only() -> None:
    # the kernel tests e_ident[EI_OSABI] == 65 on ARM; e_flags bits do not make it FDPIC
    plain = parse_elf(build_elf([TEXT], e_flags=0x4000), name="arm")
    assert not plain.is_fdpic
    assert parse_elf(build_elf([TEXT], osabi=65), name="arm").is_fdpic


def test_build_riscv64_no_fdpic() -> None:
    data = build_elf(
        [SegmentSpec(0x400000, 0x1000), SegmentSpec(0x600000, 0x3000, 0x100, flags=PF_R | PF_W)],
        machine="RISCV",
        bits=64,
        needed=["libc.so"],
    )
    info = parse_elf(data, name="rv")
    assert (info.machine, info.bits, info.e_type) == ("RISCV", 64, ET_EXEC)
    assert not info.is_fdpic and info.constdisp
    assert info.needed == ("libc.so",)
    assert info.entry == 0x400000
    assert [seg.p_offset % 0x1000 for seg in info.segments] == [0, 0]
    with pytest.raises(SyscallError) as err:
        check_fdpic_exec(info)
    assert err.value.errno == Errno.ENOEXEC
    with pytest.raises(ValueError, match="no FDPIC ELF test"):
        build_elf([TEXT], machine="RISCV", fdpic=True)


def test_build_big_endian_and_explicit_layout() -> None:
    data = build_elf(
        [
            SegmentSpec(0x8000, 0x40, data=b"T" * 0x40, align=1),
            SegmentSpec(0x9000, 0x10, offset=0x200),
        ],
        machine="68K",
        entry=0x8004,
    )
    info = parse_elf(data, name="m68k")
    assert info.endian == "big" and info.machine == "68K"
    assert info.entry == 0x8004
    first, second = info.segments
    assert data[first.p_offset : first.p_offset + 0x40] == b"T" * 0x40
    assert second.p_offset == 0x200
    assert len(data) == 0x210


def test_build_from_parsed_segments() -> None:
    info = parse_elf(build_elf([TEXT, DATA], fdpic=True), name="a")
    again = parse_elf(build_elf(info.segments, fdpic=True), name="b")
    assert again.segments == info.segments


def test_build_errors() -> None:
    with pytest.raises(ValueError, match="unknown machine"):
        build_elf([TEXT], machine="PDP11")
    with pytest.raises(ValueError, match="at least one PT_LOAD"):
        build_elf([])
    with pytest.raises(ValueError, match="bits must be"):
        build_elf([TEXT], bits=16)
    with pytest.raises(ValueError, match="e_type"):
        build_elf([TEXT], e_type=1)
    with pytest.raises(ValueError, match="filesz"):
        build_elf([SegmentSpec(0, 0x10, 0x20)])
    with pytest.raises(ValueError, match="offset 0 must hold"):
        build_elf([SegmentSpec(0, 0x10, offset=0)])
    with pytest.raises(ValueError, match="overlaps"):
        build_elf([SegmentSpec(0, 0x10, offset=8)])
    with pytest.raises(ValueError, match="writable segment"):
        build_elf([TEXT], needed=("libc.so",))
    with pytest.raises(ValueError, match="interp"):
        build_elf([TEXT], interp="")


# --------------------------------------------------------------------- constdisp and stack


def _info(*segments: SegmentSpec, gnu_stack: tuple[int, bool] | None = None) -> ElfInfo:
    return parse_elf(build_elf(list(segments), gnu_stack=gnu_stack), name="t")


def test_constdisp_span_is_unrounded() -> None:
    info = _info(
        SegmentSpec(0x10074, 0x1000, flags=PF_R | PF_X),
        SegmentSpec(0x21074, 0x300, 0x100, flags=PF_R | PF_W),
    )
    assert constdisp_span(info) == (0x10074, 0x21374)
    reverse = _info(SegmentSpec(0x30000, 0x10), SegmentSpec(0x1000, 0x10))
    assert constdisp_span(reverse) == (0x1000, 0x30010)


@pytest.mark.parametrize(
    ("exec_stack", "interp_stack", "default_exec", "expected"),
    [
        (None, None, False, (DEFAULT_STACK_SIZE, False)),
        (None, None, True, (DEFAULT_STACK_SIZE, True)),
        ((0x10000, True), None, False, (0x10000, True)),
        ((0x10000, False), None, True, (0x10000, False)),
        ((1, False), None, False, (8192, False)),
        ((5000, False), None, False, (8192, False)),
        ((12289, False), None, False, (16384, False)),
        # no interpreter: the executable's PF_X stands even with p_memsz 0
        ((0, True), None, False, (DEFAULT_STACK_SIZE, True)),
        ((0, False), None, True, (DEFAULT_STACK_SIZE, False)),
        ((0, False), (0x20000, True), False, (0x20000, True)),
        ((0, True), (0, False), True, (DEFAULT_STACK_SIZE, False)),
        ((0x3000, False), (0x20000, True), False, (0x3000, False)),
    ],
)
def test_stack_size(
    exec_stack: tuple[int, bool] | None,
    interp_stack: tuple[int, bool] | None,
    default_exec: bool,
    expected: tuple[int, bool],
) -> None:
    program = _info(TEXT, gnu_stack=exec_stack)
    interp = _info(TEXT, gnu_stack=interp_stack) if interp_stack is not None else None
    assert stack_size(program, interp, default_exec=default_exec) == expected


def test_stack_size_other_page_size() -> None:
    assert stack_size(_info(TEXT, gnu_stack=(1, False)), page_size=16384) == (32768, False)


def test_check_fdpic_exec_machine() -> None:
    info = parse_elf(build_elf([TEXT], e_type=ET_DYN), name="p")
    check_fdpic_exec(info, machine="EM_ARM")
    with pytest.raises(SyscallError, match="machine ARM is not SH"):
        check_fdpic_exec(info, machine="SH")


# --------------------------------------------------------------------- corrupt input


def _valid() -> bytes:
    return build_elf([TEXT, DATA], interp="/lib/ld.so", needed=("libc.so",))


def test_error_not_elf() -> None:
    err = _error(b"#!/bin/sh\necho hi\n")
    assert err.errno == Errno.ENOEXEC
    assert err.detail == "prog: not an ELF file (magic b'#!/b')"
    assert _error(b"").detail == "prog: not an ELF file (magic b'')"


def test_error_truncated() -> None:
    assert _error(b"\x7fEL").detail == "prog: truncated: 3 bytes, too short for the ELF magic"
    assert _error(_valid()[:12]).detail == "prog: truncated: 12 bytes, e_ident needs 16"
    assert _error(_valid()[:40]).detail == "prog: truncated: 40 bytes, the ELF header needs 52"
    assert _error(_valid()[:100]).detail == (
        "prog: truncated: program headers at 0x34 (4 x 32 bytes) extend beyond the end of the "
        "file (100 bytes)"
    )
    assert _error(_valid()[:0x100]).errno == Errno.ENOEXEC  # segments cut: interp string gone


def test_error_ident_and_type() -> None:
    data = bytearray(_valid())
    data[4] = 3
    assert _error(bytes(data)).detail == "prog: unknown ELF class 3"
    data = bytearray(_valid())
    data[5] = 0
    assert _error(bytes(data)).detail == "prog: unknown ELF data encoding 0"
    data = bytearray(_valid())
    struct.pack_into("<H", data, 16, 1)  # ET_REL
    assert _error(bytes(data)).detail == "prog: e_type 1 is neither ET_EXEC nor ET_DYN"


def test_error_program_header_table_geometry() -> None:
    data = bytearray(_valid())
    struct.pack_into("<H", data, 42, 40)  # e_phentsize
    err = _error(bytes(data))
    assert err.errno == Errno.ENOMEM
    assert err.detail == "prog: e_phentsize 40, expected 32"
    data = bytearray(_valid())
    struct.pack_into("<H", data, 44, 2049)  # e_phnum
    err = _error(bytes(data))
    assert err.errno == Errno.ENOMEM
    assert err.detail == "prog: e_phnum 2049 exceeds 64 KiB of program headers"


def test_error_no_load_segment() -> None:
    data = bytearray(build_elf([TEXT]))
    struct.pack_into("<I", data, 52, 6)  # the only PT_LOAD becomes PT_PHDR
    err = _error(bytes(data))
    assert err.errno == Errno.ENOEXEC
    assert err.detail == "prog: no PT_LOAD segment"


def _patch_phdr(data: bytes, index: int, field: int, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into("<I", out, 52 + 32 * index + 4 * field, value)
    return bytes(out)


def test_error_interp() -> None:
    base = _valid()  # phdr 0 is PT_INTERP: fields 1 offset, 4 filesz
    err = _error(_patch_phdr(base, 0, 4, 4097))
    assert (err.errno, err.detail) == (
        Errno.ENOMEM,
        "prog: PT_INTERP of 4097 bytes exceeds PATH_MAX",
    )
    err = _error(_patch_phdr(base, 0, 4, 1))
    assert (err.errno, err.detail) == (Errno.ENOENT, "prog: PT_INTERP of 1 bytes is too short")
    err = _error(_patch_phdr(base, 0, 4, 5))
    assert (err.errno, err.detail) == (Errno.ENOENT, "prog: PT_INTERP is not NUL-terminated")
    err = _error(_patch_phdr(base, 0, 1, 0x100000))
    assert err.errno == Errno.ENOEXEC
    assert err.detail == "prog: PT_INTERP at 0x100000 extends beyond the end of the file"


def test_pyelftools_errors_are_converted() -> None:
    base = _valid()  # phdr 3 is PT_DYNAMIC
    err = _error(_patch_phdr(base, 3, 1, 0x7FFFFFF0))
    assert err.errno == Errno.ENOEXEC
    assert err.detail.startswith("prog: cannot read ELF: ")
    assert isinstance(err.__cause__, Exception)


def test_parses_are_kept_per_content_and_errors_are_not() -> None:
    data = build_elf([TEXT, DATA], fdpic=True, e_type=ET_DYN)
    first = parse_elf(data, name="a")
    assert parse_elf(bytearray(data), name="a") is first  # same bytes: the kept parse
    assert parse_elf(data, name="b").name == "b"  # the name is part of the answer
    changed = bytearray(data)
    struct.pack_into("<I", changed, 24, 0x1234)  # e_entry
    assert parse_elf(changed, name="a").entry == 0x1234
    assert first.entry != 0x1234
    broken = bytearray(data)
    broken[16:18] = b"\x01\x00"  # ET_REL
    for _ in range(2):  # a failure is raised every time, never remembered as a result
        assert _error(bytes(broken)).errno == Errno.ENOEXEC
