"""The strace parser on hand-written fixtures of every output variant."""

from __future__ import annotations

import dataclasses
import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nommu import consts
from nommu.strace import (
    AT_FDCWD,
    CloneArgs,
    CloseArgs,
    DupArgs,
    Event,
    EventKind,
    ExecveArgs,
    ExitArgs,
    FtruncateArgs,
    MmapArgs,
    OpenArgs,
    PipeArgs,
    ReadWriteArgs,
    TraceError,
    decode_c_string,
    decode_flags,
    parse_file,
    parse_lines,
    split_args,
)
from nommu.strace.parse import _MAP, _PROT

FIX = Path(__file__).parent / "fixtures"


def at(trace_events: list[Event], line: int, pid: int | None = None) -> Event:
    """The syscall event that starts at ``line`` (and belongs to ``pid``)."""
    found = [
        e
        for e in trace_events
        if e.line == line and e.kind is EventKind.SYSCALL and (pid is None or e.pid == pid)
    ]
    assert len(found) == 1, f"{len(found)} events at line {line}"
    return found[0]


# ---------------------------------------------------------------------------------------
# Single process, no pid column
# ---------------------------------------------------------------------------------------


def test_no_pid_column_uses_default_pid_and_decodes_mm_calls() -> None:
    trace = parse_file(FIX / "nopid.txt", default_pid=42)
    assert trace.problems == []
    assert trace.line_count == 13
    assert {e.pid for e in trace.events} == {42}
    ex = at(trace.events, 1)
    assert ex.decoded == ExecveArgs("/bin/prog", ("prog", "-v"), False)
    brk = at(trace.events, 2)
    assert brk.result == 0x55D4A8C2E000
    anon = at(trace.events, 3)
    assert anon.decoded == MmapArgs(0, 8192, 3, 0x22, -1, 0, None)
    op = at(trace.events, 4)
    assert op.decoded == OpenArgs(AT_FDCWD, "/etc/ld.so.cache", consts.O_CLOEXEC, 0)
    assert op.result == 3
    filemap = at(trace.events, 5)
    assert isinstance(filemap.decoded, MmapArgs)
    assert filemap.decoded.path == "/etc/ld.so.cache"
    assert filemap.fd_paths == ((3, "/etc/ld.so.cache"),)
    assert at(trace.events, 6).decoded == CloseArgs(3, "/etc/ld.so.cache")
    m2 = at(trace.events, 7)
    # mmap2's offset is in pages; the record holds bytes
    assert m2.decoded == MmapArgs(0, 4096, 7, 0x20022, -1, 0x2000, None)
    failed = at(trace.events, 8)
    assert failed.result == -1
    assert failed.errno == "ENOMEM"
    assert failed.comment == "Cannot allocate memory"
    assert isinstance(failed.decoded, MmapArgs)
    assert failed.decoded.flags == 0x2 | 0x20 | 0x4000 | 0x40000
    assert failed.decoded.prot == consts.PROT_NONE
    assert not failed.ok
    op2 = at(trace.events, 10)
    assert op2.decoded == OpenArgs(
        AT_FDCWD, "/tmp/x", consts.O_WRONLY | consts.O_CREAT | consts.O_TRUNC, 0o644
    )
    assert at(trace.events, 11).decoded == ReadWriteArgs(4, 6, "/tmp/x")
    eg = at(trace.events, 12)
    assert eg.decoded == ExitArgs(0)
    assert eg.result is None
    exited = trace.events[-1]
    assert (exited.kind, exited.line, exited.result) == (EventKind.EXITED, 13, 0)


def test_default_pid_is_one() -> None:
    trace = parse_lines(["getpid() = 5"])
    assert trace.events[0].pid == 1
    assert trace.events[0].result == 5


def test_instruction_pointer_and_syscall_number_prefixes() -> None:
    trace = parse_lines(
        [
            "[00007f1234567890] brk(NULL) = 0x1000",
            "[  9] munmap(0x7f0000000000, 4096) = 0",
            "77    [00007f1234567890] getpid() = 77",
        ]
    )
    assert trace.problems == []
    assert [(e.pid, e.syscall, e.result) for e in trace.events] == [
        (1, "brk", 0x1000),
        (1, "munmap", 0),
        (77, "getpid", 77),
    ]


def test_events_are_frozen() -> None:
    trace = parse_file(FIX / "nopid.txt")
    ev = trace.events[2]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ev.line = 7  # type: ignore[misc]
    assert isinstance(ev.decoded, MmapArgs)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ev.decoded.length = 1  # type: ignore[misc]
    assert ev == dataclasses.replace(ev)
    assert hash(ev) == hash(dataclasses.replace(ev))


