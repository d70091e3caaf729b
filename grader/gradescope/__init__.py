"""Gradescope and packaging: build ``autograder.zip`` (:mod:`.build`) around this grader's own
wheel (:mod:`.wheel`, also what ``grader build wheel`` gives students), provision the image
(:mod:`.provision`) and grade one submission inside it (:mod:`.autograder`); ``setup.sh`` and
``run_autograder`` are in ``templates/``. May import the shared basics, ``config``, intake,
grading, ``report`` and ``sandbox``; nothing imports it but the command line.
"""
