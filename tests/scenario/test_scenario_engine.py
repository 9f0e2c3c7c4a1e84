"""Running scenarios: steps, references, expectations, failures, sampling, workloads."""

from __future__ import annotations

import textwrap

import pytest

import nommu
from nommu.errors import KernelOops
from nommu.report import report_data
from nommu.scenario import Runner, ScenarioError, loads_scenario, run_scenario
from nommu.scenario.result import RunResult

BOARD = """
[board]
ideal = true  # the idealised kernel: these cases pin its addresses
ram = "2M"
kernel_reserved = "512K"
max_order = 6

[[step]]
op = "spawn"
name = "p"
"""

PROGRAMS = """
[board]
ideal = true  # the idealised kernel: these cases pin its addresses
ram = "4M"
kernel_reserved = "1M"
flash = "1M"

[[mount]]
type = "romfs"
target = "/bin"
device = "mtd"

[[mount.file]]
path = "ramapp"
flat = { text = 20000, data = 2000, bss = 3000, relocs = 50 }

[[mount.file]]
path = "xipapp"
flat = { text = 20000, data = 2000, bss = 3000, relocs = 50, ram = false }

[[mount.file]]
path = "notes"
content = "not a program"
executable = true

[[step]]
op = "spawn"
name = "init"
"""


def run(text: str, **kw: object) -> RunResult:
    return run_scenario(loads_scenario(textwrap.dedent(text), "t.toml"), **kw)  # type: ignore[arg-type]


def test_saved_values_and_references() -> None:
    r = run(
        BOARD
        + """
        [[step]]
        op = "mmap"
        proc = "p"
        length = "20K"
        save = "a"

        [[step]]
        op = "munmap"
        proc = "p"
        addr = "$a+8K"
        length = "4K"
        expect = "ok"

        [[step]]
        op = "expect"
        file = "/proc/1/maps"
        line = "80083000-80085000 rw-p 00000000 00:00 0 "
    """
    )
    assert r.ok, r.expectations
    assert r.events == 3 and r.total_failures == 0


def test_repeat_counts_and_loop_variable() -> None:
    r = run(
        BOARD
        + """
        [[step]]
        op = "repeat"
        count = 4
        var = "n"
        steps = [
          { op = "mmap", proc = "p", length = "$n+1", save = "x" },
          { op = "munmap", proc = "p", addr = "$x", length = "$n+1", expect = "ok" },
        ]
    """
    )
    assert r.events == 9
    assert r.expectations[0].checked == 4 and r.expectations[0].passed


def test_expectations_decide_ok() -> None:
    r = run(
        BOARD
        + """
        [[step]]
        op = "mmap"
        proc = "p"
        length = "1M"
        expect = "ok"

        [[step]]
        op = "mmap"
        proc = "p"
        length = "4K"
        expect = "ENOMEM"

        [[step]]
        op = "expect"
        file = "/proc/meminfo"
        absent = "MemFree"

        [[step]]
        op = "repeat"
        count = 0
        steps = [{ op = "expect", free_above = "1K" }]

        [expect]
        min_free = "2M"
    """
    )
    assert not r.ok
    by_what = {e.what: e for e in r.expectations}
    assert not by_what["mmap succeeds"].passed
    assert "failed with ENOMEM" in by_what["mmap succeeds"].detail
    assert not by_what["mmap fails with ENOMEM"].passed
    assert "succeeded (expected ENOMEM)" in by_what["mmap fails with ENOMEM"].detail
    assert not by_what["/proc/meminfo does not contain 'MemFree'"].passed
    never = by_what["free memory >= 1024 bytes"]
    assert never.checked == 0 and not never.passed
    assert not by_what["free memory stays >= 2097152 bytes"].passed


def test_failures_are_recorded_with_log_and_snapshot() -> None:
    r = run(
        BOARD
        + """
        [[step]]
        op = "repeat"
        count = 30
        steps = [{ op = "mmap", proc = "p", length = "200K" }]
    """
    )
    assert r.total_failures == r.unexpected_failures > 20
    assert len(r.failures) == 20  # the first ones in full
    f = r.failures[0]
    assert f.errno == "ENOMEM" and f.op == "mmap" and f.pid == 1 and not f.expected
    assert f.call == ("mmap(NULL, 204800, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)")
    assert (
        f.kernel_log[0] == "p: page allocation failure: order:6, mode:0xcc0(GFP_KERNEL), "
        "nodemask=(null)"
    )
    assert f.kernel_log[1] == "Mem-Info:"
    assert f.kernel_log[7] == "nommu: Allocation of length 204800 from process 1 (p) failed"
    assert f.alloc is not None and f.alloc.order == 6
    assert f.snapshot is not None and f.snapshot.label == "failure"
    assert f.where.field == "step[2].steps[1]"
    counts = {(c.op, c.errno): c.count for c in r.failure_counts}
    assert counts == {("mmap", "ENOMEM"): r.total_failures}


