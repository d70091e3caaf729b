"""Gradebook: keep every result and what an instructor decides about it.

Owns the output folder (:mod:`.store`: one ``result.json`` per submission, written atomically and
never lost, and the class files rebuilt from them: ``grades.csv``, the report, each student's
feedback), the instructor's overrides kept apart from the grader's verdict (:mod:`.overrides`),
and what an instructor does with a stored batch (:mod:`.instructor`: override a part, export to an
LMS). May import the shared basics, ``report`` (the pages it writes) and ``sandbox.reap``; never
execution, checks or grading.
"""
