"""Replaying strace logs onto a board: translations, sharing, heap policies, failures."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

import nommu
from nommu.errors import ConfigError
from nommu.strace import MmapArgs, Trace, parse_file, parse_lines
from nommu.strace.replay import (
    TRANSLATION_KINDS,
    ReplayPolicy,
    ReplayResult,
    replay,
)
from strace_capture import build_c, capture

FIX = Path(__file__).parent / "fixtures"


def run(
    name: str, machine: nommu.Machine | None = None, **policy: object
) -> tuple[ReplayResult, nommu.Machine]:
    m = machine if machine is not None else nommu.Machine(ram="8M", ideal=True)
    trace = parse_file(FIX / name)
    assert trace.problems == []
    result = replay(trace, m, ReplayPolicy(validate=True, **policy))  # type: ignore[arg-type]
    m.validate()
    return result, m


def kinds(r: ReplayResult) -> list[tuple[int, int, str]]:
    return [(t.line, t.pid, t.kind) for t in r.translations]


def model_pid(r: ReplayResult, pid: int) -> int:
    (p,) = [p for p in r.processes if p.pid == pid]
    return p.model_pids[-1]


def maps_lines(m: nommu.Machine, pid: int) -> list[str]:
    return m.cat(f"/proc/{pid}/maps").splitlines()


def sizes(lines: list[str]) -> list[int]:
    out = []
    for line in lines:
        lo, hi = line.split()[0].split("-")
        out.append(int(hi, 16) - int(lo, 16))
    return out


# ---------------------------------------------------------------------------------------
# libraries: ld.so's reservation + MAP_FIXED become per-segment mappings, shared by inode
# ---------------------------------------------------------------------------------------

LIB_TRANSLATIONS = [
    (1, 100, "program_image"),
    (5, 100, "library"),
    (5, 100, "library_segment"),  # the head (the reservation's first 8 KiB)
    (6, 100, "library_segment"),  # text
    (7, 100, "library_segment"),  # rodata
    (8, 100, "library_segment"),  # data: a private copy
    (9, 100, "library_segment"),  # bss
    (11, 100, "loader_mprotect"),  # ld.so's RELRO mprotect: an FDPIC loader skips it
    (12, 100, "fork_to_vfork"),
    (14, 101, "program_image"),
    (16, 101, "library"),
    (16, 101, "library_segment"),
    (17, 101, "library_segment"),
    (18, 101, "library_segment"),
    (19, 101, "library_segment"),
    (20, 101, "library_segment"),
]


@pytest.mark.parametrize(
    ("libs", "flash", "where"),
    [
        pytest.param("ramfs", "0", "directly from the ramfs page cache", id="ramfs"),
        pytest.param("disk", "0", "as a copy in RAM shared", id="disk"),
        pytest.param("xip", "4M", "in place from flash", id="xip"),
    ],
)
def test_two_processes_share_a_library_text(libs: str, flash: str, where: str) -> None:
    r, m = run("replay_libs.txt", nommu.Machine(ram="8M", flash=flash, ideal=True), libs=libs)
    assert r.libs == libs
    assert kinds(r) == LIB_TRANSLATIONS
    assert r.failures == ()
    text = [t for t in r.translations if t.kind == "library_segment" and "text" in t.detail]
    assert len(text) == 2 and all(where in t.detail for t in text)
    assert "shares the region" in text[1].detail
    lib = "/lib/libdemo.so.1"
    p100, p101 = model_pid(r, 100), model_pid(r, 101)

    def text_line(pid: int) -> str:
        (line,) = [x for x in maps_lines(m, pid) if x.endswith(lib) and " r-xp 00002000 " in x]
        return line

    # the same address in both processes, one region in /proc/maps
    assert text_line(p100).split()[0] == text_line(p101).split()[0]
    regions = [x for x in m.cat("/proc/maps").splitlines() if x.endswith(lib) and " 00002000 " in x]
    assert len(regions) == 1
    assert regions[0].split()[0] == text_line(p100).split()[0]
    # the writable data segment is a private copy in each process
    data = [
        [x for x in maps_lines(m, pid) if x.endswith(lib) and " rw-p 0002c000 " in x]
        for pid in (p100, p101)
    ]
    assert len(data[0]) == len(data[1]) == 1 and data[0][0].split()[0] != data[1][0].split()[0]
    # the file is on the board with the size the trace implies (st_size 204800)
    assert (lib, {"ramfs": "ramfs", "disk": "ext2", "xip": "romfs"}[libs], 204800) in (
        r.board_files
    )
    if libs == "xip":
        assert int(text_line(p100).split("-")[0], 16) >= 0x20000000  # flash, not RAM
        assert r.baseline_used == 0
    if libs == "ramfs":
        assert r.baseline_used == 50 * 4096  # the file's pages, allocated at once
    [vfork] = [t for t in r.translations if t.kind == "fork_to_vfork"]
    assert "only prepares and calls execve (line 14)" in vfork.detail
    assert [(p.pid, p.created, p.program) for p in r.processes] == [
        (100, "spawn", "/bin/app"),
        (101, "fork_to_vfork", "/bin/tool"),
    ]


def test_libs_auto_uses_flash_when_it_fits() -> None:
    assert run("replay_libs.txt", nommu.Machine(ram="8M", flash="4M", ideal=True))[0].libs == "xip"
    assert run("replay_libs.txt", nommu.Machine(ram="8M", ideal=True))[0].libs == "ramfs"
    assert (
        run("replay_small.txt", nommu.Machine(ram="8M", flash="1M", ideal=True))[0].libs == "ramfs"
    )


def test_xip_needs_flash() -> None:
    with pytest.raises(ConfigError, match="libs: 'xip' needs a machine with memory-mapped"):
        replay(parse_file(FIX / "replay_libs.txt"), nommu.Machine(), ReplayPolicy(libs="xip"))
    with pytest.raises(ConfigError, match=r"need about .* of flash"):
        replay(
            parse_file(FIX / "replay_small.txt"),
            nommu.Machine(flash="1M"),
            ReplayPolicy(libs="xip"),
        )


# ---------------------------------------------------------------------------------------
# the heap: brk growth replayed with mmap, per policy
# ---------------------------------------------------------------------------------------

HEAP_LINES = (FIX / "replay_brk.txt").read_text().splitlines()


def heap_maps(heap: str, upto: int) -> list[int]:
    """Sizes of the heap's mappings after the first *upto* lines of replay_brk.txt."""
    m = nommu.Machine(ram="8M", ideal=True)
    r = replay(parse_lines(HEAP_LINES[:upto]), m, ReplayPolicy(heap=heap, validate=True))
    lines = maps_lines(m, model_pid(r, 200))
    assert lines[0].split()[1] == "rwxp" and lines[1].endswith("[stack]")  # image, stack
    return sizes(lines[2:])


