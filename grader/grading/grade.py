"""Grade one submission: load, execute, probe, check. The one module that knows the whole flow."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import random
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from jupyter_core.utils import run_sync

from .. import __version__
from ..checks import registry
from ..checks.base import with_notes
from ..model import Assignment, CheckKind, Config, Question
from ..config import load_config, preview
from ..errors import GraderError, KernelStartError
from ..execution.kernel import Kernel
from ..results import CellReport, PartResult, QuestionResult, SubmissionResult
from ..sandbox import Policy, detect
from ..sandbox.clock import BACKSTOP
from ..sandbox.denylist import protected_paths
from ..intake.submission import Rejected, parse_notebook, read_notebook_file
from ..sandbox.zygote import described


@dataclass(frozen=True)
class GradeOptions:
    """How to grade: the hidden-input seed (None: a fresh one per submission) and the kernels' isolation.

    ``policy`` None means the strongest isolation this machine allows (:func:`sandbox.detect`).
    """

    seed: int | None = None
    policy: Policy | None = None
    status: Callable[[str], None] | None = dataclasses.field(default=None, compare=False)  # a live line

    def resolved(self) -> GradeOptions:
        return self if self.policy is not None else dataclasses.replace(self, policy=detect())


def fresh_seed() -> int:
    """A seed for one grading's hidden inputs, from the operating system's entropy."""
    return random.SystemRandom().randrange(1, 2**53)  # fits a JSON number exactly


def result_key(data: bytes, assignment: Assignment, config_digest: str = "") -> dict[str, str]:
    """What a result depends on: the notebook's bytes, the assignment config, the grader version."""
    return {"notebook_sha256": hashlib.sha256(data).hexdigest(), "config_sha256": config_digest,
            "grader_version": __version__, "assignment": assignment.id}


def _all_zero(assignment: Assignment, message: str, answered: bool = False) -> tuple[QuestionResult, ...]:
    out = []
    for q in assignment.questions:
        parts = tuple(PartResult(name, 0.0, q.points * share, message, answered, q.visibility[name])
                      for name, share in q.credit.items())
        out.append(QuestionResult(q.id, q.title, q.points, parts))
    return tuple(out)


def _with_visibility(q: Question, parts: Sequence[PartResult]) -> QuestionResult:
    parts = tuple(dataclasses.replace(p, visibility=q.visibility[p.name]) for p in parts)
    return QuestionResult(q.id, q.title, q.points, parts)


def _cell_notes(cells: Sequence[CellReport]) -> list[str]:
    notes = []
    for c in cells:
        if c.status == "error":
            notes.append(f"cell {c.number} raised {c.detail}")
        elif c.status in ("timeout", "skipped"):  # a kernel death is already in the kernel's notes
            notes.append(f"cell {c.number} {dict(timeout='timed out', killed='killed the kernel', skipped='was skipped').get(c.status)}: {c.detail}")
    return notes


def not_started_result(assignment: Assignment, name: str, reason: str, *, data: bytes = b"",
                       config_digest: str = "") -> SubmissionResult:
    """The result of a submission no kernel could be started for: not graded, not its fault."""
    return dataclasses.replace(
        rejected_result(assignment, name, _NOT_STARTED, data=data, config_digest=config_digest),
        error=None, internal_error=f"KernelStartError: {reason}")


def rejected_result(assignment: Assignment, name: str, reason: str, *, data: bytes = b"",
                    config_digest: str = "") -> SubmissionResult:
    """The all-zero result of a submission that cannot be graded at all, saying why."""
    return SubmissionResult(assignment.id, name, _all_zero(assignment, reason), 0.0, __version__,
                            error=reason, key=result_key(data, assignment, config_digest))