# ---------------------------------------------------------------------------------------
# -f: pid columns, unfinished/resumed, fd tables across clone and exec
# ---------------------------------------------------------------------------------------


def test_pid_columns_and_fd_tables_across_clone_and_exec() -> None:
    trace = parse_file(FIX / "pid_f.txt")
    assert trace.problems == []
    assert trace.pids() == [1200, 1201]
    pipe = at(trace.events, 2)
    assert pipe.decoded == PipeArgs(3, 4, consts.O_CLOEXEC)
    clone = at(trace.events, 3)
    assert isinstance(clone.decoded, CloneArgs)
    assert clone.decoded.flags == consts.CLONE_CHILD_CLEARTID | consts.CLONE_CHILD_SETTID
    assert clone.decoded.exit_signal == consts.SIGCHLD
    assert clone.result == 1201
    # "[pid  1201]" prefix
    assert at(trace.events, 4).pid == 1201
    assert at(trace.events, 4).decoded == DupArgs(4, 1, 0, "pipe:[?]")
    # unfinished close in the parent, merged with its resume line
    close = at(trace.events, 6)
    assert (close.pid, close.resume_line, close.result) == (1200, 8, 0)
    assert close.decoded == CloseArgs(4, "pipe:[?]")
    execve = at(trace.events, 7)
    assert (execve.pid, execve.resume_line, execve.result) == (1201, 9, 0)
    # fd 1 survives exec (dup2 clears close-on-exec); 3 and 4 were O_CLOEXEC
    assert at(trace.events, 10).fd_paths == ((1, "pipe:[?]"),)
    assert at(trace.events, 11).decoded == CloseArgs(4, None)
    # the parent's copy of the table is untouched by the child's close(3)
    assert at(trace.events, 15).decoded == ReadWriteArgs(3, 4096, "pipe:[?]")
    sig = next(e for e in trace.events if e.kind is EventKind.SIGNAL)
    assert (sig.line, sig.pid, sig.signal) == (14, 1200, "SIGCHLD")
    assert sig.comment is not None and "si_pid=1201" in sig.comment
    wait = at(trace.events, 16)
    assert wait.result == 1201
    assert wait.args == ("-1", "[{WIFEXITED(s) && WEXITSTATUS(s) == 0}]", "0", "NULL")


def test_fd_tracking_threads_vfork_dup_fcntl_cloexec() -> None:
    trace = parse_file(FIX / "fdtrack.txt")
    assert trace.problems == []
    ev = trace.events
    # CLONE_FILES: the thread's open is visible to the parent
    assert at(ev, 4).decoded == ReadWriteArgs(4, 16, "/data/b.bin")
    assert at(ev, 5).decoded == DupArgs(3, None, 0, "/data/a.bin")
    assert at(ev, 6).decoded == DupArgs(5, 7, consts.O_CLOEXEC, "/data/a.bin")
    assert at(ev, 7).fd_paths == ((7, "/data/a.bin"), (10, "/data/a.bin"))
    # vfork child: its own copy of the table
    assert at(ev, 10).decoded == ReadWriteArgs(3, 1, None)
    assert at(ev, 11).decoded == ReadWriteArgs(3, 1, "/data/a.bin")
    # after exec: fd 7 (dup3 O_CLOEXEC) is gone, fd 5 (dup) stays
    assert at(ev, 13).decoded == ReadWriteArgs(7, 1, None)
    assert at(ev, 14).decoded == ReadWriteArgs(5, 1, "/data/a.bin")
    assert at(ev, 15).decoded == FtruncateArgs(4, 8192, "/data/b.bin")
    assert at(ev, 17).decoded == ReadWriteArgs(4, 1, None)
    # openat relative to a directory descriptor
    rel = at(ev, 19)
    assert rel.decoded == OpenArgs(8, "rel.txt", 0, 0)
    assert at(ev, 20).decoded == ReadWriteArgs(9, 1, "/data/rel.txt")
    assert at(ev, 22).decoded == ReadWriteArgs(11, 1, "/memfd:ring")


# ---------------------------------------------------------------------------------------
# -ff: one file per process
# ---------------------------------------------------------------------------------------


