"""No-MMU portability findings: one fixture per kind, then real strace captures."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from nommu.strace import CloneArgs, MlockallArgs, MlockArgs, MsyncArgs, ShmgetArgs, parse_file
from nommu.strace.check import KINDS, BoardLimits, CheckReport, Finding, check_trace
from strace_capture import build_c, capture, run_strace

FIX = Path(__file__).parent / "fixtures"


def report(name: str, limits: BoardLimits | None = None) -> CheckReport:
    trace = parse_file(FIX / name)
    assert trace.problems == []
    return check_trace(trace, limits)


def rows(rep: CheckReport) -> list[tuple[int, str, str | None, str]]:
    return [(f.line, f.kind, f.errno, f.severity) for f in rep.findings]


def line_text(path: Path, f: Finding) -> str:
    return path.read_text().splitlines()[f.line - 1]


# ---------------------------------------------------------------------------------------
# one fixture per kind
# ---------------------------------------------------------------------------------------


def test_fork_kinds_and_child_analysis() -> None:
    rep = report("check_fork.txt")
    assert rows(rep) == [
        (2, "fork", None, "change"),
        (7, "fork", "EINVAL", "fatal"),
        (13, "fork", None, "fatal"),
        (16, "fork", None, "change"),
    ]
    # the fork that failed on the host is set apart, not judged
    assert [(n.line, n.what) for n in rep.host_failed] == [(17, "EAGAIN")]
    d = [f.detail for f in rep.findings]
    assert "pid 101" in d[0] and "execve (line 6)" in d[0] and "use vfork" in d[0]
    assert "calls mmap (line 8)" in d[1] and "needs redesign" in d[1]
    assert "exits without execve (line 14)" in d[2] and "needs redesign" in d[2]
    assert "not in the trace" in d[3]
    assert "not a finding about no-MMU" in rep.host_failed[0].detail
    # vfork (line 11) and clone(CLONE_VM|CLONE_VFORK) (line 15) are fine
    assert rep.verdict == "cannot run"
    assert rep.exit_code == 1


def test_fork_split_by_a_child_line_points_at_its_start() -> None:
    """strace splits a call when a child prints before it returns; the finding is the same."""
    rep = report("check_fork_split.txt")
    assert rows(rep) == [(2, "fork", "EINVAL", "change")]
    assert "execve (line 3)" in rep.findings[0].detail


def test_fork_children_with_a_reused_pid_are_judged_apart() -> None:
    rep = report("check_pid_reuse.txt")
    assert rows(rep) == [(1, "fork", None, "change"), (4, "fork", None, "fatal")]
    assert "execve (line 2)" in rep.findings[0].detail
    assert "calls mmap (line 5)" in rep.findings[1].detail


def test_map_fixed_loader_pattern_map_type_and_shmat() -> None:
    rep = report("check_map_fixed.txt")
    assert rows(rep) == [
        (3, "loader_map_fixed", None, "info"),
        (4, "loader_map_fixed", None, "info"),
        (5, "loader_map_fixed", None, "info"),
        (7, "map_fixed", "EINVAL", "change"),
        (9, "map_fixed", "EINVAL", "change"),  # another library inside libc's span
        (11, "map_type", "EINVAL", "change"),
        (12, "map_fixed", "EINVAL", "change"),  # shmat at an address
        (13, "shmat", "ENODEV", "change"),  # shmat is ENODEV since v4.0 (the model's kernel)
    ]
    assert rep.findings[0].detail.startswith("translated: an FDPIC loader places the text")
    assert "bss" in rep.findings[2].detail
    assert "validate_mmap_request" in rep.findings[3].detail
    assert "MAP_SHARED_VALIDATE" in rep.findings[5].detail
    assert rep.verdict == "needs changes"


def test_shared_file_mappings() -> None:
    rep = report("check_shared.txt")
    assert rows(rep) == [
        (2, "shared_write_file", "ENODEV", "change"),
        (3, "shared_file", "ENODEV", "change"),
        (8, "shared_write_file", "ENODEV", "change"),  # /dev/zero: copies only
    ]
    # an unknown descriptor (EBADF) and a socket (ENODEV) failed on the host already
    assert [(n.line, n.what) for n in rep.host_failed] == [(10, "EBADF"), (12, "ENODEV")]
    assert "/var/db/data.bin" in rep.findings[0].detail
    assert "/dev/zero" in rep.findings[2].detail
    # /dev/shm (line 6) maps directly; the private copy (line 9) is fine
    everything_direct = BoardLimits(direct_mappable=("/",))
    assert rows(report("check_shared.txt", everything_direct)) == [
        (8, "shared_write_file", "ENODEV", "change"),
    ]


def test_shared_anon_with_and_without_a_child() -> None:
    rep = report("check_shared_anon.txt")
    assert rows(rep) == [
        (1, "shared_anon", None, "change"),
        (2, "shared_anon", None, "info"),  # unmapped before the fork
        (4, "fork", None, "change"),
        (6, "shared_anon", None, "info"),  # only a vfork child follows
    ]
    assert "child created at line 4 (pid 201)" in rep.findings[0].detail
    assert "harmless" in rep.findings[1].detail
    assert rep.verdict == "needs changes"


def test_mremap_grow_move_and_shared() -> None:
    rep = report("check_mremap.txt")
    assert rows(rep) == [
        (2, "mremap_grow", "ENOMEM", "change"),
        (5, "mremap_move", "EINVAL", "change"),
        (8, "mremap_shared", "EPERM", "change"),
    ]
    assert [n.line for n in rep.host_failed] == [9]
    assert "grows 8K to 64K" in rep.findings[0].detail
    assert "MREMAP_MAYMOVE" in rep.findings[0].detail
    # line 4 grows back within the original 64K allocation: allowed


def test_enosys_calls_and_loader_mprotect() -> None:
    rep = report("check_enosys.txt")
    expected: list[tuple[int, str, str | None, str]]
    expected = [(n, "enosys", "ENOSYS", "change") for n in range(2, 13)]
    expected += [(13, "loader_mprotect", None, "info"), (14, "enosys", "ENOSYS", "change")]
    assert rows(rep) == expected
    names = [f.syscall for f in rep.findings]
    assert names[:11] == [
        "mprotect",
        "madvise",
        "msync",
        "mlock",
        "mlock2",
        "munlock",
        "mlockall",
        "munlockall",
        "mincore",
        "remap_file_pages",
        "pkey_mprotect",
    ]
    trace = parse_file(FIX / "check_enosys.txt")
    assert trace.events[3].decoded == MsyncArgs(0x7F0000000000, 8192, 4)
    assert trace.events[5].decoded == MlockArgs(0x7F0000000000, 8192, 1)
    assert trace.events[7].decoded == MlockallArgs(3)
    assert trace.events[8].decoded == MlockallArgs(0)


def test_brk_heap_is_information_only() -> None:
    rep = check_trace(parse_file(FIX / "check_brk.txt"), libc="glibc")
    assert rows(rep) == [(2, "brk_heap", None, "info"), (7, "brk_heap", None, "info")]
    assert "1 more growing brk call" in rep.findings[0].detail
    assert rep.verdict == "runs as is"
    # uClibc-ng's and musl's malloc use mmap: the growth is glibc's, set apart
    for libc in ("uclibc-ng", "musl"):
        other = check_trace(parse_file(FIX / "check_brk.txt"), libc=libc)
        assert other.findings == ()
        assert [(n.line, n.what) for n in other.host_libc] == [(2, "brk_heap"), (7, "brk_heap")]
    assert rep.exit_code == 0


def test_alloc_too_large_and_board_limits() -> None:
    rep = report("check_alloc.txt")
    assert rows(rep) == [
        (2, "alloc_too_large", "ENOMEM", "fatal"),
        (4, "alloc_too_large", "ENOMEM", "fatal"),  # private copy of a disk file
        # a 6 MiB ramfs file cannot be one contiguous run: its mappings are copies
        (6, "alloc_too_large", "ENOMEM", "fatal"),
        (7, "alloc_too_large", "EFBIG", "fatal"),  # SysV segment allocated at shmget
    ]
    assert "4198400 bytes need an order-11 block" in rep.findings[0].detail
    assert rep.verdict == "cannot run"
    trace = parse_file(FIX / "check_alloc.txt")
    assert trace.events[7].decoded == ShmgetArgs(0x1234, 4096, 0o3600)
    # a fragmented board: the largest free block is 1 MiB
    small = report("check_alloc.txt", BoardLimits(largest_free_block=1 << 20))
    assert [f.line for f in small.findings] == [1, 2, 4, 6, 7]
    assert "largest free block 1M" in small.findings[0].detail


def test_board_limits_defaults_and_validation() -> None:
    lim = BoardLimits()
    assert lim.largest_free_block == 4 << 20
    assert BoardLimits(page_size=16384, max_order=11).largest_free_block == 32 << 20
    assert lim.is_direct_mappable("/dev/shm/x")
    assert lim.is_direct_mappable("/tmp")
    assert not lim.is_direct_mappable("/tmpfoo/x")
    assert not lim.is_direct_mappable("/var/x")
    with pytest.raises(ValueError, match="page_size"):
        BoardLimits(page_size=3000)
    with pytest.raises(TypeError, match="direct_mappable"):
        BoardLimits(direct_mappable="/tmp")  # type: ignore[arg-type]


def test_huge_thread_stacks() -> None:
    rep = report("check_huge_stack.txt")
    # each stack is judged once, where it is mapped (the clones at lines 2, 4 and 7 use them)
    assert rows(rep) == [
        (1, "huge_stack", "ENOMEM", "fatal"),  # glibc's default 8 MiB + guard
        (3, "huge_stack", None, "change"),  # 2 MiB MAP_STACK mapping
    ]
    assert "512 contiguous pages" in rep.findings[1].detail
    # musl's default thread stack (128 KiB) replaces glibc's default
    musl = check_trace(parse_file(FIX / "check_huge_stack.txt"), libc="musl")
    assert rows(musl) == [(3, "huge_stack", None, "change")]
    assert [(n.line, n.what) for n in musl.host_libc] == [(1, "thread_stack_default")]
    trace = parse_file(FIX / "check_huge_stack.txt")
    c3 = trace.events[1].decoded
    assert isinstance(c3, CloneArgs)
    assert (c3.stack, c3.stack_size, c3.exit_signal) == (0x7F0000000000, 0x7FFF00, 0)
    cl = trace.events[3].decoded
    assert isinstance(cl, CloneArgs)
    assert (cl.stack, cl.parent_tid, cl.tls) == (0x7F00011FFFF0, 302, 0x7F00011FF700)
    raw = trace.events[6].decoded
    assert isinstance(raw, CloneArgs)
    assert (raw.flags, raw.stack) == (0x50F00, 0x7F00011FFFF0)


def test_munmap_multi_and_partial_file() -> None:
    rep = report("check_munmap.txt")
    assert rows(rep) == [
        (3, "munmap_multi", "EINVAL", "change"),
        (10, "munmap_partial_file", "EINVAL", "change"),
    ]
    assert "lines 1, 2" in rep.findings[0].detail
    assert "/usr/share/fonts/a.ttf (line 9)" in rep.findings[1].detail


def test_clean_trace_runs_as_is_and_report_outputs() -> None:
    rep = report("check_clean.txt")
    assert rep.findings == ()
    assert rep.verdict == "runs as is"
    assert rep.exit_code == 0
    assert rep.summary() == []
    assert rep.render_text().splitlines()[-2:] == ["no findings", "verdict: runs as is"]


def test_report_summary_json_and_text() -> None:
    rep = report("check_shared.txt")
    assert rep.summary() == [("shared_write_file", 2, "ENODEV"), ("shared_file", 1, "ENODEV")]
    data = rep.to_json()
    json.dumps(data)  # serialisable
    assert data["verdict"] == "needs changes"
    assert data["problems"] == []
    first = data["findings"][0]
    assert {k: first[k] for k in ("line", "pid", "syscall", "kind", "errno")} == {
        "line": 2,
        "pid": 1,
        "syscall": "mmap",
        "kind": "shared_write_file",
        "errno": "ENODEV",
    }
    text = rep.render_text()
    lines = text.splitlines()
    head = lines.index("findings by kind:")
    assert lines[head + 1].split() == ["SEVERITY", "KIND", "COUNT", "ERRNO", "FIRST", "LINES"]
    assert lines[head + 2].split() == ["change", "shared_write_file", "2", "ENODEV", "2,", "8"]
    rows_at = next(i for i, ln in enumerate(lines) if ln.startswith("LINE"))
    assert lines[rows_at].split()[:6] == ["LINE", "PID", "SEVERITY", "SYSCALL", "KIND", "ERRNO"]
    assert lines[rows_at + 1].split()[:6] == ["2", "1", "change", "mmap", "shared_write_file",
                                              "ENODEV"]  # fmt: skip
    assert lines[-1] == "verdict: needs changes"
    assert max(len(ln) for ln in lines) <= 100
    assert all(len(ln) <= 60 for ln in rep.render_text(width=60).splitlines())
    assert all(f.kind in KINDS for f in rep.findings)


def test_parse_problems_are_carried_into_the_report() -> None:
    rep = check_trace(parse_file(FIX / "garbage.txt"))
    assert [p.line for p in rep.problems] == [2, 3, 4, 5, 7, 8, 9, 12]
    assert rep.to_json()["problems"][0] == {
        "line": 2,
        "text": "this is not strace output",
        "reason": "not a system call line",
        "source": str(FIX / "garbage.txt"),
    }
    assert "8 line(s) could not be parsed" in rep.render_text()


def test_ff_trace_findings_name_their_file() -> None:
    rep = check_trace(parse_file(FIX / "ff" / "trace"))
    assert [(Path(f.source).name, f.line, f.kind) for f in rep.findings] == [
        ("trace.100", 3, "fork")
    ]
    assert "calls read (line 1)" in rep.findings[0].detail


# ---------------------------------------------------------------------------------------
# real strace captures
# ---------------------------------------------------------------------------------------


def assert_lines_point_at_calls(rep: CheckReport) -> None:
    cache: dict[str, list[str]] = {}
    for f in rep.findings:
        assert f.errno is None or f.severity != "info", f
        lines = cache.setdefault(f.source, Path(f.source).read_text().splitlines())
        assert f"{f.syscall}(" in lines[f.line - 1], (f, lines[f.line - 1])


def test_real_shell_pipeline(strace_ok: str, tmp_path: Path) -> None:
    out = capture(strace_ok, ["sh", "-c", "ls | wc -l"], tmp_path)
    trace = parse_file(out)
    assert trace.problems == []
    rep = check_trace(trace)
    assert_lines_point_at_calls(rep)
    forks = rep.by_kind("fork")
    assert len(forks) == 2
    for f in forks:
        assert f.syscall in ("clone", "clone3")
        assert f.errno is None
        assert "use vfork" in f.detail
    for f in rep.by_kind("loader_map_fixed"):
        assert "MAP_FIXED" in line_text(out, f)
    assert rep.verdict == "needs changes"


def test_real_python_start(strace_ok: str, tmp_path: Path) -> None:
    out = capture(strace_ok, [sys.executable, "-c", "pass"], tmp_path)
    trace = parse_file(out)
    assert trace.problems == []
    assert trace.events[0].syscall == "execve"
    rep = check_trace(trace)
    assert_lines_point_at_calls(rep)
    assert {f.kind for f in rep.findings} <= set(KINDS)
    for f in rep.by_kind("enosys"):
        assert f.errno == "ENOSYS"


def test_real_ff_and_yy(strace_ok: str, tmp_path: Path) -> None:
    prefix = tmp_path / "tr"
    run_strace(
        strace_ok, ["-ff", "-tt", "-yy", "-o", str(prefix), "sh", "-c", "ls | wc -l"], tmp_path
    )
    files = sorted(tmp_path.glob("tr.*"))
    assert len(files) == 3
    trace = parse_file(prefix)
    assert trace.problems == []
    assert len(trace.sources) == 3
    pipes = [e for e in trace.events if e.syscall in ("pipe", "pipe2")]
    assert pipes and all(path.startswith("pipe:[") for _, path in pipes[0].fd_paths)
    opened = [e for e in trace.events if e.syscall == "openat" and e.ok]
    assert opened and all(e.path_of(e.result or 0) or "" for e in opened)
    rep = check_trace(trace)
    assert_lines_point_at_calls(rep)
    forks = rep.by_kind("fork")
    assert len(forks) == 2 and all("use vfork" in f.detail for f in forks)


C_PROGRAM = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    char path[4096];
    pid_t pid;
    if (argc < 2) return 2;
    pid = fork();                                   /* fork + exec */
    if (pid == 0) { execl("/bin/true", "true", (char *)0); _exit(127); }
    waitpid(pid, NULL, 0);
    pid = fork();                                   /* fork with work */
    if (pid == 0) {
        char *m = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        memset(m, 1, 65536);
        _exit(m[100] == 1 ? 0 : 1);
    }
    waitpid(pid, NULL, 0);
    snprintf(path, sizeof path, "%s/data.bin", argv[1]);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (ftruncate(fd, 8192) != 0) return 3;
    char *s = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    s[0] = 'x';
    munmap(s, 8192);
    close(fd);
    char *a = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *b = mremap(a, 8192, 1 << 20, MREMAP_MAYMOVE);
    munmap(b, 1 << 20);
    char *c = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(c, 4096, PROT_READ);
    munmap(c, 4096);
    pid = syscall(SYS_fork);                        /* the raw fork system call */
    if (pid == 0) { execl("/bin/true", "true", (char *)0); _exit(127); }
    waitpid(pid, NULL, 0);
    pid = vfork();                                  /* fine without an MMU */
    if (pid == 0) { execl("/bin/true", "true", (char *)0); _exit(127); }
    waitpid(pid, NULL, 0);
    return 0;
}
"""


