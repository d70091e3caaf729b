"""Intake: find and read submissions, before anything runs.

Owns reading a notebook a student controls without trusting it (:mod:`.submission`: size caps, no
links or special files, nbformat validation), naming each submission after its student from a
Canvas, Moodle or Gradescope download (:mod:`.ids`), the notebook in an otter-grader zip
(:mod:`.otterzip`), and telling which assignment a notebook answers (:mod:`.recognise`). May import
the shared basics (``errors``, ``text``, ``model``) only; never execution, checks, grading or the
gradebook.
"""