def test_ff_prefix_merges_files_by_timestamp() -> None:
    trace = parse_file(FIX / "ff" / "trace")
    assert trace.problems == []
    assert [Path(s).name for s in trace.sources] == ["trace.100", "trace.101"]
    assert trace.line_count == 8
    order = [(e.pid, e.line, e.syscall or e.kind.value) for e in trace.events]
    assert order == [
        (100, 1, "execve"),
        (100, 2, "openat"),
        (100, 3, "clone"),
        (101, 1, "read"),
        (101, 2, "exit_group"),
        (101, 3, "exited"),
        (100, 4, "wait4"),
        (100, 5, "exited"),
    ]
    read = at(trace.events, 1, pid=101)
    assert Path(read.source).name == "trace.101"
    # the child inherited a copy of the parent's descriptor table
    assert read.decoded == ReadWriteArgs(3, 10, "/etc/passwd")
    assert read.time == pytest.approx(36000.0004)


def test_ff_explicit_file_list_and_single_ff_file() -> None:
    files = [FIX / "ff" / "trace.101", FIX / "ff" / "trace.100"]
    trace = parse_file(files)
    assert {e.pid for e in trace.events} == {100, 101}
    one = parse_file(FIX / "ff" / "trace.101")
    assert {e.pid for e in one.events} == {101}
    assert at(one.events, 1).decoded == ReadWriteArgs(3, 10, None)


def test_unreadable_inputs_raise_trace_error(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="no such trace file"):
        parse_file(tmp_path / "missing")
    with pytest.raises(TraceError, match="not a regular file"):
        parse_file(tmp_path)
    with pytest.raises(TraceError, match="no trace files"):
        parse_file([])
    with pytest.raises(TraceError, match="cannot read"):
        parse_file([tmp_path / "missing.1"])


# ---------------------------------------------------------------------------------------
# timestamps
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "times"),
    [
        ("time_t.txt", [45296.0, 45297.0, 45297.0]),
        ("time_tt.txt", [45296.123456, 45296.5]),
        ("time_ttt.txt", [1700000000.123456, 1700000001.000001]),
        ("time_r.txt", [0.0, 0.000321]),
    ],
)
def test_timestamps(name: str, times: list[float]) -> None:
    trace = parse_file(FIX / name)
    assert trace.problems == []
    assert [e.time for e in trace.events] == pytest.approx(times)
    assert all(e.duration is None for e in trace.events)


def test_timestamp_values_decode_the_call() -> None:
    tt = parse_file(FIX / "time_tt.txt")
    assert tt.events[0].decoded == MmapArgs(0, 4096, 1, 0x22, -1, 0, None)
    ttt = parse_file(FIX / "time_ttt.txt")
    assert (ttt.events[0].syscall, ttt.events[0].result) == ("getpid", 77)
    r = parse_file(FIX / "time_r.txt")
    assert r.events[1].result == 0x5600000000


def test_durations_T() -> None:
    trace = parse_file(FIX / "time_T.txt")
    assert trace.problems == []
    assert [e.duration for e in trace.events] == [0.000012, 0.00034, 1.5]
    assert trace.events[0].decoded == OpenArgs(AT_FDCWD, "/etc/hosts", 0, 0)
    assert trace.events[1].decoded == ReadWriteArgs(3, 4096, "/etc/hosts")
    assert (trace.events[2].line, trace.events[2].resume_line, trace.events[2].result) == (3, 4, 0)


def test_pid_column_with_timestamps() -> None:
    trace = parse_file(FIX / "time_f.txt")
    assert trace.problems == []
    got = [(e.pid, e.syscall, e.result, e.duration) for e in trace.events]
    assert got == [
        (1234, "close", 0, 0.00001),
        (1235, "getpid", 1235, 0.000002),
        (1234, "dup", 3, None),
        (1234, "getppid", 1, None),
    ]
    times = [e.time for e in trace.events]
    assert times == pytest.approx([45296.0001, 45296.0002, 1700000000.0003, 0.0004])


# ---------------------------------------------------------------------------------------
# -y / -yy, -xx, truncated strings
# ---------------------------------------------------------------------------------------


