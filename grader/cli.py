"""Command line: parse arguments, call the library, turn GraderError into an exit code."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Sequence

from jupyter_core.utils import run_sync

from . import __version__
from .batch import Job, folder_jobs, run_batch
from .config import Assignment, Config, load_config
from .errors import GraderError, UsageError
from .grade import GradeOptions, grade_file_early, grade_notebook
from .ids import Source
from .report.gradescope import gradescope_results
from .report.summary import batch_summary
from .report.table import grid, result_table
from .results import SubmissionResult, write_json_atomic
from .submission import find_notebooks, printable_name
from .sandbox import Level, Policy, check_python_access, detect
from .sandbox.denylist import protected_paths
from .sandbox.identity import named_identity, stranger

EXIT_OK = 0
EXIT_NO_KERNEL = 3
EXIT_INTERNAL = 4


def default_config_path() -> Path:
    """``$GRADER_CONFIG``, else ``./assignments.yml``, else the one beside this package's source."""
    if os.environ.get("GRADER_CONFIG"):
        return Path(os.environ["GRADER_CONFIG"])
    here = Path("assignments.yml")
    if here.is_file():
        return here
    return Path(__file__).resolve().parents[1] / "assignments.yml"


def choose_assignment(config: Config, notebook: Path, explicit: str | None) -> Assignment:
    """The assignment named on the command line, the only one, or the one the file or its folder names."""
    if explicit is not None or len(config.assignments) == 1:
        return config.get(explicit)
    name = notebook.name.lower()
    matches = [a for a in config.assignments.values() if Path(a.notebook).stem.lower() in name]
    if not matches:
        matches = [a for a in config.assignments.values()
                   if notebook.resolve() in {a.exercise and a.exercise.resolve(),
                                             a.solution and a.solution.resolve()}]
    if not matches:  # a folder named after the assignment, e.g. submissions/micrograd/alice.ipynb
        folders = {part.lower() for part in notebook.resolve().parent.parts}
        matches = [a for a in config.assignments.values() if a.id.lower() in folders]
    if len(matches) == 1:
        return matches[0]
    raise UsageError(f"cannot tell which assignment {notebook} is for; pass --assignment "
                     f"({', '.join(config.assignments)})")


def display_name(path: Path) -> str:
    """``path`` relative to the working folder when it is inside it."""
    try:
        return printable_name(str(path.resolve().relative_to(Path.cwd().resolve())))
    except ValueError:
        return printable_name(str(path))


def demo_paths(config: Config) -> list[Path]:
    """With no path: the bundled example submissions, then each assignment's solution and exercise."""
    root = config.path.parent
    paths = find_notebooks([root / "examples" / "submissions"]) if (root / "examples" / "submissions").is_dir() else []
    for a in config.assignments.values():
        paths += [p for p in (a.solution, a.exercise) if p is not None and p.is_file()]
    return paths


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grader", description=__doc__)
    parser.add_argument("--version", action="version", version=f"grader {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="grade notebooks (no path: the bundled examples)")
    run.add_argument("paths", nargs="*", type=Path, help="notebooks or folders of notebooks")
    run.add_argument("--assignment", "-a", help="assignment id in the config")
    run.add_argument("--config", "-c", type=Path, help="assignments.yml (default: ./assignments.yml)")
    run.add_argument("--results", type=Path,
                     help="write Gradescope-format results JSON for the (single) submission here")
    run.add_argument("--out", "-o", type=Path,
                     help="batch mode: grade every submission under the paths (folders of notebooks "
                          "or of per-student folders, or zips) into this folder: per-submission "
                          "results and feedback, and grades.csv; finished results are reused")
    run.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1,
                     help="submissions graded at once (default: the number of cores)")
    run.add_argument("--force", action="store_true", help="with --out: regrade every submission")
    run.add_argument("--seed", type=int, help="seed for hidden inputs (default: fresh randomness)")
    run.add_argument("--kernel-user", help="as root, run every kernel as this user (default: a uid "
                                           "of its own for each kernel)")
    run.add_argument("--create-user", action="store_true",
                     help="create the --kernel-user if it does not exist (needs root)")
    run.add_argument("--no-sandbox", action="store_true",
                     help="with --out: grade even where kernels cannot be isolated at all "
                          "(they can then read everything your user can)")
    doctor = sub.add_parser("sandbox-check", help="show which isolation kernels get on this machine, "
                                                  "layer by layer, and why")
    doctor.add_argument("--kernel-user", help="as root, the user kernels run as (default: a uid of "
                                              "their own)")
    doctor.add_argument("--create-user", action="store_true", help="create the --kernel-user if missing")
    doctor.add_argument("--fix", action="store_true",
                        help="as root, add o+x (traversal only) to folders on the way to this Python")
    check = sub.add_parser("check-config", help="validate assignments.yml and exit")
    check.add_argument("--config", "-c", type=Path)
    build = sub.add_parser("build", help="build what a course platform needs")
    targets = build.add_subparsers(dest="target", required=True)
    gradescope = targets.add_parser("gradescope", help="a reproducible autograder.zip for Gradescope")
    gradescope.add_argument("--assignment", "-a", help="assignment id (default: the only one)")
    gradescope.add_argument("--config", "-c", type=Path, help="assignments.yml (default: ./assignments.yml)")
    gradescope.add_argument("--output", "-o", type=Path, default=Path("autograder.zip"),
                            help="where to write the zip (default: ./autograder.zip)")
    return parser


