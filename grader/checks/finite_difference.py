"""A finite-difference estimate, judged by what it is rather than by one step size.

The exercise does not fix the student's step, so the grader recovers it: each component must be
reproduced by the asked scheme at some plausible step (``fd_steps``: recomputed here in float64
exactly as the notebook computes it, or on that step's difference-quotient grid) and lie within the
assignment's tolerance of the true gradient (the notebook's self-check: 1e-5). A genuine estimate
whose step was too large for that tolerance earns ``beyond_tolerance_credit`` of its share. The
exact derivative, another scheme (a forward difference handed in as the central one), a step
outside the plausible range and numbers that no step reproduces earn nothing, each with its reason.

``more_accurate_than`` is judged at the student's own step, and only where truncation error
dominates round-off there: a genuine central difference always is, so it never costs one.
"""

from __future__ import annotations

import enum
import functools
import math
import random
from dataclasses import dataclass
from typing import Sequence

from ..references import symbolic
from ..model import Question
from ..execution.probes import Observation, ProbeRequest, Unusable, as_vector
from ..results import PartResult
from .base import Probe, fmt, no_answer, point
from .fd_steps import EXACT, FORMULA, Component, Finding, Match, Step, candidate_steps, findings, rounding_dominates


class Scheme(str, enum.Enum):
    FORWARD = "forward"
    CENTRAL = "central"


@dataclass(frozen=True)
class Params:
    """The notebook variable ``variable`` must hold the ``scheme`` estimate of the gradient.

    ``h`` is the step the notebook suggests; any step in ``steps`` (low, high) is accepted.
    """

    variable: str
    expression: str
    variables: tuple[str, ...]
    point: tuple[float, ...]
    h: float
    scheme: Scheme
    more_accurate_than: Scheme | None = None
    steps: tuple[float, float] = (1e-12, 1e-2)
    abs_tol: float = 1e-5
    rel_tol: float = 0.0
    beyond_tolerance_credit: float = 0.5
    accept_backward: bool = True  # for a forward question: (f(x) - f(x-h)) / h is as good

    def __post_init__(self) -> None:
        symbolic.float_function(self.expression, self.variables)
        if len(self.point) != len(self.variables):
            raise ValueError(f"point has {len(self.point)} coordinates for {len(self.variables)} variables")
        low, high = self.steps
        if not 0 < low < high < 1:
            raise ValueError("steps must be [low, high] with 0 < low < high < 1")
        if not low <= self.h <= high:
            raise ValueError(f"h must lie within steps [{low:g}, {high:g}]")
        if self.more_accurate_than == self.scheme:
            raise ValueError("more_accurate_than must name a different scheme")
        if self.abs_tol < 0 or self.rel_tol < 0 or not 0 <= self.beyond_tolerance_credit <= 1:
            raise ValueError("abs_tol and rel_tol must be >= 0, beyond_tolerance_credit within [0, 1]")
        for c in components(self.expression, self.variables, self.point):
            if not math.isfinite(c.estimate(self.h, self.scheme.value)):
                raise ValueError(f"the {self.scheme.value} difference with h = {self.h:g} is not finite")


def parts(params: Params) -> tuple[str, ...]:
    return ("estimate",)


def plan(params: Params, rng: random.Random) -> list[Probe]:
    return [Probe("estimate", f"`{params.variable}`", ProbeRequest("value", (params.variable,)))]


