"""A budget per sandbox: each kernel (and its restarts, children and tmpfs) in a cgroup of its own.

cgroup v2 where this process may write a subtree with the memory and pids controllers (root on
most machines, a delegated subtree for an ordinary user, a container): ``memory.max`` and
``memory.swap.max``, ``pids.max``, ``cpu.weight`` and ``cpu.max``; else cgroup v1 where root can
write the memory and pids hierarchies: ``memory.limit_in_bytes`` (and ``memsw``), ``pids.max``,
``cpu.shares`` and ``cpu.cfs_quota_us``; else nothing (the caller falls back to per-process limits).
Memory a kernel writes into its tmpfs is charged to its cgroup, as are the inodes it creates.

Every folder here is made by the grader and stays root's (or the grader user's): the kernel's uid is
never given one, so a kernel under a uid of its own (as root), or in a bubblewrap sandbox (whose
allow-list mounts no cgroup file system), or held by Landlock at the ``user`` level, cannot leave
its cgroup or raise its limits. That does not hold for an ordinary user's kernel at the ``none``
level (or at ``user`` without Landlock) with a delegated v2 subtree: the kernel runs as the
grader's own uid, which owns the folders, so a notebook could write its own ``memory.max`` or move
itself into the parent's ``cgroup.procs``; there the cgroup is a budget, not a wall. ``root`` (a
folder that stands for ``/``) lets tests run the same code against a fake cgroup tree.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import os
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

_MIB = 1024 * 1024
_PERIOD_US = 100_000


class Kind(str, enum.Enum):
    """Which cgroup interface kernels' budgets are enforced through."""

    V2 = "v2"
    V1 = "v1"
    NONE = "none"


@dataclass(frozen=True)
class Budget:
    """One sandbox's share of the machine."""

    memory_mb: int
    processes: int
    cpus: float | None = None   # a hard cap in cores (None: only an equal share when contended)


@dataclass(frozen=True)
class Hierarchy:
    """Where kernels' cgroups are made: for v2 one folder (key ``""``), for v1 one per controller."""

    kind: Kind
    bases: tuple[tuple[str, Path], ...] = ()
    detail: str = ""
    fake: bool = False   # a test's folder standing for the cgroup file system
    enabled: tuple[str, ...] = ()   # v2: the controllers enabled for kernels' cgroups

    def base(self, controller: str) -> Path | None:
        return next((path for name, path in self.bases if name == controller), None)

    @property
    def controls(self) -> tuple[str, ...]:
        """What a kernel's cgroup limits: some of memory, pids, cpu (and cpu time is measured)."""
        if self.kind is Kind.V2:
            return self.enabled
        return tuple(c for c in ("memory", "pids", "cpu") if self.base(c) is not None)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _words(text: str) -> set[str]:
    return set(text.split())


def _write(path: Path, value: str) -> None:
    with open(path, "w") as fh:
        fh.write(value)


def _mounts(root: Path) -> list[tuple[str, str, str, set[str]]]:
    """(mount point, mount root, fstype, super options) of every cgroup mount this process sees."""
    found = []
    for line in _read(root / "proc/self/mountinfo").splitlines():
        left, _, right = line.partition(" - ")
        fields, rest = left.split(), right.split()
        if len(fields) < 5 or len(rest) < 3 or rest[0] not in ("cgroup", "cgroup2"):
            continue
        point = fields[4].replace("\\040", " ")
        found.append((point, fields[3], rest[0], set(rest[2].split(","))))
    return found


def _own(root: Path) -> dict[str, str]:
    """This process's cgroup path per v1 controller, and under key ``""`` for v2."""
    paths: dict[str, str] = {}
    for line in _read(root / "proc/self/cgroup").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and not parts[1]:
            paths[""] = parts[2]
        for controller in parts[1].split(","):
            if controller:
                paths[controller] = parts[2]
    return paths


