"""Check kinds: each module turns a question's params into probes, and observations into points.

A check module provides ``Params`` (a frozen dataclass read from ``assignments.yml``),
``parts(params)`` (the names of its credit parts), ``plan(params, rng)`` (the probes to run, hidden
inputs drawn from ``rng`` after the notebook ran) and ``judge(question, probes, observations)``
(pure: references are computed here in the grader, never in the kernel).
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import CheckKind


@functools.cache
def registry() -> dict[CheckKind, ModuleType]:
    """Every check kind and the module that implements it."""
    from ..config import CheckKind
    from . import analytic_gradient, finite_difference, softmax_nll
    from . import accuracy, mlp, probability, training
    from . import autograd, deep_chain, value_example

    return {
        CheckKind.ANALYTIC_GRADIENT: analytic_gradient,
        CheckKind.FINITE_DIFFERENCE: finite_difference,
        CheckKind.SOFTMAX_NLL: softmax_nll,
        CheckKind.MLP: mlp,
        CheckKind.TRAINING: training,
        CheckKind.ACCURACY: accuracy,
        CheckKind.PROBABILITY: probability,
        CheckKind.AUTOGRAD: autograd,
        CheckKind.VALUE_EXAMPLE: value_example,
        CheckKind.DEEP_CHAIN: deep_chain,
    }
