"""Measure the Gradescope image: zip size, setup.sh time, run_autograder time and peak memory.

    .venv/bin/python benchmarks/bench_gradescope.py                 # the dev interpreter
    .venv/bin/python benchmarks/bench_gradescope.py --python python3.10 --runs 5

Builds autograder.zip, unpacks it into a temporary autograder root (as Gradescope would, outside
Docker: AUTOGRADER_ROOT and GRADER_VENV point into /tmp), runs setup.sh for real, then runs
run_autograder on the reference solution several times. Memory is the peak of the sum of the RSS of
run_autograder's whole process tree (grader + kernel), sampled every 10 ms, and the largest single
process as the kernel reports it (getrusage of the children). Targets: under 10 s, under 768 MB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grader.gradescope.build import build_gradescope_zip  # noqa: E402

SOLUTION = ROOT / "solutions" / "micrograd_exercises.ipynb"
TARGET_SECONDS, TARGET_MB = 10.0, 768


# Runs a command and reports its descendants' largest maxrss (what getrusage sees once they exit).
WRAPPER = ("import resource, subprocess, sys\nrc = subprocess.call(sys.argv[2:], stdout=subprocess.DEVNULL)\n"
           "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
           "sys.exit(rc)\n")


def tree_rss(proc: psutil.Process) -> int:
    """Bytes resident in the descendants of ``proc`` (not ``proc`` itself) right now."""
    total = 0
    for p in proc.children(recursive=True):
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def measured(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> tuple[float, int, int]:
    """Run ``cmd``; returns (wall seconds, peak summed tree RSS bytes, largest process's maxrss bytes)."""
    maxrss = Path(tempfile.mkstemp(prefix="grader-bench-maxrss-")[1])
    start = time.monotonic()
    child = subprocess.Popen([sys.executable, "-c", WRAPPER, str(maxrss), *cmd], env=env, cwd=cwd,
                             stdin=subprocess.DEVNULL)
    proc = psutil.Process(child.pid)
    peak = 0
    while child.poll() is None:
        try:
            peak = max(peak, tree_rss(proc))
        except psutil.Error:
            pass
        time.sleep(0.01)
    wall = time.monotonic() - start
    largest = maxrss.read_text()
    maxrss.unlink()
    if child.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed with exit code {child.returncode}")
    return wall, peak, int(largest) * 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", default=getattr(sys, "_base_executable", sys.executable),
                        help="the interpreter setup.sh builds the venv from (Gradescope: python3.10)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--assignment", default="micrograd")
    parser.add_argument("--keep", action="store_true", help="keep the temporary autograder root")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="grader-bench-gradescope-", dir="/tmp"))
    base.chmod(0o755)  # the kernel's user must reach the venv
    try:
        root, venv = base / "autograder", base / "venv"
        start = time.monotonic()
        report = build_gradescope_zip(ROOT / "assignments.yml", base / "autograder.zip", args.assignment)
        build_s = time.monotonic() - start
        with zipfile.ZipFile(report.path) as zf:
            for info in zf.infolist():
                Path(zf.extract(info, root / "source")).chmod((info.external_attr >> 16) & 0o777)
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
        env.update(AUTOGRADER_ROOT=str(root), GRADER_VENV=str(venv), GRADER_PYTHON=args.python)
        setup_s, setup_peak, _ = measured(["bash", "setup.sh"], env, cwd=root / "source")
        shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
        (root / "submission").mkdir()
        shutil.copy2(SOLUTION, root / "submission" / SOLUTION.name)
        runs = []
        for _ in range(args.runs):
            shutil.rmtree(root / "results", ignore_errors=True)
            runs.append(measured([str(root / "run_autograder")], env))
            assert (root / "results" / "results.json").is_file()
        version = subprocess.run([str(venv / "bin" / "python"), "-c", "import sys; print(sys.version.split()[0])"],
                                 capture_output=True, text=True).stdout.strip()
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    walls = [r[0] for r in runs]
    peak_mb = max(r[1] for r in runs) / 2**20
    largest_mb = max(r[2] for r in runs) / 2**20
    print(f"python in the venv:        {version}")
    print(f"autograder.zip:            {report.size / 1024:.1f} KiB ({', '.join(report.entries)}); "
          f"built in {build_s:.1f} s")
    print(f"setup.sh:                  {setup_s:.1f} s (peak {setup_peak / 2**20:.0f} MB)")
    print(f"run_autograder, solution:  median {statistics.median(walls):.2f} s, max {max(walls):.2f} s "
          f"over {len(walls)} runs (target < {TARGET_SECONDS:g} s)")
    print(f"peak memory, whole tree:   {peak_mb:.0f} MB (target < {TARGET_MB} MB); "
          f"largest single process {largest_mb:.0f} MB")
    ok = max(walls) < TARGET_SECONDS and peak_mb < TARGET_MB
    print("targets met" if ok else "TARGETS MISSED")
    if args.keep:
        print(f"kept: {base}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