def _folder(root: Path, point: str, mount_root: str, path: str) -> Path:
    """The folder of cgroup ``path`` in a hierarchy mounted at ``point`` (from ``mount_root``)."""
    if mount_root != "/" and (path == mount_root or path.startswith(mount_root + "/")):
        path = path[len(mount_root):]
    return root / point.lstrip("/") / path.lstrip("/")


def detect(root: Path = Path("/"), *, pid: int | None = None) -> Hierarchy:
    """The cgroup interface this process can give kernels, and where (v2, else v1, else none)."""
    mounts, own = _mounts(root), _own(root)
    pid = os.getpid() if pid is None else pid
    why = []
    for point, mount_root, fstype, _ in mounts:
        if fstype == "cgroup2" and "" in own:
            base = _folder(root, point, mount_root, own[""])
            v2 = _setup_v2(base, pid, fake=root != Path("/"))
            if isinstance(v2, Hierarchy):
                return v2
            why.append(v2)
            break
    bases = []
    for controller in ("memory", "pids", "cpu", "cpuacct"):
        for point, mount_root, fstype, options in mounts:
            if fstype == "cgroup" and controller in options and controller in own:
                base = _folder(root, point, mount_root, own[controller])
                if base.is_dir() and os.access(base, os.W_OK):
                    bases.append((controller, base))
                break
    names = [name for name, _ in bases]
    if "memory" in names and "pids" in names:
        return Hierarchy(Kind.V1, tuple(bases), "cgroup v1 (" + ", ".join(names) + ")",
                         fake=root != Path("/"))
    if any(fstype == "cgroup" for _, _, fstype, _ in mounts):
        why.append("cgroup v1: the memory and pids hierarchies are not writable here")
    return Hierarchy(Kind.NONE, (), "; ".join(why) or "no cgroup file system")


def tag(pid: int | None = None) -> str:
    """``PID.STARTTIME`` of a grader process: names its cgroups, and tells whether it still runs."""
    pid = os.getpid() if pid is None else pid
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        return f"{pid}.{int(stat[stat.rfind(b')') + 2:].split()[19])}"
    except (OSError, ValueError, IndexError):
        return str(pid)


def _stale(name: str) -> bool:
    """A cgroup folder ``grader-PID.START-...`` whose grader process no longer runs."""
    owner = name[len("grader-"):].split("-", 1)[0]
    pid = owner.split(".", 1)[0]
    return pid.isdigit() and "." in owner and tag(int(pid)) != owner


def sweep(hierarchy: Hierarchy) -> int:
    """Kill and remove the kernels' cgroups of graders that died without removing them (kill -9);
    returns how many kernels' (or graders') cgroups were removed.

    Only kernels' cgroups are killed: on v2 the ``grader-TAG-kernels`` subtrees, on v1 the kernels'
    own folders. A v2 leaf ``grader-TAG`` holds the processes a grader found in its own cgroup (a
    container's first process, a shell, an editor), never started by a grader: it is removed only
    when no process is left in it, and what is in it is never killed.
    """
    removed: set[str] = set()
    places = [base.parent if hierarchy.kind is Kind.V2 else base for _, base in hierarchy.bases]
    seen = set()
    for controller, place in zip([c for c, _ in hierarchy.bases], places):
        if place in seen:
            continue
        seen.add(place)
        try:
            entries = [e for e in place.iterdir() if e.name.startswith("grader-") and e.is_dir()]
        except OSError:
            continue
        for entry in entries:
            if not _stale(entry.name):
                continue
            if hierarchy.kind is Kind.V2 and not entry.name.endswith("-kernels"):
                if _remove_if_empty(entry, fake=hierarchy.fake):
                    removed.add(entry.name)
                continue
            inner = [e for e in entry.iterdir() if e.is_dir()] if hierarchy.kind is Kind.V2 else []
            for folder in [*inner, entry]:
                Group(hierarchy, {controller: folder}).remove()
            removed.add(entry.name)
    return len(removed)


