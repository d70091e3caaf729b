"""Grade many submissions at once: concurrent kernels, pre-started; progress; resumable output.

One process runs ``jobs`` asyncio workers. Each worker grades one submission at a time in a fresh
kernel of its own, and starts the kernel for its next submission while grading the current one,
so that no submission waits for a kernel to start. With an output folder every result is written
atomically the moment it is done, and a result whose key (notebook bytes, config, grader version)
is current is not graded again; ``grades.csv`` is always rebuilt from every stored result (see
:mod:`grader.gradebook.store`), so regrading a few students keeps everyone else's rows. The class report
``report.html`` is rewritten every few seconds as results arrive, and once more at the end.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence, TextIO

from ..errors import KernelStartError
from ..execution.kernel import Kernel
from ..gradebook.overrides import Override, load_overrides
from ..gradebook.store import Store
from ..intake.submission import Rejected, Unreadable, parse_notebook
from ..model import Limits
from ..report.progress import Progress
from ..results import SubmissionResult
from ..sandbox.machine import fit_jobs
from .grade import GradeOptions, grade_notebook_async, not_started_result, rejected_result, result_key
from .jobs import Job
from ..sandbox import zygote as zygotes

REPORT_EVERY = 5.0  # seconds between rewrites of report.html while grading (~50 ms for 300 students)


@dataclass
class Outcome:
    """A job's result, and whether it was reused from an earlier run instead of graded now."""

    job: Job
    result: SubmissionResult
    skipped: bool = False


@dataclass
class BatchReport:
    """Everything a batch produced, in the order the jobs were given."""

    outcomes: list[Outcome] = field(default_factory=list)
    interrupted: bool = False

    @property
    def graded(self) -> int:
        return sum(not o.skipped for o in self.outcomes)


def _key(job: Job, data: bytes, config_digest: str) -> dict[str, str]:
    return result_key(data, job.assignment, config_digest)


class _Batch:
    def __init__(self, jobs: Sequence[Job], *, options: GradeOptions, config_digest: str,
                 store: Store | None, workers: int, progress: Progress,
                 overrides: dict[str, list[Override]]) -> None:
        self.options, self.digest, self.store = options, config_digest, store
        self.overrides = overrides
        self.queue: collections.deque[tuple[int, Job]] = collections.deque(enumerate(jobs))
        self.workers = max(1, workers)
        self.progress = progress
        self.results: dict[int, SubmissionResult] = {}
        self.closing: set[asyncio.Task[None]] = set()
        self.jobs = list(jobs)
        self.report_at = -REPORT_EVERY

    # ---------------------------------------------------------------- kernels

    async def _start(self, limits: Limits) -> Kernel:
        assert self.options.policy is not None
        kernel = Kernel(None, limits, policy=self.options.policy)
        if self.store is not None:
            self.store.kernel_started(kernel.token)
        try:
            await kernel.__aenter__()
        except BaseException:
            if self.store is not None:
                self.store.kernel_stopped(kernel.token)
            raise
        return kernel

    async def _close(self, kernel: Kernel) -> None:
        try:
            await kernel.close()
        finally:
            if self.store is not None:
                self.store.kernel_stopped(kernel.token)

    def _close_later(self, kernel: Kernel) -> None:
        task = asyncio.ensure_future(self._close(kernel))
        self.closing.add(task)
        task.add_done_callback(self.closing.discard)

    async def _take(self, pending: asyncio.Task[Kernel], limits: Limits) -> Kernel | str:
        """The pre-started kernel if it matches ``limits`` and started; else one started now.

        A kernel that will not start (the kernel itself tries again from scratch) gives the
        reason, as a string: that submission is recorded as not graded and the batch goes on.
        """
        try:
            kernel = await pending
            if kernel.limits == limits:
                return kernel
            self._close_later(kernel)
            return await self._start(limits)
        except KernelStartError as exc:
            return str(exc)

    # ---------------------------------------------------------------- grading

    async def _grade(self, job: Job, data: bytes, kernel: Kernel | None) -> SubmissionResult:
        return await grade_notebook_async(data, job.assignment, name=job.source.name,
                                          options=self.options, config_digest=self.digest,
                                          kernel=kernel)

    async def _worker(self) -> None:
        pending: asyncio.Task[Kernel] | None = None
        try:
            while self.queue:
                index, job = self.queue.popleft()
                source = job.source
                kernel: Kernel | None = None
                try:
                    data = source.read()
                    parse_notebook(data)
                except Rejected:
                    pass  # graded (and rejected) below without a kernel
                except Unreadable as exc:  # a link, not a regular file, too large
                    self._finish(index, job, rejected_result(job.assignment, source.name, str(exc),
                                                             config_digest=self.digest))
                    continue
                except Exception as exc:  # noqa: BLE001 -- unreadable file or zip member
                    reason = f"the file could not be read ({exc})"
                    self._finish(index, job, rejected_result(job.assignment, source.name, reason,
                                                             config_digest=self.digest))
                    continue
                else:
                    limits = job.assignment.limits
                    if pending is None:
                        pending = asyncio.ensure_future(self._start(limits))
                    taken = await self._take(pending, limits)
                    pending = None
                    if self.queue:  # the next submission's kernel starts while this one is graded
                        pending = asyncio.ensure_future(self._start(self.queue[0][1].assignment.limits))
                    if isinstance(taken, str):
                        self._finish(index, job, not_started_result(
                            job.assignment, source.name, taken, data=data, config_digest=self.digest))
                        continue
                    kernel = taken
                try:
                    result = await self._grade(job, data, kernel)
                finally:
                    if kernel is not None:
                        self._close_later(kernel)
                self._finish(index, job, result)
        finally:
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(BaseException):
                    self._close_later(await pending)

    def _finish(self, index: int, job: Job, result: SubmissionResult) -> None:
        if self.store is not None:
            self.store.save(job.source.id, job.source.name, result,
                            self.overrides.get(job.source.id, []))
        self.results[index] = result
        self._report()
        self.progress.finish_one(job.source.id, result)

    def _report(self) -> None:
        """Rewrite report.html with what is stored so far, at most every REPORT_EVERY seconds."""
        if self.store is None or time.monotonic() - self.report_at < REPORT_EVERY:
            return
        self.report_at = time.monotonic()
        pending = [(j.source.id, j.source.name) for i, j in enumerate(self.jobs) if i not in self.results]
        try:
            self.store.write_report([q.id for q in self.jobs[0].assignment.questions], pending,
                                    (len(self.results), len(self.jobs)))
        except Exception as exc:  # noqa: BLE001 -- the report is rebuilt at the end; grading goes on
            self.progress.log(f"report.html not updated: {exc}")

    async def run(self) -> bool:
        """Grade every queued job; True when interrupted (SIGINT or SIGTERM)."""
        loop = asyncio.get_running_loop()
        me = asyncio.current_task()
        assert me is not None
        workers = [asyncio.ensure_future(self._worker()) for _ in range(self.workers)]
        interrupted = False

        def stop() -> None:
            nonlocal interrupted
            interrupted = True
            me.cancel()

        handled = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, stop)
                handled.append(sig)
        ticker = asyncio.ensure_future(self._tick())
        try:
            await asyncio.gather(*workers)
        except asyncio.CancelledError:
            if not interrupted:
                raise
        finally:
            ticker.cancel()
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            while self.closing:
                await asyncio.gather(*list(self.closing), return_exceptions=True)
            for sig in handled:
                loop.remove_signal_handler(sig)
        return interrupted

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.progress.redraw()


