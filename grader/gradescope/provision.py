"""The part of ``setup.sh`` that is not pip: the kernel's user, a locked source folder, a smoke test."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from pathlib import Path

from ..config import load_config
from ..errors import GraderError
from ..kernel import Identity
from ..users import DEFAULT_USER, kernel_identity


def ensure_kernel_user(name: str = DEFAULT_USER) -> Identity | None:
    """The kernel's identity, creating the user if needed; None when not root (no switching)."""
    if os.geteuid() != 0:
        return None
    try:
        identity = kernel_identity(name, create=True)
    except GraderError as exc:
        try:  # another process may have created the user between the lookup and useradd
            pwd.getpwnam(name)
        except KeyError:
            raise exc from None
        identity = kernel_identity(name)
    assert identity is not None  # root always gets an identity
    return identity


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


def provision(source: Path, kernel_user: str = DEFAULT_USER) -> list[str]:
    """Check the shipped config, create the kernel user, lock ``source``; returns what was done."""
    config = load_config(source / "assignments.yml")
    assignment = config.get(None)
    done = [f"assignment {assignment.id!r}: {len(assignment.questions)} questions, "
            f"{assignment.max_score:g} points"]
    identity = ensure_kernel_user(kernel_user)
    if identity is None:
        return done + ["not root: kernels will run as this user; source folder left as it is"]
    done.append(f"kernels run as {identity.name} (uid {identity.uid})")
    lock(source)
    done.append(f"locked {source} (mode 700, root only)")
    smoke = _as_user(identity, "import ipykernel, grader.sandbox")
    if smoke.returncode != 0:
        raise GraderError(f"the kernel user {identity.name} cannot run {sys.executable}: "
                          f"{smoke.stderr.strip()[-500:]} (is the virtual environment inside a "
                          f"folder only root can enter?)")
    peek = _as_user(identity, "import os, sys; os.listdir(sys.argv[1])", str(source))
    if peek.returncode == 0:
        raise GraderError(f"the kernel user {identity.name} can still read {source}")
    done.append(f"checked: {identity.name} can run the kernel's python and cannot read {source}")
    return done
