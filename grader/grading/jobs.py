"""The jobs of a batch: which submissions a folder or zip holds, and which assignment they answer.

The assignment is the one named, the only one, the one every recognisable file name points at, or
the one the notebooks themselves point at (:mod:`grader.intake.recognise`); the submissions and
their students come from :mod:`grader.intake.ids`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from ..errors import UsageError
from ..intake.ids import Source, discover
from ..intake.recognise import by_content
from ..model import Assignment, Config


@dataclass(frozen=True)
class Job:
    """One submission to grade, and the assignment to grade it against."""

    source: Source
    assignment: Assignment



def pick_assignment(config: Config, names: Iterable[str], explicit: str | None,
                    sources: Sequence[Source] = ()) -> Assignment:
    """The assignment named, the only one, the one every recognisable file name points at, or
    the one the notebooks themselves point at (their stamp, names and headings; a few are read)."""
    if explicit is not None or len(config.assignments) == 1:
        return config.get(explicit)
    stems = {a.id: Path(a.notebook).stem.lower() for a in config.assignments.values()}
    seen = {aid for name in names for aid, stem in stems.items() if stem in name.lower()}
    if len(seen) == 1:
        return config.assignments[seen.pop()]
    if not seen:
        seen = _by_content(config, sources)
        if len(seen) == 1:
            return config.assignments[seen.pop()]
    raise UsageError("cannot tell which assignment these submissions are for; pass --assignment "
                     f"({', '.join(config.assignments)})")


def _by_content(config: Config, sources: Sequence[Source], sample: int = 5) -> set[str]:
    """Assignment ids that a few readable notebooks' content points at, when they all agree."""
    verdicts: list[set[str]] = []
    for source in sources:
        if len(verdicts) == sample:
            break
        if source.missing is not None:
            continue
        try:
            notebook = json.loads(source.read())
        except Exception:  # noqa: BLE001 -- unreadable or not JSON: it says nothing
            continue
        if isinstance(notebook, dict):
            found = by_content(config, notebook)
            if len(found) < len(config.assignments):
                verdicts.append({a.id for a in found})
    return set.union(*verdicts) if verdicts else set()


def folder_jobs(config: Config, roots: Sequence[Path], explicit: str | None
                ) -> tuple[list[Job], list[str]]:
    """One job per student found under ``roots`` (folders, zips, notebooks), and any warnings."""
    try:
        sources, _ = discover(roots)
        if not sources:
            return [], []
        assignment = pick_assignment(config, [s.name for s in sources], explicit, sources)
        sources, warnings = discover(roots, prefer=Path(assignment.notebook).stem)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return [Job(s, assignment) for s in sources], warnings


__all__ = ["Job", "folder_jobs", "pick_assignment"]
