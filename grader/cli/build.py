"""``grader build``: what students install (the grader's wheel) or what Gradescope runs (a zip)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import Exit, UsageError
from . import exits
from .choose import default_config_path
from .command import CONFIG_HELP, Command, subcommand
from .output import say


def arguments(build: argparse.ArgumentParser) -> None:
    targets = build.add_subparsers(dest="target", required=True, metavar="TARGET")
    gradescope = subcommand(targets, "gradescope", epilog=exits.epilog(exits.BUILD),
                            help="a reproducible autograder.zip for Gradescope",
                            description="""\
Build a reproducible autograder.zip for a Gradescope Programming Assignment (no solutions in it).

example:
  grader build gradescope --assignment micrograd -o autograder.zip""")
    wheel = subcommand(targets, "wheel", epilog=exits.epilog(exits.BUILD),
                       help="the grader's wheel, for students to install",
                       description="""\
Build this grader's wheel (the grader, assignments.yml and the exercise notebooks; no solutions)
and print the one line students run to install it. Hand the file out with the exercises.

example:
  grader build wheel -o dist/""")
    wheel.add_argument("--output", "-o", type=Path, default=Path("dist"), metavar="DIR",
                       help="the folder to write the wheel into (default: ./dist)")
    gradescope.add_argument("--assignment", "-a", help="assignment id (default: the only one)")
    gradescope.add_argument("--config", "-c", type=Path, help=CONFIG_HELP)
    gradescope.add_argument("--output", "-o", type=Path, default=Path("autograder.zip"),
                            help="where to write the zip (default: ./autograder.zip)")


def run(args: argparse.Namespace) -> int:
    if args.target == "wheel":
        from ..gradescope.wheel import build_wheel, write_atomic  # the build backend: only this command

        if args.output.exists() and not args.output.is_dir():
            raise UsageError(f"--output {args.output} is a file: give the folder to write the wheel into")
        name, data = build_wheel()
        write_atomic(args.output / name, data)
        say(f"wrote {args.output / name} ({len(data) / 1024:.0f} KiB): the grader, assignments.yml "
            f"and the exercise notebooks, no solutions\nhand it out; students run, in the folder "
            f"they saved it to (Linux or WSL, Python 3.10+):\n\n    pip install ./{name}\n")
        return Exit.OK
    from ..gradescope.build import build_gradescope_zip  # pip and templates: only this command

    report = build_gradescope_zip(args.config or default_config_path(), args.output, args.assignment)
    say(f"wrote {report.path} ({report.size / 1024:.0f} KiB, assignment {report.assignment}): "
        f"{', '.join(report.entries)}")
    return Exit.OK


COMMAND = Command(
    "build", arguments=arguments, run=run, epilog=exits.epilog(exits.BUILD),
    help="build what students install (a wheel) or Gradescope runs (a zip)", description="""\
Build what students install (the grader's wheel) or what a course platform runs (a Gradescope
autograder zip).

examples:
  grader build wheel -o dist/
  grader build gradescope --assignment micrograd -o autograder.zip""")
