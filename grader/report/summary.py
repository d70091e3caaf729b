"""The end-of-batch summary: per-question statistics, the slowest submissions, what failed."""

from __future__ import annotations

import statistics
import textwrap
from typing import Sequence

from ..results import SubmissionResult, printable_text


def _line(text: str, width: int = 100, *, tail: bool = False) -> str:
    """``text`` on one line, cut to ``width`` characters (its end kept when ``tail``: a path)."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    return "…" + text[-(width - 1):] if tail else textwrap.shorten(text, width, placeholder=" …")


def count(n: int, noun: str) -> str:
    """``1 submission``, ``2 submissions``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def batch_summary(results: Sequence[tuple[str, SubmissionResult]], *, slowest: int = 5,
                  total: int | None = None) -> str:
    """A plain-text summary of ``(student id, result)`` pairs (skipped ones included); ``total``:
    how many there are in all, when only some were finished (an interrupted batch)."""
    if not results:
        return "no submissions graded"
    graded = [r for _, r in results if r.status == "graded"]
    some = f"{len(results)} of {count(total, 'submission')}" if total and total != len(results) else \
        count(len(results), "submission")
    lines = [f"{some}: {len(graded)} graded, "
             f"{sum(r.status == 'rejected' for _, r in results)} rejected, "
             f"{count(sum(r.status == 'grader_error' for _, r in results), 'grader error')}"]
    levels: dict[str, int] = {}
    for _, r in results:
        if r.isolation:  # a rejected file never met a kernel: it has no isolation to report
            levels[r.isolation] = levels.get(r.isolation, 0) + 1
    lines += [f"isolation: {level}" + (f" ({count(n, 'submission')})" if len(levels) > 1 else "")
              for level, n in levels.items()] + [""]
    ids = [q.id for q in results[0][1].questions]
    maxima = {q.id: q.max_score for q in results[0][1].questions}
    width = max([len(i) for i in ids] + [len("total")])
    lines.append(f"{'question':<{width}}  {'max':>5}  {'mean':>6}  {'median':>6}  {'#full':>5}  {'#zero':>5}")
    everyone = [r for _, r in results]
    for qid in ids + ["total"]:
        if qid == "total":
            scores = [r.score for r in everyone]
            top = everyone[0].max_score
        else:
            scores = [next((q.score for q in r.questions if q.id == qid), 0.0) for r in everyone]
            top = maxima[qid]
        full = sum(s >= top - 1e-9 for s in scores)
        zero = sum(s <= 1e-9 for s in scores)
        lines.append(f"{qid:<{width}}  {top:>5g}  {statistics.fmean(scores):>6.2f}  "
                     f"{statistics.median(scores):>6.2f}  {full:>5}  {zero:>5}")
    timed = sorted(((sid, r) for sid, r in results if r.status != "rejected"),  # no kernel: no time
                   key=lambda pair: pair[1].execution_time, reverse=True)[:slowest]
    failed = [(sid, r) for sid, r in results if r.status != "graded"]
    idw = min(24, max([len(sid) for sid, _ in timed + failed] or [2]))
    lines += ["", f"slowest {len(timed)}:"] if timed else []
    lines += [f"  {sid:<{idw}}  {r.execution_time:6.1f} s  {_line(r.submission, 60, tail=True)}"
              for sid, r in timed]
    if failed:
        lines += ["", "could not be graded:"]
        for sid, r in failed:
            why = r.error if r.status == "rejected" else "grader error (see its result file)"
            lines.append(f"  {sid:<{idw}}  [{r.status}]  {_line(why or '', 300)}")
    return printable_text("\n".join(lines))


__all__ = ["batch_summary"]
