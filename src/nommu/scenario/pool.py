"""Run many seeds: a local process pool over every core, or a Dask cluster.

Each task is a :class:`~nommu.scenario.seeds.SeedTask` (the scenario's text,
a variant, a seed) and gives back a small
:class:`~nommu.scenario.seeds.SeedOutcome`; tasks share nothing, so the
same tasks give the same records wherever they run. Results come back in
task order whatever order the workers finish in.

- Locally (the default): a ``ProcessPoolExecutor`` with one worker per core
  (``os.cpu_count()``; ``workers=1`` runs in this process, no pool).
  Workers are started with ``spawn``, which is safe whatever threads the
  parent has (a progress bar's, say).
- ``dask="tcp://host:8786"``: the tasks go to an existing
  ``dask.distributed`` scheduler and its workers (``pip install
  nommu[dask]``; see docs/sweeps.md for starting them). The workers need
  nommu installed, the same version as here.

Usage::

    outcomes = run_tasks(tasks, progress=lambda done, total: ...)
    outcomes = run_tasks(tasks, dask="tcp://10.0.0.5:8786")
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from nommu.errors import ConfigError
from nommu.scenario.seeds import SeedOutcome, SeedTask, run_task

Progress = Callable[[int, int], None]


def default_workers() -> int:
    """One worker per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def run_tasks(
    tasks: Sequence[SeedTask],
    *,
    workers: int | None = None,
    dask: str | None = None,
    progress: Progress | None = None,
) -> list[SeedOutcome]:
    """Run every task and return the outcomes in task order."""
    if dask is not None:
        return _run_dask(tasks, dask, progress)
    n = default_workers() if workers is None else workers
    if n < 1:
        raise ConfigError(f"--workers {n}: at least 1")
    total = len(tasks)
    if n == 1 or total <= 1:
        out = []
        for i, t in enumerate(tasks):
            out.append(run_task(t))
            if progress is not None:
                progress(i + 1, total)
        return out
    results: list[SeedOutcome | None] = [None] * total
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(n, total), mp_context=ctx) as pool:
        futures = {pool.submit(run_task, t): i for i, t in enumerate(tasks)}
        try:
            for done, fut in enumerate(as_completed(futures), 1):
                results[futures[fut]] = fut.result()
                if progress is not None:
                    progress(done, total)
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    return [r for r in results if r is not None]


def _run_dask(tasks: Sequence[SeedTask], address: str, progress: Progress | None) -> list[Any]:
    """The same tasks on a dask.distributed cluster at *address*."""
    try:
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError:
        raise ConfigError("--dask needs dask.distributed: pip install 'nommu[dask]'") from None
    try:
        client = Client(address, timeout=30, set_as_default=False)
    except (OSError, TimeoutError) as e:
        raise ConfigError(f"--dask {address}: cannot reach the scheduler: {e}") from None
    try:
        with client.as_current():
            futures = client.map(run_task, list(tasks), pure=False)
            index = {f.key: i for i, f in enumerate(futures)}
            results: list[Any] = [None] * len(tasks)
            for done, fut in enumerate(dask_completed(futures), 1):
                results[index[fut.key]] = fut.result()
                if progress is not None:
                    progress(done, len(tasks))
        return results
    finally:
        client.close()


__all__ = ["default_workers", "run_tasks"]
