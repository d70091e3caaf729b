"""Commands on a batch output folder: override a score, export grades to an LMS."""

from __future__ import annotations

import datetime
import os
import tempfile
from pathlib import Path

from ..errors import UsageError
from .overrides import Override, check_override, load_overrides, save_overrides
from ..report.lms import Export, canvas_import, roster_join
from ..results import points as show
from ..results import write_text_atomic
from .store import GRADES, Store


def open_store(out: Path) -> Store:
    """The output folder ``out`` of an earlier ``grader run … --out``, or UsageError."""
    if not (Path(out) / "submissions").is_dir():
        raise UsageError(f"{out} is not a grader output folder (no submissions/ in it); "
                         f"grade into it first with `grader run SUBMISSIONS --out {out}`")
    return Store(Path(out))


def set_override(out: Path, sid: str, question: str, points: float | None, reason: str,
                 *, remove: bool = False) -> str:
    """Record (or remove) an override, rewrite the student's reports and grades.csv; what was done."""
    store = open_store(out)
    record = store.record(sid)
    if record is None:
        known = [s for s, _, _ in store.stored()]
        raise UsageError(f"no submission {sid!r} in {out}" + (f" (ids: {', '.join(known[:8])}"
                                                              + (" …)" if len(known) > 8 else ")")
                                                              if known else ""))
    _, result = record
    with store.locked("override"):
        overrides = load_overrides(store.root)
        mine = [o for o in overrides.get(sid, []) if o.question != question]
        if remove:
            if len(mine) == len(overrides.get(sid, [])):
                raise UsageError(f"{sid} has no override on {question}")
            done = f"removed the override of {sid} {question}"
        else:
            assert points is not None
            new = Override(sid, question, points, reason.strip(),
                           datetime.date.today().isoformat())
            check_override(new, result)
            mine.append(new)
            grader_score = next(q.score for q in result.questions if q.id == question)
            done = f"{sid} {question}: {show(points)} (the grader gave {show(grader_score)})"
        overrides[sid] = mine
        save_overrides(store.root, overrides)
        store.rebuild()
    return done


def check_writable(path: Path, what: str, *, folder: bool = False) -> None:
    """UsageError unless ``path`` (a file, or with ``folder`` a folder) can be created or written.

    Creates nothing that stays: a file is probed in the folder it would go in (which must exist);
    a folder in its nearest existing ancestor (it is created later, when grading starts).
    """
    path = Path(path)
    if folder:
        if path.exists() and not path.is_dir():
            raise UsageError(f"{what} {path} is a file, not a folder")
        where = path.absolute()
        while not where.exists():
            where = where.parent
        if not where.is_dir():
            raise UsageError(f"{what} {path}: {where} is a file, not a folder")
    else:
        if path.is_dir():
            raise UsageError(f"{what} {path} is a folder; give a file name")
        where = path.parent
        if not where.is_dir():
            raise UsageError(f"{what} {path}: the folder {where} does not exist")
    resolved = where.resolve()
    if any(resolved == Path(p) or Path(p) in resolved.parents for p in ("/proc", "/sys", "/dev")):
        raise UsageError(f"{what} {path} is under /{resolved.parts[1]}, which holds no ordinary files")
    try:
        fd, probe = tempfile.mkstemp(dir=where, prefix=".grader-probe-")
    except OSError as exc:
        raise UsageError(f"{what} {path} cannot be written ({exc.strerror})") from None
    os.close(fd)
    os.unlink(probe)


def export(out: Path, output: Path, *, gradebook: Path | None = None, column: str | None = None,
           roster: Path | None = None, id_column: str | None = None) -> Export:
    """Write a Canvas import (``gradebook`` and ``column``) or a roster join to ``output``."""
    store = open_store(out)
    check_writable(output, "-o")
    source = gradebook if gradebook is not None else roster
    assert source is not None
    try:
        text = Path(source).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise UsageError(f"cannot read {source} ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise UsageError(f"{source} is not UTF-8 CSV text") from None
    rows = store.final()
    if not rows:
        raise UsageError(f"no graded submissions in {out}")
    if gradebook is not None:
        assert column is not None
        result = canvas_import(text, column, rows)
        top = max((r.result.max_score for r in rows if r.result is not None), default=0.0)
        try:
            possible = float(result.points_possible)
        except ValueError:
            possible = top
        if abs(possible - top) > 1e-9:
            result.notes.append(f"{result.column!r} is worth {possible:g} points in Canvas and the "
                                f"assignment {top:g}: the totals were written as they are (out of "
                                f"{top:g}); change the points in Canvas, or the scores, to match")
    else:
        ids = list(dict.fromkeys(q.id for r in rows if r.result for q in r.result.questions))
        result = roster_join(text, rows, ids, id_column)
    if len(result.not_on_roster) == len(rows):
        what = "gradebook" if gradebook is not None else "roster"
        raise UsageError(f"none of the {len(rows)} graded students in {out} is in the {what} {source} "
                         f"(graded ids such as {', '.join(sorted(r.id for r in rows)[:3])}): is it "
                         f"this class's {what}? Nothing was written")
    write_text_atomic(output, result.text)
    return result


__all__ = ["GRADES", "check_writable", "export", "open_store", "set_override"]
