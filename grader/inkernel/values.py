"""Task family: the notebook's own values -- a variable's final value, a function called on
published numbers -- as lists of numbers."""

from __future__ import annotations

from .protocol import _name
from .reading import vector

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def task_value(name: str) -> list[float]:
    """The notebook's final value of a variable, as a list of numbers."""
    return vector(_name(name), name)


def task_call(name: str, args: list[Any]) -> list[float]:
    """Call a student function with the given numbers; its result as a list of numbers."""
    fn = _name(name)
    return vector(fn(*args), "%s(...)" % name)
