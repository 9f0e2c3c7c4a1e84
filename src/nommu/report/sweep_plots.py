"""Plots of many runs: survival curves, failure probability per variant, distributions.

Like :mod:`nommu.report.plots` (whose helpers it uses), matplotlib's object API
on the Agg canvas, imported only when an HTML page is made; each function
returns PNG bytes, the same data giving the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

from nommu.report.plots import DPI, MARK_COLOURS, _kib_text, _png


def survival_png(
    curves: Sequence[tuple[str, dict[str, Any]]], xaxis: tuple[float, str], end: int
) -> bytes:
    """The share of runs still failure-free against ticks (or time), one line per variant."""
    factor, xlabel = xaxis
    fig = Figure(figsize=(11, 3.8), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    for i, (label, s) in enumerate(curves):
        ax.step(
            [t * factor for t in s["tick"]],
            s["failure_free_share"],
            where="post",
            color=MARK_COLOURS[i % len(MARK_COLOURS)],
            linewidth=1.5,
            label=label,
        )
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(0, max(end, 1) * factor)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel(xlabel)
    ax.set_ylabel("runs without a failure")
    ax.set_title("Survival: the share of runs with no failure held against them yet", fontsize=10)
    if len(curves) > 1 or curves[0][0]:
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    return _png(fig)


def probability_png(
    labels: Sequence[str],
    probability: Sequence[float],
    ci: Sequence[tuple[float, float]],
    target: float | None,
) -> bytes:
    """The failure probability of each variant with its 95% interval (and the target)."""
    n = len(labels)
    fig = Figure(figsize=(11, 1.4 + 0.34 * n), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(n)
    p = np.array(probability, dtype=np.float64)
    lo = p - np.array([c[0] for c in ci])
    hi = np.array([c[1] for c in ci]) - p
    ax.barh(y, p, color="#d55e00", height=0.6, label="failure probability")
    ax.errorbar(p, y, xerr=[lo, hi], fmt="none", ecolor="#222222", capsize=3, label="95% interval")
    if target is not None:
        ax.axvline(target, color="#009e73", linestyle="--", label=f"target {target:g}")
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("probability that the board fails within the run")
    ax.set_title("Failure probability per variant (Wilson 95% interval)", fontsize=10)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    return _png(fig)


def histogram_png(values: Sequence[int], title: str) -> bytes:
    """A distribution of sizes over the runs (bytes, drawn in KiB on a log-2 axis)."""
    fig = Figure(figsize=(5.4, 3.0), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    kib = np.array([max(v, 1) / 1024 for v in values], dtype=np.float64)
    if len(kib):
        lo, hi = np.log2(kib.min()), np.log2(kib.max())
        bins: Any = np.logspace(lo - 0.05, hi + 0.05, num=20, base=2) if hi > lo else 10
        ax.hist(kib, bins=bins, color="#0072b2")
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(FuncFormatter(_kib_text))
    ax.set_ylabel("runs")
    ax.set_title(title, fontsize=10)
    return _png(fig)


def kinds_png(kinds: Sequence[dict[str, Any]]) -> bytes:
    """The share of runs with each kind of failure."""
    n = max(len(kinds), 1)
    fig = Figure(figsize=(11, 1.3 + 0.32 * n), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(kinds))
    ax.barh(
        y,
        [k["run_probability"] for k in kinds],
        color=[MARK_COLOURS[i % len(MARK_COLOURS)] for i in range(len(kinds))],
        height=0.6,
    )
    ax.set_yticks(y)
    ax.set_yticklabels([k["key"] for k in kinds], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("share of runs with at least one")
    ax.set_title("Failures by kind (call, errno, program)", fontsize=10)
    return _png(fig)
