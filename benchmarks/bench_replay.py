"""Throughput of replaying an strace log onto a board (events per second).

Two traces, each replayed on a fresh 64 MiB board after parsing (parsing is
timed apart, in bench_strace):

* ``mixed``: the ``strace -f`` mix of bench_strace (file I/O, signals,
  mmap/munmap pairs, split calls, mprotect, a fork-like clone with an
  exec'ing child every 24 lines: one process created, loaded and ended per
  block);
* ``memory``: only memory calls of one process (mmap/munmap of varied sizes,
  brk growth and shrink, mremap), the replay's hot path.

Prints events/s and replayed calls/s for each, best of ``--repeat`` runs.

Usage: ``python benchmarks/bench_replay.py [--lines N] [--repeat R]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_strace import generate

import nommu
from nommu.strace import Trace, parse_file
from nommu.strace.replay import ReplayPolicy, replay

TARGET = 200_000  # memory events/s

_MEMORY_BLOCK = [
    "{p}  mmap(NULL, {s}, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = {a:#x}",
    "{p}  brk({b1:#x}) = {b1:#x}",
    "{p}  mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = {a2:#x}",
    "{p}  mremap({a2:#x}, 8192, 4096, 0) = {a2:#x}",
    "{p}  munmap({a:#x}, {s}) = 0",
    "{p}  brk({b0:#x}) = {b0:#x}",
    "{p}  munmap({a2:#x}, 4096) = 0",
    "{p}  madvise({a2:#x}, 4096, MADV_DONTNEED) = 0",
]


def generate_memory(path: Path, lines: int) -> int:
    out = [
        '900  execve("/bin/mem", ["mem"], 0x7ffd4e1c2a08 /* 1 var */) = 0',
        "900  brk(NULL) = 0x555555560000",
    ]
    i = 0
    while len(out) < lines:
        size = 4096 << (i % 6)
        out.extend(
            t.format(
                p=900,
                s=size,
                a=0x7F0000000000 + (i % 512) * 0x100000,
                a2=0x7F1000000000 + (i % 512) * 0x10000,
                b0=0x555555560000,
                b1=0x555555560000 + 0x21000,
            )
            for t in _MEMORY_BLOCK
        )
        i += 1
    del out[lines:]
    path.write_text("\n".join(out) + "\n")
    return len(out)


def bench(trace: Trace, repeat: int) -> tuple[float, int, int]:
    best = float("inf")
    replayed = failures = 0
    for _ in range(repeat):
        m = nommu.Machine(ram="64M")
        t0 = time.perf_counter()
        r = replay(trace, m, ReplayPolicy(libs="disk"))
        best = min(best, time.perf_counter() - t0)
        replayed, failures = r.replayed, len(r.failures)
    return best, replayed, failures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ns = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in (("mixed", generate), ("memory", generate_memory)):
            path = Path(tmp) / f"{name}.strace"
            n = make(path, ns.lines)
            trace = parse_file(path)
            seconds, replayed, failures = bench(trace, ns.repeat)
            events = len(trace.events)
            rate = events / seconds
            print(
                f"{name:<7} {n:>9,} lines {events:>9,} events  replay {seconds:7.3f} s  "
                f"{rate:>10,.0f} events/s  {replayed / seconds:>9,.0f} "
                f"replayed calls/s  ({failures} failures)"
            )
            if name == "memory":
                print(
                    f"replay of memory calls: {rate:,.0f} events/s (target {TARGET:,}): "
                    f"{'met' if rate >= TARGET else 'not met'}"
                )


if __name__ == "__main__":
    main()
