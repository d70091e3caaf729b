"""Submissions written the way learners write the widely circulated micrograd exercise notebook.

Each submission fills the original notebook's cells (its wording, two-space indentation, the
self-check cells) with one learner's answers; ``EXPECTED`` is the score a careful instructor gives
each question, reading the code. Built by tests/test_corpus.py.
"""

from __future__ import annotations

INTRO = ("markdown", "# micrograd exercises\n\n1. watch the [micrograd video](https://www.youtube.com/watch?v=VMj-3S1tku0) "
         "on YouTube\n2. come back and complete these exercises to level up :)")
F = """# here is a mathematical expression that takes 3 inputs and produces one output
from math import sin, cos

def f(a, b, c):
  return -a**3 + sin(3*b) - 1.0/c + b**2.5 - a**0.5

print(f(2, 3, 4))"""
CHECK = """
for dim in range(3):
  ok = 'OK' if abs({name}[dim] - ans[dim]) < 1e-5 else 'WRONG!'
  print(f"{{ok}} for dim {{dim}}: expected {{ans[dim]}}, yours returns {{{name}[dim]}}")"""
GRADF_CELL = """# write the function df that returns the analytical gradient of f
# i.e. use your skills from calculus to take the derivative, then implement the formula
# if you do not calculus then feel free to ask wolframalpha, e.g.:
# https://www.wolframalpha.com/input?i=d%2Fda%28sin%283*a%29%29%29

{gradf}

# expected answer is the list of
ans = [-12.353553390593273, 10.25699027111255, 0.0625]
yours = gradf(2, 3, 4)
for dim in range(3):
  ok = 'OK' if abs(yours[dim] - ans[dim]) < 1e-5 else 'WRONG!'
  print(f"{{ok}} for dim {{dim}}: expected {{ans[dim]}}, yours returns {{yours[dim]}}")"""
NUM1 = """# now estimate the gradient numerically without any calculus, using
# the approximation we used in the video.
# you should not call the function df from the last cell

# -----------
{code}
# -----------
""" + CHECK.format(name="numerical_grad")
NUM2 = """# there is an alternative formula that provides a much better numerical
# approximation to the derivative of a function.
# learn about it here: https://en.wikipedia.org/wiki/Symmetric_derivative
# implement it. confirm that for the same step size h this version gives a
# better approximation.

# -----------
{code}
# -----------
""" + CHECK.format(name="numerical_grad2")
SECTION2 = ("markdown", "## section 2: support for softmax")
VALUE = """class Value:

  def __init__(self, data, _children=(), _op='', label=''):
    self.data = data
    self.grad = 0.0
    self._backward = lambda: None
    self._prev = set(_children)
    self._op = _op
    self.label = label

  def __repr__(self):
    return f"Value(data={{self.data}})"

  def __add__(self, other): # exactly as in the video
    other = other if isinstance(other, Value) else Value(other)
    out = Value(self.data + other.data, (self, other), '+')

    def _backward():
      self.grad += 1.0 * out.grad
      other.grad += 1.0 * out.grad
    out._backward = _backward

    return out

  # ------
  # re-implement all the other functions needed for the exercises below
  # your code here
{ops}
  # ------

  def backward(self): # exactly as in video
    topo = []
    visited = set()
    def build_topo(v):
      if v not in visited:
        visited.add(v)
        for child in v._prev:
          build_topo(child)
        topo.append(v)
    build_topo(self)

    self.grad = 1.0
    for node in reversed(topo):
      node._backward()"""
SOFTMAX = """# without referencing our code/video __too__ much, make this cell work
# you'll have to implement (in some cases re-implement) a number of functions
# of the Value object, similar to what we've seen in the video.
# instead of the squared error loss this implements the negative log likelihood
# loss, which is very often used in classification.

# this is the softmax function
# https://en.wikipedia.org/wiki/Softmax_function
def softmax(logits):
  counts = [logit.exp() for logit in logits]
  denominator = sum(counts)
  out = [c / denominator for c in counts]
  return out

# this is the negative log likelihood loss function, pervasive in classification
logits = [Value(0.0), Value(3.0), Value(-2.0), Value(1.0)]
probs = softmax(logits)
loss = -probs[3].log() # dim 3 acts as the label for this input example
loss.backward()
print(loss.data)

ans = [0.041772570515350445, 0.8390245074625319, 0.005653302662216329, -0.8864503806400986]
for dim in range(4):
  ok = 'OK' if abs(logits[dim].grad - ans[dim]) < 1e-5 else 'WRONG!'
  print(f"{ok} for dim {dim}: expected {ans[dim]}, yours is {logits[dim].grad}")"""