def test_other_failures_keep_the_model_reason() -> None:
    r = run(
        BOARD
        + """
        [[step]]
        op = "munmap"
        proc = "p"
        addr = 0x1000
        length = 4096
    """
    )
    f = r.failures[0]
    assert (f.errno, f.alloc, f.snapshot) == ("EINVAL", None, None)
    assert "nothing mapped" in f.detail
    assert len(f.kernel_log) == 1
    assert f.kernel_log[0].startswith("nommu: munmap of memory not mmapped by process 1 (p): ")


def test_check_validates_after_every_event(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = nommu.Machine.validate

    def counting(self: nommu.Machine) -> None:
        calls.append(1)
        original(self)

    monkeypatch.setattr(nommu.Machine, "validate", counting)
    r = run(
        BOARD
        + """
        [[step]]
        op = "repeat"
        count = 5
        steps = [{ op = "mmap", proc = "p", length = "8K" }]
    """,
        check=True,
    )
    assert len(calls) == r.events == 6


def test_a_wait_that_would_block_names_the_step() -> None:
    with pytest.raises(ScenarioError, match=r"t.toml:\d+: step\[3\]: wait: process 1 would block"):
        run(
            PROGRAMS
            + """
            [[step]]
            op = "start"
            parent = "init"
            name = "x"
            path = "/bin/xipapp"

            [[step]]
            op = "wait"
            proc = "init"
        """
        )


def test_suspended_parent_is_a_scenario_error() -> None:
    with pytest.raises(ScenarioError, match="suspended in vfork"):
        run(
            BOARD
            + """
            [[step]]
            op = "vfork"
            proc = "p"
            child = "c"

            [[step]]
            op = "mmap"
            proc = "p"
            length = 1
        """
        )


def test_exit_reap_and_names_rebind() -> None:
    r = run(
        BOARD
        + """
        [[step]]
        op = "vfork"
        proc = "p"
        child = "c"

        [[step]]
        op = "exit"
        proc = "c"
        reap = true

        [[step]]
        op = "wait"
        proc = "p"
        expect = "ECHILD"

        [[step]]
        op = "spawn"
        name = "c"

        [[step]]
        op = "mmap"
        proc = "c"
        length = 1
        expect = "ok"
    """
    )
    assert r.ok
    assert [p.pid for p in r.final.processes] == [1, 3]


def test_a_kernel_oops_stops_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def oops(self: nommu.Process, *args: object) -> int:
        raise KernelOops("BUG at mm/nommu.c")

    monkeypatch.setattr(nommu.Process, "mmap", oops)
    r = run(
        BOARD
        + """
        [[step]]
        op = "mmap"
        proc = "p"
        length = 1

        [[step]]
        op = "spawn"
        name = "never"
    """
    )
    assert r.stopped is not None
    assert r.stopped.startswith("t.toml:12: step[2]: kernel oops: BUG at mm/nommu.c")
    assert not r.ok
    assert [p.name for p in r.final.processes] == ["p"]


def test_samples_stay_bounded_and_even() -> None:
    scenario = loads_scenario(
        textwrap.dedent(
            BOARD
            + """
        [[step]]
        op = "repeat"
        count = 500
        steps = [
          { op = "mmap", proc = "p", length = "4K", save = "a" },
          { op = "munmap", proc = "p", addr = "$a", length = "4K" },
        ]
    """
        ),
        "t.toml",
    )
    r = Runner(scenario, max_samples=64).run()
    assert r.events == 1001
    assert len(r.samples) <= 65
    assert r.sample_every == 16  # the smallest power of two keeping 1001 events in 64 samples
    gaps = {b.event - a.event for a, b in zip(r.samples, r.samples[1:-1], strict=False)}
    assert gaps == {r.sample_every}
    assert r.samples[0].event == 0 and r.samples[-1].event == r.events


def test_progress_reaches_the_total() -> None:
    seen: list[tuple[int, int]] = []
    r = run(
        BOARD
        + """
        [[step]]
        op = "repeat"
        count = 300
        steps = [{ op = "mmap", proc = "p", length = "1", save = "a" },
                 { op = "munmap", proc = "p", addr = "$a", length = 1 }]

        [[step]]
        op = "workload"
        ticks = 100
        [[step.churn]]
        proc = "p"
        rate = 0.5
        size = "4K"
        hold = 3
    """,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert r.ticks == 100
    assert seen[-1] == (701, 701)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


WORKLOAD = (
    BOARD
    + """
[[step]]
op = "workload"
name = "w"
ticks = 300
snapshots = [100, 200]
[[step.churn]]
proc = "p"
rate = 0.7
size = { min = "1K", max = "64K" }
hold = [1, 50]
max_live = 10
"""
)


def test_workloads_are_deterministic_per_seed() -> None:
    a, b, c = run(WORKLOAD), run(WORKLOAD), run(WORKLOAD, seed=99)
    assert report_data(a) == report_data(b)
    assert report_data(a) != report_data(c)
    assert [s.label for s in a.snapshots] == ["w tick 100", "w tick 200", "end"]
    # drained: everything the churn held is unmapped again
    assert a.final.mmap_copy_pages == 0


def test_churn_respects_max_live() -> None:
    r = run(
        WORKLOAD.replace("max_live = 10", "max_live = 2").replace("hold = [1, 50]", "hold = 1000")
    )
    assert r.final.mmap_copy_pages == 0
    assert r.events == 1 + 2 + 2  # spawn, two mmaps held until the drain unmaps them


# -- programs (the bFLT loader through Process.execve) -----------------------------------


def test_start_exec_and_footprints() -> None:
    r = run(
        PROGRAMS
        + """
        [[step]]
        op = "exec"
        proc = "init"
        path = "/bin/ramapp"
        expect = "ok"

        [[step]]
        op = "start"
        parent = "init"
        name = "x"
        path = "/bin/xipapp"
        argv = ["xipapp", "-d"]
        expect = "ok"

        [[step]]
        op = "expect"
        file = "/proc/2/cmdline"
        contains = "-d"
    """
    )
    assert r.ok, r.expectations
    rows = {p.name: p for p in r.final.processes}
    assert set(rows) == {"ramapp", "xipapp"}
    data = report_data(r)
    fp = {row["name"]: row for row in data["footprint"]}
    assert fp["ramapp"]["text"] == 20000 and fp["ramapp"]["xip"] == 0
    assert fp["xipapp"]["text"] == 0 and fp["xipapp"]["xip"] == 20480
    assert fp["xipapp"]["data"] >= 2000 and fp["xipapp"]["bss"] == 3000


def test_a_start_whose_exec_fails_leaves_the_parent_running() -> None:
    r = run(
        PROGRAMS
        + """
        [[step]]
        op = "start"
        parent = "init"
        name = "bad"
        path = "/bin/notes"
        expect = "ENOEXEC"

        [[step]]
        op = "wait"
        proc = "init"
        save = "pid"
        expect = "ok"
    """
    )
    assert r.ok, r.expectations
    assert r.failures[0].op == "start" and r.failures[0].errno == "ENOEXEC"


def test_exec_failure_explained_with_the_program() -> None:
    r = run(
        PROGRAMS.replace('ram = "4M"', 'ram = "1152K"')
        + """
        [[step]]
        op = "mmap"
        proc = "init"
        length = "100K"

        [[step]]
        op = "start"
        parent = "init"
        name = "a"
        path = "/bin/ramapp"
        expect = "ENOMEM"
    """
    )
    assert r.ok, r.expectations
    f = r.failures[0]
    assert f.alloc is not None and f.program is not None
    assert f.program.loads_into_ram and f.program.text_len == 20000 and f.program.xip_possible
    remedies = report_data(r)["failures"][0]["explanation"]["remedies"]
    assert any("FLAT_FLAG_RAM" in line and "executed in place" in line for line in remedies)


def test_transient_launches_exit_and_are_reaped() -> None:
    r = run(
        PROGRAMS
        + """
        [[step]]
        op = "workload"
        ticks = 50
        [[step.launch]]
        parent = "init"
        path = "/bin/xipapp"
        rate = 1
        lifetime = [1, 5]
        alloc_rate = 0.5
        size = "4K"
        max_live = 3
    """
    )
    assert r.total_failures == 0
    assert r.processes_started > 30
    assert [p.name for p in r.final.processes] == ["init"]
    assert r.final.mmap_copy_pages == 0


def test_launch_with_a_dead_parent_is_a_scenario_error() -> None:
    with pytest.raises(
        ScenarioError,
        match=r"t.toml:\d+: step\[3\].launch\[1\]: launch: process 1 has "
        r"exited",
    ):
        run(
            PROGRAMS
            + """
            [[step]]
            op = "exit"
            proc = "init"

            [[step]]
            op = "workload"
            ticks = 5
            [[step.launch]]
            parent = "init"
            path = "/bin/xipapp"
            rate = 1
            lifetime = 1
        """
        )


def test_disk_and_network_filesystems_with_files() -> None:
    r = run("""
        [board]
        ideal = true  # the idealised kernel: these cases pin its addresses
        ram = "2M"
        kernel_reserved = "512K"

        [[mount]]
        type = "ext2"
        target = "/mnt"
        [[mount.file]]
        path = "data/a"
        size = "10000"
        fill = 65

        [[mount]]
        type = "nfs"
        target = "/net"
        ro = true
        [[mount.file]]
        path = "b"
        content = "remote"

        [[mount]]
        type = "ramfs"
        target = "/run"
        [[mount.file]]
        path = "c"
        hex = "0102"
        mode = "0600"

        [[step]]
        op = "spawn"
        name = "p"

        [[step]]
        op = "open"
        proc = "p"
        path = "/mnt/data/a"
        save = "fd"

        [[step]]
        op = "mmap"
        proc = "p"
        length = 10000
        prot = "r"
        fd = "$fd"
        save = "m"

        [[step]]
        op = "peek"
        proc = "p"
        addr = "$m+9998"
        count = 2
        equals = "AA"

        [[step]]
        op = "mmap"
        proc = "p"
        length = 10000
        prot = "r"
        flags = "MAP_SHARED"
        fd = "$fd"
        expect = "ENODEV"

        [[step]]
        op = "open"
        proc = "p"
        path = "/net/b"
        flags = "O_RDWR"
        expect = "EROFS"

        [[step]]
        op = "expect"
        file = "/run/c"
        contains = "\\u0001\\u0002"
    """)
    assert r.ok, [e for e in r.expectations if not e.passed]


def test_files_cannot_go_on_read_only_filesystems() -> None:
    with pytest.raises(
        ScenarioError,
        match=r"t.toml:\d+: file\[1\]: path: /r is on a "
        r"read-only filesystem",
    ):
        run("""
            [[mount]]
            type = "ramfs"
            target = "/r"
            ro = true

            [[file]]
            path = "/r/x"
            content = "y"
        """)


def test_a_step_reading_a_value_its_failed_step_did_not_save_is_skipped() -> None:
    r = run(
        BOARD
        + """
        [[step]]
        op = "repeat"
        count = 3
        steps = [
          { op = "mmap", proc = "p", length = "300K", save = "a" },
          { op = "munmap", proc = "p", addr = "$a", length = "300K", save = "b" },
          { op = "brk", proc = "p", addr = "$b" },
        ]
    """
    )
    assert r.total_failures == 3  # order 7 is above max order 6
    assert r.skipped_steps == 6
    assert r.events == 1 + 3


SHARED_TEXT = """
[board]
ram = "4M"
kernel_reserved = "1M"

[[mount]]
type = "romfs"
target = "/bin"
device = "block"

[[mount.file]]
path = "app"
flat = { text = 20000, data = 2000, bss = 3000, relocs = 50, ram = false }

[[step]]
op = "spawn"
name = "init"

[[step]]
op = "workload"
ticks = 300
snapshots = [100, 200, 299]
[[step.launch]]
parent = "init"
path = "/bin/app"
rate = 0.7
lifetime = [1, 30]
alloc_rate = 0.2
size = "4K"
hold = [1, 10]
"""


def test_names_of_gone_processes_are_dropped_but_never_needed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The runner forgets names no snapshot can ask for: the report is the same."""
    import nommu.scenario.engine as engine
    from nommu.report import render_json

    full = run(SHARED_TEXT)
    monkeypatch.setattr(engine, "NAMES_KEPT", 4)
    scenario = loads_scenario(textwrap.dedent(SHARED_TEXT), "t.toml")
    runner = Runner(scenario)
    pruned = runner.run()
    assert pruned.processes_started > 100
    assert len(runner.pid_names) < 40  # the live processes and the creators of live regions
    # the text copy outlives the process that made it: its creator is still named
    owners = {
        a.owner_name
        for s in pruned.snapshots
        for a in s.allocations
        if a.label == "/bin/app" and a.owner_pid not in {p.pid for p in s.processes}
    }
    assert owners == {"app"}
    assert render_json(report_data(pruned)) == render_json(report_data(full))


def test_the_bookkeeping_closure_agrees_with_the_method(monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-event bookkeeping fast path gives the report the plain method gives."""
    from nommu.report import render_json
    from nommu.scenario.engine import Runner as EngineRunner

    fast = run(SHARED_TEXT)
    monkeypatch.setattr(EngineRunner, "_bookkeeping", lambda self: self._after_event)
    slow = run(SHARED_TEXT)
    assert render_json(report_data(fast)) == render_json(report_data(slow))
    assert fast.samples == slow.samples and fast.min_largest_event == slow.min_largest_event
