"""Finite differences as students really write them (issue 12): any plausible step, judged by what
the numbers are. Real notebooks in real kernels; each case asserts the scores and the message."""

from __future__ import annotations

import pytest

from conftest import question, scores
from notebooks import variant


def loop(scheme: str, h: str) -> str:
    """A loop over the inputs with a copied list, the way many students write it."""
    diff = ("(f(*up) - f(*x)) / h" if scheme == "forward" else "(f(*up) - f(*down)) / (2 * h)")
    name = "numerical_grad" if scheme == "forward" else "numerical_grad2"
    return (f"h = {h}\nx = [2, 3, 4]\n{name} = []\nfor i in range(3):\n    up = list(x); up[i] += h\n"
            f"    down = list(x); down[i] -= h\n    {name}.append({diff})\n")


def helper(scheme: str, h: str) -> str:
    """A helper function with the step as a default argument."""
    body = ("(f(*xp) - f(*x)) / h" if scheme == "forward" else "(f(*xp) - f(*xm)) / (2*h)")
    name = "numerical_grad" if scheme == "forward" else "numerical_grad2"
    return (f"def estimate(f, x, h={h}):\n    grad = []\n    for i in range(len(x)):\n"
            f"        xp = x.copy(); xp[i] = xp[i] + h\n        xm = x.copy(); xm[i] = xm[i] - h\n"
            f"        grad.append({body})\n    return grad\n\n{name} = estimate(f, [2.0, 3.0, 4.0])\n")


PER_COMPONENT_FORWARD = """
ha, hb, hc = 1e-6, 1e-7, 1e-5   # a step per input
numerical_grad = [(f(2 + ha, 3, 4) - f(2, 3, 4)) / ha,
                  (f(2, 3 + hb, 4) - f(2, 3, 4)) / hb,
                  (f(2, 3, 4 + hc) - f(2, 3, 4)) / hc]
"""
PER_COMPONENT_CENTRAL = """
steps = {'a': 0.001, 'b': 0.0001, 'c': 0.00001}
numerical_grad2 = [(f(2 + steps['a'], 3, 4) - f(2 - steps['a'], 3, 4)) / (2 * steps['a']),
                   (f(2, 3 + steps['b'], 4) - f(2, 3 - steps['b'], 4)) / (2 * steps['b']),
                   (f(2, 3, 4 + steps['c']) - f(2, 3, 4 - steps['c'])) / (2 * steps['c'])]
"""
HALF_STEPS = """
h = 1e-3/2
numerical_grad2 = [(f(2 + h/2, 3, 4) - f(2 - h/2, 3, 4)) / h,
                   (f(2, 3 + h/2, 4) - f(2, 3 - h/2, 4)) / h,
                   (f(2, 3, 4 + h/2) - f(2, 3, 4 - h/2)) / h]
"""
NUMPY_F = """
import numpy as np
def g(v):
    a, b, c = v
    return -a**3 + np.sin(3*b) - 1.0/c + b**2.5 - a**0.5   # f rewritten with numpy
h = 10**-6
x0 = np.array([2., 3., 4.])
numerical_grad = [(g(x0 + h*e) - g(x0)) / h for e in np.eye(3)]
"""
EXACT = "numerical_grad = [-12.353553390593273, 10.25699027111255, 0.0625]"
GRADF = "numerical_grad = gradf(2, 3, 4)"
PASTED = "numerical_grad = [-12.353559, 10.256991, 0.0625]   # from my run"
PRINTED = ("numerical_grad = [-12.353559348809995, 10.256991666679482, 0.062499984743169534]"
           "   # printed by my loop")
