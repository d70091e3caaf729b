"""Write an assignment in otter-grader's student workflow: notebooks with check cells, OK tests.

Per assignment, ``OUT/<id>/student/`` is what students get: the exercise notebook with an otter
set-up cell, a ``grader.check("<question id>")`` cell at the end of each question's section and
the tests in its metadata (``metadata.otter.tests``, OK format), plus the same tests as files in
``tests/`` (Colab reads only those). ``OUT/<id>/instructor/`` holds the solution notebook with the
same cells and tests, every check passing. Tests are built from ``specs`` (the config and the
grader's references) and run the grader's own probe code in the student's kernel; solutions are
never read for them.
"""

from __future__ import annotations

import copy
import inspect
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import nbformat

from .. import inkernel
from ..checks import fd_steps
from ..model import Assignment, Config
from ..errors import UsageError
from . import runtime
from .specs import Spec, published_parts, specs

RUNTIME_NAME = "grader_otter"
_HEADING = re.compile(r"^\s*#", re.MULTILINE)


def test_source(spec: Spec) -> str:
    """The Python that a test sends into the student's kernel before judging (no hidden data): for
    a finite-difference question the step recovery, then the probe runner's parts and the check's,
    then ``SPEC``, assembled as one source for one namespace."""
    parts = [inspect.getsource(fd_steps)] if spec.data["judge"] == "fd" else []
    parts += [inkernel.module_source(name) for name in inkernel.MODULES]
    parts += [runtime.module_source(name) for name in runtime.MODULES]
    parts.append(f"SPEC = {json.loads(json.dumps(spec.data))!r}\n")
    return inkernel.assemble(*parts)


def ok_test(spec: Spec) -> dict[str, Any]:
    """The question's OK-format test: one case loads the check, the next prints its verdict."""
    q = spec.question
    points = q.points * sum(q.credit[p] for p in published_parts(q))
    module = f"{RUNTIME_NAME}_{q.id}"
    # Doctest runs each case on a copy of the notebook's globals, so the check is kept as a module.
    load = (f">>> import sys, types; {RUNTIME_NAME} = types.ModuleType({module!r}); "
            f"sys.modules[{module!r}] = {RUNTIME_NAME}; "
            f"exec({test_source(spec)!r}, {RUNTIME_NAME}.__dict__)\n")
    check = f">>> import {module}\n>>> print({module}.check(globals()))\n{spec.ok}\n"
    return {"name": q.id, "points": [0, round(points, 6)],
            "suites": [{"cases": [{"code": load, "hidden": False, "locked": False},
                                  {"code": check, "hidden": False, "locked": False,
                                   "failure_message": f"{q.id}: {q.title} (the published check)"}],
                        "scored": True, "setup": "", "teardown": "", "type": "doctest"}]}


def test_file(test: dict[str, Any]) -> str:
    return f"OK_FORMAT = True\n\ntest = {test!r}\n"


def _mentions(cell: Any, qid: str) -> bool:
    return cell.cell_type == "markdown" and f"`{qid}`" in cell.source and bool(_HEADING.match(cell.source))


def with_checks(nb: Any, assignment: Assignment, tests: dict[str, dict[str, Any]]) -> Any:
    """A copy of ``nb``: outputs cleared, an otter set-up cell first, check cells after each
    question's section (the cells up to the next heading after the heading naming the question)."""
    nb = copy.deepcopy(nb)
    cells = list(nb.cells)
    at_end: dict[int, list[str]] = {}
    for qid in tests:
        start = next((i for i, c in enumerate(cells) if _mentions(c, qid)), None)
        end = len(cells)
        if start is not None:
            end = next((i for i in range(start + 1, len(cells)) if cells[i].cell_type == "markdown"
                        and _HEADING.match(cells[i].source)), len(cells))
        at_end.setdefault(end, []).append(qid)
    out = [nbformat.v4.new_code_cell(
        f"# Initialize Otter: the checks below run the published tests of `grader run`\n"
        f"import otter\ngrader = otter.Notebook({Path(assignment.notebook).name!r})")]
    for i in range(len(cells) + 1):
        for qid in at_end.get(i, []):
            out.append(nbformat.v4.new_code_cell(f'grader.check("{qid}")'))
        if i < len(cells):
            out.append(cells[i])
    out += [nbformat.v4.new_markdown_cell(
                "## Submission\n\nSave the notebook, then run the cell below to make the zip to "
                "submit. The course grades it with `grader`: these checks again, and hidden inputs."),
            nbformat.v4.new_code_cell("grader.export(pdf=False, run_tests=False)")]
    for k, cell in enumerate(out):  # fresh, deterministic ids: the same sources give the same bytes
        cell["id"] = f"cell-{k}"
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.cells = out
    nb.metadata["otter"] = {"OK_FORMAT": True, "tests": tests}
    return nb


