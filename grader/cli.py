"""Command line: parse arguments, call the library, turn GraderError into an exit code.

The help the user reads is in ``_parser`` (descriptions, examples, exit codes), not here.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import NoReturn, Sequence

from jupyter_core.utils import run_sync

from . import __version__
from .grading.batch import run_batch
from .grading.jobs import Job, folder_jobs
from .model import Assignment, Config
from .config import load_config
from .errors import GraderError, UsageError
from .grading.grade import GradeOptions, grade_file_early, grade_notebook
from .intake.ids import NOT_A_NOTEBOOK, Source
from .intake.recognise import candidates
from .gradebook.instructor import check_writable, export, set_override
from .intake.otterzip import is_submission_zip, notebook_file
from .report.gradescope import gradescope_results
from .report.summary import batch_summary
from .report.table import grid, result_table
from .results import SubmissionResult, printable_text, write_json_atomic
from .intake.submission import find_notebooks, printable_name, read_notebook_file
from .sandbox import Level, Policy, check_python_access, detect
from .sandbox.denylist import protected_paths
from .sandbox.identity import named_identity, stranger
from .sandbox.machine import budget_lines
from .grading.shard import SharedStore, merge, parse_shard, select
from .gradebook.store import Store, rebuild_report

EXIT_OK = 0
EXIT_NO_KERNEL = 3
EXIT_INTERNAL = 4


def default_config_path() -> Path:
    """``$GRADER_CONFIG``, else ``./assignments.yml``, else the course checkout's, else the copy
    installed with this package (what a student who only ran ``pip install`` has)."""
    if os.environ.get("GRADER_CONFIG"):
        return Path(os.environ["GRADER_CONFIG"])
    here = Path("assignments.yml")
    if here.is_file():
        return here
    checkout = Path(__file__).resolve().parents[1] / "assignments.yml"
    return checkout if checkout.is_file() else Path(__file__).resolve().parent / "assignments.yml"


def _not_gradable(notebook: Path) -> str | None:
    """Why ``notebook`` has nothing that could tell its assignment (not a notebook, unreadable,
    empty), else None."""
    if notebook.suffix.lower() != ".ipynb":
        return NOT_A_NOTEBOOK
    try:
        data = json.loads(read_notebook_file(notebook))
    except (OSError, ValueError) as exc:
        return f"is not a readable notebook ({getattr(exc, 'strerror', None) or 'not notebook JSON'})"
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, list) or not any(
            isinstance(c, dict) and c.get("cell_type") == "code" and "".join(c.get("source") or "").strip()
            for c in cells):
        return "has no code in it: there is nothing to grade (was it saved before you submitted?)"
    return None


def choose_assignment(config: Config, notebook: Path, explicit: str | None) -> Assignment:
    """The assignment named on the command line, else the one the notebook itself says it is for
    (:mod:`recognise`); when that is truly ambiguous, asked on a terminal (numbered choices, asked
    again after a typo), else an error listing them."""
    if explicit is not None or len(config.assignments) == 1:
        return config.get(explicit)
    found = candidates(config, notebook)
    if len(found) == 1:
        return found[0]
    problem = _not_gradable(notebook)
    if problem is not None:
        raise UsageError(f"{printable_name(str(notebook))} {problem}")
    choices = ", ".join(f"{a.id} ({a.title})" for a in found)
    if sys.stdin.isatty() and sys.stderr.isatty():
        _say(f"grader: which assignment is {printable_name(str(notebook))} for?", err=True)
        for k, a in enumerate(found, start=1):
            _say(f"  {k}  {a.id}  ({a.title})", err=True)
        for _ in range(3):
            try:
                answer = input(f"number (1-{len(found)}) or id: ").strip()
            except EOFError:
                break
            by_number = {str(k): a for k, a in enumerate(found, start=1)}
            chosen = by_number.get(answer) or next((a for a in found if a.id == answer), None)
            if chosen is not None:
                return chosen
            _say(f"grader: {answer!r} is none of them; type a number from 1 to {len(found)}", err=True)
    raise UsageError(f"cannot tell which assignment {notebook} is for: it could be {choices}; "
                     f"pass --assignment ID")


def display_name(path: Path) -> str:
    """``path`` relative to the working folder when it is inside it."""
    try:
        return printable_name(str(path.resolve().relative_to(Path.cwd().resolve())))
    except ValueError:
        return printable_name(str(path))


def demo_paths(config: Config, only: str | None = None) -> list[Path]:
    """With no path: the bundled example submissions, then each assignment's solution and exercise.

    With ``only`` (an assignment id), that assignment's examples, solution and exercise alone.
    """
    root = config.path.parent / "examples" / "submissions"
    chosen = [config.get(only)] if only is not None else list(config.assignments.values())
    folders = [root / a.id for a in chosen] if only is not None else [root]
    paths = find_notebooks([f for f in folders if f.is_dir()])
    for a in chosen:
        paths += [p for p in (a.solution, a.exercise) if p is not None and p.is_file()]
    return paths


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line (and exit 2), pointing at ``--help``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


_FORMAT = argparse.RawDescriptionHelpFormatter
_CONFIG_HELP = ("assignments.yml (default: $GRADER_CONFIG, else ./assignments.yml, else the course "
                "checkout's, else the one installed with the grader)")
_EXIT_RUN = """exit codes:
  0    graded, whatever the scores (a rejected or broken notebook is graded, with the reason)
  2    bad arguments or config: nothing was graded and nothing created
  3    no kernel could be started for any submission that needed one (each result says so)
  4    the grader failed on some submission: its result says so; run again to regrade it
       (or a stored result in OUT is damaged: named on stderr, `damaged_result` in grades.csv)
  130  interrupted: run the same command again to finish a batch"""
_EXIT_OUT = """exit codes:
  0    done
  2    bad arguments (or another grader is writing to OUT): nothing was changed
  4    (report, merge) a stored result is damaged: named on stderr, `damaged_result` in grades.csv"""
_EXIT_EXPORT = """exit codes:
  0    done (students without a score are listed)
  2    bad arguments, or no graded student matches the list (wrong file or column?): nothing
       was written"""
_EXIT_DONE = """exit codes:
  0    done
  1    building failed (the message says why): nothing was written
  2    bad arguments or config: nothing was written"""
_EXIT_WRITE = """exit codes:
  0    done (what was written, and what was not, is listed)
  2    bad arguments or config: nothing was written"""
_EXIT_CONFIG = """exit codes:
  0    the config is valid
  2    it is not: the message names the key, its line and the nearest valid key"""
_EXIT_CHECK = """exit codes:
  0    done (whatever the level)
  2    bad arguments (an unknown --kernel-user)"""


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="grader", formatter_class=_FORMAT, description="""\
Autograde the micrograd exercise notebooks: each notebook runs in a fresh, sandboxed Jupyter
kernel, and every question gets a score and a sentence saying what was wrong.

