"""``grades.csv``: one row per student (id, file, each question's score, total, status, overrides)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Sequence

from ..results import SubmissionResult, printable_text

NOT_GRADED = "not_graded"
DAMAGED = "damaged_result"  # a stored result that cannot be read: regraded by the next `grader run`
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class GradebookRow:
    """One student's row: the result with overrides applied (None: not graded yet), and what they are."""

    id: str
    file: str
    result: SubmissionResult | None
    overrides: str = ""   # "q1_gradf 2 (grader 0.8): reason; …"
    status: str = ""      # for a row without a result: NOT_GRADED (default) or DAMAGED


def text_cell(value: str) -> str:
    """A cell spreadsheets will not run as a formula (a file name may start with ``=``), in UTF-8."""
    value = printable_text(value)
    return "'" + value if value.startswith(_FORMULA) else value


def number(x: float) -> str:
    """A score as a gradebook shows it: at most four decimals, no trailing zeros."""
    return f"{round(x, 4):g}"


def gradebook_csv(question_ids: Sequence[str], rows: Sequence[GradebookRow]) -> str:
    """CSV text for the rows; a row without a result is ``not_graded`` (or its own ``status``)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["id", "file", *question_ids, "total", "status", "overrides"])
    for row in rows:
        result = row.result
        if result is None:
            writer.writerow([text_cell(row.id), text_cell(row.file), *([""] * len(question_ids)), "",
                             row.status or NOT_GRADED, ""])
            continue
        scores = {q.id: q.score for q in result.questions}
        writer.writerow([text_cell(row.id), text_cell(row.file),
                         *(number(scores[q]) if q in scores else "" for q in question_ids),
                         number(result.score), result.status, text_cell(row.overrides)])
    return buffer.getvalue()


__all__ = ["DAMAGED", "NOT_GRADED", "GradebookRow", "gradebook_csv", "number", "text_cell"]