def _write_folder(folder: Path, nb: Any, name: str, tests: dict[str, dict[str, Any]]) -> list[str]:
    """The notebook and its tests/ in ``folder``; the names written, relative to it."""
    (folder / "tests").mkdir(parents=True)
    nbformat.write(nb, str(folder / name))
    written = [name]
    for qid, test in tests.items():
        (folder / "tests" / f"{qid}.py").write_text(test_file(test), encoding="utf-8")
        written.append(f"tests/{qid}.py")
    return written


def _replace(staged: Path, target: Path) -> None:
    """``target`` becomes ``staged`` (a folder beside it): renamed in whole, the old one removed."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(staged, target)
    if old is not None:
        shutil.rmtree(old)


def export_assignment(config: Config, assignment: Assignment, out: Path) -> tuple[list[Path], list[str]]:
    """Write ``out/<id>/student`` and, where the config's solution exists, ``out/<id>/instructor``;
    the files written and notes. Everything is written into a folder beside ``out/<id>`` first and
    renamed into place when complete: an error leaves ``out`` as it was."""
    tests = {s.question.id: ok_test(s) for s in specs(assignment)}
    name = Path(assignment.notebook).name
    if assignment.exercise is None:
        raise UsageError(f"assignment {assignment.id} has no exercise notebook in {config.path}: "
                         f"add `exercise: PATH` (relative to that file's folder)")
    notes = []
    roles = [("student", assignment.exercise)]
    if assignment.solution is not None:
        roles.append(("instructor", assignment.solution))
    else:
        notes.append(f"{assignment.id}: no instructor copy: {config.path} names no solution notebook "
                     f"that exists (the installed package carries none); pass --config with the "
                     f"course checkout's assignments.yml to write it")
    out.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{assignment.id}.", dir=out))
    try:
        written = []
        for role, source in roles:
            nb = with_checks(nbformat.read(str(source), as_version=4), assignment, tests)
            written += [out / assignment.id / role / f
                        for f in _write_folder(staged / role, nb, name, tests)]
        os.chmod(staged, 0o755)
        _replace(staged, out / assignment.id)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return written, notes


def export_otter(config: Config, assignment_id: str | None, out: Path) -> list[Path]:
    """Every assignment (or the one named) exported for otter under ``out``."""
    return _export(config, assignment_id, out)[0]


def _export(config: Config, assignment_id: str | None, out: Path) -> tuple[list[Path], list[str]]:
    chosen = [config.get(assignment_id)] if assignment_id else list(config.assignments.values())
    written: list[Path] = []
    notes: list[str] = []
    for assignment in chosen:
        files, more = export_assignment(config, assignment, out)
        written += files
        notes += more
    return written, notes


def command(config_path: Path, assignment_id: str | None, out: Path) -> int:
    """``grader export otter``: write the folders, say what to hand out; the exit code."""
    from ..config import load_config

    config = load_config(config_path)
    if assignment_id is not None and assignment_id not in config.assignments:
        raise UsageError(f"--assignment: no assignment {assignment_id!r} in {config.path.name} "
                         f"({', '.join(config.assignments)})")
    written, notes = _export(config, assignment_id, out)
    for assignment in ([config.get(assignment_id)] if assignment_id else config.assignments.values()):
        checks = [s.question.id for s in specs(assignment)]
        instructor = out / assignment.id / "instructor"
        print(f"{assignment.id}: hand out {out / assignment.id / 'student'}/ (notebook and tests/); "
              + (f"instructor copy in {instructor}/; " if instructor.is_dir() else "")
              + f"checks: {', '.join(checks)}")
    for note in notes:
        print(f"note: {note}")
    print(f"wrote {len(written)} files")
    return 0
