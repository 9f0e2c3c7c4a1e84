"""A scenario as the oracle runs it: a flat list of probe ops (docs/oracle.md).

The oracle runs a documented subset of scenario files, the same on the model
and in the real kernel: the first ``spawn`` is the probe's own process; mm
and file calls, ``peek``/``poke``, ``sysctl`` and ``expect file = ...``
(the file is read and compared) run in it; ``vfork`` must be followed at once
by the child's ``exec`` (``start`` is both), and the child then stays parked
until its ``exit``; ``wait`` and ``kill`` act on those children; ``repeat``
is unrolled. Anything else is refused with :class:`OracleRefused` naming the
step and the op (exit status 2).

Each op gets a slot, its result; a ``$name`` reference becomes ``$slot+off``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from nommu.errors import ConfigError
from nommu.profiles import DEFAULT_KERNEL
from nommu.scenario.schema import Location, Ref, Scenario, Step

__all__ = ["OracleCase", "OracleOp", "OracleRefused", "SlotRef", "compile_scenario"]

#: [board] keys the oracle honours; the kernel decides the rest
BOARD_KEYS = ("ram", "nr_trim_pages", "kernel", "arch")
#: what every case sets first (sysctls are global to the kernel: a batch shares them)
DEFAULT_SYSCTLS = {"vm.nr_trim_pages": 1}
#: ops whose free-list changes are compared (the others cost the kernel its own pages)
MEMORY_OPS = frozenset(("mmap", "munmap", "mremap", "brk", "ftruncate", "truncate", "write"))
#: ops that create or end processes
PROCESS_OPS = frozenset(("vfork", "execres", "exit", "wait", "kill"))
SUPPORTED = (
    "spawn (the first only), mmap, munmap, mremap, brk, open, close, read, write, lseek, "
    "ftruncate, truncate, unlink, mkdir, peek, poke, sysctl, vfork followed by exec, start, "
    "exit, wait, kill, expect with file, repeat"
)


class OracleRefused(ConfigError):
    """A scenario the oracle cannot run: one line naming the step and why."""


@dataclass(frozen=True)
class SlotRef:
    """The result of op *slot*, plus *offset*."""

    slot: int
    offset: int = 0

    def __str__(self) -> str:
        if not self.offset:
            return f"${self.slot}"
        return f"${self.slot}{'+' if self.offset > 0 else '-'}{abs(self.offset)}"


Arg = int | SlotRef | bytes


@dataclass(frozen=True)
class OracleOp:
    """One call of the probe's script.

    Attributes:
        op: the probe's op name (probe.c).
        args: integers, slot references, or byte strings (paths, data).
        label: what a reader sees, e.g. ``mmap(0, 20K, rw, private|anonymous)``.
        where: the scenario step it comes from.
        measured: free lists and meminfo are read before and after it.
        extra: what only the model needs (argv, the failing exec's status, ...).
    """

    op: str
    args: tuple[Arg, ...]
    label: str
    where: Location | None = None
    measured: bool = True
    extra: Mapping[str, Any] = field(default_factory=dict)

    def probe_line(self) -> str:
        parts = [("" if self.measured else "!") + self.op]
        for a in self.args:
            if isinstance(a, bytes):
                parts.append('"' + a.hex())
            else:
                parts.append(str(a))
        return " ".join(parts)


@dataclass(frozen=True)
class OracleCase:
    """A scenario compiled for the oracle."""

    name: str
    kernel: str
    ram: int  # bytes of RAM the QEMU board has
    ops: tuple[OracleOp, ...]
    files: tuple[tuple[str, bytes], ...]  # (/files/<i> source name, contents)
    proc_name: str = "probe"

    def script(self, prefix: str = "/files") -> str:
        """The probe's script; the case's files are read from *prefix*/<i>."""
        lines = []
        for op in self.ops:
            if op.op == "copy" and isinstance(op.args[0], bytes):
                src = op.args[0].decode().replace("/files", prefix, 1).encode()
                op = OracleOp(op.op, (src, *op.args[1:]), op.label, op.where, op.measured)
            lines.append(op.probe_line() + "\n")
        return "".join(lines)


class _Compiler:
    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.ops: list[OracleOp] = []
        self.slots: dict[str, int] = {}
        self.loop: dict[str, int] = {}
        self.probe: str | None = None
        self.children: dict[str, int] = {}  # name -> slot of its vfork
        self.files: list[tuple[str, bytes]] = []

    def refuse(self, where: Location, why: str) -> OracleRefused:
        return OracleRefused(f"{where}: {why}")

    def arg(self, where: Location, v: Any) -> Arg:
        if isinstance(v, Ref):
            if v.name in self.loop:
                return self.loop[v.name] + v.offset
            if v.name not in self.slots:
                raise self.refuse(where, f"${v.name} has no value here")
            return SlotRef(self.slots[v.name], v.offset)
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.refuse(where, f"expected a number, got {v!r}")
        return v

    def emit(self, op: OracleOp, save: str | None = None) -> int:
        slot = len(self.ops)
        self.ops.append(op)
        if save is not None:
            self.slots[save] = slot
        return slot

    def in_probe(self, step: Step) -> None:
        proc = step.args.get("proc")
        if proc != self.probe:
            raise self.refuse(
                step.where,
                f"op {step.op!r}: the oracle runs it only in the first spawned process "
                f"({self.probe!r}), not in {proc!r}",
            )

    def steps(self, steps: tuple[Step, ...]) -> None:
        it = iter(steps)
        for step in it:
            self.step(step, it)

    def step(self, step: Step, rest: Iterator[Step]) -> None:
        a = step.args
        w = step.where
        op = step.op
        if op == "repeat":
            var = a["var"]
            for i in range(a["count"]):
                self.loop[var] = i
                self.steps(step.body)
            self.loop.pop(var, None)
            return
        if op == "spawn":
            if self.probe is not None:
                raise self.refuse(w, "op 'spawn': the oracle runs one spawned process")
            self.probe = a["name"]
            return
        if op == "expect":
            if a.get("file") is None:
                raise self.refuse(w, "op 'expect': the oracle compares files only (file = ...)")
            path = a["file"]
            self.emit(OracleOp("cat", (path.encode(),), f"read {path}", w, measured=False))
            return
        if op == "sysctl":
            name = a["name"]
            path = "/proc/sys/" + name.replace(".", "/")
            if a.get("value") is None:
                self.emit(OracleOp("cat", (path.encode(),), f"read {path}", w, False), step.save)
            else:
                value = a["value"]
                if isinstance(value, Ref):
                    raise self.refuse(w, "op 'sysctl': a value, not a reference")
                self.emit(
                    OracleOp(
                        "sysctl",
                        (path.encode(), f"{value}\n".encode()),
                        f"sysctl {name}={value}",
                        w,
                        False,
                    ),
                    step.save,
                )
            return
        if op == "vfork":
            self.in_probe(step)
            nxt = next(rest, None)
            if nxt is None or nxt.op != "exec" or nxt.args["proc"] != a["child"]:
                raise self.refuse(
                    w, "op 'vfork': the oracle needs the child's exec as the very next step"
                )
            self.vfork_exec(w, a["child"], nxt, 0, step.save, nxt.save)
            return
        if op == "start":
            if a["parent"] != self.probe:
                raise self.refuse(w, "op 'start': the parent must be the first spawned process")
            self.vfork_exec(w, a["name"], step, 127, step.save, None)
            return
        if op == "exit":
            child = a["proc"]
            if child not in self.children:
                raise self.refuse(w, "op 'exit': the oracle ends only children it started")
            code = self.arg(w, a["status"])
            self.emit(
                OracleOp(
                    "exit",
                    (SlotRef(self.children[child]), code),
                    f"exit {child} ({_show(code)})",
                    w,
                    extra={"child": child},
                ),
                step.save,
            )
            if a["reap"]:
                self.emit(OracleOp("wait", (), "wait()", w))
            return
        if op == "wait":
            self.in_probe(step)
            self.emit(OracleOp("wait", (), "wait()", w), step.save)
            return
        if op == "kill":
            child = a["proc"]
            if child not in self.children:
                raise self.refuse(w, "op 'kill': the oracle kills only children it started")
            self.emit(
                OracleOp(
                    "kill",
                    (SlotRef(self.children[child]), self.arg(w, a["signal"])),
                    f"kill {child} ({a['signal']})",
                    w,
                    extra={"child": child},
                ),
                step.save,
            )
            return
        self.call(step)

    def vfork_exec(
        self, w: Location, child: str, ex: Step, fail: int, save: str | None, exsave: str | None
    ) -> None:
        path = ex.args["path"]
        argv = tuple(ex.args["argv"])
        if ex.args.get("envp"):
            raise self.refuse(ex.where, "op 'exec': the oracle runs programs without envp")
        if len(argv) > 24:
            raise self.refuse(ex.where, "op 'exec': at most 24 arguments")
        # an exec that fails is followed by the child's exit: its status is the next exit's
        slot = self.emit(
            OracleOp(
                "vfork",
                (path.encode(), fail, len(argv), *(s.encode() for s in argv)),
                f"vfork + execve({path})",
                w,
                extra={"child": child, "path": path, "argv": argv, "fail": fail},
            ),
            save,
        )
        self.emit(OracleOp("execres", (), f"  execve({path}) result", ex.where), exsave)
        self.children[child] = slot

    def call(self, step: Step) -> None:
        a = step.args
        w = step.where
        op = step.op
        simple: dict[str, tuple[str, ...]] = {
            "mmap": ("addr", "length", "prot", "flags", "fd", "offset"),
            "munmap": ("addr", "length"),
            "mremap": ("addr", "old_size", "new_size", "flags", "new_addr"),
            "brk": ("addr",),
            "close": ("fd",),
            "read": ("fd", "count"),
            "lseek": ("fd", "offset", "whence"),
            "ftruncate": ("fd", "length"),
            "peek": ("addr", "count"),
        }
        if op in simple:
            self.in_probe(step)
            args = tuple(self.arg(w, a[k]) for k in simple[op])
            label = f"{op}({', '.join(_show(x) for x in args)})"
            self.emit(OracleOp(op, args, label, w), step.save)
            return
        if op in ("open", "truncate", "unlink", "mkdir"):
            self.in_probe(step)
            path = a["path"]
            rest: tuple[Arg, ...] = ()
            if op == "open":
                rest = (self.arg(w, a["flags"]), self.arg(w, a["mode"]))
            elif op == "truncate":
                rest = (self.arg(w, a["length"]),)
            elif op == "mkdir":
                rest = (self.arg(w, a["mode"]),)
            label = f"{op}({', '.join([path, *(_show(x) for x in rest)])})"
            self.emit(OracleOp(op, (path.encode(), *rest), label, w), step.save)
            return
        if op in ("write", "poke"):
            self.in_probe(step)
            first = self.arg(w, a["fd"] if op == "write" else a["addr"])
            data: bytes = a["data"]
            label = f"{op}({_show(first)}, {len(data)} bytes)"
            self.emit(OracleOp(op, (first, data), label, w), step.save)
            return
        raise self.refuse(w, f"op {op!r} is not in the oracle's subset (it runs: {SUPPORTED})")


def _show(x: Arg) -> str:
    if isinstance(x, int) and x >= 4096 and x % 1024 == 0:
        return f"{x // 1024}K"
    if isinstance(x, int) and x > 0xFFFF:
        return hex(x)
    return str(x)


def compile_scenario(scenario: Scenario, kernel: str | None = None) -> OracleCase:
    """The oracle's case for *scenario*; OracleRefused for what it cannot run."""
    board = scenario.board
    opts = dict(board.options)
    for key in opts:
        if key not in BOARD_KEYS:
            line = board.option_lines.get(key)
            where = Location(board.where.file, line, f"board.{key}")
            raise OracleRefused(
                f"{where}: not supported by the oracle (the real kernel decides it; "
                f"the oracle takes {', '.join(BOARD_KEYS)})"
            )
    for mount in scenario.mounts:
        raise OracleRefused(f"{mount.where}: mounts are not in the oracle's subset")
    arch = opts.get("arch", "riscv64")
    if arch != "riscv64":
        raise OracleRefused(f"{board.where}: board.arch: the oracle runs riscv64 kernels")
    version = kernel or str(opts.get("kernel", DEFAULT_KERNEL))
    ram = int(opts.get("ram", 64 << 20))
    if ram % (1 << 20) or ram < (16 << 20):
        raise OracleRefused(f"{board.where}: board.ram: the oracle needs whole MiB, at least 16M")
    c = _Compiler(scenario)
    sysctls = dict(DEFAULT_SYSCTLS)
    if "nr_trim_pages" in opts:
        sysctls["vm.nr_trim_pages"] = int(opts["nr_trim_pages"])
    for name, value in sysctls.items():
        path = "/proc/sys/" + name.replace(".", "/")
        c.emit(
            OracleOp(
                "sysctl",
                (path.encode(), f"{value}\n".encode()),
                f"sysctl {name}={value}",
                measured=False,
            )
        )
    for i, f in enumerate(scenario.files):
        src = f"/files/{i}"
        mode = f.mode if f.mode is not None else (0o755 if f.executable else 0o644)
        data = f.data
        if f.kind == "flat":
            from nommu.oracle.toolchain import parked_program
            from nommu.profiles import arch_profile

            try:
                data = parked_program(data, arch_profile("riscv64"))
            except ValueError as e:
                raise OracleRefused(f"{f.where}: {e}") from None
        elif f.kind == "elf":
            raise OracleRefused(f"{f.where}: ELF programs are not in the oracle's subset yet")
        c.files.append((src, data))
        c.emit(
            OracleOp(
                "copy",
                (src.encode(), f.path.encode(), mode),
                f"install {f.path} ({len(data)} bytes)",
                f.where,
                measured=False,
                extra={"data": data},
            )
        )
    c.steps(scenario.steps)
    if c.probe is None and any(op.measured for op in c.ops):
        raise OracleRefused(f"{scenario.path}: the scenario must spawn its process first")
    name = scenario.name or posixpath.basename(scenario.path)
    return OracleCase(name, version, ram, tuple(c.ops), tuple(c.files), c.probe or "probe")