examples:
  grader run my_notebook.ipynb                  grade one notebook (a student checking their work)
  grader run submissions.zip --out graded/      grade a class: grades.csv and feedback per student
  grader run subs/smith_12345_678_hw1.ipynb --out graded/ --force      regrade one student
  grader override graded/ 12345 q1_gradf 2 --reason "sign slip only"      change a score by hand
  grader export canvas graded/ --gradebook export.csv --column "HW1" -o import.csv""",
                     epilog=_EXIT_RUN.replace("exit codes:", "exit codes of grader run:")
                     + "\n\nEach command has its own help, with its own exit codes: grader run --help")
    parser.add_argument("--version", action="version", version=f"grader {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", formatter_class=_FORMAT, help="grade one notebook, or a whole class "
                         "with --out", description="""\
Grade notebooks. One notebook: print a table of its scores (and --results writes Gradescope JSON).
A folder or .zip of submissions with --out: grade every student into OUT (grades.csv, feedback and
results per student); run it again to finish or update, --force to regrade. No path: the bundled
example submissions (only those of --assignment if given).

examples:
  grader run my_notebook.ipynb
  grader run canvas_download.zip --out graded/ --jobs 4
  grader run canvas_download.zip --out graded/ --force --only 12345 67890""", epilog=_EXIT_RUN)
    run.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                     help="a notebook, or with --out a folder or .zip of submissions")
    run.add_argument("--assignment", "-a", help="assignment id in the config (default: from the notebook)")
    run.add_argument("--config", "-c", type=Path, help=_CONFIG_HELP)
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
    override = sub.add_parser("override", formatter_class=_FORMAT, epilog=_EXIT_OUT,
                              help="set one question's score by hand (kept across regrades)",
                              description="""\
