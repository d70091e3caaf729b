"""The test's entry point: ``check(env)`` returns ``SPEC["ok"]`` when the published part would get
full marks, else what is wrong. ``SPEC`` is appended after all the parts, as plain data."""

from __future__ import annotations

from .compare import Unusable
from .fd import judge_fd
from .judges import judge_gradient, judge_graph, judge_sigmoid, judge_softmax_ce, judge_softmax_nll
from .networks import judge_mlp, judge_training
from .observe import observe

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

SPEC: dict[str, Any]  # bound by the line the export appends: the question's published data

JUDGES = {"gradient": judge_gradient, "softmax_nll": judge_softmax_nll, "graph": judge_graph,
          "sigmoid": judge_sigmoid, "softmax_ce": judge_softmax_ce, "mlp": judge_mlp,
          "training": judge_training}


def check(env: dict[str, Any]) -> str:
    """``SPEC["ok"]`` when the published check passes, else what is wrong."""
    s = SPEC
    if s["judge"] == "fd":
        return judge_fd(s, env)
    status, value = observe(env, s["task"], s["args"], s.get("weights"))
    if status != "ok":
        return "%s: %s" % (s["label"], value)
    try:
        problem = JUDGES[s["judge"]](s, value)
    except Unusable as exc:
        problem = "unusable answer: %s" % exc
    return s["ok"] if problem is None else "%s: %s" % (s["label"], problem)

