"""Launch the kernel inside its limits: ``python -m grader.sandbox SPEC -- CMD...``.

``SPEC`` is URL-safe base64 of a JSON object (so that no kernelspec substitution can touch it).

Runs in the child process between fork and the kernel: applies resource limits, drops to the
unprivileged user when asked, sets a private umask, then ``exec``s the kernel so that nothing of
the grader stays in the process. Kept import-light: it runs once per kernel start.
"""

from __future__ import annotations

import base64
import json
import os
import resource
import sys
from typing import Any

_MIB = 1024 * 1024


def _limit(which: int, value: int) -> None:
    try:
        soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))
    except (ValueError, OSError):
        pass  # a limit the platform refuses is not worth failing the kernel for


def apply(spec: dict[str, Any]) -> None:
    """Apply the limits and identity described by ``spec`` to the current process."""
    if spec.get("memory_mb"):
        _limit(resource.RLIMIT_AS, int(spec["memory_mb"]) * _MIB)
    if spec.get("cpu_seconds"):
        _limit(resource.RLIMIT_CPU, int(spec["cpu_seconds"]))
    if spec.get("file_size_mb"):
        _limit(resource.RLIMIT_FSIZE, int(spec["file_size_mb"]) * _MIB)
    _limit(resource.RLIMIT_CORE, 0)
    uid, gid = spec.get("uid"), spec.get("gid")
    if uid is not None and os.getuid() == 0:
        os.setgroups([])
        os.setgid(int(gid))
        os.setuid(int(uid))
    if spec.get("max_processes"):
        _limit(resource.RLIMIT_NPROC, int(spec["max_processes"]))
    os.umask(0o077)


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m grader.sandbox SPEC_BASE64_JSON -- CMD...", file=sys.stderr)
        return 2
    apply(json.loads(base64.urlsafe_b64decode(argv[0])))
    os.execv(argv[2], argv[2:])
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
