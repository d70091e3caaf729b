"""Grading: run the whole flow for one submission, for a class, and across machines.

Owns the pipeline of one submission (:mod:`.grade`: read it, run it in a kernel, plan and send the
probes, judge, and always return a result), the batch over a class (:mod:`.batch` and
:mod:`.jobs`: which submissions, in parallel kernels, resumable), the shards that split a class
between machines (:mod:`.shard`) and the Dask cluster that grades on workers
(:mod:`.cluster`, :mod:`.cluster_worker`). The only package that sees every stage: may import
intake, execution, checks, the gradebook, ``report`` and ``sandbox``; nothing imports it but the
command lines (``cli``, ``gradescope``).
"""
