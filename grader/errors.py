"""The grader's own failures. A student's mistake is a result, never one of these."""

from __future__ import annotations


class GraderError(Exception):
    """Base class of every error the grader raises about itself, its config or its arguments."""

    exit_code = 1


class ConfigError(GraderError):
    """``assignments.yml`` is missing, malformed, or names something that does not exist."""

    exit_code = 2

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

    exit_code = 2


class KernelStartError(GraderError):
    """The grader could not start a Jupyter kernel at all: an environment problem, not the student's."""

    exit_code = 3
