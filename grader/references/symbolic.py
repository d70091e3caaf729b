"""Reference values, computed in the grader process only: SymPy derivatives, float recomputation."""

from __future__ import annotations

import ast
import functools
import math
from typing import Any, Callable, Sequence

import mpmath  # type: ignore[import-untyped]
import sympy
from sympy.parsing.sympy_parser import parse_expr, standard_transformations

EPS = 2.0 ** -52
_DIGITS = 30
_FUNCTIONS = {name: getattr(sympy, name) for name in
              ("sin", "cos", "tan", "exp", "log", "sqrt", "tanh", "sinh", "cosh", "atan", "Abs")}


def _why(expression: str, exc: Exception) -> str:
    """What is wrong with an expression SymPy could not parse, in an instructor's words."""
    if "\t" in expression:
        return "it contains a tab character"
    depth = 0
    for char in expression:
        depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(char, 0)
        if depth < 0:
            return "a closing bracket without its opening one"
    if depth > 0:
        return "a bracket that is never closed"
    if isinstance(exc, SyntaxError):
        return "not a valid Python expression (write powers as **, products with *)"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


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
        raise ValueError(f"cannot parse expression {expression!r}: {_why(expression, exc)}") from None
    if not isinstance(expr, sympy.Expr):
        raise ValueError(f"{expression!r} is not an expression")
    extra = {str(s) for s in expr.free_symbols} - set(variables)
    if extra:
        raise ValueError(f"expression {expression!r} uses undeclared names: {', '.join(sorted(extra))}")
    return expr


def value_at(expr: sympy.Expr, variables: Sequence[str], point: Sequence[float]) -> float:
    """``expr`` at ``point``, correctly rounded to a float; ValueError if not a finite real.

    Evaluated on the expression's own tree in mpmath (SymPy's arbitrary-precision arithmetic) at
    two working precisions; when both round to the same float, that float is the value (it is far
    faster than ``evalf``, which also re-evaluates shared subtrees and rounds twice). Anything else
    -- a node this evaluator does not know, cancellation beyond the precision, a complex value --
    goes to SymPy's own ``evalf``."""
    inputs = [float(x) for x in point]
    low, high = (_mp_float(expr, variables, inputs, dps) for dps in (50, 90))
    if low is not None and low == high and math.isfinite(low):
        return low
    return _evalf_at(expr, variables, inputs)


def _mp_float(expr: sympy.Expr, variables: Sequence[str], point: Sequence[float], dps: int) -> float | None:
    env = {sympy.Symbol(n, real=True): mpmath.mpf(x) for n, x in zip(variables, point)}
    with mpmath.workdps(dps):
        try:
            value = _mp(expr, env, {})
        except (_Unknown, ValueError, ZeroDivisionError, OverflowError):
            return None
        if not isinstance(value, mpmath.mpf) or not mpmath.isfinite(value):
            return None
        return float(value)


class _Unknown(Exception):
    """A node the mpmath evaluator leaves to ``evalf``."""


_MP_FUNCTIONS: dict[type, Callable[..., Any]] = {
    sympy.exp: mpmath.exp, sympy.log: mpmath.log, sympy.tanh: mpmath.tanh, sympy.sin: mpmath.sin,
    sympy.cos: mpmath.cos, sympy.tan: mpmath.tan, sympy.sinh: mpmath.sinh, sympy.cosh: mpmath.cosh,
    sympy.atan: mpmath.atan, sympy.Abs: mpmath.fabs}


def _mp(expr: Any, env: dict[Any, Any], memo: dict[Any, Any]) -> Any:
    """``expr`` in mpmath at the working precision; every shared subtree evaluated once."""
    known = memo.get(expr)
    if known is not None:
        return known
    args = expr.args
    value: Any
    if expr.is_Symbol:
        value = env[expr]
    elif expr.is_Integer:
        value = mpmath.mpf(int(expr))
    elif expr.is_Rational:
        value = mpmath.mpf(expr.p) / expr.q
    elif expr.is_Float:
        value = mpmath.mpf(expr._mpf_)  # its exact binary value
    elif expr.is_Add:
        value = mpmath.fsum(_mp(a, env, memo) for a in args)
    elif expr.is_Mul:
        value = mpmath.fprod(_mp(a, env, memo) for a in args)
    elif expr.is_Pow:
        base, power = args
        b = _mp(base, env, memo)
        if power.is_Integer:
            value = b ** int(power)
        elif b > 0:
            value = mpmath.power(b, _mp(power, env, memo))
        else:
            raise _Unknown(expr)
    elif type(expr) in _MP_FUNCTIONS and len(args) == 1:
        value = _MP_FUNCTIONS[type(expr)](_mp(args[0], env, memo))
    elif isinstance(expr, (sympy.Max, sympy.Min)):
        values = [_mp(a, env, memo) for a in args]
        value = max(values) if isinstance(expr, sympy.Max) else min(values)
    elif isinstance(expr, sympy.Heaviside) and args:
        x = _mp(args[0], env, memo)
        if x == 0:
            raise _Unknown(expr)  # its value at 0 is a convention
        value = mpmath.mpf(1 if x > 0 else 0)
    elif expr is sympy.E:
        value = mpmath.e
    elif expr is sympy.pi:
        value = mpmath.pi
    else:
        raise _Unknown(expr)
    if not isinstance(value, mpmath.mpf):
        raise _Unknown(expr)  # complex, or not a number: left to evalf
    memo[expr] = value
    return value


