"""Each question's published check as plain data for an otter test: inputs, references, wording.

Everything here comes from ``assignments.yml`` and the grader's own references (SymPy, the float64
networks of ``nets``): the published probe is the one the check kind itself plans, and only it is
kept. Hidden inputs are never drawn into a spec. Networks are checked on fixed published weights
(set on the student's parameters in the documented order) instead of their random initial ones,
so that the expected numbers can be written down.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..references import graphs, nets, symbolic
from ..checks import registry
from ..checks.base import fmt, point
from ..checks.finite_difference import components
from ..checks.network import Case
from ..model import Assignment, CheckKind, Question
from ..references.examples import EXAMPLES

# The kinds whose every part is judged at hidden inputs only: nothing to publish as a test.
NO_PUBLISHED = (CheckKind.AUTOGRAD, CheckKind.DEEP_CHAIN, CheckKind.ACCURACY)


@dataclass(frozen=True)
class Spec:
    """One question's exported check: the question and the data its test judges with."""

    question: Question
    data: dict[str, Any]

    @property
    def ok(self) -> str:
        return str(self.data["ok"])


def published_parts(question: Question) -> tuple[str, ...]:
    """The credit parts an exported check stands for (all judged at the published inputs)."""
    if question.kind in NO_PUBLISHED:
        return ()
    if "published" in question.credit:
        return ("published",)
    return tuple(question.credit)  # finite_difference (estimate), training loop (falls, reference)


def specs(assignment: Assignment) -> list[Spec]:
    """The exported checks of ``assignment``, in question order."""
    return [Spec(q, _spec(q)) for q in assignment.questions if published_parts(q)]


def _probe(question: Question) -> Any:
    """The published probe the check kind plans (its first); the hidden ones are discarded."""
    return registry()[question.kind].plan(question.params, random.Random(0))[0]


def _spec(q: Question) -> dict[str, Any]:
    p = q.params
    if q.kind is CheckKind.FINITE_DIFFERENCE:
        return _fd(q)
    probe = _probe(q)
    base = {"task": probe.request.task, "args": list(probe.request.args)}
    if q.kind is CheckKind.ANALYTIC_GRADIENT:
        expr = symbolic.parse(p.expression, p.variables)
        call = f"{p.function}{point(p.point)}"
        return {**base, "judge": "gradient", "function": p.function, "call": call, "label": call,
                "expected": symbolic.gradient_at(expr, p.variables, p.point),
                "names": [f"d{p.function.removeprefix('grad') or 'f'}/d{v}" for v in p.variables],
                "rel_tol": p.rel_tol, "abs_tol": p.abs_tol, "ok": f"{call} is correct"}
    if q.kind is CheckKind.SOFTMAX_NLL:
        loss, _, grad = symbolic.softmax_nll(list(p.logits), p.label)
        return {**base, "judge": "softmax_nll", "loss": loss, "grad": grad, "rel_tol": p.rel_tol,
                "abs_tol": p.abs_tol,
                "label": f"`{p.softmax}` on `{p.value_class}` logits {fmt(list(p.logits))}",
                "ok": "loss and all gradients are correct"}
    if q.kind is CheckKind.VALUE_EXAMPLE:
        example = EXAMPLES[p.example]
        nodes = probe.inputs
        data, leaf_grads = graphs.reference(nodes)
        grads, _ = graphs.backprop(nodes, data)
        leaves = [i for i, n in enumerate(nodes) if n[0] == "leaf"]
        for i, g in zip(leaves, leaf_grads):
            grads[i] = g
        return {**base, "judge": "graph", "data": data, "grads": grads, "leaves": leaves,
                "labels": list(example.labels), "output": example.output, "rel_tol": p.rel_tol,
                "abs_tol": p.abs_tol, "label": f"with {probe.label}",
                "ok": (f"with {probe.label}: {example.output}.data and "
                       f"{', '.join(n + '.grad' for n in example.inputs)} are correct")}
    if q.kind is CheckKind.PROBABILITY:
        if p.aspect.value == "sigmoid":
            s = [1.0 / (1.0 + math.exp(-x)) for x in p.xs]
            return {**base, "judge": "sigmoid", "s": [float(v) for v in s],
                    "grad": [float(2 * v * (1 - v)) for v in s], "rel_tol": p.rel_tol,
                    "abs_tol": p.abs_tol, "label": probe.label,
                    "ok": f"{probe.label}: values and gradients match"}
        loss, probs, grad = symbolic.softmax_nll(list(p.logits), p.label)
        return {**base, "judge": "softmax_ce", "loss": loss, "probs": probs, "grad": grad,
                "rel_tol": p.rel_tol, "abs_tol": p.abs_tol, "label": probe.label,
                "ok": f"{probe.label}: probabilities, loss and gradients match"}
    if q.kind is CheckKind.MLP:
        return {**base, **_mlp(q, probe)}
    if q.kind is CheckKind.TRAINING:
        return {**base, **_training(q, probe)}
    raise ValueError(f"no otter export for check kind {q.kind.value}")


def fixed_weights(question: Question, c: Case) -> list[float]:
    """The published weights a network check runs on: fixed per question, in [-1, 1]."""
    rng = random.Random(f"otter:{question.id}")
    return [round(rng.uniform(-1.0, 1.0), 4) for _ in range(nets.param_count(c.nin, list(c.nouts)))]


