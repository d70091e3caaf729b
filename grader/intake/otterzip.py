"""Otter's submission zips (``grader.export()``: the notebook, perhaps a PDF and ``.OTTER_LOG``)
read as the student's notebook.

The zip is read like any submission file (capped, no link followed when it lies below a
submissions folder) and its notebook straight from it: a member that is a link is refused, and so
is one over the cap, by its declared and its actual size. Nothing else in the zip is read.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Iterator

from .submission import MAX_BYTES, Unreadable, printable_name, read_notebook_file, read_zip_member

_LITTER = ("__MACOSX", ".ipynb_checkpoints", "__pycache__")


def _notebooks(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    found = []
    for info in archive.infolist():
        parts = PurePosixPath(info.filename.replace("\\", "/")).parts
        if info.is_dir() or not parts or any(p.startswith(".") or p in _LITTER for p in parts):
            continue
        if parts[-1].lower().endswith(".ipynb"):
            found.append(info)
    return found


# What otter's grader.export() puts beside the notebook: its own marks, absent from a class download.
OTTER_MARKS = ("__zip_filename__", ".OTTER_LOG")


def is_submission_zip(path: Path, *, otter_only: bool = True) -> bool:
    """Whether ``path`` is a zip holding exactly one notebook and, with ``otter_only``, otter's
    marks (so that a class download that happens to hold one notebook is not taken for one)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = {PurePosixPath(n).name for n in archive.namelist()}
            return len(_notebooks(archive)) == 1 and (not otter_only or bool(names & set(OTTER_MARKS)))
    except (OSError, zipfile.BadZipFile):
        return False


def notebook_in_zip(data: bytes, name: str, limit: int = MAX_BYTES) -> tuple[str, bytes]:
    """The one notebook in the zip ``data`` (its member name and bytes); :class:`Unreadable` when
    there is none, several, or it is a link or over ``limit``."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise Unreadable(f"{name} is not a readable zip archive") from None
    with archive:
        found = _notebooks(archive)
        if len(found) != 1:
            what = "no notebook (.ipynb)" if not found else f"{len(found)} notebooks"
            raise Unreadable(f"{name} holds {what}; submit the zip that grader.export() made, "
                             f"or the .ipynb file itself")
        (info,) = found
        member = f"{name}:{printable_name(info.filename)}"
        return info.filename, read_zip_member(archive, info, member, limit)


@contextlib.contextmanager
def notebook_file(path: Path, *, root: Path | None = None, limit: int = MAX_BYTES) -> Iterator[tuple[Path, str]]:
    """``path`` itself, or for a zip its notebook written to a private temporary folder; with the
    name to show (``upload.zip:notebook.ipynb``). The folder is removed afterwards."""
    path = Path(path)
    if path.suffix.lower() != ".zip":
        yield path, printable_name(path.name)
        return
    shown = printable_name(path.name)
    member, data = notebook_in_zip(read_notebook_file(path, root=root, name=shown, limit=limit), shown, limit)
    with tempfile.TemporaryDirectory(prefix="grader-otter-") as folder:
        os.chmod(folder, 0o700)
        target = Path(folder, PurePosixPath(member.replace("\\", "/")).name)
        target.write_bytes(data)
        yield target, f"{shown}:{printable_name(member)}"