@functools.lru_cache(maxsize=16)
def components(expression: str, variables: tuple[str, ...], at: tuple[float, ...]) -> tuple[Component, ...]:
    """Each partial derivative at ``at``, with what recognising a finite difference of it needs."""
    expr = symbolic.parse(expression, variables)
    fn = symbolic.float_function(expression, variables)
    scale = symbolic.scale_at(expr, variables, at)
    out = []
    for i, v in enumerate(variables):
        terms = symbolic.dependent_terms(expression, v)
        out.append(Component(
            fn, tuple(float(x) for x in at), i,
            exact=symbolic.value_at(symbolic.partial(expr, v), variables, at),
            curvature=symbolic.value_at(symbolic.partial(expr, v, 2), variables, at),
            scale=scale, exact_scale=symbolic.scale_at(symbolic.partial(expr, v), variables, at),
            partial=symbolic.float_function(terms, variables) if terms else None,
            partial_scale=symbolic.scale_at(symbolic.parse(terms, variables), variables, at) if terms else 0.0))
    return tuple(out)


@functools.lru_cache(maxsize=16)
def _steps(params: Params) -> tuple[tuple[list[Step], list[Step]], ...]:
    low, high = params.steps
    out = []
    for x in params.point:
        inside = candidate_steps(x, low, high, params.h)
        outside = [s for s in candidate_steps(x, 1e-16, 0.5, params.h) if s.value < low or s.value > high]
        out.append((inside, outside))
    return tuple(out)


NAMES = {"forward": "a forward difference", "central": "a central difference",
         "backward": "a backward difference", "central_no_half": "a central difference without the 1/2"}


def _findings(params: Params, got: Sequence[float], comps: Sequence[Component]) -> list[Finding]:
    """Classify every component, judged together (``fd_steps.findings``)."""
    return findings(got, comps, params.scheme.value, _steps(params), params.h)


def _display(finding: Finding, common: Sequence[float]) -> Match:
    """The match to name: bit for bit if any, at a step shared with the other components if any."""
    order = {h: k for k, h in enumerate(common)}
    return min(finding.matches, key=lambda m: (m.how not in EXACT, m.level, order.get(m.step, len(order))))


@dataclass(frozen=True)
class _Verdict:
    credit: float
    step: float | None
    problem: str | None  # None: correct
    compared: tuple[float, float] | None = None  # (own error, the other scheme's) where judged
    rounding: bool = False                       # round-off dominates at this step
    backward: bool = False                       # a backward difference, accepted as a forward one
    shared: str | None = None                    # an explanation said once for every component


