"""Which submissions a folder or zip holds, and whose: student ids from LMS download names.

Layouts: a folder of notebooks (one per student, the id from the file name), a folder of
per-student folders (the id from the folder name), or a ``.zip`` of either. Notebooks are read
lazily, straight from the zip when there is one (nothing is extracted), and capped in size.

No link below a submissions folder is followed: a linked file or folder (and a FIFO, a device, a
notebook over the size cap) gets its student a row that says why it was not read. Names are kept
as the file system gives them for opening, and shown escaped (undecodable bytes as ``\\xff``).
"""

from __future__ import annotations

import functools
import re
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Sequence

from .submission import (LINK, MAX_BYTES, is_zip_link, printable_name, read_notebook_file,
                         read_zip_member, too_large, walk)

# Canvas: "lastnamefirstname_12345_67890_notebook.ipynb", with "_LATE" after the name when late.
_CANVAS = re.compile(r"^[^_]+(?:_late)?_(?P<id>\d+)_\d+_.+$", re.IGNORECASE)
# Moodle: "Jane Doe_12345_assignsubmission_file_" (a folder) or "..._assignsubmission_file_x.ipynb".
_MOODLE = re.compile(r"^.+?_(?P<id>\d+)_assignsubmission_", re.IGNORECASE)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
NOT_A_NOTEBOOK = "is not a notebook (.ipynb): there is nothing to grade; submit the .ipynb file"
OUTSIDE = "has a path outside the archive's folder (../ or absolute): not read"
EXTRA = "~"  # ``12345~2``: the row of a second file found for student 12345, not graded


def safe_id(text: str) -> str:
    """``text`` made safe as a file name and a CSV cell: letters, digits, ``.``, ``_``, ``-``."""
    cleaned = _UNSAFE.sub("_", text.strip()).strip("._-")
    return cleaned[:80] or "submission"


def student_id(name: str) -> str:
    """The student id in one path component: an LMS download name's number, else the name itself.

    ``lastname_12345_67890_micrograd_exercises.ipynb`` gives ``12345``; ``alice.ipynb`` gives
    ``alice``; a per-student folder ``bob`` gives ``bob``.
    """
    stem = next((name[:-len(ext)] for ext in (".ipynb", ".zip") if name.lower().endswith(ext)), name)
    for pattern in (_MOODLE, _CANVAS):
        match = pattern.match(stem)
        if match:
            return match.group("id")
    return safe_id(stem)


@dataclass(frozen=True)
class Source:
    """One student's submission: where its notebook is, or why there is none."""

    id: str
    name: str                      # shown to people: path under the root, or ``archive.zip:member``
    path: Path | None = None       # the notebook file, or the zip archive holding it
    member: str | None = None      # the notebook's name inside ``path`` when that is a zip
    missing: str | None = None     # why this submission has no notebook to grade
    root: Path | None = None       # the submissions folder ``path`` is plainly in (no link below it)

    def read(self, limit: int = MAX_BYTES) -> bytes:
        """The notebook's bytes, at most ``limit`` of them.

        Raises :class:`~grader.intake.submission.Unreadable` for a link, a special file or a file over
        the cap, else OSError, zipfile.BadZipFile or KeyError when unreadable.
        """
        if self.path is None:
            return b""
        if self.member is None:
            data = read_notebook_file(self.path, root=self.root, name=self.name, limit=limit)
        else:
            with zipfile.ZipFile(self.path) as archive:
                data = read_zip_member(archive, archive.getinfo(self.member), self.name, limit)
        if self.name.lower().endswith(".zip"):  # a student's zip, as otter's grader.export() makes
            from .otterzip import notebook_in_zip
            return notebook_in_zip(data, self.name, limit)[1]
        return data


@dataclass(frozen=True)
class _Entry:
    parts: tuple[str, ...]   # path under the root
    mtime: float
    source: Callable[[str, str], Source]
    refused: str | None = None   # why it is not read: "is a symbolic link; links are not followed"
    shown: str | None = None     # the name to show when ``parts`` is not the member's own path


def _source(sid: str, name: str, *, path: Path, member: str | None = None,
            root: Path | None = None) -> Source:
    return Source(sid, name, path, member, root=root)


def _ignored(parts: Sequence[str]) -> bool:
    return any(p.startswith(".") or p in ("__MACOSX", "__pycache__", ".ipynb_checkpoints")
               for p in parts)


def _folder_entries(root: Path, limit: int) -> list[_Entry]:
    entries = []
    try:
        found = walk(root, _ignored)
    except OSError as exc:
        raise ValueError(f"cannot list {printable_name(str(root))} ({exc.strerror})") from None
    for f in found:
        refused = f.refused or (too_large(f.size, limit) if f.size > limit else None)
        entries.append(_Entry(f.parts, f.mtime, functools.partial(_source, path=Path(root, *f.parts),
                                                                root=root), refused))
    return entries


def _zip_entries(archive: Path, limit: int) -> list[_Entry]:
    """The zip's members as entries. A member whose path leaves the archive's folder (``../``, an
    absolute path) is never read: it is an entry refused as such, under the rest of its path, so
    that its student still gets a row saying why."""
    entries = []
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            parts = PurePosixPath(info.filename.replace("\\", "/")).parts
            outside = ".." in parts or parts[:1] == ("/",)
            if outside:
                parts = tuple(p for p in parts if p not in ("..", "/", "."))
            if info.is_dir() or not parts or _ignored(parts):
                continue
            stamp = float("%04d%02d%02d%02d%02d%02d" % info.date_time)  # orders like a date
            refused = (OUTSIDE if outside else LINK if is_zip_link(info) else
                       too_large(info.file_size, limit) if info.file_size > limit else None)
            entries.append(_Entry(parts, stamp,
                                  functools.partial(_source, path=archive, member=info.filename),
                                  refused, info.filename if outside else None))
    top = {e.parts[0] for e in entries if len(e.parts) > 1}
    if len(top) == 1 and all(len(e.parts) > 1 for e in entries):
        # A zipped folder of submissions: drop the wrapping folder, unless it is one student's.
        (wrapper,) = top
        children = {e.parts[1] for e in entries}
        folders = {e.parts[1] for e in entries if len(e.parts) > 2}
        notebooks = [e for e in entries if len(e.parts) == 2 and _is_notebook(e.parts)]
        if wrapper == archive.stem or len(folders) >= 2 or len(notebooks) >= 2 and len(children) >= 2:
            entries = [replace(e, parts=e.parts[1:]) for e in entries]
    return entries


