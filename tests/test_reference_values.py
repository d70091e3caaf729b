"""Reference values are the exact value correctly rounded to a float: SymPy's expressions evaluated
in mpmath on their own tree at two precisions, SymPy's ``evalf`` for anything else."""

from __future__ import annotations

import random

import mpmath
import pytest
import sympy

from grader.references import graphs, symbolic

OPS = ["add", "mul", "addc", "radd", "mulc", "rmul", "pow", "sub", "neg", "subc", "rsub", "div",
       "divc", "rdiv", "exp", "tanh", "relu", "log"]


def truth(expr, names, point) -> float:
    """The value at 300 digits, rounded once."""
    f = sympy.lambdify([sympy.Symbol(n, real=True) for n in names], expr, modules="mpmath")
    with mpmath.workdps(300):
        return float(f(*[mpmath.mpf(x) for x in point]))


def graph_expressions(nodes):
    """Every node of the graph and d output / d leaf, as the grader's reference builds them."""
    names, point, exprs = graphs.expressions(nodes)
    return names, point, exprs + [symbolic.partial(exprs[-1], v) for v in names]


def test_graph_values_and_gradients_are_correctly_rounded():
    rng = random.Random(3)
    checked = 0
    for _ in range(40):
        nodes = graphs.fixed_graph(rng.sample(OPS, rng.randint(1, 4)), rng, rng.randrange(3))
        names, point, exprs = graph_expressions(nodes)
        for expr in exprs:
            assert symbolic.value_at(expr, names, point) == truth(expr, names, point), expr
            checked += 1
    assert checked > 200


def test_the_published_function_and_its_derivatives_are_correctly_rounded():
    rng = random.Random(5)
    names = ("a", "b", "c")
    expr = symbolic.parse("-a**3 + sin(3*b) - 1.0/c + b**2.5 - a**0.5", names)
    targets = [expr, *sympy.Add.make_args(expr)]
    targets += [symbolic.partial(expr, v, k) for v in names for k in (1, 2)]
    for _ in range(20):
        point = [rng.uniform(0.5, 4) for _ in names]
        for e in targets:
            assert symbolic.value_at(e, names, point) == truth(e, names, point), e


def test_cancellation_beyond_the_working_precision_is_left_to_evalf():
    x = sympy.Symbol("x", real=True)
    tiny = sympy.Rational(1, 10 ** 70)
    expr = (x + tiny) - x  # 1e-70: both mpmath precisions keep it, but a graph of it may not
    assert symbolic.value_at(expr, ["x"], [1.5]) == 1e-70
    hard = sympy.exp(x + tiny) - sympy.exp(x)  # cancels about 70 digits: beyond 50, within 90
    assert symbolic.value_at(hard, ["x"], [0.0]) == pytest.approx(1e-70, rel=1e-12)


def test_unknown_nodes_and_non_real_values_go_to_evalf():
    x = sympy.Symbol("x", real=True)
    assert symbolic.value_at(sympy.gamma(x), ["x"], [4.0]) == 6.0  # not a node the evaluator knows
    with pytest.raises(ValueError, match="not real"):
        symbolic.value_at(sympy.log(x), ["x"], [-2.0])
    with pytest.raises(ValueError, match="not finite|not real"):
        symbolic.value_at(1 / x, ["x"], [0.0])
