"""A model the notebook trained, on held-out points the grader draws after the notebook ran.

The grader draws fresh points from the declared distribution (two moons, or Gaussian blobs around
declared centres), asks the notebook's model for its output on each (plain numbers only), and
computes the accuracy itself: the sign of a single score for two classes (labels -1 and +1), the
largest of several scores otherwise. Full points at or above the declared threshold, none below.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from typing import Sequence

from ..references import nets
from ..model import Question
from ..execution.probes import Observation, ProbeRequest, Unusable, as_vector
from ..results import PartResult
from .base import Probe, no_answer


class Dataset(str, enum.Enum):
    MOONS = "moons"
    BLOBS = "blobs"


@dataclass(frozen=True)
class Params:
    """The notebook's model variable, the distribution of held-out points and the threshold."""

    model: str
    dataset: Dataset
    threshold: float
    points: int = 200
    noise: float = 0.1                                   # moons
    centers: tuple[tuple[float, float], ...] = ()        # blobs: one centre per class
    spread: float = 0.5                                  # blobs

    def __post_init__(self) -> None:
        if not 0 < self.threshold <= 1 or not 10 <= self.points <= 2000:
            raise ValueError("need 0 < threshold <= 1 and 10 <= points <= 2000")
        if self.dataset is Dataset.BLOBS and len(self.centers) < 2:
            raise ValueError("blobs need at least two centers")


def parts(params: Params) -> tuple[str, ...]:
    return ("held_out",)


def _draw(params: Params, rng: random.Random) -> tuple[list[list[float]], list[float] | list[int]]:
    if params.dataset is Dataset.MOONS:
        return nets.moons(params.points, params.noise, rng)
    return nets.blobs(params.points, params.centers, params.spread, rng)


def plan(params: Params, rng: random.Random) -> list[Probe]:
    X, y = _draw(params, rng)
    X = [[round(v, 6) for v in x] for x in X]
    return [Probe("held_out", f"{params.points} held-out points",
                  ProbeRequest("predict", (params.model, X)), y)]


def _predicted(params: Params, outputs: object, n: int) -> list[float]:
    if type(outputs) is not list or len(outputs) != n:
        raise Unusable(f"expected one output per point ({n})")
    width = 1 if params.dataset is Dataset.MOONS else len(params.centers)
    rows = [as_vector(o, width, f"the output for point {i}") for i, o in enumerate(outputs)]
    if width == 1:
        return [1.0 if r[0] > 0 else -1.0 for r in rows]
    return [float(max(range(width), key=r.__getitem__)) for r in rows]


def judge(question: Question, probes: Sequence[Probe], observations: Sequence[Observation]) -> list[PartResult]:
    params: Params = question.params
    probe, obs = probes[0], observations[0]
    what = f"`{params.model}` on held-out points"
    if not obs.ok:
        return [PartResult("held_out", 0.0, question.points, no_answer(obs, what), answered=False)]
    try:
        predicted = _predicted(params, obs.value, len(probe.inputs))
    except Unusable as exc:
        return [PartResult("held_out", 0.0, question.points, f"unusable answer from {what}: {exc}")]
    accuracy = sum(p == float(t) for p, t in zip(predicted, probe.inputs)) / len(predicted)
    message = (f"accuracy {accuracy:.1%} on {len(predicted)} held-out {params.dataset.value} points "
               f"the grader drew (at least {params.threshold:.0%} needed)")
    score = question.points if accuracy >= params.threshold else 0.0
    return [PartResult("held_out", score, question.points, message)]


__all__ = ["Dataset", "Params", "judge", "parts", "plan"]
