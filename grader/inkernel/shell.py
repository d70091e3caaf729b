"""The kernel's shell made fit for grading: shell escapes and package installs refused, and each
cell's printed output capped before it is ever sent."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, NoReturn


def cap_output(shell: Any, limit: int) -> None:
    """Truncate what each cell prints past ``limit`` characters, before it is ever sent.

    IPython re-wraps ``stream.write`` around every cell (to record output history) and restores
    it afterwards, so the cap is re-applied at the start of each cell, inside that wrapping.
    """
    import sys

    streams = (sys.stdout, sys.stderr)
    used = [0]

    def capped(inner: Callable[..., Any]) -> Callable[..., Any]:
        def write(text: str, *args: Any, **kwargs: Any) -> Any:
            if used[0] >= limit:
                return len(text)
            size = len(text)
            if used[0] + size > limit:
                text = text[: limit - used[0]] + "\n[further output truncated by the grader]\n"
            used[0] += size
            return inner(text, *args, **kwargs)
        return write

    def before_cell(*args: Any) -> None:
        used[0] = 0
        for stream in streams:
            try:
                stream.write = capped(stream.write)  # type: ignore[method-assign]
            except (AttributeError, TypeError):
                pass  # not a stream we can wrap; the grader's own cap still applies

    shell.events.register("pre_run_cell", before_cell)


# Magics that install packages or run a shell (and so could reach the network or change the
# environment). A notebook using them gets a clear error in that cell; the rest still runs.
BLOCKED_LINE_MAGICS = ("pip", "conda", "mamba", "micromamba", "uv", "sx", "sc", "system")
BLOCKED_CELL_MAGICS = ("bash", "sh", "script", "sx", "system", "perl", "ruby")


class ShellDisabled(RuntimeError):
    """Raised in place of shell escapes and package installs while grading."""


def _refuse(what: str) -> Callable[..., NoReturn]:
    def refuse(*args: Any, **kwargs: Any) -> NoReturn:
        raise ShellDisabled("%s is disabled while grading: the notebook runs offline, with the "
                            "packages the grader provides (numpy, sympy, math); remove it" % what)
    return refuse


def lockdown(shell: Any) -> None:
    """Disable shell escapes (``!cmd``) and package-manager magics (``%pip``, ``%conda``, ...)."""
    for name in ("system", "system_piped", "system_raw", "getoutput"):
        setattr(shell, name, _refuse("running shell commands (!...)"))
    for name in BLOCKED_LINE_MAGICS:
        shell.register_magic_function(_refuse("%" + name), "line", name)
    for name in BLOCKED_CELL_MAGICS:
        shell.register_magic_function(_refuse("%%" + name), "cell", name)
