"""Expression graphs over a scalar autograd ``Value``, and their SymPy reference values.

A graph is plain data: a list of nodes, each ``["leaf", x]``, ``[unary_op, i]``,
``[binary_op, i, j]`` or ``[const_op, i, c]`` where ``i``/``j`` index earlier nodes. The last node
is the output. The kernel builds it with the student's class; the grader differentiates it here.
"""

from __future__ import annotations

import math
import random
from typing import Any, Callable, Sequence

import sympy

from . import symbolic

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


def expressions(nodes: Sequence[Sequence[Any]]) -> tuple[list[str], list[float], list[Any]]:
    """The leaves' names and values, and every node as a SymPy expression over the leaves."""
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
    return names, point, exprs


def reference(nodes: Sequence[Sequence[Any]]) -> tuple[list[float], list[float]]:
    """Every node's value and d output / d leaf for each leaf, from SymPy."""
    names, point, exprs = expressions(nodes)
    data = [symbolic.value_at(e, names, point) for e in exprs]
    grads = symbolic.gradient_at(exprs[-1], names, point)
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


# --------------------------------------------------------------------------- fixed graphs, shrunk, as code

_X = (0.5, 0.75, 1.25, 1.5, 2.5, 3.0)           # readable inputs, never 0, 1 or 2
_C = {"pow": ((2, 3, -1), (0.5, 1.5, -0.5)),    # int exponents for even variants, float for odd
      "default": ((3.0, -1.5, 2.5, 0.5), (3.0, -1.5, 2.5, 0.5))}


def _template(ops: Sequence[str], variant: int) -> list[list[Any]]:
    """The structure of fixed graph ``variant``: every op once, rotated, then the output used twice.

    Leaves and constants hold placeholders (``None``) that :func:`_fill` draws.
    """
    k = variant % len(ops)
    order = list(ops[k:]) + list(ops[:k])
    if order != ["relu"]:  # a question of one op: that op on its own output (relu's would be 0)
        order = (order * 2)[:max(2, len(order))]
    nodes: list[list[Any]] = [["leaf", None]]
    if any(op in BINARY for op in ops):
        nodes.append(["leaf", None])
    last = 0
    for op in order:
        if op in BINARY:
            nodes.append([op, last, 1])
        elif op in WITH_CONST:
            nodes.append([op, last, None])
        else:
            nodes.append([op, last])
        last = len(nodes) - 1
    combine = next((op for op in ("add", "mul") if op in ops), "add")
    nodes.append([combine, len(nodes) - 1, len(nodes) - 1])
    return nodes


def _fill(template: Sequence[Sequence[Any]], variant: int, rng: random.Random) -> list[list[Any]] | None:
    """``template`` with drawn numbers, if every node is inside its domain and each relu's input has
    the sign the variant asks for (positive when even); else None."""
    nodes: list[list[Any]] = []
    values: list[float] = []
    for node in template:
        op = node[0]
        if op == "leaf":
            x = rng.choice(_X) * rng.choice((1, -1))
            nodes.append(["leaf", x])
            values.append(x)
            continue
        if op in WITH_CONST:
            c = rng.choice(_C.get(op, _C["default"])[variant % 2])
            args: tuple[float, ...] = (values[node[1]], c)
            new = [op, node[1], c]
        elif op in BINARY:
            args, new = (values[node[1]], values[node[2]]), list(node)
        else:
            args, new = (values[node[1]],), list(node)
        if op == "relu" and (args[0] > 0) != (variant % 2 == 0):
            return None
        value = _ok(op, args)
        if value is None:
            return None
        nodes.append(new)
        values.append(value)
    return nodes


