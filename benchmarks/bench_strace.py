"""Throughput of the strace parser and the no-MMU findings.

Generates a ``strace -f`` style trace (200,000 lines by default: a realistic mix
of file I/O, signals, futexes, mmap/munmap pairs, brk, split calls from two
processes, mprotect, fork-like clones with exec'ing children and exits), then
times, in the same run:

* reading the file line by line in Python (the floor), and
* ``parse_file`` + ``check_trace`` on the same file,

and prints both rates and their ratio.

Usage: ``python benchmarks/bench_strace.py [--lines N] [--repeat R] [--keep PATH]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from nommu.strace import parse_file
from nommu.strace.check import check_trace

_BLOCK = [
    '{p}  openat(AT_FDCWD, "/usr/share/app/data{i}.txt", O_RDONLY|O_CLOEXEC) = 3',
    '{p}  newfstatat(3, "", {{st_mode=S_IFREG|0644, st_size=5120, ...}}, AT_EMPTY_PATH) = 0',
    '{p}  read(3, "\\177ELF\\2\\1\\1\\3\\0\\0\\0\\0\\0\\0\\0\\0\\3\\0>\\0\\1\\0'
    '\\0\\0"..., 832) = 832',
    "{p}  mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = {a:#x}",
    '{p}  write(1, "line {i} of the output\\n", 23) = 23',
    "{p}  futex({a:#x}, FUTEX_WAKE_PRIVATE, 1) = 0",
    "{p}  rt_sigprocmask(SIG_BLOCK, [CHLD], [], 8) = 0",
    "{p}  rt_sigaction(SIGINT, {{sa_handler=0x55d0c0a1b2c0, sa_mask=[], sa_flags=SA_RESTORER,"
    " sa_restorer=0x7f2a1c842520}}, NULL, 8) = 0",
    "{p}  munmap({a:#x}, 8192) = 0",
    "{p}  close(3) = 0",
    "{p}  poll([{{fd=4, events=POLLIN}}], 1, 1000) = 1 ([{{fd=4, revents=POLLIN}}])",
    "{p}  lseek(4, 0, SEEK_CUR) = -1 ESPIPE (Illegal seek)",
    "{p}  read(4,  <unfinished ...>",
    "{q}  getpid() = {q}",
    '{p}  <... read resumed>"x", 1) = 1',
    "{p}  brk(NULL) = 0x55d0c1000000",
    '{p}  getrandom("\\x7f\\x45\\x4c\\x46\\x02\\x01\\x01\\x00", 8, GRND_NONBLOCK) = 8',
    "{p}  ioctl(1, TCGETS, {{c_iflag=ICRNL|IXON, c_oflag=NL0|CR0|TAB0|BS0|VT0|FF0|OPOST|ONLCR,"
    " ...}}) = 0",
    "{p}  clock_gettime(CLOCK_MONOTONIC, {{tv_sec=1234, tv_nsec=567890}}) = 0",
    "{q}  wait4(-1, 0x7ffd1c2e5a3c, WNOHANG, NULL) = -1 ECHILD (No child processes)",
    "{p}  mprotect({a:#x}, 4096, PROT_READ) = 0",
    "{p}  clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD,"
    " child_tidptr=0x7f2a1c842a10) = {c}",
    '{c}  execve("/bin/true", ["true"], 0x7ffd1c2e5b18 /* 12 vars */) = 0',
    "{c}  +++ exited with 0 +++",
]


def generate(path: Path, lines: int) -> int:
    """Write about ``lines`` lines of trace; returns the exact count."""
    out: list[str] = []
    i = 0
    while len(out) < lines:
        addr = 0x7F0000000000 + (i % 4096) * 0x10000
        for tmpl in _BLOCK:
            out.append(tmpl.format(p=1000, q=1001, c=2000 + i, i=i, a=addr))
        i += 1
    del out[lines:]
    path.write_text("\n".join(out) + "\n")
    return len(out)


def bench(path: Path, repeat: int) -> tuple[float, float, int, str]:
    best_read = best_full = float("inf")
    findings = 0
    verdict = ""
    for _ in range(repeat):
        t0 = time.perf_counter()
        with path.open() as fh:
            for _line in fh:
                pass
        best_read = min(best_read, time.perf_counter() - t0)
        t0 = time.perf_counter()
        report = check_trace(parse_file(path))
        best_full = min(best_full, time.perf_counter() - t0)
        findings = len(report.findings)
        verdict = report.verdict
    return best_read, best_full, findings, verdict


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", type=Path, default=None, help="write the trace here and keep it")
    ns = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = ns.keep if ns.keep is not None else Path(tmp) / "bench.strace"
        n = generate(path, ns.lines)
        read_s, full_s, findings, verdict = bench(path, ns.repeat)
    print(f"trace lines            {n:>12,}")
    print(f"read line by line      {read_s:>10.3f} s  {n / read_s:>14,.0f} lines/s")
    print(f"parse_file+check_trace {full_s:>10.3f} s  {n / full_s:>14,.0f} lines/s")
    print(f"ratio (parse+check / read)  {full_s / read_s:.1f}x")
    print(f"findings {findings}, verdict: {verdict}")


if __name__ == "__main__":
    main()
