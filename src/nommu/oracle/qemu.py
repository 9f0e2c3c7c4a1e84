"""The real side: boot a no-MMU kernel in QEMU with the probe as /init.

One boot runs a batch of cases: /init (pid 1) runs ``/case0``, ``/case1``,
... each in a fresh process (vfork + exec of /init itself, so every case has
a new mm and the same starting layout), with a fresh ramfs on /tmp, waits
for it, kills what it left behind, unmounts /tmp and powers off at the end.
What the probe prints (probe.c: ``@@`` lines) is parsed into
:class:`Observed` records, one per op.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from nommu.oracle.initramfs import CpioEntry, write_newc
from nommu.oracle.script import OracleCase
from nommu.oracle.toolchain import MissingComponent, Toolchain

__all__ = ["CaseRun", "Observed", "boot_batch", "kernel_version"]

APPEND = "earlycon=uart8250,mmio,0x10000000,115200n8 console=ttyS0 loglevel=1"
#: seconds for one boot: generous (the boot takes under a second, 119 cases about 10 s),
#: so a machine busy with other work does not make a good run time out
BOOT_TIMEOUT = 300
#: free-list orders reported (MAX_PAGE_ORDER 10 on both kernels: 11 lists)
MAX_ORDERS = 11
_ESCAPE = re.compile(r"\\x([0-9a-f]{2})")


@dataclass
class Observed:
    """What one op did: the result, and what was measured around it."""

    ret: int = 0
    before: tuple[int, ...] | None = None  # free blocks per order
    after: tuple[int, ...] | None = None
    unmovable: tuple[int, ...] | None = None  # the unmovable lists before the op
    delta: tuple[int, ...] | None = None  # the change of free blocks per order
    mem_delta: dict[str, int] | None = None  # the change of meminfo fields, kB
    mem_before: dict[str, int] = field(default_factory=dict)  # meminfo, kB
    mem_after: dict[str, int] = field(default_factory=dict)
    data: bytes | None = None
    wait: tuple[int, int] | None = None
    klog: list[str] = field(default_factory=list)


@dataclass
class CaseRun:
    """One case's observations (op by op) and how its process ended."""

    ops: list[Observed]
    status: int | None = None  # the case process's wait status
    finished: bool = False  # the probe printed its end marker
    pid: int | None = None  # the case process's pid in the kernel


def kernel_version(image: str) -> str:
    """``"6.1"`` from the ``Linux version 6.1.192 ...`` banner inside *image*."""
    with open(image, "rb") as f:
        blob = f.read()
    m = re.search(rb"Linux version (\d+)\.(\d+)", blob)
    if m is None:
        raise MissingComponent(f"{image}: no 'Linux version' banner: not a kernel image")
    return f"{int(m.group(1))}.{int(m.group(2))}"


def initramfs(probe: bytes, cases: Sequence[OracleCase]) -> bytes:
    """/init (the probe), the devices and directories, and every case's script and files."""
    entries = [
        CpioEntry.directory(d)
        for d in ("dev", "proc", "tmp", "mnt", "bin", "etc", "sbin", "usr", "var", "home")
    ]
    entries += [
        CpioEntry.chardev("dev/console", 5, 1, 0o600),
        CpioEntry.chardev("dev/null", 1, 3),
        CpioEntry.chardev("dev/zero", 1, 5),
        CpioEntry.chardev("dev/kmsg", 1, 11, 0o644),
        CpioEntry.file("init", probe, 0o755),
        CpioEntry.directory("files"),
    ]
    for n, case in enumerate(cases):
        entries.append(CpioEntry.file(f"case{n}", case.script(prefix=f"/files/{n}").encode()))
        if case.files:
            entries.append(CpioEntry.directory(f"files/{n}"))
        for i, (_, data) in enumerate(case.files):
            entries.append(CpioEntry.file(f"files/{n}/{i}", data))
    return write_newc(entries)


def qemu_command(tools: Toolchain, image: str, initrd: str, ram_mib: int) -> list[str]:
    """The QEMU command line (under ``timeout``, so a hung kernel cannot hang the caller)."""
    return [
        "timeout",
        "-k",
        "5",
        str(BOOT_TIMEOUT),
        tools.qemu,
        "-M",
        "virt",
        "-bios",
        "none",
        "-m",
        f"{ram_mib}M",
        "-smp",
        "1",
        "-nographic",
        "-no-reboot",
        "-kernel",
        image,
        "-initrd",
        initrd,
        "-append",
        APPEND,
    ]


