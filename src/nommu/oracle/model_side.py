"""The model's side: the same ops on a :class:`~nommu.machine.Machine` with the kernel's profile.

The machine runs the probe the way the kernel does: ``/init`` (the probe's
bFLT file) is executed by the case's process, so its image, stack and brk
area are laid out as in the kernel, and the scenario's files are installed
the same way (size first, then the bytes). Before the first measured op the
free lists are reshaped to the kernel's counts (:func:`shape_free_lists`):
the kernel's own allocations (its image, slab, the probe's neighbours) put
free blocks where the model cannot know, so the model gets blocks of the same
orders, each beside an allocated buddy, as the kernel's fragments are (a free
block whose buddy is free would have merged). Per-order changes are then
comparable; addresses are compared as relations only (qemu.py, compare.py).
"""

from __future__ import annotations

from nommu.consts import O_CREAT, O_RDONLY, O_TRUNC, O_WRONLY
from nommu.errors import SyscallError
from nommu.machine import Machine
from nommu.mm.page_alloc import BuddyAllocator
from nommu.oracle.qemu import Observed
from nommu.oracle.script import OracleCase, OracleOp, SlotRef
from nommu.process import Process

__all__ = ["ModelRun", "meminfo_kb", "run_model", "shape_free_lists"]

MEMINFO_FIELDS = ("MemFree", "MmapCopy", "Cached", "Slab", "KernelStack")


