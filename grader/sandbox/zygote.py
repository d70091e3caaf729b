"""Warm zygotes: kernels forked, fully isolated, from a Python that has already imported ipykernel.

A cold kernel spends most of its start-up importing ipykernel, zmq, tornado, IPython and numpy.
A zygote (see ``_zygote``) is a process inside the same bubblewrap sandbox as a kernel -- the
same read-only allow-list, no network, the grader's files covered, the kernel's uid -- that has
done those imports once, holds no thread, socket or event loop, and forks one child per kernel
start. Before any kernel code runs the child has its own PID, mount, IPC, UTS, network and cgroup
namespaces, its own tmpfs ``HOME``, ``/tmp``, ``/dev/shm`` and ``/run`` (connection file, socket
folder), the kernel's limits and cgroup, no capability and ``no_new_privs``. Its own PID namespace
leaves it no way to name the zygote or a sibling; the zygote is not dumpable; no descriptor is
shared.

One zygote serves one kernel at a time (as root it holds one uid of the pool for its life): the
kernel's uid, and so its process count, is never shared with a kernel running alongside. A
zygote whose kernel has ended and been reaped serves the next; a zygote that died, or did not
answer, is dropped and another one started. A batch holds a :class:`ZygotePool`
(:func:`using`); where no zygote can be had, kernels start cold, as before.
"""

from __future__ import annotations

import array
import asyncio
import base64
import contextlib
import contextvars
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from .allowlist import HOME, bwrap_args, memfd, passwd_entries, python_folders, sandbox_env
from .identity import Identity
from .policy import Policy, zygote_problem
from .reap import kill_token, kill_uid

PRELOAD = ("math", "random", "numpy", "numpy.random")  # numpy 2 imports numpy.random lazily
_SRC = {name: base64.b64encode(Path(__file__).with_name(f"_{name}.py").read_bytes()).decode()
        for name in ("launcher", "zygote")}
_BOOT = ("import base64,sys;a=sys.argv;g={'__name__':'grader_zygote'};"
         "exec(compile(base64.b64decode(a[1]),'grader-launcher','exec'),g);g['_ZYGOTE_MAIN']=1;"
         "sys.argv=[a[0],*a[3:]];exec(compile(base64.b64decode(a[2]),'grader-zygote','exec'),g)")
_READY_TIMEOUT = 60.0
_ANSWER_TIMEOUT = 10.0


class ZygoteError(OSError):
    """The zygote, or its child, did not do what was asked: start this kernel cold."""


def _recv_pid(sock: socket.socket) -> int:
    """The host pid of the process that sent one message with ``SCM_CREDENTIALS`` on ``sock``."""
    msg, ancdata, _, _ = sock.recvmsg(16, socket.CMSG_SPACE(12))
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS and len(data) >= 12:
            pid: int = struct.unpack("=iII", data[:12])[0]
            return pid
    raise ZygoteError("the zygote's child did not say who it is" if msg else "the zygote's child is gone")


