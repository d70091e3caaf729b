"""Markdown feedback a student can act on: the total, each question's verdict and why."""

from __future__ import annotations

import re

from ..results import QuestionResult, SubmissionResult, printable_text, points

OVERRIDE = "instructor override"  # the part an instructor's override adds (grader.gradebook.overrides.PART)


def submitted_name(submission: str) -> str:
    """The file name a student submitted, without the instructor's folders or archive around it."""
    return submission.replace("\\", "/").rsplit(":", 1)[-1].rsplit("/", 1)[-1] or submission


# What starts a Markdown block where a line starts (CommonMark and GitHub's tables): a heading, a
# block quote, a table row or HTML, a list item, a fence, a link definition; and a line of only
# -*_=:| (a thematic break, a heading's underline, a table's delimiter row).
_BLOCK = re.compile(r"#{1,6}(?:[ \t]|$)|[>|<]|[-+*](?:[ \t]|$)|\d{1,9}[.)](?:[ \t]|$)|`{3,}|~{3,}"
                    r"|\[[^\]]*\]:|(?=[-*_=:| \t]*$)[ \t]*[-*_=:|]")
# Where a link or image, an autolink or an HTML tag that fetches or links would form inline.
_INLINE = re.compile(r"\]\(|<(?=[A-Za-z][A-Za-z0-9+.-]{1,31}:|(?i:a|img|svg|iframe|video|audio)\b)")
_CODE = "```python"  # the grader's own code in a message (graphs.as_code): kept as a code block


def _unblock(line: str) -> str:
    """``line`` (leading blanks dropped) unable to start a Markdown block: its first mark escaped."""
    line = line.lstrip(" \t")
    if _BLOCK.match(line):
        digits = len(line) - len(line.lstrip("0123456789"))
        return line[:digits] + "\\" + line[digits:]
    return line


def _inline(line: str) -> str:
    """``line`` unable to form a link, an image or an HTML tag: the mark that would, escaped."""
    return _INLINE.sub(lambda m: "]\\(" if m.group(0) == "](" else "\\<", line)


def student_text(text: str, indent: str = "", *, first: bool = False) -> str:
    """``text`` (holding what a student controls: an exception's message, a repr) as the rest of a
    Markdown paragraph that creates no structure: each further line is indented by ``indent`` (so
    it stays in its list item), blank lines are dropped, no line can start a block (a heading, list
    item, quote, fence, table) and no link, image or HTML tag can form. A complete ```` ```python
    ```` block (the grader's code to paste) stays a code block, whose text is shown literally.
    ``first``: the first line starts a block too (right after a list marker, or a whole document)."""
    lines = text.split("\n")
    out = [_unblock(_inline(lines[0])) if first else _inline(lines[0])]
    i = 1
    while i < len(lines):
        line = lines[i]
        if line.strip() == _CODE and any(rest.strip() == "```" for rest in lines[i + 1:]):
            end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
            out += [indent + _CODE, *(indent + code for code in lines[i + 1:end]), indent + "```"]
            i = end + 1
            continue
        if line.strip():
            out.append(indent + _unblock(_inline(line)))
        i += 1
    return "\n".join(out)


def question_markdown(q: QuestionResult) -> list[str]:
    """A question's heading and a line per part; an instructor's override says the score they set,
    and the grader's own parts follow with the grader's own points."""
    override = next((p for p in q.parts if p.name == OVERRIDE), None)
    if override is None:
        lines = [f"## {q.id}: {q.title} ({points(q.score)} / {points(q.max_score)}, {q.status.value})"]
    else:
        lines = [f"## {q.id}: {q.title} ({points(q.score)} / {points(q.max_score)}, set by the instructor)",
                 f"- **{student_text(override.message, '  ')}**"]
    for part in q.parts:
        if part.name != OVERRIDE:
            lines.append(f"- **{part.name}** ({points(part.score)} / {points(part.max_score)}): "
                         f"{student_text(part.message, '  ')}")
    return lines


def summary_markdown(result: SubmissionResult) -> str:
    """The short overview shown at the top (no per-question detail, no hidden parts)."""
    lines = [f"**Score: {points(result.score)} / {points(result.max_score)}**"]
    if result.error:
        lines.append(f"\nThis submission could not be graded: {student_text(result.error)}.")
    if result.notes:
        lines.append("\nWhile running your notebook:")
        lines += [f"- {student_text(note, '  ', first=True)}" for note in result.notes[:20]]
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
