"""Parse ``assignments.yml`` once into the model (:mod:`grader.model`); every error names the key and its line.

The check kinds are given to the parser (``kinds``: each kind's ``Params`` and ``parts``), never
imported by it, so the check modules and the parser depend on the model and not on each other.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any, Mapping, Protocol

from ..model import Assignment, CheckKind, Config, Limits, Preview, Question, Visibility
from .typed_yaml import Ctx, convert, from_mapping, load_yaml, nearest


class KindSchema(Protocol):
    """What the parser needs of a check kind: the class of its params and the names of its parts."""

    @property
    def Params(self) -> type[Any]: ...

    def parts(self, params: Any) -> tuple[str, ...]: ...


Kinds = Mapping[CheckKind, KindSchema]

_PACKAGE = Path(__file__).resolve().parents[1]  # where the installed package's own config lives
_QUESTION_KEYS = ("id", "title", "points", "kind", "params", "credit", "visibility")
_ASSIGNMENT_KEYS = ("title", "notebook", "exercise", "solution", "limits", "questions")


def _question(raw: Any, ctx: Ctx, seen: set[str], kinds: Kinds) -> Question:
    if not isinstance(raw, dict):
        raise ctx.error("each question must be a mapping")
    if isinstance(raw.get("id"), str):
        ctx.label(raw["id"])
    for key in raw:
        if key not in _QUESTION_KEYS:
            raise ctx.at(key).error(f"unknown key {key!r}", suggestion=nearest(key, _QUESTION_KEYS))
    for key in ("id", "points", "kind"):
        if key not in raw:
            raise ctx.error(f"missing required key {key!r}")
    qid = convert(raw["id"], str, ctx.at("id"))
    if qid in seen:
        raise ctx.at("id").error(f"duplicate question id {qid!r}")
    seen.add(qid)
    ctx = Ctx(ctx.path, ctx.lines, ctx.trail, ctx.labels)
    points = convert(raw["points"], float, ctx.at("points"))
    if points <= 0:
        raise ctx.at("points").error("points must be positive")
    kind = convert(raw["kind"], CheckKind, ctx.at("kind"))
    check = kinds[kind]
    params = from_mapping(check.Params, raw.get("params", {}), ctx.at("params"))
    parts = check.parts(params)
    credit_raw = raw.get("credit", {parts[0]: 1.0} if len(parts) == 1 else None)
    if credit_raw is None:
        raise ctx.error(f"missing required key 'credit' (fractions for {', '.join(parts)})")
    credit = convert(credit_raw, dict[str, float], ctx.at("credit"))
    for name in credit:
        if name not in parts:
            raise ctx.at("credit", name).error(
                f"{kind.value} has no part {name!r} (its parts: {', '.join(parts)})",
                suggestion=nearest(name, parts))
    if any(v < 0 for v in credit.values()) or abs(sum(credit.values()) - 1.0) > 1e-9:
        raise ctx.at("credit").error(f"credit fractions must be >= 0 and sum to 1, got {dict(credit)}")
    vis_raw = raw.get("visibility", "visible")
    if isinstance(vis_raw, str):
        vis_one = convert(vis_raw, Visibility, ctx.at("visibility"))
        visibility = {name: vis_one for name in parts}
    else:
        given = convert(vis_raw, dict[str, Visibility], ctx.at("visibility"))
        for name in given:
            if name not in parts:
                raise ctx.at("visibility", name).error(
                    f"{kind.value} has no part {name!r}", suggestion=nearest(name, parts))
        visibility = {name: given.get(name, Visibility.VISIBLE) for name in parts}
    title = convert(raw.get("title", qid), str, ctx.at("title"))
    return Question(qid, title, points, kind, params,
                    types.MappingProxyType({p: credit.get(p, 0.0) for p in parts}),
                    types.MappingProxyType(visibility))


def _assignment(aid: str, raw: Any, ctx: Ctx, root: Path, kinds: Kinds, notebooks: bool = True) -> Assignment:
    if not isinstance(raw, dict):
        raise ctx.error("an assignment must be a mapping")
    for key in raw:
        if key not in _ASSIGNMENT_KEYS:
            raise ctx.at(key).error(f"unknown key {key!r}", suggestion=nearest(key, _ASSIGNMENT_KEYS))
    if not isinstance(raw.get("questions"), list) or not raw["questions"]:
        raise ctx.at("questions").error("an assignment needs a non-empty list of questions")
    seen: set[str] = set()
    questions = tuple(_question(q, ctx.at("questions", i), seen, kinds)
                      for i, q in enumerate(raw["questions"]))
    limits = from_mapping(Limits, raw.get("limits", {}), ctx.at("limits"))
    for name in ("cell_timeout", "probe_timeout", "submission_timeout", "startup_timeout"):
        if getattr(limits, name) <= 0:
            raise ctx.at("limits", name).error(f"{name} must be positive")

    def rel(key: str) -> Path | None:
        """The notebook ``key`` names, relative to the config's folder; it must exist (a misspelt
        path would otherwise drop it silently from the bundled examples and from recognition). The
        copy of the config installed with the package has no solutions beside it: students get it."""
        if key not in raw:
            return None
        name: str = convert(raw[key], str, ctx.at(key))
        path = root / name
        if path.is_file():
            return path
        if not notebooks or (key == "solution" and root == _PACKAGE):
            return None
        raise ctx.at(key).error(f"no such file {path} ({key!r} is relative to the folder of "
                                f"{ctx.path.name})")

    return Assignment(
        id=aid, title=convert(raw.get("title", aid), str, ctx.at("title")),
        notebook=convert(raw.get("notebook", f"{aid}.ipynb"), str, ctx.at("notebook")),
        questions=questions, limits=limits, exercise=rel("exercise"), solution=rel("solution"))


def preview(path: str | Path, assignment_id: str | None, notebook: Path) -> Preview | None:
    """One assignment's limits and every solution path, read without SymPy; None if unsure.

    Only a head start: :func:`load_config` still validates everything and has the last word.
    """
    try:
        path = Path(path).resolve()
        data, lines, _ = load_yaml(path)
        raw = data["assignments"]
        if assignment_id is None:
            names = [a for a, spec in raw.items()
                     if Path(str(spec.get("notebook", f"{a}.ipynb"))).stem.lower() in notebook.name.lower()]
            assignment_id = next(iter(raw)) if len(raw) == 1 else (names[0] if len(names) == 1 else None)
        if assignment_id not in raw:
            return None
        limits = from_mapping(Limits, raw[assignment_id].get("limits", {}), Ctx(path, lines))
        solutions = tuple(path.parent / spec["solution"] for spec in raw.values()
                          if isinstance(spec, dict) and isinstance(spec.get("solution"), str))
        return Preview(path, limits, solutions)
    except Exception:  # noqa: BLE001 -- whatever is wrong, load_config will say it properly
        return None


def parse_config(path: str | Path, kinds: Kinds, *, notebooks: bool = True) -> Config:
    """Read and validate ``assignments.yml`` for the check ``kinds``; raise :class:`ConfigError`
    naming the bad key.

    ``notebooks=False``: for what never reads the exercise and solution notebooks (the Gradescope
    build and autograder), a path to one that does not exist is left out instead of an error."""
    path = Path(path).resolve()
    data, lines, digest = load_yaml(path)
    ctx = Ctx(path, lines)
    if not isinstance(data, dict):
        raise ctx.error("the file must be a mapping with an 'assignments' key")
    for key in data:
        if key not in ("version", "assignments"):
            raise ctx.at(key).error(f"unknown key {key!r}",
                                    suggestion=nearest(key, ("version", "assignments")))
    if data.get("version", 1) != 1:
        raise ctx.at("version").error(f"unsupported version {data['version']!r} (this grader reads 1)")
    raw = data.get("assignments")
    if not isinstance(raw, dict) or not raw:
        raise ctx.at("assignments").error("expected a mapping of assignment ids to assignments")
    assignments = {aid: _assignment(aid, a, ctx.at("assignments", aid), path.parent, kinds, notebooks)
                   for aid, a in raw.items()}
    return Config(path=path, assignments=types.MappingProxyType(assignments), digest=digest)
