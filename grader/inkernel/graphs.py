"""Task family: expression graphs built with the student's ``Value`` class (a node per operation,
described by the grader as plain data), backpropagated, and read back as numbers."""

from __future__ import annotations

from .protocol import _MAX_LEN, _name, _NodeError, _Unplain
from .reading import _read, number

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

_UNARY: dict[str, Callable[[Any], Any]] = {
    "neg": lambda x: -x,
    "exp": lambda x: x.exp(),
    "log": lambda x: x.log(),
    "tanh": lambda x: x.tanh(),
    "relu": lambda x: x.relu(),
}
_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "add": lambda x, y: x + y,
    "sub": lambda x, y: x - y,
    "mul": lambda x, y: x * y,
    "div": lambda x, y: x / y,
}
_WITH_CONST: dict[str, Callable[[Any, Any], Any]] = {  # (node, constant)
    "addc": lambda x, c: x + c,
    "radd": lambda x, c: c + x,
    "subc": lambda x, c: x - c,
    "rsub": lambda x, c: c - x,
    "mulc": lambda x, c: x * c,
    "rmul": lambda x, c: c * x,
    "divc": lambda x, c: x / c,
    "rdiv": lambda x, c: c / x,
    "pow": lambda x, c: x ** c,
}


def _build(value_cls: Any, nodes: list[list[Any]]) -> list[Any]:
    """The graph's nodes built with the student's class; a failing node is named by its index."""
    built: list[Any] = []
    for i, node in enumerate(nodes):
        op = node[0]
        try:
            if op == "leaf":
                v = value_cls(node[1])
            elif op in _UNARY:
                v = _UNARY[op](built[node[1]])
            elif op in _BINARY:
                v = _BINARY[op](built[node[1]], built[node[2]])
            else:
                v = _WITH_CONST[op](built[node[1]], node[2])
        except (Exception, SystemExit) as exc:
            raise _NodeError(i, exc)
        built.append(v)
    return built


def task_graph(cls_name: str, nodes: list[list[Any]]) -> dict[str, Any]:
    """Build an expression graph from the student's Value class, backpropagate, report numbers."""
    built = _build(_name(cls_name), nodes)
    try:
        built[-1].backward()
    except (Exception, SystemExit) as exc:
        raise _NodeError(-1, exc)
    leaves = [i for i, node in enumerate(nodes) if node[0] == "leaf"]
    return {
        "data": [number(v.data, "node %d .data" % i) for i, v in enumerate(built)],
        "grad": [number(built[i].grad, "leaf %d .grad" % i) for i in leaves],
    }


def task_softmax_nll(cls_name: str, fn_name: str, logits: list[float], label: int) -> dict[str, Any]:
    """Student's softmax on fresh Values, loss = -probs[label].log(), backward; report numbers."""
    value_cls = _name(cls_name)
    softmax = _name(fn_name)
    xs = [value_cls(x) for x in logits]
    probs = list(softmax(xs))
    if len(probs) != len(xs):
        raise _Unplain("softmax returned %d probabilities for %d logits" % (len(probs), len(xs)))
    loss = -probs[label].log()
    loss.backward()
    return {
        "loss": number(loss.data, "loss.data"),
        "probs": [number(p.data, "probs[%d].data" % i) for i, p in enumerate(probs)],
        "grad": [number(x.grad, "logits[%d].grad" % i) for i, x in enumerate(xs)],
    }


def _backward(out: Any) -> None:
    """``out.backward()``; a RecursionError escapes so that the report says it was recursion."""
    try:
        out.backward()
    except RecursionError:
        raise
    except (Exception, SystemExit) as exc:
        raise _NodeError(-1, exc)


def task_autograd(cls_name: str, nodes: list[list[Any]]) -> dict[str, Any]:
    """Build a graph from the student's class, backpropagate, report every node's data and grad."""
    built = _build(_name(cls_name), nodes)
    _backward(built[-1])
    return {
        "data": [_read(v, "data", "n%d" % i) for i, v in enumerate(built)],
        "grad": [_read(v, "grad", "n%d" % i) for i, v in enumerate(built)],
    }


def _seeded_backward(out: Any, seed: float) -> float:
    """Backpropagate from ``out`` with ``out.grad = seed``, calling each node's ``_backward`` in
    reverse topological order of ``_prev``, as micrograd's backward() does but with a seed that is
    not 1, so that a _backward that forgets to multiply by ``out.grad`` shows. Without ``_prev`` and
    ``_backward`` the student's own backward() runs instead; the seed used is returned."""
    topo: list[Any] = []
    seen: set[int] = set()
    stack: list[tuple[Any, bool]] = [(out, False)]
    while stack:
        v, done = stack.pop()
        if done:
            topo.append(v)
            continue
        if id(v) in seen:
            continue
        seen.add(id(v))
        children = getattr(v, "_prev", None)
        if children is None or not callable(getattr(v, "_backward", None)) or len(topo) > _MAX_LEN:
            _backward(out)
            return 1.0
        stack.append((v, True))
        stack.extend((c, False) for c in list(children))
    try:
        out.grad = seed
        for v in reversed(topo):
            v._backward()
    except RecursionError:
        raise
    except (Exception, SystemExit) as exc:
        raise _NodeError(-1, exc)
    return seed


def task_op_case(cls_name: str, nodes: list[list[Any]], seed: float) -> dict[str, Any]:
    """One operation alone (or a node used twice): built twice, once backpropagated by the student's
    own backward(), once with the output's grad seeded to ``seed``; both sets of input grads."""
    value_cls = _name(cls_name)
    leaves = [i for i, node in enumerate(nodes) if node[0] == "leaf"]
    plain = _build(value_cls, nodes)
    _backward(plain[-1])
    built = _build(value_cls, nodes)
    used = _seeded_backward(built[-1], seed)
    return {"data": [_read(v, "data", "n%d" % i) for i, v in enumerate(built)],
            "grad": [_read(built[i], "grad", "n%d" % i) for i in leaves], "seed": used,
            "plain": [_read(plain[i], "grad", "n%d" % i) for i in leaves]}


def task_chain(cls_name: str, x: float, mults: list[float], adds: list[float], steps: int,
               limit: int) -> dict[str, Any]:
    """``v = v * m + a`` for ``steps`` links from one leaf, then backward() under a recursion limit."""
    import sys

    value_cls = _name(cls_name)
    try:
        leaf = value_cls(x)
    except (Exception, SystemExit) as exc:
        raise _NodeError(0, exc)
    v = leaf
    for i in range(steps):
        try:
            v = v * mults[i % len(mults)] + adds[i % len(adds)]
        except (Exception, SystemExit) as exc:
            raise _NodeError(i + 1, exc)
    old = sys.getrecursionlimit()
    try:
        if old > limit:  # a notebook that raised the limit gets Python's default back for this probe
            sys.setrecursionlimit(limit)
        _backward(v)
    finally:
        sys.setrecursionlimit(old)
    return {"data": _read(v, "data", "the output"), "grad": _read(leaf, "grad", "the leaf")}
