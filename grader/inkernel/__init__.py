"""The grader's code that runs inside the student's kernel: the trust boundary.

Everything in this package except this file is sent as text into the kernel and executed there as
one private module (see ``grader.execution.probes.install_code``), so it is standard library only, Python 3.10
compatible, and imports nothing of the grader at run time: its annotations are never evaluated
(``from __future__ import annotations``; typing names only under ``if TYPE_CHECKING``), and its
imports of its neighbours (``from .protocol import ...``, there for readers and the type checker)
are removed when the modules are assembled, since in the kernel they share one namespace. It knows
no reference value and the grader re-validates everything it sends back. The parts, in the order
they are assembled (``MODULES``): ``protocol`` (the result's tag, the limits, the state captured at
install, the student's names, the ways a task ends short of a value), ``wire`` (plain JSON out),
``reading`` (student values read as numbers), ``shell`` (escapes and installs refused, output
capped), the task families ``values``, ``graphs`` and ``networks``, and ``runner`` (``install`` and
``probe``). ``grader.otterbridge`` sends the same modules, before its own check, in exported tests.

This file only names and assembles the parts; it is the one module here not sent into kernels.
"""

from __future__ import annotations

import ast
import functools
from importlib import resources

MODULES = ("protocol", "wire", "reading", "shell", "values", "graphs", "networks", "runner")
FUTURE = "from __future__ import annotations\n"


def module_source(name: str) -> str:
    """The text of one part of this package, as installed."""
    return resources.files(__name__).joinpath(f"{name}.py").read_text(encoding="utf-8")


def assemble(*sources: str) -> str:
    """Sources meant for one namespace, joined in order as one: each part's relative imports (its
    neighbours, defined earlier in the same namespace) and ``__future__`` imports removed, and one
    ``from __future__ import annotations`` first."""
    parts = []
    for source in sources:
        lines = source.splitlines(keepends=True)
        drop: set[int] = set()
        for node in ast.parse(source).body:
            if isinstance(node, ast.ImportFrom) and (node.level > 0 or node.module == "__future__"):
                drop.update(range(node.lineno - 1, node.end_lineno or node.lineno))
        parts.append("".join(line for i, line in enumerate(lines) if i not in drop))
    return FUTURE + "\n".join(parts)


@functools.lru_cache(maxsize=None)
def runner_source() -> str:
    """The in-kernel probe runner: the package's parts assembled in order, as one source."""
    return assemble(*(module_source(name) for name in MODULES))
