"""The student's ``Value`` and ``softmax``: negative log-likelihood loss and its gradient.

Published part: the notebook's own example, rebuilt from fresh ``Value`` objects by the grader (the
notebook's variables are not trusted). Hidden part, a fixed battery with drawn numbers, one point
share per case: ``hidden_cases`` softmax cases (random logits of fixed lengths, random label) and
every operation the question covers alone, plus each binary one with a node used twice (``ops``
module), so that ``=`` where ``+=`` belongs is caught. Further operations the student's class may
build those from (``*``, ``**``, ``-``) are probed too, for no points, to name the real bug when a
case fails. References: the grader's own arithmetic and SymPy.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from typing import Sequence

from ..references import graphs, symbolic
from ..model import Question
from ..execution.probes import Observation, ProbeRequest, Unusable, as_number, as_vector
from ..results import PartResult
from . import ops as battery
from .base import Probe, fmt, hidden_part, no_answer, raised_in_graph


@dataclass(frozen=True)
class Params:
    """Names of the student's class and function, the published example, and the hidden budget."""

    logits: tuple[float, ...]
    label: int
    value_class: str = "Value"
    softmax: str = "softmax"
    hidden_cases: int = 3
    hidden_graphs: int = 0  # fixed graphs mixing the ops (graphs.fixed_graph), one point share each
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


DIAGNOSTIC = ("add", "addc", "mul", "mulc", "rmul", "pow", "sub", "rdiv", "divc", "neg", "exp", "log")
LENGTHS = (3, 5, 4, 2, 6)  # logits per hidden softmax case, in order: fixed, so the battery is


def parts(params: Params) -> tuple[str, ...]:
    return ("published", "hidden") if params.hidden_cases + len(params.ops) else ("published",)


def _request(params: Params, logits: Sequence[float], label: int) -> ProbeRequest:
    return ProbeRequest("softmax_nll", (params.value_class, params.softmax, list(logits), label))


def plan(params: Params, rng: random.Random) -> list[Probe]:
    probes = [Probe("published", "the published logits", _request(params, params.logits, params.label),
                    (list(params.logits), params.label))]
    for k in range(params.hidden_cases):
        n = LENGTHS[k % len(LENGTHS)]
        logits = [round(rng.uniform(-4.0, 4.0), 4) for _ in range(n)]
        label = rng.randrange(n)
        probes.append(Probe("hidden", f"hidden logits {fmt(logits)} with label {label}",
                            _request(params, logits, label), (logits, label)))
    for k in range(params.hidden_graphs):
        nodes = graphs.fixed_graph(params.ops, rng, k)
        probes.append(Probe("hidden", f"the expression graph\n```python\n{graphs.as_code(nodes)}\n```\n",
                            ProbeRequest("graph", (params.value_class, nodes)), nodes))
    for case in battery.battery(params.ops, rng):
        probes.append(Probe("hidden", battery.label(case), battery.request(params.value_class, case), case))
    extra = [op for op in DIAGNOSTIC if op not in params.ops]
    for case in battery.battery(extra, rng):
        probes.append(Probe("diagnose", battery.label(case), battery.request(params.value_class, case), case))
    return probes


def _softmax_problems(params: Params, inputs: tuple[list[float], int], value: object) -> list[str]:
    logits, label = inputs
    if type(value) is not dict:
        raise Unusable("the result is not a mapping")
    loss, _probs, grad = symbolic.softmax_nll(logits, label)
    got_loss = as_number(value.get("loss"), "loss.data")
    got_grad = as_vector(value.get("grad"), len(logits), "the logits' grads")
    problems = []
    if not symbolic.close(got_loss, loss, params.rel_tol, params.abs_tol):
        problems.append(f"loss.data expected {fmt(loss)}, got {fmt(got_loss)}")
    for i, (g, e) in enumerate(zip(got_grad, grad)):
        if not symbolic.close(g, e, params.rel_tol, params.abs_tol):
            problems.append(f"logits[{i}].grad expected {fmt(e)}, got {fmt(g)}")
    return problems


