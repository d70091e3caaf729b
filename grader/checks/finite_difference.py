"""A finite-difference estimate checked against the scheme's own expected value and error bound.

The expected value of a forward estimate is f' + h f''/2 (central: f'), and the tolerance is the
next truncation term plus round-off, both from SymPy's higher derivatives at the point. So a correct
estimate passes, while a wrong step, a wrong formula or the exact derivative typed in does not.
"""

from __future__ import annotations

import enum
import math
import random
from dataclasses import dataclass
from typing import Sequence

from .. import references
from ..config import Question
from ..probes import Observation, ProbeRequest, Unusable, as_vector
from ..results import PartResult
from .base import Probe, fmt, no_answer, point


class Scheme(str, enum.Enum):
    FORWARD = "forward"
    CENTRAL = "central"


@dataclass(frozen=True)
class Params:
    """The notebook variable ``variable`` must hold the ``scheme`` estimate of the gradient."""

    variable: str
    expression: str
    variables: tuple[str, ...]
    point: tuple[float, ...]
    h: float
    scheme: Scheme
    more_accurate_than: Scheme | None = None
    safety: float = 4.0

    def __post_init__(self) -> None:
        expr = references.parse(self.expression, self.variables)
        if len(self.point) != len(self.variables):
            raise ValueError(f"point has {len(self.point)} coordinates for {len(self.variables)} variables")
        if not 0 < self.h < 1:
            raise ValueError("h must be between 0 and 1")
        if self.more_accurate_than == self.scheme:
            raise ValueError("more_accurate_than must name a different scheme")
        for i in range(len(self.variables)):
            references.difference_expectation(expr, self.variables, self.point, i, self.h,
                                              self.scheme.value)


def parts(params: Params) -> tuple[str, ...]:
    return ("estimate",)


def plan(params: Params, rng: random.Random) -> list[Probe]:
    return [Probe("estimate", f"`{params.variable}`", ProbeRequest("value", (params.variable,)))]


def _diagnose(params: Params, got: float, e: references.DifferenceExpectation) -> str:
    """A guess at what the student computed instead, when the guess is clear."""
    err = got - e.exact
    if not math.isfinite(got) or abs(err) > 0.5 * abs(e.exact):
        return ""  # too far off to be any finite difference of f
    if abs(err) <= e.tolerance / params.safety:
        return " (that is the exact derivative, not a finite-difference estimate)"
    if params.scheme is Scheme.FORWARD:
        backward = e.exact - params.h * e.curvature / 2
        if abs(got - backward) <= e.tolerance:
            return " (that is a backward difference, f(x) - f(x-h), not a forward one)"
        if e.curvature and err / e.curvature > 0:
            step = 2 * err / e.curvature
            if step > 10 * params.h or step < params.h / 10:
                return f" (that looks like a forward difference with h = {step:.1g}, not {params.h:g})"
    elif e.third and err / e.third > 0:
        step = math.sqrt(6 * err / e.third)
        if step > 10 * params.h:
            return f" (that looks like a central difference with h = {step:.1g}, not {params.h:g})"
    if params.scheme is Scheme.CENTRAL:
        forward = e.exact + params.h * e.curvature / 2
        if abs(got - forward) <= e.tolerance:
            return " (that is the forward estimate, not the symmetric one)"
    return ""


def judge(question: Question, probes: Sequence[Probe], observations: Sequence[Observation]) -> list[PartResult]:
    params: Params = question.params
    points = question.points
    obs = observations[0]
    what = f"`{params.variable}`"
    if not obs.ok:
        return [PartResult("estimate", 0.0, points, no_answer(obs, what), answered=False)]
    try:
        got = as_vector(obs.value, len(params.variables), params.variable)
    except Unusable as exc:
        return [PartResult("estimate", 0.0, points, f"unusable answer: {exc}")]
    expr = references.parse(params.expression, params.variables)
    expect = [references.difference_expectation(expr, params.variables, params.point, i, params.h,
                                                 params.scheme.value, params.safety)
              for i in range(len(params.variables))]
    ok = [math.isfinite(g) and abs(g - e.expected) <= e.tolerance for g, e in zip(got, expect)]
    scheme = f"{params.scheme.value} difference with h = {params.h:g} at {point(params.point)}"
    wrong = [i for i, good in enumerate(ok) if not good]
    if params.more_accurate_than is not None and any(ok):
        other = [references.difference_expectation(expr, params.variables, params.point, i, params.h,
                                                   params.more_accurate_than.value, params.safety)
                 for i in range(len(params.variables))]
        own_error = math.hypot(*(g - e.exact for g, e in zip(got, expect)))
        other_error = math.hypot(*(o.expected - o.exact for o in other))
        if not own_error < other_error / 2:
            return [PartResult("estimate", 0.0, points,
                               f"{what} is not more accurate than a {params.more_accurate_than.value} "
                               f"difference with the same h (error {own_error:.2g} vs "
                               f"{other_error:.2g}); compute the {params.scheme.value} estimate")]
    if not wrong:
        return [PartResult("estimate", points, points, f"{what} is a correct {scheme}")]
    details = "; ".join(
        f"component {i} (d/d{params.variables[i]}) expected {fmt(expect[i].expected)} "
        f"± {expect[i].tolerance:.1g}, got {fmt(got[i])}{_diagnose(params, got[i], expect[i])}"
        for i in wrong)
    return [PartResult("estimate", points * sum(ok) / len(ok), points,
                       f"{what} should be the {scheme}: {details}")]
