"""The published check of a finite-difference question: the grader's rule
(``checks/finite_difference.py``) on top of its step recovery (``checks/fd_steps``, sent before the
runner for these questions only): each component must be the asked scheme at a plausible step, and
within the tolerance of the gradient."""

from __future__ import annotations

import math as _math

from ...checks.fd_steps import EXACT, FORMULA, Component, candidate_steps, findings, rounding_dominates
from .compare import Unusable, as_vector, fmt
from .observe import observe

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable


_FD_NAMES = {"forward": "a forward difference", "central": "a central difference",
             "backward": "a backward difference", "central_no_half": "a central difference without the 1/2"}


def judge_fd(s: dict[str, Any], env: dict[str, Any]) -> str:
    status, value = observe(env, "value", [s["variable"]])
    if status != "ok":
        return "`%s`: %s" % (s["variable"], value)
    try:
        got = as_vector(value, len(s["components"]), s["variable"])
    except Unusable as exc:
        return "`%s`: unusable answer: %s" % (s["variable"], exc)
    fn = _fd_function(s, s["expression"])
    point, asked, low, high, h = tuple(s["point"]), s["scheme"], s["low"], s["high"], s["h"]
    comps = [Component(fn, point, i, partial=_fd_partial(s, c.pop("partial")), **c)
             for i, c in enumerate(dict(c) for c in s["components"])]
    steps = [(candidate_steps(x, low, high, h),
              [t for t in candidate_steps(x, 1e-16, 0.5, h) if t.value < low or t.value > high])
             for x in point]
    found = findings(got, comps, asked, steps, h)
    exact = [m.step for f in found if f.kind == "estimate" for m in f.matches if m.how in EXACT]
    shared = [m.step for f in found if f.kind == "estimate" for m in f.matches]
    common = sorted(set(shared), key=lambda t: (t != h, -exact.count(t), -shared.count(t), t))
    order = dict((t, k) for k, t in enumerate(common))
    problems = []
    for i, (g, c, f) in enumerate(zip(got, comps, found)):
        name = "component %d (d/d%s)" % (i, s["variables"][i])
        tol = max(s["abs_tol"], s["rel_tol"] * abs(c.exact))
        err = abs(g - c.exact)
        backward = (f.kind == "scheme" and asked == "forward" and s["accept_backward"]
                    and f.matches[0].scheme == "backward")
        if f.kind == "estimate" or backward:
            step = min(f.matches, key=lambda m: (m.how not in EXACT, m.level, order.get(m.step, len(order)))).step
            if err > tol:
                problems.append("%s: %s is %s with h = %g, but %.2g from the gradient %s, more than the %g "
                                "the notebook's self-check allows: use a smaller step, such as h = %g"
                                % (name, fmt(g), _FD_NAMES["backward" if backward else asked], step, err,
                                   fmt(c.exact), tol, h))
            elif s["more_accurate_than"] and not backward and not rounding_dominates(c, step):
                other_err = abs(c.estimate(step, s["more_accurate_than"]) - c.exact)
                if not err < other_err:
                    problems.append("%s: %s is not more accurate than %s with the same h = %g (error %.2g "
                                    "against %.2g)" % (name, fmt(g), _FD_NAMES[s["more_accurate_than"]],
                                                       step, err, other_err))
            continue
        if f.kind == "exact":
            why = ("got %s, the exact derivative, not a finite-difference estimate: compute it from "
                   "calls to f, as %s" % (fmt(g), FORMULA[asked]))
        elif f.kind == "scheme":
            m = f.matches[0]
            why = "got %s, which is %s %s with h = %g, not %s %s" % (
                fmt(g), _FD_NAMES[m.scheme], FORMULA[m.scheme], m.step, _FD_NAMES[asked], FORMULA[asked])
        elif f.kind == "range":
            m = f.matches[0]
            why = "got %s, which is %s with h = %g, outside the plausible steps %g to %g: use a step such as h = %g" % (
                fmt(g), _FD_NAMES[m.scheme], m.step, low, high, h)
        else:
            why = ("expected %s (%s with h = %g, or with any step from %g to %g), got %s, which no such "
                   "step reproduces" % (fmt(c.estimate(h, asked)), _FD_NAMES[asked], h, low, high, fmt(g)))
        problems.append("%s: %s" % (name, why))
    if not problems:
        ok: str = s["ok"]
        return ok
    return ("`%s` should be the %s (any step from %g to %g, for example h = %g, within %g of the "
            "gradient): %s" % (s["variable"], s["what"], low, high, h, s["abs_tol"], "; ".join(problems)))


def _fd_function(s: dict[str, Any], expression: str) -> Callable[..., float]:
    fn: Callable[..., float] = eval("lambda %s: %s" % (", ".join(s["variables"]), expression),
                                    dict(_MATH_NAMES))
    return fn


def _fd_partial(s: dict[str, Any], expression: str | None) -> Callable[..., float] | None:
    return None if expression is None else _fd_function(s, expression)


_MATH_NAMES = {"__builtins__": {}, "sin": _math.sin, "cos": _math.cos, "tan": _math.tan,
               "exp": _math.exp, "log": _math.log, "sqrt": _math.sqrt, "tanh": _math.tanh,
               "sinh": _math.sinh, "cosh": _math.cosh, "atan": _math.atan, "Abs": abs}
