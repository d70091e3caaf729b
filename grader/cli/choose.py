"""What a command chooses before it grades: the config, each notebook's assignment (asked on a
terminal when the notebook cannot tell), the bundled examples, and the isolation kernels get."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..model import Assignment, Config
from ..errors import UsageError
from ..intake.ids import NOT_A_NOTEBOOK
from ..intake.recognise import candidates
from ..sandbox import Level, Policy, detect
from ..intake.submission import find_notebooks, printable_name, read_notebook_file
from .output import say


def default_config_path() -> Path:
    """``$GRADER_CONFIG``, else ``./assignments.yml``, else the course checkout's, else the copy
    installed with this package (what a student who only ran ``pip install`` has)."""
    if os.environ.get("GRADER_CONFIG"):
        return Path(os.environ["GRADER_CONFIG"])
    here = Path("assignments.yml")
    if here.is_file():
        return here
    package = Path(__file__).resolve().parents[1]
    checkout = package.parent / "assignments.yml"
    return checkout if checkout.is_file() else package / "assignments.yml"


def _not_gradable(notebook: Path) -> str | None:
    """Why ``notebook`` has nothing that could tell its assignment (not a notebook, unreadable,
    empty), else None."""
    if notebook.suffix.lower() != ".ipynb":
        return NOT_A_NOTEBOOK
    try:
        data = json.loads(read_notebook_file(notebook))
    except (OSError, ValueError) as exc:
        return f"is not a readable notebook ({getattr(exc, 'strerror', None) or 'not notebook JSON'})"
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, list) or not any(
            isinstance(c, dict) and c.get("cell_type") == "code" and "".join(c.get("source") or "").strip()
            for c in cells):
        return "has no code in it: there is nothing to grade (was it saved before you submitted?)"
    return None


def choose_assignment(config: Config, notebook: Path, explicit: str | None) -> Assignment:
    """The assignment named on the command line, else the one the notebook itself says it is for
    (:mod:`recognise`); when that is truly ambiguous, asked on a terminal (numbered choices, asked
    again after a typo), else an error listing them."""
    if explicit is not None or len(config.assignments) == 1:
        return config.get(explicit)
    found = candidates(config, notebook)
    if len(found) == 1:
        return found[0]
    problem = _not_gradable(notebook)
    if problem is not None:
        raise UsageError(f"{printable_name(str(notebook))} {problem}")
    choices = ", ".join(f"{a.id} ({a.title})" for a in found)
    if sys.stdin.isatty() and sys.stderr.isatty():
        say(f"grader: which assignment is {printable_name(str(notebook))} for?", err=True)
        for k, a in enumerate(found, start=1):
            say(f"  {k}  {a.id}  ({a.title})", err=True)
        for _ in range(3):
            try:
                answer = input(f"number (1-{len(found)}) or id: ").strip()
            except EOFError:
                break
            by_number = {str(k): a for k, a in enumerate(found, start=1)}
            chosen = by_number.get(answer) or next((a for a in found if a.id == answer), None)
            if chosen is not None:
                return chosen
            say(f"grader: {answer!r} is none of them; type a number from 1 to {len(found)}", err=True)
    raise UsageError(f"cannot tell which assignment {notebook} is for: it could be {choices}; "
                     f"pass --assignment ID")


def demo_paths(config: Config, only: str | None = None) -> list[Path]:
    """With no path: the bundled example submissions, then each assignment's solution and exercise.

    With ``only`` (an assignment id), that assignment's examples, solution and exercise alone.
    """
    root = config.path.parent / "examples" / "submissions"
    chosen = [config.get(only)] if only is not None else list(config.assignments.values())
    folders = [root / a.id for a in chosen] if only is not None else [root]
    paths = find_notebooks([f for f in folders if f.is_dir()])
    for a in chosen:
        paths += [p for p in (a.solution, a.exercise) if p is not None and p.is_file()]
    return paths


def policy(args: argparse.Namespace, *, batch: bool) -> Policy:
    """The isolation kernels get; batch-grading other people's work with none needs --no-sandbox."""
    chosen = detect(args.kernel_user, create_user=args.create_user)
    if chosen.level is Level.NONE:
        if batch and not args.no_sandbox:
            raise UsageError("kernels cannot be isolated on this machine (" + chosen.why + "), so each "
                             "notebook could read everything your user can; run `grader "
                             "sandbox-check` for details, or pass --no-sandbox to grade anyway")
        say(f"grader: warning: kernels run without isolation ({chosen.why}); they can read "
            f"everything your user can", err=True)
    return chosen
