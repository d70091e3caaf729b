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

from ..errors import UsageError
from .overrides import Override, apply_overrides, describe, load_overrides
from ..report.classreport import REPORT, Entry, class_report
from ..report.feedback import feedback_markdown
from ..report.gradebook import DAMAGED, NOT_GRADED, GradebookRow, gradebook_csv, text_cell
from ..report.gradescope import gradescope_results
from ..report.webpage import feedback_html
from ..results import SubmissionResult, write_json_atomic, write_text_atomic
from ..sandbox.reap import kill_token
from ..intake.submission import printable_name

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
            # No shard runs now: the shard count they used no longer binds the next ones.
            (self.state / "shards" / "count").unlink(missing_ok=True)
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

    def _load(self, sid: str) -> tuple[str, SubmissionResult] | None:
        """The stored ``(file, result)`` of ``sid``; None when there is none; :class:`Damaged` when
        the record is there but cannot be read (cut short, edited by hand, a disk error)."""
        path = self.folder(sid) / "result.json"
        try:
            text = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise Damaged(f"cannot be read ({exc.strerror})") from None
        try:
            data = json.loads(text.decode("utf-8"))
        except (ValueError, RecursionError) as exc:
            raise Damaged(f"is not valid JSON ({type(exc).__name__})") from None
        try:
            return str(data.get("file", "")), SubmissionResult.from_dict(data["result"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise Damaged(f"is not a grader result ({type(exc).__name__}: {exc})") from None

    def record(self, sid: str) -> tuple[str, SubmissionResult] | None:
        """The stored ``(file, result)`` of ``sid``, or None when there is none (or it is damaged)."""
        try:
            return self._load(sid)
        except Damaged:
            return None

    def damage(self, sid: str) -> str | None:
        """Why ``sid``'s stored record cannot be read, or None when it can (or there is none)."""
        try:
            self._load(sid)
        except Damaged as exc:
            return str(exc)
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

    def damaged(self) -> list[tuple[str, str, str]]:
        """Every stored record that cannot be read, as ``(id, file if still legible, why)``,
        sorted by id. ``grades.csv`` lists each with the status ``damaged_result``."""
        found = []
        for path in sorted((self.root / "submissions").glob("*/result.json")):
            why = self.damage(path.parent.name)
            if why is not None:
                found.append((path.parent.name, _legible_file(path), why))
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
        damaged = self.damaged()
        for sid, file, _ in damaged:
            rows[sid] = GradebookRow(sid, file, None, status=DAMAGED)
        for sid, file in pending:
            rows.setdefault(sid, GradebookRow(sid, file, None))
        pending = [*pending, *((sid, file) for sid, file, _ in damaged)]  # listed, never counted
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
        rows = [GradebookRow(sid, file, apply_overrides(r, overrides.get(sid, [])),
                             describe(r, overrides.get(sid, [])))
                for sid, file, r in self.stored()]
        rows += [GradebookRow(sid, file, None, status=DAMAGED) for sid, file, _ in self.damaged()]
        return sorted(rows, key=lambda row: row.id)


class Damaged(Exception):
    """A stored record that is there but cannot be read; the message says why."""


def _legible_file(path: Path) -> str:
    """The ``file`` a damaged record still names legibly, else ""."""
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
        return printable_name(data["file"]) if isinstance(data["file"], str) else ""
    except Exception:  # noqa: BLE001 -- damaged: whatever it holds, nothing more to learn
        return ""


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


__all__ = ["GRADES", "REPORT", "Damaged", "Store", "rebuild_report"]
