"""Parse ``assignments.yml`` once into frozen, typed objects; every error names the key and its line."""

from __future__ import annotations

import collections.abc
import dataclasses
import difflib
import enum
import hashlib
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml

from .errors import ConfigError
from .results import Visibility


class CheckKind(str, enum.Enum):
    """The check kinds the grader knows; each has a module in ``grader/checks/``."""

    ANALYTIC_GRADIENT = "analytic_gradient"
    FINITE_DIFFERENCE = "finite_difference"
    SOFTMAX_NLL = "softmax_nll"
    MLP = "mlp"
    TRAINING = "training"
    ACCURACY = "accuracy"
    PROBABILITY = "probability"
    AUTOGRAD = "autograd"
    VALUE_EXAMPLE = "value_example"
    DEEP_CHAIN = "deep_chain"


@dataclass(frozen=True)
class Limits:
    """Time, memory and output budgets for one submission (seconds, MiB, bytes)."""

    cell_timeout: float = 30.0
    probe_timeout: float = 10.0
    submission_timeout: float = 300.0
    startup_timeout: float = 60.0
    memory_mb: int = 2048
    cpu_seconds: int = 600
    file_size_mb: int = 64
    max_processes: int = 256
    disk_mb: int = 256   # each of the kernel's working folder, /tmp and /dev/shm (bubblewrap)
    output_bytes_per_cell: int = 1_000_000
    output_bytes_total: int = 5_000_000


@dataclass(frozen=True)
class Question:
    """One graded question: its points, check kind, check parameters and credit split."""

    id: str
    title: str
    points: float
    kind: CheckKind
    params: Any
    credit: Mapping[str, float]
    visibility: Mapping[str, Visibility]


@dataclass(frozen=True)
class Assignment:
    """One assignment: the notebook students submit and the questions graded in it."""

    id: str
    title: str
    notebook: str
    questions: tuple[Question, ...]
    limits: Limits
    exercise: Path | None = None
    solution: Path | None = None

    @property
    def max_score(self) -> float:
        return sum(q.points for q in self.questions)


@dataclass(frozen=True)
class Config:
    """Every assignment in one ``assignments.yml``, and where that file is."""

    path: Path
    assignments: Mapping[str, Assignment]
    digest: str

    def get(self, assignment_id: str | None) -> Assignment:
        """The named assignment, or the only one when no name is given."""
        if assignment_id is None:
            if len(self.assignments) == 1:
                return next(iter(self.assignments.values()))
            raise ConfigError(f"several assignments in {self.path}; choose one with --assignment "
                              f"({', '.join(self.assignments)})")
        try:
            return self.assignments[assignment_id]
        except KeyError:
            raise ConfigError(f"no assignment {assignment_id!r} in {self.path}",
                              suggestion=_nearest(assignment_id, self.assignments)) from None


# --------------------------------------------------------------------------- YAML with line numbers

class _Ctx:
    """Where we are in the file, so that errors can say which key on which line."""

    def __init__(self, path: Path, lines: dict[tuple[Any, ...], int], trail: tuple[Any, ...] = (),
                 labels: dict[tuple[Any, ...], str] | None = None):
        self.path, self.lines, self.trail = path, lines, trail
        self.labels = labels if labels is not None else {}  # a list item's name (a question's id)

    def at(self, *keys: Any) -> _Ctx:
        return _Ctx(self.path, self.lines, self.trail + keys, self.labels)

    def label(self, name: str) -> None:
        """Name this list item in messages by ``name`` (its id) rather than by its position."""
        self.labels[self.trail] = name

    @property
    def line(self) -> int | None:
        trail = self.trail
        while trail and trail not in self.lines:
            trail = trail[:-1]
        return self.lines.get(trail)

    @property
    def name(self) -> str:
        out = ""
        for i, key in enumerate(self.trail):
            label = self.labels.get(self.trail[:i + 1])
            out += f"[{label or key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
        return out or "<top>"

    def error(self, message: str, suggestion: str | None = None) -> ConfigError:
        return ConfigError(f"{self.name}: {message}", key=self.name, line=self.line,
                           suggestion=suggestion, path=str(self.path))