def test_y_annotations_win_and_are_recorded() -> None:
    trace = parse_file(FIX / "yy.txt")
    assert trace.problems == []
    ev = trace.events
    op = at(ev, 1)
    assert op.decoded == OpenArgs(AT_FDCWD, "lib.so", consts.O_CLOEXEC, 0)
    assert op.fd_paths == ((AT_FDCWD, "/home/u"), (3, "/usr/lib/lib.so"))
    m = at(ev, 2)
    assert isinstance(m.decoded, MmapArgs)
    assert (m.decoded.fd, m.decoded.path) == (3, "/usr/lib/lib.so")
    assert at(ev, 3).fd_paths == ((4, "TCP:[98765]"),)
    assert at(ev, 5).path_of(4) == "TCP:[10.0.0.2:40000->10.0.0.1:80]"
    assert at(ev, 5).args[0] == "4<TCP:[10.0.0.2:40000->10.0.0.1:80]>"
    assert at(ev, 6).decoded == PipeArgs(5, 6, 0)
    assert at(ev, 6).fd_paths == ((5, "pipe:[5678]"), (6, "pipe:[5678]"))
    dup = at(ev, 7)
    assert dup.result == 0
    assert dup.path_of(0) == "pipe:[5678]"
    assert at(ev, 8).fd_paths == ((1, "/dev/null"),)
    assert at(ev, 9).decoded == ReadWriteArgs(7, 1, "/tmp/log")
    shm = at(ev, 10)
    assert isinstance(shm.decoded, MmapArgs)
    assert shm.decoded.path == "/dev/shm/seg"
    assert shm.decoded.flags == consts.MAP_SHARED
    assert at(ev, 12).decoded == ReadWriteArgs(3, 1, None)


def test_hex_and_truncated_strings() -> None:
    trace = parse_file(FIX / "xx.txt")
    assert trace.problems == []
    read = trace.events[0]
    assert read.args == ("3", '"\\x7f\\x45\\x4c\\x46\\x02\\x01\\x01\\x00"', "8")
    assert decode_c_string(read.args[1]) == (b"\x7fELF\x02\x01\x01\x00", False)
    assert trace.events[1].args[1] == '"abc"...'
    assert decode_c_string(trace.events[1].args[1]) == (b"abc", True)
    assert trace.events[1].decoded == ReadWriteArgs(1, 4096, None)
    ex = trace.events[2].decoded
    assert ex == ExecveArgs("/bin/echo", ("echo", 'a"b', "tab\there", "été"), True)
    op = trace.events[3].decoded
    assert isinstance(op, OpenArgs)
    assert op.path == '/tmp/comma, paren) and "quote"'
    assert decode_c_string(trace.events[4].args[1]) == (b"\x00\x01\x02", True)


def test_decode_c_string_escapes() -> None:
    assert decode_c_string(r'"\177\0\n\t\\\""') == (b'\x7f\x00\n\t\\"', False)
    with pytest.raises(ValueError, match="not a string literal"):
        decode_c_string("0x7ffd1000")


# ---------------------------------------------------------------------------------------
# split calls, signals, exits, attach
# ---------------------------------------------------------------------------------------


def test_unfinished_resumed_killed_and_detached() -> None:
    trace = parse_file(FIX / "unfinished.txt")
    assert trace.problems == []
    summary = [
        (e.line, e.pid, e.kind.value, e.syscall, e.resume_line, e.result) for e in trace.events
    ]
    assert summary == [
        (1, 10, "syscall", "mmap", 3, 0x7F0000010000),
        (4, 12, "syscall", "exit_group", 6, None),
        (7, 12, "exited", "", None, 1),
        (5, 10, "syscall", "clone3", 8, 13),
        (2, 11, "syscall", "futex", None, None),  # never resumed: flushed when killed
        (9, 11, "killed", "", None, None),
        (10, 10, "syscall", "wait4", 11, 13),
        (12, 10, "syscall", "read", None, None),  # <detached ...>
        (13, 10, "syscall", "clone3", 14, 14),
    ]
    mmap = trace.events[0].decoded
    assert mmap == MmapArgs(0, 8192, 3, 0x22, -1, 0, None)
    clone3 = trace.events[3].decoded
    assert clone3 == CloneArgs(
        consts.CLONE_VM | consts.CLONE_VFORK, consts.SIGCHLD, 0x7F0000020000, 0x9000, 0, 0, 0
    )
    assert trace.events[6].args[1] == "[{WIFEXITED(s) && WEXITSTATUS(s) == 0}]"
    # "<... clone3 resumed> => {...}": strace's "changed to" part joins the first argument
    thread = trace.events[8]
    assert thread.args == (
        "{flags=CLONE_VM|CLONE_THREAD, exit_signal=0, stack=0x7f0000030000, "
        "stack_size=0x10000} => {parent_tid=[14]}",
        "88",
    )
    assert thread.decoded == CloneArgs(
        consts.CLONE_VM | consts.CLONE_THREAD, 0, 0x7F0000030000, 0x10000, 0, 0, 0
    )


