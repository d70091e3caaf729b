"""Launch the kernel inside its limits: ``python -m grader.sandbox SPEC -- CMD...``.

``SPEC`` is URL-safe base64 of a JSON object (so that no kernelspec substitution can touch it).
Runs in the child process between fork and the kernel: when root, moves into private mount and
network namespaces, hides the grader's own files (config, solutions, results) behind empty mounts
and drops to the unprivileged user; always applies resource limits and a private umask; then
``exec``s the kernel so that nothing of the grader stays in the process. Kept import-light: it runs
once per kernel start.
"""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import json
import os
import resource
import sys
from typing import Any

_MIB = 1024 * 1024
_CLONE_NEWNS = 0x00020000
_CLONE_NEWNET = 0x40000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_BIND, _MS_REC, _MS_PRIVATE = 4096, 16384, 1 << 18


def _limit(which: int, value: int) -> None:
    try:
        soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))
    except (ValueError, OSError):
        pass  # a limit the platform refuses is not worth failing the kernel for


def _libc() -> Any:
    return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def _mount(libc: Any, source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    if libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None, flags,
                  data.encode() if data else None) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {target}: {os.strerror(errno)}")


def isolate(hide: list[str], network: bool) -> list[str]:
    """Private mount (and network) namespace with ``hide`` covered; returns what could not be done."""
    problems: list[str] = []
    libc = _libc()
    flags = _CLONE_NEWNS | (0 if network else _CLONE_NEWNET)
    if libc.unshare(flags) != 0:
        errno = ctypes.get_errno()
        return [f"no private namespaces ({os.strerror(errno)}): hidden paths and network "
                f"isolation rely on file permissions only"]
    try:
        _mount(libc, "none", "/", None, _MS_REC | _MS_PRIVATE, None)
    except OSError as exc:
        return [str(exc)]
    for path in hide:
        try:
            if os.path.isdir(path):
                _mount(libc, "tmpfs", path, "tmpfs", _MS_RDONLY | _MS_NOSUID | _MS_NODEV | _MS_NOEXEC,
                       "size=4k,mode=0555")
            elif os.path.exists(path):
                _mount(libc, "/dev/null", path, None, _MS_BIND, None)
        except OSError as exc:
            problems.append(str(exc))
    return problems


def apply(spec: dict[str, Any]) -> list[str]:
    """Apply the isolation, identity and limits described by ``spec`` to the current process."""
    problems: list[str] = []
    if os.getuid() == 0 and spec.get("isolate", True):
        problems += isolate(list(spec.get("hide", [])), bool(spec.get("network", False)))
    if spec.get("memory_mb"):
        _limit(resource.RLIMIT_AS, int(spec["memory_mb"]) * _MIB)
    if spec.get("cpu_seconds"):
        _limit(resource.RLIMIT_CPU, int(spec["cpu_seconds"]))
    if spec.get("file_size_mb"):
        _limit(resource.RLIMIT_FSIZE, int(spec["file_size_mb"]) * _MIB)
    _limit(resource.RLIMIT_CORE, 0)
    uid, gid = spec.get("uid"), spec.get("gid")
    if uid is not None and os.getuid() == 0:
        for path in spec.get("own", []):  # the connection file, written 0600 by root
            os.chown(path, int(uid), int(gid))
        os.setgroups([])
        os.setgid(int(gid))
        os.setuid(int(uid))
    if spec.get("max_processes"):
        _limit(resource.RLIMIT_NPROC, int(spec["max_processes"]))
    os.umask(0o077)
    return problems


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m grader.sandbox SPEC -- CMD...", file=sys.stderr)
        return 2
    for problem in apply(json.loads(base64.urlsafe_b64decode(argv[0]))):
        print(f"grader sandbox: {problem}", file=sys.stderr)
    os.execv(argv[2], argv[2:])
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
