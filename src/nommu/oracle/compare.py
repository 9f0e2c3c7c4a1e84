"""What must agree between the model and the kernel, op by op (docs/oracle.md).

- **result**: success or the same errno; values that are not addresses
  (fds, byte counts, offsets) exactly; addresses as relations: ``$K+off``
  (inside the mapping op K returned) or ``new``; brk results as ``brk+off``
  from the first brk result; pids as the child they name.
- **free lists**: the change of every order's count. When the kernel's own
  Slab or KernelStack pages moved during the call, the change of free pages
  less those pages is compared instead (and the report says so).
- **MmapCopy, Cached**: their changes, in kB.
- **data**: bytes read back; ``/proc`` text with addresses as relations,
  device and inode numbers by first appearance, pids named, and the maps
  lines as a sorted set (their order is physical placement).
- **log**: the kernel log lines the call produced, without the kernel's own
  stack and register dumps (code addresses the model cannot have).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from nommu.errors import Errno
from nommu.oracle.qemu import Observed
from nommu.oracle.script import PROCESS_OPS, OracleCase

__all__ = ["CaseReport", "OpReport", "compare_case"]

ADDRESS_OPS = frozenset(("mmap", "mremap"))
_DUMP = re.compile(
    r"^(------------\[ cut here \]|CPU: \d+ (?:UID: \d+ )?PID:|Tainted: \["
    r"|Hardware name:|Call Trace:|Modules linked in"
    r"|---\[ end trace|epc :|\s*ra :|status: [0-9a-f]+ badaddr|\[<[0-9a-f]+>\]"
    r"|\s*(?:[a-z0-9]{2,3}\s*: [0-9a-f]{16}\s*)+$)"
)
_WARNING = re.compile(r"^WARNING: .*?at (\S+?)(?::\d+)? (\w+).*$")
_PROCESS = re.compile(r"\b(process|PID:?|pid) (\d+)")
_MAPS = re.compile(
    r"^([0-9a-f]+)-([0-9a-f]+) (\S+) ([0-9a-f]+) ([0-9a-f]+:[0-9a-f]+) (\d+)\s*(.*)$"
)


@dataclass
class OpReport:
    """One op: what each side did, and what differs."""

    index: int
    label: str
    model: str
    kernel: str
    differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def agrees(self) -> bool:
        return not self.differences


@dataclass
class CaseReport:
    name: str
    kernel: str
    ops: list[OpReport]
    problems: list[str] = field(default_factory=list)  # the case did not run to its end
    notes: list[str] = field(default_factory=list)

    @property
    def agrees(self) -> bool:
        return not self.problems and all(op.agrees for op in self.ops)

    @property
    def differences(self) -> list[str]:
        out = list(self.problems)
        for op in self.ops:
            out += [f"#{op.index} {op.label}: {d}" for d in op.differences]
        return out


class _Side:
    """One side's names for addresses and pids."""

    def __init__(self, self_pid: int | None) -> None:
        self.maps: list[tuple[int, int, int]] = []  # (slot, start, length)
        self.brk0: int | None = None
        self.pids: dict[int, str] = {}
        if self_pid is not None:
            self.pids[self_pid] = "self"

    def address(self, x: int) -> str:
        for slot, start, length in reversed(self.maps):
            if start <= x < start + max(length, 1):
                return f"${slot}+{x - start:#x}" if x != start else f"${slot}"
        return "new"

    def pid(self, pid: int) -> str:
        return self.pids.get(pid, f"pid?{pid}")

    def text(self, text: str, path: str) -> str:
        def name_pid(m: re.Match[str]) -> str:
            return f"{m.group(1)} <{self.pid(int(m.group(2)))}>"

        text = _PROCESS.sub(name_pid, text)
        if path.endswith("maps"):
            return self.maps_text(text)
        return text

    def maps_text(self, text: str) -> str:
        new: dict[int, str] = {}
        devs: dict[str, str] = {}
        inodes: dict[tuple[str, str], str] = {}
        lines = []
        for line in text.splitlines():
            m = _MAPS.match(line)
            if m is None:
                lines.append(line)
                continue
            start, end = int(m.group(1), 16), int(m.group(2), 16)
            where = self.address(start)
            if where == "new":
                where = new.setdefault(start, f"A{len(new) + 1}")
            dev, ino = m.group(5), m.group(6)
            dev_l = devs.setdefault(dev, f"dev{len(devs) + 1}") if dev != "00:00" else dev
            ino_l = inodes.setdefault((dev, ino), f"ino{len(inodes) + 1}") if ino != "0" else ino
            lines.append(
                f"{where} len={end - start:#x} {m.group(3)} {m.group(4)} {dev_l} {ino_l} "
                f"{m.group(7).strip()}".rstrip()
            )
        return "\n".join(sorted(lines))


def _result(op: str, r: int, side: _Side) -> str:
    if r < 0 and r > -4096 and op not in ("brk",):
        try:
            return Errno(-r).name
        except ValueError:
            return f"error {-r}"
    if op in ADDRESS_OPS:
        return side.address(r)
    if op == "brk":
        if side.brk0 is None:
            side.brk0 = r
        return f"brk+{r - side.brk0:#x}"
    if op == "vfork":
        return "child"
    if op == "wait":
        return side.pid(r)
    return str(r)


