"""The student's values read as numbers: exact built-in floats through the float and int methods
captured at install time, number-like answers (a ``Value`` where a number belongs, numpy scalars,
``Fraction``...) read and noted, anything else refused as not plain."""

from __future__ import annotations

from .protocol import _MAX_LEN, _state, _Unplain
from .wire import _describe, _short, _typename

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_NO = object()
_DEPTH = 3  # a Value whose .data is a Value whose .data is ...: this many levels, then refused
_NOTES = 4  # distinct notes on number-like answers, per probe


def _note(kind: str, what: str, how: str) -> None:
    """Remember once per type that an answer was number-like rather than a number."""
    notes = _state.setdefault("notes", {})
    if kind in notes:
        notes[kind][1] += 1
    elif len(notes) < _NOTES:
        notes[kind] = [what, 1, how]


def _own_data(x: object) -> Any:
    """``x.data`` read through ``object.__getattribute__`` as captured at install time (a class's
    ``__getattr__`` or ``__getattribute__`` is not asked); _NO when there is none."""
    try:
        return _state["getattribute"](x, "data")
    except KeyboardInterrupt:  # the timeout's interrupt
        raise
    except BaseException:  # noqa: BLE001 -- whatever a .data property raises, there is no number there
        return _NO


def number(x: Any, what: str, depth: int = 0, wrapped: bool = True) -> float:
    """One student value as an exact built-in float (int kept as int), or _Unplain.

    A float or int (or a subclass: its own value, not what its methods say) is taken as it is.
    Number-like answers are read and noted: an object holding a number in ``.data`` (a ``Value``
    where a number belongs; ``wrapped=False`` where a ``Value`` is what was asked for), and anything
    ``float()`` converts (numpy scalars and 0-d arrays, ``Fraction``, ``Decimal``, SymPy numbers).
    Whatever comes out must be a built-in float, read through the float methods captured at install.
    """
    t = type(x)
    if t is float or t is int:
        exact: float = x
        return exact
    if isinstance(x, bool) or _typename(x) in ("bool_", "bool"):
        raise _Unplain("%s is a bool, not a number" % what)
    if isinstance(x, (str, bytes, complex)):
        raise _Unplain("%s is a %s, not a real number" % (what, _typename(x)))
    if isinstance(x, (bytearray, memoryview)):  # float() reads their bytes as text: b"0.75" -> 0.75
        raise _Unplain("%s is a %s, not a number" % (what, _typename(x)))
    if isinstance(x, float):
        own: float = _state["float"](x)
        return own
    if isinstance(x, int):
        whole: int = _state["int"](x)
        return whole
    data = _own_data(x)
    if data is not _NO and type(data) is not memoryview:  # numpy's .data is its buffer
        if depth >= _DEPTH:
            raise _Unplain("%s is a %s whose .data holds a %s ... too deeply nested to be a number"
                           % (what, _typename(x), _typename(data)))
        value = number(data, what + ".data", depth + 1, wrapped)
        if wrapped and depth == 0:
            _note(_typename(x), what, "data")
        return value
    try:
        converted = _state["to_float"](x)
    except KeyboardInterrupt:  # the timeout's interrupt
        raise
    except BaseException as exc:  # noqa: BLE001 -- whatever the object does, it is not a number
        raise _Unplain("%s is a %s, not a number (%s)" % (what, _typename(x), _describe(exc)))
    if type(converted) is not float:
        raise _Unplain("%s is a %s, not a number" % (what, _typename(x)))
    if depth == 0:
        _note(_typename(x), what, "float")
    return converted


def _take_notes() -> list[dict[str, Any]]:
    """The notes of this probe, as plain data: one per type, with the first place and a count."""
    notes = _state.pop("notes", {})
    return [{"type": _short(kind), "what": _short(what), "count": count, "how": how}
            for kind, (what, count, how) in notes.items()]


def vector(x: Any, what: str) -> list[float]:
    """A list, tuple or array of numbers as a list of exact floats."""
    if isinstance(x, (list, tuple)):
        items = list(x)
    elif hasattr(x, "tolist") and hasattr(x, "shape") and not isinstance(x, (str, bytes)):
        flat = x.ravel() if hasattr(x, "ravel") else x
        items = flat.tolist()
        if not isinstance(items, list):
            items = [items]
    else:
        raise _Unplain("%s is a %s, expected a list of numbers" % (what, _typename(x)))
    if len(items) > _MAX_LEN:
        raise _Unplain("%s has %d items, far too many" % (what, len(items)))
    return [number(v, "%s[%d]" % (what, i)) for i, v in enumerate(items)]


def _read(v: Any, attr: str, what: str) -> float:
    """``v.data`` or ``v.grad`` as a number; a missing attribute is an unusable answer."""
    try:
        x = getattr(v, attr)
    except (Exception, SystemExit) as exc:
        raise _Unplain("%s has no usable .%s (%s)" % (what, attr, _describe(exc)))
    return number(x, "%s.%s" % (what, attr))
