"""Gradescope's results.json, as its autograder specification describes it."""

from __future__ import annotations

from typing import Any

from ..results import SubmissionResult, Visibility
from .feedback import summary_markdown


def gradescope_results(result: SubmissionResult) -> dict[str, Any]:
    """One test per question part (names start with the question id); totals from the result."""
    tests: list[dict[str, Any]] = []
    for qi, q in enumerate(result.questions, start=1):
        for pi, part in enumerate(q.parts, start=1):
            name = f"{q.id}: {q.title}" + (f" ({part.name})" if len(q.parts) > 1 else "")
            tests.append({
                "name": name,
                "number": f"{qi}.{pi}" if len(q.parts) > 1 else str(qi),
                "score": round(part.score, 6),
                "max_score": round(part.max_score, 6),
                "status": "passed" if part.score >= part.max_score - 1e-9 else "failed",
                "output": part.message,
                "output_format": "md",
                "visibility": part.visibility.value,
            })
    if result.internal_error:
        tests.append({"name": "grader error", "score": 0, "max_score": 0, "status": "failed",
                      "output": "The grader itself failed on this submission. This is not your "
                                "fault; your instructor has been told and will regrade it.",
                      "output_format": "md", "visibility": Visibility.VISIBLE.value})
        tests.append({"name": "grader error (traceback)", "score": 0, "max_score": 0,
                      "status": "failed", "output": "```\n" + result.internal_error + "\n```",
                      "output_format": "md", "visibility": Visibility.HIDDEN.value})
    return {
        "score": result.score,
        "execution_time": round(result.execution_time, 3),
        "output": summary_markdown(result),
        "output_format": "md",
        "stdout_visibility": "hidden",
        "tests": tests,
    }
