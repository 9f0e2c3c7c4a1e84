"""The terminal report and the JSON report: same figures, fixed width, same bytes every run."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from nommu.report import render_json, render_text, report_data, write_atomic
from nommu.report.data import FORMAT, VERSION
from nommu.scenario import load_scenario, run_scenario

GOLDEN = Path(__file__).parent.parent / "scenario" / "golden"
DOCS = Path(__file__).parent.parent.parent / "docs" / "json.md"


@pytest.fixture(scope="module")
def data() -> dict[str, object]:
    return report_data(run_scenario(load_scenario(GOLDEN / "fragmentation.toml")))


def test_text_has_every_section_at_the_width(data: dict[str, object]) -> None:
    for width in (80, 100, 140):
        text = render_text(data, width=width)  # type: ignore[arg-type]
        assert max(len(line) for line in text.splitlines()) <= width
        assert "\x1b[" not in text
    text = render_text(data)  # type: ignore[arg-type]
    for heading in (
        "Does it fit?",
        "How fragmented is it?",
        "What does each process cost?",
        "What fails first, and why?",
        "Expectations",
        "Result: FAILS: 2 of 2 expectations did not hold",
        "Does it fit? NO:",
    ):
        assert heading in text
    assert "page allocation failure: order:5" in text


def test_json_round_trips_and_follows_the_documented_schema(data: dict[str, object]) -> None:
    text = render_json(data)  # type: ignore[arg-type]
    assert json.loads(text) == data
    assert data["format"] == FORMAT and data["version"] == VERSION
    doc = DOCS.read_text()
    top = doc[doc.index("```text\n{") : doc.index("\n}\n")]  # the top-level object
    documented = re.findall(r'^  "(\w+)":', top, re.MULTILINE)
    assert list(data) == documented


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    scenario = load_scenario(GOLDEN / "fragmentation.toml")
    one = render_json(report_data(run_scenario(scenario)))
    two = render_json(report_data(run_scenario(scenario)))
    three = render_json(report_data(run_scenario(scenario, seed=12345)))
    assert one == two
    assert one != three


def test_write_atomic_replaces_whole(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    write_atomic(target, "one")
    os.chmod(target, 0o640)
    write_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert os.stat(target).st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "r.html"
    target.write_text("old")

    def broken(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(OSError, match="No space"):
        write_atomic(target, "new " * 1000)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]
