"""Task family: networks built with the student's ``MLP`` (forward, loss, backward, parameters,
zero_grad), training functions called on a fresh network, a trained model's predictions, and the
activations and losses built on ``Value`` (sigmoid, softmax with cross-entropy)."""

from __future__ import annotations

from .protocol import _MAX_LEN, _name, _state, _Unplain
from .reading import _NO, _own_data, _read, number
from .wire import _describe

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _scalar(v: Any, what: str) -> float:
    """A student's number: a ``Value`` (its ``.data``, read as ``number`` reads one) or a number."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return number(v, what)
    if _own_data(v) is _NO:
        return _read(v, "data", what)
    return number(v, what, wrapped=False)


def _net_params(model: Any) -> tuple[list[Any], list[list[int]]]:
    """The parameters in the documented order: ``model.layers[i].neurons[j]``: ``w[0..]``, then ``b``."""
    params: list[Any] = []
    shape: list[list[int]] = []
    for layer in model.layers:
        widths = []
        for neuron in layer.neurons:
            w = list(neuron.w)
            widths.append(len(w))
            params.extend(w)
            params.append(neuron.b)
        shape.append(widths)
    return params, shape


def _net(cls_name: str, nin: int, nouts: list[int]) -> tuple[Any, list[Any], list[list[int]]]:
    """A fresh ``cls(nin, nouts)`` and its parameters. Where ``_state["weights"]`` is set (only by
    the exported otter checks, which judge fixed published networks) and the network has as many
    parameters, their ``.data`` are set to those weights; grading never sets it."""
    cls = _name(cls_name)
    model = cls(nin, list(nouts))
    params, shape = _net_params(model)
    fixed = _state.get("weights")
    if fixed and len(params) == len(fixed):
        for p, w in zip(params, fixed):
            p.data = w
    return model, params, shape


def _outputs(out: Any, what: str) -> list[Any]:
    """A network's output: one ``Value`` or a list of them, as a list."""
    return list(out) if isinstance(out, (list, tuple)) else [out]


def task_mlp(cls_name: str, nin: int, nouts: list[int], x: list[float],
             target: list[float]) -> dict[str, Any]:
    """Build ``MLP(nin, nouts)``, read its parameters, run ``x``, backpropagate the squared error.

    The loss ``sum((out - target)**2)`` is built here from the student's own ``Value`` operations.
    ``parameters()`` and ``zero_grad()`` are checked after that; their errors are reported, not raised.
    """
    model, params, shape = _net(cls_name, nin, nouts)
    weights = [_read(p, "data", "parameter %d" % i) for i, p in enumerate(params)]
    outs = _outputs(model(list(x)), "the output")
    if len(outs) != len(target):
        raise _Unplain("MLP(%d, %r) returned %d outputs, expected %d"
                       % (nin, list(nouts), len(outs), len(target)))
    out_data = [_scalar(o, "output %d" % i) for i, o in enumerate(outs)]
    loss: Any = None
    for o, t in zip(outs, target):
        term = (o - t) ** 2
        loss = term if loss is None else loss + term
    loss.backward()
    result: dict[str, Any] = {
        "shape": shape, "weights": weights, "out": out_data,
        "loss": _read(loss, "data", "the loss"),
        "grads": [_read(p, "grad", "parameter %d" % i) for i, p in enumerate(params)],
        "count": -1, "same_order": False, "parameters_error": "", "zero_grad_error": "",
        "zeroed": [], "kept": []}
    try:
        listed = list(model.parameters())
        result["count"] = len(listed)
        result["same_order"] = len(listed) == len(params) and all(
            a is b for a, b in zip(listed, params))
    except (Exception, SystemExit) as exc:
        result["parameters_error"] = _describe(exc)
    try:
        model.zero_grad()
        result["zeroed"] = [_read(p, "grad", "parameter %d" % i) for i, p in enumerate(params)]
        result["kept"] = [_read(p, "data", "parameter %d" % i) for i, p in enumerate(params)]
    except _Unplain:
        raise
    except (Exception, SystemExit) as exc:
        result["zero_grad_error"] = _describe(exc)
    return result


