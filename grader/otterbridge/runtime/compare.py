"""Numbers compared and validated as the grader's judges do: the tolerance test, the checks that
an observed value has the declared shape, and the grader's way of printing numbers."""

from __future__ import annotations

import math as _math

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Sequence


def fmt(x: object) -> str:
    if isinstance(x, float):
        return "%.10g" % x
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(fmt(v) for v in x) + "]"
    return repr(x)


def close(got: float, expected: float, rel_tol: float, abs_tol: float) -> bool:
    if not (_math.isfinite(got) and _math.isfinite(expected)):
        return False
    return abs(got - expected) <= max(abs_tol, rel_tol * abs(expected))


def all_close(got: Sequence[float], expected: Sequence[float], rel_tol: float, abs_tol: float) -> bool:
    return len(got) == len(expected) and all(close(g, e, rel_tol, abs_tol) for g, e in zip(got, expected))


class Unusable(Exception):
    pass


def as_vector(value: Any, n: int, what: str) -> list[float]:
    if type(value) is not list or not all(type(v) in (int, float) for v in value):
        raise Unusable("%s is not a list of numbers" % what)
    if len(value) != n:
        raise Unusable("%s has %d numbers, expected %d" % (what, len(value), n))
    return [float(v) for v in value]


def as_number(value: Any, what: str) -> float:
    if type(value) not in (int, float):
        raise Unusable("%s is not a number" % what)
    return float(value)


def first_mismatch(got: Sequence[float], expected: Sequence[float], names: Sequence[str], rel: float,
                   abs_: float, what: str) -> str | None:
    wrong = [i for i, (g, e) in enumerate(zip(got, expected)) if not close(g, e, rel, abs_)]
    if not wrong:
        return None
    i = wrong[0]
    return "%d of %d %s differ; for example %s expected %s, got %s" % (
        len(wrong), len(expected), what, names[i], fmt(expected[i]), fmt(got[i]))
