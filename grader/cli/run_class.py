"""``grader run PATHS --out OUT``: grade a class (a folder or .zip of submissions) into a folder,
on this machine or a Dask cluster, whole or one shard; then the summary and where everything is."""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from pathlib import Path

from ..grading.batch import run_batch
from ..grading.jobs import folder_jobs
from ..model import Config
from ..errors import Exit, UsageError
from ..grading.grade import GradeOptions
from ..report.summary import batch_summary
from ..results import printable_text
from ..sandbox.denylist import protected_paths
from ..grading.shard import SharedStore, parse_shard, select
from .choose import policy
from .outcome import exit_code, say_damaged
from .output import count, say


def grade_class(args: argparse.Namespace, config: Config) -> int:
    """Grade the submissions in ``args.paths`` into ``args.out``; the exit code of ``grader run``."""
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
        say(f"grader: shard {shard}: {count(len(jobs), 'submission')}", err=True)
    with contextlib.ExitStack() as stack:
        engine = None
        if args.cluster:  # connected and every worker checked before anything is created
            from ..grading.cluster import connect
            cluster = stack.enter_context(connect(args.cluster, config, kernel_user=args.kernel_user,
                                                  no_sandbox=args.no_sandbox,
                                                  jobs=args.jobs))
            engine, isolation = cluster.engine, cluster.client_policy
        else:
            isolation = policy(args, batch=True)
        args.out.mkdir(parents=True, exist_ok=True)  # the first thing created: arguments are all good
        tmp = Path(tempfile.gettempdir()).resolve()  # where kernels live: never hidden from them
        extra = [p for p in (args.out, *args.paths) if p.resolve() not in (tmp, *tmp.parents)]
        options = GradeOptions(seed=args.seed, policy=isolation.with_hide(protected_paths(config, *extra)))
        for warning in warnings:
            say(printable_text(f"grader: note: {warning}"), err=True)
        report = run_batch(jobs, options=options, config_digest=config.digest, out=args.out,
                           workers=args.jobs, force=args.force, store=store, engine=engine)
    say(batch_summary([(o.job.source.id, o.result) for o in report.outcomes], total=len(jobs)))
    stored = len(list((args.out / "submissions").glob("*/result.json")))
    say(f"\nresults: {args.out / 'submissions'}/<id>/  gradebook: {args.out / 'grades.csv'} "
        f"({count(stored, 'student')})  class report: {args.out / 'report.html'}")
    damaged = say_damaged(args.out)
    code = exit_code([o.result for o in report.outcomes], report.interrupted)
    return Exit.INTERNAL if damaged and code == Exit.OK else code
