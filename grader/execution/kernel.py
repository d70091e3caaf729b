"""One sandboxed Jupyter kernel per submission: run the cells with limits, probe, replay after a crash.

The kernel is the grader's own Python (whatever kernelspec the notebook names), launched through
``grader.sandbox`` (resource limits, optional unprivileged user), talking over IPC sockets in a
private runtime folder, with an environment that holds nothing of the grader's, in a fresh working
folder. Cells run through nbclient; probes are sent directly and their result is read only from the
iopub messages that answer the probe's own request.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from queue import Empty
from typing import Any, Callable, Sequence

import nbformat
import zmq
import zmq.asyncio
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from ..model import Limits
from ..errors import KernelStartError
from ..sandbox import Jail, Level, Policy
from ..sandbox.clock import BACKSTOP, Stopwatch
from ..sandbox import zygote as zygotes
from .jupyter import (KERNEL_ARGS, MAX_MESSAGE_BYTES, CappedNotebookClient, SandboxKernelManager,
                      kernel_env)
from .probes import (MIME, Observation, ObsStatus, ProbeRequest, install_code, new_nonce,
                     parse_result, probes_code)
from ..results import CellReport
from ..text import clip, shown

_MAX_RESTARTS = 6
_START_ATTEMPTS = 3
_GRACE = 3.0  # seconds an interrupted kernel gets to become idle before it is restarted
_BUDGET_EVERY = 0.3  # seconds between two measures of a sandbox that no cgroup holds
_LOOK_EVERY = 0.2   # seconds between two looks at a running cell or probe (its clock, its replies)
class Kernel:
    """A live, sandboxed kernel for one notebook; use as ``async with Kernel(...) as k``."""

    on_cell: Callable[[int, int], None] | None = None  # told (k, n) before the k-th of n code cells

    def __init__(self, nb: nbformat.NotebookNode | None, limits: Limits, *,
                 deadline: float | None = None, policy: Policy) -> None:
        # A kernel may be started before its notebook is known (``nb=None``, no deadline yet):
        # it then waits, fresh, until ``assign`` hands it a submission.
        self.nb = nb if nb is not None else nbformat.v4.new_notebook()
        self.assigned = nb is not None
        self.limits = limits
        self.deadline = deadline if deadline is not None else float("inf")
        self.policy = policy
        self.token = new_nonce()
        self.jail = Jail(policy, limits, self.token)
        self.module_key = f"_grader_{new_nonce()[:12]}"
        self.restarts = 0
        self.broken: str | None = None  # why the kernel can no longer be used
        self.notes: list[str] = []
        self._good: list[int] = []      # cells that ran to completion, in order (replayed after a crash)
        self.km: SandboxKernelManager | None = None
        self.client: CappedNotebookClient | None = None
        self._context: zmq.asyncio.Context | None = None
        self._monitors: list[zmq.Socket[Any]] = []
        self._monitor_owners: list[Any] = []
        self.waited = 0.0   # seconds the kernel (or the grader reading it) waited for a CPU
        self.time_rules: set[str] = set()
        self._budget_task: asyncio.Task[None] | None = None
        self._lost_zygote_at_death = False
        self._one_at_a_time = False  # probes sent one a request (after an unclear death mid-request)
        self._replay_failed: set[int] = set()  # cells that timed out or died once while replayed
        self.startup = "cold"  # how its kernel started last: "zygote" (forked warm) or "cold"

    def assign(self, nb: nbformat.NotebookNode, deadline: float) -> None:
        """Give a kernel started without a notebook its submission and that submission's deadline."""
        if self.assigned:
            raise RuntimeError("this kernel already belongs to a submission")
        self.nb, self.deadline, self.assigned = nb, deadline, True
        if self.client is not None:
            self.client.nb = nb

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Kernel:
        try:
            self.jail.open(forking=zygotes.current() is not None and self.policy.level is Level.SANDBOX)
            self._budget_task = asyncio.ensure_future(self._watch_budget())
            await self._start_fresh()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def _start(self) -> None:
        self.jail.next_start()
        self._context = zmq.asyncio.Context()
        self._context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        km = SandboxKernelManager(transport="ipc", ip=self.jail.ip,
                                  connection_file=self.jail.connection_file, context=self._context)
        # Signals reach bubblewrap, not the kernel inside it: interrupt by message there.
        km._grader_interrupt = "message" if self.policy.level is Level.SANDBOX else "signal"
        self.km = km
        self.client = CappedNotebookClient(
            self.nb, km=km, timeout=self.limits.cell_timeout, allow_errors=True,
            interrupt_on_timeout=False, raise_on_iopub_timeout=False, iopub_timeout=2,
            record_timing=False, shutdown_kernel="immediate",
            startup_timeout=int(self.limits.startup_timeout),
            per_cell=2 * self.limits.output_bytes_per_cell + 65536, total=self.limits.output_bytes_total)
        pool = zygotes.current() if self.jail.forking else None
        try:
            km.write_connection_file()
            if pool is not None:
                await self._fork(km, pool)
            else:
                argv, popen, env = self.jail.command(KERNEL_ARGS, kernel_env(self.token))
                km._grader_argv = argv
                try:
                    await km.start_kernel(env=env, **popen)
                finally:
                    self.jail.launched(getattr(km.provisioner, "pid", None))
            ports = {channel: getattr(km, f"{channel}_port")
                     for channel in ("shell", "iopub", "stdin", "control", "hb")}
            km.connect_through(await self.jail.sockets(ports, km.is_alive, self.limits.startup_timeout))
            await self.client.async_start_new_kernel_client()
            self._watch(self.client.kc)
        except Exception as exc:
            if self.startup == "zygote" and pool is not None:  # the zygote's fault: the next try is cold
                self._leave_zygote(pool, f"a kernel from the zygote did not start: {exc}")
            raise KernelStartError(f"could not start a Python kernel: {exc}\n{shown(self.jail.log_tail())}") from exc
        reply = await self._execute_quietly(
            install_code(self.module_key, self.limits.output_bytes_per_cell), self.limits.startup_timeout)
        if reply is None or reply.get("status") != "ok":
            raise KernelStartError(f"could not install the probe runner in the kernel: {reply}")
        self.jail.settled()

    async def _fork(self, km: SandboxKernelManager, pool: zygotes.ZygotePool) -> None:
        """Start the kernel as a child of a warm zygote; when no zygote could give one, this
        jail starts its kernels cold from now on (the caller tries again)."""
        request, log = self.jail.zygote_request(KERNEL_ARGS, kernel_env(self.token))
        joins = self.jail.group.procs_files if self.jail.group is not None else []
        try:
            child = await pool.child(request, log, kernel_env(self.token), joins)
            self.jail.forked(child)
            km._grader_argv, km._grader_child = ["zygote"], child
            await km.start_kernel()
            self.jail.forked_kernel(await child.kernel(self.limits.startup_timeout))
            self.startup = "zygote"
        except (zygotes.ZygoteError, OSError) as exc:  # this kernel's next try starts cold
            self._leave_zygote(pool, str(exc))
            raise KernelStartError(f"no kernel from the zygote: {exc}") from exc
        finally:
            os.close(log)

    def _leave_zygote(self, pool: zygotes.ZygotePool, why: str) -> None:
        """A zygote could not give this kernel: count it against the zygotes, and start this
        jail's kernels cold from now on."""
        pool.failed(why)
        self.jail.stop()
        self.jail.cold()
        self.startup = "cold"

    async def _start_fresh(self) -> None:
        """Start the kernel; a start that fails is tried again from scratch (fresh folders, a
        fresh sandbox), _START_ATTEMPTS times in all, before KernelStartError."""
        for attempt in range(_START_ATTEMPTS):
            try:
                await self._start()
                return
            except KernelStartError:
                await self._stop()
                if attempt == _START_ATTEMPTS - 1:
                    raise

    async def _stop(self) -> None:
        km, client, context = self.km, self.client, self._context
        self.km = self.client = self._context = None
        self._unwatch()
        if client is not None and client.kc is not None:
            try:
                client.kc.stop_channels()
            except Exception:  # noqa: BLE001 -- tearing down; nothing useful to do with this
                pass
        if km is not None:
            try:
                if km.has_kernel:
                    await km.shutdown_kernel(now=True)
            except Exception:  # noqa: BLE001
                pass
            try:
                await km.cleanup_resources()
            except Exception:  # noqa: BLE001
                pass
        self.jail.stop()
        if context is not None:
            context.destroy(linger=0)

    async def _watch_budget(self) -> None:
        """Without a cgroup, measure the sandbox for the kernel's whole life -- between cells,
        during probes, restarts and the grader's own work too -- and end it once it is over its
        budget (the limit is recorded for the result; whatever uses the kernel next finds it dead)."""
        while True:
            await asyncio.sleep(_BUDGET_EVERY)
            try:
                self.jail.over_budget()
            except Exception:  # noqa: BLE001 -- a process gone mid-measure; measured again soon
                pass

    async def close(self) -> None:
        """Kill the kernel and everything it started, remove every file it wrote, free its uid."""
        if self._budget_task is not None:
            self._budget_task.cancel()
            with contextlib.suppress(BaseException):
                await self._budget_task
            self._budget_task = None
        await self._stop()
        await asyncio.get_running_loop().run_in_executor(None, self.jail.close)

    async def _restart(self, why: str) -> bool:
        """Start a fresh kernel and replay the cells that completed; False once it is hopeless."""
        await self._stop()
        self.restarts += 1
        if self.restarts > _MAX_RESTARTS:
            self.broken = f"gave up after {_MAX_RESTARTS} kernel restarts ({why})"
            return False
        if self.remaining() <= 0:
            self.broken = "no time left to restart the kernel"
            return False
        try:
            await self._start_fresh()
        except KernelStartError as exc:  # after the notebook's own code ran: its doing
            self.broken = f"the kernel could not be restarted after {why}: {str(exc)[:300]}"
            return False
        for index in list(self._good):
            status, _ = await self._run_one(index)
            if status in ("timeout", "killed"):
                # It ran to completion before: a failure now may be the machine's or the zygote's,
                # not the cell's. It is left out (the cells after it replayed without it) only
                # when it fails again in a fresh kernel of its own doing.
                lost = self._zygote_lost()
                if lost or index not in self._replay_failed:
                    if not lost:
                        self._replay_failed.add(index)
                    return await self._restart(f"cell {index + 1} {status} during replay")
                self._good.remove(index)
                self.notes.append(f"cell {index + 1} {status} twice while being replayed; left out")
                return await self._restart(f"cell {index + 1} failed during replay")
        return True

    def remaining(self) -> float:
        """The submission's time left: its own time (waits for a CPU not counted), within a
        wall-clock backstop of BACKSTOP times the submission's limit."""
        now = time.monotonic()
        backstop = self.deadline + (BACKSTOP - 1) * self.limits.submission_timeout
        return min(self.deadline + self.waited - now, backstop - now)

    def budget_notes(self) -> list[str]:
        """What the sandbox's budget did to this submission, for its result."""
        limit = self._limit_note()
        return [f"the sandbox reached {limit}; what needed more was killed"] if limit else []

    def _limit_note(self) -> str:
        """The sandbox limits the kernel met (cgroup events, or measured without a cgroup)."""
        return " and ".join(self.jail.limits_reached())

    async def _timed(self, run: Any, limit: float) -> tuple[Any, str | None]:
        """Await ``run`` until it finishes or ``limit`` seconds of the kernel's own time
        (see ``sandbox.clock``) pass; returns (its result or exception, the rule that ended it)."""
        watch = Stopwatch(self.jail.kernel_pid, _LOOK_EVERY)
        task = asyncio.ensure_future(run)
        rule = None
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=_LOOK_EVERY)
                if task.done():
                    break
                if (rule := watch.expired(limit)) is not None:
                    break
                if self.jail.over_budget() is not None:
                    rule = "budget"
                    break
        finally:
            self.waited += watch.wait()
        return task, rule

    # ------------------------------------------------------------------ cells

    def _watch(self, kc: Any) -> None:
        """Notice when ZeroMQ drops the iopub or shell connection (an oversized message does).

        Each monitor is read through a blocking shadow of it, but closed through the socket object
        that owns it: closing only the shadow left the owner to ask, when collected, a freed handle
        whether it was closed — a ResourceWarning "Unclosed socket", or on a busy machine whose
        libzmq had reused that memory, the close of another live socket."""
        owners = [channel.socket.get_monitor_socket(zmq.EVENT_DISCONNECTED)
                  for channel in (kc.iopub_channel, kc.shell_channel)]
        self._monitor_owners = owners
        self._monitors = [zmq.Socket.shadow(owner.underlying) for owner in owners]

    def _unwatch(self) -> None:
        self._monitors = []
        for owner in self._monitor_owners:
            owner.close(linger=0)
        self._monitor_owners = []

    def _dropped(self) -> bool:
        dropped = False
        for monitor in self._monitors:
            while True:
                try:
                    monitor.recv_multipart(zmq.NOBLOCK)
                except zmq.ZMQError:
                    break
                dropped = True
        return dropped

    async def _reconnect_if_dropped(self) -> None:
        """A dropped connection is never re-made by ZeroMQ: connect a fresh client to the kernel."""
        if self.client is None or self.km is None or not self._dropped():
            return
        if not await self.km.is_alive():
            return  # the kernel died (its end closed): the caller restarts it, no message was dropped
        self.notes.append("the kernel sent a message over the grader's size limit; it was dropped")
        old = self.client.kc
        self._unwatch()
        if old is not None:
            old.stop_channels()
        kc = self.km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=min(self.limits.startup_timeout, max(1.0, self.remaining())))
        except RuntimeError:
            pass  # the kernel is then unresponsive: the caller's timeouts and restarts take over
        kc.allow_stdin = False
        self.client.kc = kc
        self._watch(kc)

    async def _run_one(self, index: int) -> tuple[str, str]:
        """Run cell ``index`` once; returns (status, detail). Restarts are the caller's job."""
        assert self.client is not None
        await self._reconnect_if_dropped()
        cell = self.nb.cells[index]
        timeout = min(self.limits.cell_timeout, self.remaining())
        if timeout <= 0:
            return "skipped", "the submission ran out of time"
        self.client.timeout = max(1, int(BACKSTOP * timeout + 1))  # nbclient's: the backstop
        self.client.last_reply = None
        task, rule = await self._timed(
            self.client.async_execute_cell(cell, index, store_history=True), timeout)
        if rule is not None:
            self.client.stop()
            with contextlib.suppress(BaseException):
                await task
        if rule == "budget":
            return "killed", f"the sandbox reached {self._limit_note()}"
        try:
            if rule is not None:
                raise CellTimeoutError(rule)
            task.result()
        except CellTimeoutError:
            rule = rule or "wall clock"
            self.time_rules.add(rule)
            return "timeout", f"did not finish within {timeout:.0f} s ({rule})"
        except DeadKernelError:
            limit = self._limit_note()
            return "killed", "the kernel died while running it" + (
                f": the sandbox reached {limit}" if limit else "")
        except (KeyError, TypeError, ValueError) as exc:  # messages mangled by the notebook itself
            return "killed", f"the kernel sent malformed messages ({type(exc).__name__})"
        last: dict[str, Any] = self.client.last_reply or {}
        reply: dict[str, Any] = last.get("content") or {}
        if reply.get("status") == "error":
            detail = f"{reply.get('ename', 'Error')}: {reply.get('evalue', '')}".rstrip(": ")
            return "error", clip(shown(detail), 300)
        return "ok", ""

    async def run_cells(self) -> list[CellReport]:
        """Run every code cell in order, errors and all; a hang or a crash costs that cell only."""
        reports: list[CellReport] = []
        code = sum(c.get("cell_type") == "code" and bool(str(c.get("source", "")).strip())
                   for c in self.nb.cells)
        for index, cell in enumerate(self.nb.cells):
            if cell.get("cell_type") != "code" or not str(cell.get("source", "")).strip():
                continue
            if self.on_cell is not None:
                self.on_cell(len(reports) + 1, code)
            if self.broken:
                reports.append(CellReport(index + 1, "skipped", self.broken))
                continue
            status, detail = await self._run_one(index)
            # Not the notebook's doing (dead with its zygote, however nbclient saw it): run it again
            if status in ("killed", "timeout") and self._zygote_lost():
                if await self._restart("the kernel's zygote died"):
                    status, detail = await self._run_one(index)
            if status in ("ok", "error"):
                self._good.append(index)
            elif status == "timeout":
                if not await self._recover_after_timeout(f"cell {index + 1} timed out"):
                    detail += "; the kernel could not be recovered"
            elif status == "killed":
                self.notes.append(f"cell {index + 1} killed the kernel; it was restarted and the "
                                  f"cells before it replayed")
                await self._restart(f"cell {index + 1} killed the kernel")
            reports.append(CellReport(index + 1, status, detail))
        return reports

    def _zygote_lost(self) -> bool:
        """True when this kernel died because the zygote it was forked from did (all its
        children die with it), not because of anything the notebook did."""
        child = self.jail.child
        return child is not None and not child.zygote.alive()

    async def _recover_after_timeout(self, why: str) -> bool:
        """Interrupt; if the kernel does not come back to idle quickly, restart and replay."""
        assert self.km is not None
        try:
            await self.km.interrupt_kernel()
        except Exception:  # noqa: BLE001 -- the kernel may already be gone; restart below
            pass
        await self._reconnect_if_dropped()
        if await self._responsive(_GRACE):
            return True
        return await self._restart(why)

    # ------------------------------------------------------------------ low level

    async def _execute_quietly(self, code: str, timeout: float) -> dict[str, Any] | None:
        """Execute grader code and return its execute_reply content (None on timeout)."""
        assert self.client is not None and self.client.kc is not None
        kc: Any = self.client.kc
        msg_id = kc.execute(code, silent=True, store_history=False, allow_stdin=False,
                            stop_on_error=False)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = await kc.get_shell_msg(timeout=min(left, 1.0))
            except Empty:
                if not await self.km.is_alive():  # type: ignore[union-attr]
                    return None
                continue
            if msg.get("parent_header", {}).get("msg_id") == msg_id:
                return msg.get("content") or {}
        return None

    async def _responsive(self, timeout: float) -> bool:
        try:
            reply = await self._execute_quietly("", timeout)
        except Exception:  # noqa: BLE001
            return False
        return reply is not None

    # ------------------------------------------------------------------ probes

    async def probe_all(self, requests: Sequence[ProbeRequest], timeout: float) -> list[Observation]:
        """Ask the runner in the kernel for each task in turn, as one request (one round trip for a
        question, not one a task); one Observation per task, in order. Each task has ``timeout``
        seconds of the kernel's own time from the end of the one before. Only a result tagged with
        that task's own nonce counts. After a task times out or kills the kernel, the question's
        remaining tasks are not run; a batch cut short otherwise (no result for a task) goes on
        from the next task in a new request, as if each task had been asked alone."""
        out: list[Observation] = []
        retried = False
        while len(out) < len(requests):
            if self.broken or self.client is None or self.client.kc is None:
                return out + [Observation(ObsStatus.NOT_RUN, detail=self.broken or "no kernel")] * (
                    len(requests) - len(out))
            batch = requests[len(out):len(out) + 1] if self._one_at_a_time else requests[len(out):]
            got = await self._probe_batch(batch, timeout)
            last = got[-1]
            if last.status is ObsStatus.DIED:
                # The task without a result may have ended and its result been lost with the process,
                # when a later task of the same request killed it: from now on, one task a request.
                unsure = len(got) < len(batch)
                lost = self._lost_zygote_at_death and not retried  # the zygote's death, not the notebook's
                if unsure or lost:
                    self._one_at_a_time = self._one_at_a_time or unsure
                    retried = retried or lost
                    self._lost_zygote_at_death = False
                    out += got[:-1]  # that task is asked again, alone
                    continue
            out += got
            if last.status in (ObsStatus.TIMEOUT, ObsStatus.DIED):
                gave_up = f"skipped after an earlier check of this question {last.status.value}"
                out += [Observation(ObsStatus.NOT_RUN, detail=gave_up)] * (len(requests) - len(out))
            elif last.status is ObsStatus.NOT_RUN:  # no time left: none of the rest can run either
                out += [last] * (len(requests) - len(out))
        return out

    async def _probe_batch(self, requests: Sequence[ProbeRequest], timeout: float) -> list[Observation]:
        """Send ``requests`` as one execution; the observations of the tasks it settled, in order
        (at least one; the last may be the one that ended the batch)."""
        if min(timeout, self.remaining()) <= 0:
            return [Observation(ObsStatus.NOT_RUN, detail="the submission ran out of time")]
        await self._reconnect_if_dropped()
        kc: Any = self.client.kc  # type: ignore[union-attr]
        nonces = [new_nonce() for _ in requests]
        index = {nonce: i for i, nonce in enumerate(nonces)}
        msg_id = kc.execute(probes_code(self.module_key, list(zip(nonces, requests))), silent=False,
                            store_history=False, allow_stdin=False, stop_on_error=False)
        payloads: list[list[Any]] = [[] for _ in requests]
        current = 0  # the task running now: every one before it has published its result
        watch = Stopwatch(self.jail.kernel_pid, _LOOK_EVERY)
        limit = min(timeout, self.remaining())

        def settled(upto: int) -> list[Observation]:
            return [parse_result(nonces[i], payloads[i]) for i in range(upto)]

        try:
            while True:
                rule = watch.expired(limit)
                if rule is not None:
                    self.time_rules.add(rule)
                    await self._recover_after_timeout("a probe timed out")
                    return settled(current) + [Observation(
                        ObsStatus.TIMEOUT, detail=f"did not return within {limit:.0f} s ({rule})")]
                try:
                    msg = await kc.get_iopub_msg(timeout=_LOOK_EVERY)
                except Empty:
                    if self.jail.over_budget() is not None or not await self.km.is_alive():  # type: ignore[union-attr]
                        self._lost_zygote_at_death = self._zygote_lost()
                        note = self._limit_note()
                        await self._restart("the kernel died during a probe")
                        return settled(current) + [Observation(ObsStatus.DIED, detail="the kernel died" + (
                            f": the sandbox reached {note}" if note else ""))]
                    continue
                except Exception:  # noqa: BLE001 -- an undecodable message from a mangled kernel
                    continue
                if not isinstance(msg, dict) or msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = msg.get("msg_type")
                content = msg.get("content") or {}
                if kind == "display_data" and isinstance(content.get("data"), dict):
                    payload = content["data"].get(MIME)
                    i = index.get(payload[:len(nonces[0])]) if isinstance(payload, str) else None
                    if i is None or len(payloads[i]) >= 8:
                        continue  # not a result of this batch's (the student's own display)
                    payloads[i].append(payload)
                    if i >= current:  # the next task starts now, with a clock of its own
                        current = i + 1
                        self.waited += watch.wait()
                        watch = Stopwatch(self.jail.kernel_pid, _LOOK_EVERY)
                        limit = min(timeout, self.remaining())
                        if current < len(requests) and limit <= 0:
                            await self._recover_after_timeout("the submission ran out of time")
                            return settled(current) + [Observation(
                                ObsStatus.NOT_RUN, detail="the submission ran out of time")]
                elif kind == "status" and content.get("execution_state") == "idle":
                    # every task before the first one without a result settled; that one is a no-reply
                    upto = next((i for i, p in enumerate(payloads) if not p), len(requests) - 1)
                    return settled(upto + 1)
        finally:
            self.waited += watch.wait()
