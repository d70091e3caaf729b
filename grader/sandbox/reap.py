"""Kill everything a kernel started, by what the grader knows rather than by what a process can scrub.

In order of strength: the kernel's PID namespace (bubblewrap: everything in it dies with its
first process), the kernel's own uid (root: no other process has it), and -- only where neither
exists, an ordinary user without namespaces -- the kernel's session and the token in its
environment.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from typing import Callable, Iterator

_ROUNDS = 50


def pids() -> Iterator[int]:
    """Every process id on the machine but this one."""
    me = os.getpid()
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if entry.isdigit() and int(entry) != me:
            yield int(entry)


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return b""


def _stat(pid: int) -> list[bytes]:
    """The fields of ``/proc/PID/stat`` after "pid (comm) ": state, ppid, pgrp, session, …"""
    stat = _read(f"/proc/{pid}/stat")
    return stat[stat.rfind(b")") + 2:].split()


def uid_of(pid: int) -> int | None:
    """The real uid of ``pid`` (None when it is gone)."""
    for line in _read(f"/proc/{pid}/status").splitlines():
        if line.startswith(b"Uid:"):
            return int(line.split()[1])
    return None


def pidns_of(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def children_of(pid: int) -> list[int]:
    """The children of ``pid``: from the kernel's own list when it keeps one (cheap: this runs
    while a kernel starts), else by reading every process's parent."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    lists = [_read(f"/proc/{pid}/task/{tid}/children") for tid in tasks
             if os.path.exists(f"/proc/{pid}/task/{tid}/children")]
    if lists:
        return [int(child) for listed in lists for child in listed.split()]
    return [other for other in pids() if (fields := _stat(other)) and len(fields) > 1
            and fields[1] == str(pid).encode()]


def _alive(pid: int) -> bool:
    """False for a zombie (dead, waiting to be reaped: nothing left to kill) or a vanished pid."""
    fields = _stat(pid)
    return bool(fields) and fields[0] not in (b"Z", b"X")


def _kill_matching(match: Callable[[int], bool]) -> int:
    """SIGKILL every live process ``match`` accepts, again until none is left; returns how many."""
    killed = 0
    for _ in range(_ROUNDS):
        found = [pid for pid in pids() if match(pid) and _alive(pid)]
        if not found:
            break
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except OSError:
                pass
        time.sleep(0.005)
    return killed


def kill_uid(uid: int) -> int:
    """Kill every process whose real uid is ``uid`` (a kernel uid of its own; root only)."""
    if uid == 0 or uid == os.getuid():
        raise ValueError("refusing to kill every process of the grader's own user")
    return _kill_matching(lambda pid: uid_of(pid) == uid)


def kill_pidns(ns: str) -> int:
    """Kill every process in the PID namespace ``ns`` (as ``readlink /proc/PID/ns/pid`` says)."""
    if ns == pidns_of(os.getpid()):
        raise ValueError("refusing to kill the grader's own PID namespace")
    return _kill_matching(lambda pid: pidns_of(pid) == ns)


class PidNamespace:
    """The PID namespace of a process, held open: a namespace's number is freed with it and at
    once given to the next one made (another kernel's), so killing by a number that is not held
    could hit a neighbour's processes."""

    def __init__(self, pid: int) -> None:
        self._fd: int | None = os.open(f"/proc/{pid}/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        self.name = os.readlink(f"/proc/self/fd/{self._fd}")

    def kill(self) -> int:
        """Kill every process in it (none when it is the grader's own)."""
        if self._fd is None or self.name == pidns_of(os.getpid()):
            return 0
        return kill_pidns(self.name)

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


def hold_pidns(pid: int) -> PidNamespace | None:
    """:class:`PidNamespace` of ``pid``; None when it is gone."""
    try:
        return PidNamespace(pid)
    except OSError:
        return None


def _session_of(pid: int) -> int | None:
    fields = _stat(pid)
    return int(fields[3]) if len(fields) > 3 else None


def carries_token(pid: int, token: str) -> bool:
    """Whether ``pid`` was started with ``token`` (a kernel's or a zygote's) in its environment."""
    return f"GRADER_KERNEL_TOKEN={token}".encode() in _read(f"/proc/{pid}/environ").split(b"\0")


def kill_token(token: str, session: int | None = None) -> int:
    """Kill every process in the kernel's session or carrying its token (the weakest reaper)."""
    return _kill_matching(lambda pid: carries_token(pid, token)
                          or (session is not None and _session_of(pid) == session))
