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
            # The constant's exact decimal value: nsimplify would "recognise" 1.031 as a product
            # of fractional powers of primes, equal as a float but very slow to evaluate.
            exprs.append(_SYMPY_BINARY[op](exprs[node[1]], sympy.Rational(repr(node[2]))))
    data = [references.value_at(e, names, point) for e in exprs]
    grads = references.gradient_at(exprs[-1], names, point)
    return data, grads


# --------------------------------------------------------------------------- locating a wrong gradient

SYNTAX: dict[str, str] = {
    "neg": "`__neg__` (-a)", "exp": "`exp()`", "log": "`log()`", "tanh": "`tanh()`", "relu": "`relu()`",
    "add": "`__add__` (a + b)", "sub": "`__sub__` (a - b)", "mul": "`__mul__` (a * b)",
    "div": "`__truediv__` (a / b)", "addc": "`__add__` with a number (a + 2)",
    "radd": "`__radd__` (2 + a)", "subc": "`__sub__` with a number (a - 2)", "rsub": "`__rsub__` (2 - a)",
    "mulc": "`__mul__` with a number (a * 2)", "rmul": "`__rmul__` (2 * a)",
    "divc": "`__truediv__` with a number (a / 2)", "rdiv": "`__rtruediv__` (2 / a)",
    "pow": "`__pow__` (a ** 2)",
}

# d node / d operand(s), from the operands' float values (and the constant, for WITH_CONST ops)
_LOCAL: dict[str, Callable[..., tuple[float, ...]]] = {
    "neg": lambda x: (-1.0,), "exp": lambda x: (math.exp(x),), "log": lambda x: (1.0 / x,),
    "tanh": lambda x: (1.0 - math.tanh(x) ** 2,), "relu": lambda x: (1.0 if x > 0 else 0.0,),
    "add": lambda x, y: (1.0, 1.0), "sub": lambda x, y: (1.0, -1.0), "mul": lambda x, y: (y, x),
    "div": lambda x, y: (1.0 / y, -x / y ** 2),
    "addc": lambda x, c: (1.0,), "radd": lambda x, c: (1.0,), "subc": lambda x, c: (1.0,),
    "rsub": lambda x, c: (-1.0,), "mulc": lambda x, c: (c,), "rmul": lambda x, c: (c,),
    "divc": lambda x, c: (1.0 / c,), "rdiv": lambda x, c: (-c / x ** 2,),
    "pow": lambda x, c: (c * x ** (c - 1),),
}


def syntax(op: str) -> str:
    """How a student writes ``op``, for messages that name the method to fix."""
    return SYNTAX.get(op, f"`{op}`")


def evaluate(nodes: Sequence[Sequence[Any]]) -> list[float]:
    """Every node's float value (ValueError when a node is undefined or not finite)."""
    out: list[float] = []
    for node in nodes:
        op = node[0]
        try:
            if op == "leaf":
                v = float(node[1])
            elif op in BINARY:
                v = _FLOAT[op](out[node[1]], out[node[2]])
            elif op in WITH_CONST:
                v = _FLOAT[op](out[node[1]], node[2])
            else:
                v = _FLOAT[op](out[node[1]])
        except (ValueError, OverflowError, ZeroDivisionError, TypeError) as exc:
            raise ValueError(f"{describe(node)} is undefined: {exc}") from None
        if not isinstance(v, (float, int)) or not math.isfinite(v):
            raise ValueError(f"{describe(node)} is not a finite real number")
        out.append(float(v))
    return out


def backprop(nodes: Sequence[Sequence[Any]], data: Sequence[float]
             ) -> tuple[list[float], list[list[tuple[int, float]]]]:
    """Float reverse mode: d output / d node for every node, and each node's contributions.

    ``contributions[i]`` lists ``(j, share)`` for every use of node ``i`` by a later node ``j``
    (twice when ``j`` reads ``i`` twice): what a correct ``_backward`` of ``j`` adds to ``i.grad``.
    Used to say which operation's backward is wrong; scores use the SymPy reference.
    """
    grads = [0.0] * len(nodes)
    contributions: list[list[tuple[int, float]]] = [[] for _ in nodes]
    grads[-1] = 1.0
    for j in range(len(nodes) - 1, -1, -1):
        node = nodes[j]
        op = node[0]
        if op == "leaf":
            continue
        reads = operands(node)
        if op in WITH_CONST:
            local = _LOCAL[op](data[node[1]], node[2])
        else:
            local = _LOCAL[op](*(data[i] for i in reads))
        for i, d in zip(reads, local):
            share = d * grads[j]
            grads[i] += share
            contributions[i].append((j, share))
    return grads, contributions
