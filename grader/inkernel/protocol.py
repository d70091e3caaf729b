"""The probe protocol's shared parts: the tag on a result, the limits, the state captured at
install time, the student's names, and the three ways a task ends short of a value (a name that is
missing, an answer that is not plain numbers, a student's node or call that raised)."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MIME = "application/x-grader-probe"
_MAX_LEN = 100_000
_MAX_TEXT = 400

_state: dict[str, Any] = {}


class _Unplain(Exception):
    """The student's object is not a plain number or list of numbers."""


class _Missing(Exception):
    pass


class _NodeError(Exception):
    def __init__(self, index: int, exc: BaseException) -> None:
        Exception.__init__(self)
        self.index, self.exc = index, exc


def _name(name: str) -> Any:
    ns = _state["shell"].user_ns
    if name not in ns:
        raise _Missing(name)
    return ns[name]
