"""Batch progress: a live bar on a terminal (drawn by rich), one plain line per submission otherwise."""

from __future__ import annotations

import time
from typing import Callable, TextIO

from rich.console import Console
from rich.progress import BarColumn, TextColumn
from rich.progress import Progress as Bar
from rich.text import Text

from ..results import SubmissionResult, printable_text, points


def _clock(seconds: float) -> str:
    seconds = int(max(0.0, seconds) + 0.5)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """Counts done, failed (rejected or grader error) and remaining; rate and ETA from this run."""

    def __init__(self, stream: TextIO, total: int, *, live: bool, width: int = 30,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream, self.total, self.live, self.width = stream, total, live, width
        self.done = self.failed = 0
        self.clock = clock
        self.start = self.last = clock()
        self._shown = 0.0
        self._bar: Bar | None = None
        if live:
            console = Console(file=stream, highlight=False)
            self._bar = Bar(BarColumn(bar_width=width), TextColumn("{task.description}"),
                            console=console, auto_refresh=False)
            self._task = self._bar.add_task(self.status(), total=max(1, total))
            self._bar.start()

    @property
    def finished(self) -> int:
        return self.done + self.failed

    def eta(self) -> float | None:
        """Seconds left: counts down between completions, re-estimated at each (None: no estimate).

        The time per submission is measured up to the last completion; the work left then, less
        the time since, is the estimate, but never below what the submissions after the one in
        flight need, so an overdue submission holds the ETA instead of sending it to zero.
        """
        left = self.total - self.finished
        if left <= 0:
            return 0.0
        if self.finished == 0:
            return None
        per = (self.last - self.start) / self.finished
        return max(left * per - (self.clock() - self.last), (left - 1) * per, 0.0)

    def status(self) -> str:
        elapsed = self.clock() - self.start
        rate = self.finished / elapsed if elapsed > 0 else 0.0
        left = self.total - self.finished
        eta = self.eta()
        return (f"{self.finished}/{self.total}  graded {self.done}  not gradable {self.failed}  "
                f"remaining {left}  {rate:.2f}/s  elapsed {_clock(elapsed)}  "
                f"ETA {'--:--:--' if eta is None else _clock(eta)}")

    def log(self, message: str) -> None:
        """A line of its own (above the bar on a terminal)."""
        if self._bar is not None:
            self._bar.console.print(Text(printable_text(message)))
            self.redraw(force=True)
        else:
            self.stream.write(printable_text(message) + "\n")

    def redraw(self, force: bool = False) -> None:
        if self._bar is None or (not force and self.clock() - self._shown < 0.2):
            return
        self._shown = self.clock()
        self._bar.update(self._task, completed=self.finished, description=self.status())
        self._bar.refresh()

    def finish_one(self, sid: str, result: SubmissionResult) -> None:
        self.last = self.clock()
        if result.status == "graded":
            self.done += 1
        else:
            self.failed += 1
        if self.live:
            if result.status != "graded":
                self.log(f"{sid}: {result.status}: {result.error or 'grader error'}")
            self.redraw(force=True)
        else:
            extra = "" if result.status == "graded" else f"  [{result.status}] {result.error or ''}"
            self.stream.write(printable_text(f"[{self.finished}/{self.total}] {sid}  {points(result.score)}/"
                                             f"{points(result.max_score)}  {result.execution_time:.1f} s{extra}\n"))
            self.stream.flush()

    def close(self) -> None:
        if self._bar is not None:
            self.redraw(force=True)
            self._bar.stop()
        self.stream.write(f"graded {self.finished} of {self.total} in "
                          f"{_clock(self.clock() - self.start)}\n")
        self.stream.flush()


__all__ = ["Progress"]