@pytest.mark.parametrize(
    ("heap", "grown", "shrunk", "notes"),
    [
        pytest.param(
            "mmap-per-brk",
            [132 << 10, 132 << 10, 8 << 10],
            [132 << 10],
            [3, 4, 5, 7],
            id="mmap-per-brk",
        ),
        pytest.param(
            "malloc-chunks", [192 << 10, 128 << 10], [192 << 10], [3, 4, 5, 7], id="malloc-chunks"
        ),
        pytest.param("none", [], [], [3, 4, 5], id="none"),
    ],
)
def test_heap_policies(heap: str, grown: list[int], shrunk: list[int], notes: list[int]) -> None:
    assert sorted(heap_maps(heap, 5)) == sorted(grown)  # three growths
    assert heap_maps(heap, 7) == shrunk  # a failed brk (line 6), then a shrink
    r, _ = run("replay_brk.txt", heap=heap)
    assert [t.line for t in r.translations if t.kind == "heap"] == notes
    assert r.failures == ()


def test_heap_chunk_size() -> None:
    assert heap_maps("malloc-chunks", 3) == [192 << 10]  # 132 KiB: three 64 KiB chunks
    m = nommu.Machine(ram="8M", ideal=True)
    r = replay(
        parse_lines(HEAP_LINES[:3]), m, ReplayPolicy(heap="malloc-chunks", heap_chunk=256 << 10)
    )
    assert sizes(maps_lines(m, model_pid(r, 200))[2:]) == [256 << 10]


