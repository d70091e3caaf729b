"""The published checks of the network questions: an ``MLP``'s shape, forward pass, loss,
gradients, ``parameters()`` and ``zero_grad()``, and the training functions (hinge loss, one step,
zeroing between steps, a training loop), on the fixed published weights."""

from __future__ import annotations

import math as _math

from .compare import Unusable, all_close, as_number, as_vector, close, first_mismatch, fmt

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _shape(s: dict[str, Any], value: Any) -> None:
    if value.get("shape") != s["shape"]:
        raise Unusable("%s was built with neurons of %s weights per layer, expected %s "
                       "(model.layers[i].neurons[j].w holds one weight per input)"
                       % (s["net"], value.get("shape"), s["shape"]))


def judge_mlp(s: dict[str, Any], value: Any) -> str | None:
    _shape(s, value)
    rel, abs_, n = s["rel_tol"], s["abs_tol"], len(s["weights"])
    aspect = s["aspect"]
    if aspect == "parameters":
        if value.get("parameters_error"):
            return "model.parameters() raised %s" % value["parameters_error"]
        if value.get("count") != n:
            hint = (" (the biases are missing)" if value.get("count") == n - s["biases"] else
                    " (each neuron contributes its weights and its bias, in every layer)")
            return "parameters() returned %s values, expected %d%s" % (value.get("count"), n, hint)
        if value.get("same_order") is not True:
            return ("parameters() must return the neurons' own Value objects in order: layer by "
                    "layer, neuron by neuron, each neuron's w then its b")
        return None
    if aspect == "zero_grad":
        if value.get("zero_grad_error"):
            return "model.zero_grad() raised %s" % value["zero_grad_error"]
        zeroed = as_vector(value.get("zeroed"), n, "the gradients after zero_grad()")
        kept = as_vector(value.get("kept"), n, "the parameters after zero_grad()")
        left = [i for i, g in enumerate(zeroed) if g != 0.0]
        if left:
            return ("after zero_grad(), %d of %d gradients are not 0; for example %s.grad = %s (reset "
                    "every parameter's grad, biases included)" % (len(left), n, s["names"][left[0]],
                                                                  fmt(zeroed[left[0]])))
        if kept != as_vector(value.get("weights"), n, "the parameters"):
            return "zero_grad() changed parameter values (.data); it must reset only .grad"
        return None
    out = as_vector(value.get("out"), len(s["out"]), "the output")
    if not all_close(out, s["out"], rel, abs_):
        problem = "output expected %s, got %s" % (fmt(s["out"]), fmt(out))
        for other, what in s["slips"]:
            if all_close(out, other, rel, abs_):
                return "%s: it matches %s" % (problem, what)
        problem += " (the notebook's network has %s)" % s["arch"]
        return problem if aspect == "forward" else "the forward pass is already wrong (%s)" % problem
    if aspect == "forward":
        return None
    loss = as_number(value.get("loss"), "the loss")
    if not close(loss, s["loss"], rel, abs_):
        return ("the squared error built with your Value is %s, expected %s (check __sub__ and __pow__)"
                % (fmt(loss), fmt(s["loss"])))
    grads = as_vector(value.get("grads"), n, "the gradients")
    if not any(grads):
        return "backward() left every parameter's gradient at 0"
    return first_mismatch(grads, s["grads"], [m + ".grad" for m in s["names"]], rel, abs_, "gradients")


def _params(value: Any, key: str, s: dict[str, Any]) -> list[float]:
    _shape(s, value)
    return as_vector(value.get(key), len(s["before"]), "the parameters")


def judge_training(s: dict[str, Any], value: Any) -> str | None:
    rel, abs_ = s["rel_tol"], s["abs_tol"]
    aspect = s["aspect"]
    if aspect == "hinge":
        _params(value, "weights", s)
        loss = as_number(value.get("loss"), "the loss")
        if not close(loss, s["loss"], rel, abs_):
            why = next((w for v, w in s["slips"] if close(loss, v, rel, abs_)), "")
            return "loss expected %s, got %s" % (fmt(s["loss"]), fmt(loss)) + (": " + why if why else "")
        grads = as_vector(value.get("grads"), len(s["grads"]), "the gradients")
        return first_mismatch(grads, s["grads"], [m + ".grad" for m in s["names"]], rel, abs_, "gradients")
    before = _params(value, "before", s)
    returned = value.get("returned")
    if aspect == "loop":
        losses = as_vector(returned[0] if type(returned) is list and returned else None, len(s["losses"]),
                           "the list %s returned" % s["function"])
        negative = next((x for x in losses if x < 0), None)
        if negative is not None:
            return ("%s: a loss is negative (%s); a squared error never is (is each error squared?)"
                    % (s["call"], fmt(negative)))
        if not (all(_math.isfinite(x) for x in losses) and losses[-1] <= s["falls_to"] * losses[0]):
            return ("%s: the loss went from %s to %s; it should fall to at most %g of where it started"
                    % (s["call"], fmt(losses[0]), fmt(losses[-1]), s["falls_to"]))
        problem = first_mismatch(losses, s["losses"], ["loss[%d]" % i for i in range(len(losses))],
                                 1e-6, 1e-9, "losses")
        return None if problem is None else problem + (
            " (plain gradient descent from the same starting parameters, the i-th loss computed "
            "before the i-th update)")
    after = value.get("after") or [None]
    first = as_vector(after[0], len(before), "the parameters after the step")
    if aspect == "step":
        got = as_vector(returned, 1, "the returned loss")[0]
        if not close(got, s["loss"], rel, abs_):
            why = next((w for v, w in s["slips"] if close(got, v, rel, abs_)), "")
            return ("train_step returned the loss %s, expected the summed squared error before the "
                    "update, %s" % (fmt(got), fmt(s["loss"]))) + (": " + why if why else "")
        if all_close(first, s["after"], rel, abs_):
            return None
        if first == before:
            return ("the parameters did not change: update every p.data after backward() (and zero "
                    "the gradients before backward(), not between backward() and the update)")
        if all_close(first, s["climb"], rel, abs_):
            return "the update has the wrong sign: it climbs the loss; use p.data -= lr * p.grad"
        return "the update differs from p.data -= lr * p.grad: " + (first_mismatch(
            first, s["after"], [m + ".data" for m in s["names"]], rel, abs_, "parameters") or "")
    # zero_grad: the second step must move by -lr (or +lr) times the gradient at the parameters the
    # first step left; those gradients are precomputed for the first steps train_step can take.
    if len(after) != 2:
        raise Unusable("expected the parameters after each of two steps")
    second = as_vector(after[1], len(before), "the parameters after step 2")
    moved = [b - a for a, b in zip(first, second)]
    lr = s["lr"]
    for start, g0, g1 in s["firsts"]:
        if not all_close(first, start, 1e-9, 1e-12):
            continue
        for sign in (-1.0, 1.0):
            if all_close(moved, [sign * lr * g for g in g1], rel, abs_):
                return None
        for sign in (-1.0, 1.0):
            if all_close(moved, [sign * lr * (a + b) for a, b in zip(g0, g1)], rel, abs_):
                return ("the second step used the sum of both steps' gradients: the gradients are not "
                        "zeroed before backward() (call model.zero_grad() before loss.backward())")
        break
    if not any(moved):
        return "the second step did not change the parameters"
    return ("the second step is not a step along the gradient at the new parameters "
            "(see the train_step question)")

