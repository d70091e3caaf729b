"""Intake: find and read submissions, before anything runs.

Owns reading a notebook a student controls without trusting it (:mod:`.submission`: size caps, no
links or special files, nbformat validation), naming each submission after its student from a
Canvas, Moodle or Gradescope download (:mod:`.ids`), and telling which assignment a notebook
answers (:mod:`.recognise`). May import the shared basics (``errors``, ``text``, ``model``) and
``otterbridge.zips`` for otter's zips; never execution, checks, grading or the gradebook.
"""