def _build(args: argparse.Namespace) -> int:
    from .gradescope.build import build_gradescope_zip  # pip and templates: only this command

    report = build_gradescope_zip(args.config or default_config_path(), args.output, args.assignment)
    print(f"wrote {report.path} ({report.size / 1024:.0f} KiB, assignment {report.assignment}): "
          f"{', '.join(report.entries)}")
    return EXIT_OK


def _batch(args: argparse.Namespace, config: Config, options: GradeOptions) -> int:
    if not args.paths:
        raise UsageError("--out needs the submissions: a folder or a .zip")
    if args.results:
        raise UsageError("--results is for one submission; --out writes results for each")
    jobs, warnings = folder_jobs(config, args.paths, args.assignment)
    if not jobs:
        raise UsageError(f"no submissions found under {', '.join(map(str, args.paths))}")
    for warning in warnings:
        print(f"grader: note: {warning}", file=sys.stderr)
    report = run_batch(jobs, options=options, config_digest=config.digest, out=args.out,
                       workers=args.jobs, force=args.force)
    print(batch_summary([(o.job.source.id, o.result) for o in report.outcomes]))
    print(f"\nresults: {args.out / 'submissions'}/<id>/  gradebook: {args.out / 'grades.csv'}")
    return _exit_code([o.result for o in report.outcomes], report.interrupted)


def _exit_code(results: Sequence[SubmissionResult], interrupted: bool = False) -> int:
    failed = [r for r in results if r.internal_error]
    for r in failed:
        print(f"grader error on {r.submission}:\n{r.internal_error}", file=sys.stderr)
    if interrupted:
        print("grader: interrupted; run the same command again to finish", file=sys.stderr)
        return 130
    if failed and all(r.internal_error.startswith("KernelStartError") for r in failed):
        return EXIT_NO_KERNEL
    return EXIT_INTERNAL if failed else EXIT_OK


def _report_one(args: argparse.Namespace, result: SubmissionResult) -> int:
    """Write its Gradescope JSON if asked (first: printing may fail), print its table, return the exit code."""
    if args.results:
        write_json_atomic(args.results, gradescope_results(result))
    try:
        print(result_table(result), end="\n\n", flush=True)
    except (BrokenPipeError, OSError):  # a closed stdout loses the table, never the result
        pass
    return _exit_code([result])


def _run_one(args: argparse.Namespace, config_path: Path) -> int:
    """One notebook file: its kernel starts while the config (and SymPy) load."""
    path = args.paths[0]
    options = GradeOptions(seed=args.seed, policy=_policy(args, batch=False))
    _, result = run_sync(grade_file_early)(
        path, config_path, lambda config: choose_assignment(config, path, args.assignment), options,
        assignment_id=args.assignment, name=display_name(path),
        extra_hidden=[args.results.parent] if args.results else [])
    return _report_one(args, result)