class Child:
    """A kernel forked from a zygote, as ``subprocess.Popen`` looks to jupyter_client (its pid is
    the child's outer process, A; ``kernel_pid`` the kernel's, as the host sees both)."""

    def __init__(self, zygote: Zygote, chan: socket.socket) -> None:
        self.zygote, self.chan = zygote, chan
        self.pid = 0
        self.kernel_pid: int | None = None
        self.returncode: int | None = None
        self._pidfd: int | None = None

    async def _answer(self, timeout: float) -> int:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def readable() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(self.chan.fileno(), readable)
        try:
            await asyncio.wait_for(ready, timeout)
        except asyncio.TimeoutError:
            raise ZygoteError(f"the zygote's child did not answer within {timeout:.0f} s") from None
        finally:
            loop.remove_reader(self.chan.fileno())
        return _recv_pid(self.chan)

    async def started(self, join: list[str]) -> None:
        """Wait for the child; put it in the kernel's cgroup (``join``: cgroup.procs files) before
        it goes on, so that none of the kernel's processes ever runs outside it."""
        self.pid = await self._answer(_ANSWER_TIMEOUT)
        self._pidfd = os.pidfd_open(self.pid)
        for path in join:
            with open(path, "w") as fh:
                fh.write(str(self.pid))
        self.chan.send(b"go")

    async def kernel(self, timeout: float) -> int:
        """The kernel's host pid, once its namespaces and limits are in place."""
        self.kernel_pid = await self._answer(timeout)
        self.chan.close()
        return self.kernel_pid

    def poll(self) -> int | None:
        if self.returncode is None and self._pidfd is not None:
            if select.select([self._pidfd], [], [], 0)[0]:
                self.returncode = -signal.SIGKILL
        elif self._pidfd is None and self.pid == 0:
            self.returncode = 1
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self._pidfd is not None and self.returncode is None:
            if select.select([self._pidfd], [], [], timeout)[0]:
                self.returncode = -signal.SIGKILL
            else:
                raise subprocess.TimeoutExpired("zygote child", timeout or 0)
        return self.returncode if self.returncode is not None else 1

    def send_signal(self, sig: int) -> None:
        if self._pidfd is not None and self.poll() is None:
            signal.pidfd_send_signal(self._pidfd, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def end(self) -> None:
        """Kill the child (its namespace dies with it), wait until it is gone, free the zygote."""
        with contextlib.suppress(OSError):
            self.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.wait(10)
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None
        with contextlib.suppress(OSError):
            self.chan.close()
        self.zygote.busy = False

    stdout = stderr = stdin = None


class Zygote:
    """One warm zygote in its own sandbox."""

    def __init__(self, policy: Policy, identity: Identity | None, env: dict[str, str]) -> None:
        self.policy, self.identity = policy, identity
        self.busy = False
        self.uid = contextlib.ExitStack()  # holds the pool's uid for the zygote's life (as root)
        self.preloaded: list[str] = []
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # Never blocking: a zygote whose sandbox never started (its bubblewrap killed half-way, the
        # inner process left holding the other end) must cost a timeout, not the grader's loop.
        ours.setblocking(False)
        self.control = ours
        self.token = env.get("GRADER_KERNEL_TOKEN", "")
        passwd, group = (memfd(data) for data in passwd_entries())
        conn = memfd(b"{}")
        fds = [theirs.fileno(), conn, passwd, group]
        argv = bwrap_args(policy.bwrap or "bwrap", connection_fd=conn, passwd_fd=passwd,
                          group_fd=group, disk_mb=1)[:-1]
        argv += ["--cap-add", "CAP_SYS_ADMIN", "--cap-add", "CAP_NET_ADMIN", "--unsetenv",
                 "JPY_PARENT_PID", "--", sys.executable, "-I", "-c", _BOOT, _SRC["launcher"],
                 _SRC["zygote"], str(theirs.fileno()),
                 json.dumps({"preload": list(PRELOAD), "python": python_folders()})]
        who: dict[str, Any] = ({"user": identity.uid, "group": identity.gid, "extra_groups": []}
                               if identity is not None else {})
        try:
            self.process = subprocess.Popen(argv, pass_fds=fds, env=sandbox_env(env), cwd="/",
                                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL, **who)
        finally:
            theirs.close()
            for fd in (conn, passwd, group):
                os.close(fd)

    async def ready(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            line = await asyncio.wait_for(loop.sock_recv(self.control, 65536), _READY_TIMEOUT)
        except asyncio.TimeoutError:
            raise ZygoteError("the zygote did not get ready in time") from None
        answer = json.loads(line or b'{"error": "the zygote exited"}')
        if not answer.get("ready"):
            raise ZygoteError(f"the zygote could not start: {answer.get('error')}")
        self.preloaded = list(answer.get("preloaded") or ())

    def alive(self) -> bool:
        """False once the zygote is gone: it never writes after its greeting, so a readable
        control socket means its end was closed."""
        if self.process.poll() is not None:
            return False
        with contextlib.suppress(OSError, ValueError):
            return not select.select([self.control], [], [], 0)[0]
        return False

    def spawn(self, request: dict[str, Any], log_fd: int) -> Child:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        try:
            self.control.sendmsg([json.dumps(request).encode()], [
                (socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [theirs.fileno(), log_fd]))])
        except OSError as exc:
            ours.close()
            raise ZygoteError(f"the zygote is gone ({exc})") from exc
        finally:
            theirs.close()
        self.busy = True
        return Child(self, ours)

    def close(self) -> None:
        """Kill the zygote, and whatever of its sandbox outlived bubblewrap's first process (killed
        before it could tell its child to die with it, that child waits for ever)."""
        with contextlib.suppress(OSError):
            self.control.close()
        with contextlib.suppress(OSError):
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)
        if self.token:
            kill_token(self.token)


