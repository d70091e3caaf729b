"""Gradescope's results.json, as its autograder specification describes it."""

from __future__ import annotations

from typing import Any

from ..results import SubmissionResult, Visibility
from .feedback import OVERRIDE, question_markdown, student_text, summary_markdown

GRADER_ERROR_MESSAGE = ("The grader itself failed on this submission. This is not your fault; your "
                        "instructor can see what went wrong and will regrade it.")


def _test(name: str, number: str, score: float, max_score: float, passed: bool, output: str,
          visibility: Visibility) -> dict[str, Any]:
    return {"name": name, "number": number, "score": round(score, 6),
            "max_score": round(max_score, 6), "status": "passed" if passed else "failed",
            "output": output, "output_format": "md", "visibility": visibility.value}


def _grader_error_tests(traceback_text: str) -> list[dict[str, Any]]:
    """A visible apology (score 0) and the traceback in a test only instructors see."""
    return [_test("grader error", "0.1", 0, 0, False, GRADER_ERROR_MESSAGE, Visibility.VISIBLE),
            _test("grader error (traceback)", "0.2", 0, 0, False,
                  "```\n" + traceback_text.rstrip() + "\n```", Visibility.HIDDEN)]


def gradescope_results(result: SubmissionResult) -> dict[str, Any]:
    """One test per question part (names start with the question id); totals from the result."""
    tests: list[dict[str, Any]] = []
    if result.error:
        tests.append(_test("submission: could not be graded", "0", 0, 0, False,
                           f"**Your submission could not be graded:** {student_text(result.error)}.",
                           Visibility.VISIBLE))
    if result.internal_error:
        tests += _grader_error_tests(result.internal_error)
    for qi, q in enumerate(result.questions, start=1):
        override = next((p for p in q.parts if p.name == OVERRIDE), None)
        if override is not None:  # one test, the question's own score: the instructor's
            tests.append(_test(f"{q.id}: {q.title}", str(qi), q.score, q.max_score,
                               q.score >= q.max_score - 1e-9,
                               "\n".join(question_markdown(q)[1:]), Visibility.VISIBLE))
            continue
        for pi, part in enumerate(q.parts, start=1):
            several = len(q.parts) > 1
            tests.append(_test(f"{q.id}: {q.title}" + (f" ({part.name})" if several else ""),
                               f"{qi}.{pi}" if several else str(qi), part.score, part.max_score,
                               part.score >= part.max_score - 1e-9, student_text(part.message, first=True),
                               part.visibility))
    output = summary_markdown(result)
    if result.internal_error:
        output += "\n\n" + GRADER_ERROR_MESSAGE
    return {
        "score": result.score,
        "execution_time": round(result.execution_time, 3),
        "output": output,
        "output_format": "md",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def error_results(traceback_text: str, execution_time: float) -> dict[str, Any]:
    """When there is no result at all (the config or the grader broke): score 0, said plainly."""
    return {
        "score": 0,
        "execution_time": round(execution_time, 3),
        "output": "**Score: 0**\n\n" + GRADER_ERROR_MESSAGE,
        "output_format": "md",
        "stdout_visibility": "hidden",
        "tests": _grader_error_tests(traceback_text),
    }
