"""Progress of a long run: on a terminal a bar with the case count, rate and time left,
redrawn in place on stderr; elsewhere (CI logs, pipes) a plain line every 30 seconds."""

from __future__ import annotations

import os
import shutil
import sys
import time


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class Progress:
    def __init__(self, total: int, stream=None, interactive: bool | None = None, every: float = 30.0):
        self.total, self.done = total, 0
        self.stream = stream or sys.stderr
        if interactive is None:
            interactive = self.stream.isatty() and not os.environ.get("CI")
        self.interactive, self.every = interactive, every
        self.start = self.last = time.monotonic()
        self.now: list[str] = []  # the cases running now

    def running(self, case_ids: list[str]) -> None:
        """The cases running now, shown after the count."""
        self.now = list(case_ids)
        if self.interactive:
            self.draw()

    def line(self) -> str:
        elapsed = time.monotonic() - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else 0.0
        text = f"{self.done}/{self.total} cases, {rate:.1f} cases/s, {_duration(elapsed)} elapsed, about {_duration(left)} left"
        if self.now:
            text += f"; running {self.now[0]}" + (f" (+{len(self.now) - 1})" if len(self.now) > 1 else "")
        return text

    def clear(self) -> None:
        """Before printing something else on a terminal: take the bar away."""
        if self.interactive:
            self.stream.write("\r\033[K")
            self.stream.flush()

    def draw(self) -> None:
        width = 30
        filled = width * self.done // max(1, self.total)
        line = f"[{'#' * filled}{'.' * (width - filled)}] {self.line()}"
        columns = shutil.get_terminal_size((120, 24)).columns
        self.stream.write("\r" + (line if len(line) < columns else line[:columns - 2] + "…") + "\033[K")
        self.stream.flush()

    def advance(self) -> None:
        self.done += 1
        now = time.monotonic()
        if self.interactive:
            self.draw()
        elif now - self.last >= self.every or self.done == self.total:
            self.last = now
            self.stream.write(f"progress: {self.line()}\n")
            self.stream.flush()

    def close(self) -> None:
        self.clear()
