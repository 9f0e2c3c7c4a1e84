"""Reports over many seeds (``nommu run --seeds``) and over variants (``nommu sweep``).

:func:`sweep_data` makes the JSON document (``"format": "nommu-sweep"``,
docs/json.md): per variant, the statistics of
:func:`nommu.scenario.seeds.summarize`, and with a target, the smallest
value of the first parameter whose failure probability is below it.
:func:`print_sweep` renders it in the terminal; the HTML page is in
:mod:`nommu.report.sweep_html`. ``nommu run --seeds`` is a sweep with no
parameters: one variant, the scenario as written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from nommu.analysis.failure import size_text
from nommu.report.data import tick_text
from nommu.scenario.seeds import INTERVAL, SeedOutcome, runs_needed, summarize
from nommu.scenario.variants import Param, Variant, sort_key, value_text, variant_label

FORMAT = "nommu-sweep"
VERSION = 1


def _pct(p: float | None) -> str:
    if p is None:
        return "-"
    if p == 0 or p == 1 or p >= 0.1:
        return f"{p * 100:.0f}%" if p * 100 == int(p * 100) else f"{p * 100:.1f}%"
    return f"{p * 100:.2g}%"


def seeds_text(seeds: Sequence[int]) -> str:
    """``"1-200"`` for a range, else the seeds joined by commas (long lists shortened)."""
    if not seeds:
        return "none"
    if list(seeds) == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}-{seeds[-1]}" if len(seeds) > 1 else str(seeds[0])
    text = ",".join(str(s) for s in seeds[:12])
    return text + (",..." if len(seeds) > 12 else "")


def _smallest(
    params: Sequence[Param], variants: Sequence[Variant], stats: list[dict[str, Any]], t: float
) -> list[dict[str, Any]]:
    """For each combination of the other parameters, the smallest value of the first one
    whose estimated failure probability is below the target *t*."""
    if not params:
        return []
    first = params[0].path
    groups: dict[tuple[tuple[str, str], ...], list[int]] = {}
    for i, v in enumerate(variants):
        others = tuple((p, value_text(x)) for p, x in v if p != first)
        groups.setdefault(others, []).append(i)
    out = []
    for others, members in groups.items():
        members.sort(key=lambda i: sort_key(dict(variants[i])[first]))
        found = None
        for i in members:
            if stats[i]["failure_probability"] < t:
                found = i
                break
        entry: dict[str, Any] = {
            "param": first,
            "others": dict(others),
            "value": None,
            "variant": None,
            "failure_probability": None,
            "failure_probability_ci95": None,
            "upper_bound_below_target": False,
            "runs_needed_without_failure": runs_needed(t),
        }
        if found is not None:
            s = stats[found]
            entry.update(
                value=value_text(dict(variants[found])[first]),
                variant=found,
                failure_probability=s["failure_probability"],
                failure_probability_ci95=s["failure_probability_ci95"],
                upper_bound_below_target=s["failure_probability_ci95"][1] < t,
            )
        out.append(entry)
    return out


def sweep_data(
    *,
    name: str,
    path: str,
    description: str,
    params: Sequence[Param],
    variants: Sequence[Variant],
    outcomes: Sequence[SeedOutcome],
    seeds: Sequence[int],
    target: float | None,
    tick_seconds: float | None,
) -> dict[str, Any]:
    """The document of a sweep: every variant's statistics, in variant order."""
    by_variant: list[list[SeedOutcome]] = [[] for _ in variants]
    for o in outcomes:
        by_variant[o.variant_index].append(o)
    stats = [summarize(sorted(v, key=lambda o: o.seed)) for v in by_variant]
    return {
        "format": FORMAT,
        "version": VERSION,
        "scenario": {"name": name, "description": description, "path": path},
        "tick_seconds": tick_seconds,
        "seeds": list(seeds),
        "runs_per_variant": len(seeds),
        "interval": INTERVAL,
        "target_failure_probability": target,
        "params": [{"path": p.path, "values": [value_text(v) for v in p.values]} for p in params],
        "variants": [
            {
                "index": i,
                "label": variant_label(v),
                "values": {p: value_text(x) for p, x in v},
                "stats": s,
            }
            for i, (v, s) in enumerate(zip(variants, stats, strict=True))
        ],
        "smallest": _smallest(params, variants, stats, target) if target is not None else [],
    }


# -- terminal ------------------------------------------------------------------------------
def _ttf(s: dict[str, Any], tick_seconds: float | None) -> str:
    t = s["time_to_first_failure"]

    def one(v: int | None) -> str:
        return tick_text(v, tick_seconds) if v is not None else "not reached"

    return f"p10 {one(t['p10'])}, median {one(t['median'])}, p90 {one(t['p90'])}"


def _dist(d: dict[str, Any]) -> str:
    if d["min"] is None:
        return "-"
    return (
        f"min {size_text(d['min'])}, p10 {size_text(d['p10'])}, median "
        f"{size_text(d['median'])}, p90 {size_text(d['p90'])}, max {size_text(d['max'])}"
    )


