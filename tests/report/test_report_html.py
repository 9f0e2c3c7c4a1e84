"""The HTML report: one well-formed, self-contained page holding every plot."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from nommu.report import render_html, report_data
from nommu.scenario import load_scenario, run_scenario
from nommu.scenario.result import RunResult

GOLDEN = Path(__file__).parent.parent / "scenario" / "golden"
VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}
PNG = b"\x89PNG\r\n\x1a\n"


class Checker(HTMLParser):
    """Checks that every element is closed in order, and collects images and links."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.images: dict[str, str] = {}
        self.ids: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.append(str(a["id"]))
        if tag == "img":
            self.images[str(a.get("id"))] = str(a.get("src"))
        for key in ("src", "href"):
            value = a.get(key)
            if value and not value.startswith(("data:", "#")):
                self.external.append(value)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()


@pytest.fixture(scope="module")
def result() -> RunResult:
    return run_scenario(load_scenario(GOLDEN / "fragmentation.toml"))


@pytest.fixture(scope="module")
def page(result: RunResult) -> str:
    return render_html(result)


def test_page_is_well_formed_and_self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    checker = Checker()
    checker.feed(page)
    checker.close()
    assert checker.errors == []
    assert checker.stack == []
    assert checker.external == []  # nothing to fetch: styles and images are inline
    assert len(checker.ids) == len(set(checker.ids))


def test_every_plot_is_there_and_is_a_png(page: str, result: RunResult) -> None:
    checker = Checker()
    checker.feed(page)
    expected = {"plot-largest-block", "plot-free-orders", "plot-footprint"}
    expected |= {f"plot-map-{i + 1}" for i in range(len(result.snapshots))}
    expected |= {f"plot-failure-{f.index}" for f in result.failures[:3]}
    assert expected <= set(checker.images)
    for ident, src in checker.images.items():
        head, data = src.split(",", 1)
        assert head == "data:image/png;base64", ident
        assert base64.b64decode(data)[:8] == PNG, ident


def test_page_holds_the_report_figures(page: str, result: RunResult) -> None:
    d = report_data(result)
    for section in (
        "summary",
        "fragmentation",
        "footprint",
        "memory-map",
        "failures",
        "expectations",
    ):
        assert f'id="{section}"' in page
    first = d["failures"][0]
    assert first["kernel_log"][0] in page
    assert "fragmentation index" in page
    assert 'id="verdict" class="fail"><strong>Does it fit? NO: 2 of 2 expectations' in page


def test_html_is_deterministic(result: RunResult, page: str) -> None:
    assert render_html(result) == page


CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)


@pytest.mark.slow
@pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (looked for 'chromium' on PATH and /usr/bin/chromium)",
)
def test_page_loads_in_headless_chromium(page: str, tmp_path: Path) -> None:
    assert CHROMIUM is not None
    html = tmp_path / "report.html"
    html.write_text(page, encoding="utf-8")
    profile = tmp_path / "profile"
    proc = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--dump-dom",
            html.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert "nommu report: fragmentation" in dom
    assert len(re.findall(r'<img id="plot-', dom)) >= 6