class ZygotePool:
    """The zygotes of one grading run; ``child`` forks a kernel from a free, live one."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.zygotes: list[Zygote] = []
        self.failures = 0
        self.problem = ""

    async def _free(self, env: dict[str, str]) -> Zygote:
        for zygote in list(self.zygotes):
            if not zygote.alive():
                self._retire(zygote)
        for zygote in self.zygotes:
            if not zygote.busy:
                return zygote
        uid = contextlib.ExitStack()
        identity = self.policy.user
        if identity is None and self.policy.pool is not None:
            identity = uid.enter_context(self.policy.pool.acquire())
        try:
            zygote = Zygote(self.policy, identity,
                            {**env, "GRADER_KERNEL_TOKEN": f"zygote-{os.urandom(8).hex()}"})
        except BaseException:
            uid.close()
            raise
        zygote.uid = uid
        try:
            await zygote.ready()
        except BaseException:
            self._retire(zygote)
            raise
        self.zygotes.append(zygote)
        return zygote

    async def child(self, request: dict[str, Any], log_fd: int, env: dict[str, str],
                    join: list[str]) -> Child:
        """A fresh kernel child, in its cgroup (``join``), not yet known to have started ipykernel."""
        zygote = await self._free(env)
        child = zygote.spawn(request, log_fd)
        try:
            await child.started(join)
        except BaseException:
            child.end()
            self._retire(zygote)
            raise
        return child

    def failed(self, why: str) -> None:
        """A zygote could not give a kernel; after three such failures the run starts kernels cold."""
        self.failures += 1
        self.problem = why

    @property
    def usable(self) -> bool:
        return self.failures < 3

    def _retire(self, zygote: Zygote) -> None:
        zygote.close()
        if zygote in self.zygotes:
            self.zygotes.remove(zygote)
        if zygote.identity is not None and self.policy.user is None:
            kill_uid(zygote.identity.uid)
        zygote.uid.close()  # the pool's uid, free again once nothing of it runs

    def close(self) -> None:
        for zygote in list(self.zygotes):
            self._retire(zygote)


_current: contextvars.ContextVar[ZygotePool | None] = contextvars.ContextVar("zygotes", default=None)


def supported(policy: Policy) -> str | None:
    """None when kernels can be forked from a zygote at this policy, else why they start cold."""
    layer = next((layer for layer in policy.layers if layer.name == "startup"), None)
    if layer is not None and not layer.active:
        return layer.detail
    return zygote_problem(policy.level)


def described(policy: Policy, startup: str | None) -> str:
    """The policy's one-line summary, saying how this kernel actually started."""
    if startup == "cold" and supported(policy) is None:
        return policy.summary.replace("warm zygote", "cold start")
    return policy.summary


@contextlib.contextmanager
def using(policy: Policy) -> Iterator[ZygotePool | None]:
    """Kernels started in this context (by this task and the tasks it starts) fork from zygotes."""
    pool = ZygotePool(policy) if supported(policy) is None else None
    token = _current.set(pool)
    try:
        yield pool
    finally:
        _current.reset(token)
        if pool is not None:
            pool.close()


def current() -> ZygotePool | None:
    pool = _current.get()
    return pool if pool is not None and pool.usable else None


@dataclass(frozen=True)
class Request:
    """What a zygote's child needs to become one kernel start."""

    spec: dict[str, Any]
    connection: str
    env: dict[str, str]
    args: list[str]
    disk_mb: int

    def to_json(self, sockets: str, connection_path: str) -> dict[str, Any]:
        return {"spec": self.spec, "connection": self.connection, "env": self.env, "args": self.args,
                "disk_mb": self.disk_mb, "home": HOME, "sockets": sockets,
                "connection_path": connection_path, "sent": time.time()}
