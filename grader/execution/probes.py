"""What the grader sends into the kernel, and the strict reading of what comes back."""

from __future__ import annotations

import enum
import json
import math
import secrets
from dataclasses import dataclass
from typing import Any

from .. import inkernel
from ..text import clip, one_line, shown

MIME = "application/x-grader-probe"
MAX_PAYLOAD = 2_000_000


class ObsStatus(str, enum.Enum):
    """How one probe ended."""

    OK = "ok"              # plain data came back (still to be judged)
    MISSING = "missing"    # the name is not defined in the notebook
    RAISED = "raised"      # the student's code raised
    INVALID = "invalid"    # the answer is not plain numbers of the right shape
    TIMEOUT = "timeout"    # the probe ran past its time limit
    DIED = "died"          # the kernel died while probing
    NOT_RUN = "not_run"    # skipped: an earlier probe of this question timed out, or no time left
    NO_REPLY = "no_reply"  # the kernel finished without a (single, well-formed) result


@dataclass(frozen=True)
class ProbeRequest:
    """One task for the in-kernel runner: a task name and plain-data arguments."""

    task: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Observation:
    """What one probe brought back, already re-validated as plain JSON data."""

    status: ObsStatus
    value: Any = None
    detail: str = ""
    node: int | None = None
    recursion: bool = False
    notes: tuple[tuple[str, str], ...] = ()  # (type, note): number-like answers read as numbers

    @property
    def ok(self) -> bool:
        return self.status is ObsStatus.OK


def runner_source() -> str:
    """The in-kernel runner's source text: the modules of ``grader.inkernel``, assembled in order."""
    return inkernel.runner_source()


def install_code(module_key: str, output_limit: int) -> str:
    """Code that installs the runner as a private module before any student cell runs."""
    return (
        "def _grader_install(source, key):\n"
        "    import builtins, sys, types\n"
        "    module = types.ModuleType(key)\n"
        "    module.__dict__['__builtins__'] = dict(builtins.__dict__)\n"
        "    exec(compile(source, '<grader>', 'exec'), module.__dict__)\n"
        f"    module.install(get_ipython(), {int(output_limit)!r})\n"
        "    sys.modules[key] = module\n"
        f"_grader_install({runner_source()!r}, {module_key!r})\n"
        "del _grader_install\n"
    )


def _literal(value: Any) -> str:
    """A Python literal for plain data, exact for floats; refuses anything else."""
    if value is None or type(value) in (bool, int, str):
        return repr(value)
    if type(value) is float:
        if not math.isfinite(value):
            raise ValueError("probe arguments must be finite")
        return repr(value)
    if type(value) in (list, tuple):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    raise TypeError(f"not plain data: {type(value).__name__}")


def probes_code(module_key: str, calls: list[tuple[str, ProbeRequest]]) -> str:
    """The one line of code that asks the runner for each ``(nonce, request)`` in turn."""
    tasks = ", ".join(f"[{nonce!r}, {request.task!r}, {_literal(list(request.args))}]"
                      for nonce, request in calls)
    return f"__import__('sys').modules[{module_key!r}].probe_all([{tasks}])"


def new_nonce() -> str:
    return secrets.token_hex(16)


def _plain(value: Any, depth: int = 0) -> bool:
    if depth > 6:
        return False
    if value is None or type(value) in (bool, int, float, str):
        return True
    if type(value) is list:
        return all(_plain(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(type(k) is str and _plain(v, depth + 1) for k, v in value.items())
    return False


def parse_result(nonce: str, payloads: list[Any]) -> Observation:
    """Exactly one payload tagged with ``nonce`` is the result; anything else is no reply."""
    tagged = [p for p in payloads if isinstance(p, str) and p.startswith(nonce)]
    if not tagged:
        return Observation(ObsStatus.NO_REPLY, detail="the kernel sent no result")
    if len(tagged) > 1:
        return Observation(ObsStatus.NO_REPLY, detail="the kernel sent more than one result")
    text = tagged[0][len(nonce):]
    if len(text) > MAX_PAYLOAD:
        return Observation(ObsStatus.NO_REPLY, detail="the result was too large")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return Observation(ObsStatus.NO_REPLY, detail="the result was not valid JSON")
    if type(data) is not dict or not _plain(data) or type(data.get("status")) is not str:
        return Observation(ObsStatus.NO_REPLY, detail="the result was malformed")
    status = data["status"]
    detail = clip(shown(data["detail"]), 400) if type(data.get("detail")) is str else ""
    if status == "ok":
        return Observation(ObsStatus.OK, value=data.get("value"), notes=_notes(data.get("notes")))
    if status == "missing":
        name = data.get("name") if type(data.get("name")) is str else "?"
        return Observation(ObsStatus.MISSING, detail=clip(shown(name, lines=False), 200))
    if status == "invalid":
        return Observation(ObsStatus.INVALID, detail=detail)
    if status == "raised":
        node = data.get("node")
        return Observation(ObsStatus.RAISED, detail=detail,
                           node=node if type(node) is int else None,
                           recursion=data.get("recursion") is True)
    return Observation(ObsStatus.NO_REPLY, detail="the result had an unknown status")


def _notes(raw: Any) -> tuple[tuple[str, str], ...]:
    """The runner's notes on number-like answers, re-validated and worded here (at most four)."""
    if type(raw) is not list:
        return ()
    out = []
    for note in raw[:4]:
        if type(note) is not dict or not all(type(note.get(k)) is str for k in ("type", "what", "how")):
            continue
        count = note.get("count")
        # shown in a Markdown code span: one line, no backtick to close it early
        kind = one_line(note["type"][:60]).replace("`", "'")
        what, how = one_line(note["what"][:120]).replace("`", "'"), one_line(note["how"][:20])
        more = f" (and {count - 1} more)" if type(count) is int and count > 1 else ""
        if how == "data":
            text = (f"{what}{more} is a `{kind}` object, not a number: its .data was read and judged "
                    f"(a plain float is what is asked for")
            text += ("; a .grad that is a Value comes from a _backward that multiplies by a Value, "
                     "such as `out` where `out.data` belongs)" if what.endswith(".grad") else ")")
        else:
            text = f"{what}{more} is a `{kind}`, not a float: it was read as float({what})"
        out.append((f"{how} {kind}", text))
    return tuple(out)


# ----------------------------------------------------------------------------- grader-side validation

class Unusable(Exception):
    """A value that crossed the boundary but is not what the question asked for."""


def as_number(value: Any, what: str) -> float:
    """A JSON number as float; anything else (bool, string, list) is unusable."""
    if type(value) is int:
        return float(value)
    if type(value) is float:
        return value
    raise Unusable(f"{what} is not a number")


def as_vector(value: Any, length: int | None, what: str) -> list[float]:
    """A list of numbers of the declared length."""
    if type(value) is not list:
        raise Unusable(f"{what} is not a list of numbers")
    if length is not None and len(value) != length:
        raise Unusable(f"{what} has {len(value)} entries, expected {length}")
    return [as_number(v, f"{what}[{i}]") for i, v in enumerate(value)]
