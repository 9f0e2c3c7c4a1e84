"""The statistics of many runs: Wilson intervals, survival, quantiles, seeds and variants."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from nommu.scenario import ScenarioError
from nommu.scenario.seeds import (
    SeedOutcome,
    distribution,
    failure_quantile,
    parse_seeds,
    runs_needed,
    summarize,
    survival,
    wilson,
)
from nommu.scenario.variants import (
    ParamError,
    apply,
    grid,
    load_variant,
    parse_param,
    sort_key,
    variant_label,
)

TINY = Path(__file__).parent / "tiny.toml"


def test_wilson_interval_matches_the_textbook_values() -> None:
    lo, hi = wilson(0, 10)
    assert lo == 0 and math.isclose(hi, 0.27753, abs_tol=1e-5)
    lo, hi = wilson(5, 10)
    assert math.isclose(lo, 0.23659, abs_tol=1e-5) and math.isclose(hi, 0.76341, abs_tol=1e-5)
    lo, hi = wilson(10, 10)
    assert math.isclose(lo, 0.72247, abs_tol=1e-5) and hi == pytest.approx(1.0)
    assert wilson(0, 0) == (0.0, 1.0)
    # with no failure, the upper bound falls below 1% only after 381 runs
    assert runs_needed(0.01) == 381
    assert wilson(0, 381)[1] < 0.01 <= wilson(0, 380)[1]


def test_survival_and_quantiles_count_runs_that_never_failed() -> None:
    # 4 runs: two fail at tick 5, one at 7, one never (run of 20 ticks)
    assert survival([5, 7, 5], 4, 20) == {
        "tick": [0, 5, 7, 20],
        "failure_free_share": [1.0, 0.5, 0.25, 0.25],
    }
    assert failure_quantile([5, 7, 5], 4, 0.1) == 5
    assert failure_quantile([5, 7, 5], 4, 0.5) == 5
    assert failure_quantile([5, 7, 5], 4, 0.75) == 7
    assert failure_quantile([5, 7, 5], 4, 0.9) is None  # only 3 of 4 runs ever failed
    assert failure_quantile([], 10, 0.5) is None
    d = distribution([30, 10, 20])
    assert (d["min"], d["median"], d["max"], d["values"]) == (10, 20, 30, [10, 20, 30])


def _outcome(
    seed: int, fits: bool, first: int | None, kinds: tuple[tuple[str, int, int], ...]
) -> SeedOutcome:
    return SeedOutcome(0, seed, fits, False, 0, 100, 500, 0, 0, first, None, kinds, 4096, 4096)


def test_summary_counts_failed_runs_and_kinds() -> None:
    outcomes = [
        _outcome(1, False, 40, (("exec ENOMEM cgi", 3, 3),)),
        _outcome(2, True, None, (("mmap ENOMEM cgi", 1, 0),)),
        _outcome(3, True, None, ()),
        _outcome(4, False, 80, (("exec ENOMEM cgi", 1, 1), ("mmap ENOMEM cgi", 2, 2))),
    ]
    s = summarize(outcomes)
    assert (s["runs"], s["failed_runs"], s["failed_seeds"]) == (4, 2, [1, 4])
    assert s["failure_probability"] == 0.5
    lo, hi = wilson(2, 4)
    assert s["failure_probability_ci95"] == [round(lo, 6), round(hi, 6)]
    assert s["interval"] == "Wilson score interval, 95%"
    # by tick 40 a quarter of the runs had failed, by tick 80 half; 90% never
    assert s["time_to_first_failure"]["p10"] == 40
    assert s["time_to_first_failure"]["median"] == 80
    assert s["time_to_first_failure"]["p90"] is None
    kinds = {k["key"]: k for k in s["failure_kinds"]}
    assert kinds["exec ENOMEM cgi"]["runs"] == 2 and kinds["exec ENOMEM cgi"]["failures"] == 4
    assert kinds["mmap ENOMEM cgi"]["runs"] == 2
    assert kinds["mmap ENOMEM cgi"]["runs_held_against"] == 1  # allowed in seed 2


def test_seeds_syntax() -> None:
    assert parse_seeds("3") == [1, 2, 3]
    assert parse_seeds("5-8") == [5, 6, 7, 8]
    assert parse_seeds("1,4,9-10") == [1, 4, 9, 10]
    for bad in ("0", "8-5", "x", "1,1"):
        with pytest.raises(ValueError, match="--seeds"):
            parse_seeds(bad)


def test_params_set_values_by_toml_path() -> None:
    p = parse_param("board.ram=4M,6M")
    assert (p.path, p.values) == ("board.ram", ("4M", "6M"))
    assert parse_param("board.nr_trim_pages=0,1").values == (0, 1)
    assert parse_param("mount[1].file[2].flat.ram=true,false").values == (True, False)
    doc = {"board": {}, "mount": [{"file": [{"path": "init"}, {"path": "sh", "flat": {}}]}]}
    apply(doc, "mount[1].file[path=sh].flat.ram", False)
    apply(doc, "board.kernel", "2.6.24")
    assert doc["mount"][0]["file"][1]["flat"] == {"ram": False}
    assert doc["board"]["kernel"] == "2.6.24"
    variants = grid([p, parse_param("board.nr_trim_pages=0,1")])
    assert [variant_label(v) for v in variants] == [
        "board.ram=4M board.nr_trim_pages=0",
        "board.ram=4M board.nr_trim_pages=1",
        "board.ram=6M board.nr_trim_pages=0",
        "board.ram=6M board.nr_trim_pages=1",
    ]
    assert sorted(["12M", "4M", "8M"], key=sort_key) == ["4M", "8M", "12M"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("board.ram", "expected PATH=VALUE"),
        ("board.ram=4M,4M", "given twice"),
        ("mount[3].target=/x", r"mount\[3\]: the scenario has 1"),
        ("mount[1].file[path=nope].flat.ram=false", "no file has path = 'nope'"),
        ("step.op=spawn", r"step is an array of tables: give step\[N\]"),
        ("board.ram[1]=4M", "no array of tables"),
        ("board..ram=1", "is not a key"),
    ],
)
def test_bad_params_are_one_clear_line(text: str, message: str) -> None:
    src = TINY.read_text()
    with pytest.raises(ParamError, match=message):
        for v in grid([parse_param(text)]):
            load_variant(src, "tiny.toml", None, v)


def test_a_bad_value_names_the_field_and_the_variant() -> None:
    src = TINY.read_text()
    (v,) = grid([parse_param("board.ram=lots")])
    with pytest.raises(ScenarioError, match=r"tiny.toml:\d+: board.ram: .*board.ram=lots"):
        load_variant(src, "tiny.toml", None, v)
    (v,) = grid([parse_param("board.rma=4M")])
    with pytest.raises(ScenarioError, match="rma"):
        load_variant(src, "tiny.toml", None, v)
    scenario = load_variant(src, "tiny.toml", None, grid([parse_param("board.ram=2M")])[0])
    assert scenario.board.options["ram"] == 2 << 20


def test_kernel_and_arch_profiles_can_be_swept() -> None:
    src = TINY.read_text()
    params = [parse_param("board.kernel=2.6.24,6.1,5.10"), parse_param("board.arch=arm,riscv64")]
    loaded = [load_variant(src, "tiny.toml", None, v) for v in grid(params)]
    assert [(s.board.options["kernel"], s.board.options["arch"]) for s in loaded[:3]] == [
        ("2.6.24", "arm"),
        ("2.6.24", "riscv64"),
        ("6.1", "arm"),
    ]
    assert loaded[-1].board.options["kernel"] == "5.10"
    (v,) = grid([parse_param("board.kernel=9.9")])
    with pytest.raises(ScenarioError, match="kernel"):
        from nommu.scenario.seeds import SeedTask, run_task

        run_task(SeedTask(src, "tiny.toml", None, v, 0, 1))
