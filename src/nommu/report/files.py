"""Write report files atomically: a reader sees the old file or the whole new one.

The text goes to a temporary file in the same directory, is flushed to disk,
then renamed over the target with :func:`os.replace` (atomic on POSIX and
Windows). If anything fails before the rename the temporary file is removed
and the target is left as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile


def _mode_for(target: str) -> int:
    """The new file's mode: the old file's, or what ``open()`` would give (0666 & ~umask)."""
    try:
        return os.stat(target).st_mode & 0o7777
    except OSError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> None:
    """Replace *path* with *data* (text is written as UTF-8) in one step."""
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(target)}.", suffix=".tmp")
    try:
        os.chmod(tmp, _mode_for(target))
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
