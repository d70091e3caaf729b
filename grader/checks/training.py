"""The student's training code on fresh networks: one step, zeroed gradients, a whole loop, a loss.

Aspects:

- ``step``: ``train_step(model, xs, ys, lr)`` once; the returned loss must be the summed squared
  error before the step and every parameter must move to ``p - lr * grad`` (from the parameters the
  grader read before the call).
- ``zero_grad``: ``train_step`` twice; the second step must use the gradient at the new parameters
  only. Its reference starts from the student's own parameters after step one, so a wrong first
  step does not cost this question too; a second step that used the sum of both gradients is named
  as the forgotten ``zero_grad``.
- ``loop``: ``train(model, xs, ys, steps, lr)`` returns ``steps`` losses that must fall (part
  ``falls``) and match plain gradient descent from the same starting parameters (part ``reference``).
- ``hinge``: ``fn(model, X, y, alpha)`` returns the max-margin loss with L2 regularisation; its value
  and every parameter's gradient against numpy.
"""

from __future__ import annotations

import enum
import math
import random
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..references import nets
from ..model import Question
from ..execution.probes import Observation, ProbeRequest, Unusable, as_number, as_vector
from ..results import PartResult
from .base import Probe, fmt, no_answer
from .network import Case, all_close, case, first_mismatch, judge_cases, read_params


class Aspect(str, enum.Enum):
    STEP = "step"
    ZERO_GRAD = "zero_grad"
    LOOP = "loop"
    HINGE = "hinge"


@dataclass(frozen=True)
class Params:
    """The student's function, the published case (single-output network) and the hidden budget."""

    aspect: Aspect
    function: str
    published: Case
    mlp: str = "MLP"
    lr: float = 0.05
    steps: int = 20            # loop: how many steps train() runs
    falls_to: float = 0.5      # loop: the last loss must be at most this fraction of the first
    alpha: float = 1e-4        # hinge: L2 strength
    hidden: str = "tanh"
    last: str = "linear"
    hidden_cases: int = 3
    rel_tol: float = 1e-7
    abs_tol: float = 1e-9

    def __post_init__(self) -> None:
        if self.published.nouts[-1] != 1:
            raise ValueError("training cases use networks with one output")
        if self.aspect is Aspect.HINGE and any(y[0] not in (-1.0, 1.0) for y in self.published.ys):
            raise ValueError("hinge targets must be -1 or +1")
        if self.lr <= 0 or self.steps < 1 or not 0 < self.falls_to < 1 or self.hidden_cases < 0:
            raise ValueError("need lr > 0, steps >= 1, 0 < falls_to < 1, hidden_cases >= 0")

    @property
    def arch(self) -> nets.Arch:
        return nets.Arch(self.hidden, self.last)


def parts(params: Params) -> tuple[str, ...]:
    if params.aspect is Aspect.LOOP:
        return ("falls", "reference")
    return ("published", "hidden") if params.hidden_cases else ("published",)


def _ys(c: Case) -> list[float]:
    return [y[0] for y in c.ys]


def _request(params: Params, c: Case, lr: float) -> ProbeRequest:
    xs = [list(x) for x in c.xs]
    shape = (params.mlp, c.nin, list(c.nouts), params.function)
    if params.aspect is Aspect.HINGE:
        return ProbeRequest("net_loss", (*shape, [xs, _ys(c), params.alpha]))
    if params.aspect is Aspect.LOOP:
        return ProbeRequest("net_train", (*shape, [xs, _ys(c), params.steps, lr], 1))
    calls = 2 if params.aspect is Aspect.ZERO_GRAD else 1
    return ProbeRequest("net_train", (*shape, [xs, _ys(c), lr], calls))


def plan(params: Params, rng: random.Random) -> list[Probe]:
    pub = params.published
    probes = [Probe("published", f"the published {pub.describe()}", _request(params, pub, params.lr),
                    (pub, params.lr))]
    if params.aspect is Aspect.LOOP:
        return probes
    for k in range(params.hidden_cases):
        nin, nouts = nets.fixed_shape(k, max_out=1)
        n = 3 + k % 3
        xs = nets.random_inputs(rng, n, nin)
        ys = [[rng.choice((-1.0, 1.0))] for _ in range(n)]
        c = case(nin, nouts, xs, ys)
        lr = round(rng.uniform(0.01, 0.2), 3)
        label = f"hidden {c.describe()}" + ("" if params.aspect is Aspect.HINGE else f", lr = {lr}")
        probes.append(Probe("hidden", label, _request(params, c, lr), (c, lr)))
    return probes


