"""Judge one question's published check inside the student's kernel (an exported otter test).

The parts of this package (``MODULES``, in order) are sent as text in an OK-format test, after the
grader's own in-kernel probe runner (``grader.inkernel``, so the student's code is exercised exactly
as ``grader run`` exercises it) and, for a finite-difference question, the grader's step recovery
(``checks/fd_steps``), all assembled into one namespace (``grader.inkernel.assemble``: their
imports of one another are removed there). ``SPEC`` (appended as plain data by
``grader.otterbridge.specs``) holds the published inputs and the references the grader computed
with SymPy and numpy; nothing hidden. ``check(env)`` returns ``SPEC["ok"]`` when the published part
would get full marks, else what is wrong, in the grader's words. Like ``grader.inkernel``: standard
library only, Python 3.10 compatible, annotations never evaluated. This file only names the parts.
"""

from __future__ import annotations

from importlib import resources

MODULES = ("compare", "observe", "judges", "networks", "fd", "check")


def module_source(name: str) -> str:
    """The text of one part of this package, as installed."""
    return resources.files(__name__).joinpath(f"{name}.py").read_text(encoding="utf-8")
