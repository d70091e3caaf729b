"""What the network checks (``mlp``, ``training``) share: a case, its label, and per-case judging.

A case is one network shape plus the data it is run on. Every probe builds a fresh network from the
student's class inside the kernel; the grader reads its parameters back (see :mod:`grader.references.nets` for
the documented order) and recomputes everything else itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ..references import nets, symbolic
from ..execution.probes import Observation, Unusable, as_vector
from ..results import PartResult
from .base import Probe, fmt, hidden_part, no_answer


@dataclass(frozen=True)
class Case:
    """``MLP(nin, nouts)`` run on inputs ``xs`` with targets ``ys`` (one row per example)."""

    nin: int
    nouts: tuple[int, ...]
    xs: tuple[tuple[float, ...], ...]
    ys: tuple[tuple[float, ...], ...]

    def __post_init__(self) -> None:
        if self.nin < 1 or not self.nouts or any(n < 1 for n in self.nouts):
            raise ValueError("nin and every entry of nouts must be positive, nouts non-empty")
        if not self.xs or any(len(x) != self.nin for x in self.xs):
            raise ValueError(f"every input must have nin = {self.nin} numbers")
        if len(self.ys) != len(self.xs) or any(len(y) != self.nouts[-1] for y in self.ys):
            raise ValueError(f"one target of {self.nouts[-1]} numbers per input is needed")

    @property
    def net(self) -> str:
        return f"MLP({self.nin}, {list(self.nouts)})"

    def describe(self) -> str:
        if len(self.xs) == 1:
            return f"{self.net} on x = {fmt(list(self.xs[0]))}, target {fmt(list(self.ys[0]))}"
        return f"{self.net} on {len(self.xs)} examples"


def case(nin: int, nouts: Sequence[int], xs: Sequence[Sequence[float]],
         ys: Sequence[Sequence[float]]) -> Case:
    return Case(nin, tuple(nouts), tuple(tuple(x) for x in xs), tuple(tuple(y) for y in ys))


def read_params(value: Any, key: str, c: Case) -> list[float]:
    """The parameters the kernel reported under ``key``, after checking the network's shape."""
    if type(value) is not dict:
        raise Unusable("the result is not a mapping")
    expected = nets.layer_shapes(c.nin, list(c.nouts))
    if value.get("shape") != expected:
        raise Unusable(f"{c.net} was built with neurons of {value.get('shape')} weights per layer, "
                       f"expected {expected} (model.layers[i].neurons[j].w holds one weight per input)")
    return as_vector(value.get(key), nets.param_count(c.nin, list(c.nouts)), "the parameters")


def first_mismatch(got: Sequence[float], expected: Sequence[float], names: Sequence[str],
                   rel_tol: float, abs_tol: float, what: str = "") -> str | None:
    """``None`` when every entry is close, else how many differ and the first one."""
    wrong = [i for i, (g, e) in enumerate(zip(got, expected))
             if not symbolic.close(g, e, rel_tol, abs_tol)]
    if not wrong:
        return None
    i = wrong[0]
    return (f"{len(wrong)} of {len(expected)} {what or 'values'} differ; for example {names[i]} "
            f"expected {fmt(expected[i])}, got {fmt(got[i])}")


def all_close(got: Sequence[float], expected: Sequence[float], rel_tol: float, abs_tol: float) -> bool:
    return len(got) == len(expected) and all(symbolic.close(g, e, rel_tol, abs_tol)
                                             for g, e in zip(got, expected))


def judge_cases(credit: dict[str, float], points: float, probes: Sequence[Probe],
                observations: Sequence[Observation], one: Callable[[Probe, Observation], str | None],
                what: str, ok_message: str) -> list[PartResult]:
    """The ``published`` part (the first probe, all or nothing) and the ``hidden`` part (the rest)."""
    results = []
    share = points * credit["published"]
    obs, probe = observations[0], probes[0]
    if not obs.ok:
        results.append(PartResult("published", 0.0, share, no_answer(obs, what), answered=False))
    else:
        try:
            problem = one(probe, obs)
        except Unusable as exc:
            problem = f"unusable answer: {exc}"
        if problem is None:
            results.append(PartResult("published", share, share, f"{probe.label}: {ok_message}"))
        else:
            results.append(PartResult("published", 0.0, share, f"{probe.label}: {problem}"))
    if "hidden" in credit:
        results.append(hidden_part("hidden", points * credit["hidden"], probes[1:], observations[1:],
                                   one, what))
    return results