async def grade_notebook_async(data: bytes, assignment: Assignment, *, name: str,
                               options: GradeOptions = GradeOptions(), config_digest: str = "",
                               kernel: Kernel | None = None) -> SubmissionResult:
    """Grade raw notebook bytes; always returns a result (a grader bug sets ``internal_error``).

    ``kernel``, if given, is a started kernel that has not been assigned a notebook yet; the
    caller owns it (and closes it). The submission's deadline starts now, not when it started.
    """
    start = time.monotonic()
    key = result_key(data, assignment, config_digest)
    options = options.resolved()
    assert options.policy is not None
    policy = options.policy
    # Fresh per submission unless given; recorded in the result so that `--seed` reproduces it.
    seed = options.seed if options.seed is not None else fresh_seed()

    def finish(**kw: object) -> SubmissionResult:
        return SubmissionResult(assignment=assignment.id, submission=name,
                                execution_time=time.monotonic() - start,
                                grader_version=__version__, key=key,
                                isolation=described(policy, getattr(kernel, "startup", None)),
                                seed=seed, **kw)  # type: ignore[arg-type]

    try:
        nb = parse_notebook(data)
    except Rejected as exc:
        return finish(questions=_all_zero(assignment, f"the notebook could not be graded: {exc.reason}"),
                      error=exc.reason)
    notes: list[str] = []
    bugs: list[str] = []
    if not any(c.cell_type == "code" and c.source.strip() for c in nb.cells):
        notes.append("the notebook has no code: nothing defined")
    deadline = start + assignment.limits.submission_timeout

    async def run() -> tuple[tuple[QuestionResult, ...], tuple[CellReport, ...]]:
        nonlocal kernel
        async with contextlib.AsyncExitStack() as stack:
            if kernel is None:
                kernel = k = await stack.enter_async_context(
                    Kernel(nb, assignment.limits, deadline=deadline, policy=policy))
            else:
                k = kernel
                k.assign(nb, deadline)
            status = options.status
            if status is not None:
                k.on_cell = lambda done, of: status(f"cell {done} of {of}")
            cells = await k.run_cells()
            k.on_cell = None
            # Hidden inputs are drawn only now, after every student cell has run.
            rng = random.Random(seed)
            checks = registry()
            questions = []
            for q in assignment.questions:
                try:
                    check = checks[q.kind]
                    probes = check.plan(q.params, _held_out_rng(q, data) or rng)
                    if options.status is not None:
                        options.status(f"checking {q.id}")
                    observations = await k.probe_all([p.request for p in probes],
                                                     assignment.limits.probe_timeout)
                    judged = with_notes(check.judge(q, probes, observations), probes, observations)
                    questions.append(_with_visibility(q, judged))
                except GraderError:
                    raise
                except Exception:  # noqa: BLE001 -- a grader bug costs the student nothing
                    bugs.append(f"{q.id}:\n{traceback.format_exc()}")
                    questions += _all_zero(dataclasses.replace(assignment, questions=(q,)), _OUR_FAULT, True)
            notes.extend(_cell_notes(cells) + k.notes + k.budget_notes())
            if k.broken:
                notes.append(f"grading stopped early: {k.broken}")
        return tuple(questions), tuple(cells)

    # The kernel enforces every limit itself; this watchdog only catches a grader that hangs.
    # (BACKSTOP: a kernel's time limits are its own time, within a wall-clock backstop.)
    hard_limit = BACKSTOP * assignment.limits.submission_timeout + assignment.limits.startup_timeout + 60
    try:
        questions, cells = await asyncio.wait_for(run(), hard_limit)
    except KernelStartError as exc:  # before any of the student's code ran: ours, not theirs
        return finish(questions=_all_zero(assignment, _NOT_STARTED), notes=tuple(notes),
                      internal_error=f"KernelStartError: {exc}")
    except GraderError:
        raise
    except asyncio.TimeoutError:
        return finish(questions=_all_zero(assignment, _OUR_FAULT, True), notes=tuple(notes),
                      internal_error=f"grading exceeded its hard limit of {hard_limit:.0f} s")
    except Exception:  # noqa: BLE001 -- a grader bug: reported as ours, never scored as the student's
        return finish(questions=_all_zero(assignment, _OUR_FAULT, True), notes=tuple(notes),
                      internal_error=traceback.format_exc())
    return finish(questions=questions, cells=cells, notes=tuple(notes),
                  internal_error="\n".join(bugs) or None)


