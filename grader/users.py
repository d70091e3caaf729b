"""Which user the kernel runs as: when the grader is root, never root."""

from __future__ import annotations

import functools
import os
import pwd
import shutil
import stat
import subprocess
import sys

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


def kernel_identity(name: str | None = None, *, create: bool = False, fix: bool = False) -> Identity | None:
    """The identity kernels run as, or None when the grader is not root (it cannot switch users).

    As root: ``name`` (default ``grader-kernel``), created when ``create`` is set; without ``create``
    a missing default user falls back to ``nobody``. A named user that is missing is an error, and
    so is a user that cannot run this Python (``fix`` opens the folders in the way for traversal).
    """
    if os.geteuid() != 0:
        if name is not None:
            raise UsageError("--kernel-user needs the grader to run as root")
        return None
    wanted = name or DEFAULT_USER
    try:
        entry = pwd.getpwnam(wanted)
    except KeyError:
        if create:
            try:
                create_user(wanted)
            except subprocess.CalledProcessError as exc:
                raise GraderError(f"could not create user {wanted!r}: {exc.stderr.strip()}") from None
            entry = pwd.getpwnam(wanted)
        elif name is not None:
            raise UsageError(f"no user {name!r}; create it, or pass --create-user") from None
        else:
            entry = pwd.getpwnam(FALLBACK_USER)
    identity = _identity(entry)
    _checked(identity, fix)
    return identity


@functools.lru_cache(maxsize=8)
def _checked(identity: Identity, fix: bool) -> tuple[str, ...]:
    return tuple(check_python_access(identity, fix=fix))


def _blocking_dirs(identity: Identity) -> list[str]:
    """Folders on the way to this Python that ``identity`` may not enter (no x bit for it)."""
    paths = {os.path.realpath(sys.executable), sys.prefix, sys.base_prefix}
    blocked = []
    for path in sorted(paths):
        current = os.path.dirname(path) if os.path.isfile(path) else path
        while True:
            st = os.stat(current)
            if st.st_uid == identity.uid:
                ok = st.st_mode & stat.S_IXUSR
            elif st.st_gid == identity.gid:
                ok = st.st_mode & stat.S_IXGRP
            else:
                ok = st.st_mode & stat.S_IXOTH
            if not ok and current not in blocked:
                blocked.append(current)
            parent = os.path.dirname(current)
            if parent == current:
                break
            current = parent
    return blocked


def check_python_access(identity: Identity, *, fix: bool = False, run: bool = False) -> list[str]:
    """Make sure ``identity`` can reach this Python; returns the folders it had to open.

    Raises GraderError naming the folders in the way. With ``fix``, opens them for traversal only
    (``o+x``: no listing, no reading of anything else). With ``fix`` or ``run``, also checks, by
    running it as that user, that the kernel's packages import.
    """
    changed = []
    blocked = _blocking_dirs(identity)
    if blocked and fix:
        for folder in blocked:
            os.chmod(folder, os.stat(folder).st_mode | stat.S_IXOTH)
            changed.append(folder)
        blocked = _blocking_dirs(identity)
    if blocked:
        raise GraderError(f"the kernel user {identity.name!r} cannot reach this Python "
                          f"({sys.executable}): no permission to enter {', '.join(blocked)}. "
                          f"Run `grader sandbox-check --fix` (adds o+x to those folders), install "
                          f"the grader somewhere readable, or use --kernel-user")
    if not (fix or run):
        return changed  # the import check below costs a second: sandbox-check runs it
    probe = subprocess.run([sys.executable, "-c", "import ipykernel, numpy, sympy"],
                           user=identity.uid, group=identity.gid, extra_groups=[],
                           capture_output=True, text=True, cwd="/", timeout=120)
    if probe.returncode != 0:
        raise GraderError(f"the kernel user {identity.name!r} cannot import the kernel's packages "
                          f"with {sys.executable}: {probe.stderr.strip()[-500:]}")
    return changed