TORCH = """# verify the gradient using the torch library
# torch should give you the exact same gradient
import torch
logits = torch.tensor([0.0, 3.0, -2.0, 1.0], dtype=torch.float64, requires_grad=True)
probs = torch.softmax(logits, dim=0)
loss = -probs[3].log()
loss.backward()
print(logits.grad)"""

GRADF = """def gradf(a, b, c):
  return [-3*a**2 - 0.5*a**-0.5, 3*cos(3*b) + 2.5*b**1.5, 1/c**2]"""
GRADF_NP = """import numpy as np
def gradf(a, b, c):
  dfda = -3 * a**2 - 1 / (2 * np.sqrt(a))
  dfdb = 3 * np.cos(3 * b) + 2.5 * b**1.5
  dfdc = 1 / c**2
  return [dfda, dfdb, dfdc]"""
GRADF_APPROX = """def gradf(a, b, c):
  return [-3*a**2 - 0.35355/(a/2)**0.5, 3*cos(3*b) + 2.5*b**1.5, 1/(c*c)]  # 0.35355 = 0.5/sqrt(2)"""
GRADF_SIGN = """def gradf(a, b, c):
  return [-3*a**2 - 0.5*a**-0.5, 3*cos(3*b) + 2.5*b**1.5, -1/c**2]"""

OPS = """  def __mul__(self, other):
    other = other if isinstance(other, Value) else Value(other)
    out = Value(self.data * other.data, (self, other), '*')
    def _backward():
      self.grad += other.data * out.grad
      other.grad += self.data * out.grad
    out._backward = _backward
    return out

  def __pow__(self, other):
    assert isinstance(other, (int, float))
    out = Value(self.data**other, (self,), f'**{other}')
    def _backward():
      self.grad += other * (self.data ** (other - 1)) * out.grad
    out._backward = _backward
    return out

  def __rmul__(self, other):
    return self * other

  def __radd__(self, other):
    return self + other

  def __truediv__(self, other):
    return self * other**-1

  def __neg__(self):
    return self * -1

  def __sub__(self, other):
    return self + (-other)

  def exp(self):
    out = Value(math.exp(self.data), (self,), 'exp')
    def _backward():
      self.grad += out.data * out.grad
    out._backward = _backward
    return out

  def log(self):
    out = Value(math.log(self.data), (self,), 'log')
    def _backward():
      self.grad += (1 / self.data) * out.grad
    out._backward = _backward
    return out"""
OPS_DIRECT_DIV = """  def __radd__(self, other):
    return self + other

  def __truediv__(self, other):
    other = other if isinstance(other, Value) else Value(other)
    out = Value(self.data / other.data, (self, other), '/')
    def _backward():
      self.grad += 1 / other.data * out.grad
      other.grad += -self.data / other.data**2 * out.grad
    out._backward = _backward
    return out

  def __neg__(self):
    out = Value(-self.data, (self,), 'neg')
    def _backward():
      self.grad += -out.grad
    out._backward = _backward
    return out

  def exp(self):
    x = self.data
    out = Value(math.exp(x), (self, ), 'exp')
    def _backward():
      self.grad += out.data * out.grad
    out._backward = _backward
    return out

  def log(self):
    out = Value(math.log(self.data), (self,), 'log')
    def _backward():
      self.grad += out.grad / self.data
    out._backward = _backward
    return out"""

FWD_INLINE = """h = 0.000001
numerical_grad = [(f(2+h, 3, 4) - f(2, 3, 4))/h, (f(2, 3+h, 4) - f(2, 3, 4))/h, (f(2, 3, 4+h) - f(2, 3, 4))/h]"""
CEN_INLINE = """h = 0.000001
numerical_grad2 = [(f(2+h, 3, 4) - f(2-h, 3, 4))/(2*h), (f(2, 3+h, 4) - f(2, 3-h, 4))/(2*h), (f(2, 3, 4+h) - f(2, 3, 4-h))/(2*h)]"""


def fwd_loop(h: str) -> str:
    return f"""h = {h}
inputs = [2, 3, 4]
numerical_grad = []
for i in range(3):
  bumped = inputs.copy()
  bumped[i] += h
  numerical_grad.append((f(*bumped) - f(*inputs)) / h)"""


def cen_loop(h: str) -> str:
    return f"""h = {h}
inputs = [2, 3, 4]
numerical_grad2 = []
for i in range(3):
  up, down = inputs.copy(), inputs.copy()
  up[i] += h
  down[i] -= h
  numerical_grad2.append((f(*up) - f(*down)) / (2*h))"""


