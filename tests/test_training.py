"""The `training` assignment: references, and verdicts on real notebooks in real kernels.

Scenario notebooks that are not about the two classifiers drop the cells that train them (a few
seconds each), so those two questions are then simply unanswered.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from conftest import question, scores
from grader.references import nets
from notebooks import exercise_path, solution_path, variant

FULL = {"q1_train_step": 3.0, "q2_zero_grad": 2.0, "q3_train": 2.0, "q4_hinge_loss": 3.0,
        "q5_moons": 2.0, "q6_sigmoid": 2.0, "q7_softmax": 3.0, "q8_blobs": 2.0}
CLASSIFIERS = ["moons", "blobs"]
UNTRAINED = {"q5_moons": 0.0, "q8_blobs": 0.0}


# ----------------------------------------------------------------------------- references

def test_hinge_gradient_agrees_with_central_differences():
    rng = random.Random(3)
    nin, nouts = 2, [4, 1]
    flat = np.array([rng.uniform(-1, 1) for _ in range(nets.param_count(nin, nouts))])
    X, y = nets.moons(12, 0.1, rng)
    _, grads = nets.hinge(nets.unflatten(flat, nin, nouts), X, y, 1e-3)
    h = 1e-6
    for i in range(len(flat)):
        up, down = flat.copy(), flat.copy()
        up[i] += h
        down[i] -= h
        estimate = (nets.hinge(nets.unflatten(up, nin, nouts), X, y, 1e-3)[0]
                    - nets.hinge(nets.unflatten(down, nin, nouts), X, y, 1e-3)[0]) / (2 * h)
        assert estimate == pytest.approx(grads[i], rel=1e-5, abs=1e-7)


def test_forgotten_zero_grad_reference_uses_the_running_sum():
    rng = random.Random(5)
    flat = [rng.uniform(-1, 1) for _ in range(nets.param_count(3, [4, 1]))]
    X, Y = [[1.0, 2.0, -1.0], [0.5, -0.5, 2.0]], [[1.0], [-1.0]]
    _, right = nets.gd_steps(flat, 3, [4, 1], X, Y, 0.1, 2)
    _, wrong = nets.gd_steps(flat, 3, [4, 1], X, Y, 0.1, 2, accumulate=True)
    assert right[0] == wrong[0] and right[1] != wrong[1]


def test_data_sets_are_balanced_and_labelled():
    X, y = nets.moons(200, 0.1, random.Random(1))
    assert len(X) == 200 and sorted(set(y)) == [-1.0, 1.0] and y.count(1.0) == 100
    X, y = nets.blobs(30, [(0, 1), (1, 0), (2, 2)], 0.5, random.Random(1))
    assert [y.count(k) for k in range(3)] == [10, 10, 10]


# ----------------------------------------------------------------------------- real notebooks

def test_solution_scores_every_point(grade):
    result = grade(solution_path("training"), "training")
    assert scores(result) == FULL
    assert all(q.status.value == "passed" for q in result.questions)
    assert "held-out moons points" in question(result, "q5_moons").message
    assert "every loss matches plain gradient descent" in question(result, "q3_train").message
    assert not [c for c in result.cells if c.status != "ok"]


def test_untouched_exercise_scores_zero_with_a_reason_each(grade):
    result = grade(exercise_path("training"), "training")
    assert scores(result) == {q: 0.0 for q in FULL}
    reasons = {"q1_train_step": "NotImplementedError: TODO: train_step",
               "q2_zero_grad": "NotImplementedError: TODO: train_step",
               "q3_train": "NotImplementedError: TODO: train",
               "q4_hinge_loss": "NotImplementedError: TODO: hinge_loss",
               "q5_moons": "moons_model is None: build the model and train it",
               "q6_sigmoid": "NotImplementedError: TODO: Value.sigmoid",
               "q7_softmax": "NotImplementedError: TODO: softmax",
               "q8_blobs": "blobs_model is None"}
    for qid, reason in reasons.items():
        assert reason in question(result, qid).message, qid


def test_forgotten_zero_grad_is_caught_and_named(grade, tmp_path):
    path = variant(tmp_path / "nozero.ipynb", assignment="training", drop=CLASSIFIERS,
                   edit={"train-step": ("    model.zero_grad()\n", "")})
    result = grade(path, "training")
    # one step on a fresh network is still right; the second step and the loop are not
    assert scores(result) == {**FULL, **UNTRAINED, "q2_zero_grad": 0.0, "q3_train": 1.0}
    q2 = question(result, "q2_zero_grad")
    assert "the second step used the sum of both steps' gradients" in q2.message
    assert "call model.zero_grad() before loss.backward()" in q2.message
    q3 = question(result, "q3_train")
    assert q3.parts[0].score == 1.0 and q3.parts[1].score == 0.0  # it falls, but not as it should
    assert "losses differ" in q3.message


def test_update_with_the_wrong_sign(grade, tmp_path):
    path = variant(tmp_path / "sign.ipynb", assignment="training", drop=CLASSIFIERS,
                   edit={"train-step": ("p.data -= lr * p.grad", "p.data += lr * p.grad")})
    result = grade(path, "training")
    assert scores(result) == {**FULL, **UNTRAINED, "q1_train_step": 0.0, "q3_train": 0.0}
    assert "the update has the wrong sign" in question(result, "q1_train_step").message
    assert "it should fall to at most 0.5 of where it started" in question(result, "q3_train").message


def test_loss_not_squared(grade, tmp_path):
    path = variant(tmp_path / "notsquared.ipynb", assignment="training", drop=CLASSIFIERS,
                   edit={"train-step": ("(yout - ygt) ** 2", "(yout - ygt)")})
    result = grade(path, "training")
    assert scores(result) == {**FULL, **UNTRAINED, "q1_train_step": 0.0, "q2_zero_grad": 0.0,
                              "q3_train": 0.0}
    assert "the loss is not squared" in question(result, "q1_train_step").message
    assert "a loss is negative" in question(result, "q3_train").message


def test_slips_in_hinge_sigmoid_softmax_and_an_untrained_model(grade, tmp_path):
    path = variant(tmp_path / "slips.ipynb", assignment="training", drop=["blobs"],
                   edit={"hinge": ("return data_loss + reg_loss", "return data_loss"),
                         "softmax": ("return [c / total for c in counts]", "return counts"),
                         "value": ("self.grad += s * (1 - s) * out.grad",
                                   "self.grad = s * (1 - s) * out.grad")},
                   replace={"moons": "random.seed(0)\nmoons_model = MLP(2, [8, 1])  # never trained"})
    result = grade(path, "training")
    assert scores(result) == {**FULL, **UNTRAINED, "q4_hinge_loss": 0.0, "q6_sigmoid": 0.0,
                              "q7_softmax": 0.0}
    assert "the L2 term alpha * sum(p * p for p in model.parameters()) is missing" in question(
        result, "q4_hinge_loss").message
    assert "the backward overwrites x.grad; accumulate with +=" in question(result, "q6_sigmoid").message
    assert "not 1: divide each exp(logit) by the sum" in question(result, "q7_softmax").message
    q5 = question(result, "q5_moons")
    assert q5.status.value == "failed" and "(at least 85% needed)" in q5.message


def test_held_out_points_come_from_the_notebook_itself(grade, tmp_path):
    """The same notebook meets the same held-out points whatever the run's seed, so a model near
    its threshold cannot pass one run and fail the next (the seeded solution is below 100%, so
    two different draws would show different accuracies)."""
    notebook = variant(tmp_path / "seeded.ipynb", assignment="training", append=["# one more line"])
    first = grade(notebook, "training", seed=1)
    again = grade(notebook, "training", seed=2)
    for qid in ("q5_moons", "q8_blobs"):
        assert "100.0%" not in question(first, qid).message
        assert question(first, qid).message == question(again, qid).message
