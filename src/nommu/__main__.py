"""``python -m nommu``."""

from nommu.cli import main

if __name__ == "__main__":  # not when a worker process re-imports the main module (spawn)
    raise SystemExit(main())