def run_batch(jobs: Sequence[Job], *, options: GradeOptions = GradeOptions(), config_digest: str = "",
              out: Path | None = None, workers: int | None = None, force: bool = False,
              stream: TextIO | None = None, live: bool | None = None, store: Store | None = None,
              engine: Callable[..., _Batch] | None = None) -> BatchReport:
    """Grade ``jobs``; with ``out``, write and reuse per-submission results and ``grades.csv``.

    ``store`` replaces ``Store(out)`` (shards share one: :mod:`grader.grading.shard`); ``engine`` replaces
    the local kernels with another executor of the same jobs (:mod:`grader.grading.cluster`).
    """
    options = options.resolved()
    store = store if store is not None else Store(out) if out is not None else None
    stream = stream if stream is not None else sys.stderr
    live = stream.isatty() if live is None else live
    with store.locked() if store is not None else contextlib.nullcontext():
        overrides = load_overrides(store.root) if store is not None else {}
        done: dict[int, Outcome] = {}
        todo: list[tuple[int, Job]] = []
        damaged = []
        for index, job in enumerate(jobs):
            why = store.damage(job.source.id) if store is not None else None
            if why is not None:
                damaged.append(f"note: the stored result submissions/{job.source.id}/result.json {why}: "
                               f"{job.source.name} is graded again")
            if job.source.missing is not None:
                result = rejected_result(job.assignment, job.source.name, job.source.missing,
                                         config_digest=config_digest)
                if store is not None:
                    store.save(job.source.id, job.source.name, result, overrides.get(job.source.id, []))
                done[index] = Outcome(job, result, skipped=True)
                continue
            if store is not None and not force:
                try:
                    key = _key(job, job.source.read(), config_digest)
                except Exception:  # noqa: BLE001 -- unreadable: graded (as rejected) below
                    key = {}
                previous = store.current(job.source.id, key) if key else None
                if previous is not None:
                    done[index] = Outcome(job, previous, skipped=True)
                    continue
            todo.append((index, job))
        progress = Progress(stream, len(todo), live=live)
        for line in damaged:
            progress.log(line)
        reused = sum(job.source.missing is None for job in (o.job for o in done.values()))
        if reused:
            progress.log(f"{reused} of {len(jobs)} submissions already graded "
                         f"(unchanged since; --force regrades them)")
        if engine is None:  # kernels on this machine: as many as it holds
            fit = fit_jobs(workers, max((job.assignment.limits for _, job in todo), default=Limits(),
                                        key=lambda limits: (limits.memory_mb, limits.disk_mb)),
                           options.policy.cgroups if options.policy is not None else None)
            if fit.notice:
                progress.log(f"note: {fit.notice}")
            workers = fit.jobs
        batch = (engine or _Batch)([job for _, job in todo], options=options, config_digest=config_digest,
                                   store=store, workers=min(workers or os.cpu_count() or 1, max(1, len(todo))),
                                   progress=progress, overrides=overrides)
        interrupted = False
        if todo:
            with zygotes.using(options.policy) if engine is None and options.policy is not None \
                    else contextlib.nullcontext():
                interrupted = asyncio.run(batch.run())
        progress.close()
        for (index, job), i in zip(todo, range(len(todo))):
            if i in batch.results:
                done[index] = Outcome(job, batch.results[i])
        report = BatchReport([done[i] for i in sorted(done)], interrupted)
        if store is not None and jobs:  # every stored submission, not only this run's
            store.rebuild([q.id for q in jobs[0].assignment.questions],
                          [(job.source.id, job.source.name) for i, job in enumerate(jobs) if i not in done])
    return report


__all__ = ["BatchReport", "Outcome", "run_batch"]
