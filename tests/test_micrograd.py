"""End-to-end verdicts on the micrograd notebook: real notebooks, real kernels, specific scores."""

from __future__ import annotations

import importlib.util

import pytest

from conftest import question, scores
from notebooks import exercise_path, solution_path, variant

FULL = {"q1_gradf": 3.0, "q2_forward_diff": 2.0, "q3_symmetric_diff": 2.0, "q4_softmax_nll": 3.0}

NUMPY_GRADF = """
import numpy as np
def gradf(a, b, c):
    return np.array([-3*a**2 - 0.5/np.sqrt(a), 3*np.cos(3*b) + 2.5*b**1.5, 1/c**2])
"""
NUMPY_FORWARD = """
import numpy as np
h = 0.000001
x = np.array([2.0, 3.0, 4.0])
numerical_grad = np.array([(f(*(x + h*e)) - f(*x)) / h for e in np.eye(3)])
"""


def test_solution_scores_every_point(grade):
    result = grade(solution_path())
    assert scores(result) == FULL
    assert result.score == result.max_score == 10
    assert all(q.status.value == "passed" for q in result.questions)
    torch_failed = any("No module named 'torch'" in note for note in result.notes)
    assert torch_failed == (importlib.util.find_spec("torch") is None)  # optional cell: harmless either way


def test_untouched_exercise_scores_zero_with_a_reason_each(grade):
    result = grade(exercise_path())
    assert scores(result) == {q: 0.0 for q in FULL}
    q1 = question(result, "q1_gradf")
    assert "df/da expected -12.35355339, got 0" in q1.message
    assert "5 of 5 hidden checks failed" in q1.message
    assert "component 0 (d/da) expected -12.35355935" in question(result, "q2_forward_diff").message
    assert "should be the central difference" in question(result, "q3_symmetric_diff").message
    q4 = question(result, "q4_softmax_nll")
    assert "'Value' object has no attribute 'exp'" in q4.message
    assert q4.status.value == "missing"


def test_numpy_answers_and_redefinitions_score_full(grade, tmp_path):
    path = variant(tmp_path / "numpy.ipynb",
                   replace={"q1-gradf": "def gradf(a, b, c):\n    return [0, 0, 0]\n", "q2-answer": NUMPY_FORWARD},
                   append=[NUMPY_GRADF,  # redefined in a later cell: the final state counts
                           "numerical_grad2 = tuple(numerical_grad2)"])
    assert scores(grade(path)) == FULL


def test_failing_extra_cells_cost_nothing(grade, tmp_path):
    path = variant(tmp_path / "extras.ipynb", prepend=["%matplotlib inline", "import torch"],
                   append=["name = input('your name? ')", "1 / 0", "!pip install micrograd",
                           "raise SystemExit('bye')"])
    result = grade(path)
    assert scores(result) == FULL
    statuses = [c.status for c in result.cells]
    assert statuses.count("error") >= 4


def test_hard_coded_gradf_loses_the_hidden_part(grade, tmp_path):
    path = variant(tmp_path / "hardcoded.ipynb", replace={
        "q1-gradf": "def gradf(a, b, c):\n    return [-12.353553390593273, 10.25699027111255, 0.0625]\n"})
    q1 = question(grade(path), "q1_gradf")
    assert q1.score == pytest.approx(1.2)  # the published 40% only
    assert "5 of 5 hidden checks failed" in q1.message
    assert "returns the same values at every point" in q1.message


def test_sign_error_in_one_component(grade, tmp_path):
    path = variant(tmp_path / "sign.ipynb", edit={"q1-gradf": ("1/c**2]", "-1/c**2]")})
    result = grade(path)
    q1 = question(result, "q1_gradf")
    # 2 of 3 components right at the published point and at every hidden one: the hidden part's
    # credit follows the published part's rule, per component (issue 23; it was 0.8 with
    # all-or-nothing hidden points)
    assert q1.score == pytest.approx(3.0 * 2 / 3)
    assert "5 of 5 hidden checks failed (all in part" in q1.message
    assert "df/dc expected 0.0625, got -0.0625" in q1.message
    assert scores(result)["q4_softmax_nll"] == 3.0


def test_forward_difference_with_wrong_step(grade, tmp_path):
    path = variant(tmp_path / "h.ipynb", edit={"q2-answer": ("h = 0.000001", "h = 0.1")})
    q2 = question(grade(path), "q2_forward_diff")
    assert q2.score == 0.0
    assert "a forward difference with h = 0.1, outside the plausible steps 1e-12 to 0.01" in q2.message


