"""The `mlp` assignment: the numpy reference, and verdicts on real notebooks in real kernels."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from conftest import question, scores
from grader.references import nets
from grader.cli import choose_assignment
from notebooks import exercise_path, solution_path, variant

FULL = {"q1_forward": 3.0, "q2_parameters": 2.0, "q3_gradients": 3.0, "q4_zero_grad": 2.0}
SHAPES = [(3, [4, 4, 1]), (2, [2, 1]), (1, [3, 2]), (4, [5, 3, 2]), (2, [1])]


def _random_net(rng: random.Random, nin: int, nouts: list[int]) -> nets.Layers:
    flat = [rng.uniform(-1, 1) for _ in range(nets.param_count(nin, nouts))]
    return nets.unflatten(flat, nin, nouts)


# ----------------------------------------------------------------------------- the reference itself

def test_parameter_count_and_order():
    assert nets.param_count(3, [4, 4, 1]) == 41
    assert nets.param_count(2, [2, 1]) == 9
    names = nets.param_names(3, [4, 4, 1])
    assert names[:5] == [f"layers[0].neurons[0].w[{k}]" for k in range(3)] + [
        "layers[0].neurons[0].b", "layers[0].neurons[1].w[0]"]
    assert names[-1] == "layers[2].neurons[0].b" and len(names) == 41
    flat = list(range(41))
    assert nets.flatten(nets.unflatten([float(v) for v in flat], 3, [4, 4, 1])) == flat


@pytest.mark.parametrize("nin,nouts", SHAPES, ids=[f"MLP({n},{o})" for n, o in SHAPES])
def test_reference_gradients_agree_with_central_differences(nin, nouts):
    rng = random.Random(nin * 100 + len(nouts))
    layers = _random_net(rng, nin, nouts)
    X = [[rng.uniform(-2, 2) for _ in range(nin)] for _ in range(3)]
    Y = [[rng.uniform(-1, 1) for _ in range(nouts[-1])] for _ in range(3)]
    _, grads = nets.squared_error(layers, X, Y)
    flat = np.asarray(nets.flatten(layers))
    h = 1e-6
    for i in range(len(flat)):
        up, down = flat.copy(), flat.copy()
        up[i] += h
        down[i] -= h
        estimate = (nets.squared_error(nets.unflatten(up, nin, nouts), X, Y)[0]
                    - nets.squared_error(nets.unflatten(down, nin, nouts), X, Y)[0]) / (2 * h)
        assert estimate == pytest.approx(grads[i], rel=1e-6, abs=1e-7)


@pytest.mark.parametrize("nin,nouts", SHAPES, ids=[f"MLP({n},{o})" for n, o in SHAPES])
def test_reference_agrees_with_torch(nin, nouts):
    torch = pytest.importorskip("torch")
    rng = random.Random(7 + nin)
    layers = _random_net(rng, nin, nouts)
    x = [1.0, 0.0] if (nin, nouts) == (2, [2, 1]) else [rng.uniform(-2, 2) for _ in range(nin)]
    y = [0.0] * nouts[-1]
    loss, grads = nets.squared_error(layers, [x], [y])
    tensors = [(torch.tensor(W, dtype=torch.float64, requires_grad=True),
                torch.tensor(b, dtype=torch.float64, requires_grad=True)) for W, b in layers]
    h = torch.tensor(x, dtype=torch.float64)
    for i, (W, b) in enumerate(tensors):
        h = W @ h + b
        h = h if i == len(tensors) - 1 else torch.tanh(h)
    t_loss = ((h - torch.tensor(y, dtype=torch.float64)) ** 2).sum()
    t_loss.backward()
    t_grads = nets.flatten([(W.grad.numpy(), b.grad.numpy()) for W, b in tensors])
    assert abs(t_loss.item() - loss) <= 1e-12
    assert max(abs(a - b) for a, b in zip(t_grads, grads)) <= 1e-12


def test_notebook_names_choose_the_assignment(config):
    for path, expected in [(solution_path("mlp"), "mlp"), (exercise_path("mlp"), "mlp"),
                           (Path("submissions/alice_mlp.ipynb"), "mlp"),
                           (solution_path("training"), "training"),
                           (Path("bob-training (1).ipynb"), "training")]:
        assert choose_assignment(config, path, None).id == expected


# ----------------------------------------------------------------------------- real notebooks

def test_solution_scores_every_point(grade):
    result = grade(solution_path("mlp"), "mlp")
    assert scores(result) == FULL
    assert all(q.status.value == "passed" for q in result.questions)
    assert "all 4 hidden checks passed" in question(result, "q3_gradients").message
    assert not [c for c in result.cells if c.status != "ok"]  # the torch cell skips itself


def test_untouched_exercise_scores_zero_with_a_reason_each(grade):
    result = grade(exercise_path("mlp"), "mlp")
    assert scores(result) == {q: 0.0 for q in FULL}
    for q in result.questions:
        assert q.status.value == "missing"
        assert "raised NotImplementedError: TODO: MLP.__init__" in q.message


def test_relu_instead_of_tanh_is_named(grade, tmp_path):
    path = variant(tmp_path / "relu.ipynb", assignment="mlp",
                   edit={"neuron": ("act.tanh() if self.nonlin", "act.relu() if self.nonlin")})
    result = grade(path, "mlp")
    q1 = question(result, "q1_forward")
    assert q1.parts[0].score == 0.0
    assert "it matches a network with relu on the hidden layers instead of tanh" in q1.message
    assert q1.score < 3.0
    assert "the forward pass is already wrong" in question(result, "q3_gradients").message
    assert scores(result)["q2_parameters"] == 2.0 and scores(result)["q4_zero_grad"] == 2.0


def test_missing_bias_in_the_weighted_sum_is_named(grade, tmp_path):
    path = variant(tmp_path / "nobias.ipynb", assignment="mlp",
                   edit={"neuron": ("zip(self.w, x)), self.b)", "zip(self.w, x)))")})
    result = grade(path, "mlp")
    assert scores(result) == {**FULL, "q1_forward": 0.0, "q3_gradients": 0.0}
    assert "it matches a network without biases" in question(result, "q1_forward").message


def test_biases_left_out_of_parameters_cost_parameters_and_zero_grad(grade, tmp_path):
    path = variant(tmp_path / "params.ipynb", assignment="mlp",
                   edit={"neuron": ("return self.w + [self.b]", "return self.w")})
    result = grade(path, "mlp")
    assert scores(result) == {**FULL, "q2_parameters": 0.0, "q4_zero_grad": 0.0}
    assert "returned 32 values, expected 41 (the biases are missing)" in question(
        result, "q2_parameters").message
    assert "9 of 41 gradients are not 0; for example layers[0].neurons[0].b.grad" in question(
        result, "q4_zero_grad").message


def test_tanh_on_the_output_layer_is_named(grade, tmp_path):
    path = variant(tmp_path / "tanhlast.ipynb", assignment="mlp",
                   edit={"mlp": ("nonlin=i != len(nouts) - 1", "nonlin=True")})
    result = grade(path, "mlp")
    assert scores(result)["q1_forward"] == 0.0
    assert "also applies tanh to the output layer" in question(result, "q1_forward").message


def test_wrong_tanh_derivative_costs_gradients_only(grade, tmp_path):
    path = variant(tmp_path / "dtanh.ipynb", assignment="mlp",
                   edit={"value": ("(1 - t ** 2) * out.grad", "(1 - t) * out.grad")})
    result = grade(path, "mlp")
    q3 = question(result, "q3_gradients")
    assert scores(result)["q1_forward"] == 3.0 and scores(result)["q4_zero_grad"] == 2.0
    assert q3.parts[0].score == 0.0 and q3.score < 3.0
    assert "36 of 41 gradients differ" in q3.message
    assert "d tanh(z)/dz = 1 - tanh(z)**2" in q3.message
