"""The HTML page of ``nommu run --seeds`` and ``nommu sweep``: tables and plots.

One self-contained page, as :mod:`nommu.report.html`: the verdict over the
runs, the survival curve (share of runs still failure-free against ticks),
failure probability per variant with its interval, failures by kind, and the
distributions of the lowest free memory and the smallest largest free block.
Every plot is an ``<img>`` whose ``id`` starts with ``plot-``.
"""

from __future__ import annotations

from html import escape
from typing import Any

from nommu.analysis.failure import size_text
from nommu.report import sweep_plots
from nommu.report.data import tick_text
from nommu.report.html import CSS, _img, html_table
from nommu.report.plots import time_axis
from nommu.report.sweep import _pct, _ttf, headline, seeds_text, smallest_lines


def render_sweep_html(d: dict[str, Any]) -> str:
    """The page for a document of :func:`nommu.report.sweep.sweep_data`."""
    sc = d["scenario"]
    ts = d["tick_seconds"]
    variants = d["variants"]
    end = max(v["stats"]["ticks"] for v in variants)
    xaxis = time_axis(ts, end)
    title = f"nommu {'sweep' if d['params'] else 'runs'}: {sc['name']}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<p>{escape(sc['description'])}</p>" if sc["description"] else "",
        f'<p class="muted">{escape(sc["path"])}: {len(variants)} variant(s) x '
        f"{d['runs_per_variant']} runs (seeds {escape(seeds_text(d['seeds']))}). A run fails "
        f"when a failure happens that the scenario does not expect or allow, an expectation "
        f"does not hold, or the kernel oopses. Probabilities: {escape(d['interval'])}.</p>",
    ]
    if not d["params"]:
        s = variants[0]["stats"]
        cls = "ok" if s["failed_runs"] == 0 else "fail"
        parts.append(f'<p id="verdict" class="{cls}"><strong>{escape(headline(s))}</strong></p>')
    else:
        rows = []
        for v in variants:
            s = v["stats"]
            lo, hi = s["failure_probability_ci95"]
            med = s["time_to_first_failure"]["median"]
            rows.append(
                [
                    *(v["values"][p["path"]] for p in d["params"]),
                    f"{s['failed_runs']}/{s['runs']}",
                    _pct(s["failure_probability"]),
                    f"{_pct(lo)} to {_pct(hi)}",
                    tick_text(med, ts) if med is not None else "not reached",
                ]
            )
        parts.append(
            '<section id="variants"><h2>Failure probability per variant</h2>'
            + html_table(
                [
                    *(p["path"] for p in d["params"]),
                    "failed runs",
                    "probability",
                    "95% interval",
                    "median first failure",
                ],
                rows,
                left=len(d["params"]),
            )
            + "".join(f"<p><strong>{escape(line)}</strong></p>" for line in smallest_lines(d))
            + _img(
                "plot-probability",
                sweep_plots.probability_png(
                    [v["label"] for v in variants],
                    [v["stats"]["failure_probability"] for v in variants],
                    [tuple(v["stats"]["failure_probability_ci95"]) for v in variants],
                    d["target_failure_probability"],
                ),
                "failure probability per variant",
            )
            + "</section>"
        )
    curves = [("" if not d["params"] else v["label"], v["stats"]["survival"]) for v in variants]
    parts.append(
        '<section id="survival"><h2>When does it fail?</h2>'
        + _img(
            "plot-survival",
            sweep_plots.survival_png(curves[:12], xaxis, end),
            "share of runs still failure-free",
        )
        + "<p>"
        + "<br>".join(
            escape(f"{v['label']}: first failure held against the run: {_ttf(v['stats'], ts)}")
            for v in variants
        )
        + "</p></section>"
    )
    for v in variants[:1] if not d["params"] else []:
        s = v["stats"]
        if s["failure_kinds"]:
            parts.append(
                '<section id="kinds"><h2>Failures by kind</h2>'
                + _img("plot-kinds", sweep_plots.kinds_png(s["failure_kinds"]), "failure kinds")
                + html_table(
                    ["kind", "runs with it", "share", "held against", "first in runs", "in all"],
                    [
                        [
                            k["key"],
                            str(k["runs"]),
                            _pct(k["run_probability"]),
                            str(k["runs_held_against"]),
                            str(k["first_in_runs"]),
                            str(k["failures"]),
                        ]
                        for k in s["failure_kinds"]
                    ],
                )
                + "</section>"
            )
        parts.append(
            '<section id="distributions"><h2>Memory over the runs</h2>'
            + _img(
                "plot-min-free",
                sweep_plots.histogram_png(
                    s["min_free_bytes"]["values"], "Lowest free memory of each run"
                ),
                "lowest free memory per run",
            )
            + _img(
                "plot-min-largest",
                sweep_plots.histogram_png(
                    s["min_largest_block_bytes"]["values"],
                    "Smallest largest free block of each run",
                ),
                "smallest largest free block per run",
            )
            + html_table(
                ["figure", "min", "p10", "median", "p90", "max"],
                [
                    [name, *(size_text(s[key][q]) for q in ("min", "p10", "median", "p90", "max"))]
                    for name, key in (
                        ("lowest free memory", "min_free_bytes"),
                        ("smallest largest free block", "min_largest_block_bytes"),
                    )
                ],
            )
            + "</section>"
        )
    parts.append("</body></html>\n")
    return "\n".join(p for p in parts if p)


__all__ = ["render_sweep_html"]
