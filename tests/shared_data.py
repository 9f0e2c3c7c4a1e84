"""Where the real test data lives: ``../shared/data`` beside the checkout.

The folder is not part of the project; tests that use it skip when it is absent.
``NOMMU_SHARED_DATA`` may point elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("NOMMU_SHARED_DATA", ROOT.parent / "shared" / "data"))
REAL_ROOTFS = DATA / "uclinux-versatile" / "rootfs.bin"