def test_signals_exits_attach_and_odd_results() -> None:
    trace = parse_file(FIX / "signals_exits.txt")
    assert trace.problems == []
    kinds = [(e.line, e.pid, e.kind.value, e.signal, e.comment) for e in trace.events[:7]]
    assert kinds[0] == (1, 700, "attached", None, None)
    assert kinds[1][:4] == (2, 700, "signal", "SIGCHLD")
    assert kinds[2][:4] == (3, 700, "signal", "SIGSEGV")
    assert kinds[3] == (4, 700, "signal", "SIGSTOP", "stopped")
    assert kinds[4] == (5, 701, "exited", None, None)
    assert trace.events[4].result == 3
    assert kinds[5] == (6, 702, "killed", "SIGKILL", None)
    assert kinds[6] == (7, 703, "killed", "SIGSEGV", "core dumped")
    restart = at(trace.events, 9)
    assert (restart.resume_line, restart.result, restart.errno) == (10, None, "ERESTARTSYS")
    assert restart.comment == "To be restarted if SA_RESTART is set"
    sel = at(trace.events, 11)
    assert (sel.result, sel.errno, sel.comment) == (0, None, "Timeout")
    fl = at(trace.events, 12)
    assert (fl.result, fl.comment) == (0x8002, "flags O_RDWR|O_LARGEFILE")
    assert (trace.events[-1].kind, trace.events[-1].line) == (EventKind.DETACHED, 13)


def test_a_reused_pid_starts_with_the_parents_descriptors() -> None:
    trace = parse_lines(
        [
            '101   openat(AT_FDCWD, "/old", O_RDONLY) = 5',
            "101   +++ exited with 0 +++",
            '100   openat(AT_FDCWD, "/new", O_RDONLY) = 3',
            "100   clone(child_stack=NULL, flags=SIGCHLD) = 101",
            '101   read(5, "", 1) = -1 EBADF (Bad file descriptor)',
            '101   read(3, "", 1) = 0',
        ]
    )
    assert trace.problems == []
    assert trace.events[-2].decoded == ReadWriteArgs(5, 1, None)
    assert trace.events[-1].decoded == ReadWriteArgs(3, 1, "/new")


def test_attach_messages_without_the_strace_prefix() -> None:
    trace = parse_lines(["Process 55 attached", "55    getpid() = 55", "Process 55 detached"])
    assert trace.problems == []
    assert [(e.kind, e.pid) for e in trace.events] == [
        (EventKind.ATTACHED, 55),
        (EventKind.SYSCALL, 55),
        (EventKind.DETACHED, 55),
    ]


def test_garbage_lines_are_reported_and_skipped() -> None:
    trace = parse_file(FIX / "garbage.txt")
    problems = [(p.line, p.reason) for p in trace.problems]
    assert problems == [
        (2, "not a system call line"),
        (3, "no '= result' after the call"),
        (4, "no '= result' after the call"),
        (5, "cannot decode mmap arguments: invalid literal for int() with base 0: 'zork'"),
        (7, "not a system call line"),
        (8, "unrecognised '+++' line"),
        (9, "unrecognised signal line"),
        (12, "strace message, not a traced event"),
    ]
    assert [(e.line, e.syscall, e.decoded is None) for e in trace.events] == [
        (1, "mmap", False),
        (5, "mmap", True),  # kept, undecoded
        (6, "frobnicate", True),  # resumed without a start: attached mid-call
        (10, "munmap", False),
    ]
    assert trace.problems[0].text == "this is not strace output"


# ---------------------------------------------------------------------------------------
# argument splitting and flags
# ---------------------------------------------------------------------------------------


def test_split_args_respects_nesting() -> None:
    assert split_args("") == ()
    assert split_args("3, 4") == ("3", "4")
    text = '{a=1, b=[2, 3]}, "x, y", f(1, 2), 5<p, q>, ~[RTMIN RT_1], 7'
    assert split_args(text) == (
        "{a=1, b=[2, 3]}",
        '"x, y"',
        "f(1, 2)",
        "5<p, q>",
        "~[RTMIN RT_1]",
        "7",
    )
    assert split_args("{flags=CLONE_VM} => {parent_tid=[9]}, 88") == (
        "{flags=CLONE_VM} => {parent_tid=[9]}",
        "88",
    )
    assert split_args("MAP_HUGETLB|21<<MAP_HUGE_SHIFT, 3") == (
        "MAP_HUGETLB|21<<MAP_HUGE_SHIFT",
        "3",
    )