def _remove_if_empty(folder: Path, *, fake: bool) -> bool:
    """Remove the cgroup ``folder`` if no process is in it (nor in a cgroup below it)."""
    if _read(folder / "cgroup.procs").split() or any(e.is_dir() for e in folder.iterdir()):
        return False
    try:
        if fake:
            shutil.rmtree(folder)
        else:
            folder.rmdir()  # refused (EBUSY) if a process joined it meanwhile
    except OSError:
        return False
    return True


def _setup_v2(base: Path, pid: int, *, fake: bool) -> Hierarchy | str:
    """A subtree of this process's own v2 cgroup with memory, pids (and cpu) enabled for kernels.

    v2 lets a cgroup with processes in it hand no controller down, so when the grader sits in
    ``base`` itself it first moves into a leaf of its own, ``base/grader-PID``.
    """
    wanted: list[str] = [c for c in ("memory", "pids", "cpu") if c in _words(_read(base / "cgroup.controllers"))]
    if "memory" not in wanted or "pids" not in wanted:
        return f"cgroup v2: the memory and pids controllers are not available in {base}"
    if not os.access(base, os.W_OK) or not os.access(base / "cgroup.subtree_control", os.W_OK):
        return f"cgroup v2: {base} is not delegated to this user"
    kernels = base / f"grader-{tag(pid)}-kernels"
    try:
        _enable(base, wanted, pid)
        kernels.mkdir(exist_ok=True)
        _write(kernels / "cgroup.subtree_control", " ".join("+" + c for c in wanted))
    except OSError as exc:
        return f"cgroup v2: cannot make a subtree in {base} ({exc.strerror or exc})"
    return Hierarchy(Kind.V2, (("", kernels),), f"cgroup v2 ({', '.join(wanted)})", fake=fake,
                     enabled=tuple(wanted))


def _enable(base: Path, wanted: list[str], pid: int) -> None:
    control = " ".join("+" + c for c in wanted)
    if set(wanted) <= _words(_read(base / "cgroup.subtree_control")):
        return
    try:
        _write(base / "cgroup.subtree_control", control)
        return
    except OSError as exc:
        if exc.errno != errno.EBUSY:
            raise
    # Processes in base (the grader; in a container, also its first process and its shell):
    # move them into a leaf below it, where the same limits still apply.
    leaf = base / f"grader-{tag(pid)}"
    leaf.mkdir(exist_ok=True)
    _write(leaf / "cgroup.procs", str(pid))
    for other in _read(base / "cgroup.procs").split():
        with contextlib.suppress(OSError):
            _write(leaf / "cgroup.procs", other)
    _write(base / "cgroup.subtree_control", control)


