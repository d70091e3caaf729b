"""Ways to show a result: Gradescope JSON, Markdown feedback, a terminal table, a CSV gradebook,
the class report. Pure writers (results in, text out) that decide nothing about when or where they
are written: may import the shared basics and the override model (``gradebook.overrides``); never
execution, checks or grading.
"""
