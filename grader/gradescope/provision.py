"""The part of ``setup.sh`` that is not pip: the strongest isolation the image allows, a locked source."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ..config import load_config
from ..errors import GraderError
from ..sandbox import Identity, detect
from ..sandbox.identity import named_identity, stranger


def lock(folder: Path) -> None:
    """Make ``folder`` and everything in it root's alone (no-op when not root)."""
    if os.geteuid() != 0 or not folder.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chown(path, 0, 0)
                os.chmod(path, os.stat(path).st_mode & 0o700)
    os.chown(folder, 0, 0)
    os.chmod(folder, 0o700)


def _as_user(identity: Identity, code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-I", "-c", code, *args], user=identity.uid,
                          group=identity.gid, extra_groups=[], cwd="/", capture_output=True,
                          text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "HOME": "/"})


def provision(source: Path, kernel_user: str | None = None) -> list[str]:
    """Check the shipped config, lock ``source``, find the isolation in force; returns what was done."""
    config = load_config(source / "assignments.yml", notebooks=False)
    assignment = config.get(None)
    done = [f"assignment {assignment.id!r}: {len(assignment.questions)} questions, "
            f"{assignment.max_score:g} points"]
    if os.geteuid() != 0:
        policy = detect()
        return done + [f"isolation: {policy.summary}", "not root: source folder left as it is"]
    identity = named_identity(kernel_user, create=True) if kernel_user else stranger()
    policy = detect(kernel_user, fix=True)
    done.append(f"isolation: {policy.summary}" + (f" (not stronger: {policy.why})" if policy.why else ""))
    lock(source)
    done.append(f"locked {source} (mode 700, root only)")
    smoke = _as_user(identity, "import ipykernel, numpy, sympy")
    if smoke.returncode != 0:
        raise GraderError(f"kernels ({identity.name}) cannot run {sys.executable}: "
                          f"{smoke.stderr.strip()[-500:]} (is the virtual environment inside a "
                          f"folder only root can enter?)")
    peek = _as_user(identity, "import os, sys; os.listdir(sys.argv[1])", str(source))
    if peek.returncode == 0:
        raise GraderError(f"kernels ({identity.name}) can still read {source}")
    done.append(f"checked: kernels ({identity.name}) can run the kernel's python and cannot read {source}")
    return done
