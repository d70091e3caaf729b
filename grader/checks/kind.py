"""What a check kind is: a module of :mod:`grader.checks` with these four names, checked by mypy."""

from __future__ import annotations

import random
from typing import Any, Protocol, Sequence

from ..execution.probes import Observation
from ..model import Question
from ..results import PartResult
from .base import Probe


class Check(Protocol):
    """One check kind. ``Params`` is read from a question's ``params`` in ``assignments.yml``;
    ``parts`` names its credit parts; ``plan`` draws the probes (hidden inputs from ``rng``, after
    the notebook ran); ``judge`` turns their observations into one result per part, computing the
    references here in the grader, never in the kernel."""

    @property
    def Params(self) -> type[Any]: ...

    def parts(self, params: Any) -> tuple[str, ...]: ...

    def plan(self, params: Any, rng: random.Random) -> list[Probe]: ...

    def judge(self, question: Question, probes: Sequence[Probe],
              observations: Sequence[Observation]) -> list[PartResult]: ...
