"""Build scenario notebooks for tests: from scratch, or as variants of a reference solution."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping

import nbformat
from nbformat import v4

ROOT = Path(__file__).resolve().parents[1]


def solution_path(assignment: str = "micrograd") -> Path:
    names = {"micrograd": "micrograd_exercises"}
    return ROOT / "solutions" / f"{names.get(assignment, assignment)}.ipynb"


def exercise_path(assignment: str = "micrograd") -> Path:
    names = {"micrograd": "micrograd_exercises"}
    return ROOT / "exercises" / f"{names.get(assignment, assignment)}.ipynb"


def write(path: Path, cells: Iterable[str | tuple[str, str]]) -> Path:
    """A v4 notebook whose cells are code strings, or (cell_type, source) pairs."""
    nb = v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for cell in cells:
        kind, source = cell if isinstance(cell, tuple) else ("code", cell)
        nb.cells.append(v4.new_code_cell(source) if kind == "code" else v4.new_markdown_cell(source))
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def variant(path: Path, *, assignment: str = "micrograd", replace: Mapping[str, str] = {},
            edit: Mapping[str, tuple[str, str]] = {}, prepend: Iterable[str] = (),
            append: Iterable[str] = (), drop: Iterable[str] = ()) -> Path:
    """The reference solution with cells (by id) replaced, edited (old -> new), dropped or added."""
    nb = nbformat.read(str(solution_path(assignment)), as_version=4)
    ids = {c.get("id") for c in nb.cells}
    for key in [*replace, *edit, *drop]:
        assert key in ids, f"no cell {key!r} in the {assignment} solution (ids: {sorted(ids)})"
    cells = []
    for cell in nb.cells:
        cid = cell.get("id")
        if cid in drop:
            continue
        if cid in replace:
            cell.source = replace[cid]
        if cid in edit:
            old, new = edit[cid]
            assert old in cell.source, f"{old!r} not in cell {cid!r}"
            cell.source = cell.source.replace(old, new)
        cells.append(cell)
    # Fixed ids for added cells: the same variant is the same bytes (held-out points and the
    # recorded digest come from a notebook's bytes), whoever writes it and whenever.
    nb.cells = ([v4.new_code_cell(s, id=f"prepended-{i}") for i, s in enumerate(prepend)] + cells
                + [v4.new_code_cell(s, id=f"appended-{i}") for i, s in enumerate(append)])
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def write_small_config(folder: Path, **limits: object) -> Path:
    """The real micrograd assignment alone, with small time limits (a hang costs seconds), in
    ``folder/assignments.yml``; ``limits`` override any limit."""
    import yaml

    raw = yaml.safe_load((ROOT / "assignments.yml").read_text())
    micrograd = raw["assignments"]["micrograd"]
    micrograd["limits"].update({"cell_timeout": 3, "probe_timeout": 3, "submission_timeout": 60,
                                **limits})
    for key in ("exercise", "solution"):
        micrograd.pop(key, None)
    path = folder / "assignments.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"version": 1, "assignments": {"micrograd": micrograd}}))
    return path
