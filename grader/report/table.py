"""A plain-text table per submission, for the terminal."""

from __future__ import annotations

import shutil
import textwrap
from typing import Sequence

from ..results import SubmissionResult, printable_text


def _width() -> int:
    return max(80, min(160, shutil.get_terminal_size((120, 20)).columns))


def result_table(result: SubmissionResult) -> str:
    """One submission: a row per question with score, status and the reason."""
    width = _width()
    qw = max([len(q.id) for q in result.questions] + [8])
    head = f"{result.submission}  —  {result.score:g} / {result.max_score:g}"
    if result.error:
        head += f"  (rejected: {result.error})"
    if result.internal_error:
        head += "  (GRADER ERROR: see the results file)"
    lines = [head, "-" * min(width, max(len(head), 60))]
    msg_width = max(30, width - qw - 24)
    for q in result.questions:
        first = f"{q.id:<{qw}}  {q.score:>5g} / {q.max_score:<4g} {q.status.value:<8} "
        wrapped = []
        for line in q.message.splitlines() or [""]:
            wrapped += textwrap.wrap(line, msg_width, subsequent_indent="  ") or [""]
        lines.append(first + (wrapped[0] if wrapped else ""))
        lines += [" " * len(first) + w for w in wrapped[1:]]  # wrapped, never cut
    for note in result.notes[:6]:
        lines.append(f"  note: {textwrap.shorten(note, width - 10)}")
    if result.isolation:
        lines.append(f"  isolation: {textwrap.shorten(result.isolation, width - 15)}")
    return printable_text("\n".join(lines))


def grid(results: Sequence[SubmissionResult]) -> str:
    """Several submissions: one table per assignment, a row each, a column per question."""
    if not results:
        return "no submissions"
    order = list(dict.fromkeys(r.assignment for r in results))
    if len(order) > 1:
        return "\n\n".join(f"[{a}]\n" + grid([r for r in results if r.assignment == a]) for a in order)
    ids = [q.id for q in results[0].questions]
    name_w = min(48, max([10] + [len(r.submission) for r in results]))
    cols = [max(len(i), 6) for i in ids]
    header = f"{'submission':<{name_w}}  " + "  ".join(f"{i:>{w}}" for i, w in zip(ids, cols)) + "   total"
    lines = [header, "-" * len(header)]
    for r in results:
        scores = {q.id: q.score for q in r.questions}
        name = r.submission if len(r.submission) <= name_w else "…" + r.submission[-name_w + 1:]
        row = f"{name:<{name_w}}  " + "  ".join(f"{scores.get(i, 0):>{w}g}" for i, w in zip(ids, cols))
        row += f"   {r.score:g}/{r.max_score:g}"
        if r.status != "graded":
            row += f"  [{r.status}]"
        lines.append(row)
    levels = sorted({r.isolation for r in results if r.isolation})
    lines += [f"isolation: {level}" for level in levels]
    return printable_text("\n".join(lines))
