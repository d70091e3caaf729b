"""A sandbox's memory and files, measured from outside: the budget where no cgroup enforces one.

Without a cgroup (an ordinary user whose cgroup is not delegated), the kernel's limits are per
process. The grader then measures the sandbox as a whole -- the resident memory of every process
descending from the sandbox's first one (a process that left its session is still one: it is
re-parented inside the sandbox's PID namespace; outside a bubblewrap sandbox, every process of the
kernel's own uid, else of its session, counts too), plus
what its tmpfs mounts hold -- and ends the sandbox when the total passes the kernel's budget, or
when a tmpfs holds more files than ``MAX_FILES``. Measured a few times a second for the kernel's
whole life (``Kernel`` watches it): a sandbox can overshoot briefly, never for long.

Nor is the CPU shared by a cgroup then: every process of a sandbox but the kernel's own gets the
lowest priority (``nice`` 19, and for one that started a session of its own, which the scheduler
would otherwise weigh like a whole user's, its session's priority too), and so does every thread
of every process (``setpriority`` on Linux sets one thread's priority) but the kernel's own threads
(its main thread and those ipykernel started before the notebook ran: its message handling). A
notebook's helper processes and threads still run; they just cannot crowd out another kernel.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from .reap import _session_of, children_of

MAX_FILES = 100_000        # files and folders per tmpfs mount
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True)
class Usage:
    memory: int      # bytes: resident memory of the processes plus tmpfs contents
    files: int       # the most files and folders in any one of the sandbox's tmpfs mounts
    processes: int
    pids: tuple[int, ...] = ()


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    todo = [pid]
    while todo and len(found) < 100_000:
        current = todo.pop()
        found.append(current)
        todo.extend(children_of(current))
    return found


def _resident(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def measure(outer_pid: int, kernel_pid: int | None, mounts: tuple[str, ...],
            also: tuple[int, ...] = ()) -> Usage:
    """What the sandbox started as ``outer_pid`` holds; ``mounts``: its tmpfs mounts, seen through
    ``/proc/KERNEL/root``; ``also``: its processes found otherwise (and their descendants)."""
    pids = _descendants(outer_pid)
    for pid in also:
        if pid not in pids:
            pids += [p for p in _descendants(pid) if p not in pids]
    memory = sum(_resident(pid) for pid in pids)
    files = 0
    for mount in mounts if kernel_pid is not None else ():
        try:
            st = os.statvfs(f"/proc/{kernel_pid}/root{mount}")
        except OSError:
            continue
        memory += (st.f_blocks - st.f_bfree) * st.f_frsize
        files = max(files, st.f_files - st.f_ffree)
    return Usage(memory, files, len(pids), tuple(pids))


def threads_of(pid: int) -> list[int]:
    """The thread ids of process ``pid`` (its own id first among them)."""
    try:
        return sorted((int(tid) for tid in os.listdir(f"/proc/{pid}/task")), key=lambda t: t != pid)
    except (OSError, ValueError):
        return []


def demote(pids: tuple[int, ...], keep: set[int], done: dict[int, int | None],
           spare: frozenset[int] = frozenset()) -> None:
    """The lowest CPU priority for each of ``pids`` not in ``keep``, and for each of their threads
    not in ``spare`` (a process's main thread is the process); ``done`` remembers each one's session
    when demoted (a process that starts a session of its own later is demoted again), and each
    thread demoted (as ``-tid``)."""
    spared = {_session_of(pid) for pid in (*keep, os.getpid())}
    for pid in pids:
        for tid in threads_of(pid)[1:]:
            if tid in spare or -tid in done:
                continue
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, tid, 19)
            done[-tid] = None
        session = _session_of(pid)
        if pid in keep or (pid in done and done[pid] == session):
            continue
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, pid, 19)
        if session not in spared:
            try:  # the kernel takes one such change a tenth of a second (unprivileged): retried
                with open(f"/proc/{pid}/autogroup", "w") as fh:
                    fh.write("19")
            except OSError:
                continue
        done[pid] = session


def over(usage: Usage, memory_mb: int) -> str | None:
    """The limit ``usage`` passes, in words for the student's result (None: within budget)."""
    if usage.memory > memory_mb * 1024 * 1024:
        return (f"its memory limit ({memory_mb} MiB for the kernel, its children and files "
                f"together)")
    if usage.files > MAX_FILES:
        return f"its limit of {MAX_FILES} files in a folder of its own"
    return None