FWD_HELPER = """def num_grad(fn, x, h=1e-7):
  g = []
  for i in range(len(x)):
    x2 = list(x)
    x2[i] = x2[i] + h
    g.append((fn(*x2) - fn(*x)) / h)
  return g

numerical_grad = num_grad(f, [2, 3, 4])"""
CEN_HELPER = """def num_grad2(fn, x, h=1e-5):
  g = []
  for i in range(len(x)):
    xp, xm = list(x), list(x)
    xp[i] += h; xm[i] -= h
    g.append((fn(*xp) - fn(*xm)) / (2 * h))
  return g

numerical_grad2 = num_grad2(f, [2, 3, 4])
print([abs(n2 - a) < abs(n1 - a) for n1, n2, a in zip(numerical_grad, numerical_grad2, ans)])"""
FWD_NUMPY = """import numpy as np
h = 1e-8
x = np.array([2., 3., 4.])
numerical_grad = [(f(*(x + h * e)) - f(*x)) / h for e in np.eye(3)]"""
CEN_NUMPY = """h = 1e-6
numerical_grad2 = [(f(*(x + h * e)) - f(*(x - h * e))) / (2 * h) for e in np.eye(3)]"""
FWD_PER_VAR = """a, b, c = 2, 3, 4
ha = 0.0000001
hb = 0.0000001
hc = 0.00001
dfda = (f(a + ha, b, c) - f(a, b, c)) / ha
dfdb = (f(a, b + hb, c) - f(a, b, c)) / hb
dfdc = (f(a, b, c + hc) - f(a, b, c)) / hc
numerical_grad = [dfda, dfdb, dfdc]"""
CEN_HALF = """h = 0.0001
numerical_grad2 = [(f(2 + h/2, 3, 4) - f(2 - h/2, 3, 4)) / h,
                   (f(2, 3 + h/2, 4) - f(2, 3 - h/2, 4)) / h,
                   (f(2, 3, 4 + h/2) - f(2, 3, 4 - h/2)) / h]"""
# issue 23: each partial derivative from only the terms of f that depend on that variable
FWD_TERMS = """h = 0.000001
# only the terms with a: -a**3 - a**0.5; with b: sin(3*b) + b**2.5; with c: -1.0/c
dfda = ((-(2+h)**3 - (2+h)**0.5) - (-2**3 - 2**0.5)) / h
dfdb = ((sin(3*(3+h)) + (3+h)**2.5) - (sin(9) + 3**2.5)) / h
dfdc = (-1.0/(4+h) + 1.0/4) / h
numerical_grad = [dfda, dfdb, dfdc]"""
CEN_TERMS = """h = 0.001
fa = lambda a: -a**3 - a**0.5
fb = lambda b: sin(3*b) + b**2.5
fc = lambda c: -1.0/c
numerical_grad2 = [(fn(x + h) - fn(x - h)) / (2*h) for fn, x in [(fa, 2), (fb, 3), (fc, 4)]]"""
GRADF_ONE_TERM = """def gradf(a, b, c):
  return [-3*a**2 - 0.5*a**-0.5, cos(3*b) + 2.5*b**1.5, 1/c**2]"""

FULL = {"q1_gradf": 3.0, "q2_forward_diff": 2.0, "q3_symmetric_diff": 2.0, "q4_softmax_nll": 3.0}


def edit(ops: str, old: str, new: str) -> str:
    assert old in ops, old
    return ops.replace(old, new)