def test_decode_flags() -> None:
    assert decode_flags("PROT_READ|PROT_EXEC", _PROT) == 5
    assert decode_flags("PROT_NONE", _PROT) == 0
    assert decode_flags("MAP_PRIVATE|MAP_ANONYMOUS|MAP_STACK", _MAP) == 0x20022
    assert decode_flags("MAP_SHARED_VALIDATE|MAP_SYNC", _MAP) == 0x80003
    assert decode_flags("MAP_PRIVATE|0x40000000", _MAP) == 0x40000002
    assert decode_flags("MAP_HUGETLB|21<<MAP_HUGE_SHIFT", _MAP) == 0x40000 | (21 << 26)
    assert decode_flags("0x22 /* MAP_PRIVATE|MAP_ANONYMOUS */", _MAP) == 0x22
    assert decode_flags("34", _MAP) == 34
    assert decode_flags("MAP_PRIVATE|MAP_NEW_THING", _MAP) == 2


_ATOM = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**64).map(str),
    st.integers(min_value=0, max_value=2**64).map(hex),
    st.text(alphabet=string.ascii_uppercase + "_|", min_size=1, max_size=12).filter(
        lambda s: s.strip() == s and s[0] != "|"
    ),
    st.text(alphabet=string.printable, max_size=20).map(
        lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
    ),
    # strace escapes quotes and angle brackets in -y paths, not the other brackets
    st.builds(lambda n, p: f"{n}<{p}>", st.integers(0, 999), st.text("/abc, []{}()", max_size=10)),
    st.builds(lambda n: f"{n}</dev/null<char 1:3>>", st.integers(0, 9)),
)


def _nested(children: st.SearchStrategy[list[str]]) -> st.SearchStrategy[str]:
    return st.one_of(
        children.map(lambda xs: "[" + ", ".join(xs) + "]"),
        children.map(lambda xs: "{" + ", ".join(f"k{i}={x}" for i, x in enumerate(xs)) + "}"),
        children.map(lambda xs: "f(" + ", ".join(xs) + ")"),
    )


_ARG = st.recursive(_ATOM, lambda inner: _nested(st.lists(inner, max_size=4)), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(st.lists(_ARG, min_size=1, max_size=6))
def test_split_args_round_trip(args: list[str]) -> None:
    assert split_args(", ".join(args)) == tuple(args)


def _strace_quote(data: bytes) -> str:
    """Quote as strace does: octal escapes take 3 digits when a digit follows."""
    out = []
    for i, b in enumerate(data):
        next_is_digit = i + 1 < len(data) and 0x30 <= data[i + 1] <= 0x39
        ch = chr(b)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif 32 <= b < 127:
            out.append(ch)
        else:
            octal = f"\\{b:03o}" if next_is_digit else f"\\{b:o}"
            out.append(octal if b % 3 else f"\\x{b:02x}")
    return '"' + "".join(out) + '"'


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40), st.booleans())
def test_decode_c_string_round_trip(data: bytes, cut: bool) -> None:
    token = _strace_quote(data) + ("..." if cut else "")
    assert decode_c_string(token) == (data, cut)


def test_tt_fast_path_agrees_with_the_prefix_regex() -> None:
    """'1234  12:34:56.123456 call' takes a fast path; '[pid 1234] ...' the regex: same events."""
    fast = [
        "1234  12:34:56.123456 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)"
        " = 0x7f0000000000",
        '1234  23:59:59.999999 openat(AT_FDCWD, "/etc/x", O_RDONLY <unfinished ...>',
        "1235  00:00:00.000001 exit_group(0) = ?",
        "1234  23:59:59.999999 <... openat resumed>) = 3",
        "1234  01:02:03.5 brk(NULL) = 0x5600",
        "1234  01:02:03.x brk(NULL) = 0x5600",  # not a time: the regex decides
    ]
    slow = [line.replace("1234  ", "[pid  1234] ").replace("1235  ", "[pid  1235] ")
            for line in fast]  # fmt: skip

    def key(lines: list[str]) -> list[tuple[object, ...]]:
        tr = parse_lines(lines)
        return [(e.line, e.pid, e.time, e.syscall, e.raw_args, e.result) for e in tr.events] + [
            (p.line, p.reason) for p in tr.problems
        ]

    assert key(fast) == key(slow)
    assert parse_lines(fast[:1]).events[0].time == 12 * 3600 + 34 * 60 + 56.123456