# ---------------------------------------------------------------------------------------
# failures: where it would first fail, with the errno and the explanation
# ---------------------------------------------------------------------------------------


def test_first_failure_on_a_small_board_with_libraries_on_disk() -> None:
    r, _ = run("replay_small.txt", nommu.Machine(ram="2M", ideal=True), libs="disk")
    first = r.first_failure
    assert first is not None and r.exit_code == 1
    assert (first.line, first.pid, first.syscall, first.errno) == (6, 400, "mmap", "ENOMEM")
    assert "text segment of /lib/x86_64-linux-gnu/libc.so.6" in first.what
    assert first.alloc is not None and first.alloc.order == 9
    assert first.explanation is not None and first.explanation.cause == "not enough free memory"
    assert any("page allocation failure: order:9" in line for line in first.dmesg)
    assert first.snapshot is not None and first.comm == "prog"
    assert [(f.line, f.errno) for f in r.failures] == [(6, "ENOMEM")]


def test_first_failure_on_a_small_board_with_libraries_on_ramfs() -> None:
    # the 1.9 MiB library cannot be put on a board with 1 MiB free: reported where it is used
    r, m = run("replay_small.txt", nommu.Machine(ram="2M", ideal=True), libs="ramfs")
    first = r.first_failure
    assert first is not None
    assert (first.line, first.syscall, first.errno) == (5, "mmap", "ENOMEM")
    assert "create /lib/x86_64-linux-gnu/libc.so.6 (1.8 MiB, lib) on ramfs" in first.what
    assert [t.kind for t in r.translations if t.line in (6, 7, 8)] == ["not_replayed"] * 3
    assert "/lib/x86_64-linux-gnu/libc.so.6" not in m.cat("/proc/maps")
    assert r.baseline_used == 0  # the partly written file gave its pages back


def test_other_calls_fail_as_the_board_would() -> None:
    r, m = run("replay_misc.txt")
    assert [(f.line, f.syscall, f.errno) for f in r.failures] == [
        (2, "mmap", "EINVAL"),  # MAP_FIXED
        (4, "mmap", "ENODEV"),  # MAP_SHARED of a disk file
        (9, "mremap", "ENOMEM"),  # growing in place
        (19, "mmap", "ENOMEM"),  # an 8 MiB thread stack: above the largest block
    ]
    assert kinds(r) == [
        (1, 300, "program_image"),
        (9, 300, "mremap_fallback"),
        (12, 300, "munmap_split"),
        (13, 300, "reservation"),
        (14, 300, "reservation_commit"),
        (15, 300, "thread_stack"),
        (17, 301, "host_libc"),  # glibc's madvise of a thread stack (uclibc-ng: none)
    ]
    assert [t.errno for t in r.translations if t.kind == "munmap_split"] == ["EINVAL"]
    # with glibc as the target's C library the madvise is the program's: ENOSYS
    r2, _ = run("replay_misc.txt", libc="glibc")
    assert [(t.line, t.errno) for t in r2.translations if t.kind == "enosys"] == [(17, "ENOSYS")]
    assert r.failures[1].what == "MAP_SHARED mapping of 8 KiB of /var/db/data.bin at offset 0x0"
    # what is left: image, stack, the mremap fallback's 64 KiB, the 132 KiB commit, the
    # 64 KiB thread stack; the /dev/shm mapping was unmapped at line 20 (its file stays)
    lines = maps_lines(m, model_pid(r, 300))
    assert sorted(sizes(lines[2:])) == [64 << 10, 64 << 10, 132 << 10]
    assert "/dev/shm/ring" not in m.cat("/proc/maps")
    assert re.search(r"^Cached: +64 kB$", m.cat("/proc/meminfo"), re.MULTILINE)
    assert ("/dev/shm/ring", "ramfs", 65536) in r.board_files
    assert [(p.pid, p.created, p.end) for p in r.processes] == [
        (300, "spawn", "running"),
        (301, "thread", "exited 0"),
    ]


