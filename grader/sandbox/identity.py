"""Who a kernel runs as: when the grader is root, never root, and never the same uid as another kernel.

As root, each kernel gets a uid of its own from a reserved range (by default 1,900,000,000 and up;
no account is needed for it), held with a lock file in a root-only folder for as long as the
kernel lives, so that no two kernels -- of one batch or of separate grader runs on one machine --
share files, sockets, processes or a process-count limit. ``--kernel-user NAME`` pins every
kernel to one named account instead (then they share its uid). Not root: kernels run as the
grader's own user (isolated from it by bubblewrap where available).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..errors import GraderError, UsageError
from .reap import kill_uid, pids, uid_of

DEFAULT_USER = "grader-kernel"
UID_BASE = 1_900_000_000
UID_COUNT = 4096


@dataclass(frozen=True)
class Identity:
    """An unprivileged identity a kernel runs as (only when the grader runs as root)."""

    name: str
    uid: int
    gid: int


def _lock_dir() -> Path:
    """A root-only folder for the uid locks: /run/grader, else one in the temp folder."""
    for parent in (Path("/run"), Path(tempfile.gettempdir())):
        folder = parent / ("grader" if parent == Path("/run") else "grader-root-uids")
        try:
            folder.mkdir(mode=0o700, exist_ok=True)
            st = os.lstat(folder)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) and st.st_uid == 0 and not st.st_mode & 0o077:
            return folder
    raise GraderError("cannot create a root-only folder for kernel uid locks (/run/grader)")


def _try_lock(folder: Path, uid: int) -> int | None:
    """A descriptor holding ``uid``'s lock in ``folder``, or None when another process holds it."""
    fd = os.open(folder / str(uid), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


class UidPool:
    """Distinct kernel uids for one grader process, unique across processes on this machine."""

    def __init__(self, base: int = UID_BASE, count: int = UID_COUNT) -> None:
        self.base, self.count = base, count
        self._next = os.getpid() % count  # start elsewhere than a concurrent run would
        self._swept = False

    def sweep(self, folder: Path) -> None:
        """Kill what killed graders left under pool uids nobody holds (kernels below the sandbox
        do not die with the grader; what they started would otherwise live on)."""
        for uid in sorted({u for u in map(uid_of, pids()) if u is not None
                           and self.base <= u < self.base + self.count}):
            fd = _try_lock(folder, uid)
            if fd is not None:  # else a live grader's kernel
                kill_uid(uid)
                os.close(fd)
        self._swept = True

    @contextlib.contextmanager
    def acquire(self) -> Iterator[Identity]:
        """Hold one free uid (and its private group of the same number) until the block ends."""
        folder = _lock_dir()
        if not self._swept:
            self.sweep(folder)
        for attempt in range(self.count):
            slot = (self._next + attempt) % self.count
            uid = self.base + slot
            fd = _try_lock(folder, uid)
            if fd is None:
                continue
            self._next = slot + 1
            kill_uid(uid)  # what a grader killed with -9 may have left under this uid (no namespaces)
            try:
                yield Identity(f"uid {uid}", uid, uid)
            finally:
                os.close(fd)
            return
        raise GraderError(f"all {self.count} kernel uids from {self.base} are in use")


def create_user(name: str) -> None:
    """Create a system user with no home, no login shell and its own group."""
    tool = shutil.which("useradd")
    if tool is None:
        raise GraderError("cannot create the kernel user: useradd is not installed")
    subprocess.run([tool, "--system", "--user-group", "--no-create-home",
                    "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name],
                   check=True, capture_output=True, text=True)


def named_identity(name: str, *, create: bool = False) -> Identity:
    """The account ``name`` (created when ``create``); never root."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        if not create:
            raise UsageError(f"no user {name!r}; create it, or pass --create-user") from None
        try:
            create_user(name)
        except subprocess.CalledProcessError as exc:
            try:  # another process may have created it between the lookup and useradd
                entry = pwd.getpwnam(name)
            except KeyError:
                raise GraderError(f"could not create user {name!r}: {exc.stderr.strip()}") from None
        else:
            entry = pwd.getpwnam(name)
    if entry.pw_uid == 0:
        raise UsageError(f"the kernel user {name!r} is root; choose an unprivileged user")
    return Identity(entry.pw_name, entry.pw_uid, entry.pw_gid)


def stranger() -> Identity:
    """An identity that owns nothing and is in no group, as a pooled kernel uid is to the system,
    for checks run before any kernel starts. It lies just below the pool, so that no grader's
    reaping of pool uids can kill a check that happens to run at the same time."""
    return Identity("a kernel uid", UID_BASE - 1, UID_BASE - 1)


@functools.lru_cache(maxsize=8)
def checked(identity: Identity, fix: bool) -> tuple[str, ...]:
    """:func:`check_python_access`, once per identity and process."""
    return tuple(check_python_access(identity, fix=fix))


def _needed_paths(extra: tuple[str, ...] = ()) -> list[str]:
    return sorted({os.path.realpath(sys.executable), sys.prefix, sys.base_prefix, *extra})


def closed_on_the_way(path: str, identity: Identity) -> list[str]:
    """The folders from ``path`` (a folder, or a file's folder) up to ``/`` that ``identity``
    may not pass through (no x bit for it); an unreadable one counts as closed."""
    closed = []
    current = os.path.dirname(path) if os.path.isfile(path) else path
    while True:
        try:
            st = os.stat(current)
        except OSError:
            closed.append(current)
        else:
            if st.st_uid == identity.uid:
                ok = st.st_mode & stat.S_IXUSR
            elif st.st_gid == identity.gid:
                ok = st.st_mode & stat.S_IXGRP
            else:
                ok = st.st_mode & stat.S_IXOTH
            if not ok:
                closed.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            return closed
        current = parent


def _blocking_dirs(identity: Identity, extra: tuple[str, ...] = ()) -> list[str]:
    """Folders on the way to this Python (and ``extra``) that ``identity`` may not enter."""
    blocked: list[str] = []
    for path in _needed_paths(extra):
        blocked += [folder for folder in closed_on_the_way(path, identity) if folder not in blocked]
    return blocked


def check_python_access(identity: Identity, *, fix: bool = False, run: bool = False,
                        extra: tuple[str, ...] = ()) -> list[str]:
    """Make sure ``identity`` can reach this Python (and ``extra``); returns the folders opened.

    Raises GraderError naming the folders in the way. With ``fix``, opens them for traversal only
    (``o+x``: no listing, no reading of anything else). With ``run``, also checks, by running it
    as that identity, that the kernel's packages import.
    """
    changed = []
    blocked = _blocking_dirs(identity, extra)
    if blocked and fix:
        for folder in blocked:
            os.chmod(folder, os.stat(folder).st_mode | stat.S_IXOTH)
            changed.append(folder)
        blocked = _blocking_dirs(identity, extra)
    if blocked:
        raise GraderError(f"the kernel user ({identity.name}) cannot reach this Python "
                          f"({sys.executable}): no permission to enter {', '.join(blocked)}. "
                          f"Run `grader sandbox-check --fix` (adds o+x to those folders), or "
                          f"install the grader somewhere readable")
    if not run:
        return changed
    probe = subprocess.run([sys.executable, "-I", "-c", "import ipykernel, numpy, sympy"],
                           user=identity.uid, group=identity.gid, extra_groups=[],
                           capture_output=True, text=True, cwd="/", timeout=120)
    if probe.returncode != 0:
        raise GraderError(f"the kernel user ({identity.name}) cannot import the kernel's packages "
                          f"with {sys.executable}: {probe.stderr.strip()[-500:]}")
    return changed
