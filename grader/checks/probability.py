"""Probabilities on the student's ``Value``: a ``sigmoid`` operation, ``softmax`` and cross-entropy.

- ``sigmoid``: ``v.sigmoid() + v.sigmoid()`` on fresh Values, backward; the sigmoid must match and
  ``v.grad`` must be ``2 s (1 - s)`` (a backward that overwrites ``.grad`` gives half of that).
- ``softmax``: ``softmax(logits)`` must give probabilities that sum to 1 and match the reference;
  ``cross_entropy(logits, label)`` must be ``-log softmax(logits)[label]`` with gradient
  ``p - onehot(label)`` on the logits.
"""

from __future__ import annotations

import enum
import math
import random
from dataclasses import dataclass
from typing import Any, Sequence

from ..references import symbolic
from ..model import Question
from ..execution.probes import Observation, ProbeRequest, Unusable, as_number, as_vector
from ..results import PartResult
from .base import Probe, fmt
from .network import all_close, judge_cases


class Aspect(str, enum.Enum):
    SIGMOID = "sigmoid"
    SOFTMAX = "softmax"


@dataclass(frozen=True)
class Params:
    """Published inputs (``xs`` for sigmoid; ``logits`` and ``label`` for softmax) and names."""

    aspect: Aspect
    xs: tuple[float, ...] = ()
    logits: tuple[float, ...] = ()
    label: int = 0
    value_class: str = "Value"
    method: str = "sigmoid"
    softmax: str = "softmax"
    cross_entropy: str = "cross_entropy"
    hidden_cases: int = 3
    rel_tol: float = 1e-7
    abs_tol: float = 1e-9

    def __post_init__(self) -> None:
        if self.aspect is Aspect.SIGMOID and not self.xs:
            raise ValueError("sigmoid needs published xs")
        if self.aspect is Aspect.SOFTMAX and not 0 <= self.label < len(self.logits):
            raise ValueError("softmax needs logits and a label that indexes them")
        if self.hidden_cases < 0:
            raise ValueError("hidden_cases must be >= 0")


def parts(params: Params) -> tuple[str, ...]:
    return ("published", "hidden") if params.hidden_cases else ("published",)


def _request(params: Params, inputs: tuple[Any, ...]) -> ProbeRequest:
    if params.aspect is Aspect.SIGMOID:
        return ProbeRequest("sigmoid", (params.value_class, params.method, list(inputs)))
    logits, label = inputs
    return ProbeRequest("softmax_ce", (params.value_class, params.softmax, params.cross_entropy,
                                       list(logits), label))


def _label(params: Params, inputs: tuple[Any, ...]) -> str:
    if params.aspect is Aspect.SIGMOID:
        return f"x = {fmt(list(inputs))}"
    return f"logits {fmt(list(inputs[0]))} with label {inputs[1]}"


LENGTHS = (3, 5, 2, 4, 6)  # logits per hidden softmax case, in order: fixed, only the numbers drawn


def plan(params: Params, rng: random.Random) -> list[Probe]:
    pub = tuple(params.xs) if params.aspect is Aspect.SIGMOID else (list(params.logits), params.label)
    probes = [Probe("published", f"the published {_label(params, pub)}", _request(params, pub), pub)]
    for k in range(params.hidden_cases):
        if params.aspect is Aspect.SIGMOID:  # two negative, two positive inputs
            inputs: tuple[Any, ...] = tuple(round(s * rng.uniform(0.1, 6.0), 4) for s in (-1, 1, -1, 1))
        else:
            n = LENGTHS[k % len(LENGTHS)]
            inputs = ([round(rng.uniform(-4.0, 4.0), 4) for _ in range(n)], rng.randrange(n))
        probes.append(Probe("hidden", f"hidden {_label(params, inputs)}", _request(params, inputs),
                            inputs))
    return probes


def _sigmoid_problem(params: Params, xs: Sequence[float], value: dict[str, Any]) -> str | None:
    s = [1.0 / (1.0 + math.exp(-x)) for x in xs]
    data = as_vector(value.get("data"), len(xs), "the sigmoids")
    grad = as_vector(value.get("grad"), len(xs), "the gradients")
    if not all_close(data, s, params.rel_tol, params.abs_tol):
        return f"sigmoid expected {fmt(s)}, got {fmt(data)}"
    expected = [2 * v * (1 - v) for v in s]
    if all_close(grad, expected, params.rel_tol, params.abs_tol):
        return None
    if all_close(grad, [v * (1 - v) for v in s], params.rel_tol, params.abs_tol):
        return ("x.sigmoid() + x.sigmoid() gave x.grad = s(1 - s) instead of 2 s(1 - s): the backward "
                "overwrites x.grad; accumulate with +=")
    return (f"for v.sigmoid() + v.sigmoid(), v.grad expected {fmt(expected)}, got {fmt(grad)} "
            f"(d sigmoid/dx = s (1 - s))")


def _softmax_problem(params: Params, inputs: tuple[Any, ...], value: dict[str, Any]) -> str | None:
    logits, label = inputs
    loss, probs, grad = symbolic.softmax_nll(logits, label)
    got_probs = as_vector(value.get("probs"), len(logits), "softmax's probabilities")
    total = math.fsum(got_probs)
    if abs(total - 1.0) > 1e-9:
        return (f"the probabilities sum to {fmt(total)}, not 1: divide each exp(logit) by the sum of "
                f"all of them")
    if not all_close(got_probs, probs, params.rel_tol, params.abs_tol):
        return f"softmax expected {fmt(probs)}, got {fmt(got_probs)}"
    got_loss = as_number(value.get("loss"), "the loss")
    if not all_close([got_loss], [loss], params.rel_tol, params.abs_tol):
        hint = (": the sign is flipped (the loss is -log p[label])"
                if all_close([got_loss], [-loss], params.rel_tol, params.abs_tol) else "")
        return f"cross_entropy expected {fmt(loss)}, got {fmt(got_loss)}{hint}"
    got_grad = as_vector(value.get("grad"), len(logits), "the logits' gradients")
    if not all_close(got_grad, grad, params.rel_tol, params.abs_tol):
        return f"the logits' gradients expected {fmt(grad)}, got {fmt(got_grad)}"
    return None


def judge(question: Question, probes: Sequence[Probe], observations: Sequence[Observation]) -> list[PartResult]:
    params: Params = question.params

    def one(probe: Probe, obs: Observation) -> str | None:
        if type(obs.value) is not dict:
            raise Unusable("the result is not a mapping")
        if params.aspect is Aspect.SIGMOID:
            return _sigmoid_problem(params, probe.inputs, obs.value)
        return _softmax_problem(params, probe.inputs, obs.value)

    if params.aspect is Aspect.SIGMOID:
        what, ok = f"`{params.value_class}.{params.method}`", "values and gradients match"
    else:
        what, ok = (f"`{params.softmax}` / `{params.cross_entropy}`",
                    "probabilities, loss and gradients match")
    return judge_cases(dict(question.credit), question.points, probes, observations, one, what, ok)


__all__ = ["Aspect", "Params", "judge", "parts", "plan"]
