"""The batch output folder: per-submission results, ``grades.csv``, overrides, a lock, kernel tokens.

``submissions/<id>/result.json`` is the record of a submission (the grader's own verdict and what it
was computed from); ``results.json``, ``feedback.md`` and ``feedback.html`` beside it, and
``grades.csv`` and the class report ``report.html``, are made from the records with the
instructor's overrides applied, so they can always be rebuilt. Every
file is written atomically. ``grades.csv`` lists every submission stored in the folder, whichever
ones the last run graded.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import json
import os
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from .errors import UsageError
from .overrides import Override, apply_overrides, describe, load_overrides
from .report.classreport import REPORT, Entry, class_report
from .report.feedback import feedback_markdown
from .report.gradebook import NOT_GRADED, GradebookRow, gradebook_csv, text_cell
from .report.gradescope import gradescope_results
from .report.webpage import feedback_html
from .results import SubmissionResult, write_json_atomic, write_text_atomic
from .sandbox.reap import kill_token

GRADES = "grades.csv"


class Store:
    """One output folder; open it with :meth:`locked` before writing."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.state = self.root / ".grader"
        self.kernels = self.state / "kernels"

    def folder(self, sid: str) -> Path:
        return self.root / "submissions" / sid

    @contextlib.contextmanager
    def locked(self, what: str = "grader batch") -> Iterator[Store]:
        """Hold the folder's lock (one writer at a time); reap kernels a killed batch left behind."""
        self.kernels.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.state / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UsageError(f"another grader batch is writing to {self.root}; "
                                 f"run the {what} when it has finished") from None
            for token_file in self.kernels.iterdir():
                kill_token(token_file.name)
                token_file.unlink(missing_ok=True)
            for partial in self.root.glob("submissions/*/.*.tmp"):  # a write cut short by kill -9
                partial.unlink(missing_ok=True)
            yield self
        finally:
            os.close(fd)

    def kernel_started(self, token: str) -> None:
        (self.kernels / token).touch()

    def kernel_stopped(self, token: str) -> None:
        (self.kernels / token).unlink(missing_ok=True)

    # ------------------------------------------------------------- records

    def record(self, sid: str) -> tuple[str, SubmissionResult] | None:
        """The stored ``(file, result)`` of ``sid``, or None when there is none (or it is damaged)."""
        try:
            data = json.loads((self.folder(sid) / "result.json").read_text(encoding="utf-8"))
            return str(data.get("file", "")), SubmissionResult.from_dict(data["result"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def stored(self) -> list[tuple[str, str, SubmissionResult]]:
        """Every stored ``(id, file, result)``, sorted by id: the grader's own verdicts."""
        found = []
        for path in sorted((self.root / "submissions").glob("*/result.json")):
            sid = path.parent.name
            record = self.record(sid)
            if record is not None:
                found.append((sid, *record))
        return found

    def current(self, sid: str, key: dict[str, str]) -> SubmissionResult | None:
        """The stored result for ``sid`` if it was graded from exactly this key, else None."""
        record = self.record(sid)
        if record is None:
            return None
        result = record[1]
        if result.key != key or result.internal_error is not None:
            return None
        return result

    def save(self, sid: str, file: str, result: SubmissionResult,
             overrides: Sequence[Override] = ()) -> None:
        """Write the reports, then the record that marks the submission done (each atomically)."""
        self.render(sid, result, overrides)
        write_json_atomic(self.folder(sid) / "result.json", {"id": sid, "file": file,
                                                             "result": result.to_dict()})

    def render(self, sid: str, result: SubmissionResult, overrides: Sequence[Override] = ()) -> None:
        """(Re)write ``results.json``, ``feedback.md`` and ``feedback.html`` from the record, when
        they differ."""
        final = apply_overrides(result, overrides)
        folder = self.folder(sid)
        _write_if_changed(folder / "feedback.md", feedback_markdown(final))
        _write_if_changed(folder / "feedback.html", feedback_html(final))
        results = gradescope_results(final)
        try:
            same = json.loads((folder / "results.json").read_text(encoding="utf-8")) == \
                json.loads(json.dumps(results))
        except (OSError, ValueError):
            same = False
        if not same:
            write_json_atomic(folder / "results.json", results)

    # ------------------------------------------------------------- gradebook

    def rebuild(self, question_ids: Sequence[str] = (),
                pending: Iterable[tuple[str, str]] = ()) -> Path:
        """Rewrite every submission's reports (where overrides changed them), ``grades.csv`` and
        ``report.html``.

        ``grades.csv`` has a row for every stored submission, and for each ``(id, file)`` in
        ``pending`` that has none yet (``not_graded``: a run interrupted before it).
        """
        overrides = load_overrides(self.root)
        stored = self.stored()
        ids = list(dict.fromkeys([*question_ids, *(q.id for _, _, r in stored for q in r.questions)]))
        rows: dict[str, GradebookRow] = {}
        for sid, file, result in stored:
            mine = overrides.get(sid, [])
            self.render(sid, result, mine)
            rows[sid] = GradebookRow(sid, file, apply_overrides(result, mine), describe(result, mine))
        for sid, file in pending:
            rows.setdefault(sid, GradebookRow(sid, file, None))
        path = self.root / GRADES
        write_text_atomic(path, gradebook_csv(ids, [rows[sid] for sid in sorted(rows)]))
        self.write_report(ids, pending, stored=stored, overrides=overrides)
        return path

    def write_report(self, question_ids: Sequence[str] = (), pending: Iterable[tuple[str, str]] = (),
                     progress: tuple[int, int] | None = None, *,
                     stored: list[tuple[str, str, SubmissionResult]] | None = None,
                     overrides: dict[str, list[Override]] | None = None) -> Path:
        """Rewrite ``report.html`` from the stored results (``progress``: a batch still running)."""
        stored = self.stored() if stored is None else stored
        overrides = load_overrides(self.root) if overrides is None else overrides
        entries = [Entry(sid, file, result, tuple(overrides.get(sid, ()))) for sid, file, result in stored]
        path = self.root / REPORT
        write_text_atomic(path, class_report(entries, question_ids, list(pending), progress=progress))
        return path

    def not_graded(self) -> list[tuple[str, str]]:
        """The ``(id, file)`` that ``grades.csv`` lists as not graded yet (an interrupted run)."""
        try:
            with open(self.root / GRADES, newline="", encoding="utf-8") as fh:
                return [(row["id"], _unquoted(row["file"])) for row in csv.DictReader(fh)
                        if row.get("status") == NOT_GRADED and row.get("id")]
        except (OSError, ValueError, KeyError):
            return []

    def final(self) -> list[GradebookRow]:
        """Every stored submission with its overrides applied (for exports), sorted by id."""
        overrides = load_overrides(self.root)
        return [GradebookRow(sid, file, apply_overrides(r, overrides.get(sid, [])),
                             describe(r, overrides.get(sid, [])))
                for sid, file, r in self.stored()]


def _unquoted(cell: str) -> str:
    """A ``grades.csv`` text cell as it was before :func:`text_cell` guarded it against formulas."""
    return cell[1:] if cell.startswith("'") and cell[1:2] and text_cell(cell[1:]) == cell else cell


def _write_if_changed(path: Path, text: str) -> None:
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except (OSError, ValueError):
        pass
    write_text_atomic(path, text)


def rebuild_report(out: Path) -> Path:
    """``grader report OUT``: rewrite ``OUT/report.html`` from the stored results, grading nothing
    (and every other file made from them: feedback, ``grades.csv``, where they differ)."""
    store = Store(Path(out))
    if not (store.root / "submissions").is_dir():
        raise UsageError(f"{out} is not a grader output folder (no submissions/ in it); "
                         f"grade into it first with `grader run SUBMISSIONS --out {out}`")
    with store.locked("report"):
        store.rebuild(pending=store.not_graded())
    return store.root / REPORT


__all__ = ["GRADES", "REPORT", "Store", "rebuild_report"]
