"""The published checks of the questions on the student's ``Value``: a function's gradient, the
softmax negative log-likelihood, an expression graph's data and gradients, sigmoid and softmax with
cross-entropy. Each judge takes the question's ``SPEC`` and the observed value; None when right,
else what is wrong, in the grader's words."""

from __future__ import annotations

import math as _math

from .compare import Unusable, all_close, as_number, as_vector, close, fmt

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def judge_gradient(s: dict[str, Any], value: Any) -> str | None:
    got = as_vector(value, len(s["expected"]), "%s(...)" % s["function"])
    wrong = ["%s expected %s, got %s" % (n, fmt(e), fmt(g))
             for n, g, e in zip(s["names"], got, s["expected"]) if not close(g, e, s["rel_tol"], s["abs_tol"])]
    return "; ".join(wrong) if wrong else None


def judge_softmax_nll(s: dict[str, Any], value: Any) -> str | None:
    got_loss = as_number(value.get("loss"), "loss.data")
    got_grad = as_vector(value.get("grad"), len(s["grad"]), "the logits' grads")
    problems = []
    if not close(got_loss, s["loss"], s["rel_tol"], s["abs_tol"]):
        problems.append("loss.data expected %s, got %s" % (fmt(s["loss"]), fmt(got_loss)))
    problems += ["logits[%d].grad expected %s, got %s" % (i, fmt(e), fmt(g))
                 for i, (g, e) in enumerate(zip(got_grad, s["grad"]))
                 if not close(g, e, s["rel_tol"], s["abs_tol"])]
    return "; ".join(problems) if problems else None


def judge_graph(s: dict[str, Any], value: Any) -> str | None:
    n = len(s["data"])
    got_data = as_vector(value.get("data"), n, "the nodes' .data")
    got_grad = as_vector(value.get("grad"), n, "the nodes' .grad")
    rel, abs_ = s["rel_tol"], s["abs_tol"]
    labels, out = s["labels"], n - 1
    wrong = []
    if not close(got_data[out], s["data"][out], rel, abs_):
        wrong.append("%s.data expected %s, got %s" % (s["output"], fmt(s["data"][out]), fmt(got_data[out])))
    wrong += ["%s.grad expected %s, got %s" % (labels[i], fmt(s["grads"][i]), fmt(got_grad[i]))
              for i in s["leaves"] if not close(got_grad[i], s["grads"][i], rel, abs_)]
    if not wrong:
        return None
    hint = None
    bad = next((i for i in range(n) if not close(got_data[i], s["data"][i], rel, abs_)), None)
    if bad is not None:
        hint = "%s has .data %s, expected %s" % (labels[bad], fmt(got_data[bad]), fmt(s["data"][bad]))
    elif not close(got_grad[out], 1.0, rel, abs_):
        hint = ("after backward() the output's .grad is %s, expected 1: backward() must set "
                "self.grad = 1.0 before running the _backward functions" % fmt(got_grad[out]))
    else:
        first = next((i for i in range(out - 1, -1, -1) if not close(got_grad[i], s["grads"][i], rel, abs_)))
        hint = "the first wrong gradient is %s's: .grad expected %s, got %s" % (
            labels[first], fmt(s["grads"][first]), fmt(got_grad[first]))
    return "; ".join(wrong) + " (%s)" % hint


def judge_sigmoid(s: dict[str, Any], value: Any) -> str | None:
    data = as_vector(value.get("data"), len(s["s"]), "the sigmoids")
    grad = as_vector(value.get("grad"), len(s["s"]), "the gradients")
    rel, abs_ = s["rel_tol"], s["abs_tol"]
    if not all_close(data, s["s"], rel, abs_):
        return "sigmoid expected %s, got %s" % (fmt(s["s"]), fmt(data))
    if all_close(grad, s["grad"], rel, abs_):
        return None
    if all_close(grad, [v * (1 - v) for v in s["s"]], rel, abs_):
        return ("x.sigmoid() + x.sigmoid() gave x.grad = s(1 - s) instead of 2 s(1 - s): the backward "
                "overwrites x.grad; accumulate with +=")
    return ("for v.sigmoid() + v.sigmoid(), v.grad expected %s, got %s (d sigmoid/dx = s (1 - s))"
            % (fmt(s["grad"]), fmt(grad)))


def judge_softmax_ce(s: dict[str, Any], value: Any) -> str | None:
    rel, abs_ = s["rel_tol"], s["abs_tol"]
    probs = as_vector(value.get("probs"), len(s["probs"]), "softmax's probabilities")
    total = _math.fsum(probs)
    if abs(total - 1.0) > 1e-9:
        return ("the probabilities sum to %s, not 1: divide each exp(logit) by the sum of all of them"
                % fmt(total))
    if not all_close(probs, s["probs"], rel, abs_):
        return "softmax expected %s, got %s" % (fmt(s["probs"]), fmt(probs))
    loss = as_number(value.get("loss"), "the loss")
    if not close(loss, s["loss"], rel, abs_):
        hint = ": the sign is flipped (the loss is -log p[label])" if close(loss, -s["loss"], rel, abs_) else ""
        return "cross_entropy expected %s, got %s%s" % (fmt(s["loss"]), fmt(loss), hint)
    grad = as_vector(value.get("grad"), len(s["grad"]), "the logits' gradients")
    if not all_close(grad, s["grad"], rel, abs_):
        return "the logits' gradients expected %s, got %s" % (fmt(s["grad"]), fmt(grad))
    return None