def test_fork_whose_child_works_is_replayed_as_vfork() -> None:
    lines = [
        '10 execve("/bin/server", ["server"], 0x7ffd4e1c2a08 /* 1 var */) = 0',
        "10 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, "
        "child_tidptr=0x7f0000000a10) = 11",
        "10 mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f1",
        "11 mmap(NULL, 65536, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f2",
        "11 exit_group(0) = ?",
        "11 +++ exited with 0 +++",
    ]
    m = nommu.Machine(ram="8M", ideal=True)
    r = replay(parse_lines(lines), m, ReplayPolicy(validate=True))
    assert kinds(r) == [
        (1, 10, "program_image"),
        (2, 10, "fork_needs_redesign"),
        (3, 10, "vfork_wait"),
    ]
    assert "calls mmap at line 4 before any execve" in r.translations[1].detail
    # the child's 64 KiB went into the parent's address space; the parent's own 8 KiB
    # mapping (line 3) was made after the child exited, as vfork would order it
    assert sorted(sizes(maps_lines(m, model_pid(r, 10))[2:])) == [8 << 10, 64 << 10]
    assert [(p.pid, p.created, p.end) for p in r.processes] == [
        (10, "spawn", "running"),
        (11, "fork_needs_redesign", "exited 0"),
    ]


def test_a_failed_exec_respawns_so_the_rest_is_measured() -> None:
    lines = [
        '20 execve("/bin/big", ["big"], 0x7ffd4e1c2a08 /* 1 var */) = 0',
        "20 mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f1",
    ]
    m = nommu.Machine(ram="2M", ideal=True)
    r = replay(parse_lines(lines), m, ReplayPolicy(program_size=2 << 20))
    assert [(f.line, f.syscall, f.errno) for f in r.failures] == [(1, "execve", "ENOMEM")]
    assert kinds(r) == [(1, 20, "respawned")]
    assert r.processes[0].model_pids == (2, 3)
    assert sizes(maps_lines(m, 3)) == [8 << 10]
    m2 = nommu.Machine(ram="2M", ideal=True)
    r2 = replay(parse_lines(lines), m2, ReplayPolicy(program_size=2 << 20, respawn=False))
    assert kinds(r2) == [(2, 20, "not_replayed")] and r2.processes[0].end == "failed exec"
    assert "pid 20 no longer runs on the board" in r2.translations[0].detail


def test_calls_that_failed_in_the_trace_are_not_replayed() -> None:
    lines = [
        '30 execve("/bin/x", ["x"], 0x7ffd4e1c2a08 /* 1 var */) = 0',
        "30 mmap(NULL, 8192, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = -1 ENOMEM (Cannot "
        "allocate memory)",
        '30 execve("/nowhere/y", ["y"], 0x7ffd4e1c2a08 /* 1 var */) = -1 ENOENT (No such file '
        "or directory)",
    ]
    r = replay(parse_lines(lines), nommu.Machine(), ReplayPolicy())
    assert (r.replayed, r.skipped_failed, r.failures) == (1, 2, ())


def test_every_translation_kind_is_documented() -> None:
    seen: set[str] = set()
    for name in ("replay_libs.txt", "replay_brk.txt", "replay_misc.txt", "replay_small.txt"):
        seen |= {t.kind for t in run(name)[0].translations}
    assert seen <= set(TRANSLATION_KINDS)


# ---------------------------------------------------------------------------------------
# the result: figures and reports
# ---------------------------------------------------------------------------------------


