"""The documented example and the default board are scenarios that load and run as described."""

from __future__ import annotations

import re
from pathlib import Path

from nommu.demo import default_board_text, load_default_board
from nommu.scenario import loads_scenario, run_scenario
from nommu.scenario.loader import OPS

DOCS = Path(__file__).parent.parent.parent / "docs" / "scenarios.md"


def test_the_complete_example_runs_and_holds() -> None:
    block = re.search(r"```toml\n(.*?)```", DOCS.read_text(), re.S)
    assert block is not None
    result = run_scenario(loads_scenario(block.group(1), "example.toml"))
    assert result.ok, [e for e in result.expectations if not e.passed]
    assert result.processes_started > 3 and result.ticks == 200
    assert [s.label for s in result.snapshots] == ["after boot", "end"]


def test_every_op_is_documented() -> None:
    text = DOCS.read_text()
    for op in OPS:
        assert f"| `{op}` |" in text, op


def test_the_default_board_is_packaged_and_loads() -> None:
    assert default_board_text().startswith("# The default board")
    s = load_default_board()
    assert s.board.options["ram"] == 8 << 20 and s.board.options["flash"] == 4 << 20
    assert {f.path for f in s.mounts[0].files} == {"init", "sh", "inetd", "dhcpcd", "ping", "cgi"}
    assert s.steps[-1].op == "mmap"