def _loss_slip(params: Params, c: Case, layers: nets.Layers, got: float) -> str:
    """Name the common mistake a wrong squared-error loss matches, if any."""
    err = nets.forward(layers, c.xs, params.arch)[:, 0] - np.asarray(_ys(c))
    slips = [(float(np.sum(err)), "the loss is not squared: use sum((ypred - y)**2)"),
             (float(np.sum(np.abs(err))), "the loss is not squared: use sum((ypred - y)**2)"),
             (float(np.mean(err * err)), "the loss is averaged; the notebook's loss is the sum")]
    for value, why in slips:
        if all_close([got], [value], params.rel_tol, params.abs_tol):
            return f": {why}"
    return ""


def _step_problem(params: Params, c: Case, lr: float, value: dict[str, Any]) -> str | None:
    before = read_params(value, "before", c)
    returned = as_vector(value.get("returned"), 1, "the returned loss")
    after = as_vector((value.get("after") or [None])[0], len(before), "the parameters after the step")
    layers = nets.unflatten(before, c.nin, list(c.nouts))
    loss, grad = nets.squared_error(layers, c.xs, [[y] for y in _ys(c)], params.arch)
    names = nets.param_names(c.nin, list(c.nouts))
    if not all_close(returned, [loss], params.rel_tol, params.abs_tol):
        return (f"train_step returned the loss {fmt(returned[0])}, expected the summed squared error "
                f"before the update, {fmt(loss)}{_loss_slip(params, c, layers, returned[0])}")
    expected = (np.asarray(before) - lr * np.asarray(grad)).tolist()
    if all_close(after, expected, params.rel_tol, params.abs_tol):
        return None
    if after == before:
        return ("the parameters did not change: update every p.data after backward() (and zero the "
                "gradients before backward(), not between backward() and the update)")
    if all_close(after, (np.asarray(before) + lr * np.asarray(grad)).tolist(), params.rel_tol,
                 params.abs_tol):
        return ("the update has the wrong sign: it climbs the loss; use p.data -= lr * p.grad")
    return "the update differs from p.data -= lr * p.grad: " + (first_mismatch(
        after, expected, [n + ".data" for n in names], params.rel_tol, params.abs_tol,
        "parameters") or "")


def _zero_grad_problem(params: Params, c: Case, lr: float, value: dict[str, Any]) -> str | None:
    before = np.asarray(read_params(value, "before", c))
    after = value.get("after")
    if type(after) is not list or len(after) != 2:
        raise Unusable("expected the parameters after each of two steps")
    first = np.asarray(as_vector(after[0], len(before), "the parameters after step 1"))
    second = np.asarray(as_vector(after[1], len(before), "the parameters after step 2"))
    Y = [[y] for y in _ys(c)]
    _, g0 = nets.squared_error(nets.unflatten(before, c.nin, list(c.nouts)), c.xs, Y, params.arch)
    _, g1 = nets.squared_error(nets.unflatten(first, c.nin, list(c.nouts)), c.xs, Y, params.arch)
    moved = (second - first).tolist()
    for sign in (-1.0, 1.0):
        if all_close(moved, (sign * lr * np.asarray(g1)).tolist(), params.rel_tol, params.abs_tol):
            return None
    for sign in (-1.0, 1.0):
        if all_close(moved, (sign * lr * (np.asarray(g0) + np.asarray(g1))).tolist(), params.rel_tol,
                     params.abs_tol):
            return ("the second step used the sum of both steps' gradients: the gradients are not "
                    "zeroed before backward() (call model.zero_grad() before loss.backward())")
    if not np.any(second - first):
        return "the second step did not change the parameters"
    return ("the second step is not a step along the gradient at the new parameters "
            "(see the train_step question)")


