"""Random expression graphs over a scalar autograd ``Value``, and their SymPy reference values.

A graph is plain data: a list of nodes, each ``["leaf", x]``, ``[unary_op, i]``,
``[binary_op, i, j]`` or ``[const_op, i, c]`` where ``i``/``j`` index earlier nodes. The last node
is the output. The kernel builds it with the student's class; the grader differentiates it here.
"""

from __future__ import annotations

import math
import random
from typing import Any, Callable, Sequence

import sympy

from . import references

UNARY = ("neg", "exp", "log", "tanh", "relu")
BINARY = ("add", "sub", "mul", "div")
WITH_CONST = ("addc", "radd", "subc", "rsub", "mulc", "rmul", "divc", "rdiv", "pow")
OPS = UNARY + BINARY + WITH_CONST

_SYMPY_UNARY: dict[str, Callable[[Any], Any]] = {
    "neg": lambda x: -x, "exp": sympy.exp, "log": sympy.log, "tanh": sympy.tanh,
    "relu": lambda x: sympy.Max(0, x),
}
_SYMPY_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y,
    "div": lambda x, y: x / y,
    "addc": lambda x, c: x + c, "radd": lambda x, c: c + x, "subc": lambda x, c: x - c,
    "rsub": lambda x, c: c - x, "mulc": lambda x, c: x * c, "rmul": lambda x, c: c * x,
    "divc": lambda x, c: x / c, "rdiv": lambda x, c: c / x, "pow": lambda x, c: x ** c,
}
_FLOAT: dict[str, Callable[..., float]] = {
    "neg": lambda x: -x, "exp": math.exp, "log": math.log, "tanh": math.tanh,
    "relu": lambda x: max(0.0, x),
    "add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y,
    "div": lambda x, y: x / y,
    "addc": lambda x, c: x + c, "radd": lambda x, c: c + x, "subc": lambda x, c: x - c,
    "rsub": lambda x, c: c - x, "mulc": lambda x, c: x * c, "rmul": lambda x, c: c * x,
    "divc": lambda x, c: x / c, "rdiv": lambda x, c: c / x, "pow": lambda x, c: x ** c,
}


def describe(node: Sequence[Any]) -> str:
    """A node as the Python a student would write, e.g. ``n2.log()`` or ``2.5 / n1``."""
    op = node[0]
    if op == "leaf":
        return f"Value({node[1]!r})"
    a = f"n{node[1]}"
    if op in ("exp", "log", "tanh", "relu"):
        return f"{a}.{op}()"
    if op == "neg":
        return f"-{a}"
    if op in BINARY:
        return f"{a} {dict(add='+', sub='-', mul='*', div='/')[op]} n{node[2]}"
    c = node[2]
    symbol = {"addc": "+", "radd": "+", "subc": "-", "rsub": "-", "mulc": "*", "rmul": "*",
              "divc": "/", "rdiv": "/", "pow": "**"}[op]
    return f"{c!r} {symbol} {a}" if op in ("radd", "rsub", "rmul", "rdiv") else f"{a} {symbol} {c!r}"


def operands(node: Sequence[Any]) -> list[int]:
    """The indices of the earlier nodes that ``node`` reads."""
    if node[0] == "leaf":
        return []
    if node[0] in BINARY:
        return [node[1], node[2]]
    return [node[1]]


def _ok(op: str, args: Sequence[float]) -> float | None:
    """The float value of ``op`` on ``args`` if it is safely inside its domain, else None."""
    x = args[0]
    if op == "log" and x < 0.2:
        return None
    if op == "exp" and x > 4.0:
        return None
    if op == "div" and abs(args[1]) < 0.3:
        return None
    if op == "rdiv" and abs(x) < 0.3:
        return None
    if op == "pow" and (x < 0.2 or x > 5.0):
        return None
    if op == "relu" and abs(x) < 0.05:  # keep clear of the kink, where the derivative is undefined
        return None
    try:
        value = _FLOAT[op](*args)
    except (ValueError, OverflowError, ZeroDivisionError):
        return None
    return value if math.isfinite(value) and abs(value) < 1e3 else None


def _const(op: str, rng: random.Random) -> float:
    if op == "pow":
        return rng.choice([2, 3, -1, 0.5, 1.5, -0.5])
    value = round(rng.uniform(0.5, 3.0), 3)
    return value if rng.random() < 0.5 or op in ("divc",) else -value


def random_graph(ops: Sequence[str], rng: random.Random, *, leaves: int = 3, steps: int = 6,
                 reuse: bool = True) -> list[list[Any]]:
    """A random graph using every op in ``ops`` at least once where possible, with a reused node."""
    nodes: list[list[Any]] = []
    values: list[float] = []
    for _ in range(leaves):
        x = round(rng.uniform(0.3, 2.5) * rng.choice([1, 1, -1]), 4)
        nodes.append(["leaf", x])
        values.append(x)
    pending = list(ops)
    rng.shuffle(pending)
    for step in range(steps + len(pending)):
        op = pending.pop() if pending else rng.choice(list(ops))
        for _attempt in range(30):
            i = rng.randrange(len(nodes)) if rng.random() < 0.4 else len(nodes) - 1 - rng.randrange(
                min(3, len(nodes)))
            if op in BINARY:
                j = i if (reuse and step == 1) else rng.randrange(len(nodes))
                value = _ok(op, (values[i], values[j]))
                node = [op, i, j]
            elif op in WITH_CONST:
                c = _const(op, rng)
                value = _ok(op, (values[i], c))
                node = [op, i, c]
            else:
                value = _ok(op, (values[i],))
                node = [op, i]
            if value is not None:
                nodes.append(node)
                values.append(value)
                break
    # Fold every node nothing depends on into the output, so that every leaf gets a gradient.
    combine = next((op for op in ("add", "mul", "sub") if op in ops), "add")
    used = {i for node in nodes for i in operands(node)}
    dangling = [i for i in range(len(nodes)) if i not in used and i != len(nodes) - 1]
    for i in dangling:
        value = _ok(combine, (values[-1], values[i]))
        if value is None:
            continue
        nodes.append([combine, len(nodes) - 1, i])
        values.append(value)
    if reuse and not any(node[0] in BINARY and node[1] == node[2] for node in nodes):
        value = _ok(combine, (values[-1], values[-1]))
        if value is not None:
            nodes.append([combine, len(nodes) - 1, len(nodes) - 1])
            values.append(value)
    return nodes


def reference(nodes: Sequence[Sequence[Any]]) -> tuple[list[float], list[float]]:
    """Every node's value and d output / d leaf for each leaf, from SymPy."""
    names: list[str] = []
    point: list[float] = []
    exprs: list[Any] = []
    for node in nodes:
        op = node[0]
        if op == "leaf":
            name = f"x{len(names)}"
            names.append(name)
            point.append(float(node[1]))
            exprs.append(sympy.Symbol(name, real=True))
        elif op in _SYMPY_UNARY:
            exprs.append(_SYMPY_UNARY[op](exprs[node[1]]))
        elif op in BINARY:
            exprs.append(_SYMPY_BINARY[op](exprs[node[1]], exprs[node[2]]))
        else:
            exprs.append(_SYMPY_BINARY[op](exprs[node[1]], sympy.nsimplify(node[2])))
    data = [references.value_at(e, names, point) for e in exprs]
    grads = references.gradient_at(exprs[-1], names, point)
    return data, grads
