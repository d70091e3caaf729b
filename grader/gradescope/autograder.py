"""Gradescope's ``run_autograder``: find the submitted notebook, grade it, write results.json once.

Layout (Gradescope's): ``ROOT/source`` holds the unpacked autograder.zip (with the shipped
``assignments.yml``), ``ROOT/submission`` the student's upload, ``ROOT/results/results.json`` the
answer. ``ROOT`` is ``$AUTOGRADER_ROOT``, default ``/autograder``.
"""

from __future__ import annotations

import os
import stat
import sys
import time
import traceback
from pathlib import Path
from typing import Any, TextIO

from .. import __version__
from ..model import Assignment, Config
from ..config import load_config
from ..grading.grade import GradeOptions, grade_notebook, result_key
from ..report.gradescope import error_results, gradescope_results
from ..report.table import result_table
from ..results import PartResult, QuestionResult, SubmissionResult, printable_text, write_json_atomic
from ..intake.submission import Unreadable, printable_name, read_notebook_file
from ..sandbox import detect
from ..sandbox.denylist import protected_paths
from ..intake.otterzip import is_submission_zip, notebook_file
from .provision import lock

DEFAULT_ROOT = Path("/autograder")
_SKIPPED_DIRS = frozenset({".ipynb_checkpoints", "__MACOSX", ".git"})


def autograder_root() -> Path:
    """``$AUTOGRADER_ROOT``, else ``/autograder``."""
    return Path(os.environ.get("AUTOGRADER_ROOT") or DEFAULT_ROOT)


class NoSubmission(Exception):
    """No single notebook can be graded; ``reason`` is the sentence the student sees."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _files(folder: Path) -> list[Path]:
    """Regular files under ``folder`` (symlinks, checkpoints and macOS litter left out), sorted."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIPPED_DIRS)
        for name in sorted(filenames):
            path = Path(dirpath, name)
            if not name.startswith("._") and stat.S_ISREG(path.lstat().st_mode):
                found.append(path)
    return found


def _names(paths: list[Path], folder: Path, limit: int = 8) -> str:
    shown = ", ".join(f"`{printable_name(str(p.relative_to(folder)))}`" for p in paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def find_submission(folder: Path, expected: str) -> Path:
    """The notebook named ``expected`` (anywhere below ``folder``), else the only ``.ipynb``."""
    files = _files(folder) if folder.is_dir() else []
    notebooks = [p for p in files if p.suffix.lower() == ".ipynb"]
    want = Path(expected).name
    for matches in ([p for p in notebooks if p.name == want],
                    [p for p in notebooks if p.name.lower() == want.lower()]):
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise NoSubmission(f"your submission holds {len(matches)} files named `{want}` "
                               f"({_names(matches, folder)}); upload exactly one")
    if len(notebooks) == 1:
        return notebooks[0]
    zips = [p for p in files if p.suffix.lower() == ".zip" and is_submission_zip(p, otter_only=False)]
    if not notebooks and len(zips) == 1:  # the zip otter's grader.export() makes: its notebook
        return zips[0]
    if notebooks:
        raise NoSubmission(f"your submission holds {len(notebooks)} notebooks "
                           f"({_names(notebooks, folder)}) and none is named `{want}`, so the "
                           f"grader cannot tell which one to grade; upload only your `{want}`")
    received = f" (received: {_names(files, folder)})" if files else ""
    raise NoSubmission(f"no Jupyter notebook (`.ipynb` file) was found in your submission{received}; "
                       f"upload your `{want}` itself, not a PDF, a `.py` export or a link")


def _not_graded(assignment: Assignment, reason: str, name: str, start: float) -> SubmissionResult:
    questions = tuple(
        QuestionResult(q.id, q.title, q.points,
                       tuple(PartResult(part, 0.0, q.points * share, f"not graded: {reason}", False,
                                        q.visibility[part]) for part, share in q.credit.items()))
        for q in assignment.questions)
    return SubmissionResult(assignment.id, name, questions, time.monotonic() - start, __version__,
                            error=reason, key=result_key(b"", assignment))


def _prepare_results(folder: Path) -> None:
    """A results folder only root can write to, without a stale or planted results.json."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        os.chown(folder, 0, 0)
        os.chmod(folder, 0o755)
    (folder / "results.json").unlink(missing_ok=True)


def _grade(root: Path, config: Config, assignment: Assignment, kernel_user: str | None,
           seed: int | None, start: float, log: TextIO) -> SubmissionResult:
    folder = root / "submission"
    try:
        path = find_submission(folder, assignment.notebook)
    except NoSubmission as exc:
        return _not_graded(assignment, exc.reason, "(no notebook)", start)
    name = printable_name(str(path.relative_to(folder)))
    try:  # no link below the upload folder, a regular file, capped (the image has little memory)
        read_notebook_file(path, root=folder, name=f"`{name}`")
        if path.suffix.lower() == ".zip":  # otter's export: the notebook in it, nothing else
            with notebook_file(path, root=folder) as (notebook, shown):
                return _grade_file(root, config, assignment, notebook, kernel_user, seed, log,
                                   printable_name(str(path.parent.relative_to(folder) / shown)))
    except Unreadable as exc:
        return _not_graded(assignment, str(exc), name, start)
    except OSError as exc:
        return _not_graded(assignment, f"`{name}` could not be read ({exc.strerror})", name, start)
    return _grade_file(root, config, assignment, path, kernel_user, seed, log, name)


def _grade_file(root: Path, config: Config, assignment: Assignment, path: Path, kernel_user: str | None,
                seed: int | None, log: TextIO, name: str) -> SubmissionResult:
    # grade_notebook reads the same regular file again: nothing has run yet that could change it.
    # Kernels cannot read root-only folders anyway; where the sandbox can, it hides them as well.
    policy = detect(kernel_user, create_user=kernel_user is not None)
    print(f"isolation: {policy.summary}" + (f" (not stronger: {policy.why})" if policy.why else ""),
          file=log)
    options = GradeOptions(seed=seed, policy=policy.with_hide(
        protected_paths(config, root / "source", root / "results")))
    return grade_notebook(path, assignment, options=options, config_digest=config.digest, name=name)


def run(root: Path | None = None, *, kernel_user: str | None = None, assignment_id: str | None = None,
        seed: int | None = None, log: TextIO = sys.stdout) -> dict[str, Any]:
    """Grade the submission under ``root`` and write ``root/results/results.json`` once, always.

    Whatever goes wrong (a garbage upload, a broken config, a grader bug) still yields a results
    file: the student sees a score and a sentence, the traceback goes to hidden places only
    (stdout, which Gradescope hides, and a hidden test).
    """
    start = time.monotonic()
    root = root or autograder_root()
    results = root / "results" / "results.json"
    _prepare_results(results.parent)
    try:
        lock(root / "source")
        config = load_config(root / "source" / "assignments.yml", notebooks=False)
        assignment = config.get(assignment_id)
        print(f"grader {__version__}: assignment {assignment.id}", file=log)
        result = _grade(root, config, assignment, kernel_user, seed, start, log)
        data = gradescope_results(result)
        print(result_table(result, log), file=log)
        if result.internal_error:
            print(printable_text(f"grader error:\n{result.internal_error}"), file=log)
    except Exception:  # noqa: BLE001 -- a grader failure still becomes a result, never no result
        text = traceback.format_exc()
        print(printable_text(f"grader error:\n{text}"), file=log)
        data = error_results(text, time.monotonic() - start)
    write_json_atomic(results, data)
    log.flush()
    return data
