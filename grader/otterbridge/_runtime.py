"""(Not imported: sent as text.) Judge one question's published check inside the student's kernel (an exported otter test).

Sent as text in an OK-format test, after the grader's own in-kernel probe runner (``_in_kernel``,
so the student's code is exercised exactly as ``grader run`` exercises it) and, for a
finite-difference question, the grader's step recovery (``checks/fd_steps``). ``SPEC`` (appended
as plain data by ``grader.otterbridge.specs``) holds the published inputs and the references the
grader computed with SymPy and numpy; nothing hidden. ``check(env)`` returns ``SPEC["ok"]`` when the
published part would get full marks, else what is wrong, in the grader's words.
"""

import math as _math


def fmt(x):
    if isinstance(x, float):
        return "%.10g" % x
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(fmt(v) for v in x) + "]"
    return repr(x)


def close(got, expected, rel_tol, abs_tol):
    if not (_math.isfinite(got) and _math.isfinite(expected)):
        return False
    return abs(got - expected) <= max(abs_tol, rel_tol * abs(expected))


def all_close(got, expected, rel_tol, abs_tol):
    return len(got) == len(expected) and all(close(g, e, rel_tol, abs_tol) for g, e in zip(got, expected))


class Unusable(Exception):
    pass


def as_vector(value, n, what):
    if type(value) is not list or not all(type(v) in (int, float) for v in value):
        raise Unusable("%s is not a list of numbers" % what)
    if len(value) != n:
        raise Unusable("%s has %d numbers, expected %d" % (what, len(value), n))
    return [float(v) for v in value]


def as_number(value, what):
    if type(value) not in (int, float):
        raise Unusable("%s is not a number" % what)
    return float(value)


def observe(env, task, args, weights=None):
    """Run one probe task of the grader's runner on the student's names: (status, value or why)."""
    _state.update({"shell": _Shell(env), "float": float.__float__, "int": int.__int__, "to_float": float,
                   "getattribute": object.__getattribute__})
    _state.pop("notes", None)
    _FIXED[:] = list(weights or [])
    try:
        return "ok", TASKS[task](*args)
    except _Missing as exc:
        return "missing", ("not defined: `%s` does not exist (did the cell that defines it run "
                           "without an error?)" % exc.args[0])
    except _Unplain as exc:
        return "invalid", "unusable answer: %s" % exc.args[0]
    except _NodeError as exc:
        return "raised", "raised %s" % _describe(exc.exc)
    except RecursionError:
        return "raised", ("backward() exceeded Python's recursion limit: build the topological order "
                          "with an explicit stack (a loop) instead of recursion")
    except (Exception, SystemExit) as exc:
        return "raised", "raised %s" % _describe(exc)


class _Shell:
    def __init__(self, env):
        self.user_ns = env


# The published network checks run on fixed, published weights: the network is built from the
# student's class, then its parameters (in the documented order) are set to these values.
_FIXED = []
_grader_net = _net


def _net(cls_name, nin, nouts):  # noqa: F811 -- rebinds the runner's _net for its tasks
    model, params, shape = _grader_net(cls_name, nin, nouts)
    if _FIXED and len(params) == len(_FIXED):
        for p, w in zip(params, _FIXED):
            p.data = w
    return model, params, shape


# ----------------------------------------------------------------------------- one judge per kind

def judge_gradient(s, value):
    got = as_vector(value, len(s["expected"]), "%s(...)" % s["function"])
    wrong = ["%s expected %s, got %s" % (n, fmt(e), fmt(g))
             for n, g, e in zip(s["names"], got, s["expected"]) if not close(g, e, s["rel_tol"], s["abs_tol"])]
    return "; ".join(wrong) if wrong else None


