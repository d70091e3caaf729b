"""Benchmark ``grader run DIR --out OUT`` against the bare nbclient floor, on the same notebooks.

    .venv/bin/python benchmarks/bench_batch.py            # 60 mixed submissions, --jobs 2
    .venv/bin/python benchmarks/bench_batch.py --n 300    # the memory target's batch size

Builds N submissions (mostly correct variants of the solution, some wrong, some garbage, some
slow), grades them with the grader in a subprocess (its own peak RSS measured from inside, kernels
excluded), runs the floor -- plain nbclient: start a kernel, run the cells, stop, two at a time --
then re-runs the finished batch, grades the solution alone, and prints every figure with its target.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
from jupyter_client import AsyncKernelManager
from nbclient import NotebookClient
from nbformat import v4

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "solutions" / "micrograd_exercises.ipynb"
PYTHON = sys.executable
# Runs the grader's CLI and reports the peak RSS of that process alone (children excluded).
BOOT = ("import resource, sys\nfrom grader.cli import main\nrc = main(sys.argv[1:])\n"
        "print('@@maxrss_kib', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
        "sys.exit(rc)\n")


def build(folder: Path, n: int, slow_seconds: float, kinds: str = "mixed") -> dict[str, str]:
    """N submissions named like an LMS download; returns student id -> kind."""
    folder.mkdir(parents=True)
    kinds_of: dict[str, str] = {}
    for i in range(n):
        sid = str(10000 + i)
        kind = "correct"
        if kinds == "mixed":
            kind = {3: "wrong", 7: "garbage", 11: "slow", 15: "wrong", 17: "slow"}.get(i % 20, "correct")
        kinds_of[sid] = kind
        path = folder / f"student{i}_{sid}_{90000 + i}_micrograd_exercises.ipynb"
        if kind == "garbage":
            path.write_bytes(os.urandom(2000) if i % 2 else b'{"cells": [ truncated')
            continue
        nb = nbformat.read(str(SOLUTION), as_version=4)
        for cell in nb.cells:
            if cell.get("id") == "q1-f":
                cell.source += f"\nstudent_{i} = {i}  # a variant\n"
            if kind == "wrong" and cell.get("id") == "q1-gradf":
                cell.source = cell.source.replace("1/c**2", "-1/c**2")
        if kind == "slow":
            nb.cells.insert(1, v4.new_code_cell(f"import time\ntime.sleep({slow_seconds})"))
        nbformat.write(nb, str(path))
    return kinds_of


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else float("nan")


# The grader's kernels keep IPython history in memory and do not capture fd output; a "tuned"
# floor gives plain nbclient the same kernel flags and an immediate (not graceful) shutdown.
TUNED_ARGS = ["--HistoryManager.hist_file=:memory:", "--IPKernelApp.capture_fd_output=False"]


async def _floor_one(path: Path, workdir: Path, n: int, tuned: bool) -> float | None:
    start = time.monotonic()
    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception:  # noqa: BLE001 -- garbage: nothing to execute
        return None
    # IPC like the grader (and no "TCP without encryption" warning per kernel).
    km = AsyncKernelManager(kernel_name="python3", transport="ipc", ip=str(workdir / f"k{n}"))
    client = NotebookClient(nb, km=km, allow_errors=True, timeout=60,
                            resources={"metadata": {"path": str(workdir)}},
                            **(dict(extra_arguments=TUNED_ARGS, shutdown_kernel="immediate")
                               if tuned else {}))
    try:
        await client.async_execute()
    finally:
        # nbclient leaves a kernel it was handed running: stop it, as `jupyter execute` does (the
        # floor's kernels used to pile up idle, hundreds of them, under every later measurement).
        if km.has_kernel:
            await km.shutdown_kernel(now=tuned)
    return time.monotonic() - start


async def _floor(paths: list[Path], workdir: Path, jobs: int, tuned: bool) -> list[float]:
    queue = list(enumerate(paths))
    latencies: list[float] = []

    async def worker() -> None:
        while queue:
            n, path = queue.pop(0)
            latency = await _floor_one(path, workdir, n, tuned)
            if latency is not None:
                latencies.append(latency)

    await asyncio.gather(*(worker() for _ in range(jobs)))
    return latencies


def floor(paths: list[Path], jobs: int, tuned: bool = False) -> tuple[float, list[float]]:
    """Wall time and per-notebook latencies of plain nbclient over ``paths``, ``jobs`` at a time."""
    with tempfile.TemporaryDirectory() as work:
        start = time.monotonic()
        latencies = asyncio.run(_floor(paths, Path(work), jobs, tuned))
        return time.monotonic() - start, latencies


def _tree_pss_kib(root: int) -> int:
    """Proportional set size of ``root`` and every descendant (zygotes and kernels included):
    pages a zygote shares with its children are counted once, split between them."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    ppid = int(fh.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            parents.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo += parents.get(pid, [])
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                total += next(int(line.split()[1]) for line in fh if line.startswith("Pss:"))
        except (OSError, StopIteration, ValueError):
            continue
    return total


