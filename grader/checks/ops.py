"""A fixed battery of one-operation cases over the student's ``Value``, and what each failure means.

Each case is one operation alone (``x * y``, ``x * 3``, ``3 * x``, ``x ** 3``, ``x.exp()``, ...) or
with a node used twice (``x * x``, ``x.exp() + x.exp()``: the second shape needs ``+`` too), on inputs drawn after the notebook ran from a small set of readable
numbers (never 0, 1, 2 or 1/2, so that no two mistakes give the same number). Backpropagation
starts from ``z.grad = 2`` (3 for a node used twice) rather than 1 (``task_op_case`` in the
kernel), so that a ``_backward`` that forgets ``* out.grad`` shows. The structure of the battery is fixed -- the same cases for every
notebook -- and only the numbers are drawn, so a given mistake fails the same cases every run.

Messages name the method and the mistake, e.g. "`__mul__` backward: for z = x * y (x = 1.5,
y = 3) with z.grad = 2, expected x.grad = 6, got 3 (multiply by out.grad)".
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ..references import graphs, symbolic
from ..execution.probes import Observation, ProbeRequest, Unusable, as_number, as_vector
from .base import fmt, no_answer

SEED = 2.0        # z.grad for an operation alone
SEED_TWICE = 3.0  # for x + x: with 2, forgetting out.grad and overwriting with = give the same number
METHOD = {
    "add": "`__add__`", "addc": "`__add__` with a number", "radd": "`__radd__`",
    "sub": "`__sub__`", "subc": "`__sub__` with a number", "rsub": "`__rsub__`",
    "mul": "`__mul__`", "mulc": "`__mul__` with a number", "rmul": "`__rmul__`",
    "div": "`__truediv__`", "divc": "`__truediv__` with a number", "rdiv": "`__rtruediv__`",
    "pow": "`__pow__`", "neg": "`__neg__`", "exp": "`exp`", "log": "`log`", "tanh": "`tanh`",
    "relu": "`relu`",
}
# The order in which root causes are named: an operation others are built from comes first.
PRIMITIVE = ("add", "mul", "pow", "exp", "log", "tanh", "relu", "neg", "addc", "radd", "mulc", "rmul",
             "sub", "subc", "rsub", "div", "divc", "rdiv")
_NICE = (1.5, 2.5, 3.0, 0.75, 1.25, 4.0)
_CONST = {"pow": (3, -1, 1.5, 2.5, -0.5), "default": (3.0, -1.5, 2.5, 4.0, -3.0)}


@dataclass(frozen=True)
class Case:
    """One operation in one shape: ``alone`` or ``twice`` (the same node on both sides)."""

    op: str
    shape: str
    nodes: tuple[tuple[Any, ...], ...]

    @property
    def names(self) -> tuple[str, ...]:
        leaves = [n for n in self.nodes if n[0] == "leaf"]
        return ("x", "y")[:len(leaves)]

    def expression(self) -> str:
        """``z = x * y (x = 1.5, y = 3)``: the case as the student would write it."""
        node = self.nodes[-1]
        op = node[0]
        values = [n[1] for n in self.nodes if n[0] == "leaf"]
        twice_unary = self.shape == "twice" and self.op not in graphs.BINARY  # op(x) + op(x)
        if twice_unary:
            node, op = self.nodes[1], self.op
        if op in graphs.BINARY:
            right = "x" if self.shape == "twice" else "y"
            text = f"x {dict(add='+', sub='-', mul='*', div='/')[op]} {right}"
        elif op in graphs.WITH_CONST:
            text = graphs.describe([op, 0, node[2]]).replace("n0", "x")
            text = f"({text})" if twice_unary else text
        elif op == "neg":
            text = "(-x)" if twice_unary else "-x"
        else:
            text = f"x.{op}()"
        if twice_unary:
            text = f"{text} + {text}"
        inputs = ", ".join(f"{n} = {v:g}" for n, v in zip(self.names, values))
        return f"z = {text} ({inputs})"


def _nice(rng: random.Random, positive: bool, avoid: Sequence[float] = ()) -> float:
    while True:
        x = rng.choice(_NICE) * (1 if positive or rng.random() < 0.5 else -1)
        if all(abs(abs(x) - abs(a)) > 1e-9 for a in avoid):
            return x


def draw(op: str, shape: str, rng: random.Random, variant: int = 0) -> Case:
    """``op`` in ``shape`` with freshly drawn readable inputs, inside the op's domain.

    Variants alternate: ``**`` with an int exponent, then a float one; ``relu`` (and every op) on a
    positive input, then a negative one.
    """
    positive = op in ("log", "pow")
    for _ in range(100):
        x = _nice(rng, True) * (-1 if variant % 2 and not positive else 1)
        if op in graphs.BINARY:
            if shape == "twice":
                nodes: list[list[Any]] = [["leaf", x], [op, 0, 0]]
                args: tuple[float, ...] = (x, x)
            else:
                y = _nice(rng, False, avoid=(x,))
                nodes, args = [["leaf", x], ["leaf", y], [op, 0, 1]], (x, y)
        elif op in graphs.WITH_CONST:
            choices: tuple[float, ...] = _CONST.get(op, _CONST["default"])
            if op == "pow":
                choices = tuple(c for c in choices if isinstance(c, int) == (variant % 2 == 0))
            c = rng.choice(choices)
            if abs(abs(c) - abs(x)) < 1e-9:
                continue
            nodes, args = [["leaf", x], [op, 0, c]], (x, c)
        else:
            nodes, args = [["leaf", x], [op, 0]], (x,)
        if shape == "twice" and op not in graphs.BINARY:  # the node x feeds two copies of op
            nodes = [nodes[0], nodes[1], list(nodes[1]), ["add", 1, 2]]
        if graphs._ok(op, args) is not None:
            return Case(op, shape, tuple(tuple(n) for n in nodes))
    raise ValueError(f"could not draw inputs for {op}")


def battery(ops: Sequence[str], rng: random.Random) -> list[Case]:
    """Every op alone, and every op with one node used twice: ``x * x``, ``x.exp() + x.exp()``."""
    return [draw(op, shape, rng, variant=0 if shape == "alone" else 1) for shape in ("alone", "twice") for op in ops]


def label(case: Case) -> str:
    """How a case is named in a list of failures."""
    method = METHOD.get(case.op, f"`{case.op}`")
    return f"{method} with a node used twice" if case.shape == "twice" else f"{method} alone"


def request(value_class: str, case: Case) -> ProbeRequest:
    seed = SEED_TWICE if case.shape == "twice" else SEED
    return ProbeRequest("op_case", (value_class, [list(n) for n in case.nodes], seed))


# --------------------------------------------------------------------------- judging one case

def _hint(case: Case, leaf: int, got: float, expected: float, seed: float, data: Sequence[float]) -> str:
    """What a wrong gradient most likely means: the mistakes students make, recognised by value."""
    node = case.nodes[-1] if case.op in graphs.BINARY or case.shape == "alone" else case.nodes[1]
    op = case.op
    x = data[0]

    def same(a: float) -> bool:
        return math.isfinite(a) and symbolic.close(got, a, 1e-9, 1e-12)

    if seed != 1 and same(expected / seed):
        return "multiply by out.grad"
    if got == 0:
        return "the gradient never reaches it: does the _backward add to it, and is it attached with " \
               "out._backward = _backward?"
    if case.shape == "twice" and same(expected / 2):
        return "the node is on both sides: accumulate with += in _backward, never ="
    out = data[case.nodes.index(node)] if case.shape == "alone" else data[1]
    if op == "mul" and case.shape == "alone" and same(data[leaf] * seed):
        return f"use the other factor's .data: d(x*y)/d{case.names[leaf]} is {case.names[1 - leaf]}"
    if op in ("mulc", "rmul") and same(x * seed):
        return "multiply by the constant, not by x"
    if op == "pow":
        c = node[2]
        if same(c * x ** c * seed):
            return "the exponent of the derivative is n - 1: n * x**(n-1)"
        if same(x ** (c - 1) * seed):
            return "the factor n is missing: n * x**(n-1)"
    if op == "exp" and same(x * seed):
        return "d/dx exp(x) is exp(x) (out.data), not x"
    if op == "log":
        if same(x * seed):
            return "d/dx log(x) is 1/x, not x"
        if same(out * seed):
            return "d/dx log(x) is 1/x, not log(x)"
    if op == "tanh" and same((1 - out) * seed):
        return "d/dx tanh(x) is 1 - t**2, not 1 - t"
    if op == "div" and leaf == 1 and same(x / data[1] ** 2 * seed):
        return "d(x/y)/dy is -x/y**2: the minus sign is missing"
    if op == "rdiv" and same(node[2] / x ** 2 * seed):
        return "d(c/x)/dx is -c/x**2: the minus sign is missing"
    if op == "relu" and x < 0 and got != 0:
        return "relu passes no gradient where its input is negative"
    if same(-expected):
        return "the sign is flipped"
    return ""


@dataclass(frozen=True)
class CaseVerdict:
    ok: bool
    message: str = ""   # why not, naming the method


def judge_case(case: Case, obs: Observation, rel_tol: float, abs_tol: float) -> CaseVerdict:
    """One case's answer against SymPy, and the mistake it shows."""
    method = METHOD.get(case.op, f"`{case.op}`")
    what = case.expression()
    if not obs.ok:
        if obs.node is not None and obs.node >= 0:
            return CaseVerdict(False, f"{method}: {what} raised {obs.detail}")
        if obs.node is not None:
            return CaseVerdict(False, f"{method} backward: for {what}, backward raised {obs.detail}")
        return CaseVerdict(False, f"{method}: {no_answer(obs, what)}")
    value = obs.value
    try:
        if type(value) is not dict:
            raise Unusable("the result is not a mapping")
        nodes = [list(n) for n in case.nodes]
        data, grads = graphs.reference(nodes)
        got_data = as_vector(value.get("data"), len(nodes), "the nodes' .data")
        got_grad = as_vector(value.get("grad"), len(grads), "the inputs' .grad")
        seed = as_number(value.get("seed"), "the seed")
        plain = as_vector(value.get("plain"), len(grads), "the inputs' .grad after backward()")
    except Unusable as exc:
        return CaseVerdict(False, f"{method}: for {what}, unusable answer: {exc}")

    def close(g: float, e: float) -> bool:
        return symbolic.close(g, e, rel_tol, abs_tol)

    if not close(got_data[-1], data[-1]):
        return CaseVerdict(False, f"{method} forward: for {what}, expected z.data = {fmt(data[-1])}, "
                                  f"got {fmt(got_data[-1])}")
    seeded = "" if seed == 1 else f" with z.grad = {seed:g}"
    for i, (g, e) in enumerate(zip(got_grad, grads)):
        e = e * seed
        if not close(g, e):
            hint = _hint(case, i, g, e, seed, data)
            return CaseVerdict(False, f"{method} backward: for {what}{seeded}, expected "
                                      f"{case.names[i]}.grad = {fmt(e)}, got {fmt(g)}"
                                      + (f" ({hint})" if hint else ""))
    for i, (g, e) in enumerate(zip(plain, grads)):
        if not close(g, e):
            return CaseVerdict(False, f"{method} with backward(): for {what}, z.backward() gives "
                                      f"{case.names[i]}.grad = {fmt(g)}, expected {fmt(e)}: check that "
                                      f"backward() sets z.grad = 1 and runs every node's _backward once, "
                                      f"outputs before inputs")
    return CaseVerdict(True)


def root_causes(verdicts: Sequence[tuple[Case, CaseVerdict]], limit: int = 3) -> list[str]:
    """The failing cases' messages, operations that others are built from first, one per op."""
    seen: dict[str, str] = {}
    for case, verdict in verdicts:
        if not verdict.ok and case.op not in seen:
            seen[case.op] = verdict.message
    order = sorted(seen, key=lambda op: PRIMITIVE.index(op) if op in PRIMITIVE else len(PRIMITIVE))
    return [seen[op] for op in order[:limit]]


def implemented(obs: Observation) -> bool:
    """A diagnostic case whose operation the student never wrote says nothing about a bug."""
    if obs.ok:
        return True
    detail = obs.detail
    return not (obs.node is not None and obs.node >= 0
                and ("unsupported operand" in detail or "AttributeError" in detail
                     or "NotImplementedError" in detail))


Judge = Callable[[Case, Observation], CaseVerdict]
