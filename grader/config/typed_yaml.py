"""YAML read with its line numbers and converted to typed, frozen objects: errors name the key.

Knows nothing of assignments: :func:`from_mapping` builds any dataclass from a mapping (unknown or
missing keys, wrong types and values a class rejects are :class:`ConfigError` naming the key, its
line and the nearest valid key), which the assignments' parser and each check kind's ``Params`` use.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import difflib
import enum
import hashlib
import re
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError


class Ctx:
    """Where we are in the file, so that errors can say which key on which line."""

    def __init__(self, path: Path, lines: dict[tuple[Any, ...], int], trail: tuple[Any, ...] = (),
                 labels: dict[tuple[Any, ...], str] | None = None):
        self.path, self.lines, self.trail = path, lines, trail
        self.labels = labels if labels is not None else {}  # a list item's name (a question's id)

    def at(self, *keys: Any) -> Ctx:
        return Ctx(self.path, self.lines, self.trail + keys, self.labels)

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


def load_yaml(path: Path) -> tuple[Any, dict[tuple[Any, ...], int], str]:
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


def nearest(word: str, choices: typing.Iterable[str]) -> str | None:
    found = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


# --------------------------------------------------------------------------- typed conversion

def convert(value: Any, hint: Any, ctx: Ctx) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return convert(value, inner[0], ctx)
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
                            suggestion=nearest(str(value), valid)) from None
    if origin is tuple:
        if not isinstance(value, list):
            raise ctx.error(f"expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(convert(v, args[0], ctx.at(i)) for i, v in enumerate(value))
        if len(value) != len(args):
            raise ctx.error(f"expected a list of {len(args)} items, got {len(value)}")
        return tuple(convert(v, a, ctx.at(i)) for i, (v, a) in enumerate(zip(value, args)))
    if origin in (dict, collections.abc.Mapping) or hint is dict:
        if not isinstance(value, dict):
            raise ctx.error(f"expected a mapping, got {value!r}")
        key_hint, val_hint = args or (str, Any)
        return types.MappingProxyType({convert(k, key_hint, ctx): convert(v, val_hint, ctx.at(k))
                                       for k, v in value.items()})
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return from_mapping(hint, value, ctx)
    raise TypeError(f"unsupported config type {hint!r}")  # a bug in a Params class, not in the file


def from_mapping(cls: type, data: Any, ctx: Ctx) -> Any:
    """Build dataclass ``cls`` from a mapping: unknown keys and missing keys are errors."""
    if not isinstance(data, dict):
        raise ctx.error(f"expected a mapping of {cls.__name__} settings, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            raise ctx.at(key).error(f"unknown key {key!r}", suggestion=nearest(key, fields))
    values = {}
    for name, f in fields.items():
        if name in data:
            values[name] = convert(data[name], hints[name], ctx.at(name))
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