def _evalf_at(expr: sympy.Expr, variables: Sequence[str], point: Sequence[float]) -> float:
    subs = {sympy.Symbol(n, real=True): sympy.Float(repr(float(x)), _DIGITS)
            for n, x in zip(variables, point)}
    try:
        result = expr.evalf(_DIGITS, subs=subs)
    except (ZeroDivisionError, OverflowError):
        raise ValueError(f"{expr} is not finite at {tuple(point)}") from None
    try:
        value = float(result)
    except TypeError:
        raise ValueError(f"{expr} is not real at {tuple(point)}") from None
    if not math.isfinite(value):
        raise ValueError(f"{expr} is not finite at {tuple(point)}")
    return value


_MATH = {"sin": math.sin, "cos": math.cos, "tan": math.tan, "exp": math.exp, "log": math.log,
         "sqrt": math.sqrt, "tanh": math.tanh, "sinh": math.sinh, "cosh": math.cosh, "atan": math.atan,
         "Abs": abs}
_ALLOWED = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Call, ast.Name, ast.Load, ast.Constant,
            ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.USub, ast.UAdd)


@functools.lru_cache(maxsize=64)
def float_function(expression: str, variables: tuple[str, ...]) -> Callable[..., float]:
    """``expression`` as a Python function of ``variables`` on floats, with ``math``'s functions.

    It performs the very float operations, in the very order, that the same expression typed into a
    notebook performs (``-a**3 + sin(3*b)``: same parse, same rounding), so that a student's
    finite difference can be recomputed here bit for bit. Only arithmetic, numbers, the variables
    and the functions SymPy also accepts are allowed.
    """
    parse(expression, variables)  # the same validation as the SymPy reference
    tree = ast.parse(expression.strip(), mode="eval")
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise ValueError(f"{expression!r}: {type(node).__name__} is not allowed in a float function")
        if isinstance(node, ast.Name) and node.id not in variables and node.id not in _MATH:
            raise ValueError(f"{expression!r}: unknown name {node.id!r}")
        if isinstance(node, ast.Constant) and type(node.value) not in (int, float):
            raise ValueError(f"{expression!r}: only numbers are allowed as constants")
        if isinstance(node, ast.Call) and (not isinstance(node.func, ast.Name) or node.keywords):
            raise ValueError(f"{expression!r}: only plain calls of math functions are allowed")
    lam = ast.Expression(ast.Lambda(
        ast.arguments(posonlyargs=[], args=[ast.arg(v) for v in variables], kwonlyargs=[],
                      kw_defaults=[], defaults=[]), tree.body))
    ast.fix_missing_locations(lam)
    fn: Callable[..., float] = eval(compile(lam, "<expression>", "eval"),  # noqa: S307
                                    {"__builtins__": {}, **_MATH})
    return fn


def dependent_terms(expression: str, variable: str) -> str | None:
    """The top-level terms of ``expression`` (a sum) that mention ``variable``, as an expression
    in the same operations (``-a**3 + sin(3*b) - 1.0/c`` -> ``-a**3`` for ``a``); None when no
    term does. What a student who differentiates term by term evaluates."""
    terms: list[tuple[bool, ast.expr]] = []

    def flatten(node: ast.expr, negative: bool) -> None:
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
            flatten(node.left, negative)
            flatten(node.right, negative != isinstance(node.op, ast.Sub))
        else:
            terms.append((negative, node))

    flatten(ast.parse(expression.strip(), mode="eval").body, False)
    kept = [(neg, t) for neg, t in terms
            if any(isinstance(n, ast.Name) and n.id == variable for n in ast.walk(t))]
    if not kept:
        return None
    text = ""
    for neg, term in kept:
        body = ast.unparse(term)
        text += (f" - ({body})" if neg else f" + ({body})") if text else (f"-({body})" if neg else body)
    return text


@functools.lru_cache(maxsize=256)
def partial(expr: sympy.Expr, variable: str, order: int = 1) -> sympy.Expr:
    return sympy.diff(expr, sympy.Symbol(variable, real=True), order)


def gradient_at(expr: sympy.Expr, variables: Sequence[str], point: Sequence[float]) -> list[float]:
    """The exact gradient of ``expr`` at ``point``."""
    return [value_at(partial(expr, v), variables, point) for v in variables]


def scale_at(expr: sympy.Expr, variables: Sequence[str], point: Sequence[float]) -> float:
    """Sum of the absolute values of ``expr``'s additive terms: what round-off is relative to."""
    return sum(abs(value_at(term, variables, point)) for term in sympy.Add.make_args(expr))


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