def _hinge_problem(params: Params, c: Case, value: dict[str, Any]) -> str | None:
    weights = read_params(value, "weights", c)
    layers = nets.unflatten(weights, c.nin, list(c.nouts))
    loss, grad = nets.hinge(layers, c.xs, _ys(c), params.alpha, params.arch)
    got = as_number(value.get("loss"), "the loss")
    if not all_close([got], [loss], params.rel_tol, params.abs_tol):
        slips = [(nets.hinge(layers, c.xs, _ys(c), params.alpha, params.arch, l2=False)[0],
                  "the L2 term alpha * sum(p * p for p in model.parameters()) is missing"),
                 (nets.hinge(layers, c.xs, _ys(c), params.alpha, params.arch, mean=False)[0],
                  "the margin losses are summed; the notebook averages them over the examples"),
                 (nets.hinge(layers, c.xs, _ys(c), params.alpha, params.arch, mean=False, l2=False)[0],
                  "the margin losses are summed, not averaged, and the L2 term is missing")]
        why = next((w for v, w in slips if all_close([got], [v], params.rel_tol, params.abs_tol)), "")
        return f"loss expected {fmt(loss)}, got {fmt(got)}" + (f": {why}" if why else "")
    names = [n + ".grad" for n in nets.param_names(c.nin, list(c.nouts))]
    return first_mismatch(as_vector(value.get("grads"), len(grad), "the gradients"), grad, names,
                          params.rel_tol, params.abs_tol, "gradients")


def _judge_loop(question: Question, probe: Probe, obs: Observation) -> list[PartResult]:
    params: Params = question.params
    c, lr = probe.inputs
    falls_pts = question.points * question.credit["falls"]
    ref_pts = question.points * question.credit["reference"]
    call = f"{params.function}(model, xs, ys, {params.steps}, {lr}) with {c.net}"
    if not obs.ok:
        why = no_answer(obs, call)
        return [PartResult("falls", 0.0, falls_pts, why, answered=False),
                PartResult("reference", 0.0, ref_pts, why, answered=False)]
    try:
        value = obs.value
        before = read_params(value, "before", c)
        returned = value.get("returned")
        losses = as_vector(returned[0] if type(returned) is list and returned else None,
                           params.steps, f"the list {params.function} returned")
    except Unusable as exc:
        why = f"unusable answer: {exc}"
        return [PartResult("falls", 0.0, falls_pts, why), PartResult("reference", 0.0, ref_pts, why)]
    negative = next((x for x in losses if x < 0), None)
    if negative is not None:
        falls = PartResult("falls", 0.0, falls_pts,
                           f"{call}: a loss is negative ({fmt(negative)}); a squared error never is "
                           f"(is each error squared?)")
    elif all(math.isfinite(x) for x in losses) and losses[-1] <= params.falls_to * losses[0]:
        falls = PartResult("falls", falls_pts, falls_pts,
                           f"{call}: the loss fell from {fmt(losses[0])} to {fmt(losses[-1])}")
    else:
        falls = PartResult("falls", 0.0, falls_pts,
                           f"{call}: the loss went from {fmt(losses[0])} to {fmt(losses[-1])}; it "
                           f"should fall to at most {params.falls_to:g} of where it started")
    expected, _ = nets.gd_steps(before, c.nin, list(c.nouts), c.xs, [[y] for y in _ys(c)], lr,
                                params.steps, params.arch)
    problem = first_mismatch(losses, expected, [f"loss[{i}]" for i in range(len(losses))],
                             1e-6, 1e-9, "losses")
    if problem is None:
        ref = PartResult("reference", ref_pts, ref_pts,
                         "every loss matches plain gradient descent from the same parameters")
    else:
        ref = PartResult("reference", 0.0, ref_pts,
                         f"{problem} (plain gradient descent from the same starting parameters, the "
                         f"i-th loss computed before the i-th update)")
    return [falls, ref]


def judge(question: Question, probes: Sequence[Probe], observations: Sequence[Observation]) -> list[PartResult]:
    params: Params = question.params
    if params.aspect is Aspect.LOOP:
        return _judge_loop(question, probes[0], observations[0])

    def one(probe: Probe, obs: Observation) -> str | None:
        c, lr = probe.inputs
        if type(obs.value) is not dict:
            raise Unusable("the result is not a mapping")
        if params.aspect is Aspect.STEP:
            return _step_problem(params, c, lr, obs.value)
        if params.aspect is Aspect.ZERO_GRAD:
            return _zero_grad_problem(params, c, lr, obs.value)
        return _hinge_problem(params, c, obs.value)

    ok = {Aspect.STEP: "the returned loss and the updated parameters match the reference",
          Aspect.ZERO_GRAD: "the second step uses fresh gradients",
          Aspect.HINGE: "the loss and every parameter's gradient match the reference"}
    return judge_cases(dict(question.credit), question.points, probes, observations, one,
                       f"`{params.function}`", ok[params.aspect])


__all__ = ["Aspect", "Params", "judge", "parts", "plan"]