def _is_notebook(parts: Sequence[str]) -> bool:
    """A notebook, or a zip one student made of theirs (otter's ``grader.export()``)."""
    return parts[-1].lower().endswith((".ipynb", ".zip"))


def _best(entries: Sequence[_Entry], prefer: str | None) -> _Entry:
    """The notebook to grade among several: a readable one, named like the assignment, newest."""
    def rank(e: _Entry) -> tuple[bool, bool, bool, bool, float, int, str]:
        named = bool(prefer) and prefer.lower() in e.parts[-1].lower()  # type: ignore[union-attr]
        return (e.refused is None and _is_notebook(e.parts), e.refused is None,
                e.parts[-1].lower().endswith(".ipynb"), named, e.mtime,
                -len(e.parts), "/".join(e.parts))
    return max(entries, key=rank)


def _name(entry: _Entry, label: str) -> str:
    return printable_name(label + (entry.shown or "/".join(entry.parts)))


def discover(roots: Iterable[Path], prefer: str | None = None,
             limit: int = MAX_BYTES) -> tuple[list[Source], list[str]]:
    """The submissions under ``roots`` (folders, zips or notebooks), one per student id, sorted.

    ``prefer`` (the assignment's notebook stem) picks the notebook to grade when a student has
    several. Returns the sources and warnings about files that were left out. Nothing is dropped
    silently: a student whose only file is not a notebook (``notes.txt``, a PDF), whose folder
    holds no notebook, or whose notebook (or folder) is a link, a special file or over ``limit``
    bytes gets a source with ``missing`` saying so.
    """
    candidates: dict[str, list[tuple[_Entry, str]]] = {}
    empty: dict[str, tuple[str, list[str]]] = {}
    warnings: list[str] = []
    for root in roots:
        root = Path(root)
        if root.is_dir():  # the folder named may be a link (the user's choice); none below it is
            entries, label = _folder_entries(root, limit), ""
        elif root.suffix.lower() == ".zip":
            try:
                entries, label = _zip_entries(root, limit), f"{root.name}:"
            except (OSError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
                raise ValueError(f"{printable_name(str(root))} is not a readable zip archive "
                                 f"({exc})") from None
        else:
            entries = [_Entry((root.name,), 0.0, functools.partial(_source, path=root))]
            label = "" if root.parent == Path(".") else f"{root.parent}/"
        folders: dict[str, list[_Entry]] = {}
        for e in entries:
            if len(e.parts) == 1:  # a notebook, a linked file or folder, or a stray file: a row each
                name = e.parts[0]
                sid = student_id(name if _is_notebook(e.parts) or e.refused else Path(name).stem)
                candidates.setdefault(sid, []).append((e, label))
            else:
                folders.setdefault(e.parts[0], []).append(e)
        for folder, inside in folders.items():
            sid = student_id(folder)
            notebooks = ([e for e in inside if _is_notebook(e.parts)]
                         or [e for e in inside if e.refused is not None])  # say why, not "none"
            if notebooks:
                candidates.setdefault(sid, []).extend((e, label) for e in notebooks)
            else:
                empty[sid] = (label + folder, ["/".join(e.parts[1:]) for e in inside])
    sources = []
    for sid, found in candidates.items():
        best = _best([e for e, _ in found], prefer)
        label = next(lab for e, lab in found if e is best)
        name = _name(best, label)
        if best.refused is not None:
            sources.append(Source(sid, name, missing=f"{name} {best.refused}"))
        elif not _is_notebook(best.parts):
            sources.append(Source(sid, name, missing=f"{name} {NOT_A_NOTEBOOK}"))
        else:
            sources.append(best.source(sid, name))
        # Every other file found for this student: a row of its own, rejected, saying why.
        others = sorted(((e, lab) for e, lab in found if e is not best), key=lambda p: _name(*p))
        for k, (e, lab) in enumerate(others, start=2):
            other = _name(e, lab)
            why = (e.refused if e.refused is not None else NOT_A_NOTEBOOK if not _is_notebook(e.parts)
                   else f"is another submission of student {sid}: {name} is graded instead (of "
                        f"several, a readable notebook named like the assignment, then the newest)")
            sources.append(Source(f"{sid}{EXTRA}{k}", other, missing=f"{other} {why}"))
        if others:
            warnings.append(f"{sid}: grading {name}; not graded (a row each, {sid}{EXTRA}2 …): "
                            f"{', '.join(_name(e, lab) for e, lab in others[:3])}"
                            + (" …" if len(others) > 3 else ""))
    for sid, (name, files) in empty.items():
        if sid not in candidates:
            listed = printable_name(", ".join(files[:3])) + (" …" if len(files) > 3 else "")
            sources.append(Source(sid, printable_name(name),
                                  missing=f"no .ipynb notebook in the submission (found: {listed})"))
    return sorted(sources, key=lambda s: s.id), warnings


__all__ = ["EXTRA", "NOT_A_NOTEBOOK", "OUTSIDE", "Source", "discover", "safe_id", "student_id"]
