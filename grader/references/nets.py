"""Reference multilayer perceptrons in numpy (float64), computed in the grader process only.

A network ``MLP(nin, nouts)`` is described by its shape and its parameters in the documented order,
which is micrograd's ``parameters()`` order: layer by layer, neuron by neuron, each neuron's weights
``w[0] .. w[nin-1]`` followed by its bias ``b``. The kernel reads the student's parameters in that
order (from ``model.layers[i].neurons[j].w`` and ``.b``); here they become one ``(W, b)`` pair per
layer, and forward passes, losses, gradients and gradient-descent steps are recomputed from them.
Also here: the two-moons and three-blob data sets, drawn from the grader's own random source.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Sequence

import numpy as np

ACTIVATIONS = ("tanh", "relu", "sigmoid", "linear")
Layers = list[tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Arch:
    """How a network computes: hidden and output activations, and whether biases are added."""

    hidden: str = "tanh"
    last: str = "linear"
    bias: bool = True

    def describe(self) -> str:
        out = f"{self.hidden} on the hidden layers, {self.last} output layer"
        return out if self.bias else out + ", no bias"


def sizes(nin: int, nouts: Sequence[int]) -> list[int]:
    return [nin, *nouts]


def param_count(nin: int, nouts: Sequence[int]) -> int:
    """Number of parameters: each neuron has one weight per input and one bias."""
    sz = sizes(nin, nouts)
    return sum((sz[i] + 1) * sz[i + 1] for i in range(len(nouts)))


def layer_shapes(nin: int, nouts: Sequence[int]) -> list[list[int]]:
    """Per layer, the number of weights of each neuron (what ``len(neuron.w)`` must be)."""
    sz = sizes(nin, nouts)
    return [[sz[i]] * sz[i + 1] for i in range(len(nouts))]


def param_names(nin: int, nouts: Sequence[int]) -> list[str]:
    """A name per parameter, in the documented order, for messages (layers and neurons from 0)."""
    names = []
    sz = sizes(nin, nouts)
    for i in range(len(nouts)):
        for j in range(sz[i + 1]):
            names += [f"layers[{i}].neurons[{j}].w[{k}]" for k in range(sz[i])]
            names.append(f"layers[{i}].neurons[{j}].b")
    return names


def unflatten(flat: Sequence[float] | np.ndarray, nin: int, nouts: Sequence[int]) -> Layers:
    """Parameters in the documented order as one ``(W, b)`` per layer, ``W`` of shape (nout, nin)."""
    if len(flat) != param_count(nin, nouts):
        raise ValueError(f"{len(flat)} parameters for MLP({nin}, {list(nouts)})")
    values = np.asarray(flat, dtype=np.float64)
    layers, pos, sz = [], 0, sizes(nin, nouts)
    for i in range(len(nouts)):
        block = values[pos:pos + (sz[i] + 1) * sz[i + 1]].reshape(sz[i + 1], sz[i] + 1)
        layers.append((block[:, :-1].copy(), block[:, -1].copy()))
        pos += block.size
    return layers


def flatten(layers: Layers) -> list[float]:
    """The inverse of :func:`unflatten`."""
    out: list[float] = []
    for W, b in layers:
        out += np.concatenate([W, b[:, None]], axis=1).ravel().tolist()
    return out


def _act(name: str, z: np.ndarray) -> np.ndarray:
    if name == "tanh":
        return np.asarray(np.tanh(z))
    if name == "relu":
        return np.asarray(np.maximum(z, 0.0))
    if name == "sigmoid":
        return np.asarray(1.0 / (1.0 + np.exp(-z)))
    return z


def _act_grad(name: str, z: np.ndarray, h: np.ndarray) -> np.ndarray:
    if name == "tanh":
        return np.asarray(1.0 - h * h)
    if name == "relu":
        return (z > 0).astype(np.float64)  # micrograd: zero gradient at exactly 0
    if name == "sigmoid":
        return h * (1.0 - h)
    return np.ones_like(z)


def _forward(layers: Layers, X: np.ndarray, arch: Arch) -> tuple[list[np.ndarray], list[np.ndarray]]:
    hs, zs = [X], []
    for i, (W, b) in enumerate(layers):
        z = hs[-1] @ W.T + (b if arch.bias else 0.0)
        name = arch.last if i == len(layers) - 1 else arch.hidden
        zs.append(z)
        hs.append(_act(name, z))
    return hs, zs


def forward(layers: Layers, X: Sequence[Sequence[float]], arch: Arch = Arch()) -> np.ndarray:
    """Outputs for a batch of inputs, shape (n, nouts[-1])."""
    return _forward(layers, np.asarray(X, dtype=np.float64), arch)[0][-1]


def backprop(layers: Layers, X: Sequence[Sequence[float]], dout: np.ndarray,
             arch: Arch = Arch()) -> list[float]:
    """Gradient of a loss whose derivative by the outputs is ``dout``, in the documented order."""
    hs, zs = _forward(layers, np.asarray(X, dtype=np.float64), arch)
    grads: Layers = []
    delta = np.asarray(dout, dtype=np.float64)
    for i in range(len(layers) - 1, -1, -1):
        name = arch.last if i == len(layers) - 1 else arch.hidden
        dz = delta * _act_grad(name, zs[i], hs[i + 1])
        gb = dz.sum(axis=0) if arch.bias else np.zeros(dz.shape[1])
        grads.append((dz.T @ hs[i], gb))
        delta = dz @ layers[i][0]
    return flatten(grads[::-1])


def squared_error(layers: Layers, X: Sequence[Sequence[float]], Y: Sequence[Sequence[float]],
                  arch: Arch = Arch()) -> tuple[float, list[float]]:
    """``sum((out - y)**2)`` over examples and outputs, and its gradient."""
    out = forward(layers, X, arch)
    err = out - np.asarray(Y, dtype=np.float64)
    return float(np.sum(err * err)), backprop(layers, X, 2.0 * err, arch)


def hinge(layers: Layers, X: Sequence[Sequence[float]], y: Sequence[float], alpha: float,
          arch: Arch = Arch(), *, mean: bool = True, l2: bool = True) -> tuple[float, list[float]]:
    """Max-margin loss ``mean(relu(1 - y * score)) + alpha * sum(p**2)`` and its gradient."""
    scores = forward(layers, X, arch)[:, 0]
    ys = np.asarray(y, dtype=np.float64)
    margins = 1.0 - ys * scores
    scale = 1.0 / len(ys) if mean else 1.0
    data = float(np.sum(np.maximum(margins, 0.0)) * scale)
    dscore = np.where(margins > 0, -ys * scale, 0.0)[:, None]
    grads = np.asarray(backprop(layers, X, dscore, arch))
    params = np.asarray(flatten(layers))
    if l2:
        data += alpha * float(np.sum(params * params))
        grads = grads + 2.0 * alpha * params
    return data, grads.tolist()


def gd_steps(flat: Sequence[float], nin: int, nouts: Sequence[int], X: Sequence[Sequence[float]],
             Y: Sequence[Sequence[float]], lr: float, steps: int, arch: Arch = Arch(), *,
             sign: float = -1.0, accumulate: bool = False) -> tuple[list[float], list[list[float]]]:
    """``steps`` steps of ``p.data -= lr * p.grad`` on the squared error: losses, parameters after each.

    ``sign=+1`` and ``accumulate=True`` model two classic bugs: stepping up the gradient, and never
    zeroing gradients (each step then uses the sum of every gradient so far).
    """
    params = np.asarray(flat, dtype=np.float64)
    total = np.zeros_like(params)
    losses, after = [], []
    for _ in range(steps):
        loss, grad = squared_error(unflatten(params, nin, nouts), X, Y, arch)
        total = total + np.asarray(grad) if accumulate else np.asarray(grad)
        params = params + sign * lr * total
        losses.append(loss)
        after.append(params.tolist())
    return losses, after


# ----------------------------------------------------------------------------- data sets

def moons(n: int, noise: float, rng: random.Random) -> tuple[list[list[float]], list[float]]:
    """Two interleaved half circles, half the points each; labels -1 (upper moon) and +1 (lower)."""
    X, y = [], []
    for i in range(n):
        label = -1.0 if i % 2 == 0 else 1.0
        t = rng.uniform(0.0, math.pi)
        if label < 0:
            px, py = math.cos(t), math.sin(t)
        else:
            px, py = 1.0 - math.cos(t), 0.5 - math.sin(t)
        X.append([px + rng.gauss(0.0, noise), py + rng.gauss(0.0, noise)])
        y.append(label)
    return X, y


def blobs(n: int, centers: Sequence[Sequence[float]], spread: float,
          rng: random.Random) -> tuple[list[list[float]], list[int]]:
    """Gaussian clusters around ``centers`` (one class each, in turn), standard deviation ``spread``."""
    X, y = [], []
    for i in range(n):
        label = i % len(centers)
        cx, cy = centers[label]
        X.append([cx + rng.gauss(0.0, spread), cy + rng.gauss(0.0, spread)])
        y.append(label)
    return X, y


# Hidden network shapes, in order: no hidden layer, one, two, a single input, two outputs. Fixed, so
# that a mistake that shows only on some shapes costs the same every run; only numbers are drawn.
SHAPES: tuple[tuple[int, tuple[int, ...]], ...] = (
    (2, (3, 1)), (3, (1,)), (2, (3, 2, 1)), (1, (4, 2)), (4, (2, 2)), (3, (2, 3, 1)))


def fixed_shape(k: int, max_out: int = 2) -> tuple[int, list[int]]:
    """Hidden case ``k``'s network shape ``(nin, nouts)`` (:data:`SHAPES`, outputs capped)."""
    nin, nouts = SHAPES[k % len(SHAPES)]
    return nin, list(nouts[:-1]) + [min(nouts[-1], max_out)]


def random_inputs(rng: random.Random, n: int, nin: int, low: float = -2.0,
                  high: float = 2.0) -> list[list[float]]:
    return [[round(rng.uniform(low, high), 4) for _ in range(nin)] for _ in range(n)]