def test_real_c_program(strace_ok: str, tmp_path: Path) -> None:
    prog = build_c(tmp_path, C_PROGRAM)
    out = capture(strace_ok, [str(prog), str(tmp_path)], tmp_path)
    trace = parse_file(out)
    assert trace.problems == []
    # tmp_path is under /tmp; treat only /dev/shm as ramfs so data.bin is a disk file
    rep = check_trace(trace, BoardLimits(direct_mappable=("/dev/shm",)))
    assert_lines_point_at_calls(rep)
    lines = out.read_text().splitlines()

    # the three forks run one after another, but strace may interleave the children's
    # lines with the parent's, so the findings are matched by what they say, not by order
    forks = rep.by_kind("fork")
    assert sorted((f.errno or "", f.severity) for f in forks) == [
        ("", "change"),
        ("", "fatal"),
        ("EINVAL", "change"),
    ]
    (use_vfork,) = [f for f in forks if f.errno is None and f.severity == "change"]
    (redesign,) = [f for f in forks if f.severity == "fatal"]
    (raw,) = [f for f in forks if f.errno == "EINVAL"]
    assert "use vfork" in use_vfork.detail
    assert "calls mmap" in redesign.detail
    # strace writes "fork() = N", or "fork( <unfinished ...>" when a child's line comes first
    call = lines[raw.line - 1].split(None, 1)[1]
    assert call.startswith(("fork()", "fork( <unfinished ...>")), call
    assert not any("vfork()" in lines[f.line - 1] for f in rep.findings)

    shared = rep.by_kind("shared_write_file")
    assert [(f.errno, f.syscall) for f in shared] == [("ENODEV", "mmap")]
    assert "PROT_READ|PROT_WRITE, MAP_SHARED, 3, 0" in lines[shared[0].line - 1]
    assert "data.bin" in shared[0].detail

    grow = rep.by_kind("mremap_grow")
    assert [f.errno for f in grow] == ["ENOMEM"]
    assert "8192, 1048576, MREMAP_MAYMOVE" in lines[grow[0].line - 1]

    mprot = [f for f in rep.by_kind("enosys") if "4096, PROT_READ)" in lines[f.line - 1]]
    assert [(f.syscall, f.errno) for f in mprot] == [("mprotect", "ENOSYS")]
    assert rep.verdict == "cannot run"
