"""Reference values, computed in the grader process only: SymPy derivatives and error bounds."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Sequence

import sympy
from sympy.parsing.sympy_parser import parse_expr, standard_transformations

EPS = 2.0 ** -52
_DIGITS = 30
_FUNCTIONS = {name: getattr(sympy, name) for name in
              ("sin", "cos", "tan", "exp", "log", "sqrt", "tanh", "sinh", "cosh", "atan", "Abs")}


@functools.lru_cache(maxsize=64)
def parse(expression: str, variables: tuple[str, ...]) -> sympy.Expr:
    """Parse an instructor's expression over ``variables``; unknown names are a ValueError."""
    symbols = {name: sympy.Symbol(name, real=True) for name in variables}
    try:
        expr = parse_expr(expression, local_dict={**_FUNCTIONS, **symbols},
                          global_dict={"__builtins__": {}, "Integer": sympy.Integer,
                                       "Float": sympy.Float, "Rational": sympy.Rational,
                                       "Symbol": sympy.Symbol},
                          transformations=standard_transformations, evaluate=True)
    except Exception as exc:  # SymPy raises many kinds; all mean "cannot parse"
        raise ValueError(f"cannot parse expression {expression!r}: {exc}") from None
    if not isinstance(expr, sympy.Expr):
        raise ValueError(f"{expression!r} is not an expression")
    extra = {str(s) for s in expr.free_symbols} - set(variables)
    if extra:
        raise ValueError(f"expression {expression!r} uses undeclared names: {', '.join(sorted(extra))}")
    return expr


def value_at(expr: sympy.Expr, variables: Sequence[str], point: Sequence[float]) -> float:
    """``expr`` at ``point`` to 30 digits, rounded to a float; ValueError if not a finite real."""
    subs = {sympy.Symbol(n, real=True): sympy.Float(repr(float(x)), _DIGITS)
            for n, x in zip(variables, point)}
    result = expr.evalf(_DIGITS, subs=subs)
    try:
        value = float(result)
    except TypeError:
        raise ValueError(f"{expr} is not real at {tuple(point)}") from None
    if not math.isfinite(value):
        raise ValueError(f"{expr} is not finite at {tuple(point)}")
    return value


@functools.lru_cache(maxsize=256)
def partial(expr: sympy.Expr, variable: str, order: int = 1) -> sympy.Expr:
    return sympy.diff(expr, sympy.Symbol(variable, real=True), order)


def gradient_at(expr: sympy.Expr, variables: Sequence[str], point: Sequence[float]) -> list[float]:
    """The exact gradient of ``expr`` at ``point``."""
    return [value_at(partial(expr, v), variables, point) for v in variables]


def scale_at(expr: sympy.Expr, variables: Sequence[str], point: Sequence[float]) -> float:
    """Sum of the absolute values of ``expr``'s additive terms: what round-off is relative to."""
    return sum(abs(value_at(term, variables, point)) for term in sympy.Add.make_args(expr))


@dataclass(frozen=True)
class DifferenceExpectation:
    """What a correct finite-difference estimate of one partial derivative should look like."""

    exact: float        # the true partial derivative
    expected: float     # exact plus the scheme's leading truncation error
    tolerance: float    # next-order truncation error plus round-off, with a safety factor
    curvature: float    # second partial derivative (to recognise other schemes and steps)
    third: float        # third partial derivative


def difference_expectation(expr: sympy.Expr, variables: Sequence[str], point: Sequence[float],
                           index: int, h: float, scheme: str, safety: float = 4.0
                           ) -> DifferenceExpectation:
    """Expected forward/central estimate of d expr / d variables[index] with step ``h``.

    forward: (f(x+h) - f(x)) / h     = f' + h f''/2 + h^2 f'''/6 + ...
    central: (f(x+h) - f(x-h)) / 2h  = f' + h^2 f'''/6 + ...
    Round-off: each f evaluation is off by about eps times the sum of |terms|, and x+h is not
    exactly x plus h, which rescales the step by up to eps |x| / h.
    """
    var = variables[index]
    exact = value_at(partial(expr, var, 1), variables, point)
    second = value_at(partial(expr, var, 2), variables, point)
    third = value_at(partial(expr, var, 3), variables, point)
    scale = scale_at(expr, variables, point)
    x = abs(float(point[index])) + h
    if scheme == "forward":
        expected = exact + h * second / 2
        truncation = h * h * abs(third) / 6
        roundoff = 2 * EPS * scale / h + abs(exact) * EPS * x / h
    elif scheme == "central":
        expected = exact
        truncation = h * h * abs(third) / 6
        roundoff = EPS * scale / h + abs(exact) * EPS * x / h
    else:
        raise ValueError(f"unknown scheme {scheme!r}")
    tolerance = safety * (truncation + roundoff) + 4 * EPS * abs(expected)
    return DifferenceExpectation(exact, expected, tolerance, second, third)


def softmax_nll(logits: Sequence[float], label: int) -> tuple[float, list[float], list[float]]:
    """Loss ``-log softmax(logits)[label]``, the probabilities, and d loss / d logits (p - onehot)."""
    top = max(logits)
    exps = [math.exp(x - top) for x in logits]
    total = math.fsum(exps)
    probs = [e / total for e in exps]
    loss = -(logits[label] - top - math.log(total))
    grad = [p - (1.0 if i == label else 0.0) for i, p in enumerate(probs)]
    return loss, probs, grad


def close(got: float, expected: float, rel_tol: float, abs_tol: float) -> bool:
    """Our own closeness test (NaN and infinities are never close to a finite reference)."""
    if not (math.isfinite(got) and math.isfinite(expected)):
        return False
    return abs(got - expected) <= max(abs_tol, rel_tol * abs(expected))
