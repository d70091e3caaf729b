"""Markdown feedback a student can act on: the total, each question's verdict and why."""

from __future__ import annotations

from ..results import SubmissionResult, printable_text, points


def summary_markdown(result: SubmissionResult) -> str:
    """The short overview shown at the top (no per-question detail, no hidden parts)."""
    lines = [f"**Score: {points(result.score)} / {points(result.max_score)}**"]
    if result.error:
        lines.append(f"\nThis submission could not be graded: {result.error}.")
    if result.notes:
        lines.append("\nWhile running your notebook:")
        lines += [f"- {note}" for note in result.notes[:20]]
        if len(result.notes) > 20:
            lines.append(f"- … and {len(result.notes) - 20} more")
    return printable_text("\n".join(lines))


def feedback_markdown(result: SubmissionResult) -> str:
    """Full feedback: the summary, then every question and part with its message."""
    lines = [f"# {result.assignment}: {result.submission}", "", summary_markdown(result), ""]
    for q in result.questions:
        lines.append(f"## {q.id}: {q.title} ({points(q.score)} / {points(q.max_score)}, {q.status.value})")
        for part in q.parts:
            lines.append(f"- **{part.name}** ({points(part.score)} / {points(part.max_score)}): {part.message}")
        lines.append("")
    footer = []
    if result.isolation:
        footer.append(f"Graded by grader {result.grader_version}; kernel isolation: {result.isolation}.")
    if result.seed is not None:
        footer.append(f"For the instructor: hidden inputs seed {result.seed}; the same grading again: "
                      f"`grader run NOTEBOOK --assignment {result.assignment} --seed {result.seed}`.")
    if footer:
        lines += ["---", *footer, ""]
    return printable_text("\n".join(lines))