FORWARD_AS_CENTRAL = loop("forward", "0.000001").replace("numerical_grad", "numerical_grad2")
NO_HALF = HALF_STEPS.replace("h/2", "h")
BACKWARD = """
h = 1e-7
numerical_grad = [(f(2, 3, 4) - f(2 - h, 3, 4)) / h, (f(2, 3, 4) - f(2, 3 - h, 4)) / h,
                  (f(2, 3, 4) - f(2, 3, 4 - h)) / h]
"""
# Term by term (issue 23): only the terms of f that depend on each variable, so the large constant
# terms do not cancel and the value differs from a recomputation with the whole f in its last digits.
TERMS_FORWARD = """
h = 1e-6
numerical_grad = [((-(2 + h)**3 - (2 + h)**0.5) - (-2**3 - 2**0.5)) / h,
                  ((sin(3*(3 + h)) + (3 + h)**2.5) - (sin(3*3) + 3**2.5)) / h,
                  (-1.0/(4 + h) - -1.0/4) / h]
"""
TERMS_CENTRAL_HELPER = """
def slope(g, x, h=1e-3):
    return (g(x + h) - g(x - h)) / (2*h)
numerical_grad2 = [slope(lambda a: -a**3 - a**0.5, 2), slope(lambda b: sin(3*b) + b**2.5, 3),
                   slope(lambda c: -1.0/c, 4)]
"""
TERMS_NUMPY = """
import numpy as np
h = {h}
parts = [lambda a: -a**3 - np.sqrt(a), lambda b: np.sin(3*b) + b**2.5, lambda c: -1.0/c]
x = np.array([2., 3., 4.])
{name} = [{diff} for i, t in enumerate(parts)]
"""
TERMS_LOOP = """
h = {h}
parts = {{'a': lambda a: -a**3 - a**0.5, 'b': lambda b: sin(3*b) + b**2.5, 'c': lambda c: -1.0/c}}
point = {{'a': 2, 'b': 3, 'c': 4}}
{name} = []
for v in 'abc':
    t, x = parts[v], point[v]
    {name}.append({diff})
"""
FWD, CEN = "(t(x + h) - t(x)) / h", "(t(x + h) - t(x - h)) / (2*h)"
ROUNDED_EXACT = "numerical_grad = [-12.3535534, 10.2569903, 0.0625]   # d/da, d/db, d/dc by hand"

BINARY_ROUNDED = ("exact = gradf(2, 3, 4)\n"
                  "numerical_grad = [round(e * 2**20) / 2**20 for e in exact]   # looks like h = 2**-30\n")


def forward_as_central(h: str) -> str:
    return loop("forward", h).replace("numerical_grad", "numerical_grad2")


