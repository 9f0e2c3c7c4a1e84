"""docs/sweeps.md and the sweep part of docs/json.md are true to the code.

The worked example's commands are run as printed by a slow test, which compares
their whole output with the pages; a fast test runs the same commands on a short
workload (one seed, the requests cut to 100 ticks) so every fast run checks that
they parse, that their parameters name values of the default board, and that
their reports come out.
"""

from __future__ import annotations

import io
import json
import re
import shlex
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from nommu.cli import main

ROOT = Path(__file__).resolve().parent.parent.parent
SWEEPS = ROOT / "docs" / "sweeps.md"
JSON_DOC = ROOT / "docs" / "json.md"
TINY = Path(__file__).parent / "tiny.toml"


def worked_example() -> list[tuple[list[str], str]]:
    """The example's commands (as argv) and the output printed under each."""
    text = SWEEPS.read_text()
    part = text[text.index("## A worked example") : text.index("## Running on more")]
    pairs = re.findall(r"```sh\n(nommu sweep [^\n]*)\n```\n\n```text\n(.*?)```", part, re.S)
    assert len(pairs) == 2
    return [(shlex.split(cmd)[1:], out) for cmd, out in pairs]


def _run(argv: list[str]) -> tuple[int, str]:
    buf = io.StringIO()
    with redirect_stdout(buf):
        code = main([*argv, "--width", "100"])
    return code, "".join(line.rstrip() + "\n" for line in buf.getvalue().splitlines())


def test_the_worked_example_runs_on_a_short_workload(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(ROOT)
    for argv, _ in worked_example():
        out = tmp_path / "s.json"
        short = [*argv, "--param", "step[8].ticks=100", "--seeds", "1", "--json", str(out)]
        code, text = _run(short)
        d = json.loads(out.read_text())
        assert code in (0, 1)
        assert len(d["variants"]) == len(argv[argv.index("--param") + 1].split(","))
        assert "Failure probability per variant" in text
        assert d["target_failure_probability"] == 0.01


@pytest.mark.slow
def test_the_worked_example_prints_what_the_page_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    for argv, shown in worked_example():
        _, text = _run(argv)
        assert text == shown, f"docs/sweeps.md shows other figures than:\n{text}"


def test_the_sweep_json_keys_are_documented(tmp_path: Path) -> None:
    out = tmp_path / "s.json"
    main(["sweep", str(TINY), "--param", "board.ram=2M", "--seeds", "1", "--workers", "1",
          "--json", str(out), "-q"])  # fmt: skip
    d = json.loads(out.read_text())
    doc = JSON_DOC.read_text()
    part = doc[doc.index('  "format": "nommu-sweep"') :]
    top = part[: part.index("\n}\n")]
    assert list(d) == re.findall(r"^  \"(\w+)\":", top, re.MULTILINE)
    stats = part[part.index("STATS = {") : part.index("\n}\n", part.index("STATS = {"))]
    documented = set(re.findall(r'"(\w+)"', stats))
    assert set(d["variants"][0]["stats"]) <= documented
    for key in (
        d["variants"][0]["stats"]["failure_kinds"][0]
        if d["variants"][0]["stats"]["failure_kinds"]
        else []
    ):
        assert key in documented
