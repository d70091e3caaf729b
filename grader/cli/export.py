"""``grader export``: the grades of an --out folder for an LMS (a Canvas gradebook import, or any
roster joined by id), and the assignments for otter-grader's student workflow."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import Exit
from ..gradebook.instructor import export
from . import exits
from .choose import default_config_path
from .command import CONFIG_HELP, Command, subcommand
from .output import count, say


def arguments(parser: argparse.ArgumentParser) -> None:
    formats = parser.add_subparsers(dest="format", required=True, metavar="FORMAT")
    canvas = subcommand(formats, "canvas", epilog=exits.epilog(exits.EXPORT),
                        help="fill one assignment column of a Canvas gradebook export",
                        description="""\
Fill one assignment column of a gradebook exported from Canvas (Grades → Export → Export Entire
Gradebook) with each student's total, matched by Canvas user id (the number in Canvas's
submission download names, which grader run uses as the student id). The file written has the
student columns, the header rows ("Points Possible") and that one column; import it with
Grades → Import.

example:
  grader export canvas graded/ --gradebook canvas_export.csv --column "HW1 (12345)" -o import.csv""")
    canvas.add_argument("out", type=Path, metavar="OUT", help="the --out folder of `grader run`")
    canvas.add_argument("--gradebook", required=True, type=Path, metavar="EXPORT.csv",
                        help="the gradebook CSV exported from Canvas")
    canvas.add_argument("--column", required=True, metavar="NAME",
                        help='the assignment column: "HW1 (12345)", or just "HW1"')
    canvas.add_argument("--output", "-o", required=True, type=Path, metavar="IMPORT.csv",
                        help="where to write the file to import")
    roster = subcommand(formats, "roster", epilog=exits.epilog(exits.EXPORT),
                        help="join a roster (id, name, email, …) with the grades",
                        description="""\
For any other LMS: every row of a roster CSV (its own columns kept) followed by the file graded,
each question's score, the total, the status and any overrides, matched by student id.

example:
  grader export roster graded/ --roster students.csv -o grades_named.csv""")
    roster.add_argument("out", type=Path, metavar="OUT", help="the --out folder of `grader run`")
    roster.add_argument("--roster", required=True, type=Path, metavar="ROSTER.csv",
                        help="a CSV with a header row and an id column")
    roster.add_argument("--id-column", metavar="NAME", help="the roster's id column (default: id)")
    roster.add_argument("--output", "-o", required=True, type=Path, metavar="FILE.csv",
                        help="where to write the joined CSV")
    otter = subcommand(formats, "otter", epilog=exits.epilog(exits.WRITE),
                       help="the assignments for otter-grader's student workflow",
                       description="""\
Write each assignment (or the one named) for courses that use otter-grader: DIR/<id>/student/
(the exercise notebook with grader.check cells, its published tests in the notebook and in tests/)
to hand out, and DIR/<id>/instructor/ (the solution, every check passing; written where the
config's solution: notebook exists, which the installed package does not carry). Each folder is
written whole or not at all. The final grade is still grader run's (hidden inputs, the sandbox).

example:
  grader export otter --assignment micrograd -o otter/""")
    otter.add_argument("--assignment", "-a", help="assignment id (default: every assignment)")
    otter.add_argument("--output", "-o", required=True, type=Path, metavar="DIR", help="where to write")
    otter.add_argument("--config", "-c", type=Path, help=CONFIG_HELP)


def run(args: argparse.Namespace) -> int:
    if args.format == "otter":
        from ..otterbridge.export import command
        return command(args.config or default_config_path(), args.assignment, args.output)
    if args.format == "canvas":
        done = export(args.out, args.output, gradebook=args.gradebook, column=args.column)
        say(f"wrote {args.output}: {count(done.filled, 'score')} in {done.column!r}")
    else:
        done = export(args.out, args.output, roster=args.roster, id_column=args.id_column)
        say(f"wrote {args.output}: {count(done.filled, 'student')} with scores")
    for label, names in (("no submission (left blank)", done.no_submission),
                         ("not graded yet (left blank; run grader run again)", done.not_graded)):
        if names:
            say(f"{len(names)} {label}: {'; '.join(names)}")
    if done.not_on_roster:
        where = "gradebook" if args.format == "canvas" else "roster"
        say(f"grader: WARNING: {count(len(done.not_on_roster), 'graded student')} not in the {where}, "
            f"so their scores are NOT in {args.output}: {'; '.join(done.not_on_roster)} (a "
            f"different id in the {where}? add them there, or enter these scores by hand)", err=True)
    for note in done.notes:
        say(f"note: {note}")
    return Exit.OK


COMMAND = Command(
    "export", arguments=arguments, run=run, epilog=exits.epilog(exits.EXPORT),
    help="grades for an LMS: a Canvas gradebook import, or any roster joined by id", description="""\
Write the grades of OUT (overrides applied) in a form an LMS imports. Students on the LMS's list
without a submission are left blank and listed; submissions not on the list are listed too.

examples:
  grader export canvas graded/ --gradebook canvas_export.csv --column "HW1 (12345)" -o import.csv
  grader export roster graded/ --roster students.csv -o grades_named.csv""")