# id: (gradf, numerical_grad code, numerical_grad2 code, Value ops, extra cells, expected scores
#      (None: the instructor gives partial credit on q4, checked as 0 < score < 3), message texts)
SUBMISSIONS = {
    "textbook": (GRADF, FWD_INLINE, CEN_INLINE, OPS, [], FULL, {}),
    "video-h-1e-3": (GRADF, fwd_loop("0.001"), cen_loop("0.001"), OPS, [],
                     {**FULL, "q2_forward_diff": 1.0}, {"q2_forward_diff": "use a smaller step"}),
    "h-1e-4-loops": (GRADF, fwd_loop("0.0001"), cen_loop("0.0001"), OPS, [],
                     {**FULL, "q2_forward_diff": 4 / 3}, {}),
    "h-1e-5-loops": (GRADF, fwd_loop("1e-5"), cen_loop("1e-5"), OPS, [],
                     {**FULL, "q2_forward_diff": 4 / 3}, {}),
    "helpers": (GRADF_NP, FWD_HELPER, CEN_HELPER, OPS, [], FULL, {}),
    "numpy": (GRADF_NP, FWD_NUMPY, CEN_NUMPY, OPS, [], FULL, {}),
    "h-1e-9": (GRADF, fwd_loop("1e-9"), cen_loop("1e-9"), OPS, [], FULL, {}),
    "h-1e-10": (GRADF, fwd_loop("1e-10"), cen_loop("1e-10"), OPS, [], FULL, {}),
    "per-variable-steps": (GRADF, FWD_PER_VAR, CEN_HALF, OPS, [], FULL, {}),
    "direct-div": (GRADF, FWD_INLINE, CEN_INLINE, OPS_DIRECT_DIV, [], FULL, {}),
    "approx-constant": (GRADF_APPROX, FWD_INLINE, CEN_INLINE, OPS, [], FULL, {}),
    "extra-cells": (GRADF, FWD_INLINE, CEN_INLINE, OPS,
                    ["%pip install torch", "import matplotlib.pyplot as plt\nplt.plot([1, 2], [3, 4])",
                     "print(numerical_grad, numerical_grad2)", "x = input('press enter')"], FULL, {}),
    "sign-error-dc": (GRADF_SIGN, FWD_INLINE, CEN_INLINE, OPS, [],
                      {**FULL, "q1_gradf": 2.0}, {"q1_gradf": "df/dc expected 0.0625, got -0.0625"}),
    "copied-gradf": (GRADF, "numerical_grad = gradf(2, 3, 4)", "numerical_grad2 = gradf(2, 3, 4)", OPS, [],
                     {**FULL, "q2_forward_diff": 0.0, "q3_symmetric_diff": 0.0},
                     {"q2_forward_diff": "the exact derivative"}),
    "pasted-ans": (GRADF, "numerical_grad = ans", "numerical_grad2 = ans", OPS, [],
                   {**FULL, "q2_forward_diff": 0.0, "q3_symmetric_diff": 0.0}, {}),
    "forward-twice": (GRADF, FWD_INLINE, FWD_INLINE.replace("numerical_grad", "numerical_grad2"), OPS, [],
                      {**FULL, "q3_symmetric_diff": 0.0}, {"q3_symmetric_diff": "forward difference"}),
    "central-without-half": (GRADF, FWD_INLINE, CEN_INLINE.replace("/(2*h)", "/h"), OPS, [],
                             {**FULL, "q3_symmetric_diff": 0.0}, {"q3_symmetric_diff": "without the 1/2"}),
    "mul-no-out-grad": (GRADF, FWD_INLINE, CEN_INLINE,
                        edit(OPS, "other.data * out.grad", "other.data"), [], None,
                        {"q4_softmax_nll": "`__mul__` backward"}),
    "pow-exponent": (GRADF, FWD_INLINE, CEN_INLINE, edit(OPS, "(other - 1)", "other"), [], None,
                     {"q4_softmax_nll": "`__pow__` backward"}),
    "log-derivative": (GRADF, FWD_INLINE, CEN_INLINE, edit(OPS, "(1 / self.data) * out.grad", "out.grad"),
                       [], None, {"q4_softmax_nll": "`log` backward"}),
    "exp-overwrites": (GRADF, FWD_INLINE, CEN_INLINE, edit(OPS, "self.grad += out.data", "self.grad = out.data"),
                       [], None, {"q4_softmax_nll": "`exp` backward: for z = x.exp() + x.exp()"}),
    # issue 23
    "term-by-term": (GRADF, FWD_TERMS, CEN_TERMS, OPS, [], FULL, {"q3_symmetric_diff": "h = 0.001"}),
    "forward-as-central-1e-8": (GRADF, fwd_loop("1e-8"), fwd_loop("1e-8").replace("numerical_grad", "numerical_grad2"),
                                OPS, [], {**FULL, "q3_symmetric_diff": 0.0},
                                {"q3_symmetric_diff": "a forward difference (f(x+h) - f(x)) / h with h = 1e-08"}),
    "exp-grad-is-a-value": (GRADF, FWD_INLINE, CEN_INLINE, edit(OPS, "self.grad += out.data * out.grad",
                                                                "self.grad += out * out.grad"), [], FULL,
                            {"q4_softmax_nll": "is a `Value` object, not a number"}),
    "gradf-one-term-wrong": (GRADF_ONE_TERM, FWD_INLINE, CEN_INLINE, OPS, [], {**FULL, "q1_gradf": 2.0},
                             {"q1_gradf": "(all in part"}),
    "untouched": ("def gradf(a, b, c):\n  return [0, 0, 0] # todo, return [df/da, df/db, df/dc]",
                  "numerical_grad = [0, 0, 0] # TODO", "numerical_grad2 = [0, 0, 0] # TODO", "  # TODO", [],
                  {q: 0.0 for q in FULL}, {}),
}


def cells(gradf: str, num1: str, num2: str, ops: str, extra: list[str]) -> list:
    return [INTRO, ("markdown", "## section 1: derivatives"), F, GRADF_CELL.format(gradf=gradf),
            NUM1.replace("{code}", num1), NUM2.replace("{code}", num2), SECTION2,
            "import math\n" + VALUE.format(ops=ops), SOFTMAX, TORCH, *extra]
