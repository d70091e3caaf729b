"""What a command is: its name, the help the user reads, its arguments and the function that runs it.

The parser (:mod:`grader.cli.app`) is built from a table of these; a command's module defines one.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Callable, NoReturn, TypeVar

FORMAT = argparse.RawDescriptionHelpFormatter
CONFIG_HELP = ("assignments.yml (default: $GRADER_CONFIG, else ./assignments.yml, else the course "
               "checkout's, else the one installed with the grader)")


P = TypeVar("P", bound=argparse.ArgumentParser)


class Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line (and exit 2), pointing at ``--help``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


@dataclass(frozen=True)
class Command:
    """One ``grader COMMAND``: ``arguments`` adds its arguments (or its own subcommands) to the
    parser made from ``help``, ``description`` and ``epilog``; ``run`` returns the exit code."""

    name: str
    help: str
    description: str
    epilog: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def subcommand(sub: argparse._SubParsersAction[P], name: str, *, help: str, description: str,
               epilog: str) -> P:
    """A parser under ``sub`` that keeps the layout of its description (examples, exit codes)."""
    return sub.add_parser(name, formatter_class=FORMAT, help=help, description=description, epilog=epilog)
