"""Many seeds of a scenario: one small record per run, and what they say together.

One seeded run is one sample, not a probability. :func:`run_task` runs one
(scenario text, variant, seed) and returns a :class:`SeedOutcome`, a few
numbers with no reference to the machine, so tasks can run in any process
or on any machine (:mod:`nommu.scenario.pool`) and give the same records.
:func:`summarize` turns the records of one variant into:

- the probability that the board fails within the run (the verdict of
  :meth:`RunResult.ok`: a failure the scenario does not expect or allow, an
  expectation that does not hold, or an oops), with a 95% **Wilson score
  interval** (good for small counts and for 0 or n failures, where the
  normal approximation gives nonsense);
- the time to the first failure held against the run as a survival curve
  (the share of runs still failure-free at each tick) and its quantiles:
  the tick by which 10%, 50% and 90% of the runs had failed, or None
  ("not reached") when fewer runs failed than that;
- failures per kind (how many runs had one, and how many in all);
- the distributions of the lowest free memory and the smallest largest free
  block of each run.

Usage::

    outcomes = [run_task(SeedTask(text, "board.toml", ".", (), 0, s)) for s in range(1, 51)]
    stats = summarize(outcomes)
    stats["failure_probability"], stats["failure_probability_ci95"]
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nommu.scenario.engine import Runner
from nommu.scenario.schema import Scenario
from nommu.scenario.variants import Variant, load_variant

#: z for a two-sided 95% interval.
Z95 = 1.959963984540054
#: The interval used for probabilities (said in every report).
INTERVAL = "Wilson score interval, 95%"


@dataclass(frozen=True, slots=True)
class SeedTask:
    """One run to make: everything it needs, by value (no shared state)."""

    text: str  # the scenario file's text
    file: str  # its name, for messages and reports
    base_dir: str | None  # where host files it names are
    variant: Variant  # values changed by TOML path
    variant_index: int
    seed: int


@dataclass(frozen=True, slots=True)
class SeedOutcome:
    """What one seeded run gives a statistic: a few numbers."""

    variant_index: int
    seed: int
    fits: bool  # the verdict: RunResult.ok
    stopped: bool  # a kernel oops stopped it
    expectations_failed: int
    ticks: int
    events: int
    failures: int  # every failure
    unexpected: int  # failures held against the run
    first_failure_tick: int | None  # first failure held against the run
    first_failure_kind: str | None
    kinds: tuple[tuple[str, int, int], ...]  # (kind key, count, unexpected), first-seen order
    min_free_bytes: int
    min_largest_block_bytes: int


@functools.lru_cache(maxsize=8)
def _scenario(text: str, file: str, base_dir: str | None, variant: Variant) -> Scenario:
    # per process: the same variant's scenario is loaded once, whatever the seed
    return load_variant(text, file, base_dir, variant)


def run_task(task: SeedTask) -> SeedOutcome:
    """Run one seed of one variant (no report details: no snapshots at failures)."""
    scenario = _scenario(task.text, task.file, task.base_dir, task.variant)
    r = Runner(scenario, seed=task.seed, detail_limit=0, max_samples=2, explain_kinds=False).run()
    ps = r.board.page_size
    first = r.first_unexpected
    largest = (1 << r.min_largest_order) * ps if r.min_largest_order >= 0 else 0
    return SeedOutcome(
        variant_index=task.variant_index,
        seed=task.seed,
        fits=r.ok,
        stopped=r.stopped is not None,
        expectations_failed=sum(not e.passed for e in r.expectations),
        ticks=r.ticks,
        events=r.events,
        failures=r.total_failures,
        unexpected=r.unexpected_failures,
        first_failure_tick=first.first_unexpected_tick if first is not None else None,
        first_failure_kind=first.key if first is not None else None,
        kinds=tuple((c.key, c.count, c.unexpected) for c in r.failure_counts),
        min_free_bytes=r.min_free_pages * ps,
        min_largest_block_bytes=largest,
    )


# -- statistics ------------------------------------------------------------------------
def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for *k* successes in *n* trials."""
    if n <= 0:
        return (0.0, 1.0)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def runs_needed(target: float, z: float = Z95) -> int:
    """Runs without a failure needed before the interval's upper bound is below *target*."""
    n = 1
    while wilson(0, n, z)[1] >= target:
        n = n * 2 if n < 1024 else n + 1024
        if n > 10_000_000:
            break
    lo, hi = max(1, n // 2), n
    while lo < hi:
        mid = (lo + hi) // 2
        if wilson(0, mid, z)[1] < target:
            hi = mid
        else:
            lo = mid + 1
    return lo


def failure_quantile(first_ticks: Sequence[int], runs: int, q: float) -> int | None:
    """The tick by which a share *q* of the *runs* had failed (None: fewer failed)."""
    if runs <= 0:
        return None
    need = max(1, math.ceil(q * runs - 1e-9))
    ticks = sorted(first_ticks)
    return ticks[need - 1] if need <= len(ticks) else None


def survival(first_ticks: Sequence[int], runs: int, end: int) -> dict[str, list[Any]]:
    """The share of runs still failure-free after each tick where one failed (a step curve)."""
    ticks = [0]
    share = [1.0]
    alive = runs
    for t, n in sorted(Counter(first_ticks).items()):
        alive -= n
        if t == ticks[-1]:
            share[-1] = round(alive / runs, 6) if runs else 0.0
            continue
        ticks.append(t)
        share.append(round(alive / runs, 6) if runs else 0.0)
    if ticks[-1] < end:
        ticks.append(end)
        share.append(share[-1])
    return {"tick": ticks, "failure_free_share": share}


def distribution(values: Sequence[int]) -> dict[str, Any]:
    """Minimum, quantiles, maximum and every value (sorted) of a per-run figure."""
    v = sorted(values)
    if not v:
        return {"min": None, "p10": None, "median": None, "p90": None, "max": None, "values": []}

    def q(share: float) -> int:
        return v[min(len(v) - 1, max(0, math.ceil(share * len(v)) - 1))]

    return {"min": v[0], "p10": q(0.1), "median": q(0.5), "p90": q(0.9), "max": v[-1], "values": v}


def summarize(outcomes: Sequence[SeedOutcome]) -> dict[str, Any]:
    """What the runs of one variant say together (JSON-ready; see docs/json.md)."""
    runs = len(outcomes)
    failed = [o for o in outcomes if not o.fits]
    firsts = [o.first_failure_tick for o in outcomes if o.first_failure_tick is not None]
    lo, hi = wilson(len(failed), runs)
    end = max((o.ticks for o in outcomes), default=0)
    kinds: dict[str, list[int]] = {}
    for o in outcomes:
        for key, count, unexpected in o.kinds:
            k = kinds.setdefault(key, [0, 0, 0, 0])
            k[0] += 1
            k[1] += count
            k[2] += 1 if unexpected else 0
            k[3] += unexpected
    first_kinds = Counter(o.first_failure_kind for o in outcomes if o.first_failure_kind)
    return {
        "runs": runs,
        "seeds": [o.seed for o in outcomes],
        "failed_runs": len(failed),
        "failed_seeds": [o.seed for o in failed],
        "failure_probability": round(len(failed) / runs, 6) if runs else None,
        "failure_probability_ci95": [round(lo, 6), round(hi, 6)],
        "interval": INTERVAL,
        "runs_with_unexpected_failure": len(firsts),
        "time_to_first_failure": {
            "p10": failure_quantile(firsts, runs, 0.1),
            "median": failure_quantile(firsts, runs, 0.5),
            "p90": failure_quantile(firsts, runs, 0.9),
            "ticks": sorted(firsts),
        },
        "survival": survival(firsts, runs, end),
        "failure_kinds": [
            {
                "key": key,
                "runs": k[0],
                "run_probability": round(k[0] / runs, 6),
                "failures": k[1],
                "runs_held_against": k[2],
                "held_against_probability": round(k[2] / runs, 6),
                "unexpected": k[3],
                "first_in_runs": first_kinds.get(key, 0),
            }
            for key, k in sorted(kinds.items(), key=lambda kv: (-kv[1][0], kv[0]))
        ],
        "min_free_bytes": distribution([o.min_free_bytes for o in outcomes]),
        "min_largest_block_bytes": distribution([o.min_largest_block_bytes for o in outcomes]),
        "ticks": end,
        "events_mean": round(sum(o.events for o in outcomes) / runs, 1) if runs else 0,
        "stopped_runs": sum(o.stopped for o in outcomes),
        "runs_with_failed_expectations": sum(o.expectations_failed > 0 for o in outcomes),
    }


def parse_seeds(text: str) -> list[int]:
    """``"50"`` → seeds 1..50; ``"1-100"``, ``"7"``... ; ``"3,5,9-11"`` a list."""
    text = text.strip()
    if text.isdigit():
        n = int(text)
        if n < 1:
            raise ValueError(f"--seeds {text}: at least 1")
        return list(range(1, n + 1))
    out: list[int] = []
    for part in text.split(","):
        lo, dash, hi = part.strip().partition("-")
        try:
            a = int(lo)
            b = int(hi) if dash else a
        except ValueError:
            raise ValueError(
                f"--seeds {text!r}: expected a count (50), a range (1-100) or a list (1,5,9-11)"
            ) from None
        if b < a:
            raise ValueError(f"--seeds {text!r}: the range {part.strip()} is empty")
        out.extend(range(a, b + 1))
    if len(set(out)) != len(out):
        raise ValueError(f"--seeds {text!r}: a seed is given twice")
    return out


__all__ = [
    "INTERVAL",
    "SeedOutcome",
    "SeedTask",
    "distribution",
    "failure_quantile",
    "parse_seeds",
    "run_task",
    "runs_needed",
    "summarize",
    "survival",
    "wilson",
]
