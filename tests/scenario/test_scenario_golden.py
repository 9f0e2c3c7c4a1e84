"""Golden scenarios: each ``golden/NAME.toml`` runs to exactly ``NAME.txt`` and ``NAME.json``.

``NAME.txt`` is the terminal report rendered without colour at 100 columns;
``NAME.json`` is the ``--json`` output. Both are compared byte for byte, and
each scenario's exit code is kept in the first line of the text file's
companion ``NAME.exit``.

To regenerate the expected files after a deliberate change, run::

    NOMMU_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/scenario/test_scenario_golden.py

and review the diff before committing it.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from nommu.cli import main
from nommu.report import render_json, render_text, report_data
from nommu.scenario import load_scenario, run_scenario

GOLDEN = Path(__file__).parent / "golden"
SCENARIOS = sorted(p.stem for p in GOLDEN.glob("*.toml"))
REGEN = bool(os.environ.get("NOMMU_REGEN_GOLDEN"))


def _compare(path: Path, actual: str) -> None:
    if REGEN:
        path.write_text(actual, encoding="utf-8")
        return
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                str(path),
                "actual",
                n=2,
            )
        )
        pytest.fail(
            f"{path.name} differs from the run (NOMMU_REGEN_GOLDEN=1 rewrites it):\n{diff[:6000]}"
        )


@pytest.mark.parametrize("name", SCENARIOS)
def test_golden_text_and_json(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(GOLDEN)  # reports name the scenario as given: "NAME.toml"
    result = run_scenario(load_scenario(f"{name}.toml"))
    data = report_data(result)
    _compare(GOLDEN / f"{name}.txt", render_text(data, width=100))
    _compare(GOLDEN / f"{name}.json", render_json(data))
    _compare(GOLDEN / f"{name}.exit", f"{0 if result.ok else 1}\n")


@pytest.mark.parametrize("name", SCENARIOS)
def test_golden_cli_json_is_the_same(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if REGEN:
        pytest.skip("regenerating")
    monkeypatch.chdir(GOLDEN)
    out = tmp_path / "report.json"
    code = main(["run", f"{name}.toml", "--json", str(out), "--quiet"])
    assert capsys.readouterr().out == ""
    assert code == int((GOLDEN / f"{name}.exit").read_text())
    assert out.read_text(encoding="utf-8") == (GOLDEN / f"{name}.json").read_text(encoding="utf-8")


def test_every_golden_scenario_has_its_files() -> None:
    assert SCENARIOS
    for name in SCENARIOS:
        for ext in ("txt", "json", "exit"):
            assert (GOLDEN / f"{name}.{ext}").exists() or REGEN, f"{name}.{ext} missing"