Give a student's question the points you decide, with a reason the student sees. The grader's own
score is kept beside it (grades.csv, the student's feedback.md and results.json), the override is
stored in OUT/overrides.csv and survives regrades and resumed runs. --remove undoes it.

examples:
  grader override graded/ 12345 q1_gradf 2 --reason "right idea, sign slip in one term"
  grader override graded/ 12345 q1_gradf --remove""")
    override.add_argument("out", type=Path, metavar="OUT", help="the --out folder of `grader run`")
    override.add_argument("id", metavar="ID", help="the student id (as in grades.csv)")
    override.add_argument("question", metavar="QUESTION", help="the question id (as in grades.csv)")
    override.add_argument("points", type=float, nargs="?", metavar="POINTS",
                          help="the points to give (0 to the question's maximum)")
    override.add_argument("--reason", "-r", default="", help="why; shown to the student")
    override.add_argument("--remove", action="store_true", help="remove the override instead")
    export = sub.add_parser("export", formatter_class=_FORMAT, help="grades for an LMS: a Canvas "
                            "gradebook import, or any roster joined by id", epilog=_EXIT_EXPORT,
                            description="""\
Write the grades of OUT (overrides applied) in a form an LMS imports. Students on the LMS's list
without a submission are left blank and listed; submissions not on the list are listed too.

examples:
  grader export canvas graded/ --gradebook canvas_export.csv --column "HW1 (12345)" -o import.csv
  grader export roster graded/ --roster students.csv -o grades_named.csv""")
    formats = export.add_subparsers(dest="format", required=True, metavar="FORMAT")
    canvas = formats.add_parser("canvas", formatter_class=_FORMAT, epilog=_EXIT_EXPORT,
                                help="fill one assignment column of a Canvas gradebook export",
                                description="""\
Fill one assignment column of a gradebook exported from Canvas (Grades → Export → Export Entire
Gradebook) with each student's total, matched by Canvas user id (the number in Canvas's
submission download names, which grader run uses as the student id). The file written has the
student columns, the header rows ("Points Possible") and that one column; import it with
Grades → Import.

example:
  grader export canvas graded/ --gradebook canvas_export.csv --column "HW1 (12345)" -o import.csv""")
    canvas.add_argument("out", type=Path, metavar="OUT", help="the --out folder of `grader run`")
    canvas.add_argument("--gradebook", required=True, type=Path, metavar="EXPORT.csv",
                        help="the gradebook CSV exported from Canvas")
    canvas.add_argument("--column", required=True, metavar="NAME",
                        help='the assignment column: "HW1 (12345)", or just "HW1"')
    canvas.add_argument("--output", "-o", required=True, type=Path, metavar="IMPORT.csv",
                        help="where to write the file to import")
    roster = formats.add_parser("roster", formatter_class=_FORMAT, epilog=_EXIT_EXPORT,
                                help="join a roster (id, name, email, …) with the grades",
                                description="""\
For any other LMS: every row of a roster CSV (its own columns kept) followed by the file graded,
each question's score, the total, the status and any overrides, matched by student id.

