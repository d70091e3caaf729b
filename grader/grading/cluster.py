"""Grade a batch on a Dask distributed cluster: ``grader run CLASS --out OUT --cluster ADDRESS``.

The client (this process) does everything a local batch does except running kernels: it finds the
submissions, skips the ones already graded, writes ``OUT`` (atomically, as results come back),
shows progress and rewrites the live report. Each submission is one Dask task: its notebook's
bytes go to a worker, which grades it in a sandboxed kernel of its own (student code never runs in
the worker process) and sends the result back. No shared file system is needed.

Before anything is created every worker is checked (:mod:`grader.grading.cluster_worker`): the same grader
version and the same grader files (a digest of the installed package), and a sandbox at least as
strong as a local batch would need. A worker that fails is named and the run refused. Checked
workers are then given the resource ``grader-slots`` (``--jobs``, else their thread count), and
every task asks for one slot, so a worker grades at most that many submissions at once and an
unchecked worker (one that joined later, or a restarted one) gets none until it is checked.

A worker that dies mid-task: Dask reschedules the task on another worker; the client writes the
one result that comes back. Ctrl-C: every task is cancelled, and the client waits until no worker
still grades one of ours (a running task notices its cancellation and closes its kernel).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from .. import __version__
from .batch import _Batch
from .cluster_worker import RESOURCE, code_digest, drain, grade_task, running, set_slots
from ..model import Config
from ..errors import UsageError
from .grade import rejected_result
from ..results import SubmissionResult
from ..sandbox import Level, Policy
from ..intake.submission import Unreadable

CONNECT_TIMEOUT = 15.0   # seconds to reach the scheduler, and to wait for a first worker
STOP_TIMEOUT = 60.0      # seconds to wait, after Ctrl-C, for the workers to close our kernels
_CHECK_EVERY = 5.0       # seconds between looks for workers that joined (or restarted) mid-run


def _identity_probe() -> Callable[..., dict[str, Any]]:
    """The check run on every worker, sent by value (and the config as bytes, unpickled after
    the import), so that it also answers where the grader is not installed (or not importable)."""
    def identity(config: bytes, kernel_user: Any, no_sandbox: bool, dask_worker: Any = None) -> dict[str, Any]:
        from distributed.protocol.pickle import loads
        try:
            from grader.grading.cluster_worker import worker_identity
        except Exception as exc:  # noqa: BLE001
            return {"error": f"the grader is not installed there ({type(exc).__name__}: {exc})"}
        return worker_identity(dask_worker, loads(config), kernel_user, no_sandbox)
    return identity


# ------------------------------------------------------------------ on the client

@dataclass
class Cluster:
    """A connected client whose workers have all been checked."""

    client: Any
    address: str
    config: Config
    kernel_user: str | None
    no_sandbox: bool
    jobs: int | None
    slots: dict[str, int] = dataclasses.field(default_factory=dict)
    refused: dict[str, str] = dataclasses.field(default_factory=dict)

    # Kernels run on the workers, under their own sandbox: this process starts none.
    client_policy = Policy(Level.NONE, (), why="kernels run on the cluster's workers")

    def check(self, workers: list[str] | None = None) -> dict[str, str]:
        """Check ``workers`` (default: all); give the good ones slots; the bad ones and why."""
        from distributed.protocol.pickle import dumps

        answers = self.client.run(_identity_probe(), dumps(self.config), self.kernel_user,
                                  self.no_sandbox,
                                  workers=workers, on_error="return")
        bad = {}
        mine = code_digest()
        for worker, answer in sorted(answers.items()):
            if isinstance(answer, BaseException):
                bad[worker] = f"the check failed there ({type(answer).__name__}: {answer})"
            elif answer.get("error"):
                bad[worker] = answer["error"]
            elif answer.get("version") != __version__:
                bad[worker] = (f"it has grader {answer.get('version')}, this client grader "
                               f"{__version__}; install the same version on every worker")
            elif answer.get("code") != mine:
                bad[worker] = (f"its grader {__version__} files differ from this client's "
                               f"(digest {str(answer.get('code'))[:12]} vs {mine[:12]}); install "
                               f"the same build on every worker")
        good = [w for w in answers if w not in bad]
        if good:
            given = self.client.run(set_slots, self.jobs, workers=good, on_error="return")
            self.slots.update({w: n for w, n in given.items() if isinstance(n, int)})
        self.refused.update(bad)
        return bad

    def newcomers(self) -> dict[str, str]:
        """Check the workers that joined since (a restarted worker is a new one)."""
        known = set(self.slots) | set(self.refused)
        fresh = [w for w in self.client.nthreads() if w not in known]
        return self.check(fresh) if fresh else {}

    def engine(self, jobs: Any, **kwargs: Any) -> _Batch:
        return ClusterBatch(jobs, cluster=self, **kwargs)


@contextlib.contextmanager
def connect(address: str, config: Config, *, kernel_user: str | None = None, no_sandbox: bool = False,
            jobs: int | None = None, timeout: float | None = None) -> Iterator[Cluster]:
    """Connect to the scheduler and check every worker, or raise UsageError (nothing created)."""
    timeout = CONNECT_TIMEOUT if timeout is None else timeout
    try:
        from distributed import Client
    except ImportError:
        raise UsageError("--cluster needs Dask's distributed package: pip install "
                         "'micrograd-autograder[dask]' (on the workers too)") from None
    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except Exception as exc:  # noqa: BLE001 -- OSError, TimeoutError, ValueError for a bad address
        raise UsageError(f"cannot reach the Dask scheduler at {address} within {timeout:g} s "
                         f"({type(exc).__name__}: {exc})") from None
    try:
        try:
            client.wait_for_workers(1, timeout=timeout)
        except Exception:  # noqa: BLE001 -- TimeoutError
            raise UsageError(f"the Dask scheduler at {address} has no workers (waited "
                             f"{timeout:g} s); start some with `dask worker {address}`") from None
        cluster = Cluster(client, address, config, kernel_user, no_sandbox, jobs)
        bad = cluster.check()
        if bad:
            raise UsageError("refused: " + "; ".join(f"worker {w}: {why}" for w, why in bad.items()))
        yield cluster
    finally:
        with contextlib.suppress(Exception):
            client.close()


class ClusterBatch(_Batch):
    """The jobs of a batch as Dask tasks; results written by this process as they come back."""

    def __init__(self, jobs: Any, *, cluster: Cluster, **kwargs: Any) -> None:
        super().__init__(jobs, **kwargs)
        self.cluster = cluster
        self.run_id = f"grade-{uuid.uuid4().hex[:12]}-"

    def _window(self) -> int:
        """Tasks in flight at once: every slot busy and as many queued (bytes held: bounded)."""
        return max(2, 2 * sum(self.cluster.slots.values()))

    def _submit(self, index: int) -> Any:
        job = self.jobs[index]
        source = job.source
        try:
            data = source.read()
        except Unreadable as exc:  # a link, not a regular file, too large
            self._finish(index, job, rejected_result(job.assignment, source.name, str(exc),
                                                     config_digest=self.digest))
            return None
        except Exception as exc:  # noqa: BLE001 -- unreadable file or zip member
            self._finish(index, job, rejected_result(
                job.assignment, source.name, f"the file could not be read ({exc})",
                config_digest=self.digest))
            return None
        return self.cluster.client.submit(
            grade_task, data, job.assignment, source.name, self.options.seed, self.digest,
            key=f"{self.run_id}{index}", pure=False, resources={RESOURCE: 1})

    def _failed(self, index: int, exc: BaseException) -> SubmissionResult:
        job = self.jobs[index]
        reason = "not graded: the cluster could not grade it (the grader's problem, not the student's)"
        return dataclasses.replace(
            rejected_result(job.assignment, job.source.name, reason, config_digest=self.digest),
            error=None, internal_error=f"ClusterError: {type(exc).__name__}: {exc}")

    async def run(self) -> bool:
        """Grade every job on the cluster; True when interrupted (SIGINT or SIGTERM)."""
        loop = asyncio.get_running_loop()
        me = asyncio.current_task()
        assert me is not None
        done: asyncio.Queue[Any] = asyncio.Queue()
        inflight: dict[str, tuple[int, Any]] = {}
        todo = iter(range(len(self.jobs)))
        interrupted = False

        def stop() -> None:
            nonlocal interrupted
            interrupted = True
            me.cancel()

        def fill() -> None:
            while len(inflight) < self._window():
                index = next(todo, None)
                if index is None:
                    return
                future = self._submit(index)
                if future is not None:
                    inflight[future.key] = (index, future)
                    future.add_done_callback(lambda f: loop.call_soon_threadsafe(done.put_nowait, f))

        handled = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, stop)
                handled.append(sig)
        ticker = asyncio.ensure_future(self._tick())
        checked = loop.time()
        try:
            fill()
            while inflight:
                try:
                    future = await asyncio.wait_for(done.get(), _CHECK_EVERY)
                except asyncio.TimeoutError:
                    future = None
                if loop.time() - checked >= _CHECK_EVERY:
                    checked = loop.time()
                    try:
                        refused = await loop.run_in_executor(None, self.cluster.newcomers)
                    except Exception as exc:  # noqa: BLE001 -- a worker left mid-check: next time
                        refused = {}
                        self.progress.log(f"new workers not checked yet ({exc})")
                    for worker, why in refused.items():
                        self.progress.log(f"worker {worker} joined and was not given work: {why}")
                if future is None or future.key not in inflight:
                    continue  # a result already written (a future reported twice) is not written again
                index, _ = inflight.pop(future.key)
                try:
                    answer = await loop.run_in_executor(None, future.result)
                    result = SubmissionResult.from_dict(answer)
                except Exception as exc:  # noqa: BLE001 -- KilledWorker, a worker-side failure
                    result = self._failed(index, exc)
                future.release()
                self._finish(index, self.jobs[index], result)
                fill()
        except asyncio.CancelledError:
            if not interrupted:
                raise
        finally:
            ticker.cancel()
            for sig in handled:
                loop.remove_signal_handler(sig)
            futures = [f for _, f in inflight.values()]
            await loop.run_in_executor(None, self._cancel, futures)
        return interrupted

    def _cancel(self, futures: list[Any]) -> None:
        """Cancel our tasks (if any are left), wait until no worker still grades one, and close
        the kernels the workers started ahead."""
        client = self.cluster.client
        deadline = time.monotonic() + STOP_TIMEOUT
        try:
            if futures:
                client.cancel(futures, force=True)
            while any(client.run(running, self.run_id, on_error="ignore").values()):
                if time.monotonic() > deadline:
                    self.progress.log("some workers were still grading after Ctrl-C; their "
                                      "kernels are stopped when their tasks notice")
                    return
                time.sleep(0.5)
            client.run(drain, on_error="ignore")
        except Exception as exc:  # noqa: BLE001 -- the scheduler went away: nothing to wait for
            self.progress.log(f"the cluster could not be told to stop ({exc})")


__all__ = ["Cluster", "ClusterBatch", "connect"]