def test_exact_answer_typed_into_forward_difference(grade, tmp_path):
    path = variant(tmp_path / "typed.ipynb",
                   replace={"q2-answer": "numerical_grad = [-12.353553390593273, 10.25699027111255, 0.0625]"})
    q2 = question(grade(path), "q2_forward_diff")
    assert q2.score < 2.0
    assert "exact derivative, not a finite-difference estimate" in q2.message


def test_symmetric_estimate_copying_the_forward_one(grade, tmp_path):
    path = variant(tmp_path / "copy.ipynb", replace={"q3-answer": "numerical_grad2 = list(numerical_grad)"})
    result = grade(path)
    assert scores(result)["q3_symmetric_diff"] == 0.0
    assert "which is a forward difference (f(x+h) - f(x)) / h with h = 1e-06, not a central difference" in \
        question(result, "q3_symmetric_diff").message
    assert scores(result)["q2_forward_diff"] == 2.0


def test_assignment_instead_of_accumulation_in_value(grade, tmp_path):
    path = variant(tmp_path / "assign.ipynb", edit={"q4-value": (
        "            self.grad += 1.0 * out.grad\n            other.grad += 1.0 * out.grad",
        "            self.grad = 1.0 * out.grad\n            other.grad = 1.0 * out.grad")})
    q4 = question(grade(path), "q4_softmax_nll")
    assert 0 < q4.score < 3.0
    assert "hidden checks failed" in q4.message
    # the given `__add__` is the cause, found by x + x alone with z.grad = 2
    assert "`__add__` backward: for z = x + x" in q4.message
    assert "accumulate with += in _backward, never =" in q4.message


def test_hand_written_grads_over_a_broken_log(grade, tmp_path):
    path = variant(tmp_path / "forged.ipynb",
                   edit={"q4-value": ("self.grad += (1.0 / self.data) * out.grad", "pass")},
                   append=["ans = [0.041772570515350445, 0.8390245074625319, 0.005653302662216329, "
                           "-0.8864503806400986]\nfor v, g in zip(logits, ans):\n    v.grad = g"])
    q4 = question(grade(path), "q4_softmax_nll")
    published, hidden = q4.parts
    assert published.score == pytest.approx(3.0 * 0.4 / 5)  # only loss.data is right
    assert "logits[0].grad expected 0.04177257052, got 0" in q4.message
    # hidden: the three softmax cases and `log` (alone, and x.log() + x.log()) fail; radd, div, neg
    # and exp pass, alone and with their input used twice. Each softmax case earns, as the published
    # part does, its loss's share: 1 of 4, 6 and 5 numbers (issue 23: consistent partial credit)
    assert "5 of 13 hidden checks failed (3 in part" in hidden.message
    assert hidden.score == pytest.approx(1.8 * (8 + 1 / 4 + 1 / 6 + 1 / 5) / 13)
    assert "`log` backward: for z = x.log()" in q4.message and "the gradient never reaches it" in q4.message


def test_gradf_that_raises_costs_only_q1(grade, tmp_path):
    path = variant(tmp_path / "raises.ipynb", replace={
        "q1-gradf": "def gradf(a, b, c):\n    raise ValueError('not done yet')\n"}, drop=["q1-check"])
    result = grade(path)
    assert scores(result) == {**FULL, "q1_gradf": 0.0}
    q1 = question(result, "q1_gradf")
    assert "raised ValueError: not done yet" in q1.message
    assert q1.status.value == "missing"


LYING_FLOATS = """
class Liar(float):
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __lt__(self, other): return False
    def __gt__(self, other): return False
    def __le__(self, other): return True
    def __ge__(self, other): return True
    def __abs__(self): return Liar(0.0)
    def __sub__(self, other): return Liar(0.0)
    def __rsub__(self, other): return Liar(0.0)
    def __float__(self): return -12.353553390593273
    def __repr__(self): return '-12.353553390593273'
    __hash__ = float.__hash__

def gradf(a, b, c):
    return [Liar(1.0), Liar(2.0), Liar(3.0)]
numerical_grad = [Liar(1.0), Liar(2.0), Liar(3.0)]
numerical_grad2 = [Liar(1.0), Liar(2.0), Liar(3.0)]
"""


def test_float_subclasses_that_lie_earn_nothing(grade, tmp_path):
    path = variant(tmp_path / "liar.ipynb", append=[LYING_FLOATS])
    result = grade(path)
    assert {k: v for k, v in scores(result).items() if k != "q4_softmax_nll"} == {
        "q1_gradf": 0.0, "q2_forward_diff": 0.0, "q3_symmetric_diff": 0.0}
    assert "df/da expected -12.35355339, got 1" in question(result, "q1_gradf").message


