"""The ``grader`` command: the parser built from the table of commands, and ``main``.

Each command lives in its own module (``run``, ``override``, ``export``, ``report`` and ``merge``,
``sandbox-check`` and ``check-config``, ``build``) as a :class:`~grader.cli.command.Command`;
a failure becomes a line and an exit code in one place, :func:`grader.errors.reporting`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from .. import __version__
from ..errors import Exit, reporting
from . import build, doctor, exits, export, outfolder, override, run
from .command import FORMAT, Command, Parser, subcommand
from .output import detach, say_err

COMMANDS: tuple[Command, ...] = (run.COMMAND, override.COMMAND, export.COMMAND, outfolder.REPORT,
                                 outfolder.MERGE, doctor.SANDBOX_CHECK, doctor.CHECK_CONFIG, build.COMMAND)


def build_parser() -> argparse.ArgumentParser:
    """``grader`` and one subcommand per entry of :data:`COMMANDS`, in that order."""
    parser = Parser(prog="grader", formatter_class=FORMAT, description="""\
Autograde the micrograd exercise notebooks: each notebook runs in a fresh, sandboxed Jupyter
kernel, and every question gets a score and a sentence saying what was wrong.

examples:
  grader run my_notebook.ipynb                  grade one notebook (a student checking their work)
  grader run submissions.zip --out graded/      grade a class: grades.csv and feedback per student
  grader run subs/smith_12345_678_hw1.ipynb --out graded/ --force      regrade one student
  grader override graded/ 12345 q1_gradf 2 --reason "sign slip only"      change a score by hand
  grader export canvas graded/ --gradebook export.csv --column "HW1" -o import.csv""",
                    epilog=exits.epilog(exits.RUN, "exit codes of grader run:")
                    + "\n\nEach command has its own help, with its own exit codes: grader run --help")
    parser.add_argument("--version", action="version", version=f"grader {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.arguments(subcommand(sub, command.name, help=command.help,
                                     description=command.description, epilog=command.epilog))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``grader`` command; returns the exit code. Whoever reads the output may
    go away at any time (``grader run ... | head``): the exit code is the same as if they had stayed."""
    try:
        code = _main(argv)
    except BrokenPipeError:  # printed by a library, not by say: the work was done
        code = Exit.OK
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):
            detach(stream)
    return int(code)


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    by_name = {command.name: command for command in COMMANDS}
    return reporting(lambda: by_name[args.command].run(args), "grader", say_err)
