"""One kernel's isolation on the host: its uid, its folders, its launch command, its reaping.

Folder layout (``base`` made by the grader with ``mkdtemp``; as root it is root's, mode 0711):

    base/connection-N.json the grader's connection file (jupyter_client writes it; root only)
    base/kernel-N.log      the kernel's stderr for its N-th start, read by the grader from a
                           pipe and kept within a size (first and last part, see ``kernlog``)
    base/sock-N/           outside bubblewrap only: the kernel's ZeroMQ sockets for its N-th
                           start: the only folders (with ``work-N/``) that the kernel's uid can
                           write (inside bubblewrap both are tmpfs mounts of the sandbox's own,
                           size-capped, and the grader reaches the sockets through
                           ``/proc/PID/root``)
    base/work-N/           the working folder, outside bubblewrap only

Each start (a restart after a crash too) gets fresh folders, so nothing a notebook did to its
folders can break its own restart. Nothing running as root opens, creates, chowns or deletes a
path inside ``sock-N/`` or ``work-N/``
while a kernel process can still write there: the kernel receives its connection file as a
descriptor (``--ro-bind-data`` into the sandbox, ``/proc/self/fd/N`` outside it), sockets are
opened ``O_PATH | O_NOFOLLOW`` through a descriptor of ``sock-N/`` and checked to be sockets owned
by the kernel's uid before the grader connects to them (through ``/proc/self/fd/N``), and the
two folders are emptied by a process running as the kernel's uid after every process of that
uid is dead.

Where the machine gives cgroups (see ``cgroup``), every start of the kernel runs in one cgroup of
its own, made by the grader before the kernel starts and joined by the launcher before it drops
root (or, in a sandbox, before bubblewrap starts): its memory (tmpfs and children included),
processes and CPU share are the sandbox's, and the whole cgroup is killed at teardown.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

from ..model import Limits
from . import cgroup
from . import usage
from .allowlist import (CONNECTION, HOME, SOCKETS, bwrap_args, landlock_abi, landlock_rules, memfd,
                        passwd_entries, sandbox_env)
from .kernlog import BoundedLog, Budget
from .identity import Identity, closed_on_the_way
from .policy import Level, Policy
from .reap import PidNamespace, _session_of, children_of, hold_pidns, kill_token, kill_uid, pids, uid_of
from . import zygote as zygotes

_LAUNCHER = base64.b64encode(Path(__file__).with_name("_launcher.py").read_bytes()).decode()
_BOOT = ("import base64,sys;exec(compile(base64.b64decode(sys.argv.pop(1)),'grader-launcher',"
         "'exec'))")
# Run as the kernel's uid once its processes are dead: empty the folders it could write.
_EMPTY = r"""
import os, shutil, stat, sys
me = os.getuid()
def wipe(path):
    for root, dirs, files in os.walk(path):
        for d in dirs:
            try: os.chmod(os.path.join(root, d), 0o700)
            except OSError: pass
    for name in os.listdir(path):
        p = os.path.join(path, name)
        try:
            if os.path.isdir(p) and not os.path.islink(p): shutil.rmtree(p, ignore_errors=True)
            else: os.unlink(p)
        except OSError: pass
for folder in sys.argv[1:]:
    if folder.startswith("shared:"):  # a world-writable folder: only what this uid owns
        folder = folder[7:]
        try: names = os.listdir(folder)
        except OSError: continue
        for name in names:
            p = os.path.join(folder, name)
            try: st = os.lstat(p)
            except OSError: continue
            if st.st_uid != me: continue
            if stat.S_ISDIR(st.st_mode):
                try: os.chmod(p, 0o700)
                except OSError: pass
                wipe(p)
                try: os.rmdir(p)
                except OSError: pass
            else:
                try: os.unlink(p)
                except OSError: pass
    else:
        try: wipe(folder)
        except OSError: pass