def _net_data(q: Question, c: Case) -> dict[str, Any]:
    p = q.params
    return {"weights": fixed_weights(q, c), "shape": nets.layer_shapes(c.nin, list(c.nouts)),
            "net": c.net, "names": nets.param_names(c.nin, list(c.nouts)),
            "rel_tol": p.rel_tol, "abs_tol": p.abs_tol}


def _mlp(q: Question, probe: Any) -> dict[str, Any]:
    from ..checks.mlp import _OK, _slips

    p, c = q.params, probe.inputs
    net = _net_data(q, c)
    layers = nets.unflatten(net["weights"], c.nin, list(c.nouts))
    loss, grads = nets.squared_error(layers, c.xs, c.ys, p.arch)
    slips = [(nets.forward(layers, c.xs, arch)[0].tolist(), what) for arch, what in _slips(p)]
    return {**net, "judge": "mlp", "aspect": p.aspect.value, "biases": sum(c.nouts),
            "out": nets.forward(layers, c.xs, p.arch)[0].tolist(), "loss": loss, "grads": grads,
            "slips": slips, "arch": p.arch.describe(), "label": probe.label,
            "ok": f"{probe.label}: {_OK[p.aspect]}"}


def _training(q: Question, probe: Any) -> dict[str, Any]:
    p = q.params
    c, lr = probe.inputs
    net = _net_data(q, c)
    before = net["weights"]
    ys = [y[0] for y in c.ys]
    Y = [[y] for y in ys]
    layers = nets.unflatten(before, c.nin, list(c.nouts))
    out = {**net, "judge": "training", "aspect": p.aspect.value, "before": before, "lr": lr,
           "function": p.function, "label": probe.label}
    ok = {"step": "the returned loss and the updated parameters match the reference",
          "zero_grad": "the second step uses fresh gradients",
          "hinge": "the loss and every parameter's gradient match the reference"}
    loss, grad = nets.squared_error(layers, c.xs, Y, p.arch)
    if p.aspect.value == "hinge":
        loss, grad = nets.hinge(layers, c.xs, ys, p.alpha, p.arch)
        slips = [(nets.hinge(layers, c.xs, ys, p.alpha, p.arch, l2=False)[0],
                  "the L2 term alpha * sum(p * p for p in model.parameters()) is missing"),
                 (nets.hinge(layers, c.xs, ys, p.alpha, p.arch, mean=False)[0],
                  "the margin losses are summed; the notebook averages them over the examples"),
                 (nets.hinge(layers, c.xs, ys, p.alpha, p.arch, mean=False, l2=False)[0],
                  "the margin losses are summed, not averaged, and the L2 term is missing")]
        return {**out, "loss": loss, "grads": grad, "slips": slips, "ok": f"{probe.label}: {ok['hinge']}"}
    if p.aspect.value == "loop":
        losses, _ = nets.gd_steps(before, c.nin, list(c.nouts), c.xs, Y, lr, p.steps, p.arch)
        call = f"{p.function}(model, xs, ys, {p.steps}, {lr}) with {c.net}"
        return {**out, "losses": losses, "falls_to": p.falls_to, "call": call, "label": call,
                "ok": f"{call}: the loss falls, and every loss matches plain gradient descent"}
    b, g = np.asarray(before), np.asarray(grad)
    if p.aspect.value == "step":
        err = nets.forward(layers, c.xs, p.arch)[:, 0] - np.asarray(ys)
        slips = [(float(np.sum(err)), "the loss is not squared: use sum((ypred - y)**2)"),
                 (float(np.sum(np.abs(err))), "the loss is not squared: use sum((ypred - y)**2)"),
                 (float(np.mean(err * err)), "the loss is averaged; the notebook's loss is the sum")]
        return {**out, "loss": loss, "after": (b - lr * g).tolist(), "climb": (b + lr * g).tolist(),
                "slips": slips, "ok": f"{probe.label}: {ok['step']}"}
    firsts = []  # the first steps train_step can take: down, up (a sign slip), none
    for start in ((b - lr * g).tolist(), (b + lr * g).tolist(), list(before)):
        _, g1 = nets.squared_error(nets.unflatten(start, c.nin, list(c.nouts)), c.xs, Y, p.arch)
        firsts.append((start, list(grad), g1))
    return {**out, "firsts": firsts, "ok": f"{probe.label}: {ok['zero_grad']}"}


def _fd(q: Question) -> dict[str, Any]:
    p = q.params
    comps = components(p.expression, p.variables, p.point)
    what = f"{p.scheme.value} difference at {point(p.point)}"
    return {"judge": "fd", "variable": p.variable, "expression": p.expression,
            "variables": list(p.variables), "point": list(p.point), "h": p.h, "low": p.steps[0],
            "high": p.steps[1], "scheme": p.scheme.value,
            "more_accurate_than": p.more_accurate_than.value if p.more_accurate_than else None,
            "abs_tol": p.abs_tol, "rel_tol": p.rel_tol, "accept_backward": p.accept_backward,
            "components": [{"exact": c.exact, "curvature": c.curvature, "scale": c.scale,
                            "exact_scale": c.exact_scale, "partial_scale": c.partial_scale,
                            "partial": symbolic.dependent_terms(p.expression, v)}
                           for c, v in zip(comps, p.variables)],
            "what": what, "label": f"`{p.variable}`", "ok": f"`{p.variable}` is a correct {what}"}
