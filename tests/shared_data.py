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

#: The data README's table of the image's bFLT programs:
#: path -> (text including the 64-byte header, data, bss, stack, relocs).
REAL_PROGRAMS = {
    "/bin/init": (33224, 3420, 80876, 4096, 260),
    "/bin/sh": (61136, 10904, 14920, 4096, 575),
    "/bin/dhcpcd": (71616, 10232, 14328, 4096, 672),
    "/bin/inetd": (32496, 5180, 11172, 4096, 230),
    "/bin/ping": (53940, 8696, 11876, 4096, 462),
    "/bin/telnet": (86528, 21008, 40848, 4096, 1550),
    "/bin/null": (19076, 4396, 8320, 4096, 112),
    "/sbin/ifconfig": (50956, 10648, 9692, 4096, 601),
    "/sbin/route": (49536, 11000, 9288, 4096, 559),
}
