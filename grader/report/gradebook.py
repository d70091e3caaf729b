"""``grades.csv``: one row per student (id, file, each question's score, total, status)."""

from __future__ import annotations

import csv
import io
from typing import Sequence

from ..results import SubmissionResult, printable_text

NOT_GRADED = "not_graded"
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str) -> str:
    """A cell spreadsheets will not run as a formula (a file name may start with ``=``), in UTF-8."""
    value = printable_text(value)
    return "'" + value if value.startswith(_FORMULA) else value


def _number(x: float) -> str:
    return f"{round(x, 4):g}"


def gradebook_csv(question_ids: Sequence[str],
                  rows: Sequence[tuple[str, str, SubmissionResult | None]]) -> str:
    """CSV text for ``(student id, file, result)`` rows; a row without a result is ``not_graded``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["id", "file", *question_ids, "total", "status"])
    for sid, file, result in rows:
        if result is None:
            writer.writerow([_text(sid), _text(file), *([""] * len(question_ids)), "", NOT_GRADED])
            continue
        scores = {q.id: q.score for q in result.questions}
        writer.writerow([_text(sid), _text(file),
                         *(_number(scores[q]) if q in scores else "" for q in question_ids),
                         _number(result.score), result.status])
    return buffer.getvalue()


__all__ = ["NOT_GRADED", "gradebook_csv"]
