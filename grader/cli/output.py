"""What every command prints with: ``say`` (a reader who has gone loses the text, never the work),
``count``, the paths shown to the user, and the one-line status of a notebook being graded."""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from ..intake.submission import printable_name


def say(*parts: object, err: bool = False, **kwargs: Any) -> None:
    """``print``, except that a reader who has gone (a closed pipe) loses the text, never the work
    or the exit code: the stream is pointed at ``/dev/null`` and the command goes on."""
    stream = sys.stderr if err else sys.stdout
    try:
        print(*parts, file=stream, flush=True, **kwargs)
    except BrokenPipeError:
        detach(stream)


def say_err(message: str) -> None:
    """One line on stderr (how a failure is said)."""
    say(message, err=True)


def detach(stream: object) -> None:
    """Point a stream whose reader has gone at ``/dev/null``, so that nothing, not even Python's
    flush at exit, fails on it again (which would print "Exception ignored" and exit 120)."""
    try:
        fd = stream.fileno()  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def count(n: int, noun: str) -> str:
    """``1 student``, ``2 students``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def display_name(path: Path) -> str:
    """``path`` relative to the working folder when it is inside it."""
    try:
        return printable_name(str(path.resolve().relative_to(Path.cwd().resolve())))
    except ValueError:
        return printable_name(str(path))


class Status:
    """One line on a terminal's stderr saying what grading one notebook is doing (cell k of n,
    which question is being checked) and for how long; nothing when stderr is not a terminal.
    The line is redrawn with a carriage return and spaces, never with terminal control sequences."""

    def __init__(self, name: str) -> None:
        self.name, self.start, self.live = name, time.monotonic(), sys.stderr.isatty()
        self.drawn = 0  # characters of the line now on the screen

    def __call__(self, what: str) -> None:
        if self.live:
            line = f"grading {self.name}: {what}  ({time.monotonic() - self.start:.0f} s)"
            line = line[:shutil.get_terminal_size().columns - 1]
            say("\r" + line.ljust(self.drawn), err=True, end="")
            self.drawn = len(line)

    def done(self) -> None:
        if self.live and self.drawn:
            say("\r" + " " * self.drawn + "\r", err=True, end="")
            self.drawn = 0
