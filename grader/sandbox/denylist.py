"""The deny-list of the ``namespaces`` level (root without bubblewrap): the grader's own files.

The bubblewrap sandbox needs none of this (a kernel sees only what the allow-list adds); where it
cannot be had, root covers these paths with empty mounts in the kernel's private mount namespace.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from ..model import Config, Preview
from .allowlist import grader_files


def protected_paths(config: Config | Preview, *extra: Path) -> tuple[str, ...]:
    """The grader's own files, hidden from kernels: config, solutions, repository history, results,
    and its installation (package, ``*.dist-info``, an editable install's finder and ``.pth``)."""
    root = config.path.parent
    paths = [config.path, root / "solutions", root / ".git", Path(__file__).resolve().parents[1],
             *map(Path, grader_files()), *extra]  # the grader's installation: package, metadata
    if isinstance(config, Preview):
        paths += config.solutions
    else:
        paths += [a.solution for a in config.assignments.values() if a.solution is not None]
    # Never cover what the kernel itself needs: its Python, its packages, the temp folder it lives in.
    needed = [Path(p).resolve() for p in (sys.executable, sys.prefix, sys.base_prefix, tempfile.gettempdir())]
    hidden = set()
    for p in paths:
        p = Path(p).resolve()
        if p.exists() and not any(n == p or p in n.parents for n in needed):
            hidden.add(str(p))
    return tuple(sorted(hidden))
