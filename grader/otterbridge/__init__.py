"""The assignments in otter-grader's student workflow (``grader export otter``), and otter's
submission zips read as notebooks. ``grader run`` stays the grade; otter checks are the published
part, run by students in their own kernel."""

from __future__ import annotations
