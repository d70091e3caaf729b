"""Worked examples as fixed expression graphs over named inputs: micrograd's README, the neuron.

Each example is a template in the node format of :mod:`grader.references.graphs` whose leaves are named inputs;
:meth:`Example.nodes` puts numbers in. The kernel builds the nodes from the student's fresh ``Value``
objects (never the notebook's variables) and the grader differentiates them with SymPy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping


@dataclass(frozen=True)
class Example:
    """A fixed graph: its named inputs (the leaves, in order), nodes, and how each node reads."""

    inputs: tuple[str, ...]
    template: tuple[tuple[Any, ...], ...]  # leaves are ("leaf", input name)
    labels: tuple[str, ...]                 # each node as the notebook writes it (inputs: the name)
    output: str                             # the output's name, e.g. "g"

    def nodes(self, point: Mapping[str, float]) -> list[list[Any]]:
        """The graph with ``point``'s numbers at the leaves."""
        return [["leaf", float(point[n[1]])] if n[0] == "leaf" else list(n) for n in self.template]


def _example(inputs: tuple[str, ...], output: str, rows: list[tuple[tuple[Any, ...], str]]) -> Example:
    return Example(inputs, tuple(r[0] for r in rows), tuple(r[1] for r in rows), output)


# Python evaluates `c += c + 1` as `c = c.__add__(c + 1)` (Value has no __iadd__), and so on.
MICROGRAD_README = _example(("a", "b"), "g", [
    (("leaf", "a"), "a"),
    (("leaf", "b"), "b"),
    (("add", 0, 1), "`c = a + b`"),
    (("mul", 0, 1), "`a * b`"),
    (("pow", 1, 3), "`b**3`"),
    (("add", 3, 4), "`d = a * b + b**3`"),
    (("addc", 2, 1), "`c + 1` in `c += c + 1`"),
    (("add", 2, 6), "`c += c + 1`"),
    (("radd", 7, 1), "`1 + c` in `c += 1 + c + (-a)`"),
    (("neg", 0), "`-a` in `c += 1 + c + (-a)`"),
    (("add", 8, 9), "`1 + c + (-a)`"),
    (("add", 7, 10), "`c += 1 + c + (-a)`"),
    (("mulc", 5, 2), "`d * 2` in `d += d * 2 + (b + a).relu()`"),
    (("add", 1, 0), "`b + a`"),
    (("relu", 13), "`(b + a).relu()`"),
    (("add", 12, 14), "`d * 2 + (b + a).relu()`"),
    (("add", 5, 15), "`d += d * 2 + (b + a).relu()`"),
    (("rmul", 16, 3), "`3 * d` in `d += 3 * d + (b - a).relu()`"),
    (("sub", 1, 0), "`b - a`"),
    (("relu", 18), "`(b - a).relu()`"),
    (("add", 17, 19), "`3 * d + (b - a).relu()`"),
    (("add", 16, 20), "`d += 3 * d + (b - a).relu()`"),
    (("sub", 11, 21), "`e = c - d`"),
    (("pow", 22, 2), "`f = e**2`"),
    (("divc", 23, 2.0), "`g = f / 2.0`"),
    (("rdiv", 23, 10.0), "`10.0 / f` in `g += 10.0 / f`"),
    (("add", 24, 25), "`g += 10.0 / f`"),
])

_NEURON_INPUTS = ("x1", "x2", "w1", "w2", "b")
_NEURON_SUM: list[tuple[tuple[Any, ...], str]] = [
    (("leaf", "x1"), "x1"),
    (("leaf", "x2"), "x2"),
    (("leaf", "w1"), "w1"),
    (("leaf", "w2"), "w2"),
    (("leaf", "b"), "b"),
    (("mul", 0, 2), "`x1 * w1`"),
    (("mul", 1, 3), "`x2 * w2`"),
    (("add", 5, 6), "`x1 * w1 + x2 * w2`"),
    (("add", 7, 4), "`n = x1 * w1 + x2 * w2 + b`"),
]

NEURON = _example(_NEURON_INPUTS, "o", _NEURON_SUM + [(("tanh", 8), "`o = n.tanh()`")])

NEURON_EXP = _example(_NEURON_INPUTS, "o", _NEURON_SUM + [
    (("rmul", 8, 2), "`2 * n`"),
    (("exp", 9), "`e = (2 * n).exp()`"),
    (("subc", 10, 1), "`e - 1`"),
    (("addc", 10, 1), "`e + 1`"),
    (("div", 11, 12), "`o = (e - 1) / (e + 1)`"),
])

USED_TWICE = _example(("a",), "b", [
    (("leaf", "a"), "a"),
    (("add", 0, 0), "`b = a + a`"),
])

EXAMPLES: dict[str, Example] = {
    "micrograd_readme": MICROGRAD_README,
    "neuron": NEURON,
    "neuron_exp": NEURON_EXP,
    "used_twice": USED_TWICE,
}
