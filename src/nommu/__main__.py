"""``python -m nommu``."""

from nommu.cli import main

raise SystemExit(main())
