"""The student's ``MLP``: forward pass, parameter list, gradients and ``zero_grad``, against numpy.

Each probe builds ``MLP(nin, nouts)`` from the student's class in the kernel, reads its parameters
(layer by layer, neuron by neuron, ``w[0..nin-1]`` then ``b``), runs one input, builds the squared
error ``sum((out - target)**2)`` with the student's ``Value`` and calls ``backward()`` and then
``zero_grad()``. The grader recomputes output, loss and every gradient from the parameters it read,
in float64, for the declared activations. Wrong outputs are compared with common slips (relu for
tanh, a non-linear output layer, biases left out) so that the message can name the slip.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from typing import Any, Sequence

from ..references import nets
from ..model import Question
from ..execution.probes import Observation, ProbeRequest, as_number, as_vector
from ..results import PartResult
from .base import Probe, fmt
from .network import Case, all_close, case, first_mismatch, judge_cases, read_params


class Aspect(str, enum.Enum):
    FORWARD = "forward"
    PARAMETERS = "parameters"
    GRADIENTS = "gradients"
    ZERO_GRAD = "zero_grad"


@dataclass(frozen=True)
class Params:
    """Which aspect of the network is graded, on the published case and on hidden ones."""

    aspect: Aspect
    published: Case
    mlp: str = "MLP"
    hidden: str = "tanh"       # activation of the hidden layers
    last: str = "linear"       # activation of the output layer
    hidden_cases: int = 4
    hidden_fixed: tuple[Case, ...] = ()
    rel_tol: float = 1e-7
    abs_tol: float = 1e-9

    def __post_init__(self) -> None:
        for name in (self.hidden, self.last):
            if name not in nets.ACTIVATIONS:
                raise ValueError(f"unknown activation {name!r}; known: {', '.join(nets.ACTIVATIONS)}")
        if self.hidden_cases < 0:
            raise ValueError("hidden_cases must be >= 0")
        if any(len(c.xs) != 1 for c in (self.published, *self.hidden_fixed)):
            raise ValueError("each mlp case runs exactly one input (xs: [[...]])")

    @property
    def arch(self) -> nets.Arch:
        return nets.Arch(self.hidden, self.last)


def parts(params: Params) -> tuple[str, ...]:
    return ("published", "hidden") if params.hidden_cases + len(params.hidden_fixed) else ("published",)


def _request(params: Params, c: Case) -> ProbeRequest:
    return ProbeRequest("mlp", (params.mlp, c.nin, list(c.nouts), list(c.xs[0]), list(c.ys[0])))


def plan(params: Params, rng: random.Random) -> list[Probe]:
    pub = params.published
    probes = [Probe("published", f"the published {pub.describe()}", _request(params, pub), pub)]
    cases = list(params.hidden_fixed)
    for k in range(params.hidden_cases):
        nin, nouts = nets.fixed_shape(k)
        x = nets.random_inputs(rng, 1, nin)
        y = [[round(rng.uniform(-1.5, 1.5), 4) for _ in range(nouts[-1])]]
        cases.append(case(nin, nouts, x, y))
    probes += [Probe("hidden", f"hidden {c.describe()}", _request(params, c), c) for c in cases]
    return probes


def _slips(params: Params) -> list[tuple[nets.Arch, str]]:
    arch, others = params.arch, [a for a in ("tanh", "relu", "sigmoid") if a != params.hidden]
    slips = [(nets.Arch(o, arch.last), f"a network with {o} on the hidden layers instead of "
                                       f"{arch.hidden}") for o in others]
    if arch.last == "linear":
        slips.append((nets.Arch(arch.hidden, arch.hidden),
                      f"a network that also applies {arch.hidden} to the output layer (the last "
                      f"layer must be linear)"))
    else:
        slips.append((nets.Arch(arch.hidden, "linear"),
                      f"a network whose output layer is linear (it must apply {arch.last} too)"))
    slips.append((nets.Arch(arch.hidden, arch.last, bias=False),
                  "a network without biases: add each neuron's b to its weighted sum"))
    return slips


def _forward_problem(params: Params, c: Case, value: dict[str, Any], weights: list[float]) -> str | None:
    layers = nets.unflatten(weights, c.nin, list(c.nouts))
    expected = nets.forward(layers, c.xs, params.arch)[0].tolist()
    got = as_vector(value.get("out"), len(expected), "the output")
    if all_close(got, expected, params.rel_tol, params.abs_tol):
        return None
    message = f"output expected {fmt(expected)}, got {fmt(got)}"
    for arch, what in _slips(params):
        if all_close(got, nets.forward(layers, c.xs, arch)[0].tolist(), params.rel_tol, params.abs_tol):
            return f"{message}: it matches {what}"
    return message + f" (the notebook's network has {params.arch.describe()})"


def _judge_one(params: Params, probe: Probe, obs: Observation) -> str | None:
    c: Case = probe.inputs
    value = obs.value
    weights = read_params(value, "weights", c)
    names = nets.param_names(c.nin, list(c.nouts))
    count = nets.param_count(c.nin, list(c.nouts))
    aspect = params.aspect
    if aspect is Aspect.FORWARD:
        return _forward_problem(params, c, value, weights)
    if aspect is Aspect.PARAMETERS:
        if value.get("parameters_error"):
            return f"model.parameters() raised {value['parameters_error']}"
        got = value.get("count")
        if got != count:
            weights_only = count - sum(c.nouts)
            hint = (" (the biases are missing)" if got == weights_only else
                    " (each neuron contributes its weights and its bias, in every layer)")
            return f"parameters() returned {got} values, expected {count}{hint}"
        if value.get("same_order") is not True:
            return ("parameters() must return the neurons' own Value objects in order: layer by "
                    "layer, neuron by neuron, each neuron's w then its b")
        return None
    if aspect is Aspect.GRADIENTS:
        forward = _forward_problem(params, c, value, weights)
        if forward is not None:
            return f"the forward pass is already wrong ({forward})"
        layers = nets.unflatten(weights, c.nin, list(c.nouts))
        loss, grads = nets.squared_error(layers, c.xs, c.ys, params.arch)
        got_loss = as_number(value.get("loss"), "the loss")
        if not all_close([got_loss], [loss], params.rel_tol, params.abs_tol):
            return (f"the squared error built with your Value is {fmt(got_loss)}, expected "
                    f"{fmt(loss)} (check __sub__ and __pow__)")
        got = as_vector(value.get("grads"), count, "the gradients")
        if not any(got):
            return "backward() left every parameter's gradient at 0"
        problem = first_mismatch(got, grads, [n + ".grad" for n in names], params.rel_tol,
                                 params.abs_tol, "gradients")
        last = len(c.nouts) - 1
        if problem and params.last == "linear" and not any(
                names[i].startswith(f"layers[{last}]") and not all_close(
                    [got[i]], [grads[i]], params.rel_tol, params.abs_tol) for i in range(count)):
            problem += (f" (the output layer's gradients are right, so look at how the gradient "
                        f"flows back through {params.hidden}"
                        + (": d tanh(z)/dz = 1 - tanh(z)**2)" if params.hidden == "tanh" else ")"))
        return problem
    if value.get("zero_grad_error"):
        return f"model.zero_grad() raised {value['zero_grad_error']}"
    zeroed = as_vector(value.get("zeroed"), count, "the gradients after zero_grad()")
    kept = as_vector(value.get("kept"), count, "the parameters after zero_grad()")
    left = [i for i, g in enumerate(zeroed) if g != 0.0]
    if left:
        return (f"after zero_grad(), {len(left)} of {count} gradients are not 0; for example "
                f"{names[left[0]]}.grad = {fmt(zeroed[left[0]])} (reset every parameter's grad, "
                f"biases included)")
    if kept != weights:
        return "zero_grad() changed parameter values (.data); it must reset only .grad"
    return None


_OK = {Aspect.FORWARD: "the output matches the reference",
       Aspect.PARAMETERS: "parameters() lists every weight and bias in order",
       Aspect.GRADIENTS: "the loss and every parameter's gradient match the reference",
       Aspect.ZERO_GRAD: "zero_grad() resets every gradient to 0"}


def judge(question: Question, probes: Sequence[Probe], observations: Sequence[Observation]) -> list[PartResult]:
    params: Params = question.params

    def one(probe: Probe, obs: Observation) -> str | None:
        return _judge_one(params, probe, obs)

    return judge_cases(dict(question.credit), question.points, probes, observations, one,
                       f"your `{params.mlp}`", _OK[params.aspect])


__all__ = ["Aspect", "Params", "judge", "parts", "plan"]
