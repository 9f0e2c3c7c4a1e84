"""Running strace and cc for the tests that capture real traces (skip where missing)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

STRACE = shutil.which("strace")
CC = shutil.which("cc")


def run_strace(strace: str, args: list[str], cwd: Path) -> None:
    """Run ``strace args...`` in *cwd*; the traced command must succeed."""
    done = subprocess.run(
        [strace, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr


def capture(strace: str, args: list[str], cwd: Path) -> Path:
    """Run ``strace -f -o cwd/out args...`` and return the log's path."""
    out = cwd / "out"
    run_strace(strace, ["-f", "-o", str(out), *args], cwd)
    return out


def build_c(tmp_path: Path, source: str, flags: list[str] | None = None) -> Path:
    """Compile *source* into ``tmp_path/prog`` (with *flags*), or skip when no compiler can."""
    if CC is None:
        pytest.skip("no C compiler (cc) installed")
    src = tmp_path / "prog.c"
    src.write_text(source)
    prog = tmp_path / "prog"
    built = subprocess.run(
        [CC, "-O0", *(flags or []), "-o", str(prog), str(src)], capture_output=True, text=True
    )
    if built.returncode != 0:
        pytest.skip(f"cc cannot build the test program: {built.stderr.strip()[:200]}")
    return prog