def boot_batch(
    tools: Toolchain, image: str, probe: bytes, cases: Sequence[OracleCase]
) -> tuple[list[CaseRun], str]:
    """Boot *image* once and run *cases*; the runs and the whole console output."""
    if not os.path.isfile(image):
        raise MissingComponent(
            f"{image}: no such kernel image (give --kernel IMAGE, or build one with "
            "nommu oracle --build-kernel DIR after apt-get install linux-source-6.1)"
        )
    rams = {c.ram for c in cases}
    if len(rams) != 1:
        raise ValueError("a batch of cases must share the board's RAM size")
    with tempfile.TemporaryDirectory(prefix="nommu-oracle-") as tmp:
        initrd = Path(tmp) / "initrd.cpio"
        initrd.write_bytes(initramfs(probe, cases))
        cmd = qemu_command(tools, image, str(initrd), rams.pop() >> 20)
        try:
            done = subprocess.run(cmd, capture_output=True, timeout=BOOT_TIMEOUT + 15, check=False)
        except subprocess.TimeoutExpired:
            raise MissingComponent(f"{image}: QEMU did not finish in {BOOT_TIMEOUT} s") from None
    console = done.stdout.decode("utf-8", "replace").replace("\r", "")
    runs = parse_console(console, len(cases))
    if "@@S" not in console:
        tail = "\n".join(console.splitlines()[-15:])
        raise MissingComponent(f"{image}: the kernel did not start the probe; console:\n{tail}")
    return runs, console


def _klog_lines(record: str) -> list[str]:
    """The text of one /dev/kmsg record: ``prio,seq,usec,flags;text`` and then
    dictionary lines starting with a space; ``\\xNN`` escapes are decoded."""
    _, sep, rest = record.partition(";")
    text = (rest if sep else record).split("\n", 1)[0]
    text = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    return [line for line in text.split("\n") if line.strip()]


def parse_console(console: str, ncases: int) -> list[CaseRun]:
    """The probe's ``@@`` lines, case by case."""
    runs = [CaseRun([]) for _ in range(ncases)]
    run: CaseRun | None = None
    for raw in console.splitlines():
        at = raw.find("@@")
        if at < 0:
            continue
        parts = raw[at + 2 :].split()
        if not parts:
            continue
        kind, rest = parts[0], parts[1:]
        if kind == "C":
            run = runs[int(rest[0])]
            continue
        if kind == "P":
            runs[int(rest[0])].pid = int(rest[1])
            continue
        if kind == "X":
            runs[int(rest[0])].status = int(rest[1])
            run = None
            continue
        if run is None:
            continue
        if kind == "E":
            run.finished = True
            continue
        if not rest:
            continue
        tag = rest[0]
        when = tag[0] if tag[0] in "ab" else ""
        idx = int(tag[1:] if when else tag)
        if idx < 0:
            continue
        while len(run.ops) <= idx:
            run.ops.append(Observed())
        obs = run.ops[idx]
        if kind == "B":
            counts = tuple(int(x) for x in rest[1:])
            if when == "b":
                obs.before = counts
            else:
                obs.after = counts
        elif kind == "d":
            changes: dict[int, int] = {}
            mem: dict[str, int] = {}
            part = changes
            for item in rest[1:]:
                if item == "|":
                    part = mem  # type: ignore[assignment]
                    continue
                key, _, value = item.partition(":")
                if part is changes:
                    changes[int(key)] = int(value)
                else:
                    mem[key] = int(value)
            top = max(changes, default=-1) + 1
            obs.delta = tuple(changes.get(j, 0) for j in range(max(top, MAX_ORDERS)))
            obs.mem_delta = mem
        elif kind == "U":
            obs.unmovable = tuple(int(x) for x in rest[1:])
        elif kind == "M":
            values = dict(kv.split("=", 1) for kv in rest[1:])
            mem = {k: int(v) for k, v in values.items()}
            if when == "b":
                obs.mem_before = mem
            else:
                obs.mem_after = mem
        elif kind == "R":
            obs.ret = int(rest[1])
        elif kind == "D":
            obs.data = bytes.fromhex(rest[1] if len(rest) > 1 else "")
        elif kind == "W":
            obs.wait = (int(rest[1]), int(rest[2]))
        elif kind == "K":
            obs.klog += _klog_lines(bytes.fromhex(rest[1]).decode("utf-8", "replace"))
    return runs
