"""``grader report`` and ``grader merge``: an --out folder's class report rebuilt, and the folders
of shards graded apart merged into one. Nothing is graded."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import Exit
from ..grading.shard import merge
from ..gradebook.store import rebuild_report
from . import exits
from .command import Command
from .outcome import say_damaged
from .output import count, say


def report_arguments(report: argparse.ArgumentParser) -> None:
    report.add_argument("out", type=Path, metavar="OUT", help="the --out folder of `grader run`")


def report(args: argparse.Namespace) -> int:
    say(f"wrote {rebuild_report(args.out)}")
    return Exit.INTERNAL if say_damaged(args.out) else Exit.OK


def merge_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("outs", nargs="+", type=Path, metavar="OUT", help="the shards' --out folders")
    parser.add_argument("--out", "-o", required=True, type=Path, dest="into", metavar="OUT",
                        help="the folder to write (created if missing)")


def merge_outs(args: argparse.Namespace) -> int:
    merged = merge(args.outs, args.into)
    say(f"merged {count(merged, 'student')} into {args.into}: {args.into / 'grades.csv'}, "
        f"{args.into / 'report.html'}")
    return Exit.INTERNAL if say_damaged(args.into) else Exit.OK


REPORT = Command(
    "report", arguments=report_arguments, run=report, epilog=exits.epilog(exits.OUT),
    help="rebuild the class report OUT/report.html (grades nothing)", description="""\
Rebuild OUT/report.html, the class report every `grader run --out` writes, from the results stored
in OUT (and the feedback and grades.csv, where overrides.csv changed them). Nothing is graded.
Open the file in any browser; it needs no network.

example:
  grader report graded/""")

MERGE = Command(
    "merge", arguments=merge_arguments, run=merge_outs, epilog=exits.epilog(exits.OUT),
    help="merge the OUT folders of shards graded apart into one", description="""\
Copy every student's result from OUT folders graded separately (`grader run … --shard I/N --out
OUT_I`) into one folder, and write its grades.csv and report.html for the whole class. Nothing is
graded. A student found in several keeps the newest result that can be read (when none can, the
newest is copied as it is: listed as damaged_result).

example:
  grader merge graded-1/ graded-2/ graded-3/ --out graded/""")
