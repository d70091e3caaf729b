"""Which user the kernel runs as: when the grader is root, never root."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess

from .errors import GraderError, UsageError
from .kernel import Identity

DEFAULT_USER = "grader-kernel"
FALLBACK_USER = "nobody"


def _identity(entry: pwd.struct_passwd) -> Identity:
    if entry.pw_uid == 0:
        raise UsageError(f"the kernel user {entry.pw_name!r} is root; choose an unprivileged user")
    return Identity(entry.pw_name, entry.pw_uid, entry.pw_gid)


def create_user(name: str) -> None:
    """Create a system user with no home, no login shell and its own group."""
    tool = shutil.which("useradd")
    if tool is None:
        raise GraderError("cannot create the kernel user: useradd is not installed")
    subprocess.run([tool, "--system", "--user-group", "--no-create-home",
                    "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name],
                   check=True, capture_output=True, text=True)


def kernel_identity(name: str | None = None, *, create: bool = False) -> Identity | None:
    """The identity kernels run as, or None when the grader is not root (it cannot switch users).

    As root: ``name`` (default ``grader-kernel``), created when ``create`` is set; without ``create``
    a missing default user falls back to ``nobody``. A named user that is missing is an error.
    """
    if os.geteuid() != 0:
        if name is not None:
            raise UsageError("--kernel-user needs the grader to run as root")
        return None
    wanted = name or DEFAULT_USER
    try:
        return _identity(pwd.getpwnam(wanted))
    except KeyError:
        pass
    if create:
        try:
            create_user(wanted)
        except subprocess.CalledProcessError as exc:
            raise GraderError(f"could not create user {wanted!r}: {exc.stderr.strip()}") from None
        return _identity(pwd.getpwnam(wanted))
    if name is not None:
        raise UsageError(f"no user {name!r}; create it, or pass --create-user")
    return _identity(pwd.getpwnam(FALLBACK_USER))