def headline(s: dict[str, Any]) -> str:
    """ "Does it fit?" over many runs: the failure probability and its interval."""
    lo, hi = s["failure_probability_ci95"]
    n, k = s["runs"], s["failed_runs"]
    verdict = "YES in every run" if k == 0 else ("NO in every run" if k == n else "NOT ALWAYS")
    return (
        f"Does it fit? {verdict}: it fails in {k} of {n} runs, failure probability "
        f"{_pct(s['failure_probability'])} (95% Wilson interval {_pct(lo)} to {_pct(hi)})"
    )


def _single(d: dict[str, Any], console: Console) -> None:
    v = d["variants"][0]
    s = v["stats"]
    ts = d["tick_seconds"]
    fits = s["failed_runs"] == 0
    console.print(Text(headline(s), style="bold green" if fits else "bold red"))
    console.print(
        f"Time to the first failure held against the run ({s['ticks']} ticks a run): {_ttf(s, ts)}"
    )
    if s["stopped_runs"] or s["runs_with_failed_expectations"]:
        console.print(
            f"Runs stopped by an oops: {s['stopped_runs']}; runs where an expectation did not "
            f"hold: {s['runs_with_failed_expectations']}"
        )
    console.print()
    if s["failure_kinds"]:
        t = Table(
            title="Failures by kind (call, errno, program)",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
        )
        for col, just in (
            ("kind", "left"),
            ("runs with it", "right"),
            ("share of runs", "right"),
            ("held against", "right"),
            ("first in runs", "right"),
            ("failures in all", "right"),
        ):
            t.add_column(col, justify=just)  # type: ignore[arg-type]
        for k in s["failure_kinds"]:
            t.add_row(
                k["key"],
                str(k["runs"]),
                _pct(k["run_probability"]),
                str(k["runs_held_against"]),
                str(k["first_in_runs"]),
                str(k["failures"]),
            )
        console.print(t)
        console.print()
    else:
        console.print(Text("No failure in any run.", style="green"))
    console.print(f"Lowest free memory of each run: {_dist(s['min_free_bytes'])}")
    console.print(f"Smallest largest free block of each run: {_dist(s['min_largest_block_bytes'])}")
    if s["failed_seeds"]:
        shown = ", ".join(str(x) for x in s["failed_seeds"][:10])
        more = ", ..." if len(s["failed_seeds"]) > 10 else ""
        console.print(f"Seeds that failed: {shown}{more} (nommu run FILE --seed N explains one)")


def _table(d: dict[str, Any]) -> Table:
    ts = d["tick_seconds"]
    t = Table(
        title="Failure probability per variant",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
    )
    for p in d["params"]:
        t.add_column(p["path"], justify="right", min_width=len(p["path"]))
    for col in ("failed", "probability", "95% interval", "median failure", "min free"):
        t.add_column(col, justify="right")
    for v in d["variants"]:
        s = v["stats"]
        lo, hi = s["failure_probability_ci95"]
        med = s["time_to_first_failure"]["median"]
        t.add_row(
            *(v["values"][p["path"]] for p in d["params"]),
            f"{s['failed_runs']}/{s['runs']}",
            _pct(s["failure_probability"]),
            f"{_pct(lo)}-{_pct(hi)}",
            tick_text(med, ts) if med is not None else "not reached",
            size_text(s["min_free_bytes"]["min"]) if s["min_free_bytes"]["min"] is not None else "",
        )
    return t


def smallest_lines(d: dict[str, Any]) -> list[str]:
    """One sentence per group: the smallest value meeting the target, and how sure it is."""
    t = d["target_failure_probability"]
    lines = []
    for e in d["smallest"]:
        where = (
            " with " + ", ".join(f"{k}={v}" for k, v in e["others"].items()) if e["others"] else ""
        )
        if e["value"] is None:
            lines.append(
                f"No value of {e['param']}{where} tried has a failure probability below {_pct(t)}."
            )
            continue
        lo, hi = e["failure_probability_ci95"]
        sure = (
            "its 95% interval is below the target too"
            if e["upper_bound_below_target"]
            else f"but its 95% interval reaches {_pct(hi)}: {d['runs_per_variant']} runs cannot "
            f"show a probability below {_pct(t)} (that takes at least "
            f"{e['runs_needed_without_failure']} runs without a failure)"
        )
        lines.append(
            f"Smallest {e['param']}{where} with a failure probability below {_pct(t)}: "
            f"{e['value']} ({_pct(e['failure_probability'])}, 95% interval {_pct(lo)} to "
            f"{_pct(hi)}); {sure}."
        )
    return lines


def print_sweep(d: dict[str, Any], console: Console) -> None:
    """The terminal report of a sweep or of ``run --seeds``."""
    sc = d["scenario"]
    nv = len(d["variants"])
    what = f"{d['runs_per_variant']} runs (seeds {seeds_text(d['seeds'])})"
    if nv > 1:
        what = f"{nv} variants x {what}"
    console.print(Text(f"nommu: {sc['name']} ({sc['path']}), {what}", style="bold"))
    if sc["description"]:
        console.print(sc["description"].strip())
    console.print(
        "A run fails when a failure happens that the scenario does not expect or allow, an "
        f"expectation does not hold, or the kernel oopses. Probabilities: {d['interval']}."
    )
    console.print()
    if not d["params"]:
        _single(d, console)
        return
    console.print(_table(d))
    console.print()
    for line in smallest_lines(d):
        console.print(line)


__all__ = ["FORMAT", "VERSION", "headline", "print_sweep", "smallest_lines", "sweep_data"]
