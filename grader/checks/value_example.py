"""A worked example (micrograd's README, the tanh neuron, ``b = a + a``) built from fresh ``Value``s.

The grader's probe rebuilds the example from the student's class at the published inputs and at
hidden inputs drawn after the notebook ran; the notebook's own variables are never read. Scores
compare the output's ``.data`` and every input's ``.grad`` with SymPy; a wrong answer's message says
which line of the example first goes wrong.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ..references import graphs
from ..model import Question
from ..references.examples import EXAMPLES, Example
from ..execution.probes import Observation, ProbeRequest, Unusable
from ..results import PartResult
from .autograd import explain, judge_graph
from .base import Probe, hidden_part, no_answer


@dataclass(frozen=True)
class Params:
    """Which example, its published inputs, where hidden inputs are drawn, and the tolerances."""

    example: str
    inputs: Mapping[str, float]
    domain: Mapping[str, tuple[float, float]]
    hidden_points: int = 3
    value_class: str = "Value"
    rel_tol: float = 1e-6
    abs_tol: float = 1e-6

    def __post_init__(self) -> None:
        if self.example not in EXAMPLES:
            raise ValueError(f"unknown example {self.example!r}; known: {', '.join(EXAMPLES)}")
        names = set(EXAMPLES[self.example].inputs)
        if set(self.inputs) != names or set(self.domain) != names:
            raise ValueError(f"inputs and domain must each give every input of {self.example}: "
                             f"{', '.join(EXAMPLES[self.example].inputs)}")
        if any(lo >= hi for lo, hi in self.domain.values()):
            raise ValueError("each domain range must be [low, high] with low < high")
        if self.hidden_points < 0:
            raise ValueError("hidden_points must be >= 0")
        graphs.evaluate(EXAMPLES[self.example].nodes(self.inputs))  # finite at the published inputs


def parts(params: Params) -> tuple[str, ...]:
    return ("published", "hidden") if params.hidden_points else ("published",)


def _well_conditioned(nodes: list[list[Any]]) -> bool:
    """Away from relu's kink and small divisors, not huge, and with gradients worth checking."""
    try:
        data = graphs.evaluate(nodes)
    except ValueError:
        return False
    for node in nodes:
        op = node[0]
        if op == "relu" and abs(data[node[1]]) < 0.05:
            return False
        divisor = data[node[2]] if op == "div" else data[node[1]] if op == "rdiv" else None
        if divisor is not None and abs(divisor) < 0.1:
            return False
    if max(abs(v) for v in data) > 1e6:
        return False
    grads, _ = graphs.backprop(nodes, data)
    leaves = [g for g, n in zip(grads, nodes) if n[0] == "leaf"]
    return all(math.isfinite(g) for g in leaves) and max(abs(g) for g in leaves) > 0.01


def _branches(nodes: list[list[Any]]) -> tuple[bool, ...]:
    """Which side of zero each relu's input is on: the example's structure, kept by hidden draws."""
    data = graphs.evaluate(nodes)
    return tuple(data[n[1]] > 0 for n in nodes if n[0] == "relu")


def _draw(params: Params, example: Example, rng: random.Random) -> dict[str, float]:
    """Hidden inputs with every relu on the same side of zero as at the published inputs, so that
    a mistake on one side of a relu costs the same every run; only the numbers differ."""
    branches = _branches(example.nodes(dict(params.inputs)))
    for _ in range(2000):
        point = {n: round(rng.uniform(*params.domain[n]), 4) for n in example.inputs}
        nodes = example.nodes(point)
        if _well_conditioned(nodes) and _branches(nodes) == branches:
            return point
    raise ValueError(f"could not draw well-conditioned inputs for {params.example} in {dict(params.domain)}")


def _with(example: Example, point: Mapping[str, float]) -> str:
    return ", ".join(f"{n} = {point[n]!r}" for n in example.inputs)


def plan(params: Params, rng: random.Random) -> list[Probe]:
    example = EXAMPLES[params.example]
    points = [dict(params.inputs)] + [_draw(params, example, rng) for _ in range(params.hidden_points)]
    return [Probe("published" if k == 0 else "hidden", f"{'' if k == 0 else 'hidden inputs '}{_with(example, p)}",
                  ProbeRequest("autograd", (params.value_class, example.nodes(p))), example.nodes(p))
            for k, p in enumerate(points)]


def judge(question: Question, probes: Sequence[Probe], observations: Sequence[Observation]) -> list[PartResult]:
    params: Params = question.params
    example = EXAMPLES[params.example]
    labels = example.labels
    results = []
    pub_points = question.points * question.credit["published"]
    probe, obs = probes[0], observations[0]
    what = f"the example with {probe.label}"
    if not obs.ok:
        why = explain_example(example, probe, obs) or no_answer(obs, what)
        results.append(PartResult("published", 0.0, pub_points, f"with {probe.label}: {why}", answered=False))
    else:
        try:
            verdict = judge_graph(probe.inputs, obs.value, params.rel_tol, params.abs_tol, labels,
                                  example.output)
        except Unusable as exc:
            results.append(PartResult("published", 0.0, pub_points, f"unusable answer: {exc}"))
        else:
            share = (verdict.checked - len(verdict.wrong)) / verdict.checked
            if verdict.problem is None:
                message = (f"with {probe.label}: {example.output}.data and "
                           f"{', '.join(n + '.grad' for n in example.inputs)} are correct")
            else:
                message = f"with {probe.label}: {verdict.problem}"
            results.append(PartResult("published", pub_points * share, pub_points, message))
    if "hidden" in question.credit:
        def one(p: Probe, o: Observation) -> tuple[float, str | None]:
            verdict = judge_graph(p.inputs, o.value, params.rel_tol, params.abs_tol, labels, example.output)
            return (verdict.checked - len(verdict.wrong)) / verdict.checked, verdict.problem

        results.append(hidden_part("hidden", question.points * question.credit["hidden"], probes[1:],
                                   observations[1:], one, f"your `{params.value_class}`",
                                   lambda p, o: explain_example(example, p, o)))
    return results


def explain_example(example: Example, probe: Probe, obs: Observation) -> str | None:
    """Why the example raised, naming its line (``c += c + 1``) rather than a node number."""
    if obs.node is not None and obs.node >= 0 and not obs.recursion:
        op = example.template[obs.node][0]
        needs = "" if op == "leaf" else f" (needs {graphs.syntax(op)})"
        return f"raised {obs.detail} while computing {example.labels[obs.node]}{needs}"
    return explain(probe.inputs)(probe, obs)

