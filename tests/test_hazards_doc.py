"""docs/hazards.md: every hazard the code, tests and docs cite is described there, and
nothing points into a specification outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HAZARDS = ROOT / "docs" / "hazards.md"
SOURCES = [
    *sorted((ROOT / "src").rglob("*.py")),
    *sorted((ROOT / "docs").rglob("*.md")),
    ROOT / "README.md",
]


def _described() -> set[str]:
    return set(re.findall(r"^### (H\d+): ", HAZARDS.read_text(), re.M))


def test_hazards_are_numbered_in_order() -> None:
    ids = re.findall(r"^### H(\d+): ", HAZARDS.read_text(), re.M)
    assert [int(i) for i in ids] == list(range(1, len(ids) + 1))


def test_every_cited_hazard_is_described() -> None:
    described = _described()
    cited: dict[str, str] = {}
    for path in [*SOURCES, *sorted((ROOT / "tests").rglob("*.py"))]:
        for m in re.finditer(r"\b(?:hazards?|HAZARD)\s+(H\d+)|\((H\d+)[),;]", path.read_text()):
            cited.setdefault(m.group(1) or m.group(2), str(path.relative_to(ROOT)))
    missing = {h: where for h, where in cited.items() if h not in described}
    assert not missing, missing


def test_each_hazard_names_the_kernel_and_the_model() -> None:
    text = HAZARDS.read_text()
    for block in re.split(r"^### ", text, flags=re.M)[1:]:
        if not re.match(r"H\d+: ", block):
            continue
        assert re.search(r"\w+/[\w/.-]+\.[ch]\b|Documentation/", block), block[:40]
        assert "- Model:" in block or "Listed because" in block, block[:40]


def test_readme_links_the_hazards() -> None:
    assert "(docs/hazards.md)" in (ROOT / "README.md").read_text()


def test_no_reference_to_a_spec_outside_the_repository() -> None:
    pattern = re.compile(r"\bspec (?:\d+\.\d+|1\d\b)|the spec's|IDEAL-BUDDY|spec/api\.md")
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in SOURCES
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not found, found
