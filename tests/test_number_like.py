"""Number-like answers (issue 23): a `Value` holding the right number, numpy scalars and 0-d arrays,
`Fraction`, SymPy numbers are read as numbers, judged as any answer, and noted once per type."""

from __future__ import annotations

import pytest

from conftest import question, scores
from notebooks import variant

FULL = {"q1_gradf": 3.0, "q2_forward_diff": 2.0, "q3_symmetric_diff": 2.0, "q4_softmax_nll": 3.0}
# the exp backward multiplies by the Value `out` instead of the number out.data: every grad becomes a
# Value holding the right number, and the notebook's own check `abs(grad - ans) < 1e-5` prints OK
EXP_VALUE_GRAD = ("self.grad += out.data * out.grad", "self.grad += out * out.grad")


def test_value_wrapped_grads_earn_full_credit_with_one_note(grade, tmp_path):
    path = variant(tmp_path / "wrapped.ipynb", edit={"q4-value": EXP_VALUE_GRAD})
    result = grade(path)
    assert scores(result) == FULL
    q4 = question(result, "q4_softmax_nll")
    assert "logits[0].grad (and 3 more) is a `Value` object, not a number: its .data was read" in q4.message
    assert "such as `out` where `out.data` belongs" in q4.message
    assert q4.message.count("is a `Value` object") == 1, q4.message


WRAPPERS = {
    "numpy-scalar": ("import numpy as np\ndef gradf(a, b, c):\n"
                     "    return [np.float32(-3*a**2 - 0.5*a**-0.5), np.float64(3*np.cos(3*b) + 2.5*b**1.5),"
                     " np.float32(c**-2)]\n", 3.0, "is a `float32`, not a float"),
    "0-d-arrays": ("import numpy as np\ndef gradf(a, b, c):\n"
                   "    return [np.array(-3*a**2 - 0.5*a**-0.5), np.array(3*np.cos(3*b) + 2.5*b**1.5),"
                   " np.array(c**-2)]\n", 3.0, "(and 2 more) is a `ndarray`, not a float"),
    "fraction-sympy": ("import sympy as sp\nfrom fractions import Fraction\nA, B, C = sp.symbols('a b c')\n"
                       "F = -A**3 + sp.sin(3*B) - 1/C + B**sp.Rational(5, 2) - sp.sqrt(A)\n"
                       "def gradf(a, b, c):\n"
                       "    g = [sp.diff(F, v).subs({A: a, B: b, C: c}).evalf() for v in (A, B, C)]\n"
                       "    return [g[0], g[1], 1 / Fraction(c) ** 2]\n", 3.0, "is a `Fraction`, not a float"),  # and `Float` (SymPy)
}


@pytest.mark.parametrize("name", list(WRAPPERS))
def test_number_like_gradients(grade, tmp_path, name):
    code, want, note = WRAPPERS[name]
    result = grade(variant(tmp_path / f"{name}.ipynb", replace={"q1-gradf": code}))
    q1 = question(result, "q1_gradf")
    assert q1.score == pytest.approx(want), q1.message
    assert note in q1.message, q1.message


EXACT = "[-12.353553390593273, 10.25699027111255, 0.0625]"
ODD = {
    # float() reads a buffer's bytes as text; a buffer is not a number
    "bytearray": ("def gradf(a, b, c):\n"
                  f"    return [bytearray(str(v).encode()) for v in {EXACT}]\n",
                  0.0, ["gradf(...)[0] is a bytearray, not a number"]),
    "memoryview": ("def gradf(a, b, c):\n"
                   f"    return [memoryview(str(v).encode()) for v in {EXACT}]\n",
                   0.0, ["gradf(...)[0] is a memoryview, not a number"]),
    # a BaseException of the student's own, raised by a .data property or a metaclass's __name__,
    # costs the answer, named, not the probe ("the kernel sent no result")
    "data-raises-base-exception": ("class Boom(BaseException):\n    pass\n"
                                   "class Weird:\n    @property\n    def data(self):\n        raise Boom('no')\n"
                                   "def gradf(a, b, c):\n    return [Weird(), Weird(), Weird()]\n",
                                   0.0, ["gradf(...)[0] is a Weird, not a number"]),
    "metaclass-name-raises": ("class Boom(BaseException):\n    pass\n"
                              "class Meta(type):\n    @property\n    def __name__(cls):\n        raise Boom('no')\n"
                              "class Sneaky(metaclass=Meta):\n    pass\n"
                              "def gradf(a, b, c):\n    return [Sneaky(), Sneaky(), Sneaky()]\n",
                              0.0, ["gradf(...)[0] is a Sneaky, not a number"]),
    "gradf-raises-base-exception": ("class Boom(BaseException):\n    pass\n"
                                    "def gradf(a, b, c):\n    raise Boom('my own')\n",
                                    0.0, ["Boom: my own"]),
    # a number-like type whose name would break the note's Markdown code span
    "backtick-in-type-name": ("Odd = type('Odd`\\n## name', (), {'__float__': lambda self: self.v})\n"
                              "from math import cos\ndef gradf(a, b, c):\n    out = []\n"
                              "    for v in [-3*a**2 - 0.5*a**-0.5, 3*cos(3*b) + 2.5*b**1.5, c**-2]:\n"
                              "        o = Odd(); o.v = v; out.append(o)\n"
                              "    return out\n",
                              3.0, ["(and 2 more) is a `Odd'\\n## name`, not a float"]),
}


@pytest.mark.parametrize("name", list(ODD))
def test_odd_objects_cost_only_their_answer(grade, tmp_path, name):
    code, want, texts = ODD[name]
    result = grade(variant(tmp_path / f"{name}.ipynb", replace={"q1-gradf": code, "q1-check": "pass"}))
    q1 = question(result, "q1_gradf")
    assert q1.score == pytest.approx(want), q1.message
    for text in texts:
        assert text in q1.message, q1.message
    assert "no result" not in q1.message, q1.message
    assert "Odd`" not in q1.message, q1.message
    assert scores(result)["q4_softmax_nll"] == 3.0