def meminfo_kb(text: str) -> dict[str, int]:
    """The fields the probe reports, from ``/proc/meminfo`` text."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name in MEMINFO_FIELDS:
            out[name] = int(rest.split()[0])
    return out


def shape_free_lists(zone: BuddyAllocator, counts: tuple[int, ...]) -> None:
    """Make the free lists hold ``counts[j]`` blocks of order *j*, none able to merge.

    Everything free is taken; then ``counts[max]`` top-order blocks are given
    back, and for each lower order *j* the first half of an aligned
    ``2**(j+1)``-page chunk carved from the rest, so its buddy stays
    allocated. Raises ValueError when the zone has too little memory.
    """
    held: list[int] = []
    for order in range(zone.max_order, -1, -1):
        while (pfn := zone.alloc_pages(order)) is not None:
            if order == zone.max_order:
                held.append(pfn)
            # smaller leftovers stay allocated: they are the "kernel's" pages
    top = zone.max_order
    counts = tuple(counts[: top + 1]) + (0,) * max(0, top + 1 - len(counts))
    need = counts[top] + -(-sum(c << (j + 1) for j, c in enumerate(counts[:top])) >> top)
    if need > len(held):
        raise ValueError(f"the model needs {need} free 2**{top}-page blocks, has {len(held)}")
    for pfn in held[: counts[top]]:
        zone.free_pages(pfn, top)
    chunks = iter(held[counts[top] :])
    pos = end = 0
    for order in range(top - 1, -1, -1):
        size = 2 << order
        for _ in range(counts[order]):
            if pos + size > end:
                pos = next(chunks)
                end = pos + (1 << top)
            zone.free_pages(pos, order)
            pos += size


def shape_target(counts: tuple[int, ...], unmovable: tuple[int, ...] | None) -> tuple[int, ...]:
    """The free lists the model starts from: the kernel's unmovable lists, and every
    top-order block.

    User pages (anonymous and private copies: GFP_KERNEL; ramfs page cache:
    GFP_HIGHUSER) are unmovable allocations: the kernel takes them from the
    unmovable lists (mm/page_alloc.c: ``__rmqueue_smallest()`` with
    MIGRATE_UNMOVABLE) and falls back to other types only when those are
    empty. The model has one list per order, so it starts from the unmovable
    counts; the top order keeps every block (what a fallback would steal).
    """
    if not unmovable or len(unmovable) != len(counts):
        return counts
    return (*unmovable[:-1], counts[-1])


class ModelRun:
    """Runs one case's ops on a fresh machine and observes them as the probe does."""

    def __init__(self, case: OracleCase, probe: bytes, index: int = 0) -> None:
        self.case = case
        ram = max(case.ram * 2, 64 << 20)
        # ideal: the cases compare the mapping engine's free-list changes; the real
        # kernel's slab caches are warm from boot (partial slabs everywhere), the
        # model's realistic caches start empty and would take a slab page per first
        # object, so kernel-memory growth needs cases of its own
        self.machine = m = Machine(
            ram=ram,
            ram_base=0x80000000,
            kernel_reserved="1M",
            kernel=case.kernel,
            arch="riscv64",
            ideal=True,
        )
        init = m.spawn(name="init")
        fd = init.open("/init", O_WRONLY | O_CREAT | O_TRUNC, 0o755)
        init.write(fd, probe)
        init.close(fd)
        init.execve("/init", ["init", f"/case{index}"], [])
        self.proc: Process = init
        self.children: dict[int, Process] = {}  # slot of the vfork -> child
        self.slots: list[int] = []
        self.shaped = False

    def value(self, a: int | SlotRef | bytes) -> int:
        if isinstance(a, SlotRef):
            return self.slots[a.slot] + a.offset
        if isinstance(a, bytes):
            raise TypeError("expected a number")
        return a

    def observe_mem(self) -> tuple[tuple[int, ...], dict[str, int]]:
        return self.machine.zone.nr_free_all(), meminfo_kb(self.machine.cat("/proc/meminfo"))

    def run(self, kernel: list[Observed] | None = None) -> list[Observed]:
        out: list[Observed] = []
        for i, op in enumerate(self.case.ops):
            if op.measured and not self.shaped and kernel is not None and i < len(kernel):
                before, unmovable = kernel[i].before, kernel[i].unmovable
                if before:
                    shape_free_lists(self.machine.zone, shape_target(before, unmovable))
                    self.shaped = True
            obs = Observed()
            logged = self.machine.dmesg_count
            if op.measured:
                obs.before, obs.mem_before = self.observe_mem()
            try:
                obs.ret = self.call(op, obs)
            except SyscallError as e:
                obs.ret = -int(e.errno)
            if op.measured:
                obs.after, obs.mem_after = self.observe_mem()
                assert obs.before is not None
                obs.delta = tuple(a - b for a, b in zip(obs.after, obs.before, strict=True))
                obs.mem_delta = {
                    k: v - obs.mem_before[k]
                    for k, v in obs.mem_after.items()
                    if k in obs.mem_before
                }
            obs.klog = self.machine.dmesg()[logged:]
            self.slots.append(obs.ret)
            out.append(obs)
        return out

    def call(self, op: OracleOp, obs: Observed) -> int:
        p = self.proc
        a = op.args
        v = self.value
        name = op.op
        if name == "mmap":
            return p.mmap(v(a[0]), v(a[1]), v(a[2]), v(a[3]), v(a[4]), v(a[5]))
        if name == "munmap":
            p.munmap(v(a[0]), v(a[1]))
            return 0
        if name == "mremap":
            return p.mremap(v(a[0]), v(a[1]), v(a[2]), v(a[3]), v(a[4]))
        if name == "brk":
            return p.brk(v(a[0]))
        if name == "open":
            return p.open(_text(a[0]), v(a[1]), v(a[2]))
        if name == "close":
            p.close(v(a[0]))
            return 0
        if name == "read":
            got = p.read(v(a[0]), min(v(a[1]), 65536))
            if got:
                obs.data = got
            return len(got)
        if name == "peek":
            obs.data = p.peek(v(a[0]), min(v(a[1]), 65536))
            return 0
        if name == "write":
            return p.write(v(a[0]), _bytes(a[1]))
        if name == "poke":
            p.poke(v(a[0]), _bytes(a[1]))
            return 0
        if name == "lseek":
            return p.lseek(v(a[0]), v(a[1]), v(a[2]))
        if name == "ftruncate":
            p.ftruncate(v(a[0]), v(a[1]))
            return 0
        if name == "truncate":
            p.truncate(_text(a[0]), v(a[1]))
            return 0
        if name == "unlink":
            p.unlink(_text(a[0]))
            return 0
        if name == "mkdir":
            p.mkdir(_text(a[0]), v(a[1]))
            return 0
        if name == "cat":
            fd = p.open(_text(a[0]), O_RDONLY)
            chunks = []
            while chunk := p.read(fd, 16384):
                chunks.append(chunk)
            p.close(fd)
            obs.data = b"".join(chunks)[:16384]
            return len(obs.data)
        if name == "sysctl":
            fd = p.open(_text(a[0]), O_WRONLY)
            try:
                return p.write(fd, _bytes(a[1]))
            finally:
                p.close(fd)
        if name == "copy":
            data: bytes = op.extra["data"]
            path, mode = _text(a[1]), v(a[2])
            fd = p.open(path, O_WRONLY | O_CREAT | O_TRUNC, mode)
            try:
                p.ftruncate(fd, len(data))
                p.write(fd, data)
            finally:
                p.close(fd)
            p.chmod(path, mode)
            return 0
        if name == "vfork":
            return self.vfork(op)
        if name == "execres":
            return self.exec_result
        if name == "exit":
            child = self.children.get(_slot(a[0]))
            if child is not None and child.state not in ("Z", "X"):
                child.exit(v(a[1]) & 0xFF)
            return 0
        if name == "kill":
            child = self.children.get(_slot(a[0]))
            if child is not None and child.state not in ("Z", "X"):
                child.kill(v(a[1]))
            return 0
        if name == "wait":
            pid, status = p.wait()
            obs.wait = (pid, status)
            return pid
        raise ValueError(f"the model side has no op {name!r}")

    def vfork(self, op: OracleOp) -> int:
        self.exec_result = 0
        child = self.proc.vfork()
        self.children[len(self.slots)] = child
        try:
            child.execve(op.extra["path"], list(op.extra["argv"]), [])
        except SyscallError as e:
            self.exec_result = -int(e.errno)
            if child.state not in ("Z", "X"):
                child.exit(op.extra["fail"])
        return child.pid

    exec_result = 0


def _text(a: int | SlotRef | bytes) -> str:
    if not isinstance(a, bytes):
        raise TypeError("expected a path")
    return a.decode("utf-8", "surrogateescape")


def _bytes(a: int | SlotRef | bytes) -> bytes:
    if not isinstance(a, bytes):
        raise TypeError("expected bytes")
    return a


def _slot(a: int | SlotRef | bytes) -> int:
    if not isinstance(a, SlotRef):
        raise TypeError("expected a slot")
    return a.slot


def run_model(
    case: OracleCase, probe: bytes, kernel: list[Observed] | None = None, index: int = 0
) -> list[Observed]:
    """The model's observations of *case*, shaped to the kernel's free lists when given."""
    return ModelRun(case, probe, index).run(kernel)