def test_peak_steady_and_samples() -> None:
    r, m = run("replay_small.txt")
    ps = 4096
    assert r.peak_used == r.used(r.peak.free_pages)
    assert r.peak.line in range(1, 13) and r.peak_used >= r.steady_used >= r.end_used
    assert r.steady_label == "before pid 400 exits (line 11)"
    assert r.end_used == r.baseline_used  # the process exited: only the library file is left
    assert min(s.free_pages for s in r.samples) == r.peak.free_pages
    assert all(len(s.nr_free) == 11 for s in r.samples)
    assert all(sum(n << o for o, n in enumerate(s.nr_free)) == s.free_pages for s in r.samples)
    seqs = [s.seq for s in r.samples]
    assert seqs == sorted(seqs)
    (fp,) = r.footprints_at(r.peak_snapshot)
    assert fp.pid == 400 and fp.name == "prog" and fp.stack == 128 * 1024
    assert fp.ram * 1 >= 1400832  # the libc text is direct from ramfs: counted as RAM
    assert r.fragmentation_at(r.peak).free_bytes == r.peak.free_pages * ps
    assert m.processes == []


def test_replay_is_deterministic() -> None:
    docs = []
    for _ in range(2):
        r, _ = run("replay_libs.txt")
        docs.append(json.dumps(r.to_json(), sort_keys=False))
    assert docs[0] == docs[1]
    text = run("replay_misc.txt")[0].render_text()
    assert text == run("replay_misc.txt")[0].render_text()


def test_report_text_and_json() -> None:
    r, _ = run("replay_misc.txt")
    text = r.render_text()
    assert "What fails first, and why?" in text  # the run report
    assert "replay_misc.txt:2 mmap" in text
    assert "Translations (7: program_image 1, mremap_fallback 1" in text
    assert "Verdict: 4 call(s) fail on this board; the first at line 2 (mmap EINVAL)" in text
    doc = r.to_json()
    assert doc["format"] == "nommu-report" and doc["run"]["ok"] is False
    assert [f["line"] for f in doc["failures"]] == [2, 4, 9, 19]
    rep = doc["replay"]
    assert [(t["line"], t["kind"]) for t in rep["translations"]][:2] == [
        (1, "program_image"),
        (9, "mremap_fallback"),
    ]
    assert set(rep["translations"][0]) == {
        "line",
        "pid",
        "syscall",
        "kind",
        "errno",
        "detail",
        "source",
    }
    assert rep["first_failure"]["errno"] == "EINVAL"
    peak = rep["footprints"]["peak"]
    assert peak and all(
        list(fp)
        == [
            "pid",
            "name",
            "text",
            "data",
            "bss",
            "stack",
            "heap",
            "other",
            "slack",
            "xip",
            "ram",
            "shared",
            "pss",
            "kernel",
        ]
        and isinstance(fp["pss"], int)
        for fp in peak
    )  # as the run report's
    assert rep["ram"]["peak_used"] == r.peak_used
    json.dumps(doc, allow_nan=False)


def test_policy_is_checked() -> None:
    with pytest.raises(ValueError, match="heap: must be one of"):
        ReplayPolicy(heap="sbrk")
    with pytest.raises(ValueError, match="libs: must be one of"):
        ReplayPolicy(libs="nfs")
    with pytest.raises(ValueError, match="heap_chunk: must be a positive int"):
        ReplayPolicy(heap_chunk=0)
    with pytest.raises(ValueError, match="cwd: must be an absolute path"):
        ReplayPolicy(cwd="here")


# ---------------------------------------------------------------------------------------
# real strace captures
# ---------------------------------------------------------------------------------------


def library_lines(trace: Trace) -> list[int]:
    """Lines where ld.so reserves a library span that MAP_FIXED segments of it then fill."""
    found = []
    events = [e for e in trace.events if e.ok and isinstance(e.decoded, MmapArgs)]
    for i, e in enumerate(events):
        d = e.decoded
        assert isinstance(d, MmapArgs)
        if d.anonymous or d.flags & nommu.MAP_FIXED or d.prot & nommu.PROT_WRITE:
            continue
        nxt = next((x for x in events[i + 1 :] if x.pid == e.pid), None)
        if (
            nxt is not None
            and isinstance(nxt.decoded, MmapArgs)
            and (nxt.decoded.flags & nommu.MAP_FIXED and nxt.decoded.path == d.path)
        ):
            found.append(e.line)
    return sorted(found)


