"""The ``grader`` command line: thin, one module per command, calling the library.

- :mod:`~grader.cli.app`: the parser, built from the table of commands, and :func:`main`
- :mod:`~grader.cli.command`: what a command is (:class:`~grader.cli.command.Command`), the parser class
- :mod:`~grader.cli.exits`: the exit-code tables of each ``--help``, printed from :class:`grader.errors.Exit`
- :mod:`~grader.cli.output`: printing that survives a closed pipe, the status line, counts and names
- :mod:`~grader.cli.choose`: the config, each notebook's assignment, the examples, the isolation
- :mod:`~grader.cli.outcome`: failures and damaged results said on stderr, and their exit code
- one module per command: :mod:`~grader.cli.run` (with :mod:`~grader.cli.run_class` for ``--out``),
  :mod:`~grader.cli.override`, :mod:`~grader.cli.export`, :mod:`~grader.cli.outfolder` (``report``,
  ``merge``), :mod:`~grader.cli.doctor` (``sandbox-check``, ``check-config``), :mod:`~grader.cli.build`

A failure becomes a line and an exit code in one place, :func:`grader.errors.reporting`, which the
Gradescope steps (``python -m grader.gradescope``) use too. It may import the whole library; nothing
in the library imports it.
"""

from __future__ import annotations

from .app import build_parser, main
from .choose import choose_assignment, default_config_path, demo_paths

_parser = build_parser  # the name the tests walk the commands by

__all__ = ["build_parser", "choose_assignment", "default_config_path", "demo_paths", "main"]
