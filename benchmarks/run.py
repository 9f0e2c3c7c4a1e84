"""Run every benchmark side by side and print the ratios (``make bench``)."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).parent


def main() -> int:
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"== {script.stem}")
        sys.argv = [str(script)]
        try:
            runpy.run_path(str(script), run_name="__main__")
        except SystemExit as e:
            if e.code not in (0, None):
                return int(e.code) if isinstance(e.code, int) else 1
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
