"""The student's ``Value`` operations, alone and combined into fixed expression graphs.

Part ``each_op``: every operation the question covers, alone and with its input used twice, on fresh
hidden inputs with the output's grad seeded to 2 (``ops``: a fixed battery, so a given mistake fails
the same cases every run; ``**`` with an int and with a float exponent, ``relu`` on both sides of
zero), so that a wrong operation and the mistake in it are named; points per operation.
Part ``graphs``: ``graphs`` fixed graphs (:func:`graphs.fixed_graph`: every operation of the
question once, the output then used twice; only the numbers drawn); points per graph. Each graph's
smaller pieces (:func:`graphs.shrinks`) are probed too, for no points: a failing graph is shown as
the smallest piece that still fails, as code the student can paste into a cell and run. The kernel
reports every node's ``.data`` and ``.grad``; scores compare the output and the leaves' gradients
with SymPy, and the grader's own reverse pass finds the first wrong node, to say which method to fix.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ..references import graphs, symbolic
from ..model import Question
from ..execution.probes import Observation, ProbeRequest, Unusable, as_vector
from ..results import PartResult
from . import ops as battery
from .base import Probe, fmt, no_answer, raised_in_graph

Nodes = Sequence[Sequence[Any]]


@dataclass(frozen=True)
class Params:
    """The operations a question covers, the student's class, and the hidden budget."""

    ops: tuple[str, ...]
    value_class: str = "Value"
    draws: int = 2       # hidden inputs per operation, alone
    graphs: int = 3      # random graphs mixing the operations
    rel_tol: float = 1e-6
    abs_tol: float = 1e-6

    def __post_init__(self) -> None:
        unknown = [op for op in self.ops if op not in graphs.OPS]
        if unknown or not self.ops:
            raise ValueError(f"ops must name operations among {', '.join(graphs.OPS)}; unknown: {unknown}")
        if self.draws < 1 or self.graphs < 0:
            raise ValueError("draws must be >= 1 and graphs >= 0")


def parts(params: Params) -> tuple[str, ...]:
    return ("each_op", "graphs") if params.graphs else ("each_op",)


# --------------------------------------------------------------------------- judging one graph

@dataclass(frozen=True)
class Verdict:
    """One graph's answer: the checked quantities that are wrong, and where it first goes wrong."""

    checked: int            # the output's .data and every leaf's .grad
    wrong: tuple[str, ...]  # e.g. "g.data expected 24.70408163, got 20"
    hint: str | None        # which node first goes wrong, and which method to fix

    @property
    def problem(self) -> str | None:
        if not self.wrong:
            return self.hint
        return "; ".join(self.wrong) + (f" ({self.hint})" if self.hint else "")


def judge_graph(nodes: Nodes, value: object, rel_tol: float, abs_tol: float,
                labels: Sequence[str] | None = None, output: str | None = None) -> Verdict:
    """Compare a kernel's ``{"data": [...], "grad": [...]}`` for ``nodes`` with the reference.

    ``labels`` say how each node reads in the notebook (leaves: the input's name) and ``output``
    names the last node; without them nodes are called ``n0``, ``n1``, ...
    """
    if type(value) is not dict:
        raise Unusable("the result is not a mapping")
    n = len(nodes)
    got_data = as_vector(value.get("data"), n, "the nodes' .data")
    got_grad = as_vector(value.get("grad"), n, "the nodes' .grad")
    data, leaf_grads = graphs.reference(nodes)

    def close(g: float, e: float) -> bool:
        return symbolic.close(g, e, rel_tol, abs_tol)

    def name(i: int) -> str:
        return labels[i] if labels else f"n{i}"

    def node(i: int) -> str:
        return labels[i] if labels else f"n{i} = {graphs.describe(nodes[i])}"

    out = n - 1
    leaves = [i for i, nd in enumerate(nodes) if nd[0] == "leaf"]
    output_name = output or f"n{out}"
    wrong = []
    if not close(got_data[out], data[out]):
        wrong.append(f"{output_name}.data expected {fmt(data[out])}, got {fmt(got_data[out])}")
    wrong += [f"{name(i)}.grad expected {fmt(e)}, got {fmt(got_grad[i])}"
              for i, e in zip(leaves, leaf_grads) if not close(got_grad[i], e)]

    hint = None
    bad_data = next((i for i in range(n) if not close(got_data[i], data[i])), None)
    if bad_data is not None:
        op = nodes[bad_data][0]
        if op == "leaf":
            hint = f"{node(bad_data)} has .data {fmt(got_data[bad_data])}: __init__ must keep the number"
        else:
            hint = (f"{node(bad_data)} has .data {fmt(got_data[bad_data])}, expected {fmt(data[bad_data])}: "
                    f"the forward computation of {graphs.syntax(op)} is wrong")
    elif wrong:
        hint = _locate(nodes, data, got_grad, close, name, node)
    return Verdict(1 + len(leaves), tuple(wrong), hint)


