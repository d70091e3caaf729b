"""Find and load submitted notebooks; reject garbage with one clear sentence, never a traceback.

Files below a submissions folder are found and read without following symbolic links (the grader
may be root; a link could point anywhere), and every read is capped before anything is decoded.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Sequence

import nbformat
from nbformat import v4

from ..text import one_line

MAX_BYTES = 64 * 1024 * 1024  # a batch's grader stays under 500 MB with two of these at once
LINK = "is a symbolic link; links are not followed"
SPECIAL = "is not a regular file"
_CHUNK = 1 << 20


class Rejected(Exception):
    """The file cannot be graded; ``reason`` is the sentence the student sees."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Unreadable(OSError):
    """A file the grader will not read (a link, not a regular file, too large); ``str`` is why."""

    def __init__(self, reason: str, code: int = errno.EPERM) -> None:
        super().__init__(code, reason)

    def __str__(self) -> str:
        return str(self.strerror)


def printable_name(name: str | bytes) -> str:
    """A file name fit for CSV, JSON, Markdown and a terminal: undecodable bytes as ``\\xff``,
    control and other invisible characters as escapes (``\\n``, ``\\x1b``, ``\\u202e``)."""
    raw = name
    if isinstance(name, str):
        try:
            raw = name.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a lone surrogate no file system produced: spell it out
            raw = name.encode("utf-8", "backslashreplace")
    assert isinstance(raw, bytes)
    return one_line(raw.decode("utf-8", "backslashreplace"))


def too_large(size: int | None, limit: int = MAX_BYTES) -> str:
    """Why a file over ``limit`` bytes is refused, after its name (``size`` None: it kept coming)."""
    amount = f"{size // 2**20} MiB" if size is not None else f"more than {limit // 2**20} MiB"
    return (f"is too large ({amount}; the limit is {limit // 2**20} MiB): a notebook should be far "
            f"smaller, clear its outputs and submit again")


def read_capped(stream: IO[bytes], name: str, limit: int = MAX_BYTES) -> bytes:
    """At most ``limit`` bytes from ``stream``; :class:`Unreadable` as soon as there are more."""
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = stream.read(min(_CHUNK, limit + 1 - total))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise Unreadable(f"{name} {too_large(None, limit)}", errno.EFBIG)


def is_zip_link(info: zipfile.ZipInfo) -> bool:
    """Whether a zip member was stored as a symbolic link (its Unix mode says so)."""
    return stat.S_ISLNK(info.external_attr >> 16)


def read_zip_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str,
                    limit: int = MAX_BYTES) -> bytes:
    """A zip member's bytes, ``name`` being how to show it: :class:`Unreadable` for a member
    stored as a link, or over ``limit`` by its declared size (before a byte is inflated) or by
    its actual size (should the header lie)."""
    if is_zip_link(info):
        raise Unreadable(f"{name} {LINK}")
    if info.file_size > limit:
        raise Unreadable(f"{name} {too_large(info.file_size, limit)}", errno.EFBIG)
    with archive.open(info) as member:
        return read_capped(member, name, limit)


def _open_below(root: Path, parts: Sequence[str], name: str) -> int:
    """A descriptor for ``root/parts…``, every folder below ``root`` and the file itself not a link."""
    flags = os.O_RDONLY | os.O_CLOEXEC
    folder = os.open(root, flags | os.O_DIRECTORY)  # the root is the user's choice: it may be a link
    try:
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            try:
                fd = os.open(part, flags | os.O_NOFOLLOW | (os.O_NONBLOCK if last else os.O_DIRECTORY),
                             dir_fd=folder)
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                # Linux says ENOTDIR, not ELOOP, for a link opened with O_DIRECTORY | O_NOFOLLOW.
                link = stat.S_ISLNK(os.stat(part, dir_fd=folder, follow_symlinks=False).st_mode)
                where = printable_name("/".join(parts[:i + 1]))
                raise Unreadable(f"{where} {LINK if link else 'is not a folder'}", exc.errno) from None
            if last:
                return fd
            os.close(folder)
            folder = fd
        raise IsADirectoryError(errno.EISDIR, "expected a notebook file, found a folder")
    finally:
        os.close(folder)


