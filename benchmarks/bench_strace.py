"""Throughput of ``nommu check`` on a real-shaped trace: target 200,000 lines/s.

Generates a ``strace -f -tt`` style trace (200,000 lines by default) shaped
like a real session: a shell starts many short-lived programs (one pid each,
so ``-f`` with thousands of pids), each ``execve`` with a long path and
argument list, then the dynamic loader's sequence for four libraries with
long paths (openat, ELF header read, fstat, the reservation and its
``MAP_FIXED`` segments, RELRO mprotect), brk, the gconv cache, file I/O on
long paths, signals, futexes, calls split by other pids (``<unfinished
...>``/``resumed``), and exits; every line carries a ``-tt`` time stamp.
Then times, in the same run:

* reading the file line by line in Python (the floor), and
* ``parse_file`` + ``check_trace`` on the same file (what ``nommu check`` does),

and prints the rate against the target with "met" or "not met".

Usage: ``python benchmarks/bench_strace.py [--lines N] [--repeat R] [--keep PATH]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from nommu.strace import parse_file
from nommu.strace.check import check_trace

TARGET = 200_000  # lines/s

_LIBS = (
    "/usr/lib/x86_64-linux-gnu/libselinux.so.1",
    "/usr/lib/x86_64-linux-gnu/libc.so.6",
    "/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0",
    "/usr/lib/x86_64-linux-gnu/libcrypto.so.3",
)

_SHELL = [
    "{s} {t} rt_sigprocmask(SIG_BLOCK, [CHLD], [], 8) = 0",
    "{s} {t} clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, "
    "child_tidptr=0x7f64d4f1fa10) = {cn}",
    "{s} {t} rt_sigprocmask(SIG_SETMASK, [], NULL, 8) = 0",
    "{s} {t} wait4(-1,  <unfinished ...>",
]

_PROGRAM_HEAD = [
    '{c} {t} execve("/usr/local/lib/application-suite/bin/report-generator-{i}", '
    '["report-generator-{i}", "--config", "/etc/application-suite/report.d/{i}.conf", '
    '"--output", "/var/lib/application-suite/reports/2024/{i}.csv"], 0x7ffd1c2e5b18 '
    "/* 35 vars */) = 0",
    "{c} {t} brk(NULL)                         = 0x5609bfabc000",
    "{c} {t} mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = "
    "0x7f64d5144000",
    '{c} {t} access("/etc/ld.so.preload", R_OK) = -1 ENOENT (No such file or directory)',
    '{c} {t} openat(AT_FDCWD, "/etc/ld.so.cache", O_RDONLY|O_CLOEXEC) = 3',
    '{c} {t} newfstatat(3, "", {{st_mode=S_IFREG|0644, st_size=34547, ...}}, AT_EMPTY_PATH) = 0',
    "{c} {t} mmap(NULL, 34547, PROT_READ, MAP_PRIVATE, 3, 0) = 0x7f64d513b000",
    "{c} {t} close(3)                          = 0",
]

_LIBRARY = [
    '{c} {t} openat(AT_FDCWD, "{lib}", O_RDONLY|O_CLOEXEC) = 3',
    '{c} {t} read(3, "\\177ELF\\2\\1\\1\\0\\0\\0\\0\\0\\0\\0\\0\\0\\3\\0>\\0\\1\\0\\0\\0"..., 832)'
    " = 832",
    '{c} {t} newfstatat(3, "", {{st_mode=S_IFREG|0644, st_size=174312, ...}}, AT_EMPTY_PATH) = 0',
    "{c} {t} mmap(NULL, 186064, PROT_READ, MAP_PRIVATE|MAP_DENYWRITE, 3, 0) = {b:#x}",
    "{c} {t} mmap({b1:#x}, 110592, PROT_READ|PROT_EXEC, MAP_PRIVATE|MAP_FIXED|MAP_DENYWRITE, 3, "
    "0x7000) = {b1:#x}",
    "{c} {t} mmap({b2:#x}, 32768, PROT_READ, MAP_PRIVATE|MAP_FIXED|MAP_DENYWRITE, 3, 0x22000) = "
    "{b2:#x}",
    "{c} {t} mmap({b3:#x}, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_FIXED|MAP_DENYWRITE, 3, "
    "0x29000) = {b3:#x}",
    "{c} {t} close(3)                          = 0",
]

_PROGRAM_TAIL = [
    "{c} {t} arch_prctl(ARCH_SET_FS, 0x7f64d4f1f800) = 0",
    "{c} {t} mprotect({b2:#x}, 16384, PROT_READ) = 0",
    "{c} {t} mprotect(0x5609bf8a1000, 4096, PROT_READ) = 0",
    "{c} {t} munmap(0x7f64d513b000, 34547)     = 0",
    "{c} {t} brk(0x5609bfadd000)               = 0x5609bfadd000",
    '{c} {t} openat(AT_FDCWD, "/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache", '
    "O_RDONLY|O_CLOEXEC) = 3",
    "{c} {t} mmap(NULL, 27004, PROT_READ, MAP_SHARED, 3, 0) = 0x7f64d513c000",
    "{c} {t} close(3)                          = 0",
    '{c} {t} openat(AT_FDCWD, "/var/lib/application-suite/data/customers/region-{i}/'
    'accounts.db", O_RDONLY) = 4',
    '{c} {t} read(4, "id,name,balance\\n1,Alice,100\\n2,Bob,250\\n"..., 65536) = 4096',
    "{c} {t} mmap(NULL, 266240, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = "
    "0x7f64d4ed0000",
    "{c} {t} futex(0x7f64d5141a70, FUTEX_WAKE_PRIVATE, 2147483647) = 0",
    '{c} {t} write(1, "region {i}: 2 accounts, total 350\\n", 34) = 34',
    "{c} {t} munmap(0x7f64d4ed0000, 266240)    = 0",
    "{c} {t} close(4)                          = 0",
    "{c} {t} exit_group(0)                     = ?",
    "{c} {t} +++ exited with 0 +++",
    "{s} {t} <... wait4 resumed>[{{WIFEXITED(s) && WEXITSTATUS(s) == 0}}], 0, NULL) = {cn}",
    "{s} {t} --- SIGCHLD {{si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid={cn}, si_uid=0, "
    "si_status=0, si_utime=0, si_stime=0}} ---",
]


def _stamp(us: int) -> str:
    s, us = divmod(us, 1_000_000)
    return f"{8 + s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.{us:06d}"


def generate(path: Path, lines: int) -> int:
    """Write about ``lines`` lines of trace; returns the exact count."""
    out: list[str] = []
    i = 0
    clock = 0
    shell = 1000
    while len(out) < lines:
        child = 2000 + i
        base = 0x7F64D4000000 + (i % 64) * 0x1000000
        steps: list[tuple[str, dict[str, object]]] = [(tmpl, {}) for tmpl in _SHELL]
        steps += [(tmpl, {}) for tmpl in _PROGRAM_HEAD]
        for k, lib in enumerate(_LIBS):
            b = base + k * 0x100000
            addrs = {"lib": lib, "b": b, "b1": b + 0x7000, "b2": b + 0x22000, "b3": b + 0x2A000}
            steps += [(tmpl, addrs) for tmpl in _LIBRARY]
        steps += [(tmpl, {"b2": base + 0x22000}) for tmpl in _PROGRAM_TAIL]
        for tmpl, kw in steps:
            clock += 37
            out.append(
                tmpl.format(s=f"{shell:<5}", c=f"{child:<5}", cn=child, t=_stamp(clock), i=i, **kw)
            )
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
    rate = n / full_s
    print(f"trace lines            {n:>12,}")
    print(f"read line by line      {read_s:>10.3f} s  {n / read_s:>14,.0f} lines/s")
    print(f"parse_file+check_trace {full_s:>10.3f} s  {rate:>14,.0f} lines/s")
    print(f"ratio (parse+check / read)  {full_s / read_s:.1f}x")
    print(f"findings {findings}, verdict: {verdict}")
    print(
        f"check of a real-shaped trace: {rate:,.0f} lines/s (target {TARGET:,}): "
        f"{'met' if rate >= TARGET else 'not met'}"
    )


if __name__ == "__main__":
    main()