def _delta(obs: Observed) -> tuple[int, ...] | None:
    return obs.delta


def _pages(delta: Sequence[int]) -> int:
    return sum(c << j for j, c in enumerate(delta))


def _show_delta(delta: Sequence[int] | None) -> str:
    if delta is None:
        return "?"
    parts = [f"{c:+d}x{1 << j}p" for j, c in enumerate(delta) if c]
    return " ".join(parts) or "none"


def _mem(obs: Observed, name: str) -> int | None:
    if obs.mem_delta is None:
        return None
    return obs.mem_delta.get(name, 0)


def normalize_log(lines: Sequence[str], side: _Side) -> list[str]:
    """Log lines without stack and register dumps, WARNINGs as ``at FILE FUNCTION``."""
    out = []
    for line in lines:
        if _DUMP.match(line):
            continue
        m = _WARNING.match(line)
        if m:
            line = f"WARNING: at {m.group(1)} {m.group(2)}"
        out.append(side.text(line, ""))
    return out


def compare_case(
    case: OracleCase,
    model: Sequence[Observed],
    kernel: Sequence[Observed],
    *,
    kernel_pid: int | None = None,
    model_pid: int | None = 1,
    finished: bool = True,
) -> CaseReport:
    """Op-by-op comparison of one case's two runs."""
    report = CaseReport(case.name, case.kernel, [])
    if not finished:
        report.problems.append(
            f"the probe stopped after {len(kernel)} of {len(case.ops)} ops in the kernel"
        )
    ms, ks = _Side(model_pid), _Side(kernel_pid)
    for i, op in enumerate(case.ops):
        if i >= len(kernel) or i >= len(model):
            break
        m, k = model[i], kernel[i]
        mr, kr = _result(op.op, m.ret, ms), _result(op.op, k.ret, ks)
        rep = OpReport(i, op.label, mr, kr)
        report.ops.append(rep)
        if op.op != "cat" and mr != kr:
            rep.differences.append(f"result: model {mr}, kernel {kr}")
        if op.op == "cat" and (m.ret < 0 or k.ret < 0) and mr != kr:
            rep.differences.append(f"result: model {mr}, kernel {kr}")
        # remember what the results name, each side in its own terms
        for side, obs in ((ms, m), (ks, k)):
            if op.op == "mmap" and obs.ret >= 0 and isinstance(op.args[1], int):
                side.maps.append((i, obs.ret, op.args[1]))
            if op.op == "mremap" and obs.ret >= 0 and isinstance(op.args[2], int):
                side.maps.append((i, obs.ret, op.args[2]))
            if op.op == "vfork" and obs.ret > 0:
                side.pids[obs.ret] = f"child${i}"
        if op.measured:
            compare_memory(op.op, m, k, rep)
        if op.op == "wait" and m.wait and k.wait and m.wait[1] != k.wait[1]:
            rep.differences.append(f"wait status: model {m.wait[1]:#x}, kernel {k.wait[1]:#x}")
        if m.data is not None or k.data is not None:
            path = op.args[0].decode() if op.op == "cat" and isinstance(op.args[0], bytes) else ""
            md = ms.text(m.data.decode("utf-8", "replace"), path) if m.data is not None else None
            kd = ks.text(k.data.decode("utf-8", "replace"), path) if k.data is not None else None
            if md != kd:
                rep.differences.append(f"data: model {md!r}, kernel {kd!r}")
        ml, kl = normalize_log(m.klog, ms), normalize_log(k.klog, ks)
        if ml != kl:
            rep.differences.append(f"log: model {ml}, kernel {kl}")
    if len(kernel) < len(case.ops) and finished:
        report.problems.append(f"the kernel ran {len(kernel)} of {len(case.ops)} ops")
    return report


def compare_memory(op: str, m: Observed, k: Observed, rep: OpReport) -> None:
    """Free-list, MmapCopy and Cached changes of one measured op."""
    for name in ("MmapCopy", "Cached"):
        dm, dk = _mem(m, name), _mem(k, name)
        if dm is not None and dk is not None and dm != dk:
            rep.differences.append(f"{name}: model {dm:+d} kB, kernel {dk:+d} kB")
    if op in PROCESS_OPS:
        rep.notes.append("free lists not compared: a process costs the kernel its own pages")
        return
    dm_l, dk_l = _delta(m), _delta(k)
    if dm_l is None or dk_l is None or dm_l == dk_l:
        return
    own = sum(v for v in (_mem(k, "Slab"), _mem(k, "KernelStack")) if v is not None)
    if own and _pages(dk_l) + own // 4 == _pages(dm_l):
        rep.notes.append(
            f"free lists compared as totals: the kernel's slab moved {own:+d} kB "
            f"(model {_show_delta(dm_l)}, kernel {_show_delta(dk_l)})"
        )
        return
    rep.differences.append(f"free lists: model {_show_delta(dm_l)}, kernel {_show_delta(dk_l)}")