def grader(args: list[str], env: dict[str, str] | None = None,
           tree: list[int] | None = None) -> tuple[float, int, int]:
    """Wall time, exit code and peak RSS (KiB) of one ``grader`` command; ``tree`` gets the peak
    PSS (KiB) of the grader with its zygotes and kernels, sampled every 0.2 s."""
    start = time.monotonic()
    proc = subprocess.Popen([PYTHON, "-c", BOOT, *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            peak[0] = max(peak[0], _tree_pss_kib(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    if tree is not None:
        sampler.start()
    stdout, stderr = proc.communicate()
    done.set()
    if tree is not None:
        sampler.join()
        tree.append(peak[0])
    proc = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    wall = time.monotonic() - start
    rss = next((int(line.split()[1]) for line in proc.stderr.splitlines()
                if line.startswith("@@maxrss_kib")), -1)
    if proc.returncode not in (0, 4):
        print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
    return wall, proc.returncode, rss


def latencies_from(out: Path, kinds: dict[str, str], only: str | None = None) -> list[float]:
    values = []
    for record in (out / "submissions").glob("*/result.json"):
        data = json.loads(record.read_text())
        if kinds.get(data["id"]) != "garbage" and (only is None or kinds.get(data["id"]) == only):
            values.append(data["result"]["execution_time"])
    return values


def check_grades(out: Path, kinds: dict[str, str]) -> str:
    with open(out / "grades.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    totals = {row["id"]: [row["total"], row["status"]] for row in rows}
    bad = [sid for sid, kind in kinds.items()
           if (kind in ("correct", "slow") and totals.get(sid) != ["10", "graded"])
           or (kind == "wrong" and totals.get(sid, ["", ""])[1] != "graded")
           or (kind == "garbage" and totals.get(sid, ["", ""])[1] != "rejected")]
    return f"{len(rows)} rows, " + (f"UNEXPECTED: {bad[:5]}" if bad else "all as expected")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--n", type=int, default=60, help="submissions in the mixed batch (300: memory target)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--slow", type=float, default=3.0, help="seconds the slow notebooks sleep")
    parser.add_argument("--correct", type=int, default=40,
                        help="size of the all-correct batch (0 to skip it)")
    parser.add_argument("--no-floor", action="store_true", help="skip the nbclient floor runs")
    opts = parser.parse_args()

    def say(text: str) -> None:
        print(text, flush=True)

    def load() -> str:
        return "load avg %.1f" % os.getloadavg()[0]

    def floors(paths: list[Path], n: int, g_wall: float) -> None:
        for tuned in (False, True):
            f_wall, f_lat = floor(paths, opts.jobs, tuned)
            label = "tuned nbclient floor" if tuned else "plain nbclient floor"
            say(f"  {label:22s} {f_wall:6.1f} s  {n / f_wall:5.2f} notebooks/s  p50 {pct(f_lat, .5):.2f} s"
                f"  p95 {pct(f_lat, .95):.2f} s  -> grader/floor wall ratio {g_wall / f_wall:.2f}"
                f", floor/grader speed {f_wall / g_wall:.2f}x (target >= 2.4)  [{load()}]")

    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        tmpdir = Path(tmp)
        subs, out = tmpdir / "subs", tmpdir / "out"
        kinds = build(subs, opts.n, opts.slow)
        counts = {k: list(kinds.values()).count(k) for k in sorted(set(kinds.values()))}
        say(f"machine: {os.cpu_count()} cores, {load()}; mixed batch of {opts.n}: {counts}; "
            f"jobs={opts.jobs}; slow cells sleep {opts.slow:g} s")

        cold_out, cold_tree = tmpdir / "out-cold", []
        k_wall, rc, _ = grader(["run", str(subs), "--out", str(cold_out), "--jobs", str(opts.jobs)],
                               env={"GRADER_ZYGOTE": "0"}, tree=cold_tree)
        say(f"  grader batch, cold     {k_wall:6.1f} s  {opts.n / k_wall:5.2f} notebooks/s  "
            f"(every kernel started cold, GRADER_ZYGOTE=0)  exit {rc}  peak PSS of grader and "
            f"kernels {cold_tree[0] / 1024:.0f} MiB  [{load()}]; grades.csv: {check_grades(cold_out, kinds)}")
        tree: list[int] = []
        g_wall, rc, rss = grader(["run", str(subs), "--out", str(out), "--jobs", str(opts.jobs)], tree=tree)
        lat = latencies_from(out, kinds)
        say(f"  grader batch, zygotes  {g_wall:6.1f} s  {opts.n / g_wall:5.2f} notebooks/s (target >= 4)"
            f"  {k_wall / g_wall:.2f}x the cold batch  p50 "
            f"{pct(lat, .5):.2f} s  p95 {pct(lat, .95):.2f} s  exit {rc}  [{load()}]")
        say(f"    grader peak RSS {rss / 1024:.0f} MiB (kernels excluded; target < 250 MiB at N=300); "
            f"peak PSS of grader, zygotes and kernels {tree[0] / 1024:.0f} MiB; "
            f"grades.csv: {check_grades(out, kinds)}")
        r_wall, rc, _ = grader(["run", str(subs), "--out", str(out), "--jobs", str(opts.jobs)])
        say(f"  re-run, all current    {r_wall:6.2f} s = {100 * r_wall / g_wall:.1f}% of the first run "
            f"(target < 10%)  exit {rc}")
        if not opts.no_floor:
            floors(sorted(subs.iterdir()), opts.n, g_wall)

        if opts.correct:
            csubs, cout = tmpdir / "correct", tmpdir / "correct-out"
            ckinds = build(csubs, opts.correct, opts.slow, kinds="correct")
            c_wall, rc, _ = grader(["run", str(csubs), "--out", str(cout), "--jobs", str(opts.jobs)])
            clat = latencies_from(cout, ckinds)
            say(f"correct-only batch of {opts.correct}:")
            say(f"  grader batch           {c_wall:6.1f} s  {opts.correct / c_wall:5.2f} notebooks/s "
                f"(target >= 2)  p50 {pct(clat, .5):.2f} s  p95 {pct(clat, .95):.2f} s  exit {rc}  "
                f"[{load()}]; grades.csv: {check_grades(cout, ckinds)}")
            if not opts.no_floor:
                floors(sorted(csubs.iterdir()), opts.correct, c_wall)

        s_walls = [grader(["run", str(SOLUTION)])[0] for _ in range(3)]
        say(f"single notebook: `grader run {SOLUTION.relative_to(ROOT)}` (a fresh process): best "
            f"{min(s_walls):.2f} s of {', '.join(f'{w:.2f}' for w in s_walls)}")
        if not opts.no_floor:
            for tuned in (False, True):
                one = [floor([SOLUTION], 1, tuned)[0] for _ in range(3)]
                say(f"  {'tuned' if tuned else 'plain'} nbclient floor, one notebook (in-process, "
                    f"interpreter already up): best {min(one):.2f} s -> ratio "
                    f"{min(s_walls) / min(one):.2f} (target <= 2)")
            # The like-for-like floor: nbclient's own command line, also a fresh process.
            execute = Path(PYTHON).parent / "jupyter-execute"
            e_walls = []
            for _ in range(3):
                t0 = time.perf_counter()
                subprocess.run([str(execute), "--allow-errors", f"--output={tmpdir / 'executed.ipynb'}",
                                str(SOLUTION)], cwd=ROOT, capture_output=True)
                e_walls.append(time.perf_counter() - t0)
            say(f"  `jupyter-execute` (nbclient's CLI, a fresh process): best {min(e_walls):.2f} s -> "
                f"ratio {min(s_walls) / min(e_walls):.2f} (target <= 1.1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
