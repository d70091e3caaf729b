"""`grader run` beside `otter run` on the same assignment, in one run: time per notebook, install size.

    .venv/bin/python benchmarks/bench_otter.py                  # micrograd, 5 runs each
    .venv/bin/python benchmarks/bench_otter.py --assignment mlp --runs 3

Exports the assignment with `grader export otter`, builds otter's autograder zip from the exported
tests (`otter generate`), then grades the instructor copy (every check passing) and the untouched
student copy, alternating the two tools, each run a fresh process as a course would start it:
`otter run -a autograder.zip NOTEBOOK` (no container: the notebook runs in otter's own process,
published tests only) and `grader run NOTEBOOK --results FILE` (a sandboxed kernel, published and
hidden checks). Install size: the files of each distribution and of every distribution it needs
(recursively) in this venv, shared ones counted for each. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def closure(name: str) -> set[str]:
    """``name`` and every distribution it requires (no extras), as installed here."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        dist_name = re.split(r"[ ;<>=!~\[(]", todo.pop(), maxsplit=1)[0].lower().replace("_", "-")
        if dist_name in seen:
            continue
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            continue
        seen.add(dist_name)
        for req in dist.requires or []:
            if "extra ==" not in req and "extra==" not in req:
                marker = req.split(";", 1)[1] if ";" in req else ""
                if "sys_platform == 'win32'" in marker or 'sys_platform == "win32"' in marker:
                    continue
                todo.append(req)
    return seen


def size_mb(names: set[str]) -> float:
    total = 0
    for name in names:
        for f in metadata.distribution(name).files or []:
            path = Path(f.locate())
            if path.is_file():
                total += path.stat().st_size
    return total / 2**20


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", default="micrograd")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-otter-"))
    try:
        out = work / "export"
        subprocess.run([str(BIN / "grader"), "export", "otter", "-a", args.assignment, "-o", str(out),
                        "-c", str(ROOT / "assignments.yml")], check=True, stdout=subprocess.DEVNULL)
        student, instructor = out / args.assignment / "student", out / args.assignment / "instructor"
        notebook = next(student.glob("*.ipynb")).name
        subprocess.run([str(BIN / "otter"), "generate", "-t", str(student / "tests"), "-o", str(work / "autograder.zip"),
                        "--no-config", "--no-requirements", "--no-environment"], cwd=work, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        zip_path = work / "autograder.zip"
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.runs):
            for label, folder in (("instructor copy", instructor), ("student copy", student)):
                nb = folder / notebook
                res = work / "res"
                res.mkdir(exist_ok=True)
                times.setdefault(("otter run", label), []).append(timed(
                    [str(BIN / "otter"), "run", "-a", str(zip_path), "-o", str(res), "--no-logo", str(nb)], work))
                times.setdefault(("grader run", label), []).append(timed(
                    [str(BIN / "grader"), "run", str(nb), "-a", args.assignment, "--results",
                     str(res / "grader.json"), "-c", str(ROOT / "assignments.yml")], work))
        # an editable install (this checkout) may still carry the distribution's old name
        own = next(n for n in ("micrograd-autograder", "grader") if closure(n))
        grader_deps, otter_deps = closure(own), closure("otter-grader")
        source = sum(p.stat().st_size for p in (ROOT / "grader").rglob("*")
                     if p.is_file() and "__pycache__" not in p.parts) / 2**20
        print(f"{args.assignment}, {args.runs} runs each, median (min-max) seconds per notebook, fresh process:")
        print(f"{'':12} {'instructor copy':>22} {'student copy':>22}")
        for tool in ("otter run", "grader run"):
            cells = []
            for label in ("instructor copy", "student copy"):
                t = times[(tool, label)]
                cells.append(f"{statistics.median(t):.2f} ({min(t):.2f}-{max(t):.2f})")
            print(f"{tool:12} {cells[0]:>22} {cells[1]:>22}")
        print(f"install size: grader {size_mb(grader_deps) + source:.0f} MB ({len(grader_deps)} distributions), "
              f"otter-grader {size_mb(otter_deps):.0f} MB ({len(otter_deps)} distributions), "
              f"both {size_mb(grader_deps | otter_deps):.0f} MB")
        print(f"otter {metadata.version('otter-grader')}, grader {metadata.version(own)}, "
              f"Python {sys.version.split()[0]}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
