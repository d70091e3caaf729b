"""The grader's side of a Dask worker (see :mod:`grader.grading.cluster`): the check, the slots, the task.

A worker process grades as a local batch does: in one event loop (a thread of its own, for the
process's life) each task takes a kernel started ahead of it and starts the next one while it
grades, so that no submission waits for a kernel to start. A kernel started ahead and not taken
within ``IDLE`` seconds is closed, and the client closes them all (:func:`drain`) when its batch
ends or is interrupted. Student code runs only in those sandboxed kernels, never in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
from pathlib import Path
from typing import Any, Awaitable, Callable

from .. import __version__
from ..model import Assignment, Config, Limits
from ..errors import KernelStartError
from .grade import GradeOptions, grade_notebook_async, not_started_result
from ..execution.kernel import Kernel
from ..results import SubmissionResult
from ..sandbox import Level, Policy
from ..intake.submission import Rejected, parse_notebook

RESOURCE = "grader-slots"
IDLE = 10.0  # seconds a kernel started ahead waits for a task before it is closed

_POLICY: Policy | None = None   # the policy this worker's kernels get (set by the check)
_SLOTS = 1                      # tasks this worker grades at once (set with the slots)
_RUNNING: set[str] = set()      # keys of the tasks grading right now
_DETECTED: dict[str | None, Policy] = {}  # this machine's isolation, found once per kernel user
_LOCK = threading.Lock()


def code_digest() -> str:
    """sha256 of the installed grader package's files: two installs grade alike when it matches."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def worker_identity(dask_worker: Any, config: Config, kernel_user: str | None,
                    no_sandbox: bool) -> dict[str, Any]:
    """What a worker would grade with: version, files, isolation, threads. Keeps its policy."""
    global _POLICY
    from ..sandbox import detect
    from ..sandbox.denylist import protected_paths

    answer: dict[str, Any] = {"version": __version__, "code": code_digest(),
                              "threads": dask_worker.state.nthreads}
    try:
        policy = _DETECTED.get(kernel_user) or _DETECTED.setdefault(kernel_user, detect(kernel_user))
    except Exception as exc:  # noqa: BLE001 -- said to the client, which refuses this worker
        answer["error"] = f"its sandbox cannot be set up: {exc}"
        return answer
    answer["isolation"] = policy.summary
    if policy.level is Level.NONE and not no_sandbox:
        answer["error"] = (f"its kernels cannot be isolated ({policy.why}); fix it (grader "
                           f"sandbox-check on that machine) or pass --no-sandbox")
        return answer
    scratch = Path(dask_worker.local_directory)  # other students' bytes may be spilled there
    _POLICY = policy.with_hide(protected_paths(config, scratch))
    return answer


async def set_slots(jobs: int | None, dask_worker: Any = None) -> int:
    """Let this (checked) worker take ``jobs`` grading tasks at once (default: its threads)."""
    global _SLOTS
    _SLOTS = int(jobs or dask_worker.state.nthreads)
    await dask_worker.set_resources(**{RESOURCE: _SLOTS})
    return _SLOTS


def running(run: str, dask_worker: Any = None) -> int:
    """How many of run ``run``'s tasks this worker is grading right now."""
    with _LOCK:
        return sum(key.startswith(run) for key in _RUNNING)


