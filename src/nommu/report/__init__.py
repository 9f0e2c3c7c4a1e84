"""Reports of a scenario run: terminal text, JSON, and one self-contained HTML page.

- :mod:`.data`: every figure, computed once (the JSON document);
- :mod:`.terminal`: the text report (rich);
- :mod:`.html`: the HTML page with plots (matplotlib, imported lazily);
- :mod:`.files`: atomic writes;
- :mod:`.replay`: the report of `nommu replay` (the run report plus the replay's parts);
- :mod:`.sweep`, :mod:`.sweep_html`, :mod:`.sweep_plots`: reports over many
  seeds and variants (``nommu run --seeds``, ``nommu sweep``).

Usage::

    data = report_data(result)
    text = render_text(data, width=100)
    write_atomic("report.json", render_json(data))
    write_atomic("report.html", render_html(result, data))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nommu.report.data import report_data as report_data
from nommu.report.files import write_atomic as write_atomic
from nommu.report.jsonout import render_json as render_json
from nommu.report.terminal import print_report as print_report
from nommu.report.terminal import render_text as render_text

if TYPE_CHECKING:
    from nommu.scenario.result import RunResult


def render_html(result: RunResult, data: dict[str, Any] | None = None) -> str:
    """The HTML page (:func:`nommu.report.html.render_html`; matplotlib is imported now)."""
    from nommu.report.html import render_html as impl

    return impl(result, data)


__all__ = [
    "print_report",
    "render_html",
    "render_json",
    "render_text",
    "report_data",
    "write_atomic",
]
