"""Find and load submitted notebooks; reject garbage with one clear sentence, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

import nbformat
from nbformat import v4

MAX_BYTES = 200 * 1024 * 1024


class Rejected(Exception):
    """The file cannot be graded; ``reason`` is the sentence the student sees."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _json_error(exc: json.JSONDecodeError, text: str) -> str:
    if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
        return "the file is not a complete notebook: its JSON ends unexpectedly (truncated upload?)"
    return f"the file is not a valid notebook: invalid JSON at line {exc.lineno}, column {exc.colno}"


def _source(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(line, str) for line in value):
        return "".join(value)
    return ""


def parse_notebook(data: bytes) -> nbformat.NotebookNode:
    """A clean v4 notebook (sources only, outputs stripped) from raw bytes, or :class:`Rejected`."""
    if not data.strip():
        raise Rejected("the file is empty")
    if len(data) > MAX_BYTES:
        raise Rejected(f"the file is too large ({len(data) // 2**20} MiB); a notebook should be "
                       f"far smaller, clear its outputs and submit again")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Rejected("the file is not a notebook: it is not UTF-8 text (binary file, or a "
                       "different encoding?)") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Rejected(_json_error(exc, text)) from None
    except RecursionError:
        raise Rejected("the file is not a valid notebook: its JSON is nested too deeply") from None
    if not isinstance(raw, dict) or not ("cells" in raw or "worksheets" in raw):
        raise Rejected("the file is JSON but not a Jupyter notebook (it has no 'cells')")
    major = raw.get("nbformat", 4)
    if "worksheets" in raw or major == 3:
        worksheets = raw.get("worksheets")
        if not isinstance(worksheets, list) or not all(isinstance(w, dict) and isinstance(w.get("cells"), list)
                                                       for w in worksheets):
            raise Rejected("the file is an old (v3) notebook whose 'worksheets' are malformed")
        try:
            raw = nbformat.convert(nbformat.from_dict(raw), 4)
        except Exception:  # noqa: BLE001 -- nbformat's upgrade raises many kinds on odd input
            raise Rejected("the file is an old (v3) notebook that could not be upgraded") from None
    elif not isinstance(major, int) or major > 4 or major < 3:
        raise Rejected(f"the file says it is notebook format {major!r}, which this grader cannot read")
    cells = raw.get("cells")
    if not isinstance(cells, list):
        raise Rejected("the file is not a valid notebook: its 'cells' is not a list")
    nb = v4.new_notebook()
    for cell in cells:
        kind = cell.get("cell_type") if isinstance(cell, dict) else None
        source = _source(cell.get("source")) if isinstance(cell, dict) else ""
        if kind == "code":
            nb.cells.append(v4.new_code_cell(source))
        else:
            nb.cells.append(v4.new_markdown_cell(source if kind in ("markdown", "raw") else ""))
    return nb


def load_notebook(path: Path) -> nbformat.NotebookNode:
    """Read ``path`` and parse it; unreadable files are :class:`Rejected` too."""
    try:
        data = Path(path).read_bytes()
    except IsADirectoryError:
        raise Rejected("expected a notebook file, found a folder") from None
    except OSError as exc:
        raise Rejected(f"the file could not be read ({exc.strerror})") from None
    return parse_notebook(data)


def find_notebooks(paths: Iterable[Path]) -> list[Path]:
    """Notebook files named directly, and every ``*.ipynb`` under named folders, sorted."""
    found: list[Path] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*.ipynb")
                                if ".ipynb_checkpoints" not in p.parts and p.is_file()))
        else:
            found.append(path)
    return found
