"""The ``exit codes:`` part of each command's ``--help``, printed from :class:`~grader.errors.Exit`:
one table per family of commands, each row an exit code and what it means there."""

from __future__ import annotations

from typing import Sequence

from ..errors import Exit

Rows = Sequence[tuple[Exit, str]]


def epilog(rows: Rows, title: str = "exit codes:") -> str:
    """``title`` then one row per code (a meaning of several lines is indented under its first)."""
    lines = [title]
    for code, meaning in rows:
        lines.append(f"  {int(code):<4} " + meaning.replace("\n", "\n" + " " * 7))
    return "\n".join(lines)


RUN: Rows = (
    (Exit.OK, "graded, whatever the scores (a rejected or broken notebook is graded, with the reason)"),
    (Exit.USAGE, "bad arguments or config: nothing was graded and nothing created"),
    (Exit.NO_KERNEL, "no kernel could be started for any submission that needed one "
                     "(each result says so)"),
    (Exit.INTERNAL, "the grader failed on some submission: its result says so; run again to regrade it\n"
                    "(or a stored result in OUT is damaged: named on stderr, `damaged_result` in grades.csv)"),
    (Exit.INTERRUPTED, "interrupted: run the same command again to finish a batch"),
)
OUT: Rows = (  # override, report, merge: commands on an --out folder
    (Exit.OK, "done"),
    (Exit.USAGE, "bad arguments (or another grader is writing to OUT): nothing was changed"),
    (Exit.INTERNAL, "(report, merge) a stored result is damaged: named on stderr, "
                    "`damaged_result` in grades.csv"),
)
EXPORT: Rows = (
    (Exit.OK, "done (students without a score are listed)"),
    (Exit.USAGE, "bad arguments, or no graded student matches the list (wrong file or column?): nothing\n"
                 "was written"),
)
BUILD: Rows = (
    (Exit.OK, "done"),
    (Exit.FAILED, "building failed (the message says why): nothing was written"),
    (Exit.USAGE, "bad arguments or config: nothing was written"),
)
WRITE: Rows = (  # export otter
    (Exit.OK, "done (what was written, and what was not, is listed)"),
    (Exit.USAGE, "bad arguments or config: nothing was written"),
)
CONFIG: Rows = (
    (Exit.OK, "the config is valid"),
    (Exit.USAGE, "it is not: the message names the key, its line and the nearest valid key"),
)
CHECK: Rows = (
    (Exit.OK, "done (whatever the level)"),
    (Exit.USAGE, "bad arguments (an unknown --kernel-user)"),
)
