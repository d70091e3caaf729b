"""Execution: run one notebook in a sandboxed Jupyter kernel, then probe the kernel for numbers.

Owns the kernel's life (:mod:`.kernel`: start it in the jail ``sandbox`` builds, run the cells
under the time and output limits, stop it and everything it started), the Jupyter parts it
drives (:mod:`.jupyter`: kernel manager, client and nbclient fitted to the sandbox) and the probe protocol
(:mod:`.probes`: the requests sent into the kernel and the plain observations read back, where
every value the kernel says is untrusted data). May import the shared basics (``errors``,
``text``, ``model``, ``results``) and ``sandbox``; never checks, grading or the gradebook.
"""
