"""Core-model speed and memory, measured side by side in one run (ratios, not targets).

1. Anonymous mmap+munmap pairs of 1 to 8 pages: the model against the host's own
   mmap+munmap called through ctypes from the same Python process. Rounds of
   the two alternate and each keeps its best, in process CPU time, so that
   other work on a shared machine weighs on both alike.
2. The cost of one mmap+munmap pair with 100,000 live mappings against 100.
3. Building ``Machine(ram="4G")``: time and extra resident memory.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import resource
import sys
import time
from collections.abc import Callable

import nommu

RW = nommu.PROT_READ | nommu.PROT_WRITE
ANON = nommu.MAP_PRIVATE | nommu.MAP_ANONYMOUS
P = 4096


def _best(fn: object, rounds: int = 5) -> float:
    best = float("inf")
    for _ in range(rounds):
        t = fn()  # type: ignore[operator]
        best = min(best, t)
    return best


def _best_pair(a: Callable[[], float], b: Callable[[], float], rounds: int) -> tuple[float, float]:
    """The best time of *a* and of *b* over rounds that alternate between them."""
    best_a = best_b = float("inf")
    for _ in range(rounds):
        best_a = min(best_a, a())
        best_b = min(best_b, b())
    return best_a, best_b


def model_pairs(n: int) -> float:
    m = nommu.Machine(ram="64M")
    p = m.spawn()
    mmap, munmap = p.mmap, p.munmap
    sizes = [((i % 8) + 1) * P for i in range(n)]
    t0 = time.process_time()
    for size in sizes:
        a = mmap(0, size, RW, ANON)
        munmap(a, size)
    return (time.process_time() - t0) / n


def host_pairs(n: int) -> float:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_long,
    ]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    mmap, munmap = libc.mmap, libc.munmap
    sizes = [((i % 8) + 1) * P for i in range(n)]
    t0 = time.process_time()
    for size in sizes:
        a = mmap(None, size, RW, ANON, -1, 0)
        munmap(a, size)
    return (time.process_time() - t0) / n


def with_live(live: int, n: int) -> float:
    m = nommu.Machine(ram="1G", ram_base=0x40000000)
    p = m.spawn()
    for _ in range(live):
        p.mmap(0, P, RW, ANON)
    sizes = [((i % 8) + 1) * P for i in range(n)]
    mmap, munmap = p.mmap, p.munmap
    t0 = time.perf_counter()
    for size in sizes:
        a = mmap(0, size, RW, ANON)
        munmap(a, size)
    return (time.perf_counter() - t0) / n


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def big_machine() -> tuple[float, int]:
    gc.collect()
    before = rss_kib()
    t0 = time.perf_counter()
    m = nommu.Machine(ram="4G", ram_base=0)
    elapsed = time.perf_counter() - t0
    after = rss_kib()
    assert m.zone.free_count > 0
    return elapsed, after - before


def main() -> int:
    n = 20000
    model, host = _best_pair(lambda: model_pairs(n), lambda: host_pairs(n), 7)
    ratio = model / host
    print(
        f"mmap+munmap pair, 1-8 pages: model {model * 1e6:.2f} us, host {host * 1e6:.2f} us, "
        f"ratio {ratio:.2f}x (target <= 1.2x: {'met' if ratio <= 1.2 else 'NOT MET'})"
    )
    few = _best(lambda: with_live(100, 5000), 3)
    many = _best(lambda: with_live(100_000, 5000), 3)
    print(
        f"pair with 100 live mappings {few * 1e6:.2f} us, with 100,000 {many * 1e6:.2f} us, "
        f"ratio {many / few:.2f}x (target <= 1.5x)"
    )
    elapsed, rss = big_machine()
    print(
        f"Machine(ram='4G'): built in {elapsed * 1e3:.1f} ms (target < 50 ms), "
        f"extra RSS {rss / 1024:.1f} MB (target < 30 MB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
