"""``check`` and ``replay`` agree; verdicts on real programs; the model's answers.

Both commands ask the same model, so on every trace they must find the same
problems: the calls a no-MMU kernel answers with an errno. ``check`` judges
each call on the freshly booted board, ``replay`` runs the whole trace, so
the replay may run out of memory where the fresh board would not (ENOMEM
only); every other problem must be found by both, at the same line.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

import nommu
from nommu import consts
from nommu.cli.strace_commands import load_board
from nommu.strace import Trace, parse_file
from nommu.strace.check import check_trace
from nommu.strace.decisions import Decisions
from nommu.strace.findings import CheckReport
from nommu.strace.replay import ReplayPolicy, replay
from strace_capture import build_c, capture

FIX = Path(__file__).parent / "fixtures"
TRACES = [*sorted(p for p in FIX.glob("*.txt") if p.name != "garbage.txt"), FIX / "ff" / "trace"]
LIBCS = ("uclibc-ng", "musl", "glibc")


def problems_of_replay(trace: Trace, libc: str) -> set[tuple[str, int, str]]:
    r = replay(trace, load_board(None), ReplayPolicy(libc=libc))
    found = {(f.source, f.line, f.errno) for f in r.failures if f.syscall != "setup"}
    found |= {(t.source, t.line, t.errno) for t in r.translations if t.errno}
    return found


def assert_agree(trace: Trace, libc: str) -> CheckReport:
    rep = check_trace(trace, machine=load_board(None), libc=libc)
    by_check = rep.problem_set()
    by_replay = problems_of_replay(trace, libc)
    assert by_check <= by_replay, sorted(by_check - by_replay)
    assert {errno for _, _, errno in by_replay - by_check} <= {"ENOMEM"}, sorted(
        by_replay - by_check
    )
    return rep


@pytest.mark.parametrize("libc", LIBCS)
@pytest.mark.parametrize("path", TRACES, ids=lambda p: p.name)
def test_check_and_replay_agree_on_every_fixture(path: Path, libc: str) -> None:
    assert_agree(parse_file(path), libc)


def test_the_agreement_is_not_vacuous() -> None:
    """The fixtures hold problems of every errno the two commands can meet."""
    seen: set[str] = set()
    for path in TRACES:
        rep = check_trace(parse_file(path), machine=load_board(None))
        seen |= {errno for _, _, errno in rep.problem_set()}
    assert seen >= {"EINVAL", "ENODEV", "EPERM", "ENOMEM", "ENOSYS", "EFBIG"}


# ---------------------------------------------------------------------------------------
# the model's answers: cached and fresh agree, the board is left as it was
# ---------------------------------------------------------------------------------------

QUESTIONS = [
    ("mmap", ("disk", 8192, consts.PROT_READ, consts.MAP_SHARED, 0)),
    ("mmap", ("ramfs", 8192, consts.PROT_READ | consts.PROT_WRITE, consts.MAP_SHARED, 0)),
    ("mmap", ("disk", 8192, consts.PROT_READ, consts.MAP_PRIVATE, 0)),
    ("mmap", ("devzero", 4096, consts.PROT_READ, consts.MAP_SHARED, 0)),
    ("mmap", ("pipe", 4096, consts.PROT_READ, consts.MAP_PRIVATE, 0)),
    ("mmap", ("socket", 4096, consts.PROT_READ, consts.MAP_SHARED, 0)),
    ("mmap", (None, 4096, consts.PROT_READ, consts.MAP_PRIVATE | consts.MAP_FIXED, 0)),
    ("mmap", (None, 4096, consts.PROT_READ, 3, 0)),
    ("alloc", (2 << 20,)),
    ("alloc", (4 << 20,)),
    ("alloc", (8 << 20,)),
    ("ramfs_file", (1 << 20,)),
    ("ramfs_file", (6 << 20,)),
    ("mremap", (None, 3, consts.MAP_PRIVATE, 65536, 16384, 65536, 0, False)),
    ("mremap", (None, 3, consts.MAP_PRIVATE, 8192, 8192, 65536, 1, False)),
    ("mremap", (None, 3, consts.MAP_PRIVATE, 8192, 8192, 8192, 3, True)),
    ("mremap", ("disk", 1, consts.MAP_PRIVATE, 8192, 8192, 4096, 0, False)),
    ("munmap", ("disk", consts.MAP_PRIVATE, 16384, 4096, 4096)),
    ("munmap", (None, consts.MAP_PRIVATE, 16384, 4096, 4096)),
    ("munmap", (None, consts.MAP_PRIVATE, 16384, 0, 20480)),
    ("call", ("fork",)),
    ("call", ("clone", consts.CLONE_VM | consts.CLONE_THREAD)),
    ("call", ("clone", consts.CLONE_VM | consts.CLONE_VFORK)),
    ("call", ("clone", consts.SIGCHLD)),
    ("call", ("shmget", 16 << 20)),
    ("call", ("shmat", 0, 0)),
    ("call", ("shmat", 0x10000, 0)),
    ("call", ("mprotect",)),
    ("call", ("mbind",)),
]


def test_cached_answers_agree_with_fresh_ones_and_the_board_is_left_as_it_was() -> None:
    # ideal: the probe's own process would take a kernel stack and slab on first use
    fresh = Decisions(nommu.Machine(ram="8M", ideal=True))
    fresh.cache = False
    m = nommu.Machine(ram="8M", ideal=True)
    cached = Decisions(m)
    before = m.cat("/proc/buddyinfo")
    for _ in range(2):  # the second round is answered from the cache
        for name, args in QUESTIONS:
            assert getattr(cached, name)(*args) == getattr(fresh, name)(*args), (name, args)
    assert len(cached._answers) == len(QUESTIONS)
    m.validate()
    assert m.cat("/proc/buddyinfo") == before
    assert [p.name for p in m.processes if p.state not in ("Z", "X")] == ["nommu-check"]


def test_the_answers_are_the_models() -> None:
    d = Decisions(nommu.Machine(ram="8M"))
    shared = d.mmap("disk", 8192, consts.PROT_READ, consts.MAP_SHARED, 0)
    assert (shared.errno, shared.detail) == (
        "ENODEV",
        "MAP_SHARED needs memory that can be mapped directly; ext2 cannot provide it for the file",
    )
    assert d.mmap("ramfs", 8192, consts.PROT_READ, consts.MAP_PRIVATE, 0).copy is False
    assert d.mmap("disk", 8192, consts.PROT_READ, consts.MAP_PRIVATE, 0).copy is True
    assert d.alloc(8 << 20).errno == "ENOMEM"
    assert d.call("shmget", 16 << 20).errno == "EFBIG"
    # shmat: ENODEV since v4.0, attaches before (the kernel profile decides)
    assert d.call("shmat", 0, 0).errno == "ENODEV"
    old = Decisions(nommu.Machine(ram="8M", kernel="2.6.24"))
    assert old.call("shmat", 0, 0).ok


# ---------------------------------------------------------------------------------------
# real programs traced on the host: verdicts per C library, and agreement
# ---------------------------------------------------------------------------------------


def judge(out: Path) -> dict[str, CheckReport]:
    trace = parse_file(out)
    assert trace.problems == []
    return {libc: assert_agree(trace, libc) for libc in LIBCS}


def test_real_ls(strace_ok: str, tmp_path: Path) -> None:
    reps = judge(capture(strace_ok, ["ls", "/"], tmp_path))
    for libc in ("uclibc-ng", "musl"):
        rep = reps[libc]
        assert rep.verdict == "runs as is", rep.render_text()
        # glibc's iconv cache (if this ls maps it) is glibc's, not the program's
        assert {n.what for n in rep.host_libc} <= {"gconv_cache", "brk_heap", "locale_archive"}
    kinds = {f.kind for f in reps["glibc"].findings if f.severity != "info"}
    assert kinds <= {"shared_file"}  # glibc's own MAP_SHARED of gconv-modules.cache


def test_real_python_start(strace_ok: str, tmp_path: Path) -> None:
    python = shutil.which("python3", path="/usr/bin") or sys.executable
    reps = judge(capture(strace_ok, [python, "-c", "pass"], tmp_path))
    for libc in ("uclibc-ng", "musl"):
        assert reps[libc].verdict == "runs as is", reps[libc].render_text()
    assert not reps["uclibc-ng"].by_kind("alloc_too_large")


def test_real_sqlite3(strace_ok: str, tmp_path: Path) -> None:
    sqlite = shutil.which("sqlite3")
    if sqlite is None:
        pytest.skip("sqlite3 is not installed")
    reps = judge(capture(strace_ok, [sqlite, ":memory:", "select 1;"], tmp_path))
    for libc in LIBCS:
        assert reps[libc].verdict == "runs as is", reps[libc].render_text()


THREADS = r"""
#include <pthread.h>
#include <stdlib.h>
static void *work(void *a) { char *p = malloc(100000); p[0] = 1; free(p); return a; }
int main(void) {
    pthread_t t[3];
    for (int i = 0; i < 3; i++) pthread_create(&t[i], 0, work, 0);
    for (int i = 0; i < 3; i++) pthread_join(t[i], 0);
    return 0;
}
"""


def test_real_threads(strace_ok: str, tmp_path: Path) -> None:
    prog = build_c(tmp_path, THREADS, ["-pthread"])
    reps = judge(capture(strace_ok, [str(prog)], tmp_path))
    # musl: 128 KiB default stacks, no guard pages, no arenas: nothing to change
    assert reps["musl"].verdict == "runs as is", reps["musl"].render_text()
    musl_apart = {n.what for n in reps["musl"].host_libc}
    assert {"thread_stack_default", "thread_guard"} <= musl_apart
    # uClibc-ng takes the 8 MiB default from the stack limit: each stack is too large, once
    ucl = reps["uclibc-ng"]
    assert ucl.verdict == "cannot run"
    stacks = ucl.by_kind("huge_stack")
    assert len(stacks) == 3 and all(f.syscall.startswith("mmap") for f in stacks)
    assert all("pthread_attr_setstacksize" in f.detail for f in stacks)
    assert not ucl.by_kind("enosys")  # the guard mprotects are glibc's
    # glibc as the target: the guard mprotect and the stacks' madvise are ENOSYS as well
    assert reps["glibc"].by_kind("enosys")


def test_json_doc_names_every_kind_and_habit() -> None:
    from nommu.strace.findings import JSON_SCHEMA, KINDS
    from nommu.strace.libc import ARTEFACTS

    doc = (Path(__file__).resolve().parents[2] / "docs" / "json.md").read_text()
    assert f'"schema": "{JSON_SCHEMA}"' in doc
    for name in [*KINDS, *ARTEFACTS]:
        assert f"`{name}`" in doc, name
