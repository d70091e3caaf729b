"""Benchmark: what a CPU hog costs its neighbours in a ``--jobs 2`` batch.

    .venv/bin/python benchmarks/bench_contain.py             # as whoever runs it
    .venv/bin/python benchmarks/bench_contain.py --hogs 48

Grades N correct notebooks alone (``--jobs 2``), then the same N beside a notebook that starts
``--hogs`` busy processes, each in its own session, and keeps them busy for the whole batch. Prints
the correct notebooks' scores and grading times in both runs and their ratio (target: at most 1.5,
with every point kept), measured in one run on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from notebooks import variant, write_small_config  # noqa: E402

HOG = """import subprocess, sys, time
hogs = [subprocess.Popen([sys.executable, '-c', 'while True: pass'], start_new_session=True)
        for _ in range({hogs})]
time.sleep({seconds})
"""


def grade(subs: Path, out: Path, config: Path) -> tuple[float, dict[str, dict]]:
    start = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "grader", "run", str(subs), "--out", str(out),
                          "--jobs", "2", "--config", str(config), "--seed", "3"],
                         capture_output=True, text=True)
    wall = time.monotonic() - start
    if run.returncode != 0:
        sys.exit(f"grader failed: {run.stderr}")
    results = {p.parent.name: json.loads(p.read_text())["result"]
               for p in (out / "submissions").glob("*/result.json")}
    return wall, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4, help="correct notebooks (default 4)")
    parser.add_argument("--hogs", type=int, default=36, help="busy processes (default 36)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-contain-") as tmp:
        folder = Path(tmp)
        folder.chmod(0o711)
        config = write_small_config(folder / "config", cell_timeout=30, probe_timeout=30,
                                    submission_timeout=300)
        alone, beside = folder / "alone", folder / "beside"
        for i in range(args.n):
            for subs in (alone, beside):
                variant(subs / f"s{i}_{100 + i}_{900 + i}_micrograd_exercises.ipynb")
        wall_alone, results_alone = grade(alone, folder / "out-alone", config)
        # The hog stays busy about as long as the correct notebooks take with one core left.
        seconds = int(max(20.0, 2 * wall_alone))
        variant(beside / "hog_1_1_micrograd_exercises.ipynb",
                prepend=[HOG.format(hogs=args.hogs, seconds=seconds)])
        wall_beside, results_beside = grade(beside, folder / "out-beside", config)
        correct = [str(100 + i) for i in range(args.n)]
        t_alone = sum(results_alone[s]["execution_time"] for s in correct)
        t_beside = sum(results_beside[s]["execution_time"] for s in correct)
        scores_alone = [results_alone[s]["score"] for s in correct]
        scores_beside = [results_beside[s]["score"] for s in correct]
        isolation = results_beside[correct[0]]["isolation"]
        print(f"isolation: {isolation}  (uid {os.geteuid()}, {os.cpu_count()} cores)")
        print(f"correct notebooks alone:      scores {scores_alone}  grading {t_alone:.1f} s  "
              f"batch wall {wall_alone:.1f} s")
        print(f"beside {args.hogs} busy processes: scores {scores_beside}  grading {t_beside:.1f} s  "
              f"batch wall {wall_beside:.1f} s (the hog itself {seconds} s)")
        ratio = t_beside / t_alone if t_alone else float("nan")
        print(f"ratio of the correct notebooks' grading time: {ratio:.2f}  (target <= 1.5)  "
              f"points kept: {scores_beside == scores_alone}")


if __name__ == "__main__":
    main()