def _held_out_rng(q: Question, data: bytes) -> random.Random | None:
    """For an accuracy question, held-out points drawn from the notebook's own bytes: the same
    notebook meets the same points on every run, so a model near the threshold does not pass one
    run and fail the next; no notebook can know them (they depend on its every byte, answers
    included). None for every other question (its score does not depend on the draw)."""
    if q.kind is not CheckKind.ACCURACY:
        return None
    digest = hashlib.sha256(q.id.encode() + b"\0" + data).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


async def grade_file_early(path: Path, config_path: Path, choose: Callable[[Config], Assignment],
                           options: GradeOptions, *, assignment_id: str | None, name: str,
                           extra_hidden: Sequence[Path] = ()) -> tuple[Config, SubmissionResult]:
    """Load the config and grade one file, starting its kernel while SymPy and the config load.

    The kernel is started from an unvalidated :func:`preview` of the config; unless the validated
    config asks for exactly the same limits and hidden paths, that kernel is dropped unused.
    The policy's hidden paths are replaced by the config's :func:`protected_paths` plus
    ``extra_hidden``.
    """
    options = options.resolved()
    assert options.policy is not None
    early = preview(config_path, assignment_id, path)
    kernel = started = None
    if early is not None:
        kernel = Kernel(None, early.limits,
                        policy=options.policy.with_hide(protected_paths(early, *extra_hidden)))
        started = asyncio.ensure_future(kernel.__aenter__())
    try:
        config = await asyncio.get_running_loop().run_in_executor(None, load_config, config_path)
        assignment = choose(config)
        options = dataclasses.replace(
            options, policy=options.policy.with_hide(protected_paths(config, *extra_hidden)))
        if kernel is not None and started is not None:
            try:
                await started
            except KernelStartError:  # grade_notebook_async starts (and retries) its own
                await kernel.close()
                kernel = None
        if kernel is not None:
            if (assignment.limits, options.policy) != (kernel.limits, kernel.policy):
                await kernel.close()
                kernel = None
        try:
            data = read_notebook_file(Path(path))
        except OSError as exc:
            return config, rejected_result(assignment, name, f"the file could not be read ({exc.strerror})",
                                           config_digest=config.digest)
        result = await grade_notebook_async(data, assignment, name=name, options=options,
                                            config_digest=config.digest, kernel=kernel)
        return config, result
    finally:
        if started is not None and not started.done():
            started.cancel()
            with contextlib.suppress(BaseException):
                await started
        if kernel is not None:
            await kernel.close()


_NOT_STARTED = ("not graded: the grader could not start a kernel for this notebook (not your "
                "fault); your instructor has been told and will regrade it")
_OUR_FAULT = ("the grader failed on this question (not your fault); your instructor has been told "
              "and will regrade it")


def grade_notebook(path: Path, assignment: Assignment, *, options: GradeOptions = GradeOptions(),
                   config_digest: str = "", name: str | None = None) -> SubmissionResult:
    """Grade the notebook file at ``path`` (synchronous wrapper)."""
    try:
        data = read_notebook_file(Path(path))
    except OSError as exc:
        return rejected_result(assignment, name or str(path),
                               f"the file could not be read ({exc.strerror})",
                               config_digest=config_digest)
    return run_sync(grade_notebook_async)(data, assignment, name=name or str(path), options=options,
                                          config_digest=config_digest)


__all__ = ["GradeOptions", "fresh_seed", "grade_notebook", "grade_notebook_async", "not_started_result",
           "rejected_result", "result_key"]
