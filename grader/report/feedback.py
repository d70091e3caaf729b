"""Markdown feedback a student can act on: the total, each question's verdict and why."""

from __future__ import annotations

from ..results import QuestionResult, SubmissionResult, printable_text, points

OVERRIDE = "instructor override"  # the part an instructor's override adds (grader.overrides.PART)


def submitted_name(submission: str) -> str:
    """The file name a student submitted, without the instructor's folders or archive around it."""
    return submission.replace("\\", "/").rsplit(":", 1)[-1].rsplit("/", 1)[-1] or submission


def question_markdown(q: QuestionResult) -> list[str]:
    """A question's heading and a line per part; an instructor's override says the score they set,
    and the grader's own parts follow with the grader's own points."""
    override = next((p for p in q.parts if p.name == OVERRIDE), None)
    if override is None:
        lines = [f"## {q.id}: {q.title} ({points(q.score)} / {points(q.max_score)}, {q.status.value})"]
    else:
        lines = [f"## {q.id}: {q.title} ({points(q.score)} / {points(q.max_score)}, set by the instructor)",
                 f"- **{override.message}**"]
    for part in q.parts:
        if part.name != OVERRIDE:
            lines.append(f"- **{part.name}** ({points(part.score)} / {points(part.max_score)}): {part.message}")
    return lines


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
    lines = [f"# {result.assignment}: {submitted_name(result.submission)}", "", summary_markdown(result), ""]
    for q in result.questions:
        lines += [*question_markdown(q), ""]
    footer = []
    if result.isolation:
        footer.append(f"Graded by grader {result.grader_version}; kernel isolation: {result.isolation}.")
    if result.seed is not None:
        footer.append(f"For the instructor: hidden inputs seed {result.seed}; the same grading again: "
                      f"`grader run NOTEBOOK --assignment {result.assignment} --seed {result.seed}`.")
    if footer:
        lines += ["---", *footer, ""]
    return printable_text("\n".join(lines))
