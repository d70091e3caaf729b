"""The time a cell or probe is charged: its own, never the time a neighbour took from it.

A cell's time limit counts wall-clock time minus the time the kernel was ready to run but waited
for a CPU (the scheduler's run-queue delay of the kernel's process, ``/proc/PID/schedstat``), and
minus the time the grader's own thread that reads the kernel's replies (the one that starts the
stopwatch: its event loop) waited for a CPU: a cell that computes or sleeps is charged all of it;
one that a busy machine or a classmate's CPU hog kept off the CPU -- the kernel, or the grader
waiting to read its answer -- is not charged the wait. (Measured on a loaded 2-core machine, the
grader's loop waited up to 3 s while a trivial cell ran and the kernel waited 0.01 s: that wait had
timed out cells of 3 s.) A wall-clock backstop, ``BACKSTOP`` times the limit, ends whatever the
charged time says (a kernel whose own processes starve it cannot run forever, and where the two
waits overlap, what is forgiven twice stays within it).
Where the scheduler statistics are missing, the limit is plain wall-clock time, and says so.
"""

from __future__ import annotations

import os
import threading
import time

BACKSTOP = 4.0          # the wall-clock backstop, in multiples of a limit
OWN = "own time"         # the rule that ended a cell: charged time (wall minus waiting for a CPU)
WALL = "wall clock"      # the rule that ended a cell: the wall-clock backstop, or no statistics


def waited(pid: int | None, tid: int | None = None) -> float | None:
    """Seconds ``pid`` (its main thread, or its thread ``tid``) has spent waiting for a CPU."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/task/{tid}/schedstat" if tid else f"/proc/{pid}/schedstat", "rb") as fh:
            fields = fh.read().split()
        return int(fields[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


class Stopwatch:
    """Charged and wall time since ``start`` for the kernel process ``pid``."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self.reader = threading.get_native_id()  # the grader's thread that reads the replies
        self.wall0 = time.monotonic()
        self.wait0 = waited(pid)
        # (None when the reader is the measured process itself: one wait is not counted twice)
        self.reader0 = waited(os.getpid(), self.reader) if pid not in (None, self.reader) else None
        self._wait = 0.0
        self._reader_wait = 0.0

    @property
    def measured(self) -> bool:
        return self.wait0 is not None

    def wait(self) -> float:
        """Seconds the kernel, and the grader's thread reading it, waited for a CPU since the
        start (0 where not measured)."""
        if self.wait0 is not None:
            now = waited(self.pid)
            if now is not None:  # else the process is gone: keep the last reading
                self._wait = max(self._wait, now - self.wait0)
        if self.wait0 is not None and self.reader0 is not None:
            mine = waited(os.getpid(), self.reader)
            if mine is not None:
                self._reader_wait = max(self._reader_wait, mine - self.reader0)
        return min(self._wait + self._reader_wait, self.wall())

    def wall(self) -> float:
        return time.monotonic() - self.wall0

    def charged(self) -> float:
        return max(0.0, self.wall() - self.wait())

    def expired(self, limit: float) -> str | None:
        """Which rule ends a run limited to ``limit`` seconds now (None: it may go on)."""
        if self.wall() >= BACKSTOP * limit or (not self.measured and self.wall() >= limit):
            return WALL
        if self.charged() >= limit:
            return OWN
        return None