def _graph_problem(params: Params, nodes: list[list[object]], obs: Observation) -> tuple[float, str | None]:
    """The share of the output's .data and the leaves' grads that are right, and the first problem."""
    value = obs.value
    if type(value) is not dict:
        raise Unusable("the result is not a mapping")
    data, grads = graphs.reference(nodes)
    got_data = as_vector(value.get("data"), len(nodes), "node values")
    got_grads = as_vector(value.get("grad"), len(grads), "leaf grads")
    problems = [f"n{i} = {graphs.describe(nodes[i])} has .data {fmt(g)}, expected {fmt(e)}"
                for i, (g, e) in enumerate(zip(got_data, data))
                if not symbolic.close(g, e, params.rel_tol, params.abs_tol)]
    out_wrong = not symbolic.close(got_data[-1], data[-1], params.rel_tol, params.abs_tol)
    wrong_grads = [f"leaf n{i}.grad expected {fmt(e)}, got {fmt(g)}" for i, (g, e) in enumerate(zip(got_grads, grads))
                   if not symbolic.close(g, e, params.rel_tol, params.abs_tol)]
    share = 1 - (out_wrong + len(wrong_grads)) / (1 + len(grads))
    return share, (problems + wrong_grads)[0] if problems or wrong_grads else None


def _diagnoses(params: Params, probes: Sequence[Probe], observations: Sequence[Observation]) -> list[str]:
    """Every failing one-operation case (scored or diagnostic), root causes first."""
    verdicts = [(p.inputs, battery.judge_case(p.inputs, o, params.rel_tol, params.abs_tol))
                for p, o in zip(probes, observations)
                if isinstance(p.inputs, battery.Case) and (p.part == "hidden" or battery.implemented(o))]
    return battery.root_causes(verdicts)


def judge(question: Question, probes: Sequence[Probe], observations: Sequence[Observation]) -> list[PartResult]:
    params: Params = question.params
    results = []
    causes = _diagnoses(params, probes, observations)
    cause = f" -- the cause: {'; '.join(causes)}" if causes else ""
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
            message = ("loss and all gradients are correct" if not problems else "; ".join(problems) + cause)
            results.append(PartResult("published", pub_points * share, pub_points, message))
    if "hidden" in question.credit:
        def one(probe: Probe, o: Observation) -> str | None | tuple[float, str | None]:
            if isinstance(probe.inputs, battery.Case):
                verdict = battery.judge_case(probe.inputs, o, params.rel_tol, params.abs_tol)
                return None if verdict.ok else verdict.message
            if probe.request.task == "graph":
                return _graph_problem(params, probe.inputs, o)
            problems = _softmax_problems(params, probe.inputs, o.value)
            checked = len(probe.inputs[0]) + 1  # the loss and each logit's grad, as published
            return (checked - len(problems)) / checked, "; ".join(problems[:3]) or None

        def explain(probe: Probe, o: Observation) -> str | None:
            if isinstance(probe.inputs, battery.Case):
                return battery.judge_case(probe.inputs, o, params.rel_tol, params.abs_tol).message
            if probe.request.task != "graph":
                return raised_in_graph(o, lambda i: "the loss") if o.recursion else None
            nodes = probe.inputs
            return raised_in_graph(o, lambda i: f"n{i} = {graphs.describe(nodes[i])}")

        scored = [(p, o) for p, o in zip(probes[1:], observations[1:]) if p.part == "hidden"]
        hidden = hidden_part("hidden", question.points * question.credit["hidden"],
                             [p for p, _ in scored], [o for _, o in scored], one,
                             f"your `{params.value_class}`", explain)
        if hidden.score < hidden.max_score and causes:
            hidden = dataclasses.replace(hidden, message=hidden.message + cause)
            if results[0].message.endswith(cause):  # the cause once, where the battery found it
                results[0] = dataclasses.replace(results[0], message=results[0].message[:-len(cause)])
        results.append(hidden)
    return results
