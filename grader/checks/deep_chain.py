"""``backward()`` on a chain thousands of operations deep, under Python's default recursion limit.

The kernel builds ``v = v * m + a`` from one leaf, ``steps`` times, with hidden constants cycled
from short lists, and calls ``backward()`` with the recursion limit no higher than
``recursion_limit``: a recursive topological sort overflows, and the message says so. The reference
is the grader's own float arithmetic: the output is the same recurrence, the leaf's gradient the
product of the multipliers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Sequence

from ..references import symbolic
from ..model import Question
from ..execution.probes import Observation, ProbeRequest, Unusable, as_number
from ..results import PartResult
from .base import Probe, fmt, hidden_part, raised_in_graph


@dataclass(frozen=True)
class Params:
    """Chain length, how many hidden chains, the recursion limit the probe runs under."""

    steps: int = 1500
    chains: int = 2
    value_class: str = "Value"
    recursion_limit: int = 1000
    rel_tol: float = 1e-9
    abs_tol: float = 1e-12

    def __post_init__(self) -> None:
        if self.steps < 1 or self.chains < 1:
            raise ValueError("steps and chains must be >= 1")
        if not 100 <= self.recursion_limit <= 100_000:
            raise ValueError("recursion_limit must be between 100 and 100000")


def parts(params: Params) -> tuple[str, ...]:
    return ("chain",)


def plan(params: Params, rng: random.Random) -> list[Probe]:
    probes = []
    for _ in range(params.chains):
        x = round(rng.uniform(-2.0, 2.0), 4)
        mults = [round(rng.uniform(0.999, 1.001) * rng.choice([1, 1, -1]), 6) for _ in range(5)]
        adds = [round(rng.uniform(-0.01, 0.01), 6) for _ in range(3)]
        label = (f"the chain v = v * m + a, {params.steps} links from Value({x!r}) "
                 f"(m cycling through {fmt(mults)}, a through {fmt(adds)})")
        request = ProbeRequest("chain", (params.value_class, x, mults, adds, params.steps,
                                         params.recursion_limit))
        probes.append(Probe("chain", label, request, (x, mults, adds)))
    return probes


def reference(x: float, mults: Sequence[float], adds: Sequence[float], steps: int) -> tuple[float, float]:
    """The chain's output and d output / d x."""
    v, grad = x, 1.0
    for i in range(steps):
        m = mults[i % len(mults)]
        v = v * m + adds[i % len(adds)]
        grad *= m
    return v, grad


def judge(question: Question, probes: Sequence[Probe], observations: Sequence[Observation]) -> list[PartResult]:
    params: Params = question.params
    depth = 2 * params.steps

    def one(probe: Probe, obs: Observation) -> str | None:
        if type(obs.value) is not dict:
            raise Unusable("the result is not a mapping")
        x, mults, adds = probe.inputs
        data, grad = reference(x, mults, adds, params.steps)
        got_data = as_number(obs.value.get("data"), "the output's .data")
        got_grad = as_number(obs.value.get("grad"), "the leaf's .grad")
        problems = []
        if not symbolic.close(got_data, data, params.rel_tol, params.abs_tol):
            problems.append(f"the output's .data expected {fmt(data)}, got {fmt(got_data)}")
        if not symbolic.close(got_grad, grad, params.rel_tol, params.abs_tol):
            problems.append(f"the leaf's .grad expected {fmt(grad)}, got {fmt(got_grad)} (does backward() "
                            f"visit every node of a long chain exactly once?)")
        return "; ".join(problems) or None

    def explain(probe: Probe, obs: Observation) -> str | None:
        why = raised_in_graph(obs, lambda i: "the leaf Value" if i == 0 else
                              f"link {i} of the chain (v * m + a)")
        if obs.recursion:
            return f"on a chain {depth} operations deep, {why}"
        return why

    return [hidden_part("chain", question.points, probes, observations, one,
                        f"backward() on a chain {depth} operations deep", explain)]
