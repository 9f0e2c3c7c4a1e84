"""Several processes driven through random anonymous mm calls, checked after every step.

The reference model keeps, per process, its mappings and the bytes written into
them. After each rule: ``Machine.validate()`` (pages conserved, no allocation
overlapping another or a free block, each region's usage equal to its VMAs),
every written byte reads back until unmapped, and fresh memory reads zero.
"""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

import nommu
from nommu import SyscallError

P = 4096
RW = nommu.PROT_READ | nommu.PROT_WRITE
ANON = nommu.MAP_PRIVATE | nommu.MAP_ANONYMOUS


class AnonMachine(RuleBasedStateMachine):
    procs = Bundle("procs")

    def __init__(self) -> None:
        super().__init__()
        self.m = nommu.Machine(
            ram="1M", ram_base=0x100000, kernel_reserved="64K", max_order=6, ideal=True
        )  # the mapping engine against its reference model: no kernel memory
        self.total_free = self.m.zone.free_count
        # pid -> {start: [length, bytearray of expected contents]}
        self.maps: dict[int, dict[int, list[object]]] = {}

    @rule(target=procs)
    def spawn(self) -> nommu.Process:
        p = self.m.spawn(name="t")
        self.maps[p.pid] = {}
        return p

    def _live(self, p: nommu.Process) -> bool:
        return p.pid in self.maps

    @rule(p=procs, pages=st.integers(1, 40), extra=st.integers(0, P - 1))
    def mmap(self, p: nommu.Process, pages: int, extra: int) -> None:
        if not self._live(p):
            return
        length = pages * P - (extra if pages > 1 else 0)
        try:
            a = p.mmap(0, length, RW, ANON)
        except SyscallError as e:
            assert e.errno == nommu.Errno.ENOMEM
            return
        span = (length + P - 1) // P * P
        assert a % P == 0
        for other in self.maps.values():
            for s, (ln, _) in other.items():  # type: ignore[misc]
                assert a + span <= s or s + ln <= a, "new mapping overlaps a live one"
        assert p.peek(a, span) == bytes(span)
        self.maps[p.pid][a] = [span, bytearray(span)]

    def _pick(self, p: nommu.Process, index: int) -> tuple[int, list[object]] | None:
        own = self.maps.get(p.pid)
        if not own:
            return None
        start = sorted(own)[index % len(own)]
        return start, own[start]

    @rule(
        p=procs,
        index=st.integers(0, 100),
        off=st.integers(0, 10**6),
        data=st.binary(min_size=1, max_size=64),
    )
    def poke(self, p: nommu.Process, index: int, off: int, data: bytes) -> None:
        picked = self._pick(p, index)
        if picked is None:
            return
        start, (length, buf) = picked[0], picked[1]
        assert isinstance(length, int)
        if not isinstance(buf, bytearray):
            return
        pos = off % max(1, length - len(data) + 1)
        p.poke(start + pos, data)
        buf[pos : pos + len(data)] = data

    @rule(
        p=procs,
        index=st.integers(0, 100),
        how=st.sampled_from(["whole", "head", "tail", "middle"]),
        cut=st.integers(1, 8),
    )
    def munmap(self, p: nommu.Process, index: int, how: str, cut: int) -> None:
        picked = self._pick(p, index)
        if picked is None:
            return
        start, (length, buf0) = picked[0], picked[1]
        assert isinstance(length, int)
        buf = buf0 if isinstance(buf0, bytearray) else bytearray(length)
        known = isinstance(buf0, bytearray)
        pages = length // P
        own = self.maps[p.pid]
        if how == "whole" or pages < 3:
            p.munmap(start, length)
            del own[start]
            return
        cut = min(cut, pages - 2)
        if how == "head":
            p.munmap(start, cut * P)
            del own[start]
            own[start + cut * P] = [length - cut * P, buf[cut * P :] if known else None]
        elif how == "tail":
            p.munmap(start + length - cut * P, cut * P)
            own[start] = [length - cut * P, buf[: length - cut * P] if known else None]
        else:
            hole = start + P
            try:
                p.munmap(hole, cut * P)
            except SyscallError as e:  # max_map_count is far; only wrong ranges fail
                raise AssertionError(f"middle cut failed: {e}") from e
            own[start] = [P, buf[:P] if known else None]
            upper = hole + cut * P
            if upper < start + length:
                own[upper] = [start + length - upper, buf[upper - start :] if known else None]

    @rule(p=procs, index=st.integers(0, 100), pages=st.integers(1, 40))
    def mremap(self, p: nommu.Process, index: int, pages: int) -> None:
        picked = self._pick(p, index)
        if picked is None:
            return
        start, (length, buf) = picked[0], picked[1]
        assert isinstance(length, int)
        try:
            assert p.mremap(start, length, pages * P) == start
        except SyscallError as e:
            assert e.errno == nommu.Errno.ENOMEM and pages * P > length
            return
        if pages * P <= length:
            kept = buf[: pages * P] if isinstance(buf, bytearray) else None
            self.maps[p.pid][start] = [pages * P, kept]
        else:  # grown back within the region: the old bytes are still there, unknown to us
            self.maps[p.pid][start] = [pages * P, None]

    @rule(value=st.integers(0, 5))
    def sysctl(self, value: int) -> None:
        self.m.sysctl("vm.nr_trim_pages", value)

    @rule(p=consumes(procs))
    def exit(self, p: nommu.Process) -> None:
        if not self._live(p):
            return
        p.exit(0)
        del self.maps[p.pid]

    @invariant()
    def consistent(self) -> None:
        self.m.validate()
        for pid, own in self.maps.items():
            p = self.m.process(pid)
            for start, (length, buf) in own.items():  # type: ignore[misc]
                if buf is not None:
                    assert p.peek(start, length) == bytes(buf)  # type: ignore[arg-type]
        if not self.maps:
            assert self.m.zone.free_count == self.total_free


TestAnonMachine = AnonMachine.TestCase
