"""The grader's own failures. A student's mistake is a result, never one of these.

Also the exit codes of both command lines (``grader`` and ``python -m grader.gradescope``) and the
one place that turns a failure into the line said and the code returned (:func:`reporting`).
"""

from __future__ import annotations

import enum
from typing import Callable


class Exit(enum.IntEnum):
    """Every exit code of the grader's command lines (each command's ``--help`` says which it uses)."""

    OK = 0  # done, or graded whatever the scores
    FAILED = 1  # a build failed (or another GraderError without a code of its own)
    USAGE = 2  # bad arguments or config: nothing graded, nothing created
    NO_KERNEL = 3  # no kernel could be started for any submission that needed one
    INTERNAL = 4  # the grader failed on some submission, or a stored result is damaged
    INTERRUPTED = 130  # Ctrl-C: run the same command again to finish


class GraderError(Exception):
    """Base class of every error the grader raises about itself, its config or its arguments."""

    exit_code: Exit = Exit.FAILED


class ConfigError(GraderError):
    """``assignments.yml`` is missing, malformed, or names something that does not exist."""

    exit_code = Exit.USAGE

    def __init__(self, message: str, *, key: str | None = None, line: int | None = None,
                 suggestion: str | None = None, path: str | None = None) -> None:
        self.key = key
        self.line = line
        self.suggestion = suggestion
        self.path = path
        where = f"{path}:{line}: " if path and line else (f"line {line}: " if line else "")
        hint = f" (did you mean {suggestion!r}?)" if suggestion else ""
        super().__init__(f"{where}{message}{hint}")


class UsageError(GraderError):
    """The command line asked for something impossible (no such file, no such assignment)."""

    exit_code = Exit.USAGE


class KernelStartError(GraderError):
    """The grader could not start a Jupyter kernel at all: an environment problem, not the student's."""

    exit_code = Exit.NO_KERNEL


def reporting(step: Callable[[], int], prog: str, say: Callable[[str], None]) -> int:
    """``step()``'s exit code; a :class:`GraderError` is one line (``PROG: error: …``) and its
    code, Ctrl-C is ``PROG: interrupted`` and 130. Anything else is a grader bug: it propagates."""
    try:
        return int(step())
    except GraderError as exc:
        say(f"{prog}: error: {exc}")
        return int(exc.exit_code)
    except KeyboardInterrupt:
        say(f"{prog}: interrupted")
        return int(Exit.INTERRUPTED)
