"""``grader run``: one notebook (a table of its scores), several (a table each and a grid), or
with ``--out`` a whole class (:mod:`grader.cli.run_class`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from jupyter_core.utils import run_sync

from ..grading.batch import run_batch
from ..grading.jobs import Job
from ..config import load_config
from ..errors import UsageError
from ..grading.grade import GradeOptions, grade_file_early, grade_notebook
from ..intake.ids import Source
from ..gradebook.instructor import check_writable
from ..intake.otterzip import is_submission_zip, notebook_file
from ..report.gradescope import gradescope_results
from ..report.table import grid, result_table
from ..results import SubmissionResult, printable_text, write_json_atomic
from ..sandbox.denylist import protected_paths
from ..grading.shard import parse_shard
from ..intake.submission import find_notebooks, printable_name
from . import exits
from .choose import choose_assignment, default_config_path, demo_paths, policy
from .command import CONFIG_HELP, Command
from .outcome import exit_code
from .output import Status, display_name, say
from .run_class import grade_class


def arguments(run: argparse.ArgumentParser) -> None:
    run.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                     help="a notebook, or with --out a folder or .zip of submissions")
    run.add_argument("--assignment", "-a", help="assignment id in the config (default: from the notebook)")
    run.add_argument("--config", "-c", type=Path, help=CONFIG_HELP)
    run.add_argument("--results", type=Path, metavar="FILE",
                     help="write Gradescope-format results JSON for the (single) notebook here")
    run.add_argument("--out", "-o", type=Path, metavar="OUT",
                     help="grade a class into this folder: per-student results and feedback, and "
                          "grades.csv listing every student stored there; finished results are reused")
    run.add_argument("--jobs", "-j", type=int, default=None,
                     help="submissions graded at once (default: the number of cores; capped so that "
                          "every kernel's memory budget fits)")
    run.add_argument("--force", action="store_true",
                     help="with --out: regrade the submissions given even if already graded "
                          "(everyone else's rows and every override are kept)")
    run.add_argument("--only", nargs="+", metavar="ID",
                     help="with --out: grade only these student ids among the submissions")
    run.add_argument("--seed", type=int, help="seed for hidden inputs (default: fresh randomness)")
    run.add_argument("--kernel-user", help="as root, run every kernel as this user (default: a uid "
                                           "of its own for each kernel)")
    run.add_argument("--create-user", action="store_true",
                     help="create the --kernel-user if it does not exist (needs root)")
    run.add_argument("--no-sandbox", action="store_true",
                     help="with --out: grade even where kernels cannot be isolated at all "
                          "(they can then read everything your user can)")
    run.add_argument("--cluster", metavar="ADDRESS",
                     help="with --out: grade on this Dask cluster (tcp://host:8786 or tls://…; "
                          "needs micrograd-autograder[dask]); --jobs is then per worker (default: "
                          "its threads). See docs/cluster.md")
    run.add_argument("--shard", metavar="I/N",
                     help="with --out: grade only shard I of N of the class (split by student id), "
                          "for job arrays; shards may share OUT")


def check_run_args(args: argparse.Namespace) -> None:
    """Every bad argument of ``grader run`` found before anything is loaded, graded or created."""
    if args.out is None:
        for flag, given in (("--force", args.force), ("--only", args.only)):
            if given:
                raise UsageError(f"{flag} works on a class graded into a folder: add --out OUT "
                                 f"(without --out nothing is stored, so every run grades afresh)")
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    for flag, given in (("--cluster", args.cluster), ("--shard", args.shard)):
        if given and args.out is None:
            raise UsageError(f"{flag} grades a class into a folder: add --out OUT")
    if args.shard:
        parse_shard(args.shard)
    for path in args.paths:
        if not path.exists():
            raise UsageError(f"no such file or folder: {path}")
    if args.results is not None:
        if args.out is not None:
            raise UsageError("--results is for one notebook; --out writes results for each student")
        check_writable(args.results, "--results")
    if args.out is None:
        for path in args.paths:
            if path.is_file() and path.suffix.lower() == ".zip" and not (
                    len(args.paths) == 1 and is_submission_zip(path)):  # one student's (otter) zip
                raise UsageError(f"{path} is an archive of submissions: grade it as a class with "
                                 f"`grader run {path} --out FOLDER` (grades.csv and each student's "
                                 f"feedback go in FOLDER)")
        return
    if not args.paths:
        raise UsageError("--out needs the submissions: a folder or a .zip (or the notebooks to regrade)")
    check_writable(args.out, "--out", folder=True)
    out = args.out.resolve()
    for path in args.paths:
        inside = path.resolve()
        if path.is_dir() and (out == inside or inside in out.parents):
            raise UsageError(f"--out {args.out} is inside the submissions folder {path}: put it "
                             f"elsewhere, or its files would be taken for submissions next time")


def report_one(args: argparse.Namespace, result: SubmissionResult) -> int:
    """Write its Gradescope JSON if asked (first: printing may fail), print its table, return the exit code."""
    if args.results:
        write_json_atomic(args.results, gradescope_results(result))
    say(result_table(result), end="\n\n")  # a closed stdout loses the table, never the result
    return exit_code([result])


def run_one(args: argparse.Namespace, config_path: Path) -> int:
    """One notebook file: its kernel starts while the config (and SymPy) load."""
    status = Status(printable_name(args.paths[0].name))
    status("starting a kernel")
    options = GradeOptions(seed=args.seed, policy=policy(args, batch=False), status=status)
    try:
        with notebook_file(args.paths[0]) as (path, name):  # a zip (otter's export): its notebook
            _, result = run_sync(grade_file_early)(
                path, config_path, lambda config: choose_assignment(config, path, args.assignment), options,
                assignment_id=args.assignment, name=display_name(args.paths[0]) if path == args.paths[0] else name,
                extra_hidden=[args.results.parent] if args.results else [])
    finally:
        status.done()
    return report_one(args, result)


def run(args: argparse.Namespace) -> int:
    check_run_args(args)
    config_path = args.config or default_config_path()
    if args.out is None and len(args.paths) == 1 and args.paths[0].is_file():
        return run_one(args, config_path)
    config = load_config(config_path)
    if args.out is not None:  # kernels see neither the results nor the other submissions
        return grade_class(args, config)
    if not args.paths and args.assignment is not None:
        config.get(args.assignment)  # an unknown id is said first
    if not args.paths and not (config.path.parent / "examples" / "submissions").is_dir():
        raise UsageError("give the notebook to grade: grader run my_notebook.ipynb (with no path "
                         "it grades a course checkout's bundled examples, and there are none "
                         f"beside {config.path})")
    refused: list[str] = []
    paths = find_notebooks(args.paths, refused) if args.paths else demo_paths(config, args.assignment)
    if not paths:
        raise UsageError(f"no notebooks in {', '.join(map(str, args.paths))}" if args.paths else
                         f"no bundled examples for {args.assignment or 'any assignment'} in {config.path.parent}")
    for reason in refused:
        say(printable_text(f"grader: note: not graded: {reason}"), err=True)
    if args.results and len(paths) != 1:
        raise UsageError(f"--results writes one submission's results; {len(paths)} notebooks were given")
    isolation = policy(args, batch=False)
    extra = [args.results.parent] if args.results else []
    options = GradeOptions(seed=args.seed, policy=isolation.with_hide(protected_paths(config, *extra)))
    if len(paths) > 1:
        jobs = [Job(Source(display_name(p), display_name(p), p),
                    choose_assignment(config, p, args.assignment)) for p in paths]
        report = run_batch(jobs, options=options, config_digest=config.digest, workers=args.jobs)
        results = [o.result for o in report.outcomes]
        for result in results:
            say(result_table(result), end="\n\n")
        say(grid(results))
        return exit_code(results, report.interrupted)
    (path,) = paths
    result = grade_notebook(path, choose_assignment(config, path, args.assignment), options=options,
                            config_digest=config.digest, name=display_name(path))
    return report_one(args, result)


COMMAND = Command(
    "run", arguments=arguments, run=run, epilog=exits.epilog(exits.RUN),
    help="grade one notebook, or a whole class with --out", description="""\
Grade notebooks. One notebook: print a table of its scores (and --results writes Gradescope JSON).
A folder or .zip of submissions with --out: grade every student into OUT (grades.csv, feedback and
results per student); run it again to finish or update, --force to regrade. No path: the bundled
example submissions (only those of --assignment if given).

examples:
  grader run my_notebook.ipynb
  grader run canvas_download.zip --out graded/ --jobs 4
  grader run canvas_download.zip --out graded/ --force --only 12345 67890""")