def _locate(nodes: Nodes, data: Sequence[float], got: Sequence[float],
            close: Callable[[float, float], bool], name: Callable[[int], str],
            node: Callable[[int], str]) -> str:
    """The first wrong .grad going back from the output, and the _backward that produced it."""
    expected, contributions = graphs.backprop(nodes, data)
    out = len(nodes) - 1
    if not close(got[out], 1.0):
        return (f"after backward() the output's .grad is {fmt(got[out])}, expected 1: backward() must "
                f"set self.grad = 1.0 before running the _backward functions")
    for i in range(out - 1, -1, -1):
        if close(got[i], expected[i]):
            continue
        uses = contributions[i]
        users = sorted({j for j, _ in uses})
        if len(uses) > 1 and any(close(got[i], share) for _, share in uses):
            return (f"{name(i) if nodes[i][0] == 'leaf' else node(i)} is used {len(uses)} times, but "
                    f"its .grad {fmt(got[i])} holds only one use's share of the expected "
                    f"{fmt(expected[i])}: accumulate with `+=` in every _backward, never `=`")
        methods = ", ".join(dict.fromkeys(graphs.syntax(nodes[j][0]) for j in users)) or "backward()"
        by = "; ".join(node(j) for j in users)
        if nodes[i][0] == "leaf":  # its expected and actual .grad are already in the message
            return f"{name(i)}'s gradient comes from {by}: check the _backward of {methods}"
        return (f"the first wrong gradient is {node(i)}'s: .grad expected {fmt(expected[i])}, got "
                f"{fmt(got[i])}, passed back by {by}: check the _backward of {methods}")
    return "the gradients do not add up"  # unreachable when a leaf's grad was wrong


def explain(nodes: Nodes, name_op: bool = True) -> Callable[[Probe, Observation], str | None]:
    """Why building or backpropagating ``nodes`` raised, naming the operation's method."""
    def why(probe: Probe, obs: Observation) -> str | None:
        def at(i: int) -> str:
            op = nodes[i][0]
            needs = f" (needs {graphs.syntax(op)})" if name_op and op != "leaf" else ""
            return f"n{i} = {graphs.describe(nodes[i])}{needs}"
        return raised_in_graph(obs, at)
    return why


# --------------------------------------------------------------------------- plan and judge

def _request(params: Params, nodes: Nodes) -> ProbeRequest:
    return ProbeRequest("autograd", (params.value_class, [list(n) for n in nodes]))


def plan(params: Params, rng: random.Random) -> list[Probe]:
    probes = []
    for op in params.ops:
        shapes = ["alone", "twice"] + ["alone"] * (params.draws - 1)
        for k, shape in enumerate(shapes):
            case = battery.draw(op, shape, rng, variant=k)
            probes.append(Probe("each_op", battery.label(case), battery.request(params.value_class, case),
                                (op, case)))
    for k in range(params.graphs):
        nodes = graphs.fixed_graph(params.ops, rng, k)
        probes.append(Probe("graphs", f"hidden graph {k + 1}", _request(params, nodes), (k, nodes)))
        probes += [Probe("shrink", f"a piece of hidden graph {k + 1}", _request(params, sub), (k, sub))
                   for sub in graphs.shrinks(nodes)]
    return probes