def fixed_graph(ops: Sequence[str], rng: random.Random, variant: int) -> list[list[Any]]:
    """Graph ``variant`` of a question's fixed battery: its structure depends only on ``ops`` and
    ``variant`` (every op once, in an order rotated by the variant, the output then used twice;
    relu's input positive in even variants and negative in odd ones, ``**`` with an int exponent in
    even variants and a float one in odd ones); only the numbers come from ``rng``."""
    for shift in range(len(ops)):  # the first rotation that is feasible at all, found without rng
        template = _template(ops, variant + shift)
        probe = random.Random(0)
        if any(_fill(template, variant, probe) is not None for _ in range(500)):
            break
    else:
        raise ValueError(f"no feasible fixed graph for {list(ops)}")
    for _ in range(2000):
        nodes = _fill(template, variant, rng)
        if nodes is not None:
            return nodes
    raise ValueError(f"could not draw inputs for the fixed graph of {list(ops)}")


def _closure(nodes: Sequence[Sequence[Any]], out: int, start: int, data: Sequence[float]) -> list[list[Any]]:
    """Node ``out`` and what it reads from nodes ``start`` on; earlier nodes become leaves holding
    their value."""
    keep: set[int] = set()
    stack = [out]
    while stack:
        i = stack.pop()
        if i in keep:
            continue
        keep.add(i)
        if i >= start:
            stack.extend(operands(nodes[i]))
    index = {old: new for new, old in enumerate(sorted(keep))}
    result: list[list[Any]] = []
    for old in sorted(keep):
        node = nodes[old]
        if old < start or node[0] == "leaf":
            result.append(["leaf", data[old] if node[0] != "leaf" else node[1]])
        elif node[0] in BINARY:
            result.append([node[0], index[node[1]], index[node[2]]])
        elif node[0] in WITH_CONST:
            result.append([node[0], index[node[1]], node[2]])
        else:
            result.append([node[0], index[node[1]]])
    return result


def shrinks(nodes: Sequence[Sequence[Any]]) -> list[list[list[Any]]]:
    """Smaller graphs cut from ``nodes``, smallest first: each prefix ending at an operation, and each
    suffix starting at one (with the values flowing in as leaves). Probed beside the graph, so that
    a failure can be shown as the smallest of them that still fails."""
    data = evaluate(nodes)
    ops = [i for i, n in enumerate(nodes) if n[0] != "leaf"]
    out = len(nodes) - 1
    found: list[list[list[Any]]] = []
    for sub in [_closure(nodes, i, 0, data) for i in ops[:-1]] + [_closure(nodes, out, i, data) for i in ops[1:]]:
        if sub not in found:
            found.append(sub)
    return sorted(found, key=len)


def names(nodes: Sequence[Sequence[Any]]) -> list[str]:
    """A variable name per node, in order: ``a``, ``b``, ``c``, ..."""
    letters = "abcdefghijkmnpqrstuvwxyz"  # no l or o: they read as 1 and 0
    return [letters[i] if i < len(letters) else f"v{i}" for i in range(len(nodes))]


def statement(nodes: Sequence[Sequence[Any]], i: int, value_class: str = "Value") -> str:
    """Node ``i`` as a line of Python, e.g. ``c = a * b`` or ``a = Value(1.5)``."""
    label = names(nodes)
    node = nodes[i]
    if node[0] == "leaf":
        return f"{label[i]} = {value_class}({float(node[1])!r})"
    text = describe(node)
    for j in sorted(operands(node), reverse=True):  # n12 before n1
        text = text.replace(f"n{j}", label[j])
    return f"{label[i]} = {text}"


def as_code(nodes: Sequence[Sequence[Any]], value_class: str = "Value") -> str:
    """The whole graph as code a student can paste into a notebook cell and run: build it, call
    backward(), print the output's .data and each input's .grad beside the expected values."""
    label = names(nodes)
    data, grads = reference(nodes)
    out = len(nodes) - 1
    lines = [statement(nodes, i, value_class) for i in range(len(nodes))]
    lines.append(f"{label[out]}.backward()")
    lines.append(f"print({label[out] + '.data'!r}, {label[out]}.data, 'expected', {data[out]!r})")
    leaves = [i for i, n in enumerate(nodes) if n[0] == "leaf"]
    for i, g in zip(leaves, grads):
        lines.append(f"print({label[i] + '.grad'!r}, {label[i]}.grad, 'expected', {g!r})")
    return "\n".join(lines)
