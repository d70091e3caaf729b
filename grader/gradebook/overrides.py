"""Manual overrides: an instructor's score for one question of one submission.

They live in ``OUT/overrides.csv`` (``id,question,points,reason,date``; editable by hand), apart
from the grader's results: ``result.json`` always keeps the grader's own verdict, so a regrade
recomputes it and the override still applies on top. Every report made from a result (grades.csv,
feedback.md, results.json, exports) goes through :func:`apply_overrides`, which adds a visible
"instructor override" part to the question saying what the grader gave and why it was changed.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from ..errors import UsageError
from ..results import PartResult, QuestionResult, SubmissionResult, Visibility, write_text_atomic
from ..results import points as show

FILE = "overrides.csv"
COLUMNS = ("id", "question", "points", "reason", "date")
PART = "instructor override"


@dataclass(frozen=True)
class Override:
    """The points an instructor gives one question of one submission, and why."""

    id: str
    question: str
    points: float
    reason: str
    date: str = ""


def _points(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise ValueError(text)
    return value


def load_overrides(root: Path) -> dict[str, list[Override]]:
    """``OUT/overrides.csv`` by student id (empty when there is none); a bad line is a UsageError."""
    path = Path(root) / FILE
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise UsageError(f"cannot read {path} ({exc.strerror})") from None
    rows = csv.DictReader(io.StringIO(text))
    missing = [c for c in COLUMNS[:4] if c not in (rows.fieldnames or ())]
    if missing:
        raise UsageError(f"{path}: missing column(s) {', '.join(missing)}; expected {','.join(COLUMNS)}")
    found: dict[str, list[Override]] = {}
    for line, row in enumerate(rows, start=2):
        try:
            found.setdefault(row["id"], []).append(
                Override(row["id"], row["question"], _points(row["points"]), row["reason"] or "",
                         row.get("date") or ""))
        except (TypeError, ValueError):
            raise UsageError(f"{path}:{line}: points must be a number of at least 0, "
                             f"not {row.get('points')!r}") from None
    return found


def save_overrides(root: Path, overrides: Mapping[str, Sequence[Override]]) -> Path:
    """Write every override, sorted by student and question (atomically)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for o in sorted((o for group in overrides.values() for o in group),
                    key=lambda o: (o.id, o.question)):
        writer.writerow([o.id, o.question, f"{o.points:g}", o.reason, o.date])
    path = Path(root) / FILE
    write_text_atomic(path, buffer.getvalue())
    return path


def check_override(override: Override, result: SubmissionResult) -> None:
    """UsageError unless the question is one of the result's and the points fit it."""
    question = next((q for q in result.questions if q.id == override.question), None)
    if question is None:
        raise UsageError(f"no question {override.question!r} in {result.assignment}; its questions: "
                         f"{', '.join(q.id for q in result.questions)}")
    if not 0 <= override.points <= question.max_score:
        raise UsageError(f"{override.question} is worth {question.max_score:g} points; "
                         f"{override.points:g} is not between 0 and {question.max_score:g}")
    if not override.reason.strip():
        raise UsageError("--reason must say why (the student sees it in their feedback)")


def _override_question(q: QuestionResult, o: Override) -> QuestionResult:
    own = sum(p.score for p in q.parts if p.name != PART)
    points = min(max(o.points, 0.0), q.max_score)
    message = (f"Your score {show(points)} of {show(q.max_score)} (set by the instructor: "
               f"{o.reason}); the grader gave {show(q.score)}")
    part = PartResult(PART, points - own, 0.0, message, True, Visibility.VISIBLE)
    return replace(q, parts=tuple(p for p in q.parts if p.name != PART) + (part,))


def apply_overrides(result: SubmissionResult, overrides: Iterable[Override]) -> SubmissionResult:
    """``result`` with each overridden question's score set, the grader's own score said beside it."""
    by_question = {o.question: o for o in overrides}
    if not by_question:
        return result
    return replace(result, questions=tuple(
        _override_question(q, by_question[q.id]) if q.id in by_question else q
        for q in result.questions))


def describe(result: SubmissionResult, overrides: Iterable[Override]) -> str:
    """One gradebook cell: ``q1_gradf 2 (grader 0.8): reason; …`` for the overrides that apply."""
    scores = {q.id: q.score for q in result.questions}
    return "; ".join(f"{o.question} {show(o.points)} (grader {show(scores[o.question])}): {o.reason}"
                     for o in sorted(overrides, key=lambda o: o.question) if o.question in scores)


__all__ = ["FILE", "Override", "apply_overrides", "check_override", "describe", "load_overrides",
           "save_overrides"]
