"""Config: ``assignments.yml`` read into the assignment model (:mod:`grader.model`).

Owns reading YAML with its line numbers into typed objects (:mod:`.typed_yaml`) and the rules of
an assignment and its questions (:mod:`.assignments`, which is given the check kinds rather than
importing them). :func:`load_config` is where the two meet: it hands the parser the registry of
:mod:`grader.checks`, imported only when a config is validated (SymPy comes with it; a
:func:`preview` needs neither). May import the shared basics and the model; ``checks`` only here.
"""

from __future__ import annotations

from pathlib import Path

from ..model import Config
from .assignments import parse_config, preview

__all__ = ["load_config", "parse_config", "preview"]


def load_config(path: str | Path, *, notebooks: bool = True) -> Config:
    """Read and validate ``assignments.yml`` for the grader's check kinds; raise
    :class:`~grader.errors.ConfigError` naming the bad key.

    ``notebooks=False``: for what never reads the exercise and solution notebooks (the Gradescope
    build and autograder), a path to one that does not exist is left out instead of an error."""
    from ..checks import registry

    return parse_config(path, registry(), notebooks=notebooks)
