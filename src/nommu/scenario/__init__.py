"""Scenario files: a board, its filesystems and programs, and a script to run on it.

- :mod:`.loader`: read and check a TOML scenario (errors name file, line, field);
- :mod:`.schema`: the frozen values a loaded scenario is made of;
- :mod:`.engine`: run it on a :class:`~nommu.Machine` and record what happened;
- :mod:`.workload`: seeded random workloads (transient processes, churn);
- :mod:`.result`: the frozen :class:`RunResult` reports are made from;
- :mod:`.rootfs`: a real root filesystem at ``/`` and its init (``[root]``, ``boot``);
- :mod:`.variants`: scenario values changed by their TOML path (sweeps);
- :mod:`.seeds`: one small record per seeded run, and their statistics;
- :mod:`.pool`: many runs on a local process pool or a Dask cluster.

Usage::

    from nommu.scenario import load_scenario, run_scenario
    result = run_scenario(load_scenario("board.toml"), seed=1)
    result.ok, result.failures[:1]

The file format is described in docs/scenarios.md.
"""

from nommu.scenario.engine import Runner as Runner
from nommu.scenario.engine import run_scenario as run_scenario
from nommu.scenario.loader import load_scenario as load_scenario
from nommu.scenario.loader import loads_scenario as loads_scenario
from nommu.scenario.result import RunResult as RunResult
from nommu.scenario.schema import Scenario as Scenario
from nommu.scenario.schema import ScenarioError as ScenarioError

__all__ = [
    "RunResult",
    "Runner",
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "loads_scenario",
    "run_scenario",
]
