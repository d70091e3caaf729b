"""The per-submission table and the several-submissions grid: drawn with ``rich`` on a terminal,
plain text otherwise (a pipe, a file, a log); long messages are wrapped, never cut."""

from __future__ import annotations

import io
import shutil
import sys
import textwrap
from typing import Sequence, TextIO

from ..results import SubmissionResult, printable_text, points


def _terminal(stream: TextIO | None) -> bool:
    stream = stream if stream is not None else sys.stdout
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _render(renderables: Sequence[object]) -> str:
    """``renderables`` drawn by rich for this terminal, as a string with its colour codes."""
    from rich.console import Console  # only when drawing for a terminal

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=shutil.get_terminal_size((120, 20)).columns,
                      soft_wrap=False, highlight=False)
    for r in renderables:
        console.print(r)
    return buffer.getvalue().rstrip("\n")


def _notes(result: SubmissionResult, shown: int = 6) -> list[str]:
    """The first notes, and how many more there are (never left out silently)."""
    more = len(result.notes) - shown
    return [*result.notes[:shown], *([f"… and {more} more in the result file"] if more > 0 else [])]


def _rich_result(result: SubmissionResult) -> str:
    from rich.table import Table
    from rich.text import Text

    head = f"{result.submission} — {points(result.score)} / {points(result.max_score)}"
    if result.error:
        head += f" (rejected: {result.error})"
    if result.internal_error:
        head += " (GRADER ERROR: see the results file)"
    table = Table(title=Text(printable_text(head), style="bold"), title_justify="left", show_lines=True,
                  expand=True)
    table.add_column("question", no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("why", overflow="fold", ratio=1)
    colour = {"passed": "green", "partial": "yellow", "failed": "red", "missing": "red"}
    for q in result.questions:
        table.add_row(Text(q.id), f"{points(q.score)} / {points(q.max_score)}",
                      Text(q.status.value, style=colour.get(q.status.value, "")),
                      Text(printable_text(q.message)))
    tail = [Text(printable_text(f"note: {note}")) for note in _notes(result)]
    if result.isolation:
        tail.append(Text(printable_text(f"isolation: {result.isolation}"), style="dim"))
    # Every piece is sanitised and given as Text (never markup): the colour codes are rich's own.
    return _render([table, *tail])


def _rich_grid(results: Sequence[SubmissionResult]) -> str:
    from rich.table import Table
    from rich.text import Text

    tables = []
    for assignment in dict.fromkeys(r.assignment for r in results):
        rows = [r for r in results if r.assignment == assignment]
        ids = [q.id for q in rows[0].questions]
        table = Table(title=Text(printable_text(assignment)), title_justify="left")
        table.add_column("submission", overflow="fold")
        for i in ids:
            table.add_column(Text(i), justify="right")
        table.add_column("total", justify="right", no_wrap=True)
        table.add_column("status")
        for r in rows:
            scores = {q.id: q.score for q in r.questions}
            table.add_row(Text(printable_text(r.submission)), *(f"{points(scores.get(i, 0))}" for i in ids),
                          f"{points(r.score)}/{points(r.max_score)}", Text(r.status))
        tables.append(table)
    levels = sorted({r.isolation for r in results if r.isolation})
    return _render([*tables, *(Text(printable_text(f"isolation: {level}")) for level in levels)])


def _width() -> int:
    return max(80, min(160, shutil.get_terminal_size((120, 20)).columns))


def result_table(result: SubmissionResult, stream: TextIO | None = None) -> str:
    """One submission: a row per question with score, status and the whole reason; drawn with
    rich when ``stream`` (default stdout) is a terminal."""
    if _terminal(stream):
        return _rich_result(result)
    width = _width()
    qw = max([len(q.id) for q in result.questions] + [8])
    head = f"{result.submission}  —  {points(result.score)} / {points(result.max_score)}"
    if result.error:
        head += f"  (rejected: {result.error})"
    if result.internal_error:
        head += "  (GRADER ERROR: see the results file)"
    lines = [head, "-" * min(width, max(len(head), 60))]
    msg_width = max(30, width - qw - 24)
    for q in result.questions:
        first = f"{q.id:<{qw}}  {points(q.score):>5} / {points(q.max_score):<4} {q.status.value:<8} "
        wrapped = []
        for line in q.message.splitlines() or [""]:
            wrapped += textwrap.wrap(line, msg_width, subsequent_indent="  ") or [""]
        lines.append(first + (wrapped[0] if wrapped else ""))
        lines += [" " * len(first) + w for w in wrapped[1:]]  # wrapped, never cut
    for note in _notes(result):
        lines += textwrap.wrap(f"note: {note}", width - 2, initial_indent="  ", subsequent_indent="    ")
    if result.isolation:
        lines += textwrap.wrap(f"isolation: {result.isolation}", width - 2, initial_indent="  ",
                               subsequent_indent="    ")
    return printable_text("\n".join(lines))


def grid(results: Sequence[SubmissionResult], stream: TextIO | None = None) -> str:
    """Several submissions: one table per assignment, a row each, a column per question."""
    if not results:
        return "no submissions"
    if _terminal(stream):
        return _rich_grid(results)
    order = list(dict.fromkeys(r.assignment for r in results))
    if len(order) > 1:
        return "\n\n".join(f"[{a}]\n" + grid([r for r in results if r.assignment == a]) for a in order)
    ids = [q.id for q in results[0].questions]
    name_w = max([10] + [len(r.submission) for r in results])
    cols = [max(len(i), 6) for i in ids]
    header = f"{'submission':<{name_w}}  " + "  ".join(f"{i:>{w}}" for i, w in zip(ids, cols)) + "   total"
    lines = [header, "-" * len(header)]
    for r in results:
        scores = {q.id: q.score for q in r.questions}
        row = f"{r.submission:<{name_w}}  " + "  ".join(f"{scores.get(i, 0):>{w}g}" for i, w in zip(ids, cols))
        row += f"   {points(r.score)}/{points(r.max_score)}"
        if r.status != "graded":
            row += f"  [{r.status}]"
        lines.append(row)
    levels = sorted({r.isolation for r in results if r.isolation})
    lines += [f"isolation: {level}" for level in levels]
    return printable_text("\n".join(lines))
