"""Failure reasons grouped into kinds: one message with its numbers and points taken out.

"df/dc expected 0.0625, got -0.0625" and "df/dc expected 0.1231, got -0.1231" are one kind,
``df/dc expected …, got …``: the same mistake met at different inputs. Each question part that
lost points contributes its message; the kind is keyed by the part's name too, so that a
published check and a hidden one stay apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable

from ..results import SubmissionResult

# A number standing alone (not the 2 of ``numerical_grad2``, not the 1 of ``q1_gradf``).
_NUMBER = re.compile(r"(?<![\w.-])[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?(?!\w|\.\d)")
_POINT = re.compile(r"([(\[])#(?:, #)*([)\]])")   # (#, #, #) and [#, #]: a point, a vector
_SPACE = re.compile(r"\s+")
_HIDDEN = re.compile(r"^# of # hidden checks failed; for example ")   # the count differs, not the kind
_ASIDE = re.compile(r" ?\([^()]{24,}\)")   # "(any step from 1e-12 to 0.01, …)": advice, not the kind
BLANK = "…"
LONGEST = 240


def kind_of(message: str) -> str:
    """``message`` as a kind: numbers become ``…``, points and vectors ``(…)``, the count of
    hidden checks and long asides in parentheses go; at most ``LONGEST`` characters."""
    text = _NUMBER.sub("#", _SPACE.sub(" ", message).strip())
    text = _ASIDE.sub("", _HIDDEN.sub("", _POINT.sub(r"\1#\2", text)))
    if len(text) > LONGEST:
        text = text[:LONGEST].rsplit(" ", 1)[0] + " …"
    return text.replace("#", BLANK)


@dataclass
class Kind:
    """One kind of failure on one question: who met it, and one of their messages."""

    label: str
    sample: str
    students: list[str] = field(default_factory=list)


def failure_kinds(question_id: str, results: Iterable[tuple[str, SubmissionResult]],
                  skip_parts: Iterable[str] = ()) -> list[Kind]:
    """The kinds of failure on ``question_id`` among ``(student id, grader's result)``, most
    students first (then by label): every part that lost points, by its normalised message."""
    skip = set(skip_parts)
    kinds: dict[str, Kind] = {}
    for sid, result in results:
        question = next((q for q in result.questions if q.id == question_id), None)
        if question is None:
            continue
        several = len([p for p in question.parts if p.name not in skip]) > 1
        for part in question.parts:
            if part.name in skip or part.score >= part.max_score - 1e-9:
                continue
            label = kind_of(part.message) or "(no message)"
            if several:
                label = f"{part.name}: {label}"
            kind = kinds.setdefault(label, Kind(label, part.message))
            if sid not in kind.students:
                kind.students.append(sid)
    return sorted(kinds.values(), key=lambda k: (-len(k.students), k.label))


__all__ = ["BLANK", "Kind", "failure_kinds", "kind_of"]
