"""A short built-in demonstration: map, write, unmap, and show /proc around it."""

from __future__ import annotations

from nommu.consts import MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE
from nommu.errors import SyscallError
from nommu.machine import Machine


def run_demo() -> str:
    """Run the demonstration and return its text."""
    m = Machine(ram="8M", kernel_reserved="1M")
    p = m.spawn(name="demo")
    out: list[str] = []

    def show(title: str) -> None:
        out.append(f"== {title}\n")
        for path in ("/proc/maps", "/proc/buddyinfo"):
            out.append(f"$ cat {path}\n{m.cat(path)}")
        meminfo = m.cat("/proc/meminfo").splitlines(keepends=True)
        keep = ("MemTotal", "MemFree", "MmapCopy")
        out.append("$ grep -E 'MemTotal|MemFree|MmapCopy' /proc/meminfo\n")
        out.extend(line for line in meminfo if line.startswith(keep))
        out.append("\n")

    show("fresh machine")
    rw = PROT_READ | PROT_WRITE
    a = p.mmap(0, 5 * 4096, rw, MAP_PRIVATE | MAP_ANONYMOUS)
    b = p.mmap(0, 100, rw, MAP_PRIVATE | MAP_ANONYMOUS)
    p.poke(a, b"written through the mapping")
    out.append(f"mmap 20480 bytes -> {a:#x}; mmap 100 bytes -> {b:#x}\n")
    out.append(f"peek({a:#x}, 27) -> {p.peek(a, 27)!r}\n\n")
    show("after two anonymous mappings (5 pages trimmed from 8; 1 page)")
    p.munmap(a + 4096, 4096)
    out.append(f"munmap({a + 4096:#x}, 4096): a hole splits the mapping in two\n\n")
    show("after punching a hole")
    try:
        p.mmap(0, 8 << 20, rw, MAP_PRIVATE | MAP_ANONYMOUS)
    except SyscallError as e:
        out.append(f"mmap 8 MiB -> {e.errno.name}: {e.detail}\n")
    out.append("kernel log:\n" + "".join(f"  {line}\n" for line in m.dmesg()[-2:]) + "\n")
    p.exit(0)
    show("after the process exits")
    m.validate()
    return "".join(out)
