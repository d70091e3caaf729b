"""``grader sandbox-check`` and ``grader check-config``: what this machine gives kernels, and
whether assignments.yml is valid (with each assignment's questions and points)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..config import load_config
from ..errors import Exit
from ..sandbox import check_python_access, detect
from ..sandbox.identity import named_identity, stranger
from ..sandbox.machine import budget_lines
from . import exits
from .choose import default_config_path
from .command import CONFIG_HELP, Command
from .output import say


def sandbox_arguments(doctor: argparse.ArgumentParser) -> None:
    doctor.add_argument("--kernel-user", help="as root, the user kernels run as (default: a uid of "
                                              "their own)")
    doctor.add_argument("--create-user", action="store_true", help="create the --kernel-user if missing")
    doctor.add_argument("--fix", action="store_true",
                        help="as root, add o+x (traversal only) to folders on the way to this Python")


def sandbox_check(args: argparse.Namespace) -> int:
    """Print each isolation layer as active or not, and why."""
    if os.geteuid() == 0:
        who = named_identity(args.kernel_user, create=args.create_user) if args.kernel_user else stranger()
        opened = check_python_access(who, fix=args.fix, run=True)
        for folder in opened:
            say(f"opened {folder} for traversal (o+x)")
    policy = detect(args.kernel_user, create_user=args.create_user, fix=args.fix)
    say(f"isolation: {policy.level.value}")
    for layer in policy.layers:
        say(f"  {layer.name:<10} {'active' if layer.active else 'NOT active':<10} {layer.detail}")
    if policy.bwrap:
        say(f"  bubblewrap {policy.bwrap}")
    for line in budget_lines(policy.cgroups):
        say(f"  {line}")
    if policy.why:
        say(f"why not stronger: {policy.why}")
    return Exit.OK


def config_arguments(check: argparse.ArgumentParser) -> None:
    check.add_argument("--config", "-c", type=Path, help=CONFIG_HELP)


def check_config(args: argparse.Namespace) -> int:
    config = load_config(args.config or default_config_path())
    say(f"{config.path}: valid")
    for a in config.assignments.values():
        say(f"{a.id}: {len(a.questions)} questions, {a.max_score:g} points ({a.title})")
        width = max(len(q.id) for q in a.questions)
        for q in a.questions:
            say(f"  {q.id:<{width}}  {q.points:>5g}  {q.title}")
    return Exit.OK


SANDBOX_CHECK = Command(
    "sandbox-check", arguments=sandbox_arguments, run=sandbox_check, epilog=exits.epilog(exits.CHECK),
    help="show which isolation kernels get on this machine, and why", description="""\
Show which isolation student kernels get on this machine, layer by layer (filesystem, network,
processes, identity), and why no stronger one. As root, --fix lets kernels reach this Python.

example:
  grader sandbox-check""")

CHECK_CONFIG = Command(
    "check-config", arguments=config_arguments, run=check_config, epilog=exits.epilog(exits.CONFIG),
    help="validate assignments.yml and list each assignment's points", description="""\
Validate assignments.yml (unknown keys, wrong types, credit splits, exercise: and solution:
paths that do not exist) and print each assignment's questions and their points.

example:
  grader check-config --config course/assignments.yml""")
