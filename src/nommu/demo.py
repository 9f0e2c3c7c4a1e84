"""The demonstration: the default board (``src/nommu/boards/default.toml``).

An 8 MiB no-MMU board with 1 MiB of kernel and 4 MiB of NOR flash holding a
romfs of programs with the geometry of a real uClinux userland (ARM
Versatile, bFLT): init, a shell, inetd and dhcpcd start and stay; inetd then
serves a long stream of CGI requests, each a short-lived process that
allocates buffers of varied sizes. Memory fragments until an exec fails
with ``page allocation failure``; the report shows that failure in the
kernel's words and explains it. ``nommu demo`` (``make demo``) runs it.

Usage::

    scenario = load_default_board()
    result = nommu.scenario.run_scenario(scenario)
"""

from __future__ import annotations

import os
from importlib import resources

from nommu.scenario.loader import loads_scenario
from nommu.scenario.schema import Scenario

DEFAULT_BOARD = "boards/default.toml"


def default_board_text() -> str:
    """The default board's scenario file, as shipped in the package."""
    return resources.files("nommu").joinpath(DEFAULT_BOARD).read_text(encoding="utf-8")


def load_default_board() -> Scenario:
    """The default board, loaded (host files, if any, would be looked up beside it)."""
    ref = resources.files("nommu").joinpath(DEFAULT_BOARD)
    return loads_scenario(default_board_text(), "default.toml", os.path.dirname(str(ref)))