example:
  grader export roster graded/ --roster students.csv -o grades_named.csv""")
    roster.add_argument("out", type=Path, metavar="OUT", help="the --out folder of `grader run`")
    roster.add_argument("--roster", required=True, type=Path, metavar="ROSTER.csv",
                        help="a CSV with a header row and an id column")
    roster.add_argument("--id-column", metavar="NAME", help="the roster's id column (default: id)")
    roster.add_argument("--output", "-o", required=True, type=Path, metavar="FILE.csv",
                        help="where to write the joined CSV")
    report = sub.add_parser("report", formatter_class=_FORMAT, epilog=_EXIT_OUT,
                            help="rebuild the class report OUT/report.html (grades nothing)",
                            description="""\
Rebuild OUT/report.html, the class report every `grader run --out` writes, from the results stored
in OUT (and the feedback and grades.csv, where overrides.csv changed them). Nothing is graded.
Open the file in any browser; it needs no network.

example:
  grader report graded/""")
    report.add_argument("out", type=Path, metavar="OUT", help="the --out folder of `grader run`")
    merge = sub.add_parser("merge", formatter_class=_FORMAT, epilog=_EXIT_OUT,
                           help="merge the OUT folders of shards graded apart into one",
                           description="""\
Copy every student's result from OUT folders graded separately (`grader run … --shard I/N --out
OUT_I`) into one folder, and write its grades.csv and report.html for the whole class. Nothing is
graded. A student found in several keeps the newest result that can be read (when none can, the
newest is copied as it is: listed as damaged_result).

example:
  grader merge graded-1/ graded-2/ graded-3/ --out graded/""")
    merge.add_argument("outs", nargs="+", type=Path, metavar="OUT", help="the shards' --out folders")
    merge.add_argument("--out", "-o", required=True, type=Path, dest="into", metavar="OUT",
                       help="the folder to write (created if missing)")
    otter = formats.add_parser("otter", formatter_class=_FORMAT, epilog=_EXIT_WRITE,
                               help="the assignments for otter-grader's student workflow",
                               description="""\
Write each assignment (or the one named) for courses that use otter-grader: DIR/<id>/student/
(the exercise notebook with grader.check cells, its published tests in the notebook and in tests/)
to hand out, and DIR/<id>/instructor/ (the solution, every check passing; written where the
config's solution: notebook exists, which the installed package does not carry). Each folder is
written whole or not at all. The final grade is still grader run's (hidden inputs, the sandbox).

example:
  grader export otter --assignment micrograd -o otter/""")
    otter.add_argument("--assignment", "-a", help="assignment id (default: every assignment)")
    otter.add_argument("--output", "-o", required=True, type=Path, metavar="DIR", help="where to write")
    otter.add_argument("--config", "-c", type=Path, help=_CONFIG_HELP)
    doctor = sub.add_parser("sandbox-check", formatter_class=_FORMAT, epilog=_EXIT_CHECK,
                            help="show which isolation kernels get on this machine, and why",
                            description="""\
Show which isolation student kernels get on this machine, layer by layer (filesystem, network,
processes, identity), and why no stronger one. As root, --fix lets kernels reach this Python.

example:
  grader sandbox-check""")
    doctor.add_argument("--kernel-user", help="as root, the user kernels run as (default: a uid of "
                                              "their own)")
    doctor.add_argument("--create-user", action="store_true", help="create the --kernel-user if missing")
    doctor.add_argument("--fix", action="store_true",
                        help="as root, add o+x (traversal only) to folders on the way to this Python")
    check = sub.add_parser("check-config", formatter_class=_FORMAT, epilog=_EXIT_CONFIG,
                           help="validate assignments.yml and list each assignment's points",
                           description="""\
Validate assignments.yml (unknown keys, wrong types, credit splits, exercise: and solution:
paths that do not exist) and print each assignment's questions and their points.

example:
  grader check-config --config course/assignments.yml""")
    check.add_argument("--config", "-c", type=Path, help=_CONFIG_HELP)
    build = sub.add_parser("build", formatter_class=_FORMAT, epilog=_EXIT_DONE,
                           help="build what students install (a wheel) or Gradescope runs (a zip)",
                           description="""\
Build what students install (the grader's wheel) or what a course platform runs (a Gradescope
autograder zip).

examples:
  grader build wheel -o dist/
  grader build gradescope --assignment micrograd -o autograder.zip""")
    targets = build.add_subparsers(dest="target", required=True, metavar="TARGET")
    gradescope = targets.add_parser("gradescope", formatter_class=_FORMAT, epilog=_EXIT_DONE,
                                    help="a reproducible autograder.zip for Gradescope",
                                    description="""\
Build a reproducible autograder.zip for a Gradescope Programming Assignment (no solutions in it).

example:
  grader build gradescope --assignment micrograd -o autograder.zip""")
    wheel = targets.add_parser("wheel", formatter_class=_FORMAT, epilog=_EXIT_DONE,
                               help="the grader's wheel, for students to install",
                               description="""\
Build this grader's wheel (the grader, assignments.yml and the exercise notebooks; no solutions)
and print the one line students run to install it. Hand the file out with the exercises.

example:
  grader build wheel -o dist/""")
    wheel.add_argument("--output", "-o", type=Path, default=Path("dist"), metavar="DIR",
                       help="the folder to write the wheel into (default: ./dist)")
    gradescope.add_argument("--assignment", "-a", help="assignment id (default: the only one)")
    gradescope.add_argument("--config", "-c", type=Path, help=_CONFIG_HELP)
    gradescope.add_argument("--output", "-o", type=Path, default=Path("autograder.zip"),
                            help="where to write the zip (default: ./autograder.zip)")
    return parser


def _build(args: argparse.Namespace) -> int:
    if args.target == "wheel":
        from .gradescope.wheel import build_wheel, write_atomic

        if args.output.exists() and not args.output.is_dir():
            raise UsageError(f"--output {args.output} is a file: give the folder to write the wheel into")
        name, data = build_wheel()
        write_atomic(args.output / name, data)
        _say(f"wrote {args.output / name} ({len(data) / 1024:.0f} KiB): the grader, assignments.yml "
             f"and the exercise notebooks, no solutions\nhand it out; students run, in the folder "
             f"they saved it to (Linux or WSL, Python 3.10+):\n\n    pip install ./{name}\n")
        return EXIT_OK
    from .gradescope.build import build_gradescope_zip  # pip and templates: only this command

    report = build_gradescope_zip(args.config or default_config_path(), args.output, args.assignment)
    _say(f"wrote {report.path} ({report.size / 1024:.0f} KiB, assignment {report.assignment}): "
          f"{', '.join(report.entries)}")
    return EXIT_OK


def _check_run_args(args: argparse.Namespace) -> None:
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


def _batch(args: argparse.Namespace, config: Config) -> int:
    jobs, warnings = folder_jobs(config, args.paths, args.assignment)
    where = ", ".join(map(str, args.paths))
    if not jobs:
        raise UsageError(f"no notebooks in {where}")
    if args.only:
        unknown = sorted(set(args.only) - {job.source.id for job in jobs})
        if unknown:
            raise UsageError(f"--only: no submission with id {', '.join(unknown)} in {where}")
        jobs = [job for job in jobs if job.source.id in set(args.only)]
    store = None
    if args.shard:
        shard = parse_shard(args.shard)
        store = SharedStore(args.out, shard, [(job.source.id, job.source.name) for job in jobs])
        jobs = select(jobs, shard, lambda job: job.source.id)
        _say(f"grader: shard {shard}: {count(len(jobs), 'submission')}", err=True)
    with contextlib.ExitStack() as stack:
        engine = None
        if args.cluster:  # connected and every worker checked before anything is created
            from .grading.cluster import connect
            cluster = stack.enter_context(connect(args.cluster, config, kernel_user=args.kernel_user,
                                                  no_sandbox=args.no_sandbox,
                                                  jobs=args.jobs))
            engine, policy = cluster.engine, cluster.client_policy
        else:
            policy = _policy(args, batch=True)
        args.out.mkdir(parents=True, exist_ok=True)  # the first thing created: arguments are all good
        tmp = Path(tempfile.gettempdir()).resolve()  # where kernels live: never hidden from them
        extra = [p for p in (args.out, *args.paths) if p.resolve() not in (tmp, *tmp.parents)]
        options = GradeOptions(seed=args.seed, policy=policy.with_hide(protected_paths(config, *extra)))
        for warning in warnings:
            _say(printable_text(f"grader: note: {warning}"), err=True)
        report = run_batch(jobs, options=options, config_digest=config.digest, out=args.out,
                           workers=args.jobs, force=args.force, store=store, engine=engine)
    _say(batch_summary([(o.job.source.id, o.result) for o in report.outcomes], total=len(jobs)))
    stored = len(list((args.out / "submissions").glob("*/result.json")))
    _say(f"\nresults: {args.out / 'submissions'}/<id>/  gradebook: {args.out / 'grades.csv'} "
          f"({count(stored, 'student')})  class report: {args.out / 'report.html'}")
    damaged = _say_damaged(args.out)
    code = _exit_code([o.result for o in report.outcomes], report.interrupted)
    return EXIT_INTERNAL if damaged and code == EXIT_OK else code


def _say_damaged(out: Path) -> int:
    """Name every stored result in ``out`` that cannot be read (``damaged_result`` in grades.csv)."""
    damaged = Store(out).damaged()
    for sid, file, why in damaged:
        _say(printable_text(f"grader: error: the stored result of {sid} ({file or 'file unknown'}), "
                            f"{out / 'submissions' / sid / 'result.json'}, {why}: listed as "
                            f"damaged_result in grades.csv; `grader run` on its file grades it again"),
             err=True)
    return len(damaged)


def _exit_code(results: Sequence[SubmissionResult], interrupted: bool = False) -> int:
    failed = [r for r in results if r.internal_error]
    for r in failed:
        _say(printable_text(f"grader error on {r.submission}:\n{r.internal_error}"), err=True)
    if interrupted:
        _say("grader: interrupted; run the same command again to finish", err=True)
        return 130
    if failed and all(r.internal_error.startswith("KernelStartError") for r in failed):
        return EXIT_NO_KERNEL
    return EXIT_INTERNAL if failed else EXIT_OK


def _report_one(args: argparse.Namespace, result: SubmissionResult) -> int:
    """Write its Gradescope JSON if asked (first: printing may fail), print its table, return the exit code."""
    if args.results:
        write_json_atomic(args.results, gradescope_results(result))
    _say(result_table(result), end="\n\n")  # a closed stdout loses the table, never the result
    return _exit_code([result])


class _Status:
    """One line on a terminal's stderr saying what grading one notebook is doing (cell k of n,
    which question is being checked) and for how long; nothing when stderr is not a terminal.
    The line is redrawn with a carriage return and spaces, never with terminal control sequences."""

    def __init__(self, name: str) -> None:
        self.name, self.start, self.live = name, time.monotonic(), sys.stderr.isatty()
        self.drawn = 0  # characters of the line now on the screen

    def __call__(self, what: str) -> None:
        if self.live:
            line = f"grading {self.name}: {what}  ({time.monotonic() - self.start:.0f} s)"
            line = line[:shutil.get_terminal_size().columns - 1]
            _say("\r" + line.ljust(self.drawn), err=True, end="")
            self.drawn = len(line)

    def done(self) -> None:
        if self.live and self.drawn:
            _say("\r" + " " * self.drawn + "\r", err=True, end="")
            self.drawn = 0


def _run_one(args: argparse.Namespace, config_path: Path) -> int:
    """One notebook file: its kernel starts while the config (and SymPy) load."""
    status = _Status(printable_name(args.paths[0].name))
    status("starting a kernel")
    options = GradeOptions(seed=args.seed, policy=_policy(args, batch=False), status=status)
    try:
        with notebook_file(args.paths[0]) as (path, name):  # a zip (otter's export): its notebook
            _, result = run_sync(grade_file_early)(
                path, config_path, lambda config: choose_assignment(config, path, args.assignment), options,
                assignment_id=args.assignment, name=display_name(args.paths[0]) if path == args.paths[0] else name,
                extra_hidden=[args.results.parent] if args.results else [])
    finally:
        status.done()
    return _report_one(args, result)


def _run(args: argparse.Namespace) -> int:
    _check_run_args(args)
    config_path = args.config or default_config_path()
    if args.out is None and len(args.paths) == 1 and args.paths[0].is_file():
        return _run_one(args, config_path)
    config = load_config(config_path)
    if args.out is not None:  # kernels see neither the results nor the other submissions
        return _batch(args, config)
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
        _say(printable_text(f"grader: note: not graded: {reason}"), err=True)
    if args.results and len(paths) != 1:
        raise UsageError(f"--results writes one submission's results; {len(paths)} notebooks were given")
    policy = _policy(args, batch=False)
    extra = [args.results.parent] if args.results else []
    options = GradeOptions(seed=args.seed, policy=policy.with_hide(protected_paths(config, *extra)))
    if len(paths) > 1:
        jobs = [Job(Source(display_name(p), display_name(p), p),
                    choose_assignment(config, p, args.assignment)) for p in paths]
        report = run_batch(jobs, options=options, config_digest=config.digest, workers=args.jobs)
        results = [o.result for o in report.outcomes]
        for result in results:
            _say(result_table(result), end="\n\n")
        _say(grid(results))
        return _exit_code(results, report.interrupted)
    (path,) = paths
    result = grade_notebook(path, choose_assignment(config, path, args.assignment), options=options,
                            config_digest=config.digest, name=display_name(path))
    return _report_one(args, result)


def _override(args: argparse.Namespace) -> int:
    if args.remove == (args.points is not None):
        raise UsageError("give the POINTS (with --reason), or --remove")
    if not args.remove and not args.reason.strip():
        raise UsageError("--reason is required: say why (the student reads it in their feedback)")
    _say(set_override(args.out, args.id, args.question, args.points, args.reason, remove=args.remove))
    _say(f"updated {args.out / 'grades.csv'} and {args.out / 'submissions' / args.id}/feedback.md")
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    if args.format == "otter":
        from .otterbridge.export import command
        return command(args.config or default_config_path(), args.assignment, args.output)
    if args.format == "canvas":
        done = export(args.out, args.output, gradebook=args.gradebook, column=args.column)
        _say(f"wrote {args.output}: {count(done.filled, 'score')} in {done.column!r}")
    else:
        done = export(args.out, args.output, roster=args.roster, id_column=args.id_column)
        _say(f"wrote {args.output}: {count(done.filled, 'student')} with scores")
    for label, names in (("no submission (left blank)", done.no_submission),
                         ("not graded yet (left blank; run grader run again)", done.not_graded)):
        if names:
            _say(f"{len(names)} {label}: {'; '.join(names)}")
    if done.not_on_roster:
        where = "gradebook" if args.format == "canvas" else "roster"
        _say(f"grader: WARNING: {count(len(done.not_on_roster), 'graded student')} not in the {where}, "
             f"so their scores are NOT in {args.output}: {'; '.join(done.not_on_roster)} (a "
             f"different id in the {where}? add them there, or enter these scores by hand)", err=True)
    for note in done.notes:
        _say(f"note: {note}")
    return EXIT_OK


def _policy(args: argparse.Namespace, *, batch: bool) -> Policy:
    """The isolation kernels get; batch-grading other people's work with none needs --no-sandbox."""
    policy = detect(args.kernel_user, create_user=args.create_user)
    if policy.level is Level.NONE:
        if batch and not args.no_sandbox:
            raise UsageError("kernels cannot be isolated on this machine (" + policy.why + "), so each "
                             "notebook could read everything your user can; run `grader "
                             "sandbox-check` for details, or pass --no-sandbox to grade anyway")
        _say(f"grader: warning: kernels run without isolation ({policy.why}); they can read "
              f"everything your user can", err=True)
    return policy


