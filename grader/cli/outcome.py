"""How a command that graded or read results ends: the grader's failures and damaged stored
results named on stderr, and the exit code they give."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..errors import Exit
from ..results import SubmissionResult, printable_text
from ..gradebook.store import Store
from .output import say


def say_damaged(out: Path) -> int:
    """Name every stored result in ``out`` that cannot be read (``damaged_result`` in grades.csv)."""
    damaged = Store(out).damaged()
    for sid, file, why in damaged:
        say(printable_text(f"grader: error: the stored result of {sid} ({file or 'file unknown'}), "
                           f"{out / 'submissions' / sid / 'result.json'}, {why}: listed as "
                           f"damaged_result in grades.csv; `grader run` on its file grades it again"),
            err=True)
    return len(damaged)


def exit_code(results: Sequence[SubmissionResult], interrupted: bool = False) -> Exit:
    """Each grader failure said on stderr; 130 when interrupted, 3 when every failure was a kernel
    that could not start, 4 for any other failure, else 0."""
    failed = [r for r in results if r.internal_error]
    for r in failed:
        say(printable_text(f"grader error on {r.submission}:\n{r.internal_error}"), err=True)
    if interrupted:
        say("grader: interrupted; run the same command again to finish", err=True)
        return Exit.INTERRUPTED
    if failed and all((r.internal_error or "").startswith("KernelStartError") for r in failed):
        return Exit.NO_KERNEL
    return Exit.INTERNAL if failed else Exit.OK
