"""Checks: each check kind turns a question's params into probes, and observations into points.

A check kind is one module here that provides the four names of :class:`.kind.Check`: ``Params``
(a frozen dataclass read from ``assignments.yml``), ``parts(params)`` (the names of its credit
parts), ``plan(params, rng)`` (the probes to run, hidden inputs drawn from ``rng`` after the
notebook ran) and ``judge(question, probes, observations)`` (pure: references are computed here in
the grader, never in the kernel). :func:`registry` maps each :class:`~grader.model.CheckKind` to its
module, and mypy checks every module against the protocol. May import the shared basics, the
model, ``references`` and ``execution.probes`` (the probe protocol); never the config parser,
grading or the gradebook.
"""

from __future__ import annotations

import functools

from ..model import CheckKind
from .kind import Check


@functools.cache
def registry() -> dict[CheckKind, Check]:
    """Every check kind and the module that implements it."""
    from . import accuracy, analytic_gradient, autograd, deep_chain, finite_difference
    from . import mlp, probability, softmax_nll, training, value_example

    kinds: dict[CheckKind, Check] = {
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
    return kinds
