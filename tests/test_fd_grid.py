"""The quick paths of the finite-difference step recovery (``grader.checks.fd_steps``) decide
nothing the exact tests would decide otherwise: the float pre-test before the exact grid test, and
the per-answer memo of each step's evidence."""

from __future__ import annotations

import math
import random
from fractions import Fraction

from conftest import ROOT

from grader.checks import fd_steps as S
from grader.checks import finite_difference as FD
from grader.config import load_config


def exact_on_grid(g: float, divisor: float, u: float) -> bool:
    """The exact test of ``_on_grid`` for one spacing ``u``."""
    k = Fraction(g) * Fraction(divisor) / Fraction(u)
    return abs(k - round(k)) <= 4 * abs(k) * Fraction(S.EPS) + Fraction(1, 10 ** 12)


def test_the_float_pretest_never_refuses_what_the_exact_grid_test_accepts():
    rng = random.Random(20)
    accepted = 0
    for _ in range(20_000):
        divisor = rng.choice([10.0 ** -rng.randrange(1, 14), 2 * 10.0 ** -rng.randrange(1, 14),
                              2.0 ** -rng.randrange(1, 40), 5e-7 / 2, math.sqrt(S.EPS)])
        u = 2.0 ** rng.randrange(-60, 8)
        k = rng.choice([rng.randrange(1, 2 ** rng.randrange(1, 53)), rng.uniform(1, 1e6)])
        g = k * u / divisor * rng.choice([1, -1])
        # at, just inside and just outside the exact tolerance, in both directions
        g *= 1 + rng.choice([0.0, 1, -1, 3.9, -3.9, 4.1, 6, 8, 1e3]) * S.EPS
        g = rng.choice([g, math.nextafter(g, 0), math.nextafter(g, math.inf)])
        if exact_on_grid(g, divisor, u):
            accepted += 1
            assert S._near_whole(g * divisor / u), (g, divisor, u)
    assert accepted > 5_000  # the cases above mostly sit on a grid: the assertion was exercised


def test_memoised_judging_finds_what_judging_each_step_afresh_finds():
    cfg = load_config(ROOT / "assignments.yml")
    questions = [q for q in cfg.assignments["micrograd"].questions if q.kind.value == "finite_difference"]
    assert questions
    rng = random.Random(4)
    for q in questions:
        p = q.params
        comps = FD.components(p.expression, p.variables, p.point)
        steps = FD._steps(p)
        answers = [[c.exact for c in comps]]
        for scheme in S.SCHEMES:
            for h in (1e-6, 1e-10, 2.0 ** -20):
                answers.append([c.estimate(h, scheme) for c in comps])
        answers += [[a * (1 + rng.choice([1e-12, 1e-6, -2e-16])) for a in rng.choice(answers)]
                    for _ in range(3)]
        for got in rng.sample(answers, 4):
            inside = [s[0] for s in steps]
            signed = S._signed_steps(got, comps, inside, p.h)
            assert signed == S._signed_steps(got, comps, inside, p.h, {})
            memo: S.Memo = {}
            for i, (g, c) in enumerate(zip(got, comps)):
                fresh = S.classify(g, c, p.scheme.value, *steps[i], (p.h,), signed)
                kept = S.classify(g, c, p.scheme.value, *steps[i], (p.h,), signed, memo)
                again = S.classify(g, c, p.scheme.value, *steps[i], (p.h,), signed, memo)
                assert fresh == kept == again
            assert memo  # the memo was used