CASES = [
    # id, q2 cell, q3 cell, q2 score, q3 score, texts in the q2 / q3 messages
    ("loop-1e-10", loop("forward", "1e-10"), loop("central", "1e-10"), 2.0, 2.0,
     ["correct forward difference", "h = 1e-10"], ["round-off outweighs truncation"]),
    ("helper-1e-7", helper("forward", "1e-7"), helper("central", "1e-7"), 2.0, 2.0,
     ["h = 1e-07"], ["more accurate than a forward difference with the same step"]),
    ("loop-1e-4", loop("forward", "0.0001"), loop("central", "0.0001"), 2.0 * 2 / 3, 2.0,
     ["component 0 (d/da): -12.35414898 is a forward difference with h = 0.0001, but 0.0006 from the "
      "gradient", "use a smaller step"], ["h = 0.0001"]),
    ("helper-1e-3", helper("forward", "0.001"), helper("central", "0.001"), 1.0, 2.0,
     ["is a forward difference with h = 0.001"], ["correct central difference", "h = 0.001"]),
    ("per-component", PER_COMPONENT_FORWARD, PER_COMPONENT_CENTRAL, 2.0, 2.0,
     ["steps 1e-06, 1e-07, 1e-05"], ["steps 0.001, 0.0001, 1e-05"]),
    ("half-steps-numpy-f", NUMPY_F, HALF_STEPS, 2.0, 2.0, ["h = 1e-06"], ["h = 0.00025"]),
    ("exact-typed", EXACT, "numerical_grad2 = list(numerical_grad)", 0.0, 0.0,
     ["got -12.35355339, the exact derivative, not a finite-difference estimate"],
     ["the exact derivative"]),
    ("gradf-called", GRADF, "numerical_grad2 = gradf(2, 3, 4)", 0.0, 0.0,
     ["the exact derivative"], ["the exact derivative"]),
    ("forward-as-central", loop("forward", "0.000001"), FORWARD_AS_CENTRAL, 2.0, 0.0, [],
     ["which is a forward difference (f(x+h) - f(x)) / h with h = 1e-06, not a central difference"]),
    ("pasted-and-no-half", PASTED, NO_HALF, 0.0, 0.0,
     ["got -12.353559, which no such step reproduces", "numbers typed in or computed another way"],
     ["a central difference without the 1/2 (f(x+h) - f(x-h)) / h"]),
    ("printed-and-backward", PRINTED, loop("central", "1e-5"), 2.0, 2.0, ["h = 1e-06"], ["h = 1e-05"]),
    ("backward", BACKWARD, loop("central", "1e-6"), 2.0, 2.0, ["a backward difference"], []),
    # issue 23: a genuine estimate computed term by term is recognised by its truncation error ...
    ("terms-inline-helper", TERMS_FORWARD, TERMS_CENTRAL_HELPER, 2.0, 2.0,
     ["correct forward difference", "h = 1e-06"], ["correct central difference", "h = 0.001",
                                                   "more accurate than a forward difference"]),
    ("terms-numpy", TERMS_NUMPY.format(h="5e-7", name="numerical_grad", diff=FWD.replace("x", "x[i]")),
     TERMS_NUMPY.format(h="1e-4", name="numerical_grad2", diff=CEN.replace("x", "x[i]")), 2.0, 2.0,
     ["h = 5e-07"], ["h = 0.0001"]),
    ("terms-loop", TERMS_LOOP.format(h="1e-7", name="numerical_grad", diff=FWD),
     TERMS_LOOP.format(h="0.001", name="numerical_grad2", diff=CEN), 2.0, 2.0,
     ["correct forward difference", "1e-07"], ["h = 0.001"]),
    # ... and a typed-in derivative, rounded, still has no such signature
    ("rounded-exact", ROUNDED_EXACT, ROUNDED_EXACT.replace("numerical_grad", "numerical_grad2"), 0.0, 0.0,
     ["got -12.3535534, which no such step reproduces", "numbers typed in or computed another way"],
     ["which no such step reproduces"]),
    # ... nor does one rounded to a binary grid, although it lies on the grid of h = 2**-30, where
    # round-off dominates (the difference quotient there is the exact derivative snapped to 2**-20)
    ("binary-rounded-exact", BINARY_ROUNDED, BINARY_ROUNDED.replace("numerical_grad", "numerical_grad2"),
     0.0, 0.0, ["which no such step reproduces", "numbers typed in or computed another way"],
     ["which no such step reproduces"]),
    # a forward difference handed in as the central one, at a tiny and at a large step: one common
    # step reproduces every component bit for bit as a forward difference
    ("forward-as-central-tiny", loop("forward", "1e-8"), forward_as_central("1e-8"), 2.0, 0.0, [],
     ["a forward difference (f(x+h) - f(x)) / h with h = 1e-08, not a central difference"]),
    ("forward-as-central-large", loop("forward", "0.001"), forward_as_central("0.001"), 1.0, 0.0,
     ["is a forward difference with h = 0.001"],
     ["a forward difference (f(x+h) - f(x)) / h with h = 0.001, not a central difference"]),
]


@pytest.mark.parametrize("q2, q3, want2, want3, texts2, texts3", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_finite_difference_styles(grade, tmp_path, q2, q3, want2, want3, texts2, texts3):
    path = variant(tmp_path / "fd.ipynb", replace={"q2-answer": q2, "q3-answer": q3})
    result = grade(path)
    got = scores(result)
    m2 = question(result, "q2_forward_diff").message
    m3 = question(result, "q3_symmetric_diff").message
    assert got["q2_forward_diff"] == pytest.approx(want2), m2
    assert got["q3_symmetric_diff"] == pytest.approx(want3), m3
    for text in texts2:
        assert text in m2, m2
    for text in texts3:
        assert text in m3, m3
    assert got["q1_gradf"] == 3.0 and got["q4_softmax_nll"] == 3.0


APPROX_GRADF = """
import math
def gradf(a, b, c):
    # 0.5/sqrt(2) ~ 0.35355: d/da of -sqrt(a) is -0.35355/sqrt(a/2)
    return [-3*a**2 - 0.35355/math.sqrt(a/2), 3*math.cos(3*b) + 2.5*b**1.5, 1/c**2]
"""


def test_gradf_with_an_approximate_constant_that_passes_the_self_check(grade, tmp_path):
    path = variant(tmp_path / "approx.ipynb", replace={"q1-gradf": APPROX_GRADF})
    result = grade(path)
    assert scores(result)["q1_gradf"] == 3.0, question(result, "q1_gradf").message
