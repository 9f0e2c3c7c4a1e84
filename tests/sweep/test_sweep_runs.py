"""Sweeps run: in this process, on a local pool and on a Dask cluster, with the same records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nommu.cli import main
from nommu.scenario.pool import run_tasks
from nommu.scenario.seeds import SeedTask, runs_needed
from nommu.scenario.variants import grid, parse_param

TINY = Path(__file__).parent / "tiny.toml"


def _tasks(seeds: range = range(1, 4)) -> list[SeedTask]:
    text = TINY.read_text()
    variants = grid([parse_param("board.ram=1M,2M")])
    return [
        SeedTask(text, "tiny.toml", str(TINY.parent), v, i, s)
        for i, v in enumerate(variants)
        for s in seeds
    ]


@pytest.fixture(scope="module")
def in_process() -> list[object]:
    return list(run_tasks(_tasks(), workers=1))


def test_local_pool_gives_the_records_of_a_run_in_this_process(in_process: list[object]) -> None:
    seen: list[tuple[int, int]] = []
    pooled = run_tasks(_tasks(), workers=2, progress=lambda d, t: seen.append((d, t)))
    assert pooled == in_process
    assert seen[-1] == (6, 6) and len(seen) == 6
    # the records differ between variants: 1 MiB runs out, the runs are not all alike
    assert {o.variant_index for o in in_process} == {0, 1}  # type: ignore[attr-defined]
    assert any(not o.fits for o in in_process)  # type: ignore[attr-defined]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_dask_local_cluster_gives_the_same_records(in_process: list[object]) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None
    ) as cluster:
        on_dask = run_tasks(_tasks(), dask=cluster.scheduler_address)
    assert on_dask == in_process


def test_sweep_command_reports_probabilities_and_the_smallest_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, page = tmp_path / "s.json", tmp_path / "s.html"
    code = main(
        [
            "sweep",
            str(TINY),
            "--param",
            "board.ram=2M,1M",
            "--param",
            "mount[1].file[path=app].flat.ram=true,false",
            "--seeds",
            "1-2",
            "--target",
            "0.5",
            "--workers",
            "1",
            "--json",
            str(out),
            "--html",
            str(page),
        ]
    )
    text = capsys.readouterr().out
    d = json.loads(out.read_text())
    assert d["format"] == "nommu-sweep" and d["seeds"] == [1, 2]
    assert [v["label"] for v in d["variants"]][:2] == [
        "board.ram=2M mount[1].file[path=app].flat.ram=true",
        "board.ram=2M mount[1].file[path=app].flat.ram=false",
    ]
    probs = [v["stats"]["failure_probability"] for v in d["variants"]]
    assert code == (0 if min(probs) < 0.5 else 1)
    for v in d["variants"]:
        s = v["stats"]
        assert s["failure_probability"] == s["failed_runs"] / 2
        lo, hi = s["failure_probability_ci95"]
        assert lo <= s["failure_probability"] <= hi
    # the smallest RAM meeting the target, per value of the other parameter (sorted by size)
    smallest = {tuple(e["others"].values()): e for e in d["smallest"]}
    for flag in ("true", "false"):
        e = smallest[(flag,)]
        tried = [
            v
            for v in d["variants"]
            if v["values"]["mount[1].file[path=app].flat.ram"] == flag
            and v["stats"]["failure_probability"] < 0.5
        ]
        want = min(
            (v["values"]["board.ram"] for v in tried), key=lambda s: int(s[:-1]), default=None
        )
        assert e["value"] == want
        assert e["runs_needed_without_failure"] == runs_needed(0.5) == 4
        assert e["value"] is None or e["failure_probability"] < 0.5
    assert "Failure probability per variant" in text and "Wilson" in text
    assert "mount[1].file[path=app].flat.ram" in text  # brackets printed, not read as markup
    assert "\x1b[" not in text  # not a terminal: no progress bar
    assert page.read_text().count('id="plot-') >= 2
    for key in _keys(d):
        if "probability" not in key:
            assert not key.endswith(("_share_of_runs", "_chance"))


def _keys(d: object) -> list[str]:
    if isinstance(d, dict):
        return list(d) + [k2 for v in d.values() for k2 in _keys(v)]
    if isinstance(d, list):
        return [k for v in d for k in _keys(v)]
    return []


def test_run_with_seeds_gives_the_verdict_over_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.json"
    code = main(["run", str(TINY), "--seeds", "2", "--workers", "1", "--json", str(out)])
    d = json.loads(out.read_text())
    s = d["variants"][0]["stats"]
    assert d["params"] == [] and s["runs"] == 2
    assert code == (1 if s["failed_runs"] else 0)
    text = capsys.readouterr().out
    assert f"it fails in {s['failed_runs']} of 2 runs" in text
    assert "95% Wilson interval" in text


def test_seed_and_pool_options_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(TINY), "--seeds", "2", "--seed", "3"]) == 2
    assert main(["run", str(TINY), "--workers", "2"]) == 2
    assert main(["sweep", str(TINY), "--param", "board.ram=1M", "--seeds", "0"]) == 2
    assert main(["sweep", str(TINY), "--param", "board.nope=1", "--seeds", "1"]) == 2
    assert main(["sweep", str(TINY), "--param", "board.ram=1M", "--target", "2"]) == 2
    err = capsys.readouterr().err
    assert all(line.startswith("nommu: error: ") for line in err.splitlines())
    assert "Traceback" not in err


def test_python_dash_m_with_a_pool(tmp_path: Path) -> None:
    """Spawned workers re-import the main module: ``python -m nommu`` must not rerun the CLI."""
    import subprocess
    import sys

    out = tmp_path / "r.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "nommu",
            "run",
            str(TINY),
            "--seeds",
            "2",
            "--workers",
            "2",
            "-q",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.stderr == "" and proc.stdout == ""
    assert json.loads(out.read_text())["variants"][0]["stats"]["runs"] == 2
