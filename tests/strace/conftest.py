"""The strace fixture shared by the tests that capture real traces."""

from __future__ import annotations

import subprocess

import pytest

from strace_capture import STRACE


@pytest.fixture(scope="session")
def strace_ok() -> str:
    """The strace binary, once it has shown it can trace here."""
    if STRACE is None:
        pytest.skip("strace is not installed")
    probe = subprocess.run(
        [STRACE, "-o", "/dev/null", "/bin/true"], capture_output=True, text=True, timeout=20
    )
    if probe.returncode != 0:
        pytest.skip(f"strace cannot trace here (ptrace not permitted?): {probe.stderr.strip()}")
    return STRACE
