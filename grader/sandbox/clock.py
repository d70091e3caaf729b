"""The time a cell or probe is charged: its own, never the time a neighbour took from it.

A cell's time limit counts wall-clock time minus the time the kernel was ready to run but waited
for a CPU (the scheduler's run-queue delay of the kernel's process, ``/proc/PID/schedstat``), and
minus the time the grader's own thread that reads the kernel's replies (the one that starts the
stopwatch: its event loop) could not read them: a cell that computes or sleeps is charged all of
it; one that a busy machine or a classmate's CPU hog kept off the CPU -- the kernel, or the grader
waiting to read its answer -- is not charged the wait. (Measured on a loaded 2-core machine, the
grader's loop waited up to 3 s while a trivial cell ran and the kernel waited 0.01 s: that wait had
timed out cells of 3 s.) The reader is counted look by look (it looks every ``every`` seconds
while it waits for the kernel): between two looks it is forgiven the longer of its own wait for a
CPU and the time beyond ``every`` it took to look again. The second is the grader's loop busy with
another submission (judging it, writing its result, ending its kernel): a loaded machine stretched
such work to seconds, and a classmate's first cell -- ``import math`` -- timed out behind it.
A wall-clock backstop, ``BACKSTOP`` times the limit, ends whatever the charged time says (a kernel
whose own processes starve it cannot run forever, and where the waits overlap, what is forgiven
twice stays within it).
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
    """Charged and wall time since ``start`` for the kernel process ``pid``, read by the calling
    thread, which looks (calls ``expired`` or ``wait``) about every ``every`` seconds."""

    def __init__(self, pid: int | None, every: float = 0.25) -> None:
        self.pid = pid
        self.every = every
        self.reader = threading.get_native_id()  # the grader's thread that reads the replies
        self.wall0 = time.monotonic()
        self.wait0 = waited(pid)
        # (not when the reader is the measured process itself: its waits are the kernel's own)
        self._reading = pid not in (None, self.reader)
        self._reader_at = waited(os.getpid(), self.reader) if self._reading else None
        self._looked = self.wall0
        self._wait = 0.0
        self._forgiven = 0.0  # the reader's, look by look

    @property
    def measured(self) -> bool:
        return self.wait0 is not None

    def _look(self) -> None:
        """Forgive the reader, since its last look, the longer of its wait for a CPU and the time
        beyond ``every`` it took to look again (its loop busy elsewhere)."""
        now = time.monotonic()
        gap, self._looked = now - self._looked, now
        cpu = 0.0
        mine = waited(os.getpid(), self.reader)
        if mine is not None:
            if self._reader_at is not None:
                cpu = max(0.0, mine - self._reader_at)
            self._reader_at = mine
        self._forgiven += min(gap, max(cpu, gap - self.every))

    def wait(self) -> float:
        """Seconds the kernel, and the grader's thread reading it, waited (for a CPU, or the
        reader for its loop) since the start; 0 where not measured."""
        if self.wait0 is None:
            return 0.0
        now = waited(self.pid)
        if now is not None:  # else the process is gone: keep the last reading
            self._wait = max(self._wait, now - self.wait0)
        if self._reading:
            self._look()
        return min(self._wait + self._forgiven, self.wall())

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
