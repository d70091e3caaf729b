"""One probe task of the grader's in-kernel runner run on the notebook's own names (the otter test
runs after the student's cells, in their namespace): its status and value, or why there is none."""

from __future__ import annotations

from ...inkernel.protocol import _Missing, _NodeError, _state, _Unplain
from ...inkernel.runner import TASKS
from ...inkernel.wire import _describe

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def observe(env: dict[str, Any], task: str, args: list[Any],
            weights: list[float] | None = None) -> tuple[str, Any]:
    """Run one probe task of the grader's runner on the student's names: (status, value or why).

    ``weights``: the published network checks run on fixed, published weights: the network is
    built from the student's class, then its parameters (in the documented order) are set to these
    values (``_state["weights"]``, read by the runner's ``_net``)."""
    _state.update({"shell": _Shell(env), "float": float.__float__, "int": int.__int__, "to_float": float,
                   "getattribute": object.__getattribute__})
    _state.pop("notes", None)
    _state["weights"] = list(weights or [])
    try:
        return "ok", TASKS[task](*args)
    except _Missing as exc:
        return "missing", ("not defined: `%s` does not exist (did the cell that defines it run "
                           "without an error?)" % exc.args[0])
    except _Unplain as exc:
        return "invalid", "unusable answer: %s" % exc.args[0]
    except _NodeError as exc:
        return "raised", "raised %s" % _describe(exc.exc)
    except RecursionError:
        return "raised", ("backward() exceeded Python's recursion limit: build the topological order "
                          "with an explicit stack (a loop) instead of recursion")
    except (Exception, SystemExit) as exc:
        return "raised", "raised %s" % _describe(exc)


class _Shell:
    def __init__(self, env: dict[str, Any]) -> None:
        self.user_ns = env
