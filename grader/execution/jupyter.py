"""The Jupyter parts, fitted to the sandbox: the kernel's environment and arguments, a kernel
manager whose kernelspec is the grader's (and which adopts a kernel forked from a zygote), a client
that connects through the grader's own descriptors of the kernel's sockets and refuses oversize
messages, and nbclient with outputs capped and each execute reply kept. ``kernel`` drives them.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

from ..sandbox import zygote as zygotes

_PASSTHROUGH_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "LANG", "LC_ALL", "TZ")
# ZeroMQ drops (and never hands to the grader) any message from the kernel larger than this, so
# a notebook cannot make the grader decode hundreds of megabytes; cell output is capped far lower.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
KERNEL_ARGS = ["--HistoryManager.hist_file=:memory:", "--IPKernelApp.capture_fd_output=False"]


def kernel_env(token: str) -> dict[str, str]:
    bindir = str(Path(sys.executable).parent)
    env = {
        "PATH": os.pathsep.join([bindir, "/usr/local/bin", "/usr/bin", "/bin"]),
        "MPLBACKEND": "Agg",
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        # The memory budget is an address-space limit too, and the C library reserves 64 MiB of
        # address space for each extra malloc arena, one per thread that meets a busy one: a
        # dozen kernel threads could spend a small budget before the student's code runs (more of
        # them the busier the machine), and then no thread can start. Two arenas reserve little.
        "MALLOC_ARENA_MAX": "2",
        "GRADER_KERNEL_TOKEN": token,
        "LANG": "C.UTF-8",
    }
    for name in _PASSTHROUGH_ENV:
        if name in os.environ:
            env[name] = os.environ[name]
    return env


class _Urls:
    """Connect to the kernel's sockets through the grader's own descriptors of them (see Jail)."""

    grader_urls: dict[str, str] | None = None

    def _make_url(self, channel: str) -> str:
        if self.grader_urls and channel in self.grader_urls:
            return self.grader_urls[channel]
        url: str = super()._make_url(channel)  # type: ignore[misc]
        return url


class SandboxKernelClient(_Urls, AsyncKernelClient):
    """The grader's client: its sockets refuse messages over MAX_MESSAGE_BYTES (its context says so)."""


class SandboxKernelManager(_Urls, AsyncKernelManager):
    """A kernel manager whose kernelspec is ours, whatever the notebook asked for."""

    _grader_argv: list[str] = []
    _grader_interrupt = "signal"
    _grader_child: zygotes.Child | None = None  # the kernel, forked from a zygote (not launched)

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        child = self._grader_child
        if child is None:
            await super()._async_launch_kernel(kernel_cmd, **kw)
            return
        assert self.provisioner is not None
        provisioner: Any = self.provisioner
        provisioner.process, provisioner.pid, provisioner.pgid = child, child.pid, None
        self._reconcile_connection_info(provisioner.connection_info)

    @property
    def kernel_spec(self) -> KernelSpec:
        return KernelSpec(argv=list(self._grader_argv), display_name="grader", language="python",
                          env={}, interrupt_mode=self._grader_interrupt)

    def connect_through(self, urls: dict[str, str]) -> None:
        """From now on, reach the kernel through ``urls`` (the grader's own descriptors of its
        sockets) -- the manager's control socket too, which jupyter_client connected at start
        to the address in the connection file: in the sandbox no such path exists on the
        grader's side, and an interrupt sent there never arrived (every timed-out cell cost a
        restart and a replay)."""
        self.grader_urls = urls
        if self._control_socket is not None:
            self._control_socket.close(linger=0)
            self._control_socket = None
        self._connect_control_socket()

    def client(self, **kwargs: Any) -> Any:
        kwargs.setdefault("context", self.context)
        client = SandboxKernelClient(**{**self.get_connection_info(session=True),
                                  "connection_file": self.connection_file, "parent": self, **kwargs})
        client.grader_urls = self.grader_urls
        return client

    def cleanup_ipc_files(self) -> None:
        """The kernel's socket folder is emptied by the jail, as the kernel's uid; never here."""


class CappedNotebookClient(NotebookClient):
    """nbclient with outputs capped per cell and in total, and each execute reply kept; a cell
    can be ended from outside (``stop``) when its own time is up."""

    def __init__(self, nb: Any, *, per_cell: int, total: int, **kw: Any) -> None:
        super().__init__(nb, **kw)
        self.per_cell, self.total = per_cell, total
        self.cell_bytes: dict[int, int] = {}
        self.total_bytes = 0
        self.last_reply: dict[str, Any] | None = None
        self._alive_task: asyncio.Task[Any] | None = None

    async def _async_poll_kernel_alive(self) -> None:
        self._alive_task = asyncio.current_task()
        await super()._async_poll_kernel_alive()

    def stop(self) -> None:
        """End the running cell's wait for its reply (the kernel itself is the caller's)."""
        for task in (self.task_poll_for_reply, self._alive_task):
            if task is not None and not task.done():
                task.cancel()

    def output(self, outs: Any, msg: dict[str, Any], display_id: Any, cell_index: int) -> Any:
        content = msg.get("content") or {}
        size = len(str(content.get("text", ""))) + sum(len(str(v)) for v in
                                                        (content.get("data") or {}).values())
        size += sum(len(str(t)) for t in content.get("traceback") or ())
        used = self.cell_bytes.get(cell_index, 0)
        self.cell_bytes[cell_index] = used + size
        self.total_bytes += size
        if used + size > self.per_cell or self.total_bytes > self.total:
            return None  # dropped: the grader keeps at most a capped amount of what cells print
        return super().output(outs, msg, display_id, cell_index)

    async def _check_raise_for_error(self, cell: Any, cell_index: int,
                                     exec_reply: dict[str, Any] | None) -> None:
        self.last_reply = exec_reply
        await super()._check_raise_for_error(cell, cell_index, exec_reply)