"""
_SHARED_TMP = ("/tmp", "/var/tmp", "/dev/shm")


def _parent(identity: Identity | None) -> str | None:
    """Where kernel folders go: the temp folder, unless the kernel's uid could not pass through it
    (a private TMPDIR of root's); then /tmp or /var/tmp."""
    if identity is None:
        return None
    for folder in (tempfile.gettempdir(), "/tmp", "/var/tmp"):
        if not closed_on_the_way(os.path.realpath(folder), identity):
            return folder
    return None


class Jail:
    """One kernel's isolation; ``open()`` before the first start, ``close()`` when done."""

    def __init__(self, policy: Policy, limits: Limits, token: str) -> None:
        self.policy, self.limits, self.token = policy, limits, token
        self.identity: Identity | None = None
        self.base: Path | None = None
        self.pidns: PidNamespace | None = None  # the kernel's, held (see PidNamespace)
        self.outer_pid: int | None = None
        self._stack = contextlib.ExitStack()
        self._dirfd: int | None = None
        self._sock_fds: list[int] = []
        self._launch_fds: list[int] = []
        self._starts = 0
        self.kernel_pid: int | None = None   # the kernel's own process, as the host sees it
        self.group: cgroup.Group | None = None
        self.group_problem = ""
        self._log: BoundedLog | None = None
        self._log_budget = Budget()
        self._reached: list[str] = []    # limits the sandbox passed (measured without a cgroup)
        self._demoted: dict[int, int | None] = {}
        # The kernel's threads before any cell ran; None until the kernel has settled (nothing is
        # demoted before: the threads ipykernel starts then are its own, not the notebook's).
        self._own_threads: frozenset[int] | None = None
        self.child: zygotes.Child | None = None  # this start's kernel, forked from a zygote
        self.forking = False  # True while kernels of this jail come from a zygote (no uid of its own)

    @property
    def sandboxed(self) -> bool:
        return self.policy.level is Level.SANDBOX

    @property
    def own_uid(self) -> bool:
        """True when no other process on the machine has the kernel's uid (a pooled uid)."""
        return self.identity is not None and self.policy.user is None

    # ------------------------------------------------------------------ folders

    def open(self, forking: bool = False) -> None:
        """Take a uid (unless kernels come from a zygote, which has its own) and make the folders."""
        self.forking = forking
        try:
            if not forking:
                self._own_identity()
            self.base = Path(tempfile.mkdtemp(prefix="grader-", dir=_parent(self.identity)))
            if self.identity is not None:
                os.chmod(self.base, 0o711)  # the kernel's uid may pass through, not list or write
            self._make_group()
        except BaseException:
            self.close()
            raise

    def _own_identity(self) -> None:
        if self.policy.user is not None:
            self.identity = self.policy.user
        elif self.policy.pool is not None:
            self.identity = self._stack.enter_context(self.policy.pool.acquire())

    def cold(self) -> None:
        """From now on, start this jail's kernels cold (a zygote could not give one)."""
        if self.forking:
            self.forking = False
            self.identity = None
            self._own_identity()

    def _make_group(self) -> None:
        hierarchy = self.policy.cgroups
        if hierarchy is None or hierarchy.kind is cgroup.Kind.NONE:
            return
        budget = cgroup.Budget(self.limits.memory_mb, self.limits.max_processes)
        try:
            self.group = cgroup.Group.create(hierarchy, f"grader-{cgroup.tag()}-{self.token[:12]}",
                                             budget)
        except OSError as exc:  # the kernel then runs under per-process limits only
            self.group_problem = f"no cgroup for this kernel ({exc.strerror or exc})"

    def cpu_seconds(self) -> float | None:
        """CPU time the sandbox used so far (its cgroup's; None without one)."""
        return self.group.cpu_seconds() if self.group is not None else None

    def limits_reached(self) -> list[str]:
        """The sandbox limits it met so far, in words (cgroup events, else measured)."""
        if self.group is None:
            return list(self._reached)
        hits, said = self.group.events(), []
        if hits.get("oom_kill"):
            said.append(f"its memory limit ({self.limits.memory_mb} MiB for the kernel, its "
                        f"children and files together)")
        if hits.get("pids_max"):
            said.append(f"its process limit ({self.limits.max_processes})")
        return said

    def over_budget(self) -> str | None:
        """Without a cgroup: measure the sandbox, and kill it when it is over its budget."""
        if self.group is not None or self.outer_pid is None:
            return None
        also: tuple[int, ...] = ()
        if not self.sandboxed:  # outside a PID namespace a process can leave the kernel's tree
            if self.own_uid:
                assert self.identity is not None
                uid = self.identity.uid
                also = tuple(pid for pid in pids() if uid_of(pid) == uid)
            else:
                session = self.outer_pid
                also = tuple(pid for pid in pids() if _session_of(pid) == session)
        used = usage.measure(self.outer_pid, self.kernel_pid,
                             (HOME, "/tmp", "/dev/shm") if self.sandboxed else (), also)
        if self._own_threads is not None:
            usage.demote(used.pids, {self.outer_pid, *([self.kernel_pid] if self.kernel_pid else [])},
                         self._demoted, self._own_threads)
        found = usage.over(used, self.limits.memory_mb)
        if found is not None:
            if found not in self._reached:
                self._reached.append(found)
            self.stop()
        return found

    def settled(self) -> None:
        """The kernel is ready and has run none of the notebook's code: its threads now are its
        own (kept at their priority); every later one is the notebook's (demoted, see ``usage``)."""
        self._own_threads = frozenset(usage.threads_of(self.kernel_pid) if self.kernel_pid else ())

    def next_start(self) -> None:
        """Fresh folders for the next start of the kernel (the first, or a restart)."""
        assert self.base is not None
        self._own_threads = None  # the next kernel's own threads are known once it settles
        self._close_launch_fds()
        if self._dirfd is not None:
            os.close(self._dirfd)
            self._dirfd = None
        self._starts += 1
        if self.sandboxed:
            return  # the sockets live in a tmpfs inside the sandbox: see _sandbox_sockets
        for name in ("sock", "work"):
            folder = self.base / f"{name}-{self._starts}"
            os.mkdir(folder, 0o700)
            if self.identity is not None:
                os.chown(folder, self.identity.uid, self.identity.gid)
        self._dirfd = os.open(self.sockdir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)

    @property
    def sockdir(self) -> Path:
        assert self.base is not None
        return self.base / f"sock-{self._starts}"

    @property
    def ip(self) -> str:
        """The socket path prefix the grader's side writes into its connection file."""
        return str(self.sockdir / "k")

    @property
    def connection_file(self) -> str:
        assert self.base is not None
        return str(self.base / f"connection-{self._starts}.json")

    def log_tail(self) -> str:
        return self._log.last() if self._log is not None else ""

    # ------------------------------------------------------------------ launch

    def command(self, kernel_args: list[str], env: dict[str, str]
                ) -> tuple[list[str], dict[str, Any], dict[str, str]]:
        """argv, extra ``Popen`` arguments and environment for the next start of the kernel.

        ``kernel_args`` follow ``python -m ipykernel_launcher -f CONNECTION``. The grader's
        connection file must have been written (``KernelManager.write_connection_file``).
        """
        assert self.base is not None
        self._close_launch_fds()
        info = json.loads(Path(self.connection_file).read_bytes())
        if self.sandboxed:
            info["ip"] = f"{SOCKETS}/k"
        conn = memfd(json.dumps(info).encode())
        self._close_log(0.5)  # the last start's processes are dead: its log is all but written
        read, log = os.pipe2(os.O_CLOEXEC)
        self._log = BoundedLog(self.base / f"kernel-{self._starts}.log", read, self._log_budget)
        self._launch_fds = [conn, log]
        spec: dict[str, Any] = {
            "memory_mb": self.limits.memory_mb, "cpu_seconds": self.limits.cpu_seconds,
            "file_size_mb": self.limits.file_size_mb, "max_processes": self.limits.max_processes,
            "oom_score_adj": 1000}
        if self.policy.level is Level.NAMESPACES:
            spec["hide"] = list(self.policy.hide)
        if self.policy.level is Level.USER and landlock_abi() >= 1:  # no namespaces: an allow-list
            spec["landlock"] = landlock_rules([str(self.base / f"work-{self._starts}"), str(self.sockdir)])
        if not self.sandboxed and self.identity is not None:
            spec.update(uid=self.identity.uid, gid=self.identity.gid)
        elif not self.sandboxed:  # the grader's own uid: its other processes count towards the limit too
            spec["processes_above_own"] = True
        joins = self.group.procs_files if self.group is not None else []
        if joins and not self.sandboxed:
            spec["cgroup"] = joins
        kernel = [sys.executable, "-I", "-m", "ipykernel_launcher", "-f",
                  CONNECTION if self.sandboxed else f"/proc/self/fd/{conn}", *kernel_args]
        launcher = [sys.executable, "-I", "-S", "-c", _BOOT, _LAUNCHER,
                    base64.b64encode(json.dumps(spec).encode()).decode(), "--", *kernel]
        popen: dict[str, Any] = {"stdout": subprocess.DEVNULL, "stderr": log}
        if self.sandboxed:
            passwd, group = (memfd(data) for data in passwd_entries())
            self._launch_fds += [passwd, group]
            argv = [*bwrap_args(self.policy.bwrap or "bwrap", connection_fd=conn, passwd_fd=passwd, group_fd=group,
                                disk_mb=self.limits.disk_mb)[:-1],
                    "--unsetenv", "JPY_PARENT_PID", "--", *launcher]
            env = sandbox_env(env)
            popen["cwd"] = str(self.base)
            if joins:  # bubblewrap starts in the cgroup: the launcher joins it, then drops root
                outer: dict[str, Any] = {"cgroup": joins}
                if self.identity is not None:
                    outer.update(uid=self.identity.uid, gid=self.identity.gid)
                argv = [sys.executable, "-I", "-S", "-c", _BOOT, _LAUNCHER,
                        base64.b64encode(json.dumps(outer).encode()).decode(), "--", *argv]
            elif self.identity is not None:  # bubblewrap itself starts unprivileged
                popen.update(user=self.identity.uid, group=self.identity.gid, extra_groups=[])
        else:
            argv = launcher
            work = self.base / f"work-{self._starts}"
            env = {**env, "HOME": str(work), "TMPDIR": str(work),
                   "IPYTHONDIR": str(work / ".ipython"), "MPLCONFIGDIR": str(work / ".matplotlib")}
            popen["cwd"] = str(work)
        popen["pass_fds"] = tuple(fd for fd in self._launch_fds if fd != log)
        return argv, popen, env

    def zygote_request(self, kernel_args: list[str], env: dict[str, str]) -> tuple[dict[str, Any], int]:
        """What a zygote's child needs to become the next start of the kernel, and the write end
        of its log (the caller closes it once the zygote has it)."""
        assert self.base is not None
        self._close_launch_fds()
        info = json.loads(Path(self.connection_file).read_bytes())
        info["ip"] = f"{SOCKETS}/k"
        self._close_log(0.5)
        read, log = os.pipe2(os.O_CLOEXEC)
        self._log = BoundedLog(self.base / f"kernel-{self._starts}.log", read, self._log_budget)
        spec = {"memory_mb": self.limits.memory_mb, "cpu_seconds": self.limits.cpu_seconds,
                "file_size_mb": self.limits.file_size_mb, "oom_score_adj": 1000,
                # the zygote and the child's two waiting processes share the kernel's uid
                "max_processes": self.limits.max_processes + 3}
        request = zygotes.Request(spec, json.dumps(info), sandbox_env(env), kernel_args,
                                  self.limits.disk_mb).to_json(SOCKETS, CONNECTION)
        return request, log

    def forked(self, child: zygotes.Child) -> None:
        """A zygote's child is in its cgroup and on its way to becoming the kernel."""
        self.child = child
        self.identity = child.zygote.identity
        self.outer_pid = child.pid

    def forked_kernel(self, pid: int) -> None:
        self.kernel_pid = pid
        self._hold_pidns(pid)

    def _hold_pidns(self, pid: int) -> None:
        self._release_pidns()
        self.pidns = hold_pidns(pid)

    def _release_pidns(self) -> None:
        if self.pidns is not None:
            self.pidns.release()
            self.pidns = None

    def launched(self, pid: int | None) -> None:
        """The kernel's process (bubblewrap's, inside it) has started: drop the launch descriptors."""
        self.outer_pid = pid
        if not self.sandboxed:
            self.kernel_pid = pid  # the launcher became the kernel
        self._close_launch_fds()

    def _close_launch_fds(self) -> None:
        for fd in self._launch_fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._launch_fds = []

    async def sockets(self, ports: dict[str, int], alive: Callable[[], Awaitable[bool]],
                      timeout: float) -> dict[str, str]:
        """ZeroMQ URLs for the kernel's channels, once it has bound them all.

        Each socket is opened without following links and must be a socket owned by the
        kernel's uid; the grader then connects through its own descriptor of it, so no later
        swap in the folder can redirect the connection.
        """
        owner = self.identity.uid if self.identity is not None else os.getuid()
        urls: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        checked_alive = time.monotonic()
        while len(urls) < len(ports):
            if self.child is not None and self._dirfd is None and self.kernel_pid is not None:
                with contextlib.suppress(OSError):
                    self._dirfd = os.open(f"/proc/{self.kernel_pid}/root{SOCKETS}",
                                          os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
            elif self.sandboxed and self._dirfd is None:
                self._dirfd = self._sandbox_sockets()
            for channel, port in ports.items():
                if channel in urls or self._dirfd is None:
                    continue
                try:
                    fd = os.open(f"k-{port}", os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC,
                                 dir_fd=self._dirfd)
                except FileNotFoundError:
                    continue
                st = os.fstat(fd)
                if not stat.S_ISSOCK(st.st_mode) or st.st_uid != owner:
                    os.close(fd)
                    raise OSError(f"the kernel's {channel} socket is not a socket it owns")
                self._sock_fds.append(fd)
                urls[channel] = f"ipc:///proc/self/fd/{fd}"
            if len(urls) == len(ports):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"the kernel did not open its sockets within {timeout:.0f} s")
            if time.monotonic() - checked_alive > 0.5:
                checked_alive = time.monotonic()
                if not await alive():
                    raise OSError("the kernel exited before it opened its sockets")
            await asyncio.sleep(0.01)
        return urls

    def _sandbox_sockets(self) -> int | None:
        """The sandbox's own socket folder (a small tmpfs inside it), seen through the kernel's
        ``/proc/PID/root``, once bubblewrap has built the sandbox and started the kernel in it."""
        if self.outer_pid is None:
            return None
        mine = os.readlink("/proc/self/ns/mnt")
        for init in children_of(self.outer_pid):  # bubblewrap's first process in the sandbox
            for kernel in children_of(init):       # the command, started once the root is built
                try:
                    if os.readlink(f"/proc/{kernel}/ns/mnt") == mine:
                        continue
                    fd = os.open(f"/proc/{kernel}/root{SOCKETS}",
                                 os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
                except OSError:
                    continue
                self._hold_pidns(init)
                self.kernel_pid = kernel
                return fd
        return None

    # ------------------------------------------------------------------ teardown

    def stop(self) -> None:
        """Kill every process of this kernel, and forget its sockets."""
        for fd in self._sock_fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._sock_fds = []
        if self.group is not None:
            self.group.kill()
        if self.pidns is not None:
            self.pidns.kill()
        self._release_pidns()
        if self.child is not None:  # its namespace dies with it; the zygote's uid is not the kernel's alone
            self.child.end()
            self.child = None
            self.identity = None
            return
        if self.own_uid:
            assert self.identity is not None
            kill_uid(self.identity.uid)
        elif not self.sandboxed:
            kill_token(self.token, self.outer_pid)

    def close(self) -> None:
        """Kill, remove every file the kernel wrote, release the uid."""
        try:
            self.stop()
            self._close_launch_fds()
            if self._dirfd is not None:
                os.close(self._dirfd)
                self._dirfd = None
            self._close_log()
            if self.base is not None:
                self._remove()
            if self.group is not None:
                self.group.remove()
                self.group = None
        finally:
            self._stack.close()

    def _close_log(self, timeout: float = 5.0) -> None:
        if self._log is not None:
            self._log.close(timeout)
            self._log = None

    def _remove(self) -> None:
        assert self.base is not None
        folders = [str(p) for p in sorted(self.base.iterdir())
                   if p.name.startswith(("sock-", "work-")) and not p.is_symlink() and p.is_dir()]
        if self.own_uid and not self.sandboxed:
            folders += [f"shared:{path}" for path in _SHARED_TMP]
        if self.identity is not None and folders:  # as the kernel's uid: root never deletes there
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                subprocess.run([sys.executable, "-I", "-S", "-c", _EMPTY, *folders],
                               user=self.identity.uid, group=self.identity.gid, extra_groups=[],
                               cwd="/", env={}, timeout=60, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        shutil.rmtree(self.base, ignore_errors=True)  # fd-based: never follows a link
        self.base = None
