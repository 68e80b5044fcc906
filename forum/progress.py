"""A dependency-free progress bar for long operator commands (stderr, redrawn in place)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    def __init__(self, label: str, total: int | None, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self._tty = self.stream.isatty()
        self._last_draw = 0.0
        self._drawn = -1

    def advance(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if not self._tty and now - self._last_draw < 2.0 and self.done != self.total:
            return  # in logs, one line every 2 s is plenty
        self._last_draw = now
        self._draw(final=False)

    def finish(self) -> None:
        if self._tty or self._drawn != self.done:
            self._draw(final=True)

    def _draw(self, *, final: bool) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.done / elapsed
        if self.total:
            fraction = min(1.0, self.done / self.total)
            bar = "#" * int(fraction * 30)
            text = (f"{self.label} [{bar:<30}] {self.done}/{self.total} "
                    f"({fraction:.0%}, {rate:.0f}/s)")
        else:
            text = f"{self.label} {self.done} ({rate:.0f}/s)"
        self._drawn = self.done
        end = "\n" if final or not self._tty else ""
        prefix = "\r" if self._tty else ""
        self.stream.write(prefix + text + end)
        self.stream.flush()
