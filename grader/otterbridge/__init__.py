"""The assignments in otter-grader's student workflow (``grader export otter``): ``grader run``
stays the grade; otter checks are the published part, run by students in their own kernel (otter's
submission zips are read by ``intake.otterzip``). May import the shared basics, ``config``,
``checks`` and ``references`` (the published checks as data) and the kernel-side code it ships;
nothing imports it but the command line."""

from __future__ import annotations