@dataclass
class Group:
    """One kernel's cgroup (one folder per hierarchy for v1)."""

    hierarchy: Hierarchy
    folders: dict[str, Path] = field(default_factory=dict)

    @classmethod
    def create(cls, hierarchy: Hierarchy, name: str, budget: Budget) -> Group:
        """Make the cgroup ``name`` with ``budget``; raises OSError when the kernel cannot have it."""
        group = cls(hierarchy)
        try:
            if hierarchy.kind is Kind.V2:
                group._make("", hierarchy.bases[0][1] / name)
                group._limits_v2(budget)
            elif hierarchy.kind is Kind.V1:
                for controller, base in hierarchy.bases:
                    group._make(controller, base / name)
                group._limits_v1(budget)
        except OSError:
            group.remove()
            raise
        return group

    def _make(self, controller: str, folder: Path) -> None:
        if folder not in self.folders.values():  # co-mounted controllers (cpu,cpuacct) share one
            folder.mkdir(mode=0o755)
        self.folders[controller] = folder

    def _limits_v2(self, budget: Budget) -> None:
        folder = self.folders[""]
        _write(folder / "memory.max", str(budget.memory_mb * _MIB))
        with contextlib.suppress(OSError):  # no swap configured: nothing to cap
            _write(folder / "memory.swap.max", "0")
        _write(folder / "pids.max", str(budget.processes))
        if "cpu" in self.hierarchy.controls:
            _write(folder / "cpu.weight", "100")
            if budget.cpus is not None:
                _write(folder / "cpu.max", f"{int(budget.cpus * _PERIOD_US)} {_PERIOD_US}")

    def _limits_v1(self, budget: Budget) -> None:
        memory = self.folders["memory"]
        _write(memory / "memory.limit_in_bytes", str(budget.memory_mb * _MIB))
        if (memory / "memory.memsw.limit_in_bytes").exists():  # swap included: no escape to swap
            with contextlib.suppress(OSError):
                _write(memory / "memory.memsw.limit_in_bytes", str(budget.memory_mb * _MIB))
        _write(self.folders["pids"] / "pids.max", str(budget.processes))
        if "cpu" in self.folders:
            cpu = self.folders["cpu"]
            _write(cpu / "cpu.shares", "1024")
            if budget.cpus is not None:
                _write(cpu / "cpu.cfs_period_us", str(_PERIOD_US))
                _write(cpu / "cpu.cfs_quota_us", str(int(budget.cpus * _PERIOD_US)))

    @property
    def procs_files(self) -> list[str]:
        """The files a process writes its pid to, to join this cgroup (every hierarchy's)."""
        return sorted({str(folder / "cgroup.procs") for folder in self.folders.values()})

    def join(self, pid: int) -> None:
        for path in self.procs_files:
            _write(Path(path), str(pid))

    def pids(self) -> list[int]:
        folder = self.folders.get("") or self.folders.get("pids") or self.folders.get("memory")
        if folder is None:
            return []
        return [int(p) for p in _read(folder / "cgroup.procs").split() if p.isdigit()]

    def cpu_seconds(self) -> float | None:
        """CPU time every process of the cgroup used so far (None when not measured)."""
        if "" in self.folders:
            for line in _read(self.folders[""] / "cpu.stat").splitlines():
                if line.startswith("usage_usec "):
                    return int(line.split()[1]) / 1e6
            return None
        if "cpuacct" in self.folders:
            text = _read(self.folders["cpuacct"] / "cpuacct.usage").strip()
            return int(text) / 1e9 if text.isdigit() else None
        return None

    def events(self) -> dict[str, int]:
        """How often a limit bit: ``oom_kill`` (memory) and ``pids_max`` (processes)."""
        counts = {"oom_kill": 0, "pids_max": 0}
        if "" in self.folders:
            memory, pids = self.folders[""] / "memory.events", self.folders[""] / "pids.events"
        elif self.folders:
            memory = self.folders.get("memory", Path("/nonexistent")) / "memory.oom_control"
            pids = self.folders.get("pids", Path("/nonexistent")) / "pids.events"
        else:
            return counts
        for key, path, name in (("oom_kill", memory, "oom_kill"), ("pids_max", pids, "max")):
            for line in _read(path).splitlines():
                words = line.split()
                if len(words) == 2 and words[0] == name and words[1].isdigit():
                    counts[key] = int(words[1])
        return counts

    def kill(self) -> None:
        """Kill every process in the cgroup: ``cgroup.kill`` on v2, else each pid until none is left."""
        if "" in self.folders:
            with contextlib.suppress(OSError):
                _write(self.folders[""] / "cgroup.kill", "1")
        for _ in range(100):
            found = self.pids()
            if not found:
                return
            for pid in found:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)

    def remove(self) -> None:
        """Kill what is left and remove the folders (a dying process may hold one a moment)."""
        self.kill()
        for controller, folder in list(self.folders.items()):
            if self.hierarchy.fake:
                shutil.rmtree(folder, ignore_errors=True)
            for _ in range(200):
                try:
                    folder.rmdir()
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY:
                        break
                    time.sleep(0.02)
                else:
                    break
            self.folders.pop(controller, None)
