"""Gradescope: build ``autograder.zip`` (``build``), provision the image (``provision``), grade
one submission inside it (``autograder``). ``setup.sh`` and ``run_autograder`` are in ``templates/``."""
