"""This grader as a wheel: what students install (``grader build wheel``) and what the Gradescope
zip carries (``grader build gradescope``).

From a source checkout the wheel is built by pip (PEP 517) from a clean copy of the sources; from
an installed wheel (no checkout around it) the installed files are packed again as they were
installed, so that both commands work wherever ``grader`` itself works. Either way the result is
re-packed deterministically (sorted entries, fixed dates): the same sources give the same bytes.
The wheel carries the config and the exercise notebooks, never the solutions.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

from ..errors import GraderError

DISTRIBUTION = "micrograd-autograder"
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_SOURCE_FILES = ("pyproject.toml", "setup.cfg", "setup.py", "MANIFEST.in", "README.md", "LICENSE")
_NOT_PACKED = ("INSTALLER", "REQUESTED", "direct_url.json", "RECORD")  # written by the installer


def _entry(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
    info.create_system = 3  # Unix, so that the permission bits below are honoured
    info.external_attr = (0o100000 | mode) << 16
    return info


def write_zip(files: dict[str, tuple[bytes, int]], compress: dict[str, int] | None = None) -> bytes:
    """A deterministic zip: sorted names, fixed dates, the given modes; deflated unless told."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name in sorted(files):
            data, mode = files[name]
            kind = (compress or {}).get(name, zipfile.ZIP_DEFLATED)
            zf.writestr(_entry(name, mode), data, compress_type=kind, compresslevel=9 if kind else None)
    return buffer.getvalue()


def normalize_zip(data: bytes) -> bytes:
    """Re-pack a zip (e.g. a wheel) deterministically; file contents and names are untouched."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        files = {i.filename: (zf.read(i), 0o644) for i in zf.infolist() if not i.is_dir()}
    return write_zip(files)


def checkout() -> Path | None:
    """The source checkout this grader was imported from (where ``pyproject.toml`` is), if any."""
    root = Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file() and (root / "grader" / "__init__.py").is_file():
        return root
    return None


def _copy_source(project: Path, dest: Path, *, config: bool) -> None:
    """The files a wheel is built from, and nothing else (no caches, no egg-info, no tests)."""
    dest.mkdir()
    for name in _SOURCE_FILES:
        if (project / name).is_file():
            shutil.copy2(project / name, dest / name)
    skip = ("__pycache__", "*.pyc", "*.pyo", ".*") + (() if config else ("assignments.yml", "exercises"))
    shutil.copytree(project / "grader", dest / "grader", ignore=shutil.ignore_patterns(*skip))


def _pip_wheel(project: Path, *, config: bool) -> tuple[str, bytes]:
    with tempfile.TemporaryDirectory(prefix="grader-wheel-") as tmp:
        src, out = Path(tmp) / "src", Path(tmp) / "out"
        _copy_source(project, src, config=config)
        env = dict(os.environ, SOURCE_DATE_EPOCH="315532800", PIP_NO_INPUT="1",
                   PYTHONDONTWRITEBYTECODE="1", PYTHONWARNINGS="ignore")
        proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                               "--disable-pip-version-check", "--wheel-dir", str(out), str(src)],
                              capture_output=True, text=True, env=env, cwd=tmp)
        wheels = sorted(out.glob("*.whl")) if out.is_dir() else []
        if proc.returncode != 0 or len(wheels) != 1:
            raise GraderError(f"building the grader's wheel failed (pip exit {proc.returncode}): "
                              f"{(proc.stderr or proc.stdout).strip()[-2000:]}")
        return wheels[0].name, normalize_zip(wheels[0].read_bytes())


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def _repack_installed(*, config: bool) -> tuple[str, bytes]:
    """The installed distribution's own files (as its RECORD lists them) packed as a wheel again."""
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        dist = None
    package = Path(__file__).resolve().parents[1]
    if dist is None or not dist.files or dist.read_text("WHEEL") is None:
        raise GraderError(f"cannot build the grader's wheel: {package} is neither a source checkout "
                          f"(with pyproject.toml) nor installed from a wheel; run this command in "
                          f"the course checkout")
    info = f"{dist.metadata['Name'].replace('-', '_')}-{dist.version}.dist-info"
    files: dict[str, tuple[bytes, int]] = {}
    for entry in dist.files:
        name = entry.as_posix()
        parts = entry.parts
        if (name.startswith("..") or "__pycache__" in parts or name.endswith((".pyc", ".pyo"))
                or (parts[0].endswith(".dist-info") and parts[-1] in _NOT_PACKED)):
            continue
        if not config and parts[0] == "grader" and (parts[-1] == "assignments.yml" or "exercises" in parts):
            continue
        path = Path(str(entry.locate()))
        if parts[0] == "grader" and package not in path.resolve().parents:
            raise GraderError(f"the installed grader's files are not where it runs from ({path})")
        files[info + name[name.index("/"):] if parts[0].endswith(".dist-info") else name] = (
            path.read_bytes(), 0o644)
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, (data, _) in sorted(files.items()))
    files[f"{info}/RECORD"] = ((record + f"{info}/RECORD,,\n").encode(), 0o644)
    return f"{info[:-len('.dist-info')]}-py3-none-any.whl", write_zip(files)


def build_wheel(project: Path | None = None, *, config: bool = True) -> tuple[str, bytes]:
    """This grader's wheel: (file name, bytes). ``config=False`` leaves out the config and the
    exercises (the Gradescope zip ships its own cut-down config)."""
    project = project or checkout()
    if project is not None:
        return _pip_wheel(project, config=config)
    return _repack_installed(config=config)


def write_atomic(output: Path, data: bytes) -> None:
    """``data`` into ``output`` through a temporary file beside it, renamed when complete."""
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
