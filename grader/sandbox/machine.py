"""What this machine can give a batch: how many kernels at once, and the grader's own protection.

A batch runs at most as many kernels as the machine's available memory holds at their full
budget (with a fifth kept for the grader and the rest of the machine) and at most two per core
(more would only queue for the CPU), so that ``--jobs`` can never drive the
host into its out-of-memory killer. The grader lowers its own out-of-memory score where it may
(root); kernels raise theirs to the maximum, so the killer takes a kernel first.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..model import Limits
from . import cgroup

_MIB = 1024 * 1024
GRADER_OOM_SCORE_ADJ = -500


def available_mb() -> int | None:
    """The machine's available memory (``MemAvailable``), in MiB; None where unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def kernel_budget_mb(limits: Limits, hierarchy: cgroup.Hierarchy | None) -> int:
    """Memory one kernel can take: its cgroup's limit (tmpfs included), else its process limit
    plus its three tmpfs mounts (without a cgroup, per process: see ``sandbox-check``)."""
    if hierarchy is not None and hierarchy.kind is not cgroup.Kind.NONE:
        return limits.memory_mb
    return limits.memory_mb + 3 * limits.disk_mb


@dataclass(frozen=True)
class Fit:
    """How many kernels at once, and, when fewer than asked, why."""

    jobs: int
    notice: str = ""


def fit_jobs(wanted: int | None, limits: Limits, hierarchy: cgroup.Hierarchy | None, *,
             cores: int | None = None, memory_mb: int | None = None) -> Fit:
    """``wanted`` (None: as many as there are cores) capped to what the machine holds."""
    cores = cores or os.cpu_count() or 1
    memory_mb = available_mb() if memory_mb is None else memory_mb
    budget = kernel_budget_mb(limits, hierarchy)
    by_memory = max(1, int(memory_mb * 0.8) // budget) if memory_mb else 2 * cores
    cap = min(by_memory, 2 * cores)
    if wanted is None:
        return Fit(min(cores, cap))
    if wanted <= cap:
        return Fit(wanted)
    why = (f"{memory_mb} MiB available, {budget} MiB per kernel" if by_memory < 2 * cores
           else f"{cores} cores")
    return Fit(cap, f"--jobs {wanted} capped to {cap} ({why})")


def protect_self() -> None:
    """Make the out-of-memory killer pick a kernel before the grader (lowering needs root)."""
    if os.geteuid() != 0:
        return
    try:
        with open("/proc/self/oom_score_adj", "w") as fh:
            fh.write(str(GRADER_OOM_SCORE_ADJ))
    except OSError:
        pass


def budget_lines(hierarchy: cgroup.Hierarchy | None, limits: Limits = Limits()) -> list[str]:
    """What ``sandbox-check`` says about budgets, time limits and ``--jobs``."""
    from .clock import BACKSTOP, waited

    enforced = hierarchy is not None and hierarchy.kind is not cgroup.Kind.NONE
    how = hierarchy.detail if enforced and hierarchy is not None else "measured, no cgroup"
    fit = fit_jobs(None, limits, hierarchy)
    return [f"{'memory':<10} {limits.memory_mb} MiB per kernel, {limits.max_processes} processes "
            f"({how}); tmpfs mounts {limits.disk_mb} MiB each",
            f"{'time':<10} " + ("a kernel's own time (waiting for a CPU not counted)"
                                if waited(os.getpid()) is not None else "wall clock")
            + f", with a wall-clock backstop of {BACKSTOP:g}x each limit",
            f"{'jobs':<10} {fit.jobs} at once by default ({os.cpu_count() or 1} cores, "
            f"{available_mb() or '?'} MiB available, {kernel_budget_mb(limits, hierarchy)} MiB per kernel)"]