def graph_problem(nodes: Nodes, obs: Observation, rel_tol: float, abs_tol: float) -> str | None:
    """None when the kernel's answer for ``nodes`` is right, else what is wrong, in the names of
    :func:`graphs.as_code` (``a``, ``b``, ``c = a * b``, ...)."""
    label = graphs.names(nodes)
    if not obs.ok:
        at = (lambda i: f"`{graphs.statement(nodes, i)}`")
        return raised_in_graph(obs, at) or no_answer(obs, "the graph")
    labels = [label[i] if n[0] == "leaf" else f"`{graphs.statement(nodes, i)}`" for i, n in enumerate(nodes)]
    try:
        return judge_graph(nodes, obs.value, rel_tol, abs_tol, labels, label[-1]).problem
    except Unusable as exc:
        return f"unusable answer: {exc}"


def smallest_failure(k: int, nodes: Nodes, problem: str, probes: Sequence[Probe],
                     observations: Sequence[Observation], rel_tol: float, abs_tol: float) -> str:
    """Graph ``k`` failed with ``problem``: the smallest of its probed pieces that still fails (else
    the graph itself), what is wrong with it, and the code that shows it."""
    for probe, obs in zip(probes, observations):
        if probe.part == "shrink" and probe.inputs[0] == k:
            why = graph_problem(probe.inputs[1], obs, rel_tol, abs_tol)
            if why is not None:
                nodes, problem = probe.inputs[1], why
                break
    return (f"{problem}. Paste this into a new cell after your `Value` class and run it:\n"
            f"```python\n{graphs.as_code(nodes)}\n```")


def _graphs_part(params: Params, points: float, probes: Sequence[Probe],
                 observations: Sequence[Observation]) -> PartResult:
    main = [(p, o) for p, o in zip(probes, observations) if p.part == "graphs"]
    failed = []
    for probe, obs in main:
        why = graph_problem(probe.inputs[1], obs, params.rel_tol, params.abs_tol)
        if why is not None:
            failed.append((probe, why))
    answered = any(o.ok for _, o in main)
    if not failed:
        return PartResult("graphs", points, points, f"all {len(main)} hidden graphs mixing "
                          f"{', '.join(graphs.syntax(op) for op in params.ops)} are correct")
    probe, why = failed[0]
    k, nodes = probe.inputs
    shown = smallest_failure(k, nodes, why, probes, observations, params.rel_tol, params.abs_tol)
    message = f"{len(failed)} of {len(main)} hidden graphs failed; the smallest failing case: {shown}"
    return PartResult("graphs", points * (len(main) - len(failed)) / len(main), points, message,
                      answered=answered)


def _each_op(params: Params, points: float, probes: Sequence[Probe],
             observations: Sequence[Observation]) -> PartResult:
    failed: dict[str, str] = {}
    answered = False
    for probe, obs in zip(probes, observations):
        op, case = probe.inputs
        answered = answered or obs.ok
        if op in failed:
            continue
        verdict = battery.judge_case(case, obs, params.rel_tol, params.abs_tol)
        if not verdict.ok:
            failed[op] = verdict.message
    ops = list(params.ops)
    right = [op for op in ops if op not in failed]
    score = points * len(right) / len(ops)
    if not failed:
        message = (f"{', '.join(graphs.syntax(op) for op in ops)}: correct alone and with the input "
                   f"used twice, on hidden inputs")
    else:
        message = f"{len(right)} of {len(ops)} operations correct; " + "; ".join(
            f"{graphs.syntax(op)} is wrong: {why}" for op, why in failed.items())
    return PartResult("each_op", score, points, message, answered=answered)


def judge(question: Question, probes: Sequence[Probe], observations: Sequence[Observation]) -> list[PartResult]:
    params: Params = question.params
    singles = [(p, o) for p, o in zip(probes, observations) if p.part == "each_op"]
    results = [_each_op(params, question.points * question.credit["each_op"],
                        [p for p, _ in singles], [o for _, o in singles])]
    if "graphs" in question.credit:
        results.append(_graphs_part(params, question.points * question.credit["graphs"], probes,
                                    observations))
    return results