def _judge_one(params: Params, i: int, g: float, c: Component, finding: Finding,
               common: Sequence[float]) -> _Verdict:
    asked = params.scheme.value
    name = f"component {i} (d/d{params.variables[i]})"
    low, high = params.steps
    tol = max(params.abs_tol, params.rel_tol * abs(c.exact))
    err = abs(g - c.exact)
    backward = (finding.kind == "scheme" and asked == "forward" and params.accept_backward
                and finding.matches[0].scheme == "backward")
    if finding.kind == "estimate" or backward:
        h = _display(finding, common).step
        if backward:
            return _Verdict(1.0 if err <= tol else params.beyond_tolerance_credit, h, None if err <= tol else (
                f"{name}: {fmt(g)} is a backward difference with h = {h:g}, but {err:.2g} from the gradient "
                f"{fmt(c.exact)}, more than the {tol:g} the notebook's self-check allows: use a smaller "
                f"step, such as h = {params.h:g}"), backward=True)
        if err > tol:
            return _Verdict(params.beyond_tolerance_credit, h, (
                f"{name}: {fmt(g)} is {NAMES[asked]} with h = {h:g}, but {err:.2g} from the gradient "
                f"{fmt(c.exact)}, more than the {tol:g} the notebook's self-check allows: use a smaller "
                f"step, such as h = {params.h:g}"))
        if params.more_accurate_than is None:
            return _Verdict(1.0, h, None)
        other = params.more_accurate_than.value
        other_err = abs(c.estimate(h, other) - c.exact)
        if rounding_dominates(c, h):
            return _Verdict(1.0, h, None, rounding=True)
        if not err < other_err:
            return _Verdict(params.beyond_tolerance_credit, h, (
                f"{name}: {fmt(g)} is not more accurate than {NAMES[other]} with the same h = {h:g} "
                f"(error {err:.2g} against {other_err:.2g})"))
        return _Verdict(1.0, h, None, (err, other_err))
    expected = c.estimate(params.h, asked)
    shared = None
    if finding.kind == "exact":
        why = f"got {fmt(g)}, the exact derivative, not a finite-difference estimate"
        shared = f"compute each component from calls to f, as {FORMULA[asked]}"
    elif finding.kind == "scheme":
        m = _display(finding, common)
        why = (f"got {fmt(g)}, which is {NAMES[m.scheme]} {FORMULA[m.scheme]} with h = {m.step:g}, not "
               f"{NAMES[asked]} {FORMULA[asked]}")
    elif finding.kind == "range":
        m = finding.matches[0]
        scheme = NAMES[m.scheme] + ("" if m.scheme == asked else f" (not {NAMES[asked]})")
        why = (f"got {fmt(g)}, which is {scheme} with h = {m.step:g}, outside the plausible steps "
               f"{low:g} to {high:g}: use a step such as h = {params.h:g}")
    else:
        why = f"expected {fmt(expected)}, got {fmt(g)}, which no such step reproduces"
        shared = f"the expected values are {NAMES[asked]} with h = {params.h:g}"
        if math.isfinite(g) and err <= tol:
            why += f" (it is {err:.1g} from the exact derivative)"
            shared += (": numbers typed in or computed another way are not an estimate, compute them "
                       "from calls to f")
    return _Verdict(0.0, None, f"{name} {why}" if why.startswith("expected") else f"{name}: {why}",
                    shared=shared)


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
    comps = components(params.expression, params.variables, params.point)
    findings = _findings(params, got, comps)
    exact = [m.step for f in findings if f.kind == "estimate" for m in f.matches if m.how in EXACT]
    shared = [m.step for f in findings if f.kind == "estimate" for m in f.matches]
    common = sorted(set(shared), key=lambda h: (h != params.h, -exact.count(h), -shared.count(h), h))
    verdicts = [_judge_one(params, i, g, c, f, common)
                for i, (g, c, f) in enumerate(zip(got, comps, findings))]
    score = points * sum(v.credit for v in verdicts) / len(verdicts)
    scheme = f"{params.scheme.value} difference at {point(params.point)}"
    steps = sorted({v.step for v in verdicts if v.step is not None})
    if all(v.problem is None for v in verdicts):
        used = f"h = {steps[0]:g}" if len(steps) == 1 else "steps " + ", ".join(
            f"{v.step:g}" for v in verdicts)
        message = f"{what} is a correct {scheme} with {used}"
        if any(v.backward for v in verdicts):
            message += (" (a backward difference, (f(x) - f(x-h)) / h: as accurate as the forward one "
                        "the notebook asks for)")
        if params.more_accurate_than is not None:
            other = NAMES[params.more_accurate_than.value]
            compared = [v.compared for v in verdicts if v.compared]
            if compared:
                message += (f", more accurate than {other} with the same step (its largest error "
                            f"{max(e for e, _ in compared):.1g}; the forward difference's smallest "
                            f"{min(o for _, o in compared):.1g})")
            elif any(v.rounding for v in verdicts):
                message += (f"; at {'that step' if len(steps) == 1 else 'some of those steps'} round-off "
                            f"outweighs truncation, so it is no more accurate than {other} there: a step "
                            f"near 1e-5 shows the difference")
        return [PartResult("estimate", score, points, message)]
    tol = params.abs_tol
    details = "; ".join(v.problem for v in verdicts if v.problem)
    said = list(dict.fromkeys(v.shared for v in verdicts if v.shared))  # each explanation once
    if said:
        details += " -- " + "; ".join(said)
    message = (f"{what} should be the {scheme} (any step from {params.steps[0]:g} to {params.steps[1]:g}, "
               f"for example h = {params.h:g}, within {tol:g} of the gradient): {details}")
    return [PartResult("estimate", score, points, message)]
