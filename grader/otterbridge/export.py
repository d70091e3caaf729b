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
import re
from pathlib import Path
from typing import Any

import nbformat

from .. import _in_kernel
from ..checks import fd_steps
from ..config import Assignment, Config
from ..errors import UsageError
from .specs import Spec, published_parts, specs

RUNTIME_NAME = "grader_otter"
_HEADING = re.compile(r"^\s*#", re.MULTILINE)


def _source(module: Any) -> str:
    return inspect.getsource(module)


def test_source(spec: Spec) -> str:
    """The Python that a test sends into the student's kernel before judging (no hidden data)."""
    parts = [_source(fd_steps)] if spec.data["judge"] == "fd" else []
    runtime = (Path(__file__).parent / "_runtime.py").read_text(encoding="utf-8")
    parts += [_source(_in_kernel), runtime, f"SPEC = {json.loads(json.dumps(spec.data))!r}\n"]
    return "\n".join(parts)


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


def export_assignment(config: Config, assignment: Assignment, out: Path) -> list[Path]:
    """Write ``out/<id>/student`` and ``out/<id>/instructor``; the files written."""
    tests = {s.question.id: ok_test(s) for s in specs(assignment)}
    root = config.path.parent
    written = []
    name = Path(assignment.notebook).name
    for role, source in (("student", assignment.exercise), ("instructor", assignment.solution)):
        if source is None:
            raise UsageError(f"assignment {assignment.id} has no {('exercise', 'solution')[role == 'instructor']} "
                             f"notebook in {config.path.name}")
        folder = out / assignment.id / role
        (folder / "tests").mkdir(parents=True, exist_ok=True)
        nb = with_checks(nbformat.read(str(root / source), as_version=4), assignment, tests)
        nbformat.write(nb, str(folder / name))
        written.append(folder / name)
        for qid, test in tests.items():
            path = folder / "tests" / f"{qid}.py"
            path.write_text(test_file(test), encoding="utf-8")
            written.append(path)
    return written


def export_otter(config: Config, assignment_id: str | None, out: Path) -> list[Path]:
    """Every assignment (or the one named) exported for otter under ``out``."""
    chosen = [config.get(assignment_id)] if assignment_id else list(config.assignments.values())
    written: list[Path] = []
    for assignment in chosen:
        written += export_assignment(config, assignment, out)
    return written


def command(config_path: Path, assignment_id: str | None, out: Path) -> int:
    """``grader export otter``: write the folders, say what to hand out; the exit code."""
    from ..config import load_config

    config = load_config(config_path)
    if assignment_id is not None and assignment_id not in config.assignments:
        raise UsageError(f"--assignment: no assignment {assignment_id!r} in {config.path.name} "
                         f"({', '.join(config.assignments)})")
    written = export_otter(config, assignment_id, out)
    for assignment in ([config.get(assignment_id)] if assignment_id else config.assignments.values()):
        checks = [s.question.id for s in specs(assignment)]
        print(f"{assignment.id}: hand out {out / assignment.id / 'student'}/ (notebook and tests/); "
              f"instructor copy in {out / assignment.id / 'instructor'}/; checks: {', '.join(checks)}")
    print(f"wrote {len(written)} files")
    return 0
