"""What the oracle needs from the host, and the programs it builds with it.

The probe (``probe.c``, shipped in this package) is compiled at run time with
Debian's RISC-V cross compiler into a cache directory, then wrapped into a
bFLT file (fs/binfmt_flat.c loads it: text from file offset 0 including the
header, no relocations, FLAT_FLAG_RAM so text, data and stack are one
allocation and PC-relative addressing holds). Programs a scenario executes
are bFLT files of the scenario's geometry whose first instructions park the
process until the probe tells it to exit (:func:`park_code`).

A missing component is a :class:`MissingComponent` naming the Debian package
or the option that gives it; the command turns it into exit status 2.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection

from nommu.binfmt.flat_format import FLAT_FLAG_RAM, FLAT_HDR_SIZE, build_flat
from nommu.errors import NommuError
from nommu.profiles import ArchProfile

__all__ = [
    "CROSS_GCC",
    "QEMU",
    "MissingComponent",
    "Toolchain",
    "find_toolchain",
    "park_code",
    "probe_flat",
]

CROSS_GCC = "riscv64-linux-gnu-gcc"
QEMU = "qemu-system-riscv64"
#: the probe's stack: its buffers live there (bFLT header stack_size)
PROBE_STACK = 512 * 1024
#: fd from which a parked child reads its exit status (probe.c FD_CHILD_READ)
PARK_FD = 99

CFLAGS = (
    "-nostdlib",
    "-nostartfiles",
    "-ffreestanding",
    "-fno-builtin",
    "-O2",
    "-march=rv64imac",
    "-mabi=lp64",
    "-mcmodel=medany",
    "-mno-relax",
    "-fno-pic",
    "-fno-pie",
    "-msmall-data-limit=0",
    "-fno-jump-tables",
    "-fno-tree-switch-conversion",
    "-fno-tree-loop-distribute-patterns",
    "-fno-stack-protector",
    "-static",
    "-Wl,--no-relax",
    "-Wl,--emit-relocs",
)
#: relocations that store an absolute address: the probe must have none (it is loaded
#: anywhere and has no bFLT relocations): R_RISCV_32, _64, HI20, LO12_I, LO12_S
ABSOLUTE_RELOCS = frozenset((1, 2, 26, 27, 28))

LINKER_SCRIPT = """ENTRY(_start)
SECTIONS {
  . = 0x40;
  .text : { *(.text.start) *(.text .text.*) *(.rodata .rodata.* .srodata .srodata.*) }
  .data : { *(.data .data.* .sdata .sdata.*) }
  .bss : { *(.bss .bss.* .sbss .sbss.* COMMON) }
  /DISCARD/ : { *(.comment) *(.note*) *(.eh_frame*) *(.riscv.attributes) }
}
"""


class MissingComponent(NommuError):
    """Something the oracle needs is not installed; the message says what gives it."""


@dataclass(frozen=True)
class Toolchain:
    """Paths of the host tools: the cross compiler and QEMU."""

    gcc: str
    qemu: str


def find_toolchain(*, need_qemu: bool = True) -> Toolchain:
    """The host tools, or MissingComponent naming the Debian package to install."""
    gcc = shutil.which(CROSS_GCC)
    if gcc is None:
        raise MissingComponent(
            f"{CROSS_GCC} not found: install Debian's gcc-riscv64-linux-gnu "
            "(apt-get install gcc-riscv64-linux-gnu)"
        )
    qemu = shutil.which(QEMU) or ""
    if need_qemu and not qemu:
        raise MissingComponent(
            f"{QEMU} not found: install Debian's qemu-system-misc "
            "(apt-get install qemu-system-misc)"
        )
    return Toolchain(gcc, qemu)


def cache_dir() -> Path:
    """Where compiled probes are kept: ``$NOMMU_CACHE`` or ``~/.cache/nommu``."""
    base = os.environ.get("NOMMU_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "nommu"
    )
    return Path(base)


def probe_source() -> str:
    return resources.files("nommu.oracle").joinpath("probe.c").read_text()


def compile_command(gcc: str, arch: ArchProfile, source: str, script: str, out: str) -> list[str]:
    """The compiler command line for the probe (the system call numbers come from *arch*)."""
    defines = [f"-DNR_{name}={number}" for name, number in sorted(arch.syscalls.items())]
    return [gcc, *CFLAGS, f"-Wl,-T,{script}", *defines, "-o", out, source]


def probe_code(tools: Toolchain, arch: ArchProfile) -> bytes:
    """The probe's code and read-only data, linked at 0x40 (compiled once, then cached)."""
    if arch.name != "riscv64":
        raise MissingComponent(f"the probe is built for riscv64 only, not {arch.name}")
    source = probe_source()
    key = hashlib.sha256(
        (source + LINKER_SCRIPT + repr(CFLAGS) + repr(sorted(arch.syscalls.items()))).encode()
    ).hexdigest()[:16]
    cached = cache_dir() / f"probe-{arch.name}-{key}.bin"
    if cached.exists():
        return cached.read_bytes()
    with tempfile.TemporaryDirectory(prefix="nommu-probe-") as tmp:
        src = os.path.join(tmp, "probe.c")
        ld = os.path.join(tmp, "probe.ld")
        elf = os.path.join(tmp, "probe.elf")
        Path(src).write_text(source)
        Path(ld).write_text(LINKER_SCRIPT)
        done = subprocess.run(
            compile_command(tools.gcc, arch, src, ld, elf),
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if done.returncode:
            raise MissingComponent(f"{CROSS_GCC} could not build the probe:\n{done.stderr}")
        code = extract_text(elf)
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(f".{os.getpid()}.tmp")
    partial.write_bytes(code)
    os.replace(partial, cached)
    return code


def extract_text(elf_path: str) -> bytes:
    """The linked program's one section; ValueError if it has data or bss (it must not)."""
    with open(elf_path, "rb") as f:
        elf = ELFFile(f)
        for name in (".data", ".bss"):
            sec = elf.get_section_by_name(name)
            if sec is not None and sec.data_size:
                raise ValueError(f"probe has a non-empty {name} section")
        for sec in elf.iter_sections():
            if isinstance(sec, RelocationSection):
                for rel in sec.iter_relocations():
                    if rel["r_info_type"] in ABSOLUTE_RELOCS:
                        raise ValueError(
                            f"probe: an absolute address at {rel['r_offset']:#x} "
                            f"(relocation type {rel['r_info_type']})"
                        )
        text = elf.get_section_by_name(".text")
        if text is None or text["sh_addr"] != FLAT_HDR_SIZE or elf["e_entry"] != FLAT_HDR_SIZE:
            raise ValueError("probe: .text must start at 0x40 with the entry point")
        return bytes(text.data())


def probe_flat(code: bytes) -> bytes:
    """The probe as a bFLT file: FLAT_FLAG_RAM, no data, a big stack for its buffers."""
    code = code + bytes(-len(code) % 8)
    return build_flat(
        FLAT_HDR_SIZE + len(code),
        0,
        0,
        PROBE_STACK,
        flags=FLAT_FLAG_RAM,
        entry=FLAT_HDR_SIZE,
        text=code,
    )


def _itype(opcode: int, rd: int, funct3: int, rs1: int, imm: int) -> int:
    return ((imm & 0xFFF) << 20) | (rs1 << 15) | (funct3 << 12) | (rd << 7) | opcode


def park_code(arch: ArchProfile) -> bytes:
    """RISC-V code that parks a process: read one byte from fd 99, exit_group(that byte).

    ``li a0,99; mv a1,sp; li a2,1; li a7,read; ecall; lbu a0,0(sp);
    li a7,exit_group; ecall; j .`` (a0=x10, a1=x11, a2=x12, a7=x17, sp=x2).
    """
    addi, load, ecall = 0x13, 0x03, 0x00000073
    words = [
        _itype(addi, 10, 0, 0, PARK_FD),
        _itype(addi, 11, 0, 2, 0),
        _itype(addi, 12, 0, 0, 1),
        _itype(addi, 17, 0, 0, arch.syscall("read")),
        ecall,
        _itype(load, 10, 4, 2, 0),  # lbu a0, 0(sp)
        _itype(addi, 17, 0, 0, arch.syscall("exit_group")),
        ecall,
        0x0000006F,  # j .
    ]
    return b"".join(struct.pack("<I", w) for w in words)


def parked_program(flat: bytes, arch: ArchProfile) -> bytes:
    """*flat* (a bFLT file) with :func:`park_code` at its entry point (a file offset)."""
    code = park_code(arch)
    entry = struct.unpack_from(">I", flat, 8)[0]
    data_start = struct.unpack_from(">I", flat, 12)[0]
    flags = struct.unpack_from(">I", flat, 36)[0]
    if flags & 0x4 or entry < FLAT_HDR_SIZE or data_start < entry + len(code):
        raise ValueError("the program's text cannot hold the parking code (or is compressed)")
    return flat[:entry] + code + flat[entry + len(code) :]
