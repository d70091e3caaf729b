"""Grades for a learning management system: a Canvas gradebook import, or any roster joined by id.

Both take the final rows of an output folder (overrides applied) and CSV text the LMS gave, and
return CSV text plus what did not match, so that nobody is dropped silently.
"""

from __future__ import annotations

import csv
import difflib
import io
from dataclasses import dataclass, field
from typing import Sequence

from ..errors import UsageError
from .gradebook import GradebookRow, number, text_cell

# Columns that identify a student in a Canvas export; Canvas needs them back to match rows.
CANVAS_IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Integration ID", "Section")


@dataclass
class Export:
    """CSV text for the LMS, and who is not in it."""

    text: str
    column: str = ""
    filled: int = 0
    no_submission: list[str] = field(default_factory=list)   # on the roster, nothing stored
    not_graded: list[str] = field(default_factory=list)      # stored, but no score yet (grader error)
    not_on_roster: list[str] = field(default_factory=list)   # stored, but not on the roster
    points_possible: str = ""
    notes: list[str] = field(default_factory=list)            # anything else to tell the user


def _score(row: GradebookRow) -> str | None:
    """The total to upload, or None when there is none yet (a grader error, not graded)."""
    if row.result is None or row.result.status == "grader_error":
        return None
    return number(row.result.score)


def _read(text: str, what: str) -> list[list[str]]:
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    if not rows:
        raise UsageError(f"{what} is empty")
    return rows


def find_column(header: Sequence[str], wanted: str) -> int:
    """The index of ``wanted`` in a Canvas header: the exact name, or ``NAME`` of ``NAME (ID)``."""
    exact = [i for i, h in enumerate(header) if h.strip() == wanted.strip()]
    loose = [i for i, h in enumerate(header)
             if h.strip().startswith(wanted.strip() + " (") or h.strip().endswith(f"({wanted.strip()})")]
    found = exact or loose
    if len(found) == 1:
        return found[0]
    if found:
        raise UsageError(f"--column {wanted!r} matches several columns: "
                         + ", ".join(repr(header[i]) for i in found) + "; give the whole name")
    near = difflib.get_close_matches(wanted, [h for h in header if h not in CANVAS_IDENTITY], n=3)
    hint = f" (did you mean {', '.join(map(repr, near))}?)" if near else ""
    raise UsageError(f"no column {wanted!r} in the gradebook{hint}; assignment columns look like "
                     f"'HW1 (12345)'")


def canvas_import(gradebook: str, column: str, rows: Sequence[GradebookRow]) -> Export:
    """A Canvas import file: the identity columns and ``column`` of the exported ``gradebook``.

    The header rows Canvas puts above the students ("Points Possible", posting policy) are kept;
    each student's cell is their total, matched by Canvas user id (the ``ID`` column, which is the
    number in Canvas's submission download names). Other assignments' columns are left out, so the
    import cannot overwrite grades changed in Canvas since the export.
    """
    table = _read(gradebook, "the gradebook")
    header = table[0]
    if "ID" not in header or "Student" not in header:
        raise UsageError("the gradebook is not a Canvas export: it has no 'Student' and 'ID' "
                         "columns (Grades → Export → Export Entire Gradebook)")
    target = find_column(header, column)
    keep = [i for i, h in enumerate(header) if h in CANVAS_IDENTITY] + [target]
    id_at, name_at = header.index("ID"), header.index("Student")
    scores = {r.id: r for r in rows}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([header[i] for i in keep])
    export = Export("", header[target])
    seen: set[str] = set()
    for line in table[1:]:
        line = line + [""] * (len(header) - len(line))
        sid = line[id_at].strip()
        if not sid.isdigit():  # a header row: Points Possible, Manual Posting, …
            if line[name_at].strip() == "Points Possible":
                export.points_possible = line[target].strip()
            writer.writerow([line[i] for i in keep])
            continue
        cells = [line[i] for i in keep]
        who = f"{line[name_at]} ({sid})"
        row = scores.get(sid)
        score = _score(row) if row is not None else None
        seen.add(sid)
        if row is None:
            export.no_submission.append(who)
            cells[-1] = ""
        elif score is None:
            export.not_graded.append(who)
            cells[-1] = ""
        else:
            cells[-1] = score
            export.filled += 1
        writer.writerow(cells)
    export.not_on_roster = [r.id for r in rows if r.id not in seen]
    export.text = out.getvalue()
    return export


def roster_join(roster: str, rows: Sequence[GradebookRow], question_ids: Sequence[str],
                id_column: str | None = None) -> Export:
    """Every roster row (id, name, email, …) followed by each question's score, total and status."""
    table = _read(roster, "the roster")
    header = table[0]
    lowered = [h.strip().lower() for h in header]
    wanted = (id_column or "id").strip().lower()
    if wanted not in lowered:
        raise UsageError(f"the roster has no {id_column or 'id'!r} column (its columns: "
                         f"{', '.join(header)}); name it with --id-column")
    id_at = lowered.index(wanted)
    scores = {r.id: r for r in rows}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*header, "file", *question_ids, "total", "status", "overrides"])
    export = Export("")
    seen: set[str] = set()
    for line in table[1:]:
        if not any(cell.strip() for cell in line):
            continue
        line = line + [""] * (len(header) - len(line))
        sid = line[id_at].strip()
        seen.add(sid)
        row = scores.get(sid)
        if row is None or row.result is None:
            (export.no_submission if row is None else export.not_graded).append(sid)
            writer.writerow([*line, "", *([""] * len(question_ids)), "",
                             "no submission" if row is None else "not_graded", ""])
            continue
        by_q = {q.id: q.score for q in row.result.questions}
        total = _score(row)
        if total is None:
            export.not_graded.append(sid)
        else:
            export.filled += 1
        writer.writerow([*line, text_cell(row.file),
                         *(number(by_q[q]) if q in by_q and total is not None else "" for q in question_ids),
                         total or "", row.result.status, text_cell(row.overrides)])
    export.not_on_roster = [r.id for r in rows if r.id not in seen]
    export.text = out.getvalue()
    return export


__all__ = ["CANVAS_IDENTITY", "Export", "canvas_import", "find_column", "roster_join"]