def _sandbox_check(args: argparse.Namespace) -> int:
    """Print each isolation layer as active or not, and why."""
    if os.geteuid() == 0:
        who = named_identity(args.kernel_user, create=args.create_user) if args.kernel_user else stranger()
        opened = check_python_access(who, fix=args.fix, run=True)
        for folder in opened:
            _say(f"opened {folder} for traversal (o+x)")
    policy = detect(args.kernel_user, create_user=args.create_user, fix=args.fix)
    _say(f"isolation: {policy.level.value}")
    for layer in policy.layers:
        _say(f"  {layer.name:<10} {'active' if layer.active else 'NOT active':<10} {layer.detail}")
    if policy.bwrap:
        _say(f"  bubblewrap {policy.bwrap}")
    for line in budget_lines(policy.cgroups):
        _say(f"  {line}")
    if policy.why:
        _say(f"why not stronger: {policy.why}")
    return EXIT_OK


def count(n: int, noun: str) -> str:
    """``1 student``, ``2 students``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _say(*parts: object, err: bool = False, **kwargs: object) -> None:
    """``print``, except that a reader who has gone (a closed pipe) loses the text, never the work
    or the exit code: the stream is pointed at ``/dev/null`` and the command goes on."""
    stream = sys.stderr if err else sys.stdout
    try:
        print(*parts, file=stream, flush=True, **kwargs)  # type: ignore[call-overload]
    except BrokenPipeError:
        _detach(stream)


def _detach(stream: object) -> None:
    """Point a stream whose reader has gone at ``/dev/null``, so that nothing, not even Python's
    flush at exit, fails on it again (which would print "Exception ignored" and exit 120)."""
    try:
        fd = stream.fileno()  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``grader`` command; returns the exit code. Whoever reads the output may
    go away at any time (``grader run ... | head``): the exit code is the same as if they had stayed."""
    try:
        code = _main(argv)
    except BrokenPipeError:  # printed by a library, not by _say: the work was done
        code = EXIT_OK
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):
            _detach(stream)
    return code


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "override":
            return _override(args)
        if args.command == "export":
            return _export(args)
        if args.command == "build":
            return _build(args)
        if args.command == "merge":
            merged = merge(args.outs, args.into)
            _say(f"merged {count(merged, 'student')} into {args.into}: {args.into / 'grades.csv'}, "
                 f"{args.into / 'report.html'}")
            return EXIT_INTERNAL if _say_damaged(args.into) else EXIT_OK
        if args.command == "report":
            _say(f"wrote {rebuild_report(args.out)}")
            return EXIT_INTERNAL if _say_damaged(args.out) else EXIT_OK
        if args.command == "sandbox-check":
            return _sandbox_check(args)
        if args.command == "check-config":
            config = load_config(args.config or default_config_path())
            _say(f"{config.path}: valid")
            for a in config.assignments.values():
                _say(f"{a.id}: {len(a.questions)} questions, {a.max_score:g} points ({a.title})")
                width = max(len(q.id) for q in a.questions)
                for q in a.questions:
                    _say(f"  {q.id:<{width}}  {q.points:>5g}  {q.title}")
            return EXIT_OK
    except GraderError as exc:
        _say(f"grader: error: {exc}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        _say("grader: interrupted", err=True)
        return 130
    return EXIT_OK
