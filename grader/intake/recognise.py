"""Which assignment a notebook is for, told from the notebook itself rather than its file name.

In order: the id stamped in the notebook's metadata (``metadata.grader.assignment``, which Jupyter
and Colab keep when they save), then the names its code defines (``gradf``, ``numerical_grad``,
``Value``, ``softmax`` are the micrograd exercise under any file name), then its headings against
those of the assignments' exercise notebooks, then the file's name or folder. What stays ambiguous
is returned as several candidates, for the caller to ask about.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
from pathlib import Path
from typing import Any, Iterable

from ..model import Assignment, Config
from .submission import read_notebook_file

METADATA_KEY = "grader"  # notebook.metadata.grader.assignment = "<assignment id>"
# Question parameters that name something the notebook must define at top level.
_NAME_FIELDS = ("function", "variable", "value_class", "softmax", "mlp", "model", "cross_entropy")
# What a check kind implies beyond its parameters: an MLP is built from a Neuron and a Layer.
_IMPLIED = {"mlp": ("Neuron", "Layer"), "training": ()}
_MIN_SHARE = 0.6  # an assignment is a candidate when the notebook defines this share of its names


def stamp(notebook: dict[str, Any], assignment_id: str) -> dict[str, Any]:
    """``notebook`` (nbformat JSON) with ``assignment_id`` stamped into its metadata."""
    meta = dict(notebook.get("metadata") or {})
    meta[METADATA_KEY] = {**(meta.get(METADATA_KEY) or {}), "assignment": assignment_id}
    return {**notebook, "metadata": meta}


def stamped(notebook: dict[str, Any]) -> str | None:
    """The assignment id stamped in ``notebook``'s metadata, if any."""
    meta = notebook.get("metadata")
    entry = meta.get(METADATA_KEY) if isinstance(meta, dict) else None
    value = entry.get("assignment") if isinstance(entry, dict) else None
    return value if isinstance(value, str) else None


def _source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src if isinstance(src, str) else ""


def defined_names(notebook: dict[str, Any]) -> set[str]:
    """Top-level names the code cells define: functions, classes, assignments, imports."""
    names: set[str] = set()
    for cell in notebook.get("cells") or []:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        # IPython magics and shell escapes are not Python
        code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                         for line in _source(cell).splitlines())
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError):
            names.update(m.group(2) for m in re.finditer(r"^(def|class)\s+(\w+)", code, re.M))
            names.update(m.group(1) for m in re.finditer(r"^(\w+)\s*=", code, re.M))
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def headings(notebook: dict[str, Any]) -> set[str]:
    """The Markdown headings of ``notebook``, lower-cased."""
    found: set[str] = set()
    for cell in notebook.get("cells") or []:
        if isinstance(cell, dict) and cell.get("cell_type") == "markdown":
            found.update(m.group(1).strip().lower() for m in re.finditer(r"^#+\s+(.+)$", _source(cell), re.M))
    return found


def required_names(assignment: Assignment) -> set[str]:
    """What a notebook for ``assignment`` defines: the names its questions call."""
    names: set[str] = set()
    for q in assignment.questions:
        params = q.params
        if dataclasses.is_dataclass(params):
            for field in _NAME_FIELDS:
                value = getattr(params, field, None)
                if isinstance(value, str) and value.isidentifier():
                    names.add(value)
        names.update(_IMPLIED.get(str(getattr(q.kind, "value", q.kind)), ()))
    return names


def _load(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(read_notebook_file(path))  # capped: never more than a notebook may be
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def by_names(config: Config, notebook: dict[str, Any]) -> list[Assignment]:
    """The assignments whose names the notebook defines best (several when tied)."""
    defined = defined_names(notebook)
    scored = []
    for a in config.assignments.values():
        wanted = required_names(a)
        hits = len(wanted & defined)
        if wanted and hits / len(wanted) >= _MIN_SHARE:
            scored.append((hits, a))
    best = max((h for h, _ in scored), default=0)
    return [a for h, a in scored if h == best]


def by_headings(config: Config, notebook: dict[str, Any]) -> list[Assignment]:
    """The assignments whose exercise notebook shares the most headings with ``notebook``."""
    mine = headings(notebook)
    scored = []
    for a in config.assignments.values():
        theirs: set[str] = set()
        for path in (a.exercise, a.solution):
            other = _load(path) if path is not None else None
            if other is not None:
                theirs |= headings(other)
        if mine & theirs:
            scored.append((len(mine & theirs), a))
    best = max((h for h, _ in scored), default=0)
    return [a for h, a in scored if h == best]


def by_path(config: Config, path: Path) -> list[Assignment]:
    """The assignments the file's name, or a folder it is in, names."""
    name = path.name.lower()
    matches = [a for a in config.assignments.values() if Path(a.notebook).stem.lower() in name]
    if not matches:  # a folder named after the assignment, e.g. submissions/micrograd/alice.ipynb
        folders = {part.lower() for part in path.resolve().parent.parts}
        matches = [a for a in config.assignments.values() if a.id.lower() in folders]
    return matches


def by_content(config: Config, notebook: dict[str, Any]) -> list[Assignment]:
    """The assignment(s) a notebook's own content points at: its stamp, else its names, else its
    headings (all of them when nothing narrows them down)."""
    stamp_id = stamped(notebook)
    if stamp_id is not None and stamp_id in config.assignments:
        return [config.assignments[stamp_id]]
    found = list(config.assignments.values())
    for step in (by_names(config, notebook), by_headings(config, notebook)):
        found = [a for a in found if a in step] or found
        if len(found) == 1:
            break
    return found


def candidates(config: Config, path: Path) -> list[Assignment]:
    """The assignment(s) the notebook at ``path`` is for, most specific evidence first."""
    if len(config.assignments) == 1:
        return list(config.assignments.values())
    notebook = _load(path)
    steps: Iterable[list[Assignment]] = ()
    if notebook is not None:
        stamp_id = stamped(notebook)
        if stamp_id is not None and stamp_id in config.assignments:
            return [config.assignments[stamp_id]]
        steps = (by_names(config, notebook), by_headings(config, notebook))
    found = list(config.assignments.values())
    for step in (*steps, by_path(config, path)):  # each narrows what the earlier ones left
        narrowed = [a for a in found if a in step]
        found = narrowed or found
        if len(found) == 1:
            break
    return found


__all__ = ["METADATA_KEY", "by_content", "by_names", "candidates", "defined_names", "required_names", "stamp", "stamped"]
