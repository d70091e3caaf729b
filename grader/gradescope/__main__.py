"""``python -m grader.gradescope setup|run``: the two steps Gradescope's shell scripts call."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from ..errors import Exit, reporting
from .autograder import autograder_root, run
from .provision import provision


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m grader.gradescope", description=__doc__)
    sub = parser.add_subparsers(dest="step", required=True)
    setup = sub.add_parser("setup", help="from setup.sh: kernel user, locked source, smoke test")
    setup.add_argument("--source", type=Path, required=True, help="the unpacked autograder.zip")
    setup.add_argument("--kernel-user", help="run kernels as this account (default: a uid of their own)")
    grade = sub.add_parser("run", help="from run_autograder: grade the submission, write results.json")
    grade.add_argument("--root", type=Path, help="default: $AUTOGRADER_ROOT, else /autograder")
    grade.add_argument("--assignment", help="default: the only assignment in source/assignments.yml")
    grade.add_argument("--kernel-user", help="run kernels as this account (default: a uid of their own)")
    grade.add_argument("--seed", type=int, help="seed for hidden inputs (default: fresh randomness)")
    return parser


def _setup(args: argparse.Namespace) -> int:
    for line in provision(args.source.resolve(), args.kernel_user):
        print(f"grader setup: {line}")
    return Exit.OK


def _run(args: argparse.Namespace) -> int:
    run(args.root or autograder_root(), kernel_user=args.kernel_user, assignment_id=args.assignment,
        seed=args.seed)
    return Exit.OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run one step; the exit code is non-zero only when setup failed or no result could be written."""
    args = _parser().parse_args(argv)
    step = _setup if args.step == "setup" else _run
    return reporting(lambda: step(args), f"grader {args.step}", lambda line: print(line, file=sys.stderr))


if __name__ == "__main__":
    sys.exit(main())
