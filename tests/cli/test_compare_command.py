"""nommu compare: every example under the three designs, and the command's own behaviour."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nommu.cli import main

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.toml"))
DESIGNS = ["--kernel", "2.6.24", "--kernel", "6.12", "--design", "pagecache"]

#: What each example shows, per column (2.6.24, 6.12, 6.12+pagecache): failure kinds.
KINDS = {
    "01_write_under_private_mapping": ({}, {}, {"write ETXTBSY a": 1}),
    "04_contiguity": ({"mmap ENOMEM other": 1}, {}, {}),
    "05_shared_writable_disk": ({"mmap ENODEV a": 1},) * 3,
    "08_sysv_shm": ({}, {}, {}),
}


def run(tmp_path: Path, *args: str) -> dict[str, object]:
    out = tmp_path / "out.json"
    assert main([*args, "--json", str(out), "-q"]) == 0
    data = json.loads(out.read_text())
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_runs_under_the_three_designs(example: Path, tmp_path: Path) -> None:
    data = run(tmp_path, "compare", str(example), *DESIGNS)
    variants = data["variants"]
    assert isinstance(variants, list)
    assert [v["label"] for v in variants] == ["2.6.24", "6.12", "6.12+pagecache"]
    runs = [v["runs"][0] for v in variants]
    if example.stem in KINDS:
        assert tuple(r["failure_kinds"] for r in runs) == KINDS[example.stem]
    for r in runs:
        assert r["slack_bytes"] == r["allocated_bytes"] - r["mapped_bytes"]
        assert r["kernel_metadata_bytes"] == sum(m["bytes"] for m in r["kernel_metadata"])


def test_xip_costs_ram_only_where_flash_cannot_be_mapped(tmp_path: Path) -> None:
    data = run(tmp_path, "compare", str(EXAMPLES[6]), *DESIGNS)
    runs = [v["runs"][0] for v in data["variants"]]  # type: ignore[index]
    assert [r["allocated_bytes"] for r in runs] == [65536, 0, 0]  # 2.6.24: a 64 KiB object
    assert [r["pagecache_run_bytes"] for r in runs] == [0, 0, 49152]  # pagecache: a run


def test_per_process_vmas_cost_more_metadata(tmp_path: Path) -> None:
    """24 processes x 7 mappings: 2.6.24's shared VMAs + vm_list_structs vs 6.12's."""
    data = run(tmp_path, "compare", str(EXAMPLES[8]), *DESIGNS)
    runs = [v["runs"][0] for v in data["variants"]]  # type: ignore[index]
    meta = [{m["struct"]: (m["count"], m["allocated"]) for m in r["kernel_metadata"]} for r in runs]
    assert meta[0] == {"vm_area_struct": (99, 96), "vm_list_struct": (168, 32)}
    assert meta[1] == {"vm_area_struct": (168, 88), "vm_region": (99, 48)}
    assert meta[2] == {"vm_area_struct": (168, 88)}
    assert [r["kernel_metadata_peak"]["bytes"] for r in runs] == [  # type: ignore[index]
        r["kernel_metadata_bytes"] for r in runs
    ]


def test_seeds_give_a_distribution_and_html(tmp_path: Path) -> None:
    html = tmp_path / "c.html"
    data = run(
        tmp_path,
        "compare",
        str(EXAMPLES[0]),
        "--kernel",
        "6.12",
        "--seeds",
        "2",
        "--html",
        str(html),
    )
    (v,) = data["variants"]  # type: ignore[misc]
    assert [r["seed"] for r in v["runs"]] == [1, 2]
    assert v["time_to_first_failure"] == {"runs": 2, "failed": 0, "never_failed": 2}
    assert "<table>" in html.read_text()


def test_bad_kernel_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(EXAMPLES[0]), "--kernel", "3.0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nommu: error: --kernel: unknown version '3.0'") and err.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seeds", "0"], "nommu: error: --seeds: must be at least 1\n"),
        (
            ["--design", "magic"],
            "nommu: error: --design: unknown design 'magic'; known: pagecache\n",
        ),
        (["--json", "/nonexistent/x.json"], "nommu: error: cannot write /nonexistent/x.json: "),
    ],
)
def test_bad_options_are_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compare", str(EXAMPLES[0]), "-q", *args]) == 2
    assert capsys.readouterr().err.startswith(message)


def test_cache_reap_runs_on_scenario_time(tmp_path: Path) -> None:
    """tiny.toml says a tick is 1 s: cache_reap runs every 2 ticks unless --reap-every 0."""
    tiny = Path(__file__).resolve().parents[1] / "sweep" / "tiny.toml"
    base = ["compare", str(tiny), "--kernel", "2.6.24"]
    reaped = run(tmp_path, *base)["variants"][0]["runs"][0]  # type: ignore[index]
    kept = run(tmp_path, *base, "--reap-every", "0")["variants"][0]["runs"][0]  # type: ignore[index]
    assert reaped["slab_held_bytes"] < kept["slab_held_bytes"]
    assert reaped["kernel_metadata_peak"]["bytes"] > 0
