"""What check modules share: probes, credit arithmetic and messages a student can act on."""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ..execution.probes import Observation, ObsStatus, ProbeRequest, Unusable
from ..results import PartResult


@dataclass(frozen=True)
class Probe:
    """One question asked of the kernel: which credit part it counts for, and its inputs."""

    part: str
    label: str              # e.g. "published point (2, 3, 4)", "hidden point 2"
    request: ProbeRequest
    inputs: Any = None      # plain data the judge needs to compute the reference


def fmt(x: Any) -> str:
    """A number or list of numbers, short but precise enough to compare by eye."""
    if isinstance(x, float):
        return f"{x:.10g}"
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(fmt(v) for v in x) + "]"
    return repr(x)


def point(xs: Sequence[float]) -> str:
    return "(" + ", ".join(f"{x:.6g}" for x in xs) + ")"


def no_answer(obs: Observation, what: str) -> str:
    """Why a probe produced nothing to judge, in words a student can act on."""
    if obs.status is ObsStatus.MISSING:
        return (f"not defined: `{obs.detail}` does not exist when the notebook finishes "
                f"(did the cell that defines it run without an error?)")
    if obs.status is ObsStatus.RAISED:
        return f"raised {obs.detail} when the grader ran {what}"
    if obs.status is ObsStatus.INVALID:
        return f"unusable answer from {what}: {obs.detail}"
    if obs.status is ObsStatus.TIMEOUT:
        return f"timed out: {what} {obs.detail} (an infinite loop?)"
    if obs.status is ObsStatus.DIED:
        return f"the kernel died while running {what}"
    if obs.status is ObsStatus.NOT_RUN:
        return f"not run: {obs.detail}"
    return f"no answer from {what}: {obs.detail}"


def raised_in_graph(obs: Observation, describe: Callable[[int], str]) -> str | None:
    """Where in a probe that builds a graph the student's code raised, if the runner said."""
    if obs.recursion:
        return ("backward() exceeded Python's recursion limit: build the topological order with an "
                "explicit stack (a loop) instead of recursion")
    if obs.node is None:
        return None
    if obs.node < 0:
        return f"backward() raised {obs.detail}"
    return f"raised {obs.detail} while computing {describe(obs.node)}"


def rng_or_default(rng: random.Random | None) -> random.Random:
    return rng if rng is not None else random.SystemRandom()


def with_notes(parts: Sequence[PartResult], probes: Sequence[Probe],
               observations: Sequence[Observation]) -> list[PartResult]:
    """One note per number-like type (a `Value` where a number belongs, a `Fraction`) in a question,
    on the first part whose probes met it."""
    results = list(parts)
    if not results:
        return results
    names = [p.name for p in results]
    seen: set[str] = set()
    for probe, obs in zip(probes, observations):
        for kind, note in obs.notes:
            if kind in seen:
                continue
            seen.add(kind)
            k = names.index(probe.part) if probe.part in names else 0
            part = results[k]
            results[k] = dataclasses.replace(part, message=f"{part.message}\nnote: {note}")
    return results


def hidden_part(name: str, points: float, probes: Sequence[Probe], observations: Sequence[Observation],
                judge_one: Callable[[Probe, Observation], Any], what: str,
                explain: Callable[[Probe, Observation], str | None] | None = None) -> PartResult:
    """The share of hidden probes answered correctly earns the points.

    ``judge_one`` returns None when a probe's answer is right, else why it is wrong; or, for an
    answer with components (a gradient, a loss and its gradients), ``(share, why)``: the share of
    the components that are right, which is the probe's credit, as in the published part.
    """
    failures: list[tuple[Probe, str]] = []
    answered = 0
    earned = 0.0
    partly = 0
    for probe, obs in zip(probes, observations):
        if not obs.ok:
            failures.append((probe, (explain and explain(probe, obs)) or no_answer(obs, what)))
            continue
        answered += 1
        try:
            verdict = judge_one(probe, obs)
        except Unusable as exc:
            verdict = f"unusable answer: {exc}"
        share, problem = verdict if isinstance(verdict, tuple) else (0.0 if verdict else 1.0, verdict)
        if problem is None or share >= 1:
            earned += 1.0
            continue
        earned += max(0.0, share)
        partly += share > 0
        failures.append((probe, problem))
    total = len(probes)
    if total == 0:
        return PartResult(name, points, points, "no hidden checks declared")
    score = points * earned / total
    if not failures:
        message = f"all {total} hidden checks passed"
    else:
        part = (f" ({'all' if partly == len(failures) else partly} in part: a check earns the share of its "
                f"numbers that are right)" if partly else "")
        probe, why = failures[0]
        message = (f"{len(failures)} of {total} hidden checks failed{part}; "
                   f"for example {probe.label}: {why}")
    return PartResult(name, score, points, message, answered=answered > 0)
