"""Shared fixtures and the Hypothesis profiles (derandomized in CI)."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

import nommu

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=60,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough",
    deadline=None,
    max_examples=500,
    stateful_step_count=100,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))

RW = nommu.PROT_READ | nommu.PROT_WRITE
ANON = nommu.MAP_PRIVATE | nommu.MAP_ANONYMOUS
P = 4096


def z1024(**options: object) -> nommu.Machine:
    """The Z1024 state: exactly one free order-10 block at 0x00400000.

    The worked cases pin addresses of the idealised kernel (no kernel
    stacks, slab or watermarks), so this machine is ``ideal=True`` unless the
    test says otherwise; tests of the realistic kernel build their own.
    """
    options.setdefault("ideal", True)
    return nommu.Machine(ram="8M", ram_base=0, kernel_reserved="4M", **options)  # type: ignore[arg-type]


@pytest.fixture
def machine() -> nommu.Machine:
    return z1024()


@pytest.fixture
def proc(machine: nommu.Machine) -> nommu.Process:
    return machine.spawn(name="P1")


def buddy(m: nommu.Machine) -> str:
    """The counts of /proc/buddyinfo as one space-separated string."""
    return " ".join(m.cat("/proc/buddyinfo").split()[4:])


def meminfo(m: nommu.Machine, key: str) -> int:
    for line in m.cat("/proc/meminfo").splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def free_pages(m: nommu.Machine) -> int:
    return meminfo(m, "MemFree") // 4