def test_real_shell_pipeline(strace_ok: str, tmp_path: Path) -> None:
    out = capture(strace_ok, ["sh", "-c", "ls | wc -l"], tmp_path)
    trace = parse_file(out)
    m = nommu.Machine(ram="8M", ideal=True)
    r = replay(trace, m, ReplayPolicy(libs="ramfs", validate=True))
    lines = out.read_text().splitlines()
    forks = [t for t in r.translations if t.kind == "fork_to_vfork"]
    assert len(forks) == 2
    for t in forks:  # each at a fork-like clone of the shell
        assert re.search(r"^\d+ +clone3?\(", lines[t.line - 1])
        assert "CLONE_VM" not in lines[t.line - 1]
    assert sorted(t.line for t in r.translations if t.kind == "library") == library_lines(trace)
    assert [p.created for p in r.processes] == ["spawn", "fork_to_vfork", "fork_to_vfork"]
    assert [p.end.startswith("exited") for p in r.processes] == [True] * 3
    # each of the three processes maps libc's text; the later two share the first's region
    libc_text = [
        t
        for t in r.translations
        if t.kind == "library_segment"
        and "libc.so" in t.detail
        and t.detail.startswith("text segment")
    ]
    assert len(libc_text) == 3
    assert [("shares the region" in t.detail) for t in libc_text] == [False, True, True]
    assert all(f.errno in ("ENODEV", "ENOMEM", "EINVAL") for f in r.failures)
    assert m.processes == []


def test_real_python_start(strace_ok: str, tmp_path: Path) -> None:
    out = capture(strace_ok, [sys.executable, "-c", "pass"], tmp_path)
    trace = parse_file(out)
    r = replay(trace, nommu.Machine(ram="16M"), ReplayPolicy(libs="disk"))
    assert r.processes[0].created == "spawn"
    assert {t.kind for t in r.translations} <= set(TRANSLATION_KINDS)
    assert sorted(t.line for t in r.translations if t.kind == "library") == library_lines(trace)
    assert all(t.errno == "ENOSYS" for t in r.translations if t.kind == "enosys")
    assert r.peak_used > r.baseline_used


C_PROGRAM = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    int fd = open("data.bin", O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ftruncate(fd, 8192) != 0) return 1;
    char *shared = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (shared == MAP_FAILED) return 1;
    strcpy(shared, "hello");
    char *buf = mmap(NULL, 16384, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *big = mremap(buf, 16384, 1 << 20, MREMAP_MAYMOVE);
    if (big == MAP_FAILED) return 1;
    pid_t pid = fork();
    if (pid == 0) {
        char *child = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                           -1, 0);
        child[0] = 1;
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    munmap(big, 1 << 20);
    munmap(shared, 8192);
    close(fd);
    return 0;
}
"""


def test_real_c_program(strace_ok: str, tmp_path: Path) -> None:
    build_c(tmp_path, C_PROGRAM)
    out = capture(strace_ok, ["./prog"], tmp_path)
    lines = out.read_text().splitlines()

    def line_of(pattern: str) -> int:
        (n,) = [i + 1 for i, x in enumerate(lines) if re.search(pattern, x)]
        return n

    m = nommu.Machine(ram="8M", ideal=True)
    r = replay(parse_file(out), m, ReplayPolicy(validate=True))
    shared = line_of(r"mmap\(NULL, 8192, PROT_READ\|PROT_WRITE, MAP_SHARED, 3, 0\)")
    grow = line_of(r"mremap\(")
    clone = line_of(r"clone\(|fork\(")
    assert [(f.line, f.syscall, f.errno) for f in r.failures] == [
        (shared, "mmap", "ENODEV"),  # data.bin is taken from cwd /home: a disk
        (grow, "mremap", "ENOMEM"),
    ]
    assert "/home/data.bin" in r.failures[0].what
    assert (grow, "mremap_fallback") in [(t.line, t.kind) for t in r.translations]
    redesign = [t for t in r.translations if t.kind == "fork_needs_redesign"]
    assert [t.line for t in redesign] == [clone]
    assert "calls mmap" in redesign[0].detail
    assert [p.created for p in r.processes] == ["spawn", "fork_needs_redesign"]