def _run(args: argparse.Namespace) -> int:
    config_path = args.config or default_config_path()
    if args.out is None and len(args.paths) == 1 and args.paths[0].is_file():
        return _run_one(args, config_path)
    config = load_config(config_path)
    for path in args.paths:
        if not path.exists():
            raise UsageError(f"no such file or folder: {path}")
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    policy = _policy(args, batch=args.out is not None)
    extra = [args.results.parent] if args.results else []
    if args.out is not None:  # kernels see neither the results nor the other submissions
        args.out.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.gettempdir()).resolve()  # where kernels live: never hidden from them
        extra += [p for p in (args.out, *args.paths) if p.resolve() not in (tmp, *tmp.parents)]
    options = GradeOptions(seed=args.seed, policy=policy.with_hide(protected_paths(config, *extra)))
    if args.out is not None:
        return _batch(args, config, options)
    refused: list[str] = []
    paths = find_notebooks(args.paths, refused) if args.paths else demo_paths(config)
    for reason in refused:
        print(f"grader: note: not graded: {reason}", file=sys.stderr)
    if not paths:
        raise UsageError("no notebooks found" + (f" under {', '.join(map(str, args.paths))}" if args.paths else ""))
    if args.results and len(paths) != 1:
        raise UsageError(f"--results writes one submission's results; {len(paths)} notebooks were given")
    if len(paths) > 1:
        jobs = [Job(Source(display_name(p), display_name(p), p),
                    choose_assignment(config, p, args.assignment)) for p in paths]
        report = run_batch(jobs, options=options, config_digest=config.digest, workers=args.jobs)
        results = [o.result for o in report.outcomes]
        for result in results:
            print(result_table(result), end="\n\n")
        print(grid(results))
        return _exit_code(results, report.interrupted)
    (path,) = paths
    result = grade_notebook(path, choose_assignment(config, path, args.assignment), options=options,
                            config_digest=config.digest, name=display_name(path))
    return _report_one(args, result)


def _policy(args: argparse.Namespace, *, batch: bool) -> Policy:
    """The isolation kernels get; batch-grading other people's work with none needs --no-sandbox."""
    policy = detect(args.kernel_user, create_user=args.create_user)
    if policy.level is Level.NONE:
        if batch and not args.no_sandbox:
            raise UsageError("kernels cannot be isolated on this machine (" + policy.why + "), so each "
                             "notebook could read everything your user can; run `grader "
                             "sandbox-check` for details, or pass --no-sandbox to grade anyway")
        print(f"grader: warning: kernels run without isolation ({policy.why}); they can read "
              f"everything your user can", file=sys.stderr)
    return policy


def _sandbox_check(args: argparse.Namespace) -> int:
    """Print each isolation layer as active or not, and why."""
    if os.geteuid() == 0:
        who = named_identity(args.kernel_user, create=args.create_user) if args.kernel_user else stranger()
        opened = check_python_access(who, fix=args.fix, run=True)
        for folder in opened:
            print(f"opened {folder} for traversal (o+x)")
    policy = detect(args.kernel_user, create_user=args.create_user, fix=args.fix)
    print(f"isolation: {policy.level.value}")
    for layer in policy.layers:
        print(f"  {layer.name:<10} {'active' if layer.active else 'NOT active':<10} {layer.detail}")
    if policy.bwrap:
        print(f"  bubblewrap {policy.bwrap}")
    if policy.why:
        print(f"why not stronger: {policy.why}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``grader`` command; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "build":
            return _build(args)
        if args.command == "sandbox-check":
            return _sandbox_check(args)
        if args.command == "check-config":
            config = load_config(args.config or default_config_path())
            for a in config.assignments.values():
                print(f"{a.id}: {len(a.questions)} questions, {a.max_score:g} points")
            return EXIT_OK
    except GraderError as exc:
        print(f"grader: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("grader: interrupted", file=sys.stderr)
        return 130
    return EXIT_OK
