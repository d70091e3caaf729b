"""A student's gradient function against SymPy's gradient, at the published and hidden points."""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from typing import Mapping, Sequence

from ..references import symbolic
from ..model import Question
from ..execution.probes import Observation, ProbeRequest, Unusable, as_vector
from ..results import PartResult
from .base import Probe, fmt, hidden_part, no_answer, point


@dataclass(frozen=True)
class Params:
    """``function(*point)`` must return the gradient of ``expression`` over ``variables``."""

    function: str
    expression: str
    variables: tuple[str, ...]
    point: tuple[float, ...]
    domain: Mapping[str, tuple[float, float]]
    hidden_points: int = 5
    rel_tol: float = 1e-6
    abs_tol: float = 1e-6

    def __post_init__(self) -> None:
        expr = symbolic.parse(self.expression, self.variables)
        if len(self.point) != len(self.variables):
            raise ValueError(f"point has {len(self.point)} coordinates for {len(self.variables)} variables")
        if set(self.domain) != set(self.variables):
            raise ValueError(f"domain must give a [low, high] range for each of {list(self.variables)}")
        if any(lo >= hi for lo, hi in self.domain.values()):
            raise ValueError("each domain range must be [low, high] with low < high")
        if self.hidden_points < 0:
            raise ValueError("hidden_points must be >= 0")
        symbolic.gradient_at(expr, self.variables, self.point)  # must be finite at the point


def parts(params: Params) -> tuple[str, ...]:
    return ("published", "hidden") if params.hidden_points else ("published",)


def _draw(params: Params, rng: random.Random) -> tuple[float, ...]:
    expr = symbolic.parse(params.expression, params.variables)
    for _ in range(100):
        candidate = tuple(round(rng.uniform(*params.domain[v]), 6) for v in params.variables)
        try:
            symbolic.gradient_at(expr, params.variables, candidate)
        except ValueError:
            continue
        return candidate
    raise ValueError(f"could not draw a point where {params.expression} is differentiable")


def plan(params: Params, rng: random.Random) -> list[Probe]:
    probes = [Probe("published", f"the published point {point(params.point)}",
                    ProbeRequest("call", (params.function, list(params.point))), params.point)]
    for i in range(params.hidden_points):
        x = _draw(params, rng)
        probes.append(Probe("hidden", f"hidden point {point(x)}",
                            ProbeRequest("call", (params.function, list(x))), x))
    return probes


def _components(params: Params) -> list[str]:
    return [f"d{params.function.removeprefix('grad') or 'f'}/d{v}" for v in params.variables]


def _compare(params: Params, at: Sequence[float], value: object) -> tuple[list[float], list[float], list[bool]]:
    expr = symbolic.parse(params.expression, params.variables)
    expected = symbolic.gradient_at(expr, params.variables, at)
    got = as_vector(value, len(params.variables), f"{params.function}(...)")
    ok = [symbolic.close(g, e, params.rel_tol, params.abs_tol) for g, e in zip(got, expected)]
    return expected, got, ok


def _wrong(names: Sequence[str], expected: Sequence[float], got: Sequence[float],
           ok: Sequence[bool]) -> str | None:
    """The wrong components, each with its expected and actual value; None when all are right."""
    wrong = [f"{names[i]} expected {fmt(expected[i])}, got {fmt(got[i])}" for i, good in enumerate(ok)
             if not good]
    return "; ".join(wrong) or None


def judge(question: Question, probes: Sequence[Probe], observations: Sequence[Observation]) -> list[PartResult]:
    params: Params = question.params
    names = _components(params)
    call = f"{params.function}{point(params.point)}"
    results = []
    pub_points = question.points * question.credit["published"]
    obs = observations[0]
    if not obs.ok:
        results.append(PartResult("published", 0.0, pub_points, no_answer(obs, call), answered=False))
    else:
        try:
            expected, got, ok = _compare(params, params.point, obs.value)
        except Unusable as exc:
            results.append(PartResult("published", 0.0, pub_points, f"unusable answer: {exc}"))
        else:
            wrong = _wrong(names, expected, got, ok)
            message = f"{call} is correct" if wrong is None else f"{call}: {wrong}"
            results.append(PartResult("published", pub_points * sum(ok) / len(ok), pub_points, message))
    if "hidden" in question.credit:
        def one(probe: Probe, o: Observation) -> tuple[float, str | None]:
            expected, got, ok = _compare(params, probe.inputs, o.value)
            return sum(ok) / len(ok), _wrong(names, expected, got, ok)
        hidden = hidden_part("hidden", question.points * question.credit["hidden"],
                             probes[1:], observations[1:], one, params.function)
        answers = [o.value for o in observations if o.ok]
        if hidden.score < hidden.max_score and len(answers) > 2 and all(a == answers[0] for a in answers):
            hidden = dataclasses.replace(hidden, message=hidden.message + (
                f"; `{params.function}` returns the same values at every point: it must compute the "
                f"gradient from its arguments, not return fixed numbers"))
        results.append(hidden)
    return results