def judge_softmax_nll(s, value):
    got_loss = as_number(value.get("loss"), "loss.data")
    got_grad = as_vector(value.get("grad"), len(s["grad"]), "the logits' grads")
    problems = []
    if not close(got_loss, s["loss"], s["rel_tol"], s["abs_tol"]):
        problems.append("loss.data expected %s, got %s" % (fmt(s["loss"]), fmt(got_loss)))
    problems += ["logits[%d].grad expected %s, got %s" % (i, fmt(e), fmt(g))
                 for i, (g, e) in enumerate(zip(got_grad, s["grad"]))
                 if not close(g, e, s["rel_tol"], s["abs_tol"])]
    return "; ".join(problems) if problems else None


def judge_graph(s, value):
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


def judge_sigmoid(s, value):
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


def judge_softmax_ce(s, value):
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


def first_mismatch(got, expected, names, rel, abs_, what):
    wrong = [i for i, (g, e) in enumerate(zip(got, expected)) if not close(g, e, rel, abs_)]
    if not wrong:
        return None
    i = wrong[0]
    return "%d of %d %s differ; for example %s expected %s, got %s" % (
        len(wrong), len(expected), what, names[i], fmt(expected[i]), fmt(got[i]))


def _shape(s, value):
    if value.get("shape") != s["shape"]:
        raise Unusable("%s was built with neurons of %s weights per layer, expected %s "
                       "(model.layers[i].neurons[j].w holds one weight per input)"
                       % (s["net"], value.get("shape"), s["shape"]))


def judge_mlp(s, value):
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


def _params(value, key, s):
    _shape(s, value)
    return as_vector(value.get(key), len(s["before"]), "the parameters")


def judge_training(s, value):
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


JUDGES = {"gradient": judge_gradient, "softmax_nll": judge_softmax_nll, "graph": judge_graph,
          "sigmoid": judge_sigmoid, "softmax_ce": judge_softmax_ce, "mlp": judge_mlp,
          "training": judge_training}


def check(env):
    """``SPEC["ok"]`` when the published check passes, else what is wrong."""
    s = SPEC
    if s["judge"] == "fd":
        return judge_fd(s, env)
    status, value = observe(env, s["task"], s["args"], s.get("weights"))
    if status != "ok":
        return "%s: %s" % (s["label"], value)
    try:
        problem = JUDGES[s["judge"]](s, value)
    except Unusable as exc:
        problem = "unusable answer: %s" % exc
    return s["ok"] if problem is None else "%s: %s" % (s["label"], problem)


# ----------------------------------------------------------------------------- finite differences
# The grader's rule (checks/finite_difference.py) on top of its step recovery (fd_steps): each
# component must be the asked scheme at a plausible step, and within the tolerance of the gradient.

_FD_NAMES = {"forward": "a forward difference", "central": "a central difference",
             "backward": "a backward difference", "central_no_half": "a central difference without the 1/2"}


def judge_fd(s, env):
    status, value = observe(env, "value", [s["variable"]])
    if status != "ok":
        return "`%s`: %s" % (s["variable"], value)
    try:
        got = as_vector(value, len(s["components"]), s["variable"])
    except Unusable as exc:
        return "`%s`: unusable answer: %s" % (s["variable"], exc)
    fn = _fd_function(s, s["expression"])
    point, asked, low, high, h = tuple(s["point"]), s["scheme"], s["low"], s["high"], s["h"]
    comps = [Component(fn, point, i, partial=_fd_function(s, c.pop("partial")), **c)
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
        return s["ok"]
    return ("`%s` should be the %s (any step from %g to %g, for example h = %g, within %g of the "
            "gradient): %s" % (s["variable"], s["what"], low, high, h, s["abs_tol"], "; ".join(problems)))


def _fd_function(s, expression):
    if expression is None:
        return None
    return eval("lambda %s: %s" % (", ".join(s["variables"]), expression), dict(_MATH_NAMES))


_MATH_NAMES = {"__builtins__": {}, "sin": _math.sin, "cos": _math.cos, "tan": _math.tan,
               "exp": _math.exp, "log": _math.log, "sqrt": _math.sqrt, "tanh": _math.tanh,
               "sinh": _math.sinh, "cosh": _math.cosh, "atan": _math.atan, "Abs": abs}