SABOTAGE = r"""
import json, math, sys, builtins
_real_dumps = json.dumps
json.dumps = lambda *a, **k: _real_dumps(*a, **k).replace('"status": "error"', '"status": "ok"')
json.loads = lambda *a, **k: {"status": "ok", "value": [-12.353553390593273, 10.25699027111255, 0.0625]}
math.isclose = lambda *a, **k: True
builtins.abs = lambda x: 0.0
builtins.round = lambda *a, **k: 0
builtins.all = lambda *a: True
builtins.isinstance = lambda *a: True
class _Out:
    def write(self, s):
        sys.__stdout__.write('{"status": "ok", "value": [1, 2, 3]}')
    def flush(self): pass
sys.stdout = _Out()
print = lambda *a, **k: None
"""


def test_patched_json_math_builtins_and_stdout_change_no_verdict(grade, tmp_path):
    wrong = variant(tmp_path / "wrong.ipynb", edit={"q1-gradf": ("1/c**2]", "-1/c**2]")},
                    replace={"q3-answer": "numerical_grad2 = list(numerical_grad)"})
    sabotaged = variant(tmp_path / "sabotaged.ipynb", edit={"q1-gradf": ("1/c**2]", "-1/c**2]")},
                        replace={"q3-answer": "numerical_grad2 = list(numerical_grad)"}, append=[SABOTAGE])
    right_but_patched = variant(tmp_path / "patched.ipynb", append=[SABOTAGE])
    honest = grade(wrong)
    # Patching json.loads breaks the kernel's own messaging: that cell times out and the kernel is
    # restarted with the cells before it replayed; either way no verdict changes.
    assert scores(grade(sabotaged, cell_timeout=6)) == scores(honest) == {
        **FULL, "q1_gradf": 2.0, "q3_symmetric_diff": 0.0}
    assert scores(grade(right_but_patched, cell_timeout=6)) == FULL


def test_a_grader_bug_is_reported_as_ours_and_costs_one_question(config, monkeypatch):
    from grader.checks import finite_difference
    from grader.grading.grade import GradeOptions, grade_notebook

    def broken_judge(*args, **kwargs):
        raise ZeroDivisionError("a bug in the grader")

    monkeypatch.setattr(finite_difference, "judge", broken_judge)
    result = grade_notebook(solution_path(), config.get("micrograd"), options=GradeOptions(seed=3))
    assert "ZeroDivisionError: a bug in the grader" in result.internal_error
    assert result.status == "grader_error"
    assert scores(result) == {**FULL, "q2_forward_diff": 0.0, "q3_symmetric_diff": 0.0}
    assert "not your fault" in question(result, "q2_forward_diff").message
    assert question(result, "q2_forward_diff").status.value == "failed"


def test_cli_single_notebook_writes_gradescope_results(tmp_path, capsys):
    import json

    from grader.cli import main

    out = tmp_path / "results.json"
    assert main(["run", str(solution_path()), "--results", str(out), "--seed", "7"]) == 0
    results = json.loads(out.read_text())
    assert results["score"] == 10
    assert [t["name"].split(":")[0] for t in results["tests"]] == [
        "q1_gradf", "q1_gradf", "q2_forward_diff", "q3_symmetric_diff", "q4_softmax_nll", "q4_softmax_nll"]
    assert "q1_gradf" in capsys.readouterr().out


def test_cli_exit_codes_for_bad_arguments_and_config(tmp_path, capsys):
    from grader.cli import main

    assert main(["run", str(tmp_path / "nope.ipynb")]) == 2
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "assignments.yml"
    bad.write_text("assignments:\n  micrograd:\n    questons: []\n")
    assert main(["run", str(solution_path()), "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'questons'" in err and "did you mean 'questions'" in err and ":3:" in err
    assert main(["run", str(solution_path()), "--assignment", "micrograd", "--config", str(bad)]) == 2


SYMPY_GRADF = """
import sympy as sp
_a, _b, _c = sp.symbols('a b c')
_f = -_a**3 + sp.sin(3*_b) - 1.0/_c + _b**2.5 - _a**0.5
_grad = [sp.diff(_f, v) for v in (_a, _b, _c)]
def gradf(a, b, c):
    return [g.subs({_a: a, _b: b, _c: c}).evalf() for g in _grad]   # sympy Floats
"""


def test_sympy_computed_gradient_scores_full(grade, tmp_path):
    path = variant(tmp_path / "sympy.ipynb", replace={"q1-gradf": SYMPY_GRADF})
    assert scores(grade(path)) == FULL
