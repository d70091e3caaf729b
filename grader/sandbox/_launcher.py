"""The last step before the kernel: limits, (legacy) namespaces, identity, then ``exec``.

Never imported by the grader: its *source* is handed to ``python -I -S -c`` (see ``launch.py``),
so that nothing on disk that a kernel could have written (a planted ``.pth``, a ``grader/``
folder in a working directory) is ever read by it, and so that it also runs inside a bubblewrap
sandbox where the grader package is not visible. Standard library only.

argv: ``SPEC -- CMD...`` where SPEC is base64 of JSON (nothing in it can look like a kernelspec
``{placeholder}``):
  memory_mb, cpu_seconds, file_size_mb, max_processes -- resource limits (set here, inside any user
      namespace, so that the process count is this sandbox's own and not the user's);
  processes_above_own -- the kernel keeps the grader's uid (no namespace, no uid of its own): the
      process limit is set above the threads that uid already runs, so the user's own count for nothing;
  hide -- list of paths (root only, no bubblewrap): move into private mount and network
      namespaces and cover these with empty mounts;
  uid, gid -- (root only) drop to this identity before ``exec``;
  landlock -- list of [path, "ro" | "rw" | "list"]: the only files the kernel may open (a Landlock
      ruleset, where no namespace can be had); "ro" is read and execute, "list" listing folders.
  cgroup -- ``cgroup.procs`` files to write this process's pid to, first of all (the kernel's
      cgroup, made by the grader; the process is still root, or the cgroup's delegated owner);
  oom_score_adj -- raise this process's (and so its children's) out-of-memory score.
"""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import json
import os
import resource
import struct
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


def _mount(libc: ctypes.CDLL, source: str, target: str, fstype: str | None, flags: int,
           data: str | None) -> None:
    if libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None, flags,
                  data.encode() if data else None) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, "mount " + target + ": " + os.strerror(errno))


def isolate(hide: list[str]) -> list[str]:
    """Private mount and network namespaces with ``hide`` covered; returns what could not be done."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    if libc.unshare(_CLONE_NEWNS | _CLONE_NEWNET) != 0:
        return ["no private namespaces (" + os.strerror(ctypes.get_errno()) + ")"]
    problems: list[str] = []
    try:
        _mount(libc, "none", "/", None, _MS_REC | _MS_PRIVATE, None)
    except OSError as exc:
        return [str(exc)]
    try:  # other users' processes (the grader's command line among them) become invisible
        _mount(libc, "proc", "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, "hidepid=2")
    except OSError as exc:
        problems.append(str(exc))
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


_LL_CREATE, _LL_ADD, _LL_RESTRICT = 444, 445, 446  # the same number on every architecture
_LL_FS_V1 = (1 << 13) - 1      # execute, write/read file, read dir, remove, make (ABI 1)
_LL_REFER, _LL_TRUNCATE = 1 << 13, 1 << 14   # ABI 2, ABI 3
_LL_READ = 1 | 4 | 8           # execute, read a file, read a folder
_LL_FILE = 1 | 2 | 4 | _LL_TRUNCATE  # the rights that apply to a file (not a folder)
_PR_SET_NO_NEW_PRIVS = 38


def landlock(rules: list[list[str]]) -> list[str]:
    """Allow only ``rules`` ([path, "ro"|"rw"]) from now on, for this process and its children."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    abi = libc.syscall(ctypes.c_long(_LL_CREATE), None, ctypes.c_long(0), ctypes.c_long(1))
    if abi < 1:
        return ["no Landlock (" + os.strerror(ctypes.get_errno()) + "): files are down to permissions"]
    handled = _LL_FS_V1 | (_LL_REFER if abi >= 2 else 0) | (_LL_TRUNCATE if abi >= 3 else 0)
    attr = ctypes.create_string_buffer(struct.pack("=Q", handled))
    ruleset = libc.syscall(ctypes.c_long(_LL_CREATE), attr, ctypes.c_long(8), ctypes.c_long(0))
    if ruleset < 0:
        return ["landlock ruleset: " + os.strerror(ctypes.get_errno())]
    problems: list[str] = []
    try:
        for path, mode in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # not on this machine: nothing to allow
            try:
                access = handled if mode == "rw" else 8 if mode == "list" else _LL_READ
                if not os.path.isdir("/proc/self/fd/%d" % fd):
                    access &= _LL_FILE
                rule = ctypes.create_string_buffer(struct.pack("=Qi", access & handled, fd))
                if libc.syscall(ctypes.c_long(_LL_ADD), ctypes.c_long(ruleset), ctypes.c_long(1), rule,
                                ctypes.c_long(0)) != 0:
                    problems.append("landlock rule " + path + ": " + os.strerror(ctypes.get_errno()))
            finally:
                os.close(fd)
        libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        if libc.syscall(ctypes.c_long(_LL_RESTRICT), ctypes.c_long(ruleset), ctypes.c_long(0)) != 0:
            problems.append("landlock: " + os.strerror(ctypes.get_errno()))
    finally:
        os.close(ruleset)
    return problems


def _own_tasks() -> int:
    """Threads running now under this process's real uid (``RLIMIT_NPROC`` counts every one)."""
    uid, total = os.getuid(), 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/" + name + "/status") as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
            if int(fields["Uid"].split()[0]) == uid:
                total += int(fields["Threads"])
        except (OSError, KeyError, ValueError, IndexError):
            continue
    return total


def apply(spec: dict[str, Any]) -> list[str]:
    """Apply the namespaces, limits and identity in ``spec`` to this process; returns problems."""
    problems: list[str] = []
    for path in spec.get("cgroup") or ():
        with open(path, "w") as fh:  # no kernel code runs outside its cgroup: fail, not go on
            fh.write(str(os.getpid()))
    if spec.get("hide") is not None and os.getuid() == 0:
        problems += isolate(list(spec["hide"]))
    if spec.get("memory_mb"):
        _limit(resource.RLIMIT_AS, int(spec["memory_mb"]) * _MIB)
    if spec.get("cpu_seconds"):
        _limit(resource.RLIMIT_CPU, int(spec["cpu_seconds"]))
    if spec.get("file_size_mb"):
        _limit(resource.RLIMIT_FSIZE, int(spec["file_size_mb"]) * _MIB)
    _limit(resource.RLIMIT_CORE, 0)
    if spec.get("oom_score_adj") is not None:
        try:
            with open("/proc/self/oom_score_adj", "w") as fh:
                fh.write(str(int(spec["oom_score_adj"])))
        except OSError as exc:
            problems.append("oom_score_adj: " + str(exc))
    if spec.get("uid") is not None and os.getuid() == 0:
        os.setgroups([])
        os.setgid(int(spec["gid"]))
        os.setuid(int(spec["uid"]))
    if spec.get("max_processes"):
        limit = int(spec["max_processes"])
        if spec.get("processes_above_own"):  # the limit counts every thread of this uid
            limit += _own_tasks()
        _limit(resource.RLIMIT_NPROC, limit)
    os.umask(0o077)
    if spec.get("landlock") is not None:
        problems += landlock(spec["landlock"])
    return problems


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: SPEC -- CMD...", file=sys.stderr)
        return 2
    for problem in apply(json.loads(base64.b64decode(argv[0]))):
        print("grader sandbox: " + problem, file=sys.stderr)
    os.execv(argv[2], argv[2:])
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
