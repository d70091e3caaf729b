"""Plain data out: the JSON text of a result, written here character by character (the kernel's
``json`` may be the student's by then), and short descriptions of the student's objects."""

from __future__ import annotations

from .protocol import _MAX_TEXT, _state

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _escape(text: str) -> str:
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif 32 <= code < 127:
            out.append(ch)
        elif code < 0x10000:
            out.append("\\u%04x" % code)
        else:
            code -= 0x10000
            out.append("\\u%04x\\u%04x" % (0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF)))
    out.append('"')
    return "".join(out)


def _encode(obj: Any) -> str:
    t = type(obj)
    if obj is None:
        return "null"
    if obj is True:
        return "true"
    if obj is False:
        return "false"
    if t is int:
        digits: str = _state["irepr"](obj)
        return digits
    if t is float:
        text: str = _state["frepr"](obj)
        return {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}.get(text, text)
    if t is str:
        return _escape(obj)
    if t is list:
        return "[" + ",".join(_encode(x) for x in obj) + "]"
    if t is dict:
        return "{" + ",".join(_escape(k) + ":" + _encode(v) for k, v in obj.items()) + "}"
    raise TypeError("grader bug: cannot encode %s" % t)


def _short(obj: object) -> str:
    text = str(obj)
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 3] + "..."


_NAME = type.__dict__["__name__"]  # a class's own name, whatever its metaclass says


def _describe(exc: BaseException) -> str:
    name = _NAME.__get__(type(exc))
    try:
        message = str(exc)
    except KeyboardInterrupt:  # the timeout's interrupt
        raise
    except BaseException:  # noqa: BLE001 -- a hostile __str__ must not hide the exception's name
        message = ""
    return _short(name + (": " + message if message else ""))


def _typename(x: object) -> str:
    """The name of ``x``'s class as the class was defined (a metaclass's ``__name__`` is not asked)."""
    return _short(_NAME.__get__(type(x)))
