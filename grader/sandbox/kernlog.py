"""A kernel's stderr, kept on the host within a fixed size: the first and last part, and a count.

The kernel writes into a pipe; a thread of the grader's reads it and writes the log file itself:
the first ``head`` bytes, then -- when the kernel stops writing -- a line counting what was left
out and the last ``tail`` bytes. One ``Budget`` is shared by every start of one submission's kernel,
so that restarts cannot multiply the log either.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
from pathlib import Path

HEAD = 32 * 1024
TAIL = 32 * 1024
PER_SUBMISSION = 256 * 1024
_AFTER_STOP = 1 << 20   # bytes read after close(): what the pipe held, not a live writer's stream


class Budget:
    """Bytes of log one submission may still keep on disk (all its kernel starts together)."""

    def __init__(self, total: int = PER_SUBMISSION) -> None:
        self.left = total
        self.lock = threading.Lock()

    def take(self, wanted: int) -> int:
        with self.lock:
            got = max(0, min(wanted, self.left))
            self.left -= got
            return got


class BoundedLog:
    """Drain ``read_fd`` into ``path``, keeping at most the head and tail the budget allows.

    The thread ends at the pipe's end, or at ``close()`` even when a process still holds the pipe
    open: it then keeps what was already written to the pipe and stops."""

    def __init__(self, path: Path, read_fd: int, budget: Budget) -> None:
        self.path, self.budget = path, budget
        self.fd = read_fd
        os.set_blocking(read_fd, False)  # our own end of the pipe: the writers' end is not affected
        self.head_left = budget.take(HEAD)
        self.tail_size = budget.take(TAIL)
        self.tail = bytearray()
        self.dropped = 0
        self._lock = threading.Lock()   # guards ``tail`` (``last()`` reads it from another thread)
        self._stop = threading.Event()
        self.out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        self.thread = threading.Thread(target=self._drain, name="kernel-log", daemon=True)
        self.thread.start()

    def _read(self) -> bytes | None:
        """The next chunk of the pipe; b"" at its end; None once stopped with nothing to read."""
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        while True:
            try:
                return os.read(self.fd, 65536)
            except (BlockingIOError, InterruptedError):
                if self._stop.is_set():
                    return None
                with contextlib.suppress(InterruptedError):
                    poller.poll(100)
            except OSError:
                return b""

    def _drain(self) -> None:
        try:
            after_stop = 0  # a process that outlived close() and keeps writing: not followed for long
            while (chunk := self._read()) and after_stop < _AFTER_STOP:
                self._keep(chunk)
                if self._stop.is_set():
                    after_stop += len(chunk)
            with self._lock:
                if self.dropped:
                    os.write(self.out, f"\n[... {self.dropped} bytes of the kernel's output left "
                                       f"out ...]\n".encode())
                os.write(self.out, bytes(self.tail))
                self.tail = bytearray()
        finally:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            with contextlib.suppress(OSError):
                os.close(self.out)

    def _keep(self, chunk: bytes) -> None:
        with self._lock:
            if self.head_left:
                first, chunk = chunk[:self.head_left], chunk[self.head_left:]
                os.write(self.out, first)
                self.head_left -= len(first)
            if chunk:
                self.tail += chunk
                if len(self.tail) > self.tail_size:
                    cut = len(self.tail) - self.tail_size
                    self.dropped += cut
                    del self.tail[:cut]

    def close(self, timeout: float = 5.0) -> None:
        """Keep what the kernel's processes (dead by now) wrote, and end the thread, even if some
        process still holds the pipe open."""
        self._stop.set()
        self.thread.join(timeout)

    def last(self, size: int = 2000) -> str:
        """The last ``size`` bytes written so far, for an error message."""
        self.thread.join(0.5)
        with self._lock:
            try:
                data = self.path.read_bytes()
            except OSError:
                data = b""
            data += bytes(self.tail)
        return data[-size:].decode("utf-8", "replace")
