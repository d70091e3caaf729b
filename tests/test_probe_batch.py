"""A question's probes go into the kernel as one request (``Kernel.probe_all``), yet each task
keeps what it had when asked alone: its own time limit, its own result, and a task that breaks
the request costs that task only. Real kernels at the isolation this machine gives."""

from __future__ import annotations

import asyncio
import dataclasses
import time

from nbformat import v4

from grader.execution.kernel import Kernel
from grader.execution.probes import ObsStatus, ProbeRequest

STUDENT = """\
import os, time
def f(x):
    if x == 'sleep':
        time.sleep(1.2)
    if x == 'interrupt':
        raise KeyboardInterrupt
    if x == 'hang':
        while True:
            pass
    if x == 'gil':  # one C call: holds the interpreter until it returns, interrupts wait too
        sum(range(10 ** 11))
    if x == 'exit':
        os._exit(3)
    if x == 'forge':
        from IPython.display import publish_display_data
        publish_display_data({'application/x-grader-probe': '0' * 32 + '{"status": "ok", "value": [1]}'})
    return [len(x)]
"""


def ask(config, policy, *args: str, timeout: float = 2.0, again: tuple[str, ...] = ()):
    """Run the notebook, then probe f(arg) for each arg as one question (and ``again`` as a
    second question on the same kernel); their observations."""
    limits = dataclasses.replace(config.get("micrograd").limits, probe_timeout=timeout,
                                 submission_timeout=60)
    nb = v4.new_notebook(cells=[v4.new_code_cell(STUDENT)])

    async def run():
        async with Kernel(nb, limits, deadline=time.monotonic() + 60, policy=policy) as k:
            await k.run_cells()
            first = await k.probe_all([ProbeRequest("call", ("f", [a])) for a in args], timeout)
            second = await k.probe_all([ProbeRequest("call", ("f", [a])) for a in again], timeout)
            return first, second

    return asyncio.run(run())


def test_each_task_has_a_time_limit_of_its_own(config, policy):
    """Four tasks of 1.2 s each, 2 s per task: 4.8 s in one request, and none timed out."""
    first, _ = ask(config, policy, "sleep", "sleep", "sleep", "sleep")
    assert [o.status for o in first] == [ObsStatus.OK] * 4
    assert [o.value for o in first] == [[5]] * 4


def test_a_task_that_cuts_the_request_short_costs_that_task_only(config, policy):
    first, _ = ask(config, policy, "ab", "interrupt", "abc", "forge", "abcd")
    assert [o.status for o in first] == [ObsStatus.OK, ObsStatus.NO_REPLY, ObsStatus.OK,
                                         ObsStatus.OK, ObsStatus.OK]
    assert first[1].detail == "the kernel sent no result"
    assert [first[0].value, first[2].value, first[3].value, first[4].value] == [[2], [3], [5], [4]]


def test_a_hang_ends_the_question_and_the_next_question_runs(config, policy):
    first, second = ask(config, policy, "a", "hang", "abc", timeout=1.5, again=("ab", "abc"))
    assert [o.status for o in first] == [ObsStatus.OK, ObsStatus.TIMEOUT, ObsStatus.NOT_RUN]
    assert first[0].value == [1]
    assert first[1].detail.startswith("did not return within 2 s")
    assert first[2].detail == "skipped after an earlier check of this question timeout"
    assert [o.value for o in second] == [[2], [3]]


def test_a_task_that_holds_the_interpreter_is_the_one_that_times_out(config, policy):
    """The result before it was sent before it started (the kernel sends from a thread of its own)."""
    first, second = ask(config, policy, "a", "gil", "abc", timeout=1.5, again=("ab",))
    assert [o.status for o in first] == [ObsStatus.OK, ObsStatus.TIMEOUT, ObsStatus.NOT_RUN]
    assert [o.value for o in second] == [[2]]


def test_a_task_that_kills_the_kernel_ends_the_question_only(config, policy):
    first, second = ask(config, policy, "a", "exit", "abc", again=("ab",))
    assert [o.status for o in first] == [ObsStatus.OK, ObsStatus.DIED, ObsStatus.NOT_RUN]
    assert first[2].detail == "skipped after an earlier check of this question died"
    assert [o.status for o in second] == [ObsStatus.OK] and second[0].value == [2]