def task_net_loss(cls_name: str, nin: int, nouts: list[int], fn_name: str,
                  args: list[Any]) -> dict[str, Any]:
    """``fn(MLP(nin, nouts), *args)`` must return a loss ``Value``; backpropagate it, report numbers."""
    fn = _name(fn_name)
    model, params, shape = _net(cls_name, nin, nouts)
    weights = [_read(p, "data", "parameter %d" % i) for i, p in enumerate(params)]
    loss = fn(model, *args)
    data = _read(loss, "data", "the loss")
    loss.backward()
    return {"shape": shape, "weights": weights, "loss": data,
            "grads": [_read(p, "grad", "parameter %d" % i) for i, p in enumerate(params)]}


def task_net_train(cls_name: str, nin: int, nouts: list[int], fn_name: str, args: list[Any],
                   calls: int) -> dict[str, Any]:
    """Call ``fn(model, *args)`` ``calls`` times on a fresh ``MLP(nin, nouts)``; report what it
    returned (a loss, or a list of losses) and the parameters before and after each call."""
    fn = _name(fn_name)
    model, params, shape = _net(cls_name, nin, nouts)
    before = [_read(p, "data", "parameter %d" % i) for i, p in enumerate(params)]
    returned: list[Any] = []
    after: list[list[float]] = []
    for _ in range(calls):
        ret = fn(model, *args)
        if isinstance(ret, (list, tuple)):
            if len(ret) > _MAX_LEN:
                raise _Unplain("%s returned %d items, far too many" % (fn_name, len(ret)))
            returned.append([_scalar(v, "%s(...)[%d]" % (fn_name, i)) for i, v in enumerate(ret)])
        else:
            returned.append(_scalar(ret, "the loss %s(...) returned" % fn_name))
        after.append([_read(p, "data", "parameter %d" % i) for i, p in enumerate(params)])
    return {"shape": shape, "before": before, "returned": returned, "after": after}


def task_predict(model_name: str, points: list[list[float]]) -> list[list[float]]:
    """The notebook's trained ``model`` on each point: its output(s) as numbers."""
    model = _name(model_name)
    if model is None:
        raise _Unplain("%s is None: build the model and train it" % model_name)
    return [[_scalar(o, "the output") for o in _outputs(model(list(x)), "the output")]
            for x in points]


def task_sigmoid(cls_name: str, method: str, xs: list[float]) -> dict[str, Any]:
    """For each x: ``v = Value(x)``; ``v.sigmoid() + v.sigmoid()``, backward; the sigmoid and ``v.grad``."""
    value_cls = _name(cls_name)
    data, grads = [], []
    for x in xs:
        v = value_cls(x)
        first = getattr(v, method)()
        out = first + getattr(v, method)()
        out.backward()
        data.append(_read(first, "data", "%s(%r)" % (method, x)))
        grads.append(_read(v, "grad", "the input's"))
    return {"data": data, "grad": grads}


def task_softmax_ce(cls_name: str, softmax_name: str, ce_name: str, logits: list[float],
                    label: int) -> dict[str, Any]:
    """``softmax`` on fresh Values (probabilities), and ``cross_entropy(logits, label)`` backpropagated."""
    value_cls = _name(cls_name)
    softmax = _name(softmax_name)
    cross_entropy = _name(ce_name)
    probs = list(softmax([value_cls(x) for x in logits]))
    if len(probs) > _MAX_LEN:
        raise _Unplain("softmax returned far too many values")
    xs = [value_cls(x) for x in logits]
    loss = cross_entropy(xs, label)
    data = _read(loss, "data", "the loss")
    loss.backward()
    return {"probs": [_scalar(p, "probs[%d]" % i) for i, p in enumerate(probs)], "loss": data,
            "grad": [_read(x, "grad", "logits[%d]" % i) for i, x in enumerate(xs)]}
