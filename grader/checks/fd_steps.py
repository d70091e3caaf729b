"""What a finite-difference answer really is: the scheme and the step that reproduce the numbers.

The grader cannot see the student's code, only the numbers. So for every plausible step ``h`` (the
usual decimal steps 1e-12 ... 1e-2 in every way a student writes them: ``1e-6``, ``10**-6``,
``0.1**6``, ``5e-4`` as ``1e-3/2``, powers of two, ``sqrt(eps)``, steps relative to the input) it
recomputes the scheme here, in float64, exactly as a notebook computes it:
``(f(x+h) - f(x)) / h`` or ``(f(x+h) - f(x-h)) / (2*h)``, with ``f`` evaluated operation for
operation as the notebook's own ``f``. A number *reproduces* a scheme at step ``h`` when

1. it is the recomputed value bit for bit (within 3 units in the last place, for ``/2/h`` versus
   ``/(2*h)`` and the like), or
2. it lies on the difference-quotient grid of that step (``g * h`` is a whole multiple of the
   spacing of floats near ``f(x)``, as every ``(f1 - f0) / h`` is, however ``f`` was written) and
   within the round-off of evaluating ``f`` another way (``8 eps |terms of f| / h``) of the
   recomputed value -- or the same for only the terms of ``f`` that depend on the variable, their
   grid and their round-off (a student who differentiates term by term), or
3. (a *signature*) it is the scheme at step ``h`` computed another way -- term by term, on only
   the terms of ``f`` that depend on the variable, so with less round-off than ``f`` as a whole --
   to within that computation's round-off, and its distance from the exact derivative is the
   scheme's truncation error at ``h`` (``h f''/2`` forward, ``h^2 f'''/6`` central, with the
   sign), at least ``SEPARATION`` times that round-off: a typed-in exact or rounded derivative has
   no such signature. It counts only at a step the answer shows twice (two components are the
   scheme at that step by rules 1 to 3) or at the published step, where ``CONFIRMING`` times is
   enough (``findings``).
Where the two are indistinguishable -- tiny steps, where round-off swamps truncation -- rules 1 and
2 still separate them: the exact derivative (typed in, or computed symbolically) is not on any
step's grid except by a coincidence of about one in a million, and a number pasted with few digits
is neither. At a power-of-two step the grid is a binary one, and the exact derivative rounded to a binary grid
(``round(d * 2**20) / 2**20``) lies on it: a number no farther from the exact derivative than its
own lowest binary digit (``rounded_exact``) evidences no step by rules 1 and 2 -- it counts only bit
for bit at a step the published one or the answer's other components show. A genuine estimate is
that close only where round-off dominates (where it *is* the exact derivative snapped to the grid:
``2**-20`` for a forward difference here is far from it, by its truncation error; a central one at
``2**-20`` is not, and needs a component off the rounding to show its step).
What the rules cannot tell apart, and accept: a printed finite difference pasted back
with all its digits (it *is* one), and, at steps below about 1e-7 where round-off dominates, a
forward difference of a differently written ``f`` from a central one (the question's scheme wins).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Collection, Dict, Mapping, Optional, Sequence, Tuple

EPS = 2.0 ** -52
SEPARATION = 16  # a signature's truncation error exceeds its round-off this many times to set a step
CONFIRMING = 4   # ... and this many times to confirm a step the answer's other components set
EXACT = ("bits",)  # how a match reproduces the very computation (a grid is shared by many)
SCHEMES = ("forward", "central", "backward", "central_no_half")
FORMULA = {
    "forward": "(f(x+h) - f(x)) / h",
    "central": "(f(x+h) - f(x-h)) / (2h)",
    "backward": "(f(x) - f(x-h)) / h",
    "central_no_half": "(f(x+h) - f(x-h)) / h",
}


@dataclass(frozen=True)
class Step:
    value: float
    nice: bool  # 1, 2 or 5 times a power of ten, or half of one: the steps students pick
    level: int = 3  # 0: 10^-k, 1: 2 or 5 x 10^-k, 2: other decimal steps and halves, 3: the rest


@dataclass(frozen=True)
class Component:
    """One partial derivative at the published point, and what the grader needs to judge it."""

    fn: Callable[..., float]
    point: tuple[float, ...]
    index: int
    exact: float
    curvature: float    # second partial derivative
    scale: float        # sum of |terms| of f at the point: what round-off in f is relative to
    exact_scale: float  # sum of |terms| of the partial derivative: round-off of an exact formula
    partial: Callable[..., float] | None = None  # the terms of f that depend on this variable
    partial_scale: float = 0.0                    # sum of their |values| at the point
    # estimates already computed, by (step, scheme, function): judging asks for each many times
    _known: dict[tuple[float, str, object], float] = field(default_factory=dict, compare=False,
                                                           hash=False, repr=False)

    def estimate(self, h: float, scheme: str, fn: Callable[..., float] | None = None) -> float:
        """The scheme at step ``h``, computed exactly as a notebook computes it (on ``fn``, the
        notebook's ``f`` unless given)."""
        key = (h, scheme, fn)
        known = self._known.get(key)
        if known is None:
            known = self._known[key] = self._estimate(h, scheme, fn)
        return known

    def _estimate(self, h: float, scheme: str, fn: Callable[..., float] | None) -> float:
        f = fn or self.fn
        x = list(self.point)

        def at(d: float) -> float:
            y = list(x)
            y[self.index] = x[self.index] + d
            return f(*y)

        try:
            if scheme == "forward":
                return (at(h) - f(*x)) / h
            if scheme == "central":
                return (at(h) - at(-h)) / (2 * h)
            if scheme == "backward":
                return (f(*x) - at(-h)) / h
            if scheme == "central_no_half":
                return (at(h) - at(-h)) / h
        except (ValueError, ZeroDivisionError, OverflowError):
            return math.nan
        raise ValueError(f"unknown scheme {scheme!r}")

    def divisor(self, h: float, scheme: str) -> float:
        return 2 * h if scheme == "central" else h

    def values(self, h: float, scheme: str, fn: Callable[..., float] | None = None) -> tuple[float, float]:
        """The two f values (``fn`` values) whose difference the scheme divides."""
        f = fn or self.fn
        x = list(self.point)
        hi, lo = list(x), list(x)
        hi[self.index] = x[self.index] + (h if scheme != "backward" else 0.0)
        lo[self.index] = x[self.index] - (0.0 if scheme == "forward" else h)
        return f(*hi), f(*lo)

    def roundoff(self, h: float, scheme: str) -> float:
        """How far a correct estimate may be from ours when ``f`` or ``x + h`` is rounded otherwise."""
        x = abs(self.point[self.index]) + h
        return (8 * EPS * self.scale + 2 * abs(self.exact) * math.ulp(x)) / self.divisor(h, scheme)

    def partial_roundoff(self, h: float, scheme: str) -> float:
        """``roundoff`` when only the terms that depend on the variable are evaluated."""
        x = abs(self.point[self.index]) + h
        return (4 * EPS * self.partial_scale + abs(self.exact) * math.ulp(x)) / self.divisor(h, scheme)

    def truncation(self, h: float) -> float:
        """The forward difference's leading truncation error at step ``h``."""
        return h * abs(self.curvature) / 2


def candidate_steps(x: float, low: float, high: float, suggested: float) -> list[Step]:
    """Every plausible step between ``low`` and ``high``, as the floats students' code produces."""
    found: dict[float, int] = {}

    def add(v: float, level: int) -> None:
        if low * (1 - 1e-9) <= v <= high * (1 + 1e-9):
            found[v] = min(found.get(v, 3), level)

    add(suggested, 0)
    for k in range(0, 17):
        for m in range(1, 10):
            level = 0 if m == 1 else 1 if m in (2, 5) else 2
            base = float(f"{m}e-{k}")
            for v in (base, m * 10.0 ** -k, m * 0.1 ** k, m / 10 ** k, m * (1 / 10 ** k)):
                add(v, level)
                add(v / 2, 2 if level < 2 else 3)  # a central step written as h/2 on either side
            add(base * max(1.0, abs(x)), 3)
            add(base * abs(x), 3)  # a step relative to the input
    for j in range(1, 31):  # 2**-20 is written; 2**-40 is not
        add(2.0 ** -j, 3)
    for r in (math.sqrt(EPS), EPS ** (1 / 3)):  # the textbook optimal steps
        add(r, 3)
        add(r * max(1.0, abs(x)), 3)
    return [Step(v, level < 3, level) for v, level in sorted(found.items())]


def _on_grid(g: float, c: Component, h: float, scheme: str, fn: Callable[..., float] | None = None) -> bool:
    """Whether ``g`` is (f1 - f0) / divisor for two floats f1, f0 near the recomputed ones."""
    f1, f0 = c.values(h, scheme, fn)
    if not (math.isfinite(f1) and math.isfinite(f0)) or f1 == 0 or f0 == 0:
        return False
    if not (f0 / 2 <= f1 <= 2 * f0 if f0 > 0 else 2 * f0 <= f1 <= f0 / 2):
        return False  # the difference itself was rounded: no grid to test
    spacings = {min(math.ulp(f1), math.ulp(f0))}
    for f in (f1, f0):  # near a power of two another f may land in the binade below
        if abs(abs(f) - 2.0 ** math.floor(math.log2(abs(f)))) <= 8 * math.ulp(f):
            spacings.add(math.ulp(f) / 2)
    divisor = c.divisor(h, scheme)
    d = Fraction(divisor)
    for u in spacings:
        if abs(g * divisor) > 2.0 ** -1000 and not _near_whole(g * divisor / u):
            continue  # far from every grid point: the exact test below cannot pass
        k = Fraction(g) * d / Fraction(u)
        if abs(k - round(k)) <= 4 * abs(k) * Fraction(EPS) + Fraction(1, 10 ** 12):
            return True
    return False


def _near_whole(k: float) -> bool:
    """A quick necessary condition for the exact test in ``_on_grid``: ``k``, computed in float
    (one rounding of ``g * divisor``, relative error under ``EPS``; division by a power of two is
    exact), within ``6 |k| EPS`` of a whole number (the exact test allows ``4 |k| EPS``). Only then
    is the exact, slow test worth running: most steps' grids are nowhere near a number."""
    if not math.isfinite(k) or abs(k) >= 2.0 ** 52:
        return True  # no quick answer: let the exact test decide
    return abs(k - round(k)) <= 6 * abs(k) * EPS + 1e-11


def _partial_grid(g: float, c: Component, h: float, scheme: str) -> bool:
    """Rule 2 for the scheme computed on the terms that depend on the variable alone."""
    r = c.estimate(h, scheme, c.partial)
    return (math.isfinite(r) and abs(g - r) <= c.partial_roundoff(h, scheme) + 4 * math.ulp(g)
            and _on_grid(g, c, h, scheme, c.partial))


def signature(g: float, c: Component, h: float, scheme: str, separation: float = SEPARATION) -> bool:
    """Rule 3: ``g`` is ``scheme`` at step ``h`` computed another way, told apart from the exact
    derivative by its truncation error (the distance from the exact derivative of the scheme
    computed on the terms that depend on the variable, the most precise recomputation here)."""
    r = c.estimate(h, scheme, c.partial)
    if not math.isfinite(r):
        return False
    truncation = abs(r - c.exact)
    for tol in (c.partial_roundoff(h, scheme) if c.partial else c.roundoff(h, scheme), c.roundoff(h, scheme)):
        tol += 2 * math.ulp(g)
        if truncation >= separation * tol and abs(g - r) <= tol:
            return True
    return False


@dataclass(frozen=True)
class Match:
    """A scheme and step that reproduce a number, and how closely."""

    scheme: str
    step: float
    how: str  # "bits": recomputed bit for bit; "grid": a difference quotient within round-off;
    #           "terms": the same on the terms that depend on the variable (a finer grid);
    #           "signature": computed another way, with the scheme's truncation error (rule 3)
    level: int = 3  # how usual the step is (Step.level)


Evidence = Optional[Tuple[float, Optional[str], int]]
# one judging's evidence, by (g, id of the component, scheme, step): see ``evidence``
Memo = Dict[Tuple[float, int, str, float], Evidence]


def evidence(g: float, c: Component, scheme: str, h: float,
             memo: Memo | None = None) -> Evidence:
    """How ``scheme`` at step ``h`` reproduces ``g``: its gap from the recomputed value, the rule
    (1 or 2: "bits", "terms", "grid"; None) and, failing those, the signature's strength (rule 3:
    2 at ``SEPARATION``, 1 at ``CONFIRMING`` only, 0 none). None: the scheme is not finite at ``h``.
    Judging one answer asks this of every step many times; ``memo`` keeps what it found."""
    key = (g, id(c), scheme, h)
    if memo is not None and key in memo:
        return memo[key]
    r = c.estimate(h, scheme)
    found: Evidence = None
    if math.isfinite(r):
        gap = abs(g - r)
        how, strength = None, 0
        # every rule needs g within a round-off of one of the two recomputations: most steps are far
        slack = max(c.roundoff(h, scheme), c.partial_roundoff(h, scheme) if c.partial else 0.0) + 4 * math.ulp(g)
        partial = c.estimate(h, scheme, c.partial) if c.partial else r
        if gap > slack + 3 * math.ulp(r) and not abs(g - partial) <= slack:
            pass
        elif gap <= 3 * math.ulp(r):
            how = "bits"
        elif c.partial and _partial_grid(g, c, h, scheme):
            how = "terms"
        elif gap <= c.roundoff(h, scheme) + 4 * math.ulp(g) and _on_grid(g, c, h, scheme):
            how = "grid"
        elif signature(g, c, h, scheme, CONFIRMING):
            strength = 2 if signature(g, c, h, scheme) else 1
        found = (gap, how, strength)
    if memo is not None:
        memo[key] = found
    return found


def reproduce(g: float, c: Component, scheme: str, steps: Sequence[Step],
              prefer: Sequence[float] = (), signed: Collection[float] | None = (),
              memo: Memo | None = None) -> list[Match]:
    """Every step at which ``scheme`` reproduces ``g`` (rules 1 and 2 above, and rule 3: at the
    ``signed`` steps with ``CONFIRMING`` separation; None: at every step with ``SEPARATION``),
    best first.

    Best: bit for bit before grid before signature, then the ``prefer``red steps (the published one), then the usual
    10^-k, then 2 and 5 x 10^-k, then the smallest gap.
    """
    found = []
    rounded = rounded_exact(g, c)
    for step in steps:
        h = step.value
        seen = evidence(g, c, scheme, h, memo)
        if seen is None:
            continue
        gap, how, strength = seen
        if how is not None:
            rank = 0 if how == "bits" else 1
        elif signed is None and strength == 2 or signed is not None and strength and h in signed:
            how, rank = "signature", 2
        else:
            continue
        if rounded and not (how in EXACT and h in prefer):
            continue  # the exact derivative rounded to a binary grid: no evidence of this step
        found.append(((rank, h not in prefer, step.level, gap), Match(scheme, h, how, step.level)))
    return [m for _, m in sorted(found, key=lambda t: t[0])]


def rounded_exact(g: float, c: Component) -> bool:
    """``g`` is the exact derivative rounded to a binary grid: no farther from it than ``g``'s own
    lowest binary digit (plus the round-off of a formula for it), as ``round(d * 2**20) / 2**20``
    or ``int(d * 1024) / 1024`` is. Such a number lies on the grid of every power-of-two step fine
    enough, so it evidences no step; a genuine estimate is that close only by a coincidence of
    about one in 2**k for a k-bit coarser grid (or, where round-off dominates, when its round-off
    happens to vanish: then the step the other components show vouches for it)."""
    if g == 0 or not math.isfinite(g):
        return False
    q = Fraction(g)
    lowest = float(Fraction(q.numerator & -q.numerator, q.denominator))
    return abs(g - c.exact) < abs(lowest) + 16 * EPS * c.exact_scale + 2 * math.ulp(c.exact)


def is_exact(g: float, c: Component) -> bool:
    """``g`` is the exact derivative to the round-off of evaluating a formula for it."""
    return abs(g - c.exact) <= 16 * EPS * c.exact_scale + 2 * math.ulp(c.exact)


@dataclass(frozen=True)
class Finding:
    """What one component is: ``kind`` is "estimate" (the asked scheme), "scheme" (another one),
    "exact", "range" (a scheme at a step outside the plausible range) or "unknown"; ``matches``
    are the steps that reproduce it, best first."""

    kind: str
    matches: tuple[Match, ...] = ()

    @property
    def match(self) -> Match | None:
        return self.matches[0] if self.matches else None


def classify(g: float, c: Component, asked: str, steps: Sequence[Step], outside: Sequence[Step],
             trusted: Sequence[float], signed: Mapping[str, Collection[float]] | None = None,
             memo: Memo | None = None) -> Finding:
    """What ``g`` is. The asked scheme wins when it reproduces ``g`` at least as well as another,
    or at a step the answer shows elsewhere (``signed``) when the other does not, or only at a step
    where round-off dominates (there one bit-for-bit match is a coincidence of a coarse grid; a
    step shared by every component is judged by ``findings``).

    A number equal to the exact derivative (to the round-off of evaluating a formula for it) is the
    exact derivative, even when some odd step's grid happens to pass through it (``0.0625`` at
    ``h = 2**-39``), unless the asked scheme reproduces it bit for bit at a ``trusted`` step: the
    published one, or one the answer's other components were computed with.
    """
    if not math.isfinite(g):
        return Finding("unknown")
    schemes = [asked] + [s for s in SCHEMES if s != asked]
    found = {s: reproduce(g, c, s, steps, trusted, (signed or {}).get(s, ()), memo) for s in schemes}
    rank = {"bits": 0, "terms": 1, "grid": 1, "signature": 2}
    best = min((m[0] for m in found.values() if m), key=lambda m: rank[m.how], default=None)
    mine = found[asked]
    if is_exact(g, c):
        vouched = tuple(m for m in mine if m.how in EXACT and m.step in trusted)
        return Finding("estimate", vouched) if vouched else Finding("exact")
    if best is not None:
        shared = signed or {}

        def consistent(scheme: str) -> bool:  # at a step the answer's other components show
            return any(m.step in shared.get(scheme, ()) for m in found[scheme])

        if mine and (rank[mine[0].how] <= rank[best.how]
                     or consistent(asked) and (not consistent(best.scheme) or rounding_dominates(c, best.step))):
            return Finding("estimate", tuple(mine))
        return Finding("scheme", tuple(found[best.scheme]))
    for s in schemes if g != 0 else ():  # f(x + 1e-16) == f(x): zero says nothing about a step
        far = reproduce(g, c, s, outside, trusted, memo=memo)
        if far:
            return Finding("range", tuple(far))
    return Finding("unknown")


def rounding_dominates(c: Component, h: float) -> bool:
    """At step ``h``, is the forward difference's truncation error under four times its typical
    round-off? Only where it is not can a scheme be judged "more accurate" than another."""
    typical = (EPS * c.scale + abs(c.exact) * math.ulp(abs(c.point[c.index]) + h) / 2) / h
    return c.truncation(h) < 4 * typical


def _signed_steps(got: Sequence[float], comps: Sequence[Component], steps: Sequence[Sequence[Step]],
                  published: float, memo: Memo | None = None) -> dict[str, set[float]]:
    """Per scheme, the steps at which a signature (rule 3) counts: the published one, and those
    at which at least two components are that scheme (by rules 1 and 2, or a clear signature)."""
    out = {}
    for s in SCHEMES:
        seen: dict[float, int] = {}
        for g, c, inside in zip(got, comps, steps):
            if math.isfinite(g):
                for h in {m.step for m in reproduce(g, c, s, inside, signed=None, memo=memo)}:
                    seen[h] = seen.get(h, 0) + 1
        out[s] = {h for h, n in seen.items() if n >= 2} | {published}
    return out


def _common_bits(got: Sequence[float], comps: Sequence[Component], steps: Sequence[Sequence[Step]],
                 scheme: str, usual: bool = False, memo: Memo | None = None) -> list[float]:
    """The steps at which ``scheme`` reproduces every component bit for bit (``usual``: only
    10^-k, 2 and 5 x 10^-k, the steps students type)."""
    common: set[float] | None = None
    for g, c, inside in zip(got, comps, steps):
        hs = {m.step for m in reproduce(g, c, scheme, inside, memo=memo)
              if m.how in EXACT and (m.level <= 1 or not usual)} if math.isfinite(g) else set()
        common = hs if common is None else common & hs
        if not common:
            return []
    return sorted(common or ())


def findings(got: Sequence[float], comps: Sequence[Component], asked: str,
             steps: Sequence[tuple[Sequence[Step], Sequence[Step]]], published: float) -> list[Finding]:
    """What every component of an answer is, judged together.

    A step the other components were computed with is trusted (an exact-looking component computed
    at it bit for bit is an estimate); a signature counts only at a step the answer shows twice. When
    another scheme reproduces every component bit for bit at one common step and the asked scheme
    does so at no common step, the other scheme is what was computed: at tiny steps round-off puts
    any difference quotient on some step's grid, and differing steps are weaker evidence than one.
    """
    inside = [s[0] for s in steps]
    memo: Memo = {}
    signed = _signed_steps(got, comps, inside, published, memo)
    trusted: tuple[float, ...] = (published,)
    found = [classify(g, c, asked, *steps[i], trusted, signed, memo) for i, (g, c) in enumerate(zip(got, comps))]
    used = tuple(m.step for f in found if f.kind == "estimate" for m in f.matches if m.how in EXACT)
    if used:
        found = [classify(g, c, asked, *steps[i], trusted + used, signed, memo)
                 if f.kind == "exact" or f.kind != "estimate" and rounded_exact(g, c) else f
                 for i, (g, c, f) in enumerate(zip(got, comps, found))]
    if len(got) < 2 or _common_bits(got, comps, inside, asked, memo=memo):
        return found
    for other in SCHEMES:
        if other == asked:
            continue
        common = _common_bits(got, comps, inside, other, usual=True, memo=memo)
        if common:
            return [Finding("scheme", tuple(m for m in reproduce(g, c, other, inside[i], memo=memo)
                                            if m.how in EXACT and m.step in common))
                    for i, (g, c) in enumerate(zip(got, comps))]
    return found
