"""The assignment model: what ``assignments.yml`` declares, as frozen, typed objects.

Every stage reads these and none of them writes them; the model imports nothing of the grader but
its error class, so every module can import it without a cycle (the parser is in :mod:`grader.config`,
the check kinds' code in :mod:`grader.checks`).
"""

from __future__ import annotations

import difflib
import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from .errors import ConfigError


class CheckKind(str, enum.Enum):
    """The check kinds the grader knows; each has a module in ``grader/checks/``."""

    ANALYTIC_GRADIENT = "analytic_gradient"
    FINITE_DIFFERENCE = "finite_difference"
    SOFTMAX_NLL = "softmax_nll"
    MLP = "mlp"
    TRAINING = "training"
    ACCURACY = "accuracy"
    PROBABILITY = "probability"
    AUTOGRAD = "autograd"
    VALUE_EXAMPLE = "value_example"
    DEEP_CHAIN = "deep_chain"


class Visibility(str, enum.Enum):
    """Gradescope's visibility values."""

    VISIBLE = "visible"
    HIDDEN = "hidden"
    AFTER_DUE_DATE = "after_due_date"
    AFTER_PUBLISHED = "after_published"


@dataclass(frozen=True)
class Limits:
    """Time, memory and output budgets for one submission (seconds, MiB, bytes)."""

    cell_timeout: float = 30.0
    probe_timeout: float = 10.0
    submission_timeout: float = 300.0
    startup_timeout: float = 60.0
    memory_mb: int = 2048
    cpu_seconds: int = 600
    file_size_mb: int = 64
    max_processes: int = 256
    disk_mb: int = 256   # each of the kernel's working folder, /tmp and /dev/shm (bubblewrap)
    output_bytes_per_cell: int = 1_000_000
    output_bytes_total: int = 5_000_000


@dataclass(frozen=True)
class Question:
    """One graded question: its points, check kind, check parameters and credit split."""

    id: str
    title: str
    points: float
    kind: CheckKind
    params: Any
    credit: Mapping[str, float]
    visibility: Mapping[str, Visibility]


@dataclass(frozen=True)
class Assignment:
    """One assignment: the notebook students submit and the questions graded in it."""

    id: str
    title: str
    notebook: str
    questions: tuple[Question, ...]
    limits: Limits
    exercise: Path | None = None
    solution: Path | None = None

    @property
    def max_score(self) -> float:
        return sum(q.points for q in self.questions)


@dataclass(frozen=True)
class Config:
    """Every assignment in one ``assignments.yml``, and where that file is."""

    path: Path
    assignments: Mapping[str, Assignment]
    digest: str

    def get(self, assignment_id: str | None) -> Assignment:
        """The named assignment, or the only one when no name is given."""
        if assignment_id is None:
            if len(self.assignments) == 1:
                return next(iter(self.assignments.values()))
            raise ConfigError(f"several assignments in {self.path}; choose one with --assignment "
                              f"({', '.join(self.assignments)})")
        try:
            return self.assignments[assignment_id]
        except KeyError:
            raise ConfigError(f"no assignment {assignment_id!r} in {self.path}",
                              suggestion=_nearest(assignment_id, self.assignments)) from None


@dataclass(frozen=True)
class Preview:
    """What ``assignments.yml`` says before it is validated: enough to start a kernel early."""

    path: Path
    limits: Limits
    solutions: tuple[Path, ...]


def _nearest(word: str, choices: Iterable[str]) -> str | None:
    found = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return found[0] if found else None
