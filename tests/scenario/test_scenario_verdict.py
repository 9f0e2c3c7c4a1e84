"""The verdict: any failure the scenario does not expect or allow makes the board fail."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from nommu.report import render_text, report_data
from nommu.report.data import duration_text, tick_text
from nommu.scenario import Runner, RunResult, ScenarioError, loads_scenario, run_scenario

BOARD = """
[scenario]
name = "v"
{scenario}
[board]
ram = "1M"
kernel_reserved = "256K"
max_order = 6
[[step]]
op = "spawn"
name = "app"
[[step]]
op = "mmap"
proc = "app"
length = "1M"
{step}
[[step]]
op = "mmap"
proc = "app"
length = "4K"
{expect}
"""


def _run(step: str = "", expect: str = "", scenario: str = "") -> object:
    text = BOARD.format(step=step, expect=expect, scenario=scenario)
    return run_scenario(loads_scenario(text, "v.toml"))


def test_an_unexpected_failure_fails_the_board_with_no_expectation_at_all() -> None:
    r = _run()
    assert r.expectations == () and r.unexpected_failures == 1  # type: ignore[attr-defined]
    assert not r.ok  # type: ignore[attr-defined]
    v = report_data(r)["verdict"]  # type: ignore[arg-type]
    assert not v["fits"]
    assert v["headline"].startswith(
        "Does it fit? NO: 1 failure the scenario does not expect or allow; the first: "
        "mmap ENOMEM app at tick 0 (event 2)"
    )
    assert "One run (seed 0)" in v["headline"]
    text = render_text(report_data(r))  # type: ignore[arg-type]
    assert "Result: FAILS: 1 failure" in text and "Result: OK" not in text


@pytest.mark.parametrize(
    ("step", "expect"),
    [
        ('expect = "ENOMEM"', ""),
        ('allow = "ENOMEM"', ""),
        ('allow = ["EINVAL", "ENOMEM"]', ""),
        ('allow = "any"', ""),
        ("", '[expect]\nallow = "ENOMEM"'),
        ("", '[expect]\nallow = ["mmap ENOMEM app"]'),
        ("", "[expect]\nmax_failures = 1"),
    ],
)
def test_expected_or_allowed_failures_are_not_held_against_it(step: str, expect: str) -> None:
    r = _run(step, expect)
    assert r.ok and r.total_failures == 1  # type: ignore[attr-defined]
    assert report_data(r)["verdict"]["headline"].startswith("Does it fit? YES")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("step", "expect"),
    [
        ('allow = "EINVAL"', ""),
        ("", '[expect]\nallow = "exec ENOMEM"'),
        ("", '[expect]\nallow = "mmap ENOMEM cgi"'),
    ],
)
def test_allowing_another_failure_does_not_allow_this_one(step: str, expect: str) -> None:
    assert not _run(step, expect).ok  # type: ignore[attr-defined]


def test_allow_and_expect_together_and_bad_allow_values_are_errors() -> None:
    with pytest.raises(ScenarioError, match=r"v.toml:\d+: step\[2\].allow: give expect"):
        loads_scenario(
            BOARD.format(step='expect = "ENOMEM"\nallow = "ENOMEM"', expect="", scenario=""),
            "v.toml",
        )
    with pytest.raises(ScenarioError, match=r"step\[2\].allow: expected an errno name"):
        loads_scenario(BOARD.format(step='allow = "ENOMEME"', expect="", scenario=""), "v.toml")
    with pytest.raises(ScenarioError, match=r"scenario.tick: expected a positive duration"):
        loads_scenario(BOARD.format(step="", expect="", scenario='tick = "3 parsecs"'), "v.toml")


def test_a_new_kind_of_failure_is_counted_by_the_verdict_unchanged() -> None:
    """Another part of the model records its own kind (an OOM kill, say) through
    note_failure: counted, marked, explained and held against the run, or allowed."""
    for allow, fits in (("", False), ('[expect]\nallow = "oom-kill"', True)):
        text = BOARD.format(step='allow = "ENOMEM"', expect=allow, scenario="")
        r = _run_with_oom_kill(text)
        assert r.ok is fits
        keys = [c.key for c in r.failure_counts]
        assert keys == ["mmap ENOMEM app", "oom-kill app"]
        oom = r.failures[-1]
        assert (oom.kind, oom.detail, oom.where.field) == (
            "oom-kill",
            "killed for lack of memory",
            "step[3]",
        )
        assert [m.kind for m in r.failure_marks] == [0, 1]
        if not fits:
            assert "oom-kill app" in report_data(r)["verdict"]["headline"]


def _run_with_oom_kill(text: str) -> RunResult:
    """Run, recording an OOM kill of "app" right after the second event."""
    runner = Runner(loads_scenario(text, "v.toml"))
    real_bookkeeping = runner._bookkeeping

    def bookkeeping() -> Callable[[], None]:
        real_after = real_bookkeeping()

        def after() -> None:
            real_after()
            if runner.event == 3:
                runner.note_failure(
                    "oom-kill", None, runner.procs["app"], detail="killed for lack of memory"
                )

        return after

    runner._bookkeeping = bookkeeping  # type: ignore[method-assign]
    return runner.run()


WORKLOAD = """
[scenario]
name = "w"
seed = 3
tick = "{tick}"
[board]
ram = "1M"
kernel_reserved = "256K"
max_order = 6
flash = "1M"
[[mount]]
type = "romfs"
target = "/bin"
[[mount.file]]
path = "app"
flat = {{ text = 12288, data = 2048, bss = 4096, relocs = 20 }}
[[step]]
op = "spawn"
name = "init"
[[step]]
op = "workload"
ticks = 30
[[step.launch]]
parent = "init"
path = "/bin/app"
rate = 0.8
lifetime = [2, 12]
alloc_rate = 1.0
size = {{ min = "1K", max = "96K" }}
hold = [1, 10]
{allow}
"""


def test_every_kind_is_explained_beyond_the_detail_limit_and_every_failure_marked() -> None:
    text = WORKLOAD.format(tick="1s", allow="")
    full = Runner(loads_scenario(text, "w.toml")).run()
    kinds = {c.key for c in full.failure_counts}
    assert len(kinds) >= 2 and full.total_failures > 2
    short = Runner(loads_scenario(text, "w.toml"), detail_limit=1).run()
    assert {f.key for f in short.failures} == kinds  # the first of each kind, whatever the limit
    assert len(short.failures) == len(kinds)
    assert len(short.failure_marks) == short.total_failures == full.total_failures
    for f in short.failures:
        assert f.alloc is not None and f.snapshot is not None  # each one explained
    d = report_data(short)
    assert sorted(c["failure"] for c in d["failure_counts"]) == [f["index"] for f in d["failures"]]
    assert "The first failure of each other kind, and why" in render_text(d)


def test_workload_allow_and_tick_unit_and_flash_partitions() -> None:
    # the OOM killer may also kill a request on this board: the verdict holds that
    # against the run unless [expect] allow names it (tests/mm/test_kernel_memory.py)
    text = WORKLOAD.format(tick="2min", allow='allow = "ENOMEM"')
    r = run_scenario(
        loads_scenario(text + '[expect]\nallow = ["oom-kill", "oom-livelock"]\n', "w.toml")
    )
    assert r.ok and r.total_failures > 0 and r.unexpected_failures == 0
    assert r.tick_seconds == 120.0
    d = report_data(r)
    first = d["failures"][0]
    assert f"tick {first['tick']} ({duration_text(first['tick'] * 120)})" in render_text(d)
    (part,) = d["flash"]["partitions"]
    assert (part["name"], part["start"], part["type"]) == ("mtd0", 0x20000000, "rom")
    assert d["flash"]["used_bytes"] == part["bytes"] == 64 << 10
    assert d["flash"]["free_bytes"] == (1 << 20) - (64 << 10)
    assert "Flash: 1 MiB, 64 KiB in partitions: mtd0 64 KiB at 0x20000000 (rom" in render_text(d)


def test_durations() -> None:
    assert duration_text(5740) == "1h 35m 40s"
    assert duration_text(0.25) == "250ms"
    assert duration_text(86400 * 2 + 3600 * 3 + 5) == "2d 3h 5s"
    assert tick_text(7, None) == "tick 7"
    assert tick_text(7, 1.0) == "tick 7 (7s)"
