"""The README's examples run as written."""

from __future__ import annotations

import doctest
from pathlib import Path

import nommu.machine

ROOT = Path(__file__).resolve().parent.parent


def test_readme_examples() -> None:
    result = doctest.testfile(
        str(ROOT / "README.md"), module_relative=False, optionflags=doctest.ELLIPSIS
    )
    assert result.attempted > 5
    assert result.failed == 0


def test_module_examples() -> None:
    result = doctest.testmod(nommu.machine)
    assert result.attempted > 0 and result.failed == 0


def test_docs_examples() -> None:
    """Every ``>>>`` example in docs/*.md runs as written."""
    attempted = 0
    for page in sorted((ROOT / "docs").glob("*.md")):
        result = doctest.testfile(str(page), module_relative=False, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, page.name
        attempted += result.attempted
    assert attempted > 0