def _plain(node: yaml.Node, trail: tuple[Any, ...], lines: dict[tuple[Any, ...], int],
           path: Path) -> Any:
    lines[trail] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise ConfigError("merge keys (<<) are not supported; repeat the keys or use an "
                                  "anchor for a whole value", line=key_node.start_mark.line + 1,
                                  path=str(path))
            key = _plain(key_node, trail, {}, path)
            if not isinstance(key, str):
                raise ConfigError(f"keys must be strings, got {key!r}", line=key_node.start_mark.line + 1,
                                  path=str(path))
            if key in out:
                raise ConfigError(f"duplicate key {key!r}", key=key, line=key_node.start_mark.line + 1,
                                  path=str(path))
            out[key] = _plain(value_node, trail + (key,), lines, path)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_plain(item, trail + (i,), lines, path) for i, item in enumerate(node.value)]
    try:
        return yaml.SafeLoader(" ").construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        raise ConfigError(f"cannot read value: {exc}", line=node.start_mark.line + 1,
                          path=str(path)) from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's complaint in an instructor's words (a tab, an unclosed bracket or quote)."""
    problem, context = str(getattr(exc, "problem", None) or exc), str(getattr(exc, "context", "") or "")
    if "'\\t'" in problem:
        return "a tab character: indent with spaces only"
    for kind, opener, closer in (("flow sequence", "[", "]"), ("flow mapping", "{", "}")):
        if kind in context:
            return f"a {opener!r} that is never closed (a {closer!r} or a ',' is missing)"
    if "quoted scalar" in context:
        return "a quote that is never closed"
    return problem


def _load_yaml(path: Path) -> tuple[Any, dict[tuple[Any, ...], int], str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"not valid YAML: {_yaml_problem(exc)}",
                          line=mark.line + 1 if mark else None, path=str(path)) from None
    lines: dict[tuple[Any, ...], int] = {}
    data = _plain(node, (), lines, path) if node is not None else None
    return data, lines, hashlib.sha256(text.encode()).hexdigest()


def _nearest(word: str, choices: typing.Iterable[str]) -> str | None:
    found = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


# --------------------------------------------------------------------------- typed conversion

def _convert(value: Any, hint: Any, ctx: _Ctx) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(value, inner[0], ctx)
    if hint is Any:
        return value
    if hint is float:
        if type(value) in (int, float):
            return float(value)
        raise ctx.error(f"expected a number, got {value!r}")
    if hint is int:
        if type(value) is int:
            return value
        raise ctx.error(f"expected an integer, got {value!r}")
    if hint is bool:
        if type(value) is bool:
            return value
        raise ctx.error(f"expected true or false, got {value!r}")
    if hint is str:
        if isinstance(value, str) and value.strip():
            return value
        raise ctx.error(f"expected a non-empty string, got {value!r}")
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except ValueError:
            valid = [m.value for m in hint]
            raise ctx.error(f"{value!r} is not one of {', '.join(valid)}",
                            suggestion=_nearest(str(value), valid)) from None
    if origin is tuple:
        if not isinstance(value, list):
            raise ctx.error(f"expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], ctx.at(i)) for i, v in enumerate(value))
        if len(value) != len(args):
            raise ctx.error(f"expected a list of {len(args)} items, got {len(value)}")
        return tuple(_convert(v, a, ctx.at(i)) for i, (v, a) in enumerate(zip(value, args)))
    if origin in (dict, collections.abc.Mapping) or hint is dict:
        if not isinstance(value, dict):
            raise ctx.error(f"expected a mapping, got {value!r}")
        key_hint, val_hint = args or (str, Any)
        return types.MappingProxyType({_convert(k, key_hint, ctx): _convert(v, val_hint, ctx.at(k))
                                       for k, v in value.items()})
    if dataclasses.is_dataclass(hint):
        return from_mapping(hint, value, ctx)
    raise TypeError(f"unsupported config type {hint!r}")  # a bug in a Params class, not in the file


def from_mapping(cls: type, data: Any, ctx: _Ctx) -> Any:
    """Build dataclass ``cls`` from a mapping: unknown keys and missing keys are errors."""
    if not isinstance(data, dict):
        raise ctx.error(f"expected a mapping of {cls.__name__} settings, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            raise ctx.at(key).error(f"unknown key {key!r}", suggestion=_nearest(key, fields))
    values = {}
    for name, f in fields.items():
        if name in data:
            values[name] = _convert(data[name], hints[name], ctx.at(name))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ctx.error(f"missing required key {name!r}")
    try:
        obj = cls(**values)
    except ValueError as exc:  # a Params class rejecting a value: point at the key it names first
        message = str(exc)
        named = [(m.start(), name) for name in values
                 if (m := re.search(rf"\b{re.escape(name)}\b", message))]
        raise (ctx.at(min(named)[1]) if named else ctx).error(message) from None
    return obj


# --------------------------------------------------------------------------- assignments

_PACKAGE = Path(__file__).resolve().parent  # where the installed package's own config lives
_QUESTION_KEYS = ("id", "title", "points", "kind", "params", "credit", "visibility")
_ASSIGNMENT_KEYS = ("title", "notebook", "exercise", "solution", "limits", "questions")


def _question(raw: Any, ctx: _Ctx, seen: set[str]) -> Question:
    from .checks import registry

    if not isinstance(raw, dict):
        raise ctx.error("each question must be a mapping")
    if isinstance(raw.get("id"), str):
        ctx.label(raw["id"])
    for key in raw:
        if key not in _QUESTION_KEYS:
            raise ctx.at(key).error(f"unknown key {key!r}", suggestion=_nearest(key, _QUESTION_KEYS))
    for key in ("id", "points", "kind"):
        if key not in raw:
            raise ctx.error(f"missing required key {key!r}")
    qid = _convert(raw["id"], str, ctx.at("id"))
    if qid in seen:
        raise ctx.at("id").error(f"duplicate question id {qid!r}")
    seen.add(qid)
    ctx = _Ctx(ctx.path, ctx.lines, ctx.trail, ctx.labels)
    points = _convert(raw["points"], float, ctx.at("points"))
    if points <= 0:
        raise ctx.at("points").error("points must be positive")
    kind = _convert(raw["kind"], CheckKind, ctx.at("kind"))
    check = registry()[kind]
    params = from_mapping(check.Params, raw.get("params", {}), ctx.at("params"))
    parts = check.parts(params)
    credit_raw = raw.get("credit", {parts[0]: 1.0} if len(parts) == 1 else None)
    if credit_raw is None:
        raise ctx.error(f"missing required key 'credit' (fractions for {', '.join(parts)})")
    credit = _convert(credit_raw, dict[str, float], ctx.at("credit"))
    for name in credit:
        if name not in parts:
            raise ctx.at("credit", name).error(
                f"{kind.value} has no part {name!r} (its parts: {', '.join(parts)})",
                suggestion=_nearest(name, parts))
    if any(v < 0 for v in credit.values()) or abs(sum(credit.values()) - 1.0) > 1e-9:
        raise ctx.at("credit").error(f"credit fractions must be >= 0 and sum to 1, got {dict(credit)}")
    vis_raw = raw.get("visibility", "visible")
    if isinstance(vis_raw, str):
        vis_one = _convert(vis_raw, Visibility, ctx.at("visibility"))
        visibility = {name: vis_one for name in parts}
    else:
        given = _convert(vis_raw, dict[str, Visibility], ctx.at("visibility"))
        for name in given:
            if name not in parts:
                raise ctx.at("visibility", name).error(
                    f"{kind.value} has no part {name!r}", suggestion=_nearest(name, parts))
        visibility = {name: given.get(name, Visibility.VISIBLE) for name in parts}
    title = _convert(raw.get("title", qid), str, ctx.at("title"))
    return Question(qid, title, points, kind, params,
                    types.MappingProxyType({p: credit.get(p, 0.0) for p in parts}),
                    types.MappingProxyType(visibility))


def _assignment(aid: str, raw: Any, ctx: _Ctx, root: Path, notebooks: bool = True) -> Assignment:
    if not isinstance(raw, dict):
        raise ctx.error("an assignment must be a mapping")
    for key in raw:
        if key not in _ASSIGNMENT_KEYS:
            raise ctx.at(key).error(f"unknown key {key!r}", suggestion=_nearest(key, _ASSIGNMENT_KEYS))
    if not isinstance(raw.get("questions"), list) or not raw["questions"]:
        raise ctx.at("questions").error("an assignment needs a non-empty list of questions")
    seen: set[str] = set()
    questions = tuple(_question(q, ctx.at("questions", i), seen) for i, q in enumerate(raw["questions"]))
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
        path = root / _convert(raw[key], str, ctx.at(key))
        if path.is_file():
            return path
        if not notebooks or (key == "solution" and root == _PACKAGE):
            return None
        raise ctx.at(key).error(f"no such file {path} ({key!r} is relative to the folder of "
                                f"{ctx.path.name})")

    return Assignment(
        id=aid, title=_convert(raw.get("title", aid), str, ctx.at("title")),
        notebook=_convert(raw.get("notebook", f"{aid}.ipynb"), str, ctx.at("notebook")),
        questions=questions, limits=limits, exercise=rel("exercise"), solution=rel("solution"))


@dataclass(frozen=True)
class Preview:
    """What ``assignments.yml`` says before it is validated: enough to start a kernel early."""

    path: Path
    limits: Limits
    solutions: tuple[Path, ...]


def preview(path: str | Path, assignment_id: str | None, notebook: Path) -> Preview | None:
    """One assignment's limits and every solution path, read without SymPy; None if unsure.

    Only a head start: :func:`load_config` still validates everything and has the last word.
    """
    try:
        path = Path(path).resolve()
        data, lines, _ = _load_yaml(path)
        raw = data["assignments"]
        if assignment_id is None:
            names = [a for a, spec in raw.items()
                     if Path(str(spec.get("notebook", f"{a}.ipynb"))).stem.lower() in notebook.name.lower()]
            assignment_id = next(iter(raw)) if len(raw) == 1 else (names[0] if len(names) == 1 else None)
        if assignment_id not in raw:
            return None
        limits = from_mapping(Limits, raw[assignment_id].get("limits", {}), _Ctx(path, lines))
        solutions = tuple(path.parent / spec["solution"] for spec in raw.values()
                          if isinstance(spec, dict) and isinstance(spec.get("solution"), str))
        return Preview(path, limits, solutions)
    except Exception:  # noqa: BLE001 -- whatever is wrong, load_config will say it properly
        return None


def load_config(path: str | Path, *, notebooks: bool = True) -> Config:
    """Read and validate ``assignments.yml``; raise :class:`ConfigError` naming the bad key.

    ``notebooks=False``: for what never reads the exercise and solution notebooks (the Gradescope
    build and autograder), a path to one that does not exist is left out instead of an error."""
    path = Path(path).resolve()
    data, lines, digest = _load_yaml(path)
    ctx = _Ctx(path, lines)
    if not isinstance(data, dict):
        raise ctx.error("the file must be a mapping with an 'assignments' key")
    for key in data:
        if key not in ("version", "assignments"):
            raise ctx.at(key).error(f"unknown key {key!r}",
                                    suggestion=_nearest(key, ("version", "assignments")))
    if data.get("version", 1) != 1:
        raise ctx.at("version").error(f"unsupported version {data['version']!r} (this grader reads 1)")
    raw = data.get("assignments")
    if not isinstance(raw, dict) or not raw:
        raise ctx.at("assignments").error("expected a mapping of assignment ids to assignments")
    assignments = {aid: _assignment(aid, a, ctx.at("assignments", aid), path.parent, notebooks)
                   for aid, a in raw.items()}
    return Config(path=path, assignments=types.MappingProxyType(assignments), digest=digest)
