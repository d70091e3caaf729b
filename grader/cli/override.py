"""``grader override``: one student's question scored by hand, with a reason the student sees."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import Exit, UsageError
from ..gradebook.instructor import set_override
from . import exits
from .command import Command
from .output import say


def arguments(override: argparse.ArgumentParser) -> None:
    override.add_argument("out", type=Path, metavar="OUT", help="the --out folder of `grader run`")
    override.add_argument("id", metavar="ID", help="the student id (as in grades.csv)")
    override.add_argument("question", metavar="QUESTION", help="the question id (as in grades.csv)")
    override.add_argument("points", type=float, nargs="?", metavar="POINTS",
                          help="the points to give (0 to the question's maximum)")
    override.add_argument("--reason", "-r", default="", help="why; shown to the student")
    override.add_argument("--remove", action="store_true", help="remove the override instead")


def run(args: argparse.Namespace) -> int:
    if args.remove == (args.points is not None):
        raise UsageError("give the POINTS (with --reason), or --remove")
    if not args.remove and not args.reason.strip():
        raise UsageError("--reason is required: say why (the student reads it in their feedback)")
    say(set_override(args.out, args.id, args.question, args.points, args.reason, remove=args.remove))
    say(f"updated {args.out / 'grades.csv'} and {args.out / 'submissions' / args.id}/feedback.md")
    return Exit.OK


COMMAND = Command(
    "override", arguments=arguments, run=run, epilog=exits.epilog(exits.OUT),
    help="set one question's score by hand (kept across regrades)", description="""\
Give a student's question the points you decide, with a reason the student sees. The grader's own
score is kept beside it (grades.csv, the student's feedback.md and results.json), the override is
stored in OUT/overrides.csv and survives regrades and resumed runs. --remove undoes it.

examples:
  grader override graded/ 12345 q1_gradf 2 --reason "right idea, sign slip in one term"
  grader override graded/ 12345 q1_gradf --remove""")
