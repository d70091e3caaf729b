"""Ways to show a result: Gradescope JSON, Markdown feedback, a terminal table, a CSV gradebook."""
