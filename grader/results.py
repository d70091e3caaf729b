"""Per-question and per-submission results: frozen, with computed totals, serialised here only."""

from __future__ import annotations

import enum
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .model import Visibility as Visibility
from .text import shown


class Status(str, enum.Enum):
    """How a question went, from the student's point of view."""

    PASSED = "passed"      # every point earned
    PARTIAL = "partial"    # some points earned
    FAILED = "failed"      # no point earned, the answer was wrong
    MISSING = "missing"    # no answer: name undefined, cell failed, function raised, probe timed out

    @property
    def gradescope(self) -> str:
        """Gradescope knows only ``passed`` and ``failed``."""
        return "passed" if self is Status.PASSED else "failed"


def _round(x: float) -> float:
    return round(x + 0.0, 6)


def points(x: float) -> str:
    """A score as people read it: at most two decimals, no trailing zeros (5.66, 3, 0.8)."""
    return f"{round(x + 0.0, 2):g}"


@dataclass(frozen=True)
class PartResult:
    """One declared slice of a question's points (e.g. the published point, the hidden points)."""

    name: str
    score: float
    max_score: float
    message: str
    answered: bool = True  # False when there was nothing to judge (undefined, raised, timed out)
    visibility: Visibility = Visibility.VISIBLE

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "score": _round(self.score), "max_score": _round(self.max_score),
                "message": self.message, "answered": self.answered,
                "visibility": self.visibility.value}


@dataclass(frozen=True)
class QuestionResult:
    """The verdict on one question: its parts, and a message a student can act on."""

    id: str
    title: str
    max_score: float
    parts: tuple[PartResult, ...]

    @property
    def score(self) -> float:
        return _round(min(self.max_score, sum(p.score for p in self.parts)))

    @property
    def status(self) -> Status:
        if self.score >= self.max_score - 1e-9:
            return Status.PASSED
        if self.score > 0:
            return Status.PARTIAL
        if not any(p.answered for p in self.parts):
            return Status.MISSING
        return Status.FAILED

    @property
    def message(self) -> str:
        return "\n".join(f"{p.name}: {p.message}" if len(self.parts) > 1 else p.message
                         for p in self.parts)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "score": self.score, "max_score": self.max_score,
                "status": self.status.value,
                "message": self.message, "parts": [p.to_dict() for p in self.parts]}


@dataclass(frozen=True)
class CellReport:
    """What happened to one code cell (index counts code and markdown cells, from 1)."""

    number: int
    status: str            # "ok", "error", "timeout", "killed", "skipped", "blocked"
    detail: str = ""


@dataclass(frozen=True)
class SubmissionResult:
    """Everything the grader concluded about one submitted notebook."""

    assignment: str
    submission: str
    questions: tuple[QuestionResult, ...]
    execution_time: float
    grader_version: str
    error: str | None = None          # set when the file could not be graded at all
    cells: tuple[CellReport, ...] = ()
    notes: tuple[str, ...] = ()
    internal_error: str | None = None  # a grader bug: never shown to students, non-zero exit
    key: dict[str, str] = field(default_factory=dict)  # what this result depends on (resume)
    isolation: str = ""  # the kernel isolation it was graded under (``sandbox.Policy.summary``)
    seed: int | None = None  # the hidden inputs' seed: ``grader run FILE --seed N`` draws them again

    @property
    def score(self) -> float:
        return _round(sum(q.score for q in self.questions))

    @property
    def max_score(self) -> float:
        return _round(sum(q.max_score for q in self.questions))

    @property
    def status(self) -> str:
        if self.internal_error:
            return "grader_error"
        if self.error:
            return "rejected"
        return "graded"

    def to_dict(self) -> dict[str, Any]:
        return {
            "assignment": self.assignment, "submission": self.submission, "status": self.status,
            "score": self.score, "max_score": self.max_score,
            "execution_time": round(self.execution_time, 3), "grader_version": self.grader_version,
            "error": self.error, "internal_error": self.internal_error,
            "notes": list(self.notes),
            "cells": [{"number": c.number, "status": c.status, "detail": c.detail} for c in self.cells],
            "questions": [q.to_dict() for q in self.questions],
            "key": dict(self.key),
            "isolation": self.isolation,
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SubmissionResult:
        questions = tuple(
            QuestionResult(
                id=q["id"], title=q["title"], max_score=q["max_score"],
                parts=tuple(PartResult(p["name"], p["score"], p["max_score"], p["message"],
                                       p.get("answered", True),
                                       Visibility(p.get("visibility", "visible")))
                            for p in q["parts"]))
            for q in data["questions"])
        return cls(
            assignment=data["assignment"], submission=data["submission"], questions=questions,
            execution_time=data["execution_time"], grader_version=data["grader_version"],
            error=data.get("error"), internal_error=data.get("internal_error"),
            notes=tuple(data.get("notes", ())),
            cells=tuple(CellReport(c["number"], c["status"], c.get("detail", ""))
                        for c in data.get("cells", ())),
            key=dict(data.get("key", {})), isolation=str(data.get("isolation", "")),
            seed=data.get("seed") if type(data.get("seed")) is int else None)


def printable_text(text: str) -> str:
    """``text`` safe to write anywhere: :func:`grader.text.shown` (control, bidi and other
    invisible characters, lone surrogates, as backslash escapes; newlines and tabs kept)."""
    return shown(text)


def _printable(data: Any) -> Any:
    if isinstance(data, str):
        return printable_text(data)
    if isinstance(data, dict):
        return {_printable(k): _printable(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_printable(v) for v in data]
    return data


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so that a reader sees the old file or the new one, never half of either.

    The file is strict UTF-8 JSON: a lone surrogate in any string is written as visible text.
    """
    text = json.dumps(_printable(data), indent=2, ensure_ascii=False, allow_nan=False)
    write_text_atomic(path, text + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    """Write UTF-8 text atomically (same folder temp file, then ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # backslashreplace: a lone surrogate must not cost the file (it cannot be UTF-8).
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
