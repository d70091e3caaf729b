"""The student's ``Value`` and ``softmax``: negative log-likelihood loss and its gradient.

Published part: the notebook's own example, rebuilt from fresh ``Value`` objects by the grader (the
notebook's variables are not trusted). Hidden part: random logits and labels through the student's
``softmax``, and random expression graphs over the operations the question covers, each with a node
used twice, so that ``=`` where ``+=`` belongs is caught. References: the grader's own arithmetic
and SymPy.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Sequence

from .. import graphs, references
from ..config import Question
from ..probes import Observation, ProbeRequest, Unusable, as_number, as_vector
from ..results import PartResult
from .base import Probe, fmt, hidden_part, no_answer, raised_in_graph


@dataclass(frozen=True)
class Params:
    """Names of the student's class and function, the published example, and the hidden budget."""

    logits: tuple[float, ...]
    label: int
    value_class: str = "Value"
    softmax: str = "softmax"
    hidden_cases: int = 3
    hidden_graphs: int = 3
    ops: tuple[str, ...] = ("add", "addc", "radd", "div", "neg", "exp", "log")
    rel_tol: float = 1e-6
    abs_tol: float = 1e-6

    def __post_init__(self) -> None:
        if not 0 <= self.label < len(self.logits):
            raise ValueError(f"label {self.label} is not an index into {len(self.logits)} logits")
        unknown = [op for op in self.ops if op not in graphs.OPS]
        if unknown:
            raise ValueError(f"unknown ops {unknown}; known: {', '.join(graphs.OPS)}")
        if self.hidden_cases < 0 or self.hidden_graphs < 0:
            raise ValueError("hidden_cases and hidden_graphs must be >= 0")


def parts(params: Params) -> tuple[str, ...]:
    return ("published", "hidden") if params.hidden_cases + params.hidden_graphs else ("published",)


def _request(params: Params, logits: Sequence[float], label: int) -> ProbeRequest:
    return ProbeRequest("softmax_nll", (params.value_class, params.softmax, list(logits), label))


def plan(params: Params, rng: random.Random) -> list[Probe]:
    probes = [Probe("published", "the published logits", _request(params, params.logits, params.label),
                    (list(params.logits), params.label))]
    for _ in range(params.hidden_cases):
        n = rng.randint(2, 6)
        logits = [round(rng.uniform(-4.0, 4.0), 4) for _ in range(n)]
        label = rng.randrange(n)
        probes.append(Probe("hidden", f"hidden logits {fmt(logits)} with label {label}",
                            _request(params, logits, label), (logits, label)))
    for _ in range(params.hidden_graphs):
        nodes = graphs.random_graph(params.ops, rng)
        listing = "; ".join(f"n{i} = {graphs.describe(n)}" for i, n in enumerate(nodes))
        if len(listing) > 240:
            listing = listing[:237] + "..."
        probes.append(Probe("hidden", f"the expression graph [{listing}]",
                            ProbeRequest("graph", (params.value_class, nodes)), nodes))
    return probes


def _softmax_problems(params: Params, inputs: tuple[list[float], int], value: object) -> list[str]:
    logits, label = inputs
    if type(value) is not dict:
        raise Unusable("the result is not a mapping")
    loss, _probs, grad = references.softmax_nll(logits, label)
    got_loss = as_number(value.get("loss"), "loss.data")
    got_grad = as_vector(value.get("grad"), len(logits), "the logits' grads")
    problems = []
    if not references.close(got_loss, loss, params.rel_tol, params.abs_tol):
        problems.append(f"loss.data expected {fmt(loss)}, got {fmt(got_loss)}")
    for i, (g, e) in enumerate(zip(got_grad, grad)):
        if not references.close(g, e, params.rel_tol, params.abs_tol):
            problems.append(f"logits[{i}].grad expected {fmt(e)}, got {fmt(g)}")
    return problems


def _graph_problem(params: Params, nodes: list[list[object]], obs: Observation) -> str | None:
    value = obs.value
    if type(value) is not dict:
        raise Unusable("the result is not a mapping")
    data, grads = graphs.reference(nodes)
    got_data = as_vector(value.get("data"), len(nodes), "node values")
    got_grads = as_vector(value.get("grad"), len(grads), "leaf grads")
    for i, (g, e) in enumerate(zip(got_data, data)):
        if not references.close(g, e, params.rel_tol, params.abs_tol):
            return f"n{i} = {graphs.describe(nodes[i])} has .data {fmt(g)}, expected {fmt(e)}"
    for i, (g, e) in enumerate(zip(got_grads, grads)):
        if not references.close(g, e, params.rel_tol, params.abs_tol):
            return (f"leaf n{i}.grad expected {fmt(e)}, got {fmt(g)} (a node used twice must "
                    f"accumulate its gradient with +=)")
    return None


def judge(question: Question, probes: Sequence[Probe], observations: Sequence[Observation]) -> list[PartResult]:
    params: Params = question.params
    results = []
    pub_points = question.points * question.credit["published"]
    obs = observations[0]
    what = f"`{params.softmax}` on `{params.value_class}` logits {fmt(list(params.logits))}"
    if not obs.ok:
        results.append(PartResult("published", 0.0, pub_points, no_answer(obs, what), answered=False))
    else:
        try:
            problems = _softmax_problems(params, probes[0].inputs, obs.value)
        except Unusable as exc:
            results.append(PartResult("published", 0.0, pub_points, f"unusable answer: {exc}"))
        else:
            checked = len(params.logits) + 1
            share = (checked - len(problems)) / checked
            message = ("loss and all gradients are correct" if not problems else "; ".join(problems))
            results.append(PartResult("published", pub_points * share, pub_points, message))
    if "hidden" in question.credit:
        def one(probe: Probe, o: Observation) -> str | None:
            if probe.request.task == "graph":
                return _graph_problem(params, probe.inputs, o)
            problems = _softmax_problems(params, probe.inputs, o.value)
            return "; ".join(problems[:3]) if problems else None

        def explain(probe: Probe, o: Observation) -> str | None:
            if probe.request.task != "graph":
                return raised_in_graph(o, lambda i: "the loss") if o.recursion else None
            nodes = probe.inputs
            return raised_in_graph(o, lambda i: f"n{i} = {graphs.describe(nodes[i])}")

        results.append(hidden_part("hidden", question.points * question.credit["hidden"],
                                   probes[1:], observations[1:], one, f"your `{params.value_class}`",
                                   explain))
    return results
