"""Progress bars for long commands: shown on a terminal only, never with ``--quiet``.

Commands create a :class:`LazyProgress` only when their console is a
terminal and ``--quiet`` was not given, and call it with ``(done, total)``;
the bar (with elapsed time and an ETA) appears once the work has taken
:data:`PROGRESS_AFTER` seconds, so short runs print nothing extra.
"""

from __future__ import annotations

import time
from typing import Any

#: Runs shorter than this (seconds) never show a progress bar.
PROGRESS_AFTER = 1.0


class LazyProgress:
    """A rich progress bar that appears only once a run has taken a second."""

    def __init__(self, console: Any, label: str, *, after: float | None = None) -> None:
        self.console = console
        self.label = label
        self.after = after
        self.start = time.monotonic()
        self.bar: Any = None
        self.task: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            after = PROGRESS_AFTER if self.after is None else self.after
            if time.monotonic() - self.start < after:
                return
            from rich.progress import (
                BarColumn,
                Progress,
                TaskProgressColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(
                # plain text: the consoles take no markup, and a label may hold [..]
                TextColumn("{task.description}", style="progress.description", markup=False),
                BarColumn(),
                TaskProgressColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=total)
        self.bar.update(self.task, completed=done, total=total)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