class _Kernels:
    """This process's event loop, and the kernels started ahead in it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="grader-kernels", daemon=True).start()
        self.ahead: list[tuple[Limits, asyncio.Task[Kernel]]] = []
        self.closing: set[asyncio.Task[None]] = set()

    async def _start(self, limits: Limits, policy: Policy) -> Kernel:
        kernel = Kernel(None, limits, policy=policy)
        await kernel.__aenter__()
        return kernel

    def close_later(self, kernel: Kernel) -> None:
        task = asyncio.ensure_future(kernel.close())
        self.closing.add(task)
        task.add_done_callback(self.closing.discard)

    async def take(self, limits: Limits, policy: Policy) -> Kernel | str:
        """A kernel started ahead for these limits, else one started now; the reason if none."""
        while self.ahead:
            ahead_limits, pending = self.ahead.pop(0)
            try:
                kernel = await pending
            except (KernelStartError, asyncio.CancelledError):
                continue
            if ahead_limits == limits:
                return kernel
            self.close_later(kernel)
        try:
            return await self._start(limits, policy)
        except KernelStartError as exc:
            return str(exc)

    def start_ahead(self, limits: Limits, policy: Policy) -> None:
        if len(self.ahead) >= _SLOTS:
            return
        entry = (limits, asyncio.ensure_future(self._start(limits, policy)))
        self.ahead.append(entry)
        self.loop.call_later(IDLE, self._expire, entry)

    def _expire(self, entry: tuple[Limits, asyncio.Task[Kernel]]) -> None:
        if entry in self.ahead:
            self.ahead.remove(entry)
            entry[1].add_done_callback(self._close_when_started)

    def _close_when_started(self, task: asyncio.Task[Kernel]) -> None:
        if not task.cancelled() and task.exception() is None:
            self.close_later(task.result())

    async def drain(self) -> None:
        """Close every kernel started ahead, and wait for every close."""
        ahead, self.ahead = self.ahead, []
        for _, pending in ahead:
            with contextlib.suppress(BaseException):
                self.close_later(await pending)
        while self.closing:
            await asyncio.gather(*list(self.closing), return_exceptions=True)

    async def grade(self, data: bytes, assignment: Assignment, name: str, options: GradeOptions,
                    config_digest: str) -> SubmissionResult:
        assert options.policy is not None
        try:
            parse_notebook(data)
        except Rejected:  # rejected without a kernel
            return await grade_notebook_async(data, assignment, name=name, options=options,
                                              config_digest=config_digest)
        taken = await self.take(assignment.limits, options.policy)
        self.start_ahead(assignment.limits, options.policy)  # the next task's, while this grades
        if isinstance(taken, str):
            return not_started_result(assignment, name, taken, data=data, config_digest=config_digest)
        try:
            return await grade_notebook_async(data, assignment, name=name, options=options,
                                              config_digest=config_digest, kernel=taken)
        finally:
            self.close_later(taken)


_KERNELS: _Kernels | None = None


def _kernels() -> _Kernels:
    global _KERNELS
    with _LOCK:
        if _KERNELS is None:
            _KERNELS = _Kernels()
        return _KERNELS


def drain(dask_worker: Any = None) -> None:
    """Close the kernels started ahead (the client's batch is over, or interrupted)."""
    if _KERNELS is not None:
        asyncio.run_coroutine_threadsafe(_KERNELS.drain(), _KERNELS.loop).result(60)


def grade_task(data: bytes, assignment: Assignment, name: str, seed: int | None,
               config_digest: str) -> dict[str, Any]:
    """A Dask task: grade one notebook's bytes in a sandboxed kernel; the result as a dict."""
    from distributed import get_worker

    if _POLICY is None:  # only checked workers have slots; a restarted one is checked again
        raise RuntimeError("this worker was not checked by the grader client")
    worker = get_worker()
    key = str(worker.get_current_task())
    options = GradeOptions(seed=seed, policy=_POLICY)
    kernels = _kernels()
    with _LOCK:
        _RUNNING.add(key)
    try:
        work = kernels.grade(data, assignment, name, options, config_digest)
        future = asyncio.run_coroutine_threadsafe(
            _until_cancelled(work, lambda: _cancelled(worker, key)), kernels.loop)
        return future.result().to_dict()
    finally:
        with _LOCK:
            _RUNNING.discard(key)


def _cancelled(worker: Any, key: str) -> bool:
    task = worker.state.tasks.get(key)
    return task is None or task.state in ("cancelled", "released", "forgotten")


async def _until_cancelled(work: Awaitable[SubmissionResult],
                           cancelled: Callable[[], bool]) -> SubmissionResult:
    """Await ``work``; cancel it (its kernel is closed) when the client cancels the task."""
    task = asyncio.ensure_future(work)
    while True:
        done, _ = await asyncio.wait({task}, timeout=0.5)
        if done:
            return task.result()
        if cancelled():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            raise RuntimeError("cancelled by the grader client")


__all__ = ["RESOURCE", "code_digest", "drain", "grade_task", "running", "set_slots",
           "worker_identity"]
