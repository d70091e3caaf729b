"""grader: autogrades the micrograd exercise notebooks in a sandboxed Jupyter kernel."""

from __future__ import annotations

__version__ = "0.1.0"
