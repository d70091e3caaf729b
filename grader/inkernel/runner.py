"""The probe runner: ``install`` (before the first student cell) captures what probes need and
makes the shell fit for grading; ``probe`` runs one task and publishes exactly one tagged result,
``probe_all`` runs a question's tasks in turn in one request."""

from __future__ import annotations

from .graphs import task_autograd, task_chain, task_graph, task_op_case, task_softmax_nll
from .networks import task_mlp, task_net_loss, task_net_train, task_predict, task_sigmoid, task_softmax_ce
from .protocol import MIME, _Missing, _NodeError, _state, _Unplain
from .reading import _take_notes
from .shell import cap_output, lockdown
from .values import task_call, task_value
from .wire import _describe, _encode, _short

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable


def install(shell: Any, output_limit: int) -> None:
    """Capture what probes need now, while nothing has been patched yet."""
    _state["shell"] = shell
    _state["publish"] = shell.display_pub.publish
    _state["float"] = float.__float__
    _state["int"] = int.__int__
    _state["to_float"] = float
    _state["getattribute"] = object.__getattribute__
    _state["frepr"] = float.__repr__
    _state["irepr"] = int.__repr__
    _state["sent"] = _sender(shell)
    lockdown(shell)
    cap_output(shell, output_limit)


TASKS: dict[str, Callable[..., Any]] = {
    "value": task_value, "call": task_call, "graph": task_graph, "op_case": task_op_case,
    "softmax_nll": task_softmax_nll, "autograd": task_autograd, "chain": task_chain,
    "mlp": task_mlp, "net_loss": task_net_loss, "net_train": task_net_train,
    "predict": task_predict, "sigmoid": task_sigmoid, "softmax_ce": task_softmax_ce}


def _sender(shell: Any) -> Callable[[], None]:
    """A wait until what was published so far has left the kernel's output thread (ipykernel sends
    iopub messages from a thread of its own; it runs what is scheduled in order). Without it a result
    could still be queued while the next task holds the interpreter or ends the process."""
    import threading

    pub = getattr(shell.display_pub, "pub_socket", None)
    schedule = getattr(getattr(pub, "io_thread", pub), "schedule", None)
    event = threading.Event

    def sent() -> None:
        if callable(schedule):
            done = event()
            schedule(done.set)
            done.wait(2.0)
    return sent


def probe_all(calls: list[Any]) -> None:
    """Run each ``[nonce, task, args]`` in turn; each result is sent before the next task starts."""
    for nonce, task, args in calls:
        probe(nonce, task, args)
        _state["sent"]()


def probe(nonce: str, task: str, args: list[Any]) -> None:
    """Run one task and publish exactly one tagged result (KeyboardInterrupt from a timeout escapes)."""
    _state.pop("notes", None)
    result: dict[str, Any]
    try:
        result = {"status": "ok", "value": TASKS[task](*args)}
        notes = _take_notes()
        if notes:
            result["notes"] = notes
    except _Missing as exc:
        result = {"status": "missing", "name": _short(exc.args[0])}
    except _Unplain as exc:
        result = {"status": "invalid", "detail": _short(exc.args[0])}
    except _NodeError as exc:
        result = {"status": "raised", "node": exc.index, "detail": _describe(exc.exc)}
    except RecursionError as exc:
        result = {"status": "raised", "detail": _describe(exc), "recursion": True}
    except KeyboardInterrupt:  # the timeout's interrupt: the grader records the time limit
        raise
    except BaseException as exc:  # noqa: BLE001 -- a student's own BaseException costs this answer only
        result = {"status": "raised", "detail": _describe(exc)}
    _state["publish"]({MIME: nonce + _encode(result)}, {})
