"""Benchmark ``grader run --cluster`` against a local ``--jobs 2`` batch, on the same notebooks.

    .venv/bin/python benchmarks/bench_cluster.py            # 40 submissions
    .venv/bin/python benchmarks/bench_cluster.py --n 100

Builds N correct variants of the solution (as bench_batch.py does), grades them locally with
``--jobs 2`` and on a Dask LocalCluster of two single-threaded worker processes on this machine,
each in a subprocess, timed, alternately (``--rounds``, the best of each kept). Both are run again on the finished OUT (nothing left to grade: the
fixed cost of starting, scanning, and for the cluster connecting and checking every worker). The
overhead of the cluster is the ratio of the grading times (fixed costs subtracted) and of the
whole commands. From the measured per-notebook cost on this machine it estimates a class of
20,000 on N such machines. All figures come from this one run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_batch import build  # noqa: E402  -- the same submissions as the local benchmark

PYTHON = sys.executable
CLASS = 20_000


def timed(argv: list[str]) -> float:
    start = time.monotonic()
    done = subprocess.run([PYTHON, "-m", "grader", *argv], capture_output=True, text=True)
    elapsed = time.monotonic() - start
    if done.returncode != 0:
        sys.exit(f"grader {' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return elapsed


def mean_time(out: Path) -> float:
    times = [json.loads(p.read_text())["result"]["execution_time"]
             for p in out.glob("submissions/*/result.json")]
    return statistics.mean(times)


def main() -> None:
    from distributed import LocalCluster

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40, help="submissions (default 40)")
    parser.add_argument("--rounds", type=int, default=2, help="alternated runs of each, the best "
                                                              "kept (default 2)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        subs = Path(tmp) / "subs"
        build(subs, args.n, 0.0, kinds="correct")
        common = ["run", str(subs), "--seed", "1"]
        local_out, cluster_out = Path(tmp) / "local", Path(tmp) / "cluster"
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=":0") as cluster:  # 8787 may be taken
            address = cluster.scheduler_address
            local_argv = [*common, "--out", str(local_out), "--jobs", "2"]
            remote_argv = [*common, "--out", str(cluster_out), "--cluster", address]
            # Alternated, the best of --rounds each: a machine shared with other work drifts.
            local = remote = float("inf")
            for round_ in range(args.rounds):
                again = ["--force"] if round_ else []
                local = min(local, timed(local_argv + again))
                remote = min(remote, timed(remote_argv + again))
            local_fixed = timed(local_argv)    # nothing left to grade: the fixed costs
            remote_fixed = timed(remote_argv)
        same = (local_out / "grades.csv").read_text() == (cluster_out / "grades.csv").read_text()
        each_local, each_remote = mean_time(local_out), mean_time(cluster_out)

    grading_local = max(local - local_fixed, 1e-9)
    grading_remote = max(remote - remote_fixed, 1e-9)
    per_notebook = grading_remote / args.n  # seconds of this 2-worker machine per notebook
    print(f"{args.n} notebooks, local --jobs 2 vs a LocalCluster of 2 single-threaded workers")
    print(f"  local batch           {local:7.1f} s  (fixed cost, nothing to grade: {local_fixed:.1f} s)")
    print(f"  cluster batch         {remote:7.1f} s  (fixed cost: connect, check workers, scan: "
          f"{remote_fixed:.1f} s)")
    print(f"  grading time ratio    {grading_remote / grading_local:7.2f}  "
          f"(cluster / local, fixed costs subtracted; target <= 1.10)")
    print(f"  whole command ratio   {remote / local:7.2f}")
    print(f"  one notebook graded   {each_local:7.2f} s local, {each_remote:.2f} s on a worker "
          f"(mean, from its kernel's start to its result)")
    print(f"  same grades.csv       {'yes' if same else 'NO'}")
    print(f"  per notebook          {per_notebook:7.2f} s of one such machine "
          f"({1 / per_notebook:.1f} notebooks/s)")
    print(f"a class of {CLASS:,} on N machines like this one (2 workers each, measured cost, plus "
          f"the cluster's fixed cost):")
    for machines in (1, 10, 50, 100, 500):
        seconds = CLASS * per_notebook / machines + remote_fixed
        print(f"  N = {machines:4d}: {seconds / 3600:6.2f} h  ({seconds / 60:7.1f} min)")


if __name__ == "__main__":
    main()