def read_notebook_file(path: Path, *, root: Path | None = None, name: str | None = None,
                       limit: int = MAX_BYTES) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them, else :class:`Unreadable`.

    With ``root`` (a folder ``path`` is under), no link below ``root`` is followed: the file must
    plainly be in the folder. Without it (a file named on the command line) the path is opened as
    given. Either way a FIFO, a device or a folder is refused, and so is a file over the cap.
    """
    path = Path(path)
    name = name or printable_name(path.name)
    if root is None:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    else:
        fd = _open_below(Path(root), path.relative_to(root).parts, name)
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, "expected a notebook file, found a folder")
        if not stat.S_ISREG(info.st_mode):
            raise Unreadable(f"{name} {SPECIAL}")
        if info.st_size > limit:  # refuse before reading a byte
            raise Unreadable(f"{name} {too_large(info.st_size, limit)}", errno.EFBIG)
        return read_capped(fh, name, limit)


@dataclass(frozen=True)
class Found:
    """A file under a walked folder; ``refused`` says why it will not be read (None: readable)."""

    parts: tuple[str, ...]   # path under the folder, as the file system names it
    mtime: float
    size: int
    refused: str | None = None


def walk(root: Path, skip: Callable[[tuple[str, ...]], bool] = lambda parts: False) -> list[Found]:
    """Every file under ``root``, sorted, without following links (files or folders).

    A link (to anything) or a special file (FIFO, socket, device) is listed with a reason instead
    of being opened or entered; a folder that cannot be listed is listed the same way.
    """
    found: list[Found] = []
    stack: list[tuple[str, ...]] = [()]
    while stack:
        parts = stack.pop()
        try:
            with os.scandir(Path(root, *parts)) as it:
                entries = sorted(it, key=lambda e: e.name, reverse=True)
        except OSError as exc:
            if not parts:
                raise
            found.append(Found(parts, 0.0, 0, f"could not be listed ({exc.strerror})"))
            continue
        for entry in entries:
            here = (*parts, entry.name)
            if skip(here):
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue  # gone since it was listed
            if stat.S_ISLNK(info.st_mode):
                found.append(Found(here, info.st_mtime, 0, LINK))
            elif stat.S_ISDIR(info.st_mode):
                stack.append(here)
            elif stat.S_ISREG(info.st_mode):
                found.append(Found(here, info.st_mtime, info.st_size))
            else:
                found.append(Found(here, info.st_mtime, 0, SPECIAL))
    return sorted(found, key=lambda f: f.parts)


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
    nb: nbformat.NotebookNode = v4.new_notebook()
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
        data = read_notebook_file(path)
    except IsADirectoryError:
        raise Rejected("expected a notebook file, found a folder") from None
    except Unreadable as exc:
        raise Rejected(str(exc)) from None
    except OSError as exc:
        raise Rejected(f"the file could not be read ({exc.strerror})") from None
    return parse_notebook(data)


def find_notebooks(paths: Iterable[Path], refused: list[str] | None = None) -> list[Path]:
    """Notebook files named directly, and every ``*.ipynb`` under named folders, sorted.

    Below a named folder no link is followed: a linked notebook or folder is left out, and its
    reason (``"x.ipynb is a symbolic link; links are not followed"``) appended to ``refused``.
    """
    found: list[Path] = []
    for path in paths:
        path = Path(path)
        if not path.is_dir():
            found.append(path)
            continue
        for f in walk(path, lambda parts: ".ipynb_checkpoints" in parts):
            if f.refused is not None:
                if refused is not None:
                    refused.append(f"{printable_name(str(Path(path, *f.parts)))} {f.refused}")
            elif f.parts[-1].endswith(".ipynb"):
                found.append(Path(path, *f.parts))
    return found
